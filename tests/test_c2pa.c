/*
 * test_c2pa.c: Content Credentials (docs/OUTPUTS.md; ref/lib/cbor.h,
 * jumbf.h, c2pa.h; ref/app/sign.h).
 *
 *   1. CBOR: the encodings of RFC 8949 Appendix A, the reader on them, and
 *      refusals (indefinite lengths, truncation, counts that lie, depth).
 *   2. JUMBF: a written tree read back; refusals (sizes, missing jumd,
 *      unterminated label, depth).
 *   3. (built with C2PA=1) signing and verifying: a local chain, PNG / APNG /
 *      MP4 / sidecar manifests verified by t2v; one pixel byte, one media
 *      byte, one claim byte and one assertion byte changed are caught with
 *      the right reason; a key that does not match its certificate and a CA
 *      certificate as signer are refused.
 *   4. (C2PA=1) the t2v binary on the tiny model: outputs signed, `t2v info`
 *      verdicts and exit codes, --no-sign, T2V_FAULT_SIGN leaves nothing.
 *   5. The official reader (c2pa-rs as WebAssembly, tools/c2pa_verify.mjs)
 *      on the PNG, APNG and MP4 outputs and on the tampered copies, when
 *      `node` and build/c2pa-node/node_modules/@contentauth/c2pa-wasm are
 *      there (.ci/run installs them); T2V_REQUIRE_C2PA_READER=1 makes their
 *      absence a failure.
 *
 * Keys are made in a mkdtemp directory (XDG_CONFIG_HOME points there), never
 * in the user's configuration.
 */
#include "harness.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ref/app/sign.h"
#include "../ref/app/video.h"
#include "../ref/lib/c2pa.h"
#include "../ref/lib/cbor.h"
#include "../ref/lib/jumbf.h"

#define MODEL "golden/models/tiny"
#define PKG "build/c2pa-node/node_modules"

static char g_tmp[256], g_bin[1024];

static int hex_is(const ByteBuf *b, const char *hex) {
    char got[512];
    size_t k = 0;
    for (size_t i = 0; i < b->n && k + 3 < sizeof got; i++) k += (size_t)snprintf(got + k, 3, "%02x", b->p[i]);
    got[k] = 0;
    int ok = strcmp(got, hex) == 0;
    if (!ok) printf("       got %s want %s\n", got, hex);
    return ok;
}

static uint8_t *slurp(const char *path, size_t *n) { return (uint8_t *)h_slurp(path, n); }

