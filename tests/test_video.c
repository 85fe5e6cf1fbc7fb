/*
 * test_video.c: ref/video.c and ref/sha256.c. Every format is written and
 * read back: PNG decoded with stb_image, APNG chunk order, frame count,
 * sequence numbers and every frame decoded, Y4M header, size and samples,
 * the provenance chunks and the sidecar parsed back, refusing to overwrite
 * keeps the old file byte for byte. Numeric parts against golden/video/
 * (tools/golden_video.py). MP4 checks are skipped (not passed) without ffmpeg.
 */
#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "../ref/lib/json.h"
#include "../ref/lib/sha256.h"
#include "../ref/lib/vae.h"
#include "../ref/app/video.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include "stb_image.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static char g_dir[256];

static const char *path_in(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static unsigned char *slurp(const char *path, size_t *n) { return (unsigned char *)h_slurp(path, n); }

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

/* Any *.t2v-tmp left in the test directory? */
static int temps_left(void) {
    DIR *d = opendir(g_dir);
    if (!d) return 1; /* cannot tell: count it as a failure */
    int found = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        if (strstr(ent->d_name, "t2v-tmp")) found = 1;
    closedir(d);
    return found;
}

/* Test frames: F frames of H x W with a distinct pattern each (a checker
 * in blue unless smooth). */
static uint8_t *make_frames_(int F, int H, int W, int smooth) {
    uint8_t *rgb = (uint8_t *)malloc((size_t)F * H * W * 3);
    for (int f = 0; f < F; f++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *p = rgb + (((size_t)f * H + y) * W + x) * 3;
                p[0] = (uint8_t)(x * 255 / (W - 1));
                p[1] = (uint8_t)(y * 255 / (H - 1));
                p[2] = (uint8_t)(f * 40 + (smooth ? 0 : ((x / 4 + y / 4 + f) & 1) * 40));
            }
    return rgb;
}
static uint8_t *make_frames(int F, int H, int W) { return make_frames_(F, H, W, 0); }

static int decode_equals(const unsigned char *png, size_t n, const uint8_t *want, int H, int W) {
    int w, h, c;
    unsigned char *img = stbi_load_from_memory(png, (int)n, &w, &h, &c, 3);
    int ok = img && w == W && h == H && !memcmp(img, want, (size_t)H * W * 3);
    stbi_image_free(img);
    return ok;
}

static int file_decodes_to(const char *path, const uint8_t *want, int H, int W) {
    size_t n;
    unsigned char *d = slurp(path, &n);
    int ok = d && decode_equals(d, n, want, H, W);
    free(d);
    return ok;
}

static uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ------------------------------------------------------------------------- */
static void test_sha256(void) {
    static const struct { const char *msg, *hex; } v[] = {
        /* FIPS 180-2 appendix B examples, and the empty message */
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[65];
        sha256_buf_hex(v[i].msg, strlen(v[i].msg), hex);
        CHECK(!strcmp(hex, v[i].hex), "sha256 FIPS vector %d (%zu bytes): %.16s...", (int)i,
              strlen(v[i].msg), hex);
    }
    /* one million 'a', fed in uneven pieces to exercise the buffering */
    char *a = (char *)malloc(1000000);
    memset(a, 'a', 1000000);
    Sha256 s;
    unsigned char dg[32];
    char hex[65];
    sha256_init(&s);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        sha256_update(&s, a + off, n);
        off += n;
        step = step * 3 % 997 + 1;
    }
    sha256_final(&s, dg);
    sha256_hex(dg, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
          "sha256 FIPS vector: one million 'a' in uneven pieces");
    /* file hashing matches buffer hashing */
    const char *p = path_in("hashme.bin");
    FILE *f = fopen(p, "wb");
    fwrite(a, 1, 1000000, f);
    fclose(f);
    char fhex[65];
    T2vError e = {0, {0}};
    int rc = sha256_file_hex(p, fhex, &e);
    CHECK(rc == 0 && !strcmp(fhex, hex), "sha256_file_hex equals the in-memory digest");
    rc = sha256_file_hex(path_in("missing.bin"), fhex, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "missing.bin"), "sha256_file_hex: missing file -> "
          "EINPUT naming it (%s)", e.msg);
    remove(p);
    free(a);
}

