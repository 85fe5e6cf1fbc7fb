/*
 * test_ops.c: every kernel of ref/ops.c against the float64 PyTorch goldens
 * in golden/ops/ (tools/golden_ops.py), the fast kernels against their slow
 * twins (gemm_naive, attention_naive, conv3d_naive) on random sizes, and the
 * same bits for 1, 2 and 3 OpenMP threads. Tolerances: golden/README.md.
 */
#include "harness.h"
#include "../ref/lib/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Tolerances (max|d| / rms(ref), min cosine), documented in golden/README.md. */
#define TOL_GEMM 1e-5     /* fp32 sums of K ~ 200-1000 products vs float64 */
#define TOL_LINEAR 1e-5
#define TOL_NORM 2e-6     /* statistics in double: only the final roundings */
#define TOL_ACT 1e-6      /* double inside, one rounding to float */
#define TOL_ROPE 1e-6
#define TOL_ATT 1e-5      /* two fp32 GEMMs + online softmax */
#define TOL_CONV 1e-5
#define MIN_COS 0.9999999

static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static int get_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void fill_nan(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = NAN;
}

static int geti(const SafeTensors *st, const char *name) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t || t->dtype != DT_I32 || tensor_numel(t) < 1) {
        h_report(0, "%s: int tensor '%s' missing", st->path, name);
        return -1;
    }
    return (int32_t)rd_u32le(t->data);
}

static float getf(const SafeTensors *st, const char *name) {
    float *x = golden_f32(st, name, NULL);
    float v = x ? x[0] : NAN;
    free(x);
    return v;
}

/* ---------------------------------------------------------------------------
 * Goldens */
typedef void (*GemmFn)(int, int, int, int, int, float, const float *, int, const float *, int,
                       float, float *, int);

static void test_gemm_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/ops/gemm.safetensors")) return;
    const Tensor *tc = tl_find(&st.tensors, "C0");
    int64_t nA = 0, nB = 0;
    float *A = golden_f32(&st, "A", &nA), *B = golden_f32(&st, "B", &nB);
    float *C0 = golden_f32(&st, "C0", NULL);
    if (!A || !B || !C0 || !tc) goto done;
    int M = (int)tc->shape[0], N = (int)tc->shape[1], K = (int)(nA / M);
    float alpha = getf(&st, "alpha"), beta = getf(&st, "beta");
    GemmFn fns[3] = {gemm, gemm_builtin, gemm_naive};
    const char *names[3] = {"gemm", "gemm_builtin", "gemm_naive"};
    float *C = h_falloc((int64_t)M * N);
    for (int f = 0; f < 3; f++) {
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                char key[32], what[64];
                snprintf(key, sizeof key, "out.%c%c", ta ? 't' : 'n', tb ? 't' : 'n');
                float *ref = golden_f32(&st, key, NULL);
                if (!ref) continue;
                memcpy(C, C0, sizeof(float) * (size_t)M * N);
                fns[f](ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
                snprintf(what, sizeof what, "%s %s (%dx%dx%d)", names[f], key, M, N, K);
                check_close(what, C, ref, (int64_t)M * N, TOL_GEMM, MIN_COS);
                free(ref);
            }
        float *ref = golden_f32(&st, "out.nn_beta0", NULL);
        if (ref) {
            char what[64];
            fill_nan(C, (int64_t)M * N); /* beta == 0 must not read C */
            fns[f](0, 0, M, N, K, alpha, A, K, B, N, 0.0f, C, N);
            snprintf(what, sizeof what, "%s beta=0 over NaN C", names[f]);
            check_close(what, C, ref, (int64_t)M * N, TOL_GEMM, MIN_COS);
            free(ref);
        }
    }
    free(C);
done:
    free(A); free(B); free(C0);
    st_close(&st);
}

static void test_linear_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/ops/linear.safetensors")) return;
    const Tensor *tx = tl_find(&st.tensors, "x");
    float *x = golden_f32(&st, "x", NULL), *b = golden_f32(&st, "b", NULL);
    const char *dts[3] = {"f32", "bf16", "f16"};
    for (int i = 0; tx && x && b && i < 3; i++) {
        char wn[16], on[16], what[64];
        snprintf(wn, sizeof wn, "W.%s", dts[i]);
        snprintf(on, sizeof on, "out.%s", dts[i]);
        const Tensor *W = tl_find(&st.tensors, wn);
        float *ref = golden_f32(&st, on, NULL);
        if (!W || !ref) { free(ref); continue; }
        int M = (int)tx->shape[0], N = (int)W->shape[0];
        float *out = h_falloc((int64_t)M * N), *ws = h_falloc(tensor_numel(W));
        fill_nan(out, (int64_t)M * N);
        linear_forward(out, x, W, b, M, ws);
        snprintf(what, sizeof what, "linear_forward W %s (%s)", dts[i], dtype_name(W->dtype));
        check_close(what, out, ref, (int64_t)M * N, TOL_LINEAR, MIN_COS);
        /* no bias: the reference minus b */
        linear_forward(out, x, W, NULL, M, ws);
        for (int r = 0; r < M; r++)
            for (int c = 0; c < N; c++) ref[(size_t)r * N + c] -= b[c];
        snprintf(what, sizeof what, "linear_forward W %s, no bias", dts[i]);
        check_close(what, out, ref, (int64_t)M * N, TOL_LINEAR, MIN_COS);
        free(out); free(ws); free(ref);
    }
    free(x); free(b);
    st_close(&st);
}

