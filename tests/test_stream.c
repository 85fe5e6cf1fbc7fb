/*
 * test_stream.c: the video streamed from the VAE into the writers
 * (docs/OUTPUTS.md, Streamed writing):
 *   - vae_decode_to hands over chunks of 1, then 4 frames, in order, with
 *     the bits of vae_decode (the tiny Wan2.1 and Wan2.2 VAEs of
 *     golden/vae, golden/vae22, which are checked against PyTorch in
 *     test_vae); a sink's error stops the decode with its code;
 *   - every VideoWriter (PNG frames, APNG, Y4M, MP4 when ffmpeg is on PATH,
 *     contact sheet) fed in uneven pieces writes the bytes of the
 *     whole-clip writer; closing early, appending too much, a failed write
 *     and an abort leave no file and no temporary;
 *   - `t2v generate` on golden/models/tiny: the streamed files equal those of
 *     a run with --dump (which keeps the video whole and writes it after the
 *     decode), byte for byte, in every format (SOURCE_DATE_EPOCH fixes the
 *     provenance time); a full disk or Ctrl-C during the streamed decode
 *     leaves nothing, not even 1 s later: with MP4 (when ffmpeg is on PATH),
 *     and with a stand-in ffmpeg that writes its file only after its input
 *     ends, so t2v must stop it before its cleanup (POSIX).
 */
#include "harness.h"

#include "../ref/app/video.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/vae.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "prng_weights.h"

static char g_bin[1024], g_tmp[256];
static char g_out[1 << 16];

/* ----------------------------------------------------------------------------
 * vae_decode_to */

typedef struct {
    float *video; /* [3, F, H, W]: the chunks put back together */
    int F, calls, next, fail_at, sizes[16];
    int bad_order, bad_size;
} Collect;

static int collect(void *user, const float *frames, int first, int n, int H, int W, T2vError *err) {
    Collect *c = (Collect *)user;
    if (c->calls == c->fail_at) return t2v_fail(err, T2V_ERESOURCE, "sink refused chunk %d on purpose", c->calls);
    if (c->calls < 16) c->sizes[c->calls] = n;
    c->calls++;
    if (first != c->next || first + n > c->F) { c->bad_order = 1; return T2V_OK; }
    size_t hw = (size_t)H * W;
    for (int ch = 0; ch < 3; ch++)
        memcpy(c->video + ((size_t)ch * c->F + first) * hw, frames + (size_t)ch * n * hw, (size_t)n * hw * 4);
    c->next = first + n;
    return T2V_OK;
}

static void count_progress(void *user, int chunk, int nchunks) {
    (void)chunk, (void)nchunks;
    (*(int *)user)++;
}

/* The streamed decode of latent `zname` (T frames of h x w) against vae_decode. */
static void decode_streamed(Vae *m, const SafeTensors *g, const char *zname, int T, int h, int w, const char *what) {
    int F, H, W;
    vae_video_size(&m->config, T, h, w, &F, &H, &W);
    size_t nv = (size_t)3 * F * H * W;
    float *z = golden_f32(g, zname, NULL), *whole = h_falloc((int64_t)nv);
    Collect c = {h_falloc((int64_t)nv), F, 0, 0, -1, {0}, 0, 0};
    T2vError e = {0, {0}};
    int progress = 0;
    int rc = z ? vae_decode(m, z, T, h, w, whole, NULL, NULL, &e) : -1;
    int rs = z ? vae_decode_to(m, z, T, h, w, &(VaeFrameSink){&c, collect}, count_progress, &progress, &e) : -1;
    int sizes_ok = c.calls == T && c.sizes[0] == 1;
    for (int k = 1; k < T && k < 16; k++) sizes_ok &= c.sizes[k] == 4;
    CHECK(rc == 0 && rs == 0 && !c.bad_order && c.next == F && sizes_ok && progress == T,
          "%s: %d chunks (1, then 4 frames), in order, %d of %d frames; progress %d times (exit %d, %d: %s)", what,
          c.calls, c.next, F, progress, rc, rs, e.msg);
    CHECK(rc == 0 && rs == 0 && !memcmp(whole, c.video, nv * sizeof(float)),
          "%s: the chunks put together are vae_decode's video, bit for bit", what);
    /* the sink's error stops the decode: no more chunks, no more progress */
    Collect f = {c.video, F, 0, 0, 1, {0}, 0, 0};
    progress = 0;
    rs = z ? vae_decode_to(m, z, T, h, w, &(VaeFrameSink){&f, collect}, count_progress, &progress, &e) : -1;
    CHECK(rs == T2V_ERESOURCE && strstr(e.msg, "on purpose") && f.calls == 1 && progress == 1,
          "%s: a sink that fails at chunk 1 stops the decode with its code and message (%d, %d calls, %d "
          "progress: %s)", what, rs, f.calls, progress, e.msg);
    free(z), free(whole), free(c.video);
}