/* ------------------------------------------------------------------------- */
static void test_numeric_goldens(void) {
    SafeTensors st;
    if (golden_open(&st, "golden/video/to_u8.safetensors")) {
        int64_t nv, nu;
        float *v = golden_f32(&st, "video", &nv);
        float *u = golden_f32(&st, "u8", &nu);
        if (v && u) {
            uint8_t got[3 * 4 * 8 * 3];
            video_to_u8(v, 3, 4, 8, got);
            int bad = 0, first = -1;
            for (int64_t i = 0; i < nu; i++)
                if (got[i] != (uint8_t)u[i]) { bad++; if (first < 0) first = (int)i; }
            CHECK(nu == 288 && bad == 0, "video_to_u8 vs official fp32 truncation: %d of %lld "
                  "differ (first %d)", bad, (long long)nu, first);
        }
        free(v); free(u);
        st_close(&st);
    }
    /* NaN becomes black; channel order */
    float vid[3] = {NAN, 0.0f, 1.0f};
    uint8_t px[3];
    video_to_u8(vid, 1, 1, 1, px);
    CHECK(px[0] == 0 && px[1] == 127 && px[2] == 255, "video_to_u8: NaN->0, 0->127, 1->255 "
          "(got %d %d %d)", px[0], px[1], px[2]);

    if (golden_open(&st, "golden/video/ycbcr.safetensors")) {
        int64_t n;
        float *rgbf = golden_f32(&st, "rgb", &n);
        float *yccf = golden_f32(&st, "ycc", NULL);
        int bad = 0;
        for (int64_t i = 0; rgbf && yccf && i < n / 3; i++) {
            uint8_t rgb[3] = {(uint8_t)rgbf[3 * i], (uint8_t)rgbf[3 * i + 1], (uint8_t)rgbf[3 * i + 2]};
            uint8_t ycc[3];
            video_rgb_to_ycbcr(rgb, ycc);
            for (int k = 0; k < 3; k++) bad += ycc[k] != (uint8_t)yccf[3 * i + k];
        }
        CHECK(rgbf && yccf && bad == 0, "RGB->YCbCr BT.601 limited vs reference: %d of %lld "
              "samples differ", bad, (long long)n);
        uint8_t white[3] = {255, 255, 255}, red[3] = {255, 0, 0}, y[3];
        video_rgb_to_ycbcr(white, y);
        int ok = y[0] == 235 && y[1] == 128 && y[2] == 128;
        video_rgb_to_ycbcr(red, y);
        ok = ok && y[0] == 81 && y[1] == 90 && y[2] == 240;
        CHECK(ok, "RGB->YCbCr: white (235,128,128), red (81,90,240) as BT.601 colour bars");
        free(rgbf); free(yccf);
        st_close(&st);
    }

    if (golden_open(&st, "golden/video/preview.safetensors")) {
        int64_t n;
        float *lat = golden_f32(&st, "latent", NULL);
        float *ref = golden_f32(&st, "rgb", &n);
        float *fr = golden_f32(&st, "frame", NULL);
        if (lat && ref && fr) {
            float got[3 * 5 * 3];
            T2vError e = {0, {0}};
            int rc = vae_preview_f32(&vae_preview_wan21, lat, 16, 2, 3, 5, (int)fr[0], got, &e);
            CHECK(rc == 0, "vae_preview_f32: %s", rc ? e.msg : "ok");
            check_close("vae_preview_f32 (Wan2.1 factors)", got, ref, n, 1e-6, 0.999999);
            uint8_t rgb[3 * 5 * 3];
            rc = vae_preview_rgb(&vae_preview_wan21, lat, 16, 2, 3, 5, (int)fr[0], rgb, &e);
            int bad = 0;
            for (int64_t i = 0; i < n; i++) {
                double x = ref[i] < -1 ? -1 : ref[i] > 1 ? 1 : ref[i];
                double want = floor((x + 1.0) * 127.5 + 0.5);
                if (fabs(rgb[i] - want) > 1) bad++;
            }
            CHECK(rc == 0 && bad == 0, "vae_preview_rgb within 1 of clamp((x+1)*127.5) rounded (%d bad)", bad);
            /* caller factors from a flat list (t2v.json): channel c -> colour c only */
            float list[16 * 3 + 3] = {0};
            list[0] = list[4] = list[8] = 1.0f;
            VaePreview id;
            rc = vae_preview_from_list(&id, 16, list, 16 * 3 + 3, &e);
            if (!rc) rc = vae_preview_f32(&id, lat, 16, 2, 3, 5, 0, got, &e);
            int ok = rc == 0;
            for (int i = 0; i < 15; i++)
                for (int k = 0; k < 3; k++) ok &= got[3 * i + k] == lat[(k * 2 + 0) * 15 + i];
            CHECK(ok, "vae_preview_f32 with factors from a list (identity on channels 0..2)");
            /* refusals: wrong list length, channels, frame */
            rc = vae_preview_from_list(&id, 16, list, 16 * 3, &e);
            CHECK(rc == T2V_EINPUT && strstr(e.msg, "48"), "48 factors for 16 channels refused: %s", e.msg);
            rc = vae_preview_rgb(&vae_preview_wan21, lat, 8, 4, 3, 5, 0, rgb, &e);
            CHECK(rc == T2V_EUSAGE && strstr(e.msg, "16 channels"), "8-channel latent refused: %s", e.msg);
            rc = vae_preview_rgb(&vae_preview_wan21, lat, 16, 2, 3, 5, 2, rgb, &e);
            CHECK(rc == T2V_EUSAGE && strstr(e.msg, "frame 2"), "frame past T refused: %s", e.msg);
        }
        free(lat); free(ref); free(fr);
        st_close(&st);
    }
}