static void test_norms_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/ops/norms.safetensors")) return;
    const Tensor *tx = tl_find(&st.tensors, "x");
    float *x = golden_f32(&st, "x", NULL), *w = golden_f32(&st, "weight", NULL);
    float *b = golden_f32(&st, "bias", NULL);
    float eps_ln = getf(&st, "eps_ln"), eps_rms = getf(&st, "eps_rms");
    if (tx && x && w && b) {
        int N = (int)tx->shape[0], C = (int)tx->shape[1];
        int64_t n = (int64_t)N * C;
        float *out = h_falloc(n), *inpl = h_falloc(n);
        const char *keys[4] = {"layernorm.affine", "layernorm.plain", "rmsnorm.weight", "rmsnorm.plain"};
        for (int k = 0; k < 4; k++) {
            float *ref = golden_f32(&st, keys[k], NULL);
            if (!ref) continue;
            memcpy(inpl, x, sizeof(float) * (size_t)n);
            if (k < 2) {
                layernorm_forward(out, x, k == 0 ? w : NULL, k == 0 ? b : NULL, N, C, eps_ln);
                layernorm_forward(inpl, inpl, k == 0 ? w : NULL, k == 0 ? b : NULL, N, C, eps_ln);
            } else {
                rmsnorm_forward(out, x, k == 2 ? w : NULL, N, C, eps_rms);
                rmsnorm_forward(inpl, inpl, k == 2 ? w : NULL, N, C, eps_rms);
            }
            check_close(keys[k], out, ref, n, TOL_NORM, MIN_COS);
            CHECK(h_same_bits(out, inpl, n), "%s in place (out == inp) gives the same bits", keys[k]);
            free(ref);
        }
        free(out); free(inpl);
    }
    free(x); free(w); free(b);
    st_close(&st);
}

static void test_act_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/ops/act.safetensors")) return;
    int64_t n = 0, ns = 0;
    float *x = golden_f32(&st, "x", &n), *xs = golden_f32(&st, "xs", &ns);
    const Tensor *txs = tl_find(&st.tensors, "xs");
    const char *keys[3] = {"gelu_tanh", "gelu_erf", "silu"};
    for (int k = 0; x && k < 3; k++) {
        float *ref = golden_f32(&st, keys[k], NULL), *y = h_falloc(n);
        memcpy(y, x, sizeof(float) * (size_t)n);
        if (k == 0) gelu_tanh_inplace(y, n);
        if (k == 1) gelu_erf_inplace(y, n);
        if (k == 2) silu_inplace(y, n);
        if (ref) check_close(keys[k], y, ref, n, TOL_ACT, MIN_COS);
        free(ref); free(y);
    }
    float *ref = golden_f32(&st, "softmax", NULL);
    if (xs && ref && txs) {
        softmax_inplace(xs, (int)txs->shape[0], (int)txs->shape[1]);
        check_close("softmax", xs, ref, ns, TOL_ACT, MIN_COS);
    }
    CHECK(t2v_tanhf(0.5f) == (float)tanh(0.5) && t2v_tanhf(-20.0f) == -1.0f,
          "t2v_tanhf = (float)tanh((double)x)");
    free(ref); free(x); free(xs);
    st_close(&st);
}

static void test_rope_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/ops/rope.safetensors")) return;
    const Tensor *tx = tl_find(&st.tensors, "x"), *tc = tl_find(&st.tensors, "cos");
    int64_t n = 0;
    float *x = golden_f32(&st, "x", &n), *ref = golden_f32(&st, "out", NULL);
    float *c = golden_f32(&st, "cos", NULL), *s = golden_f32(&st, "sin", NULL);
    int H = geti(&st, "heads");
    if (tx && tc && x && ref && c && s && H > 0) {
        int N = (int)tx->shape[0], ld = (int)tx->shape[1], d = (int)tc->shape[1] * 2;
        float *orig = h_falloc(n);
        memcpy(orig, x, sizeof(float) * (size_t)n);
        rope_apply(x, N, H, d, ld, c, s);
        check_close("rope_apply (interleaved pairs, strided rows)", x, ref, n, TOL_ROPE, MIN_COS);
        int untouched = 1;
        for (int r = 0; r < N; r++)
            for (int j = H * d; j < ld; j++) untouched &= x[(size_t)r * ld + j] == orig[(size_t)r * ld + j];
        CHECK(untouched, "rope_apply leaves columns beyond H*d untouched");
        free(orig);
    }
    free(x); free(ref); free(c); free(s);
    st_close(&st);
}

/* Copies rows [n, w] into a buffer with row stride ld (padding = NaN). */
static float *strided_copy(const float *x, int n, int w, int ld) {
    float *y = h_falloc((int64_t)n * ld);
    fill_nan(y, (int64_t)n * ld);
    for (int i = 0; i < n; i++) memcpy(y + (size_t)i * ld, x + (size_t)i * w, sizeof(float) * (size_t)w);
    return y;
}

static void test_attention_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/ops/attention.safetensors")) return;
    const char *cases[4] = {"a1", "a2", "a3", "a4"};
    for (int ci = 0; ci < 4; ci++) {
        char nm[32], what[96];
        const char *c = cases[ci];
        snprintf(nm, sizeof nm, "%s.q", c);
        const Tensor *tq = tl_find(&st.tensors, nm);
        snprintf(nm, sizeof nm, "%s.k", c);
        const Tensor *tk = tl_find(&st.tensors, nm);
        snprintf(nm, sizeof nm, "%s.heads", c);
        int H = geti(&st, nm);
        snprintf(nm, sizeof nm, "%s.scale", c);
        float scale = getf(&st, nm);
        if (!tq || !tk || H <= 0) { h_report(0, "attention case %s missing", c); continue; }
        int Nq = (int)tq->shape[0], Nk = (int)tk->shape[0], HD = (int)tq->shape[1], d = HD / H;
        snprintf(nm, sizeof nm, "%s.q", c);
        float *q = golden_f32(&st, nm, NULL);
        snprintf(nm, sizeof nm, "%s.k", c);
        float *k = golden_f32(&st, nm, NULL);
        snprintf(nm, sizeof nm, "%s.v", c);
        float *v = golden_f32(&st, nm, NULL);
        snprintf(nm, sizeof nm, "%s.out", c);
        float *ref = golden_f32(&st, nm, NULL);
        snprintf(nm, sizeof nm, "%s.relbias", c);
        float *rb = tl_find(&st.tensors, nm) ? golden_f32(&st, nm, NULL) : NULL;
        float *out = h_falloc((int64_t)Nq * HD);
        if (q && k && v && ref) {
            fill_nan(out, (int64_t)Nq * HD);
            attention_forward(out, HD, q, HD, k, HD, v, HD, Nq, Nk, H, d, scale, rb);
            snprintf(what, sizeof what, "attention_forward %s Nq=%d Nk=%d H=%d d=%d%s", c, Nq, Nk, H,
                     d, rb ? " relbias" : "");
            check_close(what, out, ref, (int64_t)Nq * HD, TOL_ATT, MIN_COS);
            /* row strides larger than H*d give the same bits */
            float *qs = strided_copy(q, Nq, HD, HD + 7), *ks = strided_copy(k, Nk, HD, HD + 3);
            float *vs = strided_copy(v, Nk, HD, 2 * HD + 1), *os = h_falloc((int64_t)Nq * (HD + 5));
            attention_forward(os, HD + 5, qs, HD + 7, ks, HD + 3, vs, 2 * HD + 1, Nq, Nk, H, d, scale,
                              rb);
            int same = 1;
            for (int i = 0; i < Nq; i++)
                same &= h_same_bits(os + (size_t)i * (HD + 5), out + (size_t)i * HD, HD);
            CHECK(same, "attention_forward %s with row strides: same bits", c);
            free(qs); free(ks); free(vs); free(os);
            attention_naive(out, HD, q, HD, k, HD, v, HD, Nq, Nk, H, d, scale, rb);
            snprintf(what, sizeof what, "attention_naive %s", c);
            check_close(what, out, ref, (int64_t)Nq * HD, TOL_ATT, MIN_COS);
        }
        free(q); free(k); free(v); free(ref); free(rb); free(out);
    }
    st_close(&st);
}