static void test_decode_to(const char *golden, const char *zname, int T, int h, int w, const char *what) {
    SafeTensors g;
    TensorList tl;
    Vae m;
    T2vError e = {0, {0}};
    if (!golden_open(&g, golden)) return;
    if (make_weights(&tl, &g, DT_F32)) {
        int rc = vae_build(&m, &tl, &e);
        CHECK(rc == 0, "%s: vae_build: %s", what, rc ? e.msg : "ok");
        if (!rc) decode_streamed(&m, &g, zname, T, h, w, what);
        if (!rc) vae_free(&m);
        tl_free(&tl);
    }
    st_close(&g);
}

/* ----------------------------------------------------------------------------
 * VideoWriter against the whole-clip writers */

enum { F = 9, H = 8, W = 12, FPS = 8 };

static uint8_t *make_frames(void) {
    uint8_t *rgb = (uint8_t *)malloc((size_t)F * H * W * 3);
    uint64_t s = 99;
    for (size_t i = 0; rgb && i < (size_t)F * H * W * 3; i++) rgb[i] = (uint8_t)(prng_next(&s) >> 56);
    return rgb;
}

static char *slurp(const char *path, size_t *n) { return h_slurp(path, n); }

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

/* Entries of dir (not . and ..) whose names contain `part`. */
static int count_names(const char *dir, const char *part) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c -F -- '%s'", dir, part);
    FILE *p = popen(cmd, "r");
    int k = -1;
    if (p && fscanf(p, "%d", &k) != 1) k = -1;
    if (p) pclose(p);
    return k;
}

/* The whole-clip writer of spec's kind. */
static int write_whole(const VideoSpec *s, const uint8_t *rgb, T2vError *e) {
    switch (s->kind) {
    case VIDEO_PNG_FRAMES: return video_write_png_frames(s->path, rgb, s->F, s->H, s->W, s->prov, 1, NULL, e);
    case VIDEO_APNG: return video_write_apng(s->path, rgb, s->F, s->H, s->W, s->fps, s->prov, 1, NULL, e);
    case VIDEO_Y4M: return video_write_y4m(s->path, rgb, s->F, s->H, s->W, s->fps, 1, NULL, e);
    case VIDEO_MP4: return video_write_mp4(s->path, rgb, s->F, s->H, s->W, s->fps, s->prov, 1, NULL, e);
    case VIDEO_SHEET:
        return video_write_sheet(s->path, rgb, s->F, s->H, s->W, s->sheet_n, s->sheet_cols, s->prov, 1, NULL, e);
    }
    return -1;
}

/* Frames in pieces of 1, 2, 3, 3 (as uneven as the decoder's are not). */
static int write_pieces(const VideoSpec *s, const uint8_t *rgb, TempFiles *tf, T2vError *e) {
    static const int piece[4] = {1, 2, 3, 3};
    VideoWriter *w;
    int rc = video_writer_open(&w, s, tf, e), at = 0;
    for (int k = 0; k < 4 && !rc; at += piece[k++])
        rc = video_writer_append(w, rgb + (size_t)at * H * W * 3, piece[k], e);
    if (rc && w) video_writer_abort(w);
    return rc ? rc : video_writer_close(w, e);
}

static const char *kind_name(VideoKind k) {
    static const char *const n[] = {"PNG frames", "APNG", "Y4M", "MP4", "contact sheet"};
    return n[k];
}

/* Two names in g_tmp: "whole" and "piece" versions of `name`. */
static void names(char *a, char *b, size_t n, const char *name) {
    snprintf(a, n, "%s/whole_%s", g_tmp, name);
    snprintf(b, n, "%s/piece_%s", g_tmp, name);
}