/* ------------------------------------------------------------------------- */
static void test_png_frames(const Provenance *prov) {
    enum { F = 3, H = 12, W = 20 };
    uint8_t *rgb = make_frames(F, H, W);
    T2vError e = {0, {0}};
    TempFiles tf;
    tempfiles_init(&tf);
    char name[256];
    int rc = video_frame_name("a_%04d.png", 7, name, sizeof name, &e);
    CHECK(rc == 0 && !strcmp(name, "a_0007.png"), "frame name a_%%04d.png -> %s", name);
    rc = video_frame_name("b%%_%3d_%d.png", 7, name, sizeof name, &e);
    CHECK(rc == T2V_EUSAGE, "frame name with two conversions refused");
    rc = video_frame_name("c%s.png", 7, name, sizeof name, &e);
    CHECK(rc == T2V_EUSAGE, "frame name with %%s refused (%s)", e.msg);
    rc = video_frame_name("d%%_%3d.png", 7, name, sizeof name, &e);
    CHECK(rc == 0 && !strcmp(name, "d%_  7.png"), "frame name with %%%% and %%3d -> '%s'", name);

    char pat[512];
    snprintf(pat, sizeof pat, "%s/f_%%04d.png", g_dir);
    rc = video_write_png_frames(pat, rgb, F, H, W, prov, 0, &tf, &e);
    CHECK(rc == 0, "video_write_png_frames rc=%d %s", rc, rc ? e.msg : "");
    int ok = 1;
    for (int i = 0; i < F; i++) {
        video_frame_name(pat, i, name, sizeof name, NULL);
        ok &= file_decodes_to(name, rgb + (size_t)i * H * W * 3, H, W);
    }
    CHECK(ok, "3 PNG frames decode (stb_image) to the input pixels");
    snprintf(pat, sizeof pat, "%s/nopattern.png", g_dir);
    rc = video_write_png_frames(pat, rgb, F, H, W, prov, 0, &tf, &e);
    CHECK(rc == T2V_EUSAGE && !platform_file_exists(pat), "3 frames without %%d refused, nothing "
          "written (%s)", e.msg);

    /* frame 1 exists: nothing at all is written without force */
    snprintf(pat, sizeof pat, "%s/g_%%d.png", g_dir);
    spit(path_in("g_1.png"), "old contents");
    rc = video_write_png_frames(pat, rgb, F, H, W, prov, 0, &tf, &e);
    size_t n;
    unsigned char *d = slurp(path_in("g_1.png"), &n);
    CHECK(rc == T2V_EUSAGE && strstr(e.msg, "g_1.png") && !platform_file_exists(path_in("g_0.png"))
          && d && n == 12 && !memcmp(d, "old contents", 12),
          "existing frame: refused, message names it, old file byte for byte, no frame written");
    free(d);
    rc = video_write_png_frames(pat, rgb, F, H, W, prov, 1, &tf, &e);
    CHECK(rc == 0 && file_decodes_to(path_in("g_1.png"), rgb + H * W * 3, H, W),
          "with force the frames are replaced");
    CHECK(!temps_left(), "no temporary files left behind");
    free(rgb);
}

/* ------------------------------------------------------------------------- */
/* Walks an APNG: chunk order, CRCs, acTL, fcTL/fdAT sequence numbers, and
 * decodes every frame by rebuilding a still PNG from IHDR + its data. */