static void test_conv3d_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/ops/conv3d.safetensors")) return;
    const char *cases[5] = {"c1", "c2", "c3", "c4", "c5"};
    for (int ci = 0; ci < 5; ci++) {
        char nm[32], what[96];
        const char *c = cases[ci];
        snprintf(nm, sizeof nm, "%s.x", c);
        const Tensor *tx = tl_find(&st.tensors, nm);
        float *x = golden_f32(&st, nm, NULL);
        snprintf(nm, sizeof nm, "%s.w", c);
        const Tensor *W = tl_find(&st.tensors, nm);
        float *w32 = golden_f32(&st, nm, NULL);
        snprintf(nm, sizeof nm, "%s.b", c);
        float *b = tl_find(&st.tensors, nm) ? golden_f32(&st, nm, NULL) : NULL;
        snprintf(nm, sizeof nm, "%s.out", c);
        int64_t nout = 0;
        float *ref = golden_f32(&st, nm, &nout);
        snprintf(nm, sizeof nm, "%s.params", c);
        const Tensor *tp = tl_find(&st.tensors, nm);
        if (!tx || !x || !W || !w32 || !ref || !tp || tensor_numel(tp) != 12) {
            h_report(0, "conv3d case %s incomplete", c);
            free(x); free(w32); free(b); free(ref);
            continue;
        }
        int32_t v[12];
        for (int i = 0; i < 12; i++) v[i] = (int32_t)rd_u32le((const char *)tp->data + 4 * i);
        Conv3dParams p = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
        int Cin = (int)tx->shape[0], T = (int)tx->shape[1], H = (int)tx->shape[2], Wd = (int)tx->shape[3];
        int Cout = (int)W->shape[0], To, Ho, Wo;
        conv3d_out_size(&p, T, H, Wd, &To, &Ho, &Wo);
        CHECK((int64_t)Cout * To * Ho * Wo == nout, "conv3d_out_size %s: %dx%dx%d", c, To, Ho, Wo);
        float *out = h_falloc(nout);
        fill_nan(out, nout);
        T2vError e = {0, {0}};
        int rc = conv3d_forward(out, x, Cin, T, H, Wd, W, b, &p, &e);
        snprintf(what, sizeof what, "conv3d_forward %s k(%d,%d,%d) s(%d,%d,%d) W %s%s", c, p.kt, p.kh,
                 p.kw, p.st, p.sh, p.sw, dtype_name(W->dtype), b ? "" : " no bias");
        CHECK(rc == T2V_OK, "conv3d_forward %s returns OK (%s)", c, e.msg);
        check_close(what, out, ref, nout, TOL_CONV, MIN_COS);
        fill_nan(out, nout);
        conv3d_naive(out, x, Cin, T, H, Wd, w32, Cout, b, &p);
        snprintf(what, sizeof what, "conv3d_naive %s", c);
        check_close(what, out, ref, nout, TOL_CONV, MIN_COS);
        free(x); free(w32); free(b); free(ref); free(out);
    }
    st_close(&st);
}

/* ---------------------------------------------------------------------------
 * Fast against slow, on random sizes (prng_fill data) */
static void test_gemm_vs_naive(void) {
    /* M, N, K, lda/ldb/ldc padding: edges of every block size, K = 1,
     * several K chunks (KC), several column blocks (NC), tiny sizes; for
     * gemm() with OpenBLAS, row tiles ({97, 33}), column tiles ({200, 1100},
     * {61, 257}) and grids of 2 x 3 or 3 x 2 tiles with ragged edges (the
     * last four), under all four transposes. */
    const int sizes[][4] = {{1, 1, 1, 0}, {7, 5, 3, 2}, {97, 33, 260, 1}, {200, 1100, 600, 3},
                            {5, 300, 513, 0}, {130, 17, 1, 4}, {61, 257, 99, 0}, {301, 289, 70, 2},
                            {150, 200, 40, 1}, {302, 250, 33, 0}, {160, 170, 20, 1}};
    const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, 0.25f}, {0.75f, -1.5f}};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    for (int s = 0; s < ns; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2], pad = sizes[s][3];
        int ta = s & 1, tb = (s >> 1) & 1;
        float alpha = ab[s % 4][0], beta = ab[s % 4][1];
        int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
        float *A = h_rand_floats(11 + s, (int64_t)(ta ? K : M) * lda, 1.0f);
        float *B = h_rand_floats(51 + s, (int64_t)(tb ? N : K) * ldb, 1.0f);
        float *C0 = h_rand_floats(91 + s, (int64_t)M * ldc, 1.0f);
        float *C1 = h_falloc((int64_t)M * ldc), *C2 = h_falloc((int64_t)M * ldc), *C3 = h_falloc((int64_t)M * ldc);
        memcpy(C1, C0, sizeof(float) * (size_t)M * ldc);
        memcpy(C2, C0, sizeof(float) * (size_t)M * ldc);
        memcpy(C3, C0, sizeof(float) * (size_t)M * ldc);
        gemm_builtin(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
        gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
        char what[96];
        snprintf(what, sizeof what, "gemm_builtin vs naive %dx%dx%d t%d%d a%g b%g ld+%d", M, N, K, ta,
                 tb, alpha, beta, pad);
        check_close(what, C1, C2, (int64_t)M * ldc, TOL_GEMM, MIN_COS);
        gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C3, ldc);
        snprintf(what, sizeof what, "gemm (%s) vs naive %dx%dx%d t%d%d a%g b%g ld+%d", gemm_backend(), M, N,
                 K, ta, tb, alpha, beta, pad);
        check_close(what, C3, C2, (int64_t)M * ldc, TOL_GEMM, MIN_COS);
        /* the padding columns of C are never written */
        int untouched = 1;
        for (int i = 0; i < M; i++)
            for (int j = N; j < ldc; j++)
                untouched &= C1[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j] &&
                             C3[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j];
        CHECK(untouched, "gemm_builtin and gemm leave C beyond N untouched (%dx%dx%d)", M, N, K);
        free(A); free(B); free(C0); free(C1); free(C2); free(C3);
    }
    /* K = 0: C = beta*C; with beta = 0 the NaN in C is not read */
    float C[12], Cb[12];
    fill_nan(C, 12);
    gemm_builtin(0, 0, 3, 4, 0, 1.0f, C, 1, C, 4, 0.0f, C, 4);
    for (int i = 0; i < 12; i++) Cb[i] = 2.0f;
    gemm(1, 1, 3, 4, 0, 1.0f, Cb, 1, Cb, 1, 0.5f, Cb, 4);
    int zero = 1, half = 1;
    for (int i = 0; i < 12; i++) { zero &= C[i] == 0.0f; half &= Cb[i] == 1.0f; }
    CHECK(zero && half, "gemm with K = 0: C = beta*C, beta = 0 ignores NaN in C");
}

