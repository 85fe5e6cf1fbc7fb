/*
 * test_misaligned.c: checkpoints whose tensors sit at misaligned addresses.
 *
 * A safetensors file may put its data section at any offset (the header is
 * JSON padded with spaces to any length), so an F32 tensor can start 1, 2 or
 * 3 bytes past a 4-byte boundary in the file and in its memory mapping.
 * t2v must read such a file as an aligned one: the same bits out, not a
 * crash (dit.c once sized its widening scratch with a rule that ignored
 * alignment while ops.c widened misaligned F32 into it: SIGSEGV in
 * widen_rows(dst=NULL) from `t2v generate`).
 *
 * The files are made here, at test time (no Python): write_shifted copies a
 * safetensors file with its header padded so the data section starts at
 * offset k mod 8 (k = 1, 2, 3; data_offsets unchanged), as
 * tools/misalign_safetensors.py does; write_converted first writes an aligned
 * safetensors copy of any checkpoint (the demo's .pth umT5 and VAE too) with
 * every float tensor in F32, BF16 or F16. Then, on models/demo:
 *   - each stage in-process, DiT (F32, BF16, F16), umT5 (BF16, F32, F16),
 *     VAE decode (F32, BF16; a 16x16x5 video), from the aligned file and from its copies at
 *     k = 1, 2, 3: the same output bits;
 *   - `t2v generate` (64x64, 17 frames, --steps 2) on a model directory whose
 *     DiT and umT5 are misaligned safetensors, for k = 1, 2, 3, against the
 *     same command on models/demo itself: the same --dump tensors and the
 *     same frames (PNG pixel data), byte for byte. The VAE stays the demo's
 *     .pth there: a VAE file that needs widening (misaligned F32, BF16) has
 *     every conv weight widened again for each latent frame, which made each
 *     generate ~5x slower; the VAE's bits are checked in-process above.
 * The binary: $T2V_BIN if set, else BUILD/t2v beside BUILD/tests.
 */
#include "harness.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ref/lib/dit.h"
#include "../ref/lib/model.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/t5.h"
#include "../ref/lib/vae.h"

#define DEMO "models/demo"

static char g_bin[1024], g_tmp[256], g_root[1024];

/* ---------------------------------------------------------------------------
 * Files */

static unsigned char *slurp(const char *path, size_t *n) { return (unsigned char *)h_slurp(path, n); }

/* dst = src with the header's JSON padded by spaces so that the data section
 * starts at an absolute offset of `shift` mod 8; every data_offsets entry
 * (relative to the data section) stays as it was. */
static int write_shifted(const char *src, const char *dst, int shift) {
    size_t n;
    unsigned char *b = slurp(src, &n);
    if (!b || n < 8) { free(b); return 0; }
    uint64_t hlen = rd_u64le(b);
    if (hlen > n - 8) { free(b); return 0; }
    size_t pad = (size_t)((shift - (int)((8 + hlen) % 8) + 8) % 8);
    unsigned char len8[8];
    wr_u64le(len8, hlen + pad);
    FILE *f = fopen(dst, "wb");
    int ok = f && fwrite(len8, 1, 8, f) == 8 && fwrite(b + 8, 1, (size_t)hlen, f) == hlen;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fwrite(b + 8 + hlen, 1, n - 8 - hlen, f) == n - 8 - hlen;
    if (f && fclose(f)) ok = 0;
    free(b);
    return ok;
}

/* An aligned safetensors file of the tensors of tl, every float tensor
 * converted to dt (round to nearest even), the others as they are. */
static int write_converted(const TensorList *tl, DType dt, const char *dst) {
    T2vError e = {0, {0}};
    Tensor *t = calloc((size_t)tl->n, sizeof *t);
    StItem *items = calloc((size_t)tl->n, sizeof *items);
    int ok = t && items, made = 0;
    for (int i = 0; ok && i < tl->n; i++, made++) {
        const Tensor *s = &tl->tensors[i];
        int conv = dtype_is_float(s->dtype) && s->dtype != dt;
        ok = tensor_alloc(&t[i], conv ? dt : s->dtype, s->ndim, s->shape, &e) == T2V_OK;
        if (!ok) break;
        int64_t n = tensor_numel(s);
        if (!conv) {
            memcpy(t[i].data, s->data, tensor_nbytes(s));
        } else {
            float *x = tensor_to_f32_alloc(s, &e);
            unsigned char *d = (unsigned char *)t[i].data;
            for (int64_t j = 0; x && j < n; j++) {
                if (dt == DT_F32) wr_u32le(d + 4 * j, f32_to_bits(x[j]));
                else wr_u16le(d + 2 * j, dt == DT_BF16 ? f32_to_bf16(x[j]) : f32_to_f16(x[j]));
            }
            ok = x != NULL;
            free(x);
        }
        items[i] = (StItem){tl->names[i], &t[i]};
    }
    if (ok && st_write(dst, items, tl->n, NULL, NULL, 0, &e) != T2V_OK) ok = 0;
    if (!ok) printf("       write_converted %s: %s\n", dst, e.msg);
    for (int i = 0; i < made; i++) tensor_free(&t[i]);
    free(t);
    free(items);
    return ok;
}

