/*
 * test_gguf.c: GGUF files (ref/lib/gguf.c) and ggml's quantized types
 * computed in place (ref/lib/quant.c, ops.c widen_rows), against the files
 * and goldens of tools/golden_gguf.py (writer, random valid blocks and a
 * dequantizer written from the format's description, tools/gguf.py):
 *   - blocks.gguf: one tensor per type (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 *     Q5_0, Q5_1, Q2_K..Q6_K), shapes reversed from ggml's order, sizes,
 *     alignment 64, metadata of every value type; every value decoded
 *     exactly as the format defines it (same bits), whole and row by row;
 *   - the kernels on quantized weights: matvec and the widened GEMM give the
 *     bits of the same weights in F32; the fused linear (K = 512: two K
 *     chunks) within the ops tolerance of a double sum;
 *   - one-layer DiTs stored in each 32-block type and one mixing Q2_K..Q6_K,
 *     F16, BF16 and F32 (5-D patch embedding, 3-D modulations): the weights
 *     stay quantized views, and the velocity matches the float64 reference
 *     run on the dequantized weights at the DiT tolerance.
 * Tolerances: golden/README.md, section gguf.
 */
#include "harness.h"

#include "../ref/lib/dit.h"
#include "../ref/lib/model.h"
#include "../ref/lib/ops.h"

#define TOL_DIT 1e-5
#define COS_DIT 0.9999999
#define TOL_OPS 1e-5
#define COS_OPS 0.9999999

static const char *const TYPES[] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
                                    "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
#define NTYPES (int)(sizeof TYPES / sizeof TYPES[0])

static DType type_of(const char *name) {
    for (int d = 0; d < DT_COUNT; d++)
        if (!strcmp(dtype_name((DType)d), name)) return (DType)d;
    return DT_COUNT;
}

/* Bits of a and b equal; prints the first difference. */
static int same_bits(const char *what, const float *a, const float *b, int64_t n) {
    int64_t bad = -1, count = 0;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) {
            if (bad < 0) bad = i;
            count++;
        }
    CHECK(bad < 0, "%s: exact (%lld of %lld values differ)", what, (long long)count, (long long)n);
    if (bad >= 0) printf("       [%lld] got % .9g  expected % .9g\n", (long long)bad, a[bad], b[bad]);
    return bad < 0;
}

/* ---------------------------------------------------------------------------
 * blocks.gguf */
static void test_metadata(const GgufFile *g) {
    static const char *const kv[][2] = {
        {"general.architecture", "t2v-blocks"}, {"t2v.u8", "200"}, {"t2v.i8", "-5"}, {"t2v.u16", "60000"},
        {"t2v.i16", "-3000"}, {"t2v.i32", "-123456"}, {"t2v.f32", "0.25"}, {"t2v.bool", "true"},
        {"t2v.u64", "1099511627776"}, {"t2v.i64", "-1099511627776"}, {"t2v.f64", "-1.5"},
        {"t2v.strings", "[3 x string]"}, {"t2v.nested", "[2 x array]"}, {"general.alignment", "64"}};
    CHECK(g->version == 3 && g->alignment == 64 && g->data_offset % 64 == 0,
          "blocks.gguf: version %u, alignment %u, data at %llu", g->version, g->alignment,
          (unsigned long long)g->data_offset);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        const char *v = gguf_meta(g, kv[i][0]);
        CHECK(v && !strcmp(v, kv[i][1]), "metadata %s = %s (expected %s)", kv[i][0], v ? v : "(absent)", kv[i][1]);
    }
    CHECK(gguf_meta(g, "t2v.absent") == NULL, "an absent key is NULL");
}