/* Both micro-kernels the attention can run (the OpenBLAS build's FMA one
 * where the CPU has it, and the portable one: T2V_GEMM_GENERIC=1). */
static void test_attention_vs_naive(void) {
    /* Nq, Nk, H, d, relbias: d above the GEMM's K chunk (the VAE's single
     * 384-wide head), one key, one query, query counts off the block size. */
    const int cases[][5] = {{130, 700, 2, 64, 1}, {60, 300, 1, 384, 0}, {1, 1, 3, 8, 1},
                            {49, 1, 2, 16, 0}, {1, 517, 4, 32, 1}};
    for (int run = 0; run < 2; run++)
    for (int c = 0; c < 5; c++) {
        if (c == 0) h_env_set("T2V_GEMM_GENERIC", run ? "1" : NULL);
        int Nq = cases[c][0], Nk = cases[c][1], H = cases[c][2], d = cases[c][3], HD = H * d;
        float *q = h_rand_floats(200 + c, (int64_t)Nq * HD, 2.0f);
        float *k = h_rand_floats(300 + c, (int64_t)Nk * HD, 1.0f);
        float *v = h_rand_floats(400 + c, (int64_t)Nk * HD, 1.0f);
        float *rb = cases[c][4] ? h_rand_floats(500 + c, (int64_t)H * (Nq + Nk - 1), 4.0f) : NULL;
        float *o1 = h_falloc((int64_t)Nq * HD), *o2 = h_falloc((int64_t)Nq * HD);
        float scale = 1.0f / sqrtf((float)d);
        attention_forward(o1, HD, q, HD, k, HD, v, HD, Nq, Nk, H, d, scale, rb);
        attention_naive(o2, HD, q, HD, k, HD, v, HD, Nq, Nk, H, d, scale, rb);
        char what[96];
        snprintf(what, sizeof what, "attention fwd (%s kernel) vs naive Nq=%d Nk=%d H=%d d=%d%s",
                 run ? "portable" : "run-time", Nq, Nk, H, d, rb ? " relbias" : "");
        check_close(what, o1, o2, (int64_t)Nq * HD, TOL_ATT, MIN_COS);
        free(q); free(k); free(v); free(rb); free(o1); free(o2);
    }
    h_env_set("T2V_GEMM_GENERIC", NULL);
}

static void conv_vs_naive(const char *what, int Cin, int Cout, int T, int H, int W,
                          Conv3dParams p, DType wdt, int with_bias, uint64_t seed) {
    int64_t nw = (int64_t)Cout * Cin * p.kt * p.kh * p.kw;
    float *x = h_rand_floats(seed, (int64_t)Cin * T * H * W, 1.0f);
    float *w = h_rand_floats(seed + 1, nw, 1.0f / 32.0f);
    float *b = with_bias ? h_rand_floats(seed + 2, Cout, 0.5f) : NULL;
    int64_t shape[5] = {Cout, Cin, p.kt, p.kh, p.kw};
    Tensor tw;
    T2vError e = {0, {0}};
    if (tensor_alloc(&tw, wdt, 5, shape, &e) != T2V_OK) { h_report(0, "%s: %s", what, e.msg); return; }
    for (int64_t i = 0; i < nw; i++) { /* exact in bf16/f16: widen back for the naive side */
        if (wdt == DT_BF16) { wr_u16le((uint16_t *)tw.data + i, f32_to_bf16(w[i])); w[i] = bf16_to_f32(f32_to_bf16(w[i])); }
        else wr_u32le((uint32_t *)tw.data + i, f32_to_bits(w[i]));
    }
    int To, Ho, Wo;
    conv3d_out_size(&p, T, H, W, &To, &Ho, &Wo);
    int64_t n = (int64_t)Cout * To * Ho * Wo;
    float *o1 = h_falloc(n), *o2 = h_falloc(n);
    int rc = conv3d_forward(o1, x, Cin, T, H, W, &tw, b, &p, &e);
    conv3d_naive(o2, x, Cin, T, H, W, w, Cout, b, &p);
    CHECK(rc == T2V_OK, "%s returns OK (%s)", what, e.msg);
    check_close(what, o1, o2, n, TOL_CONV, MIN_COS);
    tensor_free(&tw);
    free(x); free(w); free(b); free(o1); free(o2);
}