static int spit(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int sh(char *out, size_t outlen, const char *fmt, ...) {
    char cmd[4096], log[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(log, sizeof log, "%s/log.txt", g_tmp);
    char full[4600];
    snprintf(full, sizeof full, "( %s ) >'%s' 2>&1 </dev/null", cmd, log);
    int st = system(full);
    if (out) {
        size_t n = 0;
        uint8_t *b = slurp(log, &n);
        if (n >= outlen) n = outlen - 1;
        if (b) memcpy(out, b, n);
        out[b ? n : 0] = 0;
        free(b);
    }
    return h_exit_status(st);
}

/* ---------------------------------------------------------------------------
 * 1. CBOR */

static void test_cbor_encode(void) {
    static const struct { int64_t v; const char *hex; } ints[] = {
        {0, "00"}, {1, "01"}, {23, "17"}, {24, "1818"}, {100, "1864"}, {1000, "1903e8"},
        {1000000, "1a000f4240"}, {1000000000000LL, "1b000000e8d4a51000"}, {-1, "20"}, {-10, "29"},
        {-100, "3863"}, {-1000, "3903e7"}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        ByteBuf b = {0};
        cbor_int(&b, ints[i].v);
        CHECK(hex_is(&b, ints[i].hex), "cbor int %lld = %s (RFC 8949 App. A)", (long long)ints[i].v, ints[i].hex);
        bb_free(&b);
    }
    ByteBuf b = {0};
    cbor_text(&b, "IETF");
    CHECK(hex_is(&b, "6449455446"), "cbor text \"IETF\"");
    bb_free(&b);
    cbor_bytes(&b, "\x01\x02\x03\x04", 4);
    CHECK(hex_is(&b, "4401020304"), "cbor bytes h'01020304'");
    bb_free(&b);
    cbor_map(&b, 2); cbor_text(&b, "a"); cbor_int(&b, 1); cbor_text(&b, "b");
    cbor_array(&b, 2); cbor_int(&b, 2); cbor_int(&b, 3);
    CHECK(hex_is(&b, "a26161016162820203"), "cbor {\"a\": 1, \"b\": [2, 3]}");
    bb_free(&b);
    cbor_float64(&b, 1.1);
    CHECK(hex_is(&b, "fb3ff199999999999a"), "cbor float64 1.1");
    bb_free(&b);
    cbor_tag(&b, 18); cbor_null(&b); cbor_bool(&b, 1); cbor_bool(&b, 0);
    CHECK(hex_is(&b, "d2f6f5f4"), "cbor tag 18, null, true, false");
    bb_free(&b);
}

static int cbor_hex_check(const char *hex, const char **why) {
    uint8_t buf[64];
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        buf[i] = (uint8_t)v;
    }
    return cbor_check(buf, n, why);
}

static void test_cbor_read(void) {
    const char *why = NULL;
    static const char *good[] = {"a26161016162820203", "1b000000e8d4a51000", "d2f6", "fb3ff199999999999a", "80", "a0"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(cbor_hex_check(good[i], &why) == 0, "cbor_check accepts %s", good[i]);
    static const struct { const char *hex, *what; } bad[] = {
        {"5f4101ff", "indefinite byte string"}, {"9f01ff", "indefinite array"}, {"1c", "reserved ai 28"},
        {"19", "truncated head"}, {"6449", "text longer than the data"}, {"9a7fffffff", "array count beyond the data"},
        {"a201", "map with a missing value"}, {"0101", "bytes after the item"}, {"f818", "non-canonical simple value"},
        {"", "empty input"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        int r = cbor_hex_check(bad[i].hex, &why);
        CHECK(r == -1 && why, "cbor_check refuses %s (%s): %s", bad[i].what, bad[i].hex, why ? why : "-");
    }
    /* 40 nested arrays: past CBOR_MAX_DEPTH */
    uint8_t deep[41];
    memset(deep, 0x81, 40);
    deep[40] = 0x00;
    why = NULL;
    CHECK(cbor_check(deep, sizeof deep, &why) == -1 && why && strstr(why, "deep"), "cbor_check refuses 40 nested arrays: %s",
          why ? why : "-");
    ByteBuf b = {0};
    cbor_map(&b, 2); cbor_text(&b, "x"); cbor_int(&b, 7); cbor_text(&b, "name"); cbor_text(&b, "t2v");
    size_t vp = 0;
    const char *s = NULL;
    size_t sl = 0;
    int found = cbor_map_find(b.p, b.n, 0, "name", &vp, &why);
    CHECK(found == 1 && !cbor_get_text(b.p, b.n, vp, &s, &sl) && sl == 3 && !memcmp(s, "t2v", 3),
          "cbor_map_find finds \"name\": \"t2v\"");
    CHECK(cbor_map_find(b.p, b.n, 0, "nope", &vp, &why) == 0, "cbor_map_find: absent key is 0");
    bb_free(&b);
}

/* ---------------------------------------------------------------------------
 * 2. JUMBF */

static void test_jumbf(void) {
    ByteBuf o = {0};
    uint8_t u[16];
    const char *why = NULL;
    c2pa_uuid("c2pa", u);
    size_t top = jumbf_begin(&o, u, "c2pa");
    c2pa_uuid("cbor", u);
    size_t a = jumbf_begin(&o, u, "first");
    size_t c = box_begin(&o, "cbor");
    cbor_int(&o, 5);
    box_end(&o, c);
    box_end(&o, a);
    a = jumbf_begin(&o, u, "second");
    box_end(&o, a);
    box_end(&o, top);
    CHECK(!o.oom && jumbf_check(o.p, o.n, &why) == 0, "jumbf: written tree passes jumbf_check");
    BoxRef t, f, cb;
    size_t pos = 0;
    int r = box_next(o.p, o.n, &pos, &t, &why);
    JumbfDesc d;
    CHECK(r == 1 && jumbf_desc(o.p, &t, &d, &why) == 0 && !strcmp(d.label, "c2pa") && d.toggles == 3,
          "jumbf: top superbox label c2pa, toggles 3");
    CHECK(jumbf_find(o.p, &t, "second", NULL, &f, &why) == 1, "jumbf_find finds the second child by label");
    CHECK(jumbf_find(o.p, &t, "first", u, &f, &why) == 1 && jumbf_content(o.p, &f, "cbor", &cb, &why) == 1 &&
          cb.len == 1 && o.p[cb.off] == 5, "jumbf_find + jumbf_content: the first child's cbor box holds 05");
    CHECK(jumbf_find(o.p, &t, "third", NULL, &f, &why) == 0, "jumbf_find: absent label is 0");
    /* refusals on copies */
    uint8_t *bad = (uint8_t *)malloc(o.n);
    memcpy(bad, o.p, o.n);
    be32_put(bad, 4);
    why = NULL;
    CHECK(jumbf_check(bad, o.n, &why) == -1 && why, "jumbf refuses a box size smaller than its header: %s", why);
    memcpy(bad, o.p, o.n);
    be32_put(bad, (uint32_t)o.n + 10);
    CHECK(jumbf_check(bad, o.n, &why) == -1, "jumbf refuses a box that runs past its parent: %s", why);
    memcpy(bad, o.p, o.n);
    memcpy(bad + 12, "jumX", 4);
    CHECK(jumbf_check(bad, o.n, &why) == -1, "jumbf refuses a superbox without jumd: %s", why);
    memcpy(bad, o.p, o.n);
    bad[8 + 8 + 17 + 4] = 'x'; /* the NUL after "c2pa" */
    CHECK(jumbf_check(bad, o.n, &why) == -1, "jumbf refuses an unterminated label: %s", why);
    CHECK(jumbf_check(o.p, o.n - 1, &why) == -1, "jumbf refuses a truncated tree: %s", why);
    free(bad);
    bb_free(&o);
    /* 20 nested superboxes */
    ByteBuf deep = {0};
    size_t st[20];
    for (int i = 0; i < 20; i++) st[i] = jumbf_begin(&deep, u, "d");
    for (int i = 19; i >= 0; i--) box_end(&deep, st[i]);
    CHECK(jumbf_check(deep.p, deep.n, &why) == -1 && strstr(why, "deep"), "jumbf refuses 20 nested superboxes: %s", why);
    bb_free(&deep);
}

/* ---------------------------------------------------------------------------
 * 3. Signing and verifying in the library */

static char g_chain[600], g_key[600];

static void prov_for_test(Provenance *p, const C2paSigner *s) {
    T2vError e = {0, {0}};
    prov_init(p, &e);
    prov_set(p, "prompt", "a red circle", &e);
    prov_set_number(p, &e, "seed", "%d", 42);
    prov_set_number(p, &e, "cfg", "%g", 4.5);
    prov_add_model_hash(p, "dit.safetensors", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &e);
    p->signer = s;
}

static int verify_file(const char *path, int kind, C2paResult *r) {
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    T2vError e = {0, {0}};
    int rc = b ? c2pa_verify(kind, b, n, NULL, 0, r, &e) : -1;
    free(b);
    return rc;
}

/* Flips one bit of the byte at `at` (after the first occurrence of `after`
 * when it is given) of src into dst. Returns the offset or -1. */
static long tamper(const char *src, const char *dst, const char *after, long at) {
    size_t n = 0;
    uint8_t *b = slurp(src, &n);
    if (!b) return -1;
    long base = 0;
    if (after) {
        size_t k = strlen(after), i = 0;
        while (i + k <= n && memcmp(b + i, after, k)) i++;
        if (i + k > n) { free(b); return -1; }
        base = (long)i;
    }
    long off = base + at;
    if (off < 0 || (size_t)off >= n) { free(b); return -1; }
    b[off] ^= 1;
    int rc = spit(dst, b, n);
    free(b);
    return rc ? -1 : off;
}

static void expect(const char *path, int kind, C2paVerdict v, const char *code, const char *what) {
    C2paResult r;
    int rc = verify_file(path, kind, &r);
    CHECK(rc == 0 && r.verdict == v && (!code || !strcmp(r.code, code)), "t2v verify %s: verdict %d code '%s' (want %d '%s') %s",
          what, rc ? -1 : (int)r.verdict, rc ? "" : r.code, (int)v, code ? code : "", rc ? "" : r.reason);
    if (!rc) c2pa_result_free(&r);
}

/* A minimal ISO BMFF file: ftyp, moov, mdat. */
static void write_synthetic_mp4(const char *path) {
    ByteBuf b = {0};
    size_t x = box_begin(&b, "ftyp");
    bb_add(&b, "isom", 4); bb_be32(&b, 512); bb_add(&b, "isomiso2mp41", 12);
    box_end(&b, x);
    x = box_begin(&b, "moov");
    size_t y = box_begin(&b, "mvhd");
    for (int i = 0; i < 100; i++) bb_u8(&b, 0);
    box_end(&b, y);
    box_end(&b, x);
    x = box_begin(&b, "mdat");
    for (int i = 0; i < 1024; i++) bb_u8(&b, (unsigned)(i * 7));
    box_end(&b, x);
    spit(path, b.p, b.n);
    bb_free(&b);
}

static void test_sign_verify(void) {
    T2vError e = {0, {0}};
    char dir[400], path[600], p2[600];
    snprintf(dir, sizeof dir, "%s/keys", g_tmp);
    CHECK(sign_keygen(dir, 0, &e) == 0, "sign_keygen makes a local chain in %s %s", dir, e.msg);
    CHECK(sign_keygen(dir, 0, &e) == T2V_EUSAGE, "sign_keygen refuses to replace a key without force");
    snprintf(g_chain, sizeof g_chain, "%s/%s", dir, SIGN_CHAIN_FILE);
    snprintf(g_key, sizeof g_key, "%s/%s", dir, SIGN_KEY_FILE);
    struct stat st;
    CHECK(stat(g_key, &st) == 0 && (st.st_mode & 077) == 0, "the private key is mode 0600 (%o)", (unsigned)(st.st_mode & 0777));
    C2paSigner s;
    int rc = c2pa_signer_load(&s, g_chain, g_key, &e);
    CHECK(rc == 0 && s.ncert == 2 && s.alg == -7, "signer: 2 certificates, ES256 %s", e.msg);
    if (rc) return;
    /* mismatched key, and a CA certificate as the signer */
    char root[600];
    snprintf(root, sizeof root, "%s/%s", dir, SIGN_ROOT_FILE);
    C2paSigner bad;
    CHECK(c2pa_signer_load(&bad, root, g_key, &e) == T2V_EINPUT && strstr(e.msg, "does not match"),
          "a key that does not match the certificate is refused: %s", e.msg);

    Provenance p;
    prov_for_test(&p, &s);
    uint8_t rgb[2 * 8 * 8 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 13);
    snprintf(path, sizeof path, "%s/one.png", g_tmp);
    CHECK(video_write_png_frames(path, rgb, 1, 8, 8, &p, 1, NULL, &e) == 0, "signed PNG written %s", e.msg);
    expect(path, 'p', C2PA_VALID, "", "PNG");
    snprintf(p2, sizeof p2, "%s/anim.png", g_tmp);
    CHECK(video_write_apng(p2, rgb, 2, 8, 8, 8, &p, 1, NULL, &e) == 0, "signed APNG written %s", e.msg);
    expect(p2, 'p', C2PA_VALID, "", "APNG");
    /* one pixel byte: the first byte of IDAT's data */
    snprintf(p2, sizeof p2, "%s/pixel.png", g_tmp);
    CHECK(tamper(path, p2, "IDAT", 4) > 0, "PNG copy with one IDAT byte changed");
    expect(p2, 'p', C2PA_INVALID, "assertion.dataHash.mismatch", "PNG, one pixel byte changed");
    snprintf(p2, sizeof p2, "%s/claim.png", g_tmp);
    CHECK(tamper(path, p2, "xmp:iid:", 10) > 0, "PNG copy with one byte of the claim changed");
    expect(p2, 'p', C2PA_INVALID, "claimSignature.mismatch", "PNG, one claim byte changed");
    snprintf(p2, sizeof p2, "%s/assertion.png", g_tmp);
    CHECK(tamper(path, p2, "a red circle", 2) > 0, "PNG copy with one byte of the parameters assertion changed");
    expect(p2, 'p', C2PA_INVALID, "assertion.hashedURI.mismatch", "PNG, one assertion byte changed");
    snprintf(p2, sizeof p2, "%s/sig.png", g_tmp);
    /* the last bytes of the caBX chunk's data are the signature's r||s */
    size_t n = 0, chunk = 0, off = 0, len = 0;
    uint8_t *b = slurp(path, &n);
    if (b && c2pa_png_find(b, n, &chunk, &off, &len) == 0) {
        b[off + len - 5] ^= 1;
        spit(p2, b, n);
        expect(p2, 'p', C2PA_INVALID, "claimSignature.mismatch", "PNG, one signature byte changed");
    } else CHECK(0, "caBX chunk found in the signed PNG");
    free(b);
    /* unsigned */
    snprintf(p2, sizeof p2, "%s/plain.png", g_tmp);
    p.signer = NULL;
    CHECK(video_write_png_frames(p2, rgb, 1, 8, 8, &p, 1, NULL, &e) == 0, "unsigned PNG written");
    expect(p2, 'p', C2PA_NONE, "", "unsigned PNG");
    p.signer = &s;

    /* MP4 */
    snprintf(p2, sizeof p2, "%s/syn.mp4", g_tmp);
    write_synthetic_mp4(p2);
    b = slurp(p2, &n);
    ByteBuf out = {0};
    ByteBuf par = {0};
    prov_c2pa_params(&p, &par);
    C2paClaimInfo ci = {"t2v", T2V_VERSION, "2026-01-01T00:00:00Z", par.p, par.n};
    rc = b ? c2pa_sign_mp4(&s, &ci, b, n, &out, &e) : -1;
    snprintf(path, sizeof path, "%s/signed.mp4", g_tmp);
    CHECK(rc == 0 && spit(path, out.p, out.n) == 0 && out.n > n && !memcmp(out.p, b, n),
          "MP4 signed: the file unchanged, the C2PA uuid box appended %s", e.msg);
    expect(path, 'm', C2PA_VALID, "", "MP4");
    snprintf(p2, sizeof p2, "%s/media.mp4", g_tmp);
    CHECK(tamper(path, p2, "mdat", 100) > 0, "MP4 copy with one mdat byte changed");
    expect(p2, 'm', C2PA_INVALID, "assertion.bmffHash.mismatch", "MP4, one media byte changed");
    /* sidecar */
    ByteBuf side = {0};
    rc = c2pa_sign_sidecar(&s, &ci, b, n, &side, &e);
    C2paResult r;
    CHECK(rc == 0 && c2pa_verify('s', b, n, side.p, side.n, &r, &e) == 0 && r.verdict == C2PA_VALID,
          "sidecar manifest verifies against its asset");
    if (!rc) c2pa_result_free(&r);
    b[n / 2] ^= 1;
    CHECK(c2pa_verify('s', b, n, side.p, side.n, &r, &e) == 0 && r.verdict == C2PA_INVALID &&
          !strcmp(r.code, "assertion.dataHash.mismatch"), "sidecar: a changed asset byte is a data hash mismatch");
    c2pa_result_free(&r);
    const char *why = NULL;
    CHECK(c2pa_store_check(side.p, side.n, &why) == 0, "c2pa_store_check accepts the sidecar store");
    CHECK(c2pa_store_check(side.p, side.n - 3, &why) == -1, "c2pa_store_check refuses it truncated: %s", why);
    bb_free(&side); bb_free(&out); bb_free(&par);
    free(b);
    prov_free(&p);
    c2pa_signer_free(&s);
}

/* ---------------------------------------------------------------------------
 * 4. The binary */

static char g_log[1 << 16];

static int count_files(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) { if (fscanf(f, "%d", &n) != 1) n = -1; pclose(f); }
    return n;
}

static void test_cli(int have_ffmpeg) {
    char out[400], path[600];
    snprintf(out, sizeof out, "%s/run", g_tmp);
    mkdir(out, 0700);
    const char *fmt = have_ffmpeg ? "png,apng,sheet,y4m,mp4" : "png,apng,sheet,y4m";
    int rc = sh(g_log, sizeof g_log, "'%s' generate --model " MODEL " -p 'a red circle' -q -o '%s/x' --format %s",
                g_bin, out, fmt);
    char cfg_chain[600];
    snprintf(cfg_chain, sizeof cfg_chain, "%s/cfg/t2v/%s", g_tmp, SIGN_CHAIN_FILE);
    CHECK(rc == 0 && strstr(g_log, "made a local signing key") && access(cfg_chain, R_OK) == 0,
          "generate with no key: makes the local chain in $XDG_CONFIG_HOME/t2v and says so (exit %d)", rc);
    if (rc) { printf("%s\n", g_log); return; }
    static const char *const files[] = {"x.png", "x_0000.png", "x_sheet.png", "x.mp4"};
    for (int i = 0; i < 4; i++) {
        if (i == 3 && !have_ffmpeg) continue;
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        rc = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, path);
        CHECK(rc == 0 && strstr(g_log, "Content Credentials (C2PA): valid") && strstr(g_log, "signer untrusted") &&
              strstr(g_log, "trainedAlgorithmicMedia") && strstr(g_log, "\"c2pa.created\""),
              "t2v info %s: valid, signer untrusted, c2pa.created, trainedAlgorithmicMedia", files[i]);
    }
    snprintf(path, sizeof path, "%s/x.y4m", out);
    rc = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, path);
    CHECK(rc == 0 && strstr(g_log, "Content Credentials (C2PA): valid"), "t2v info x.y4m: its x.c2pa sidecar is valid");
    /* tampered: exit 2 with the reason */
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/x_0000.png", out);
    snprintf(dst, sizeof dst, "%s/t_pixel.png", g_tmp);
    tamper(src, dst, "IDAT", 4);
    rc = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, dst);
    CHECK(rc == 2 && strstr(g_log, "INVALID") && strstr(g_log, "assertion.dataHash.mismatch"),
          "t2v info on a PNG with one pixel byte changed: exit 2, INVALID, dataHash.mismatch (exit %d)", rc);
    snprintf(dst, sizeof dst, "%s/t_claim.png", g_tmp);
    tamper(src, dst, "xmp:iid:", 10);
    rc = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, dst);
    CHECK(rc == 2 && strstr(g_log, "claimSignature.mismatch"), "t2v info on a PNG with one claim byte changed: "
          "claimSignature.mismatch (exit %d)", rc);
    if (have_ffmpeg) {
        snprintf(src, sizeof src, "%s/x.mp4", out);
        snprintf(dst, sizeof dst, "%s/t_media.mp4", g_tmp);
        tamper(src, dst, "mdat", 200);
        rc = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, dst);
        CHECK(rc == 2 && strstr(g_log, "assertion.bmffHash.mismatch"), "t2v info on an MP4 with one media byte "
              "changed: bmffHash.mismatch (exit %d)", rc);
    }
    /* --no-sign: no manifest */
    char out2[400];
    snprintf(out2, sizeof out2, "%s/nosign", g_tmp);
    mkdir(out2, 0700);
    rc = sh(g_log, sizeof g_log, "'%s' generate --model " MODEL " -p x -q --no-sign -o '%s/x' --format apng,y4m",
            g_bin, out2);
    snprintf(path, sizeof path, "%s/x.png", out2);
    int rc2 = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, path);
    snprintf(dst, sizeof dst, "%s/x.c2pa", out2);
    CHECK(rc == 0 && rc2 == 0 && strstr(g_log, "Content Credentials (C2PA): none") && strstr(g_log, "t2v-parameters") &&
          access(dst, F_OK) != 0, "--no-sign: no manifest, no x.c2pa, the unsigned provenance still there");
    /* a failed signing leaves nothing */
    char out3[400];
    snprintf(out3, sizeof out3, "%s/fail", g_tmp);
    mkdir(out3, 0700);
    rc = sh(g_log, sizeof g_log, "T2V_FAULT_SIGN=2 '%s' generate --model " MODEL " -p x -q -o '%s/x'", g_bin, out3);
    CHECK(rc == 3 && strstr(g_log, "C2PA signing failed") && count_files(out3) == 0,
          "a failed signing (T2V_FAULT_SIGN=2): exit 3, no file at all (exit %d, %d files)", rc, count_files(out3));
    /* given credentials: a missing key file is refused before any work */
    rc = sh(g_log, sizeof g_log, "'%s' generate --model " MODEL " -p x -q -o '%s/x' --sign-cert '%s' --sign-key '%s/none.pem'",
            g_bin, out3, g_chain, g_tmp);
    CHECK(rc == 2 && strstr(g_log, "none.pem") && count_files(out3) == 0,
          "--sign-key naming no file: exit 2, the file named, nothing written (exit %d)", rc);
    rc = sh(g_log, sizeof g_log, "'%s' generate --model " MODEL " -p x -q -o '%s/x' --sign-cert '%s'", g_bin, out3, g_chain);
    CHECK(rc == 1 && strstr(g_log, "go together"), "--sign-cert without --sign-key: usage error (exit %d)", rc);
    rc = sh(g_log, sizeof g_log, "'%s' generate --model " MODEL " -p x -q -o '%s/x' --sign-cert '%s' --sign-key '%s'",
            g_bin, out3, g_chain, g_key);
    snprintf(path, sizeof path, "%s/x.png", out3);
    rc2 = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, path);
    CHECK(rc == 0 && rc2 == 0 && strstr(g_log, "valid") && strstr(g_log, "t2v local signer"),
          "--sign-cert/--sign-key: outputs signed by that key");
}