static void test_blocks(void) {
    Checkpoint c;
    T2vError e = {0, {0}};
    SafeTensors ref;
    int rc = ckpt_open(&c, "golden/gguf/blocks.gguf", &e);
    CHECK(rc == 0 && c.is_gguf, "ckpt_open blocks.gguf: %s", rc ? e.msg : "a GGUF checkpoint");
    if (rc) return;
    if (!golden_open(&ref, "golden/gguf/blocks.safetensors")) { ckpt_close(&c); return; }
    test_metadata(&c.gguf);
    CHECK(c.tensors->n == NTYPES, "%d tensors (expected %d)", c.tensors->n, NTYPES);
    for (int i = 0; i < NTYPES; i++) {
        const Tensor *t = tl_find(c.tensors, TYPES[i]);
        DType dt = type_of(TYPES[i]);
        if (!t) { CHECK(0, "tensor %s missing", TYPES[i]); continue; }
        size_t want = (size_t)(2048 / dtype_block(dt)) * dtype_size(dt);
        CHECK(t->dtype == dt && t->ndim == 2 && t->shape[0] == 4 && t->shape[1] == 512 && tensor_nbytes(t) == want &&
                  dtype_is_float(dt),
              "%s: dtype %s, shape [%lld, %lld], %zu bytes (expected %zu)", TYPES[i], dtype_name(t->dtype),
              (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0), tensor_nbytes(t), want);
        int64_t n;
        float *x = golden_f32(&ref, TYPES[i], &n), *got = tensor_to_f32_alloc(t, NULL);
        if (x && got && n == 2048) {
            char what[64];
            snprintf(what, sizeof what, "%s dequantized", TYPES[i]);
            same_bits(what, got, x, n);
            float row[512];
            widen_to_f32(row, (const char *)t->data + dtype_nbytes(dt, 2 * 512), dt, 512);
            snprintf(what, sizeof what, "%s row 2 alone", TYPES[i]);
            same_bits(what, row, x + 1024, 512);
        }
        free(x);
        free(got);
    }
    st_close(&ref);
    ckpt_close(&c);
}

/* ---------------------------------------------------------------------------
 * Kernels on quantized weights: W [4, 512] of blocks.gguf against the same
 * values as an F32 tensor. */
static void test_kernels_one(const Tensor *W, const float *wf, const char *name) {
    enum { N = 4, K = 512, M = 5 };
    int64_t shape[2] = {N, K};
    Tensor F;
    float x[M * K], a[M * N], b[M * N], ref[M * N], scratch[N * K];
    char what[80];
    if (tensor_from_f32(&F, wf, 2, shape, NULL)) { CHECK(0, "alloc"); return; }
    prng_fill(77, x, M * K, 1.0f);
    matvec_forward(a, W, x, NULL, M);
    matvec_forward(b, &F, x, NULL, M);
    snprintf(what, sizeof what, "%s matvec (K chunks of 256) = F32 weights", name);
    same_bits(what, a, b, M * N);
    linear_gemm_forward(a, x, W, NULL, M, scratch);
    linear_gemm_forward(b, x, &F, NULL, M, NULL);
    snprintf(what, sizeof what, "%s widened GEMM = F32 weights", name);
    same_bits(what, a, b, M * N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)x[i * K + k] * wf[j * K + k];
            ref[i * N + j] = (float)s;
        }
    linear_forward(a, x, W, NULL, M, NULL); /* the fused path: M <= 96, not F32 */
    snprintf(what, sizeof what, "%s fused linear vs double", name);
    check_close(what, a, ref, M * N, TOL_OPS, COS_OPS);
    tensor_free(&F);
}

static void test_kernels(void) {
    Checkpoint c;
    T2vError e = {0, {0}};
    SafeTensors ref;
    if (ckpt_open(&c, "golden/gguf/blocks.gguf", &e)) { CHECK(0, "ckpt_open: %s", e.msg); return; }
    if (!golden_open(&ref, "golden/gguf/blocks.safetensors")) { ckpt_close(&c); return; }
    for (int i = 3; i < NTYPES; i++) { /* the quantized types */
        const Tensor *W = tl_find(c.tensors, TYPES[i]);
        float *wf = golden_f32(&ref, TYPES[i], NULL);
        if (W && wf) test_kernels_one(W, wf, TYPES[i]);
        free(wf);
    }
    st_close(&ref);
    ckpt_close(&c);
}

/* ---------------------------------------------------------------------------
 * One-layer DiTs in GGUF */