static void test_conv3d_vs_naive(void) {
    Conv3dParams p333 = {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1};
    /* Cin*27 = 6,912 rows of col (27 blocks of 256), 1,728 output positions
     * (6 column tiles of 288). */
    conv_vs_naive("conv3d fwd vs naive 3x3x3 causal, 6 column tiles x 27 K blocks", 256, 3, 3, 24, 24, p333,
                  DT_F32, 1, 900);
    Conv3dParams podd = {2, 3, 2, 2, 1, 3, 1, 0, 0, 2, 1, 1};
    conv_vs_naive("conv3d fwd vs naive k(2,3,2) s(2,1,3) pads, bf16", 5, 7, 6, 8, 11, podd, DT_BF16, 0, 910);
    Conv3dParams p111 = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    conv_vs_naive("conv3d fwd vs naive 1x1x1 (no im2col)", 33, 17, 2, 9, 13, p111, DT_F32, 1, 920);
    /* The Winograd path (3x3 spatial, stride 1, padding 1): odd frame sizes
     * (partial tiles), a frame wider than one run of tiles, K = 3 x 100 rows
     * (a ragged second K block), frames whose taps partly or wholly fall in
     * the temporal padding (bias alone), the VAE's 2D convs (kt = 1). */
    conv_vs_naive("conv3d fwd vs naive Winograd 3x3x3 causal, 13x11", 7, 5, 3, 13, 11, p333, DT_F32, 1, 930);
    conv_vs_naive("conv3d fwd vs naive Winograd 3x3x3, K blocks 256 + 44, bf16", 100, 9, 2, 6, 7, p333, DT_BF16, 1,
                  940);
    conv_vs_naive("conv3d fwd vs naive Winograd 1x3x3, 5x301 (2 runs of tiles a row)", 4, 3, 1, 5, 301,
                  (Conv3dParams){1, 3, 3, 1, 1, 1, 0, 0, 1, 1, 1, 1}, DT_F32, 1, 950);
    conv_vs_naive("conv3d fwd vs naive Winograd, frames in the padding alone", 3, 4, 2, 4, 6,
                  (Conv3dParams){2, 3, 3, 1, 1, 1, 4, 1, 1, 1, 1, 1}, DT_F32, 1, 960);
    /* a weight of the wrong shape is refused with a message */
    Tensor tw;
    int64_t shape[5] = {4, 3, 3, 3, 3};
    T2vError e = {0, {0}};
    if (tensor_alloc(&tw, DT_F32, 5, shape, &e) == T2V_OK) {
        float out[64], inp[4 * 2 * 2 * 2] = {0};
        int rc = conv3d_forward(out, inp, 4, 2, 2, 2, &tw, NULL, &p333, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "conv3d") != NULL,
              "conv3d_forward refuses a [4,3,3,3,3] weight for Cin=4: %s", e.msg);
        tensor_free(&tw);
    }
}

/* conv3d_forward: the same bits for 1, 2 and 3 threads, on the Winograd
 * path (3x3 spatial, padding 1) and on the im2col path (here: padding 0 and
 * 2 in W; column tiles of fixed width, K blocks of 256 rows: 1,080 =
 * 4 x 256 + 56), and on the im2col path with the built-in GEMM the bits of
 * one gemm_builtin call on the whole im2col matrix. */
static void conv3d_threads_case(const Conv3dParams *p, int im2col) {
    enum { Cin = 40, T = 3, H = 20, W = 20, Cout = 24 };
    int64_t shape[5] = {Cout, Cin, 3, 3, 3}, K = (int64_t)Cin * 27, P = (int64_t)T * H * W;
    Tensor tw;
    T2vError e = {0, {0}};
    if (tensor_alloc(&tw, DT_F32, 5, shape, &e) != T2V_OK) { CHECK(0, "tensor_alloc: %s", e.msg); return; }
    float *w = h_rand_floats(31, Cout * K, 0.1f), *x = h_rand_floats(32, (int64_t)Cin * T * H * W, 1.0f), *O[3];
    for (int64_t i = 0; i < Cout * K; i++) wr_u32le((uint32_t *)tw.data + i, f32_to_bits(w[i]));
    int ok = 1;
    for (int t = 0; t < 3; t++) {
        O[t] = h_falloc(Cout * P);
        set_threads(t + 1);
        ok &= conv3d_forward(O[t], x, Cin, T, H, W, &tw, NULL, p, &e) == T2V_OK;
    }
    CHECK(ok && h_same_bits(O[0], O[1], Cout * P) && h_same_bits(O[0], O[2], Cout * P),
          "conv3d_forward Cin=%d [%d,%d,%d] k3 (%s path): same bits with 1, 2 and 3 threads", Cin, T, H, W,
          im2col ? "im2col" : "Winograd");
    if (im2col && strcmp(gemm_backend(), "builtin") == 0) {
        float *col = h_falloc(K * P), *ref = h_falloc(Cout * P);
        for (int64_t r = 0; r < K; r++) /* col[r, (to, ho, wo)], r = ((ci*3 + a)*3 + b)*3 + c */
            for (int64_t q = 0; q < P; q++) {
                int ci = (int)(r / 27), a = (int)(r / 9 % 3), b = (int)(r / 3 % 3), c = (int)(r % 3);
                int ti = (int)(q / (H * W)) - p->pt0 + a, hi = (int)(q / W % H) - p->ph0 + b,
                    wi = (int)(q % W) - p->pw0 + c;
                int in = ti >= 0 && hi >= 0 && hi < H && wi >= 0 && wi < W;
                col[r * P + q] = in ? x[(((int64_t)ci * T + ti) * H + hi) * W + wi] : 0.0f;
            }
        gemm_builtin(0, 0, Cout, (int)P, (int)K, 1.0f, w, (int)K, col, (int)P, 0.0f, ref, (int)P);
        CHECK(h_same_bits(O[0], ref, Cout * P), "conv3d_forward: the bits of one gemm_builtin on the im2col matrix");
        free(col); free(ref);
    }
    for (int t = 0; t < 3; t++) free(O[t]);
    free(w); free(x);
    tensor_free(&tw);
}

static void test_conv3d_threads(void) {
    Conv3dParams wino = {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}, im2col = {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 0, 2};
    conv3d_threads_case(&wino, 0);
    conv3d_threads_case(&im2col, 1);
}