static void test_apng(const Provenance *prov) {
    enum { F = 4, H = 10, W = 14, FPS = 16 };
    uint8_t *rgb = make_frames(F, H, W);
    T2vError e = {0, {0}};
    const char *p = path_in("anim.png");
    int rc = video_write_apng(p, rgb, F, H, W, FPS, prov, 0, NULL, &e);
    CHECK(rc == 0, "video_write_apng rc=%d %s", rc, rc ? e.msg : "");
    size_t n;
    unsigned char *d = slurp(p, &n);
    if (!d) { CHECK(0, "read back %s", p); free(rgb); return; }
    CHECK(decode_equals(d, n, rgb, H, W), "APNG default image (stb_image) is frame 0");
    int crc_ok = 1, order_ok = 1, seq_ok = 1, n_fctl = 0, n_fdat = 0, n_idat = 0, frames_ok = 1;
    int actl_frames = -1, actl_plays = -1, delay_ok = 1, seen_ihdr = 0, seen_actl = 0, iend = 0;
    uint32_t next_seq = 0;
    const unsigned char *ihdr = NULL;
    size_t off = 8;
    while (off + 12 <= n && !iend) {
        uint32_t len = be32(d + off);
        const unsigned char *type = d + off + 4, *data = d + off + 8;
        if (len > n - off - 12) { crc_ok = 0; break; }
        crc_ok &= be32(data + len) == png_crc32(type, len + 4);
        if (!memcmp(type, "IHDR", 4)) { order_ok &= off == 8; seen_ihdr = 1; ihdr = data; }
        else if (!memcmp(type, "acTL", 4)) {
            order_ok &= seen_ihdr && n_idat == 0 && n_fctl == 0;
            seen_actl = 1;
            actl_frames = (int)be32(data); actl_plays = (int)be32(data + 4);
        } else if (!memcmp(type, "fcTL", 4)) {
            order_ok &= seen_actl;
            seq_ok &= be32(data) == next_seq++;
            delay_ok &= len == 26 && be32(data + 4) == W && be32(data + 8) == H &&
                        data[20] == 0 && data[21] == 1 && data[22] == 0 && data[23] == FPS;
            n_fctl++;
        } else if (!memcmp(type, "IDAT", 4) || !memcmp(type, "fdAT", 4)) {
            int is_fd = type[0] == 'f';
            const unsigned char *z = data + (is_fd ? 4 : 0);
            uint32_t zl = len - (is_fd ? 4 : 0);
            if (is_fd) { seq_ok &= be32(data) == next_seq++; n_fdat++; }
            else { n_idat++; order_ok &= n_fctl == 1 && n_fdat == 0; }
            /* rebuild: signature, IHDR, IDAT(z), IEND */
            size_t m = 8 + 25 + 12 + zl + 12;
            unsigned char *png = (unsigned char *)malloc(m), *q = png;
            memcpy(q, d, 8); q += 8;
            memcpy(q, ihdr - 8, 25); q += 25;
            q[0] = (unsigned char)(zl >> 24); q[1] = (unsigned char)(zl >> 16);
            q[2] = (unsigned char)(zl >> 8); q[3] = (unsigned char)zl;
            memcpy(q + 4, "IDAT", 4);
            memcpy(q + 8, z, zl);
            uint32_t c = png_crc32(q + 4, zl + 4);
            q[8 + zl] = (unsigned char)(c >> 24); q[9 + zl] = (unsigned char)(c >> 16);
            q[10 + zl] = (unsigned char)(c >> 8); q[11 + zl] = (unsigned char)c;
            q += 12 + zl;
            memcpy(q, "\0\0\0\0IEND\xAE\x42\x60\x82", 12);
            int fi = n_fctl - 1;
            frames_ok &= fi >= 0 && fi < F && decode_equals(png, m, rgb + (size_t)fi * H * W * 3, H, W);
            free(png);
        } else if (!memcmp(type, "IEND", 4)) iend = 1;
        off += len + 12;
    }
    CHECK(crc_ok && iend && off == n, "APNG: every chunk CRC valid, ends with IEND");
    CHECK(order_ok, "APNG: IHDR, acTL before frames, first fcTL before the single IDAT");
    CHECK(actl_frames == F && actl_plays == 0, "APNG acTL: %d frames (want %d), plays %d (0 = loop)",
          actl_frames, F, actl_plays);
    CHECK(n_fctl == F && n_idat == 1 && n_fdat == F - 1, "APNG: %d fcTL, %d IDAT, %d fdAT",
          n_fctl, n_idat, n_fdat);
    CHECK(seq_ok && next_seq == 2 * F - 1, "APNG sequence numbers 0..%u in order", next_seq - 1);
    CHECK(delay_ok, "APNG fcTL: full-frame region, delay 1/%d s", FPS);
    CHECK(frames_ok, "APNG: every frame decodes to its input pixels");
    free(d);

    /* refusal keeps the old file byte for byte; force replaces */
    unsigned char *before = slurp(p, &n);
    uint8_t *other = make_frames(F, H, W);
    other[0] ^= 0xFF;
    rc = video_write_apng(p, other, F, H, W, FPS, prov, 0, NULL, &e);
    size_t n2;
    unsigned char *after = slurp(p, &n2);
    CHECK(rc == T2V_EUSAGE && strstr(e.msg, "anim.png") && strstr(e.msg, "--force") && n2 == n &&
          !memcmp(before, after, n), "APNG exists: refused (%s), old file byte for byte", e.msg);
    free(after);
    rc = video_write_apng(p, other, F, H, W, FPS, prov, 1, NULL, &e);
    CHECK(rc == 0 && file_decodes_to(p, other, H, W), "APNG with force: replaced");
    free(before); free(other); free(rgb);
}

/* ------------------------------------------------------------------------- */
static void test_y4m(void) {
    enum { F = 3, H = 6, W = 10, FPS = 16 };
    uint8_t *rgb = make_frames(F, H, W);
    T2vError e = {0, {0}};
    const char *p = path_in("v.y4m");
    int rc = video_write_y4m(p, rgb, F, H, W, FPS, 0, NULL, &e);
    CHECK(rc == 0, "video_write_y4m rc=%d %s", rc, rc ? e.msg : "");
    size_t n;
    unsigned char *d = slurp(p, &n);
    const char *hdr = "YUV4MPEG2 W10 H6 F16:1 Ip A1:1 C444 XCOLORRANGE=LIMITED\n";
    size_t nh = strlen(hdr);
    CHECK(d && n > nh && !memcmp(d, hdr, nh), "Y4M header: %.*s", (int)nh - 1, d ? (char *)d : "");
    CHECK(n == nh + F * (6 + 3 * H * W), "Y4M size %zu = header + %d x (6 + 3*%d*%d)", n, F, H, W);
    int ok = d != NULL;
    for (int f = 0; ok && f < F; f++) {
        const unsigned char *fr = d + nh + (size_t)f * (6 + 3 * H * W);
        ok &= !memcmp(fr, "FRAME\n", 6);
        for (int i = 0; i < H * W; i++) {
            uint8_t ycc[3];
            video_rgb_to_ycbcr(rgb + ((size_t)f * H * W + i) * 3, ycc);
            ok &= fr[6 + i] == ycc[0] && fr[6 + H * W + i] == ycc[1] && fr[6 + 2 * H * W + i] == ycc[2];
        }
    }
    CHECK(ok, "Y4M: FRAME markers and Y, Cb, Cr planes hold the converted samples");
    free(d);
    unsigned char *before = slurp(p, &n);
    rc = video_write_y4m(p, rgb, F, H, W, 8, 0, NULL, &e);
    size_t n2;
    unsigned char *after = slurp(p, &n2);
    CHECK(rc == T2V_EUSAGE && n2 == n && !memcmp(before, after, n), "Y4M exists: refused, old "
          "file byte for byte");
    free(before); free(after); free(rgb);
}