static void test_writer_bytes(const Provenance *prov, const uint8_t *rgb) {
    static const char *const file[] = {"f_%02d.png", "a.png", "v.y4m", "v.mp4", "s.png"};
    for (int k = VIDEO_PNG_FRAMES; k <= VIDEO_SHEET; k++) {
        if (k == VIDEO_MP4 && !video_find_ffmpeg(NULL, 0)) { h_skip("MP4 writer bytes: no ffmpeg on PATH"); continue; }
        char a[600], b[600];
        names(a, b, sizeof a, file[k]);
        VideoSpec sa = {(VideoKind)k, a, F, H, W, FPS, 5, 3, prov, 1}, sb = sa;
        sb.path = b;
        T2vError e = {0, {0}};
        int ra = write_whole(&sa, rgb, &e), rb = ra ? -1 : write_pieces(&sb, rgb, NULL, &e);
        int same = !ra && !rb;
        for (int i = 0; same && i < (k == VIDEO_PNG_FRAMES ? F : 1); i++) {
            char fa[700], fb[700];
            snprintf(fa, sizeof fa, "%s", a), snprintf(fb, sizeof fb, "%s", b);
            if (k == VIDEO_PNG_FRAMES)
                video_frame_name(a, i, fa, sizeof fa, NULL), video_frame_name(b, i, fb, sizeof fb, NULL);
            same = same_file(fa, fb);
        }
        CHECK(same, "%s fed in pieces of 1, 2, 3, 3 frames: the bytes of the whole-clip writer (exit %d, %d: %s)",
              kind_name((VideoKind)k), ra, rb, e.msg);
    }
}

/* Closing early, appending too much, a failed write, an abort: no file, no
 * temporary. */
static void test_writer_failures(const Provenance *prov, const uint8_t *rgb) {
    for (int k = VIDEO_APNG; k <= VIDEO_MP4; k++) {
        if (k == VIDEO_MP4 && !video_find_ffmpeg(NULL, 0)) continue;
        char path[600];
        snprintf(path, sizeof path, "%s/fail_%d.bin", g_tmp, k);
        VideoSpec s = {(VideoKind)k, path, F, H, W, FPS, 0, 0, prov, 1};
        T2vError e = {0, {0}};
        VideoWriter *w;
        int rc = video_writer_open(&w, &s, NULL, &e), r2 = -1, r3 = -1;
        if (!rc && !(rc = video_writer_append(w, rgb, 4, &e))) {
            r2 = video_writer_append(w, rgb, F - 3, &e); /* one too many */
            r3 = video_writer_close(w, &e);              /* 4 of 9 */
        } else if (w) video_writer_abort(w);
        CHECK(!rc && r2 == T2V_EUSAGE && r3 == T2V_EUSAGE && strstr(e.msg, "closed after 4 of 9") &&
                  count_names(g_tmp, "fail_") == 0,
              "%s: one frame too many refused, closed after 4 of 9 frames refused, no file or temporary left "
              "(%d, %d, %d: %s)", kind_name((VideoKind)k), rc, r2, r3, e.msg);
        rc = video_writer_open(&w, &s, NULL, &e);
        if (!rc) rc = video_writer_append(w, rgb, 5, &e);
        if (w) video_writer_abort(w);
        CHECK(!rc && count_names(g_tmp, "fail_") == 0, "%s: aborted after 5 frames: nothing left (%d)",
              kind_name((VideoKind)k), rc);
    }
    /* a full disk at the 3rd write: the error names the file */
    TempFiles tf;
    tempfiles_init(&tf);
    tf.fault_write = 3;
    char path[600];
    snprintf(path, sizeof path, "%s/full.png", g_tmp);
    VideoSpec s = {VIDEO_APNG, path, F, H, W, FPS, 0, 0, prov, 1};
    T2vError e = {0, {0}};
    int rc = write_pieces(&s, rgb, &tf, &e);
    CHECK(rc == T2V_ERESOURCE && strstr(e.msg, "full.png") && strstr(e.msg, "No space left") &&
              count_names(g_tmp, "full.png") == 0,
          "APNG: a failed write mid-stream: exit code %d, the message names the file (%s), nothing left", rc, e.msg);
}

/* ----------------------------------------------------------------------------
 * t2v generate: streamed against --dump */