/* How many tensors of tl are at an address that is not 4-byte aligned. */
static int count_misaligned(const TensorList *tl) {
    int c = 0;
    for (int i = 0; i < tl->n; i++) c += (uintptr_t)tl->tensors[i].data % 4 != 0;
    return c;
}

/* The concatenated IDAT chunks of a PNG (its compressed pixels: the same
 * encoder gives the same bytes for the same pixels), or NULL. Other chunks
 * hold the provenance, with the creation time and the model path. */
static unsigned char *png_idat(const char *path, size_t *len) {
    size_t n, at = 8;
    unsigned char *b = slurp(path, &n), *out = NULL;
    *len = 0;
    if (!b || n < 8) { free(b); return NULL; }
    while (at + 12 <= n) {
        size_t cl = (size_t)b[at] << 24 | (size_t)b[at + 1] << 16 | (size_t)b[at + 2] << 8 | b[at + 3];
        if (cl > n - at - 12) break;
        if (!memcmp(b + at + 4, "IDAT", 4)) {
            unsigned char *o = realloc(out, *len + cl + 1);
            if (!o) break;
            out = o;
            memcpy(out + *len, b + at + 8, cl);
            *len += cl;
        }
        at += 12 + cl;
    }
    free(b);
    return out;
}


/* ---------------------------------------------------------------------------
 * Stages in-process: one output per weight file */

typedef int (*StageFn)(const TensorList *w, float **out, int64_t *n, T2vError *e);

/* The DiT of models/demo's config on a 64x64x17 latent (5 x 8 x 8: 80
 * tokens), 7 context rows, one t per token (latent frame 0 at t = 0, the
 * others 737.25: the time MLP runs on two vectors). */
static DiTConfig g_dit_config;
static int stage_dit(const TensorList *w, float **out, int64_t *n, T2vError *e) {
    enum { T = 5, h = 8, wd = 8, L = 7, N = T * (h / 2) * (wd / 2) };
    DiT m;
    int rc = dit_build(&m, &g_dit_config, w, e);
    if (rc) return rc;
    int64_t nl = (int64_t)16 * T * h * wd;
    float *lat = malloc(sizeof(float) * (size_t)nl), *ctx = malloc(sizeof(float) * (size_t)L * m.c.text_dim);
    float t[N];
    for (int i = 0; i < N; i++) t[i] = i < N / T ? 0.0f : 737.25f;
    *out = malloc(sizeof(float) * (size_t)nl);
    *n = nl;
    rc = lat && ctx && *out ? T2V_OK : T2V_ERESOURCE;
    if (!rc) {
        prng_fill(7, lat, nl, 1.0f);
        prng_fill(8, ctx, (int64_t)L * m.c.text_dim, 1.0f);
        rc = dit_forward(&m, lat, T, h, wd, t, N, ctx, L, *out, e);
    }
    free(lat);
    free(ctx);
    dit_free(&m);
    return rc;
}

static int stage_t5(const TensorList *w, float **out, int64_t *n, T2vError *e) {
    static const int32_t ids[6] = {5, 17, 42, 3, 50, 1};
    T5 m;
    int rc = t5_build(&m, w, e);
    if (rc) return rc;
    *n = 6 * (int64_t)t5_dim(&m);
    *out = malloc(sizeof(float) * (size_t)*n);
    rc = *out ? t5_encode(&m, ids, 6, *out, e) : T2V_ERESOURCE;
    t5_free(&m);
    return rc;
}

/* latent [16, 2, 2, 2] -> video [3, 5, 16, 16] (two chunks: the causal
 * caches and time_conv run too) */
static int stage_vae(const TensorList *w, float **out, int64_t *n, T2vError *e) {
    Vae m;
    int rc = vae_build(&m, w, e);
    if (rc) return rc;
    float z[16 * 2 * 2 * 2];
    prng_fill(9, z, 16 * 2 * 2 * 2, 1.0f);
    *n = (int64_t)3 * 5 * 16 * 16;
    *out = malloc(sizeof(float) * (size_t)*n);
    rc = *out ? vae_decode(&m, z, 2, 2, 2, *out, NULL, NULL, e) : T2V_ERESOURCE;
    vae_free(&m);
    return rc;
}