/* ------------------------------------------------------------------------- */
static void test_sheet(const Provenance *prov) {
    enum { F = 9, H = 6, W = 8 };
    uint8_t *rgb = make_frames(F, H, W);
    T2vError e = {0, {0}};
    const char *p = path_in("sheet.png");
    int rc = video_write_sheet(p, rgb, F, H, W, 5, 3, prov, 0, NULL, &e);
    CHECK(rc == 0, "video_write_sheet rc=%d %s", rc, rc ? e.msg : "");
    int want_idx[5] = {0, 2, 4, 6, 8}, idx_ok = 1;
    for (int k = 0; k < 5; k++) idx_ok &= video_sheet_frame(k, 5, F) == want_idx[k];
    CHECK(idx_ok, "contact sheet picks frames 0,2,4,6,8 of 9");
    size_t n;
    unsigned char *d = slurp(p, &n);
    int w = 0, h = 0, c;
    unsigned char *img = d ? stbi_load_from_memory(d, (int)n, &w, &h, &c, 3) : NULL;
    int SW = 3 * (W + 4) + 4, SH = 2 * (H + 4) + 4;
    CHECK(img && w == SW && h == SH, "contact sheet is %dx%d (got %dx%d)", SW, SH, w, h);
    if (img && w == SW && h == SH) {
        int ok = 1;
        for (int k = 0; k < 5; k++) {
            int x0 = 4 + (k % 3) * (W + 4), y0 = 4 + (k / 3) * (H + 4);
            for (int y = 0; y < H; y++)
                ok &= !memcmp(img + ((size_t)(y0 + y) * SW + x0) * 3,
                              rgb + (((size_t)want_idx[k] * H + y) * W) * 3, (size_t)W * 3);
        }
        ok &= img[0] == 32 && img[1] == 32 && img[2] == 32;           /* border */
        const unsigned char *last = img + ((size_t)(SH - 5) * SW + SW - 5) * 3; /* empty 6th tile */
        ok &= last[0] == 32;
        CHECK(ok, "contact sheet tiles equal the chosen frames, gaps grey");
    }
    stbi_image_free(img);
    free(d); free(rgb);
}

/* ------------------------------------------------------------------------- */
static const JsonValue *jpath(const JsonValue *v, const char *a, const char *b) {
    v = json_get(v, a);
    return b ? json_get(v, b) : v;
}

