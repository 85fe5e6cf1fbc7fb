/*
 * test_bf16.c: the bf16 arithmetic of ref/lib/gemm_bf16.c (`--precision
 * bf16`). The order of one dot product on hand-made values that tell the
 * orders apart; the fast kernel (vdpbf16ps where the CPU has it) against
 * the portable one and against gemm_bf16_naive, bit for bit, on random data
 * with denormals, for 1, 2 and 3 threads; the bf16 linear and attention
 * against their float64 goldens with the same rounding points
 * (golden/ops/bf16.safetensors, tools/golden_ops.py). Tolerances:
 * golden/README.md.
 */
#include "harness.h"
#include "../ref/lib/gemm_bf16.h"
#include "../ref/lib/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* max|d| / rms against a float64 computation with the same bf16 operands:
 * fp32 accumulation, plus the rare operand that lands on the other side of
 * a bf16 rounding boundary because an fp32 input differs in its last bits
 * (golden/README.md). */
#define TOL_BF16_LINEAR 1e-5
#define TOL_BF16_ATT 2e-5
#define MIN_COS 0.9999999

static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static void env_set(const char *name, const char *value) {
#if defined(_WIN32)
    char kv[256];
    snprintf(kv, sizeof kv, "%s=%s", name, value ? value : "");
    _putenv(kv);
#else
    if (value) setenv(name, value, 1);
    else unsetenv(name);
#endif
}

static float *falloc(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}

static int same_bits(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

static uint16_t bf(float x) { return f32_to_bf16(x); }

/* --------------------------------------------------------------------------
 * The order, on values where the orders differ. */
static void test_order(void) {
    /* one step: acc + a b rounded once, DAZ in, FTZ out (after rounding) */
    CHECK(bf16_dot_step(1.0f, bf(0x1p-24f), bf(1.0f)) == 1.0f, "step: 1 + 2^-24 ties to even 1");
    CHECK(bf16_dot_step(0.0f, bf(0x1p-63f), bf(0x1p-64f)) == 0.0f, "step: 2^-127 result flushed (FTZ)");
    CHECK(bf16_dot_step(0.0f, 0x0001, bf(0x1p100f)) == 0.0f, "step: denormal bf16 input is zero (DAZ)");
    CHECK(bf16_dot_step(0x1p-126f, bf(-0x1p-76f), bf(0x1p-76f)) == 0x1p-126f,
          "step: 2^-126 - 2^-152 rounds to 2^-126, not flushed (tininess after rounding)");
    CHECK(bf16_dot_step(1.0f, bf(0x1p-30f), bf(0x1p-30f)) == 1.0f, "step: product 2^-60 kept exact, lost in the sum");
    /* K = 4, products p = (1, 0, 2^-24, 3 2^-23): pair 0 gives 1; pair 1 adds
     * p3 then p2: (1 + 3 2^-23) + 2^-24 ties up to 1 + 2^-21. Adding p2 first
     * would give 1 + 3 2^-23. */
    float A[4] = {1.0f, 0.0f, 0x1p-24f, 3 * 0x1p-23f}, W[4] = {1, 1, 1, 1}, C = 0, Cn = 0;
    Tensor wt = {DT_F32, 2, {1, 4}, W, 0};
    Bf16Operand B = {&wt, NULL, 0, 1};
    gemm_bf16(1, 1, 4, A, 4, &B, &C, 1);
    gemm_bf16_naive(1, 1, 4, A, 4, &B, &Cn, 1);
    CHECK(C == 1.0f + 0x1p-21f && Cn == C, "order: odd member of a pair first (got %a, naive %a)", C, Cn);
    /* rounding of the fp32 operand: 1 + 2^-8 + 2^-9 -> bf16 1 + 2^-7 (RNE) */
    float a1 = 1.0f + 0x1p-8f + 0x1p-9f, one = 1.0f, c1 = 0;
    Tensor t1 = {DT_F32, 2, {1, 1}, &one, 0};
    Bf16Operand B1 = {&t1, NULL, 0, 1};
    gemm_bf16(1, 1, 1, &a1, 1, &B1, &c1, 1);
    CHECK(c1 == 1.0f + 0x1p-7f, "operands rounded to nearest even bf16 (got %a)", c1);
}

/* --------------------------------------------------------------------------
 * Random operands: normal values over a wide exponent range, exact zeros,
 * fp32 values that round to bf16 denormals, and (in B) raw bf16 denormals. */
static uint64_t rng = 0x12345678ULL;
static uint32_t rnd(void) { return (uint32_t)(prng_next(&rng) >> 32); }

static float rand_value(void) {
    uint32_t r = rnd();
    switch (r % 8) {
    case 0: return 0.0f;
    case 1: return f32_from_bits((rnd() & 0x807fffffu) | ((uint32_t)(rnd() % 4) << 23)); /* denormal-ish */
    case 2: return f32_from_bits((rnd() & 0x807fffffu) | ((uint32_t)(60 + rnd() % 8) << 23)); /* tiny: products near 2^-126 */
    default: return f32_from_bits((rnd() & 0x807fffffu) | ((uint32_t)(120 + rnd() % 14) << 23));
    }
}

static void fill_bf16_raw(uint16_t *w, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)rnd();
        int e = (int)(rnd() % 6);
        uint16_t exp = e == 0 ? 0 : e == 1 ? (uint16_t)(60 + rnd() % 8) : (uint16_t)(120 + rnd() % 14);
        w[i] = (uint16_t)((h & 0x807fu) | (exp << 7));
    }
}