/* Runs fn on the weights of path; NULL (with a failed check) on error. */
static float *run_stage(StageFn fn, const char *path, int64_t *n, int *misaligned, int *ntensors) {
    Checkpoint ck;
    T2vError e = {0, {0}};
    float *out = NULL;
    int rc = ckpt_open(&ck, path, &e);
    if (!rc) {
        *misaligned = count_misaligned(ck.tensors);
        *ntensors = ck.tensors->n;
        rc = fn(ck.tensors, &out, n, &e);
        ckpt_close(&ck);
    }
    if (rc) {
        h_report(0, "%s: %s", path, e.msg);
        free(out);
        return NULL;
    }
    return out;
}

/* The stage on `src` converted to dt (aligned), then on its copies at
 * shifts 1, 2, 3: the same bits. */
static void stage_case(const char *stage, StageFn fn, const char *src, DType dt) {
    char aligned[512], shifted[512];
    snprintf(aligned, sizeof aligned, "%s/%s_%s.safetensors", g_tmp, stage, dtype_name(dt));
    Checkpoint ck;
    T2vError e = {0, {0}};
    if (ckpt_open(&ck, src, &e)) { h_report(0, "%s: %s", src, e.msg); return; }
    int ok = write_converted(ck.tensors, dt, aligned);
    ckpt_close(&ck);
    if (!ok) { h_report(0, "%s %s: cannot write %s", stage, dtype_name(dt), aligned); return; }
    int64_t n0, n;
    int mis, nt;
    float *ref = run_stage(fn, aligned, &n0, &mis, &nt);
    if (!ref) return;
    CHECK(mis == 0, "%s %s, aligned: %d tensors, %d misaligned", stage, dtype_name(dt), nt, mis);
    for (int k = 1; k <= 3; k++) {
        snprintf(shifted, sizeof shifted, "%s/%s_%s_%d.safetensors", g_tmp, stage, dtype_name(dt), k);
        if (!write_shifted(aligned, shifted, k)) { h_report(0, "cannot write %s", shifted); continue; }
        float *out = run_stage(fn, shifted, &n, &mis, &nt);
        if (!out) continue;
        /* every tensor, when all relative offsets are multiples of 4 (F32) */
        CHECK(n == n0 && !memcmp(out, ref, sizeof(float) * (size_t)n) && mis > 0 && (dt != DT_F32 || mis == nt),
              "%-4s %-4s data at offset %d mod 8 (%d of %d tensors not 4-byte aligned): %lld outputs, the same bits",
              stage, dtype_name(dt), k, mis, nt, (long long)n);
        free(out);
    }
    free(ref);
}

/* ---------------------------------------------------------------------------
 * t2v generate on a model directory with a misaligned DiT and umT5 */

/* generate on `model` into dir; 1 if it exited 0. One thread: the bits do
 * not depend on it, and on a loaded machine OpenMP's spinning barriers made
 * a 2-thread run ten times slower. */
static int generate(const char *model, const char *dir) {
    if (h_sh("mkdir -p '%s'", dir)) return 0;
    int rc = h_sh("'%s' generate --model '%s' -p 'a red circle moving to the right' -W 64 -H 64 -f 17 --steps 2 "
                "-o '%s/x' --format png --dump '%s' --threads 1 -q --force >'%s/log.txt' 2>&1 </dev/null",
                g_bin, model, dir, dir, dir);
    if (rc) {
        char log[600];
        snprintf(log, sizeof log, "%s/log.txt", dir);
        size_t n;
        unsigned char *b = slurp(log, &n);
        printf("       generate --model %s: exit %d: %.*s\n", model, rc, b ? (int)n : 0, b ? (char *)b : "");
        free(b);
    }
    return rc == 0;
}

/* The two --dump files hold the same tensors, byte for byte. */
static int same_dump(const char *a, const char *b, int *ntensors) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/dump.safetensors", a);
    snprintf(pb, sizeof pb, "%s/dump.safetensors", b);
    SafeTensors x, y;
    T2vError e = {0, {0}};
    if (st_open(&x, pa, &e)) { printf("       %s\n", e.msg); return 0; }
    if (st_open(&y, pb, &e)) { printf("       %s\n", e.msg); st_close(&x); return 0; }
    int ok = x.tensors.n == y.tensors.n && x.tensors.n > 0;
    for (int i = 0; ok && i < x.tensors.n; i++) {
        const Tensor *s = &x.tensors.tensors[i], *t = tl_find(&y.tensors, x.tensors.names[i]);
        ok = t && t->dtype == s->dtype && tensor_nbytes(t) == tensor_nbytes(s) &&
             !memcmp(t->data, s->data, tensor_nbytes(s));
        if (!ok) printf("       %s differs\n", x.tensors.names[i]);
    }
    *ntensors = x.tensors.n;
    st_close(&x);
    st_close(&y);
    return ok;
}