static void test_provenance(Provenance *prov) {
    T2vError e = {0, {0}};
    uint8_t *rgb = make_frames(1, 4, 4);
    const char *p = path_in("prov.png");
    int rc = video_write_png_frames(p, rgb, 1, 4, 4, prov, 0, NULL, &e);
    CHECK(rc == 0 && file_decodes_to(p, rgb, 4, 4), "single PNG (pattern without %%d, F=1) written");
    char *text = NULL;
    rc = video_read_provenance(p, &text, &e);
    CHECK(rc == 0 && text, "video_read_provenance rc=%d %s", rc, rc ? e.msg : "");
    if (text) {
        CHECK(strstr(text, "[Software]\nt2v " T2V_VERSION "\n") != NULL, "tEXt Software read back");
        const char *x = strstr(text, "[XML:com.adobe.xmp]\n");
        CHECK(x && strstr(x, "Iptc4xmpExt:DigitalSourceType=\"" T2V_DIGITAL_SOURCE_TYPE "\"") &&
              strstr(x, "<?xpacket begin=") && strstr(x, "&quot;quoted&quot; cat&#10;on two lines\xef\xbf\xbd &lt;b&gt; &amp; "),
              "XMP packet: DigitalSourceType trainedAlgorithmicMedia, prompt XML-escaped");
        const char *j = strstr(text, "[" T2V_PNG_KEYWORD "]\n");
        const char *end = j ? strstr(j, "\n[XML:") : NULL;
        char errbuf[200] = "";
        JsonValue *v = (j && end) ? json_parse(j + strlen(T2V_PNG_KEYWORD) + 3,
                                               (size_t)(end - j) - strlen(T2V_PNG_KEYWORD) - 3,
                                               errbuf, sizeof errbuf) : NULL;
        CHECK(v != NULL, "iTXt %s parses as JSON %s", T2V_PNG_KEYWORD, errbuf);
        if (v) {
            const JsonValue *pr = json_get(v, "prompt"), *ng = json_get(v, "negative_prompt");
            const JsonValue *sd = json_get(v, "seed"), *md = json_get(v, "models");
            CHECK(pr && pr->type == JSON_STRING && !strcmp(pr->string, prov_get(prov, "prompt")),
                  "prompt round-trips (quotes, newline, control char, <b> &)");
            CHECK(ng && ng->type == JSON_STRING && !strcmp(ng->string, prov_get(prov, "negative_prompt")),
                  "UTF-8 Chinese negative prompt round-trips: %.24s...", ng ? ng->string : "");
            CHECK(sd && sd->type == JSON_NUMBER && sd->is_integer && sd->integer == 1234567890123LL,
                  "seed is the JSON number 1234567890123");
            CHECK(md && md->type == JSON_ARRAY && md->len == 1 &&
                  !strcmp(json_get(&md->items[0], "sha256")->string, prov->model_sha256[0]),
                  "model file name and SHA-256 recorded");
            json_free(v);
        }
        free(text);
    }
    /* sidecar */
    const char *outs[2] = {p, path_in("anim.png")};
    const char *sc = path_in("run.provenance.json");
    rc = provenance_sidecar(sc, prov, outs, 2, 0, NULL, &e);
    CHECK(rc == 0, "provenance_sidecar rc=%d %s", rc, rc ? e.msg : "");
    size_t n;
    char *sj = (char *)slurp(sc, &n);
    char errbuf[200] = "";
    JsonValue *v = sj ? json_parse(sj, n, errbuf, sizeof errbuf) : NULL;
    CHECK(v != NULL, "sidecar parses as JSON %s", errbuf);
    if (v) {
        const JsonValue *as = json_get(v, "assertions"), *un = json_get(v, "unsigned");
        const JsonValue *act = NULL;
        if (as && as->type == JSON_ARRAY && as->len == 1) {
            const JsonValue *lb = json_get(&as->items[0], "label");
            const JsonValue *acts = jpath(&as->items[0], "data", "actions");
            if (lb && !strcmp(lb->string, "c2pa.actions") && acts && acts->len == 1) act = &acts->items[0];
        }
        CHECK(un && un->type == JSON_BOOL && un->boolean, "sidecar marked unsigned");
        CHECK(act && !strcmp(json_get(act, "action")->string, "c2pa.created") &&
              !strcmp(json_get(act, "digitalSourceType")->string, T2V_DIGITAL_SOURCE_TYPE) &&
              !strcmp(jpath(act, "softwareAgent", "name")->string, "t2v") &&
              !strcmp(json_get(act, "when")->string, "2026-01-02T03:04:05Z"),
              "sidecar: c2pa.actions / c2pa.created, digitalSourceType, softwareAgent, when");
        const JsonValue *par = act ? json_get(act, "parameters") : NULL;
        CHECK(par && !strcmp(json_get(par, "negative_prompt")->string, prov_get(prov, "negative_prompt")) &&
              json_get(par, "steps")->integer == 50, "sidecar parameters round-trip");
        const JsonValue *o = json_get(v, "outputs");
        int ok = o && o->type == JSON_ARRAY && o->len == 2;
        for (int i = 0; ok && i < 2; i++) {
            char hex[65];
            sha256_file_hex(outs[i], hex, &e);
            ok &= !strcmp(json_get(&o->items[i], "sha256")->string, hex);
        }
        CHECK(ok && !strcmp(json_get(&o->items[0], "file")->string, "prov.png"),
              "sidecar outputs: file names and SHA-256 of each file");
        json_free(v);
    }
    free(sj);
    unsigned char *before = (unsigned char *)slurp(sc, &n);
    rc = provenance_sidecar(sc, prov, outs, 1, 0, NULL, &e);
    size_t n2;
    unsigned char *after = slurp(sc, &n2);
    CHECK(rc == T2V_EUSAGE && n2 == n && !memcmp(before, after, n), "sidecar exists: refused, "
          "old file byte for byte");
    free(before); free(after);

    /* reader on bad input */
    spit(path_in("junk.png"), "definitely not a png");
    rc = video_read_provenance(path_in("junk.png"), &text, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "junk.png"), "reader: not a PNG -> EINPUT (%s)", e.msg);
    unsigned char *png = slurp(p, &n);
    png[50] ^= 1; /* inside the first text chunk's data */
    FILE *f = fopen(path_in("crc.png"), "wb");
    fwrite(png, 1, n, f);
    fclose(f);
    rc = video_read_provenance(path_in("crc.png"), &text, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "CRC"), "reader: corrupted chunk -> EINPUT (%s)", e.msg);
    png[50] ^= 1;
    f = fopen(path_in("trunc.png"), "wb");
    fwrite(png, 1, n - 20, f);
    fclose(f);
    rc = video_read_provenance(path_in("trunc.png"), &text, &e);
    CHECK(rc == T2V_EINPUT, "reader: truncated file -> EINPUT (%s)", e.msg);
    free(png);
    rc = video_write_png_frames(path_in("bare.png"), rgb, 1, 4, 4, NULL, 0, NULL, &e);
    text = NULL;
    rc = video_read_provenance(path_in("bare.png"), &text, &e);
    CHECK(rc == 0 && text && !strstr(text, T2V_PNG_KEYWORD), "PNG without provenance: only Software");
    free(text);
    free(rgb);
}