static void test_dit_file(const char *tag, const char *config, DType matrix, const char *first_k_type) {
    char path[256], gpath[256];
    snprintf(path, sizeof path, "golden/gguf/%s.gguf", tag);
    snprintf(gpath, sizeof gpath, "golden/gguf/%s.safetensors", tag);
    DiTConfig cfg;
    T2vError e = {0, {0}};
    Checkpoint c;
    if (dit_config_read(&cfg, config, &e) || ckpt_open(&c, path, &e)) { CHECK(0, "%s: %s", tag, e.msg); return; }
    const char *arch = gguf_meta(&c.gguf, "general.architecture");
    CHECK(arch && !strcmp(arch, "wan"), "%s: general.architecture %s", tag, arch ? arch : "(absent)");
    const Tensor *pe = tl_find(c.tensors, "patch_embedding.weight"), *mod = tl_find(c.tensors, "blocks.0.modulation");
    CHECK(pe && pe->ndim == 5 && pe->dtype == DT_F32 && pe->shape[0] == cfg.dim && pe->shape[1] == 16 &&
              pe->shape[2] == 1 && pe->shape[3] == 2 && pe->shape[4] == 2 && mod && mod->ndim == 3 &&
              mod->shape[0] == 1 && mod->shape[1] == 6 && mod->shape[2] == cfg.dim,
          "%s: 5-D F32 patch_embedding [%d, 16, 1, 2, 2] and 3-D modulation [1, 6, %d]", tag, cfg.dim, cfg.dim);
    int count[DT_COUNT] = {0}, kinds = 0;
    for (int i = 0; i < c.tensors->n; i++) kinds += !count[c.tensors->tensors[i].dtype]++;
    if (first_k_type)
        CHECK(kinds == 8 && count[DT_F16] == 1 && count[DT_BF16] == 1 && count[DT_Q2_K] && count[DT_Q3_K] &&
                  count[DT_Q4_K] && count[DT_Q5_K] && count[DT_Q6_K],
              "%s: F32, F16, BF16 and Q2_K..Q6_K tensors (%d kinds)", tag, kinds);
    DiT m;
    int rc = dit_build(&m, &cfg, c.tensors, &e);
    CHECK(rc == 0, "%s: dit_build: %s", tag, rc ? e.msg : "ok");
    if (rc) { ckpt_close(&c); return; }
    const Tensor *q = m.w.blocks[0].sa_q, *f2 = m.w.blocks[0].ffn2;
    if (first_k_type) matrix = type_of(first_k_type);
    CHECK(q->dtype == matrix && (char *)q->data >= (char *)c.gguf.map.data &&
              (char *)q->data < (char *)c.gguf.map.data + c.gguf.map.size && dtype_is_quant(f2->dtype),
          "%s: blocks.0.self_attn.q stays a %s view of the file (ffn.2: %s)", tag, dtype_name(q->dtype),
          dtype_name(f2->dtype));
    SafeTensors g;
    if (golden_open(&g, gpath)) {
        const Tensor *lat = tl_find(&g.tensors, "latent");
        int64_t nc = 0, nt = 0, nv = 0;
        float *latent = golden_f32(&g, "latent", NULL), *ctx = golden_f32(&g, "context", &nc);
        float *ts = golden_f32(&g, "timestep", &nt), *vref = golden_f32(&g, "velocity", &nv);
        if (lat && latent && ctx && ts && vref) {
            float *vel = calloc((size_t)nv, sizeof(float));
            rc = dit_forward(&m, latent, (int)lat->shape[1], (int)lat->shape[2], (int)lat->shape[3], ts, (int)nt, ctx,
                             (int)(nc / cfg.text_dim), vel, &e);
            CHECK(rc == 0, "%s: dit_forward: %s", tag, rc ? e.msg : "ok");
            char what[96];
            snprintf(what, sizeof what, "%s velocity", tag);
            check_close(what, vel, vref, nv, TOL_DIT, COS_DIT);
            free(vel);
        }
        free(latent); free(ctx); free(ts); free(vref);
        st_close(&g);
    }
    dit_free(&m);
    ckpt_close(&c);
}

static void test_dits(void) {
    static const char *const small[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"};
    for (int i = 0; i < 5; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "tiny_%s", small[i]);
        for (char *p = tag; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        test_dit_file(tag, "golden/gguf/tiny_config.json", type_of(small[i]), NULL);
    }
    /* kq_mixed: the matrices take Q2_K..Q6_K in turn from text_embedding.2
     * (time_projection set apart as Q2_K): blocks.0.self_attn.q is the 4th */
    test_dit_file("kq_mixed", "golden/gguf/kq_config.json", DT_COUNT, "Q5_K");
}

int main(void) {
    test_blocks();
    test_kernels();
    test_dits();
    return h_finish();
}