/* Frames x_0000.png .. x_0016.png: the same pixel data. */
static int same_frames(const char *a, const char *b) {
    int ok = 1;
    for (int i = 0; i < 17 && ok; i++) {
        char pa[512], pb[512];
        snprintf(pa, sizeof pa, "%s/x_%04d.png", a, i);
        snprintf(pb, sizeof pb, "%s/x_%04d.png", b, i);
        size_t na, nb;
        unsigned char *x = png_idat(pa, &na), *y = png_idat(pb, &nb);
        ok = x && y && na == nb && !memcmp(x, y, na);
        if (!ok) printf("       frame %d differs (%s)\n", i, pa);
        free(x);
        free(y);
    }
    return ok;
}

static void test_generate(void) {
    char ref[300], t5st[300];
    snprintf(ref, sizeof ref, "%s/gen_demo", g_tmp);
    snprintf(t5st, sizeof t5st, "%s/t5.safetensors", g_tmp);
    if (!generate(DEMO, ref)) { h_report(0, "generate on " DEMO); return; }
    /* the .pth umT5 as an aligned safetensors file, in its own dtype */
    Checkpoint ck;
    T2vError e = {0, {0}};
    if (ckpt_open(&ck, DEMO "/models_t5_umt5-xxl-enc-bf16.pth", &e)) { h_report(0, "umT5: %s", e.msg); return; }
    int ok = write_converted(ck.tensors, ck.tensors->tensors[0].dtype, t5st);
    ckpt_close(&ck);
    if (!ok) { h_report(0, "cannot write %s", t5st); return; }
    for (int k = 1; k <= 3; k++) {
        char dir[300], out[300];
        snprintf(dir, sizeof dir, "%s/model_%d", g_tmp, k);
        snprintf(out, sizeof out, "%s/gen_%d", g_tmp, k);
        ok = !h_sh("mkdir -p '%s' && for f in config.json t2v.json google Wan2.1_VAE.pth; do "
                 "ln -s '%s/" DEMO "'/$f '%s/'$f || exit 1; done", dir, g_root, dir);
        char p[512];
        snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", dir);
        ok = ok && write_shifted(DEMO "/diffusion_pytorch_model.safetensors", p, k);
        snprintf(p, sizeof p, "%s/models_t5_umt5-xxl-enc-bf16.safetensors", dir);
        ok = ok && write_shifted(t5st, p, k);
        if (!ok) { h_report(0, "cannot make the model directory %s", dir); continue; }
        int nd = 0;
        ok = generate(dir, out);
        int same_d = ok && same_dump(ref, out, &nd), same_f = ok && same_frames(ref, out);
        CHECK(ok && same_d && same_f,
              "t2v generate 64x64x17 --steps 2, DiT + umT5 data at offset %d mod 8: exit %s, %d --dump "
              "tensors %s, 17 frames %s as with " DEMO,
              k, ok ? "0" : "!= 0", nd, same_d ? "byte-identical" : "DIFFER", same_f ? "byte-identical" : "DIFFER");
    }
}

int main(int argc, char **argv) {
    const char *env = getenv("T2V_BIN");
    if (env && *env) {
        snprintf(g_bin, sizeof g_bin, "%s", env);
    } else { /* argv[0] = BUILD/tests/test_misaligned -> BUILD/t2v */
        char self[900];
        snprintf(self, sizeof self, "%s", argc > 0 ? argv[0] : "");
        char *s = strrchr(self, '/');
        if (s) *s = 0;
        else strcpy(self, ".");
        snprintf(g_bin, sizeof g_bin, "%s/../t2v", self);
    }
    if (!getcwd(g_root, sizeof g_root)) { h_report(0, "getcwd failed"); return h_finish(); }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/t2v-misaligned-XXXXXX");
    if (!mkdtemp(g_tmp)) { h_report(0, "mkdtemp failed"); return h_finish(); }
    printf("-- temp dir %s\n", g_tmp);
    Model m;
    T2vError e = {0, {0}};
    if (model_open(&m, DEMO, MODEL_NEED_ALL, &e)) {
        h_report(0, "%s: %s", DEMO, e.msg);
        return h_finish();
    }
    g_dit_config = m.dit;
    const ModelPaths mp = m.paths;
    static const DType dts[3] = {DT_F32, DT_BF16, DT_F16};
    for (int i = 0; i < 3; i++) stage_case("dit", stage_dit, mp.dit, dts[i]);
    for (int i = 0; i < 3; i++) stage_case("t5", stage_t5, mp.t5, dts[(i + 1) % 3]);
    for (int i = 0; i < 2; i++) stage_case("vae", stage_vae, mp.vae, dts[i]);
    model_close(&m);
    if (access(g_bin, X_OK) == 0) test_generate();
    else h_report(0, "t2v binary not found at %s (build it, or set T2V_BIN)", g_bin);
    if (h_failed == 0) h_sh("rm -rf '%s'", g_tmp);
    else printf("-- kept %s for inspection\n", g_tmp);
    return h_finish();
}