/* Chains made by the openssl command (when it is there): an Ed25519 signer
 * (COSE EdDSA), and a signer whose certificate allows anyExtendedKeyUsage,
 * which C2PA's certificate profile forbids. */
static const char CNF[] =
    "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
    "[anyeku]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=anyExtendedKeyUsage,emailProtection\nsubjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid:always\n"
    "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n";

static int openssl_chain(const char *dir, const char *alg, const char *ext) {
    return sh(NULL, 0, "cd '%s' && openssl genpkey -algorithm %s -out root.key && "
              "openssl req -new -x509 -key root.key -subj '/O=t2v test/CN=root' -days 30 -config x.cnf "
              "-extensions root -out root.pem && openssl genpkey -algorithm %s -out %s.key && "
              "openssl req -new -key %s.key -subj '/O=t2v test/CN=%s' -config x.cnf -out %s.csr && "
              "openssl x509 -req -in %s.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 -extfile x.cnf "
              "-extensions %s -out %s.pem && cat %s.pem root.pem > %s.chain",
              dir, alg, alg, ext, ext, ext, ext, ext, ext, ext, ext, ext);
}

static void test_openssl_chains(void) {
    char dir[400], path[700];
    snprintf(dir, sizeof dir, "%s/ossl", g_tmp);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/x.cnf", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "[req]\ndistinguished_name=dn\n[dn]\n%s", CNF);
        fclose(f);
    }
    if (openssl_chain(dir, "ed25519", "leaf")) { CHECK(0, "openssl made an Ed25519 chain"); return; }
    int rc = sh(g_log, sizeof g_log, "'%s' generate --model " MODEL " -p ed -q -o '%s/ed' --format apng "
                "--sign-cert '%s/leaf.chain' --sign-key '%s/leaf.key'", g_bin, dir, dir, dir);
    snprintf(path, sizeof path, "%s/ed.png", dir);
    int rc2 = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, path);
    CHECK(rc == 0 && rc2 == 0 && strstr(g_log, "Content Credentials (C2PA): valid") && strstr(g_log, "CN=leaf"),
          "an Ed25519 chain from openssl (COSE EdDSA): signed and valid (exit %d, %d)", rc, rc2);
    snprintf(path, sizeof path, "%s/anyeku", dir);
    mkdir(path, 0700);
    sh(NULL, 0, "cp '%s/x.cnf' '%s/'", dir, path);
    if (openssl_chain(path, "ec -pkeyopt ec_paramgen_curve:P-256", "anyeku")) {
        CHECK(0, "openssl made a P-256 chain with anyExtendedKeyUsage");
        return;
    }
    rc = sh(g_log, sizeof g_log, "'%s' generate --model " MODEL " -p any -q -o '%s/any' --format apng "
            "--sign-cert '%s/anyeku.chain' --sign-key '%s/anyeku.key'", g_bin, path, path, path);
    char png[800], chain[800], key[800];
    snprintf(png, sizeof png, "%s/any.png", path);
    CHECK(rc == 2 && strstr(g_log, "anyExtendedKeyUsage") && access(png, F_OK) != 0,
          "generate refuses a signer allowing anyExtendedKeyUsage before any work (exit %d)", rc);
    /* signed anyway through the library: both readers must call it invalid */
    snprintf(chain, sizeof chain, "%s/anyeku.chain", path);
    snprintf(key, sizeof key, "%s/anyeku.key", path);
    C2paSigner s;
    T2vError e = {0, {0}};
    if (c2pa_signer_load(&s, chain, key, &e)) { CHECK(0, "load the anyEKU chain: %s", e.msg); return; }
    char why[200];
    CHECK(c2pa_signer_check(&s, why, sizeof why) == -1 && strstr(why, "anyExtendedKeyUsage"),
          "c2pa_signer_check: %s", why);
    Provenance p;
    prov_for_test(&p, &s);
    uint8_t rgb[4 * 4 * 3] = {0};
    CHECK(video_write_png_frames(png, rgb, 1, 4, 4, &p, 1, NULL, &e) == 0, "PNG signed by the anyEKU signer");
    prov_free(&p);
    c2pa_signer_free(&s);
    rc2 = sh(g_log, sizeof g_log, "'%s' info '%s'", g_bin, png);
    CHECK(rc2 == 2 && strstr(g_log, "signingCredential.invalid") && strstr(g_log, "anyExtendedKeyUsage"),
          "t2v info on it: signingCredential.invalid, anyExtendedKeyUsage (exit %d)", rc2);
}