/* Same bits for 1, 2 and 3 threads (threads split outputs, never sums). */
static void test_thread_invariance(void) {
    int nt0 = get_threads();
    int M = 157, N = 301, K = 530;
    float *A = h_rand_floats(1, (int64_t)M * K, 1.0f), *B = h_rand_floats(2, (int64_t)K * N, 1.0f);
    float *C[3];
    for (int t = 0; t < 3; t++) {
        C[t] = h_falloc((int64_t)M * N);
        set_threads(t + 1);
        gemm_builtin(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C[t], N);
    }
    CHECK(h_same_bits(C[0], C[1], (int64_t)M * N) && h_same_bits(C[0], C[2], (int64_t)M * N),
          "gemm_builtin %dx%dx%d: same bits with 1, 2 and 3 threads", M, N, K);
    for (int t = 0; t < 3; t++) free(C[t]);
    free(A); free(B);

    /* gemm() itself (OpenBLAS or built-in): row tiles (large M, small N),
     * column tiles (small M, large N, as the VAE's) and a 3 x 2 grid. */
    static const int shapes[3][3] = {{700, 203, 150}, {24, 1800, 90}, {301, 289, 70}};
    for (int c = 0; c < 3; c++) {
        int m = shapes[c][0], n = shapes[c][1], kk = shapes[c][2];
        float *a = h_rand_floats(11, (int64_t)m * kk, 1.0f), *b = h_rand_floats(12, (int64_t)kk * n, 1.0f);
        float *G[3];
        for (int t = 0; t < 3; t++) {
            G[t] = h_falloc((int64_t)m * n);
            set_threads(t + 1);
            gemm(0, 0, m, n, kk, 1.0f, a, kk, b, n, 0.0f, G[t], n);
        }
        CHECK(h_same_bits(G[0], G[1], (int64_t)m * n) && h_same_bits(G[0], G[2], (int64_t)m * n),
              "gemm (%s) %dx%dx%d: same bits with 1, 2 and 3 threads", gemm_backend(), m, n, kk);
        for (int t = 0; t < 3; t++) free(G[t]);
        free(a); free(b);
    }

    test_conv3d_threads();

    int Nq = 150, Nk = 530, H = 3, d = 32, HD = H * d;
    float *q = h_rand_floats(3, (int64_t)Nq * HD, 2.0f), *k = h_rand_floats(4, (int64_t)Nk * HD, 1.0f);
    float *v = h_rand_floats(5, (int64_t)Nk * HD, 1.0f);
    float *rb = h_rand_floats(6, (int64_t)H * (Nq + Nk - 1), 1.0f);
    float *O[3];
    for (int t = 0; t < 3; t++) {
        O[t] = h_falloc((int64_t)Nq * HD);
        set_threads(t + 1);
        attention_forward(O[t], HD, q, HD, k, HD, v, HD, Nq, Nk, H, d, 0.125f, rb);
    }
    CHECK(h_same_bits(O[0], O[1], (int64_t)Nq * HD) && h_same_bits(O[0], O[2], (int64_t)Nq * HD),
          "attention_forward Nq=%d Nk=%d H=%d: same bits with 1, 2 and 3 threads", Nq, Nk, H);
    for (int t = 0; t < 3; t++) free(O[t]);
    free(q); free(k); free(v); free(rb);
    set_threads(nt0);
}

/* linear_forward with a BF16 weight, both paths: M <= 96 rows (widening
 * fused with the GEMM's tiles) and more rows (the weight widened whole):
 * close to the double-precision product, and the same bits for 1, 2 and 3
 * threads. Partial tiles in N and K. With the built-in GEMM the fused path
 * gives gemm_builtin's bits exactly. */
static void test_linear_bf16_paths(void) {
    int nt0 = get_threads(), N = 300, K = 530;
    int64_t shape[2] = {N, K};
    Tensor W;
    T2vError e = {0, {0}};
    if (tensor_alloc(&W, DT_BF16, 2, shape, &e) != T2V_OK) { CHECK(0, "tensor_alloc: %s", e.msg); return; }
    float *wf = h_rand_floats(21, (int64_t)N * K, 0.0625f);
    for (int64_t i = 0; i < (int64_t)N * K; i++) {
        uint16_t h = f32_to_bf16(wf[i]);
        wr_u16le((unsigned char *)W.data + 2 * i, h);
        wf[i] = bf16_to_f32(h);
    }
    static const int Ms[2] = {30, 130};
    for (int c = 0; c < 2; c++) {
        int M = Ms[c];
        float *x = h_rand_floats(22 + c, (int64_t)M * K, 1.0f), *ref = h_falloc((int64_t)M * N);
        float *ws = h_falloc((int64_t)N * K), *O[3];
        char what[96];
        gemm_naive(0, 1, M, N, K, 1.0f, x, K, wf, K, 0.0f, ref, N);
        for (int t = 0; t < 3; t++) {
            O[t] = h_falloc((int64_t)M * N);
            set_threads(t + 1);
            linear_forward(O[t], x, &W, NULL, M, ws);
        }
        snprintf(what, sizeof what, "linear_forward BF16 M=%d N=%d K=%d", M, N, K);
        check_close(what, O[0], ref, (int64_t)M * N, 1e-5, 0.99999);
        CHECK(h_same_bits(O[0], O[1], (int64_t)M * N) && h_same_bits(O[0], O[2], (int64_t)M * N),
              "%s: same bits with 1, 2 and 3 threads", what);
        if (strcmp(gemm_backend(), "builtin") == 0) {
            gemm_builtin(0, 1, M, N, K, 1.0f, x, K, wf, K, 0.0f, ref, N);
            CHECK(h_same_bits(O[0], ref, (int64_t)M * N), "%s: the same bits as gemm_builtin", what);
        }
        for (int t = 0; t < 3; t++) free(O[t]);
        free(x); free(ref); free(ws);
    }
    set_threads(nt0);
    free(wf);
    tensor_free(&W);
}

/* A view of t's bytes at `off` bytes past a 64-byte aligned address
 * (off 1, 2, 3: misaligned, as a tensor of a legal safetensors file can be);
 * *buf is what to free. */
static Tensor shifted_view(const Tensor *t, int off, unsigned char **buf) {
    Tensor v = *t;
    size_t nb = tensor_nbytes(t);
    *buf = malloc(nb + 64 + 64);
    unsigned char *p = *buf + (64 - (uintptr_t)*buf % 64) + off;
    memcpy(p, t->data, nb);
    v.data = p;
    v.owned = 0;
    return v;
}

/* The one widening rule (needs_widening) and the kernels that read weights
 * in their file dtype give the same bits whatever the weight's alignment:
 * linear_forward (both of its paths), linear_gemm_forward (with and without
 * a scratch), matvec_forward, on F32 and BF16 weights at offsets 1, 2, 3. */