#define MODEL "golden/models/tiny"
#define GEN "generate --model " MODEL " -p 'a red circle' --steps 2 -f 9 --no-sign -q "

static int t2v(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = h_vrun_bin("SOURCE_DATE_EPOCH=1700000000", g_bin, g_tmp, g_out, sizeof g_out, fmt, ap);
    va_end(ap);
    return rc;
}

/* Entries of dir whose names contain `part`, 1 s from now: a child that
 * outlived t2v would have made its file by then. */
static int count_later(const char *dir, const char *part) {
#if !defined(_WIN32)
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
#endif
    return count_names(dir, part);
}

/* A stand-in ffmpeg first on PATH that reads its input to the end and only
 * then writes its output (the last argument): an ffmpeg that had not made
 * its file yet when t2v was interrupted. t2v must stop it and wait for it
 * before it removes the temporaries; else the file appears after the cleanup
 * (as it did when the handler only removed them). */
static void test_interrupt_slow_ffmpeg(const char *f) {
#if defined(_WIN32)
    (void)f;
#else
    char bin[600], path[8192];
    snprintf(bin, sizeof bin, "%s/bin", g_tmp);
    h_sh("mkdir -p '%s' && printf '#!/bin/sh\\nfor a; do out=\"$a\"; done\\ncat > /dev/null\\necho late > \"$out\"\\n' "
         "> '%s/ffmpeg' && chmod +x '%s/ffmpeg'", bin, bin, bin);
    const char *old = getenv("PATH");
    char *keep = old ? strdup(old) : NULL;
    snprintf(path, sizeof path, "%s:%s", bin, old ? old : "/usr/bin:/bin");
    h_env_set("PATH", path);
    h_env_set("T2V_FAULT_PHASE", "VAE decode");
    int rc = t2v(GEN "--format png,mp4 -o '%s/x'", f);
    h_env_set("T2V_FAULT_PHASE", NULL);
    int now = count_names(f, "x"), later = count_later(f, "x");
    CHECK((rc == 130 || rc == -1) && now == 0 && later == 0,
          "SIGINT during the decode, a stand-in ffmpeg that writes only after its input ends: killed (%d), "
          "nothing kept, then or 1 s later (%d, %d entries)", rc, now, later);
    h_env_set("T2V_FAULT_WRITE", "3"); /* in frame 0's PNG: during the decode, ffmpeg running */
    rc = t2v(GEN "--format png,mp4 -o '%s/x'", f);
    h_env_set("T2V_FAULT_WRITE", NULL);
    now = count_names(f, "x"), later = count_later(f, "x");
    CHECK(rc == 3 && strstr(g_out, "No space left") && now == 0 && later == 0,
          "a full disk during the decode, the same stand-in ffmpeg: exit %d (want 3), nothing kept, then or 1 s "
          "later (%d, %d entries): %s", rc, now, later, g_out);
    h_env_set("PATH", keep);
    free(keep);
#endif
}