/* The fast kernel, the portable one and the naive loop; 1, 2, 3 threads. */
static void test_kernels_random(void) {
    static const int shapes[][3] = {{1, 1, 1}, {7, 33, 5}, {13, 70, 258}, {100, 97, 301}, {200, 300, 130}};
    printf("       bf16 kernel on this CPU: %s\n", bf16_kernel_name());
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = falloc((int64_t)M * K), *Cn = falloc((int64_t)M * N), *C = falloc((int64_t)M * N);
        uint16_t *w = malloc(sizeof(uint16_t) * (size_t)N * K);
        for (int64_t i = 0; i < (int64_t)M * K; i++) A[i] = rand_value();
        fill_bf16_raw(w, (int64_t)N * K);
        Tensor wt = {DT_BF16, 2, {N, K}, w, 0};
        Bf16Operand B = {&wt, NULL, 0, 1};
        gemm_bf16_naive(M, N, K, A, K, &B, Cn, N);
        for (int generic = 0; generic <= 1; generic++) {
            env_set("T2V_GEMM_GENERIC", generic ? "1" : NULL);
            for (int nt = 1; nt <= 3; nt++) {
                set_threads(nt);
                memset(C, 0xff, sizeof(float) * (size_t)M * N);
                gemm_bf16(M, N, K, A, K, &B, C, N);
                CHECK(same_bits(C, Cn, (int64_t)M * N), "gemm_bf16 %dx%dx%d %s kernel, %d threads: bits of the naive loop",
                      M, N, K, generic ? "portable" : bf16_kernel_name(), nt);
            }
        }
        env_set("T2V_GEMM_GENERIC", NULL);
        set_threads(2);
        free(A); free(Cn); free(C); free(w);
    }
}

/* op(B) from fp32 memory in both layouts, F16 and F32 tensors. */
static void test_operand_forms(void) {
    int M = 9, N = 40, K = 37;
    float *A = falloc(M * K), *Bf = falloc(N * K), *Bt = falloc(K * N), *C1 = falloc(M * N), *C2 = falloc(M * N);
    prng_fill(11, A, M * K, 2.0f);
    prng_fill(12, Bf, N * K, 0.5f);
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++) Bt[k * N + j] = Bf[j * K + k];
    Tensor wt = {DT_F32, 2, {N, K}, Bf, 0};
    Bf16Operand bw = {&wt, NULL, 0, 1}, bn = {NULL, Bt, N, 0}, btr = {NULL, Bf, K, 1};
    gemm_bf16(M, N, K, A, K, &bw, C1, N);
    gemm_bf16(M, N, K, A, K, &bn, C2, N);
    CHECK(same_bits(C1, C2, M * N), "op(B) as [K, N] memory = F32 tensor [N, K]");
    gemm_bf16(M, N, K, A, K, &btr, C2, N);
    CHECK(same_bits(C1, C2, M * N), "op(B) as [N, K] memory = F32 tensor [N, K]");
    /* F16 tensor: widened exactly, then rounded to bf16 like the fp32 value */
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)N * K);
    for (int i = 0; i < N * K; i++) { wr_u16le(h + i, f32_to_f16(Bf[i])); Bf[i] = f16_to_f32(rd_u16le(h + i)); }
    Tensor ht = {DT_F16, 2, {N, K}, h, 0};
    Bf16Operand bh = {&ht, NULL, 0, 1};
    gemm_bf16(M, N, K, A, K, &bh, C1, N);
    gemm_bf16(M, N, K, A, K, &bw, C2, N);
    CHECK(same_bits(C1, C2, M * N), "F16 weights: the bits of their fp32 values");
    free(A); free(Bf); free(Bt); free(C1); free(C2); free(h);
}

/* attention_bf16_forward = attention_bf16_naive, both kernels, 1-3 threads,
 * with T5's relative bias and without. */
static void test_attention_random(void) {
    static const int shapes[][4] = {{5, 7, 2, 8}, {50, 61, 3, 16}, {130, 100, 2, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int Nq = shapes[s][0], Nk = shapes[s][1], H = shapes[s][2], d = shapes[s][3], D = H * d;
        float *q = falloc(Nq * D), *k = falloc(Nk * D), *v = falloc(Nk * D), *rb = falloc(H * (Nq + Nk - 1));
        float *on = falloc(Nq * D), *o = falloc(Nq * D);
        prng_fill(21 + s, q, Nq * D, 2.0f);
        prng_fill(31 + s, k, Nk * D, 2.0f);
        prng_fill(41 + s, v, Nk * D, 1.0f);
        prng_fill(51 + s, rb, H * (Nq + Nk - 1), 1.0f);
        for (int bias = 0; bias <= 1; bias++) {
            const float *r = bias ? rb : NULL;
            float scale = bias ? 1.0f : (float)(1.0 / sqrt((double)d));
            attention_bf16_naive(on, D, q, D, k, D, v, D, Nq, Nk, H, d, scale, r);
            for (int generic = 0; generic <= 1; generic++) {
                env_set("T2V_GEMM_GENERIC", generic ? "1" : NULL);
                for (int nt = 1; nt <= 3; nt++) {
                    set_threads(nt);
                    attention_bf16_forward(o, D, q, D, k, D, v, D, Nq, Nk, H, d, scale, r);
                    CHECK(same_bits(o, on, Nq * D), "attention_bf16 Nq %d Nk %d H %d d %d%s, %s, %d threads: bits of the naive one",
                          Nq, Nk, H, d, bias ? " relbias" : "", generic ? "portable" : bf16_kernel_name(), nt);
                }
            }
            env_set("T2V_GEMM_GENERIC", NULL);
            set_threads(2);
        }
        free(q); free(k); free(v); free(rb); free(on); free(o);
    }
}

int main(void) {
    test_order();
    test_kernels_random();
    test_operand_forms();
    test_attention_random();
    return h_finish();
}