static void test_misaligned_weights(void) {
    int N = 70, K = 300;
    int64_t shape[2] = {N, K};
    T2vError e = {0, {0}};
    float *wf = h_rand_floats(31, (int64_t)N * K, 0.0625f), *b = h_rand_floats(32, N, 0.25f);
    Tensor W[2];
    if (tensor_from_f32(&W[0], wf, 2, shape, &e) || tensor_alloc(&W[1], DT_BF16, 2, shape, &e)) {
        CHECK(0, "weights: %s", e.msg);
        return;
    }
    for (int64_t i = 0; i < (int64_t)N * K; i++) wr_u16le((unsigned char *)W[1].data + 2 * i, f32_to_bf16(wf[i]));
    CHECK(needs_widening(&W[0]) == !host_is_little_endian() && needs_widening(&W[1]),
          "needs_widening: aligned F32 %d (little-endian host), BF16 %d", needs_widening(&W[0]), needs_widening(&W[1]));
    static const int Ms[2] = {30, 130}; /* linear_forward's fused path (M <= 96) and the GEMM path */
    for (int d = 0; d < 2; d++) {
        int ok_nw = 1, ok[3] = {1, 1, 1};
        for (int off = 1; off <= 3; off++) {
            unsigned char *buf;
            Tensor V = shifted_view(&W[d], off, &buf);
            ok_nw &= needs_widening(&V);
            for (int c = 0; c < 2; c++) {
                int M = Ms[c];
                float *x = h_rand_floats(33 + c, (int64_t)M * K, 1.0f), *ws = h_falloc((int64_t)N * K);
                float *o1 = h_falloc((int64_t)M * N), *o2 = h_falloc((int64_t)M * N);
                linear_forward(o1, x, &W[d], b, M, ws);
                linear_forward(o2, x, &V, b, M, ws);
                ok[0] &= h_same_bits(o1, o2, (int64_t)M * N);
                linear_gemm_forward(o1, x, &W[d], b, M, ws);
                linear_gemm_forward(o2, x, &V, b, M, NULL);
                ok[1] &= h_same_bits(o1, o2, (int64_t)M * N);
                linear_gemm_forward(o2, x, &V, b, M, ws);
                ok[1] &= h_same_bits(o1, o2, (int64_t)M * N);
                matvec_forward(o1, &W[d], x, b, M);
                matvec_forward(o2, &V, x, b, M);
                ok[2] &= h_same_bits(o1, o2, (int64_t)M * N);
                free(x); free(ws); free(o1); free(o2);
            }
            free(buf);
        }
        const char *dt = d ? "BF16" : "F32";
        CHECK(ok_nw, "needs_widening: %s at offsets 1, 2, 3 -> 1", dt);
        CHECK(ok[0], "linear_forward: %s at offsets 1, 2, 3 == aligned, bit for bit (M = 30, 130)", dt);
        CHECK(ok[1], "linear_gemm_forward: %s at offsets 1, 2, 3 (scratch or none) == aligned, bit for bit", dt);
        CHECK(ok[2], "matvec_forward: %s at offsets 1, 2, 3 == aligned, bit for bit", dt);
    }
    free(wf); free(b);
    tensor_free(&W[0]);
    tensor_free(&W[1]);
}

/* matvec_forward: each output is the sum in increasing k, then + b, so the
 * plain loop gives its bits, for any number of vectors (blocks of 8, K in
 * chunks of 256 here) and thread count; and close to float64. */
static void test_matvec(void) {
    int N = 50, K = 600, M = 11, nt0 = get_threads();
    int64_t shape[2] = {N, K};
    T2vError e = {0, {0}};
    float *wf = h_rand_floats(41, (int64_t)N * K, 0.0625f), *b = h_rand_floats(42, N, 0.25f);
    float *x = h_rand_floats(43, (int64_t)M * K, 1.0f), *want = h_falloc((int64_t)M * N), *ref = h_falloc((int64_t)M * N);
    float *o[3], *one = h_falloc(N);
    Tensor W;
    if (tensor_from_f32(&W, wf, 2, shape, &e)) { CHECK(0, "weight: %s", e.msg); return; }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float acc = 0.0f;
            double dacc = b[n];
            for (int k = 0; k < K; k++) {
                acc += wf[(size_t)n * K + k] * x[(size_t)m * K + k];
                dacc += (double)wf[(size_t)n * K + k] * x[(size_t)m * K + k];
            }
            want[(size_t)m * N + n] = acc + b[n];
            ref[(size_t)m * N + n] = (float)dacc;
        }
    for (int t = 0; t < 3; t++) {
        o[t] = h_falloc((int64_t)M * N);
        set_threads(t + 1);
        matvec_forward(o[t], &W, x, b, M);
    }
    set_threads(nt0);
    check_close("matvec_forward M=11 N=50 K=600 vs float64", o[0], ref, (int64_t)M * N, TOL_LINEAR, MIN_COS);
    CHECK(h_same_bits(o[0], want, (int64_t)M * N), "matvec_forward: the bits of the plain loop (sum in k, then + b)");
    CHECK(h_same_bits(o[0], o[1], (int64_t)M * N) && h_same_bits(o[0], o[2], (int64_t)M * N),
          "matvec_forward: same bits with 1, 2 and 3 threads");
    int alone = 1;
    for (int m = 0; m < M; m++) {
        matvec_forward(one, &W, x + (size_t)m * K, b, 1);
        alone &= h_same_bits(one, o[0] + (size_t)m * N, N);
    }
    CHECK(alone, "matvec_forward: each of 11 vectors alone (M = 1) gives its bits in the batch");
    for (int t = 0; t < 3; t++) free(o[t]);
    free(wf); free(b); free(x); free(want); free(ref); free(one);
    tensor_free(&W);
}

/* modulate_inplace / residual_inplace: token n takes row row[n] of the
 * tables (stride ld); row NULL is row 0 for every token. Exact. */