/* ------------------------------------------------------------------------- */
static void test_safety(void) {
    T2vError e = {0, {0}};
    uint8_t *rgb = make_frames(2, 4, 4);
    int rc = video_write_apng("/nonexistent-dir/x.png", rgb, 2, 4, 4, 16, NULL, 0, NULL, &e);
    CHECK(rc == T2V_ERESOURCE && strstr(e.msg, "/nonexistent-dir/x.png"),
          "unwritable path -> ERESOURCE naming it (%s)", e.msg);
    rc = video_write_y4m(g_dir, rgb, 2, 4, 4, 16, 1, NULL, &e);
    CHECK(rc == T2V_EUSAGE, "a directory as output -> EUSAGE (%s)", e.msg);
    rc = video_write_apng(path_in("z.png"), rgb, 0, 4, 4, 16, NULL, 0, NULL, &e);
    CHECK(rc == T2V_EUSAGE && !platform_file_exists(path_in("z.png")), "zero frames refused");

    TempFiles tf;
    tempfiles_init(&tf);
    const char *t1 = path_in("a.t2v-tmp"), *t2 = path_in("b.t2v-tmp");
    spit(t1, "x");
    spit(t2, "y");
    int s1 = tempfiles_add(&tf, t1), s2 = tempfiles_add(&tf, t2);
    tempfiles_drop(&tf, s2);
    tempfiles_remove_all(&tf);
    CHECK(s1 >= 0 && s2 >= 0 && !platform_file_exists(t1) && platform_file_exists(t2),
          "tempfiles_remove_all deletes registered temporaries only");
    remove(t2);
    /* a writer's temporary is registered while it is being written: emulate
     * a signal by filling every slot, so a new writer still works unregistered */
    for (int i = 0; i < T2V_TEMP_MAX; i++) tempfiles_add(&tf, "/nonexistent/placeholder");
    rc = video_write_y4m(path_in("full.y4m"), rgb, 2, 4, 4, 16, 0, &tf, &e);
    CHECK(rc == 0 && platform_file_exists(path_in("full.y4m")), "writer works with the temp "
          "registry full");
    CHECK(!temps_left(), "no temporary files left behind");
    free(rgb);
}

/* ------------------------------------------------------------------------- */
#if !defined(_WIN32)
/* Ctrl-C during a write, handled as docs/OUTPUTS.md tells main.c to: a child
 * rewrites an APNG in a loop (force) with its temporary registered; SIGINT
 * arrives at some point of a write; the handler removes the temporaries. After
 * it: no temporary, and the final file is either absent or complete. */
static TempFiles g_child_tf;
static void on_sigint(int sig) {
    (void)sig;
    tempfiles_remove_all(&g_child_tf);
    _exit(130);
}

static void test_interrupt(void) {
    enum { F = 6, H = 96, W = 128 };
    const char *p = path_in("interrupted.png");
    uint8_t *rgb = make_frames(F, H, W);
    for (size_t i = 0; i < (size_t)F * H * W * 3; i++) rgb[i] ^= (uint8_t)(i * 2654435761u >> 13);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        tempfiles_init(&g_child_tf);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        T2vError e = {0, {0}};
        for (;;) video_write_apng(p, rgb, F, H, W, 16, NULL, 1, &g_child_tf, &e);
    }
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    int exited = WIFEXITED(status) && WEXITSTATUS(status) == 130;
    int final_ok = !platform_file_exists(p);
    if (!final_ok) {
        size_t n;
        unsigned char *d = slurp(p, &n);
        final_ok = d && decode_equals(d, n, rgb, H, W) && n > 12 && !memcmp(d + n - 8, "IEND", 4);
        free(d);
    }
    CHECK(exited && !temps_left() && final_ok, "SIGINT mid-write: handler removed the temporary, "
          "final file absent or complete (exit %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    free(rgb);
}
#else
static void test_interrupt(void) { h_skip("SIGINT mid-write (needs fork and sigaction)"); }
#endif

/* ------------------------------------------------------------------------- */
static void test_preview(void) {
    enum { T = 2, h = 3, w = 5 };
    float lat[16 * T * h * w];
    prng_fill(77, lat, 16 * T * h * w, 2.0f);
    T2vError e = {0, {0}};
    const char *p = path_in("preview.png");
    uint8_t small[h * w * 3], big[h * 8 * w * 8 * 3];
    int rc = vae_preview_rgb(&vae_preview_wan21, lat, 16, T, h, w, 1, small, &e);
    if (!rc) rc = video_write_preview_rgb(p, small, h, w, 8, 0, NULL, &e);
    for (int y = 0; y < h * 8; y++)
        for (int x = 0; x < w * 8; x++)
            memcpy(big + (y * w * 8 + x) * 3, small + ((y / 8) * w + x / 8) * 3, 3);
    CHECK(rc == 0 && file_decodes_to(p, big, h * 8, w * 8), "latent preview PNG (x8 nearest)");
    rc = video_write_preview_rgb(p, small, h, w, 8, 0, NULL, &e);
    CHECK(rc == T2V_EUSAGE && strstr(e.msg, "preview.png"), "existing preview kept without force: %s", e.msg);
    rc = video_write_preview_rgb(p, small, h, w, 8, 1, NULL, &e);
    CHECK(rc == 0, "preview refreshed in place with force");
}