/* ---------------------------------------------------------------------------
 * 5. The official reader */

/* One line of tools/c2pa_verify.mjs's output for path, in line (or ""). */
static int official(const char *path, char *line, size_t n) {
    int rc = sh(line, n, "node tools/c2pa_verify.mjs --pkg " PKG " '%s'", path);
    return rc;
}

static void expect_official(const char *path, const char *what, const char *fail_code) {
    char line[1 << 15];
    int rc = official(path, line, sizeof line);
    int before = h_failed;
    if (!fail_code) {
        CHECK(rc == 0 && strstr(line, "\"ok\":true") && strstr(line, "\"failures\":[\"signingCredential.untrusted\"]") &&
              strstr(line, "\"action\":\"c2pa.created\"") &&
              strstr(line, "\"digitalSourceType\":\"" C2PA_DST_TRAINED "\"") &&
              strstr(line, "\"claim_generator\":[{\"name\":\"t2v\""),
              "official C2PA reader, %s: no failure but signingCredential.untrusted; c2pa.created, "
              "trainedAlgorithmicMedia, claim generator t2v", what);
    } else {
        char want[128];
        snprintf(want, sizeof want, "\"%s\"", fail_code);
        CHECK(rc == 0 && strstr(line, "\"ok\":true") && strstr(line, want), "official C2PA reader, %s: reports %s", what,
              fail_code);
    }
    if (h_failed > before) {
        char *m = strstr(line, ",\"manifest\"");
        if (m) *m = 0;
        printf("       %s\n", line);
    }
}