static void test_modulate(void) {
    int N = 37, D = 24, R = 3, ld = 6 * D;
    float *x = h_rand_floats(51, (int64_t)N * D, 1.0f), *y = h_rand_floats(52, (int64_t)N * D, 1.0f);
    float *tab = h_rand_floats(53, (int64_t)R * ld, 0.5f), *a = h_falloc((int64_t)N * D), *c = h_falloc((int64_t)N * D);
    int row[37], zero[37];
    for (int n = 0; n < N; n++) row[n] = (n * 7) % R, zero[n] = 0;
    const float *sh = tab + D, *sc = tab + 2 * D, *g = tab + 4 * D;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < D; j++) {
            size_t i = (size_t)n * D + j, r = (size_t)row[n] * ld;
            float v = x[i] * (1.0f + sc[r + j]) + sh[r + j];
            a[i] = v + y[i] * g[r + j];
        }
    memcpy(c, x, sizeof(float) * (size_t)N * D);
    modulate_inplace(c, sh, sc, ld, row, N, D);
    residual_inplace(c, y, g, ld, row, N, D);
    CHECK(h_same_bits(a, c, (int64_t)N * D), "modulate_inplace + residual_inplace, per-token rows: exact");
    memcpy(a, x, sizeof(float) * (size_t)N * D);
    memcpy(c, x, sizeof(float) * (size_t)N * D);
    modulate_inplace(a, sh, sc, ld, NULL, N, D);
    residual_inplace(a, y, g, ld, NULL, N, D);
    residual_inplace(a, y, NULL, 0, NULL, N, D);
    modulate_inplace(c, sh, sc, ld, zero, N, D);
    residual_inplace(c, y, g, ld, zero, N, D);
    for (int64_t i = 0; i < (int64_t)N * D; i++) c[i] += y[i];
    CHECK(h_same_bits(a, c, (int64_t)N * D), "row NULL == row 0 for every token; gate NULL == plain add");
    free(x); free(y); free(tab); free(a); free(c);
}

/* t2v_expf (ops.c's own e^x, in double from + - * alone) against the
 * platform's exp in double, rounded to float: equal but for at most one ulp
 * near a rounding boundary, over 2^20 inputs spread over every float in
 * [-104, 89] (below: 0, above: inf), and the special values. */
static void test_expf(void) {
    const float lo = -104.0f, hi = 89.0f;
    uint32_t ulo, uhi;
    memcpy(&ulo, &lo, 4), memcpy(&uhi, &hi, 4);
    long n = 0, differ = 0, worse = 0;
    /* negative floats: bit patterns 0x80000000..ulo; positive: 0..uhi */
    for (int side = 0; side < 2; side++) {
        uint32_t top = side ? uhi : ulo, base = side ? 0u : 0x80000000u, step = (top - base) / (1u << 19) + 1;
        for (uint32_t u = base; u <= top && u >= base; u += step) {
            float x, got, want;
            memcpy(&x, &u, 4);
            got = t2v_expf(x), want = (float)exp((double)x);
            n++;
            if (got != want) {
                differ++;
                float up = nextafterf(want, INFINITY), down = nextafterf(want, 0.0f);
                worse += got != up && got != down;
            }
        }
    }
    CHECK(n > 1000000 && worse == 0 && differ * 100000 <= n,
          "t2v_expf vs (float)exp((double)x): %ld inputs, %ld differ by one ulp (limit 1e-5 of them), %ld by more",
          n, differ - worse, worse);
    CHECK(t2v_expf(0.0f) == 1.0f && t2v_expf(-INFINITY) == 0.0f && t2v_expf(INFINITY) == INFINITY &&
              t2v_expf(100.0f) == INFINITY && t2v_expf(-200.0f) == 0.0f && isnan(t2v_expf(NAN)),
          "t2v_expf: e^0 = 1, e^-inf = 0, e^inf = e^100 = inf, e^-200 = 0, NaN stays NaN");
    /* the AVX-512 / AVX2 element-wise loops (x86) and the portable ones: same bits */
    int64_t m = 10007;
    float *x = h_rand_floats(21, m, 12.0f), *a = h_falloc(m), *b = h_falloc(m);
    void (*fn[3])(float *, int64_t) = {gelu_tanh_inplace, silu_inplace, NULL};
    const char *name[3] = {"gelu_tanh", "silu", "softmax"};
    for (int k = 0; k < 3; k++) {
        memcpy(a, x, sizeof(float) * (size_t)m), memcpy(b, x, sizeof(float) * (size_t)m);
        if (fn[k]) fn[k](a, m); else softmax_inplace(a, 7, 1429);
        h_env_set("T2V_GEMM_GENERIC", "1");
        if (fn[k]) fn[k](b, m); else softmax_inplace(b, 7, 1429);
        h_env_set("T2V_GEMM_GENERIC", NULL);
        CHECK(h_same_bits(a, b, m), "%s: run-time (AVX-512 / AVX2) loop and portable one give the same bits", name[k]);
    }
    free(x); free(a); free(b);
}

/* The portable micro-kernel and the AVX2 one (picked at run time on x86)
 * give the same bits: same products, same order of additions, no FMA. */
static void test_kernel_invariance(void) {
    int M = 67, N = 203, K = 300;
    float *A = h_rand_floats(7, (int64_t)M * K, 1.0f), *B = h_rand_floats(8, (int64_t)K * N, 1.0f);
    float *C1 = h_falloc((int64_t)M * N), *C2 = h_falloc((int64_t)M * N);
    gemm_builtin(1, 0, M, N, K, 0.5f, A, M, B, N, 0.0f, C1, N);
    h_env_set("T2V_GEMM_GENERIC", "1");
    gemm_builtin(1, 0, M, N, K, 0.5f, A, M, B, N, 0.0f, C2, N);
    h_env_set("T2V_GEMM_GENERIC", NULL);
    CHECK(h_same_bits(C1, C2, (int64_t)M * N),
          "gemm_builtin: run-time micro-kernel and portable one give the same bits");
    free(A); free(B); free(C1); free(C2);
}

int main(void) {
    printf("gemm backend: %s\n", gemm_backend());
    test_gemm_golden();
    test_linear_golden();
    test_norms_golden();
    test_act_golden();
    test_rope_golden();
    test_attention_golden();
    test_conv3d_golden();
    test_gemm_vs_naive();
    test_attention_vs_naive();
    test_conv3d_vs_naive();
    test_thread_invariance();
    test_linear_bf16_paths();
    test_misaligned_weights();
    test_matvec();
    test_modulate();
    test_kernel_invariance();
    test_expf();
    return h_finish();
}