/* ------------------------------------------------------------------------- */
static void test_mp4(const Provenance *prov) {
    enum { F = 5, H = 32, W = 48 };
    uint8_t *rgb = make_frames_(F, H, W, 1);
    T2vError e = {0, {0}};
    const char *p = path_in("v.mp4");
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    h_env_set("PATH", "/nonexistent-bin");
    int rc = video_write_mp4(p, rgb, F, H, W, 16, prov, 0, NULL, &e);
    CHECK(rc == T2V_ERESOURCE && strstr(e.msg, "ffmpeg") && strstr(e.msg, "y4m") &&
          !platform_file_exists(p), "mp4 without ffmpeg: clear note, nothing written (%s)", e.msg);
    if (old) h_env_set("PATH", old);
    free(old);
    if (!video_find_ffmpeg(NULL, 0)) {
        h_skip("mp4 written and decoded back (ffmpeg not on PATH)");
        free(rgb);
        return;
    }
    rc = video_write_mp4(p, rgb, F, H, W, 16, prov, 0, NULL, &e);
    size_t n;
    unsigned char *d = slurp(p, &n);
    CHECK(rc == 0 && d && n > 12 && !memcmp(d + 4, "ftyp", 4), "mp4 via ffmpeg rc=%d %s", rc,
          rc ? e.msg : "");
    free(d);
    /* decode back with ffmpeg: frame count and closeness. The Y4M (4:4:4,
     * lossless apart from the 8-bit YCbCr rounding) must come back within a
     * couple of levels, which checks that ffmpeg reads the same matrix and
     * range; the MP4 is lossy (H.264, 4:2:0) and gets a looser bound. */
    const char *y4 = path_in("mp4check.y4m");
    rc = video_write_y4m(y4, rgb, F, H, W, 16, 0, NULL, &e);
    const char *files[2] = {y4, p};
    const double mean_tol[2] = {0.6, 4.0};
    const int max_tol[2] = {3, 255};
    for (int t = 0; t < 2; t++) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -f rawvideo -pix_fmt rgb24 -", files[t]);
        FILE *pipe = popen(cmd, "r");
        size_t want = (size_t)F * H * W * 3, got = 0;
        uint8_t *back = (uint8_t *)malloc(want + 1);
        if (pipe) {
            size_t k;
            while (got <= want && (k = fread(back + got, 1, want + 1 - got, pipe)) > 0) got += k;
            pclose(pipe);
        }
        double sad = 0;
        int mx = 0;
        for (size_t i = 0; got == want && i < want; i++) {
            int dd = abs((int)back[i] - (int)rgb[i]);
            sad += dd;
            if (dd > mx) mx = dd;
        }
        double mean = got == want ? sad / (double)want : -1.0;
        CHECK(got == want && mean < mean_tol[t] && mx <= max_tol[t], "%s decoded by ffmpeg: %d "
              "frames, mean |d| %.2f (< %.1f), max |d| %d (<= %d)", t ? "mp4" : "y4m",
              (int)(got / (H * W * 3)), mean, mean_tol[t], mx, max_tol[t]);
        free(back);
    }
    char cmd[700];
    if (system("command -v ffprobe > /dev/null 2>&1") != 0) {
        h_skip("mp4 comment tag (ffprobe not on PATH)");
    } else {
        snprintf(cmd, sizeof cmd, "ffprobe -v error -show_entries format_tags=comment -of "
                 "default=nw=1 '%s' | grep -q 1234567890123", p);
        CHECK(system(cmd) == 0, "mp4 comment tag carries the parameters JSON (ffprobe)");
    }
    rc = video_write_mp4(p, rgb, F, H, W, 16, prov, 0, NULL, &e);
    CHECK(rc == T2V_EUSAGE, "mp4 exists: refused");
    CHECK(!temps_left(), "no temporary files left behind (mp4 and its ffmetadata)");
    free(rgb);
}

int main(void) {
    if (!h_tmpdir(g_dir, sizeof g_dir, "t2v_test_video")) return h_finish();
    T2vError e = {0, {0}};
    Provenance prov;
    prov_init(&prov, &e);
    prov_set(&prov, "created", "2026-01-02T03:04:05Z", &e);
    prov_set(&prov, "prompt", "a \"quoted\" cat\non two lines\x01 <b> & \xff end", &e);
    prov_set(&prov, "negative_prompt",
             "\xe8\x89\xb2\xe8\xb0\x83\xe8\x89\xb3\xe4\xb8\xbd\xef\xbc\x8c\xe8\xbf\x87\xe6\x9b\x9d",
             &e); /* 色调艳丽，过曝 */
    prov_set_number(&prov, &e, "seed", "%llu", 1234567890123ULL);
    prov_set_number(&prov, &e, "steps", "%d", 50);
    prov_set_number(&prov, &e, "cfg", "%g", 5.0);
    prov_set(&prov, "sampler", "unipc", &e);
    prov_add_model_hash(&prov, "models/demo/diffusion_pytorch_model.safetensors",
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &e);
    CHECK(!strcmp(prov_get(&prov, "prompt") + strlen(prov_get(&prov, "prompt")) - 7,
                  "\xef\xbf\xbd end"), "invalid UTF-8 byte in a value becomes U+FFFD");

    test_sha256();
    test_numeric_goldens();
    test_png_frames(&prov);
    test_apng(&prov);
    test_y4m();
    test_sheet(&prov);
    test_provenance(&prov);
    test_safety();
    test_interrupt();
    test_preview();
    test_mp4(&prov);
    prov_free(&prov);

    char cmd[400];
#if defined(_WIN32)
    snprintf(cmd, sizeof cmd, "rmdir /s /q \"%s\"", g_dir);
#else
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
#endif
    if (system(cmd) != 0) printf("note: could not remove %s\n", g_dir);
    return h_finish();
}