static void test_generate_streamed(void) {
    h_sh("mkdir -p '%s/s' '%s/w'", g_tmp, g_tmp);
    int r1 = t2v(GEN "--format png,apng,y4m,mp4,sheet -o '%s/s/x'", g_tmp);
    int r2 = t2v(GEN "--format png,apng,y4m,mp4,sheet --dump '%s/d' -o '%s/w/x'", g_tmp, g_tmp);
    CHECK(!r1 && !r2, "generate streamed and with --dump: exit %d, %d (%s)", r1, r2, g_out);
    static const char *const file[] = {"x.png", "x_sheet.png", "x.y4m", "x.mp4", "x.json", "x_0000.png",
                                       "x_0004.png", "x_0008.png"};
    for (int i = 0; i < 8 && !r1 && !r2; i++) {
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/s/%s", g_tmp, file[i]), snprintf(b, sizeof b, "%s/w/%s", g_tmp, file[i]);
        if (i == 3 && !platform_file_exists(a) && !video_find_ffmpeg(NULL, 0)) continue;
        CHECK(same_file(a, b), "%s: the streamed file is the --dump run's, byte for byte", file[i]);
    }
    char s[600];
    snprintf(s, sizeof s, "%s/s", g_tmp);
    CHECK(count_names(s, "x_0") == 9 && count_names(s, ".t2v-tmp") == 0, "streamed: 9 frames, no temporary");
    /* failures during the streamed decode leave nothing */
    char f[600];
    snprintf(f, sizeof f, "%s/f", g_tmp);
    h_sh("mkdir -p '%s'", f);
    h_env_set("T2V_FAULT_WRITE", "12"); /* in the APNG's first frame, during the decode */
    int rc = t2v(GEN "--format png,apng,y4m -o '%s/f/x'", g_tmp);
    h_env_set("T2V_FAULT_WRITE", NULL);
    CHECK(rc == 3 && strstr(g_out, "No space left") && strstr(g_out, "/f/x") && count_names(f, "x") == 0,
          "a full disk during the streamed decode: exit %d (want 3), the file named, nothing kept: %s", rc, g_out);
    int ff = video_find_ffmpeg(NULL, 0);
    if (!ff) h_skip("MP4 in the SIGINT test: no ffmpeg on PATH (the other formats are checked)");
    h_env_set("T2V_FAULT_PHASE", "VAE decode"); /* after the first latent frame's frame went to every writer */
    rc = t2v(GEN "--format png,apng,y4m,sheet%s -o '%s/f/x'", ff ? ",mp4" : "", g_tmp);
    h_env_set("T2V_FAULT_PHASE", NULL);
    int now = count_names(f, "x"), later = count_later(f, "x");
    CHECK((rc == 130 || rc == -1) && now == 0 && later == 0,
          "SIGINT during the streamed decode%s: killed (%d), nothing kept, then or 1 s later (%d, %d entries)",
          ff ? " (MP4 too)" : "", rc, now, later);
    test_interrupt_slow_ffmpeg(f);
    rc = t2v(GEN "-o '%s/f/bad'", g_tmp);
    CHECK(rc == 0, "after them a run writes again (exit %d)", rc);
}

static void test_source_date_epoch(void) {
    h_sh("mkdir -p '%s/e'", g_tmp);
    char log[600], cmd[1600];
    snprintf(log, sizeof log, "%s/log.txt", g_tmp);
    snprintf(cmd, sizeof cmd, "SOURCE_DATE_EPOCH=1e9 '%s' " GEN "-o '%s/e/x'", g_bin, g_tmp);
    int rc = h_run_logged(cmd, log, g_out, sizeof g_out);
    CHECK(rc == 1 && strstr(g_out, "SOURCE_DATE_EPOCH '1e9'"), "SOURCE_DATE_EPOCH=1e9 refused, exit %d: %s", rc,
          g_out);
    rc = t2v(GEN "--format y4m -o '%s/e/y'", g_tmp);
    char json[600];
    snprintf(json, sizeof json, "%s/e/y.json", g_tmp);
    size_t n = 0;
    char *t = rc ? NULL : slurp(json, &n);
    CHECK(t && strstr(t, "2023-11-14T22:13:20Z"), "SOURCE_DATE_EPOCH=1700000000: created 2023-11-14T22:13:20Z");
    free(t);
}

int main(int argc, char **argv) {
    test_decode_to("golden/vae/tiny_decode.safetensors", "latent.t5", 5, 6, 10, "Wan2.1 tiny VAE, 5 latent frames");
    test_decode_to("golden/vae22/tiny.safetensors", "latent.t3", 3, 2, 3, "Wan2.2 tiny VAE, 3 latent frames");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v-stream-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        h_report(0, "mkdtemp failed");
        return h_finish();
    }
    Provenance prov;
    T2vError e = {0, {0}};
    uint8_t *rgb = make_frames();
    if (rgb && !prov_init(&prov, &e) && !prov_set(&prov, "created", "2026-01-01T00:00:00Z", &e)) {
        test_writer_bytes(&prov, rgb);
        test_writer_failures(&prov, rgb);
        prov_free(&prov);
    }
    free(rgb);
    h_find_bin(argc > 0 ? argv[0] : NULL, g_bin, sizeof g_bin);
    if (access(g_bin, X_OK) == 0) {
        test_generate_streamed();
        test_source_date_epoch();
    } else
        h_report(0, "t2v binary not found at %s (build it, or set T2V_BIN)", g_bin);
    if (h_failed == 0) h_sh("rm -rf '%s'", g_tmp);
    else printf("-- kept %s for inspection\n", g_tmp);
    return h_finish();
}