static void test_official(int have_ffmpeg) {
    char path[600], dst[600];
    int have = sh(NULL, 0, "command -v node") == 0 && access(PKG "/@contentauth/c2pa-wasm/pkg/c2pa_bg.wasm", R_OK) == 0;
    const char *req = getenv("T2V_REQUIRE_C2PA_READER");
    if (!have) {
        if (req && *req == '1') CHECK(0, "official C2PA reader: node or " PKG "/@contentauth/c2pa-wasm missing");
        else h_skip("official C2PA reader: needs node and `npm install --prefix build/c2pa-node "
                    "@contentauth/c2pa-wasm` (.ci/run does it)");
        return;
    }
    static const char *const files[] = {"run/x_0000.png", "run/x.png", "run/x_sheet.png", "signed.mp4", "run/x.mp4"};
    static const char *const what[] = {"PNG frame", "APNG", "contact sheet", "MP4 (library)", "MP4 (ffmpeg)"};
    for (int i = 0; i < 5; i++) {
        if (i == 4 && !have_ffmpeg) continue;
        snprintf(path, sizeof path, "%s/%s", g_tmp, files[i]);
        expect_official(path, what[i], NULL);
    }
    snprintf(path, sizeof path, "%s/ossl/ed.png", g_tmp);
    if (access(path, R_OK) == 0) expect_official(path, "APNG signed with Ed25519", NULL);
    snprintf(path, sizeof path, "%s/ossl/anyeku/any.png", g_tmp);
    if (access(path, R_OK) == 0) expect_official(path, "signer allowing anyExtendedKeyUsage", "signingCredential.invalid");
    snprintf(path, sizeof path, "%s/pixel.png", g_tmp);
    expect_official(path, "PNG with one pixel byte changed", "assertion.dataHash.mismatch");
    snprintf(path, sizeof path, "%s/claim.png", g_tmp);
    expect_official(path, "PNG with one claim byte changed", "claimSignature.mismatch");
    snprintf(path, sizeof path, "%s/media.mp4", g_tmp);
    expect_official(path, "MP4 with one mdat byte changed", "assertion.bmffHash.mismatch");
    if (have_ffmpeg) {
        snprintf(path, sizeof path, "%s/run/x.mp4", g_tmp);
        snprintf(dst, sizeof dst, "%s/t_media2.mp4", g_tmp);
        tamper(path, dst, "mdat", 200);
        expect_official(dst, "t2v's MP4 with one media byte changed", "assertion.bmffHash.mismatch");
    }
}

int main(int argc, char **argv) {
    test_cbor_encode();
    test_cbor_read();
    test_jumbf();
    if (!c2pa_available()) {
        h_skip("signing, verifying and the CLI: built with C2PA=0 (no libcrypto)");
        return h_finish();
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v-c2pa-XXXXXX");
    if (!mkdtemp(g_tmp)) { CHECK(0, "mkdtemp"); return h_finish(); }
    char cfg[400];
    snprintf(cfg, sizeof cfg, "%s/cfg", g_tmp);
    setenv("XDG_CONFIG_HOME", cfg, 1);
    unsetenv("T2V_SIGN_CERT");
    unsetenv("T2V_SIGN_KEY");
    const char *env = getenv("T2V_BIN");
    if (env && *env) snprintf(g_bin, sizeof g_bin, "%s", env);
    else {
        char self[900];
        snprintf(self, sizeof self, "%s", argc > 0 ? argv[0] : "");
        char *s = strrchr(self, '/');
        if (s) *s = 0; else strcpy(self, ".");
        snprintf(g_bin, sizeof g_bin, "%s/../t2v", self);
    }
    printf("-- temp dir %s, binary %s\n", g_tmp, g_bin);
    test_sign_verify();
    int have_ffmpeg = video_find_ffmpeg(NULL, 0);
    if (!have_ffmpeg) h_skip("MP4 from t2v generate: no ffmpeg on PATH (the library's MP4 is checked)");
    if (access(g_bin, X_OK) == 0) test_cli(have_ffmpeg);
    else CHECK(0, "t2v binary not found at %s (build it, or set T2V_BIN)", g_bin);
    if (sh(NULL, 0, "command -v openssl") == 0) test_openssl_chains();
    else h_skip("Ed25519 and anyExtendedKeyUsage chains: no openssl command");
    test_official(have_ffmpeg);
    if (!h_failed) sh(NULL, 0, "rm -rf '%s'", g_tmp);
    return h_finish();
}
