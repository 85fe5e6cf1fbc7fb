/*
 * test_threads.c: the same bits for every thread count, 1 to 16 (more
 * threads than this machine's cores: OpenMP runs them all the same), for
 * every threaded kernel of ref/lib/ops.c on shapes cut into many tasks;
 * the GEMM tile grid's rule (fixed by the shape, enough tiles for 64
 * threads); and, for the built-in GEMM, the same bits for any split of C
 * (docs/ARCHITECTURE.md, Threading).
 */
#include "harness.h"
#include "../ref/lib/ops.h"
#include "../ref/lib/platform.h"

static const int THREADS[] = {1, 2, 3, 4, 5, 8, 16};
enum { NTHREADS = sizeof THREADS / sizeof THREADS[0] };

/* A kernel run: writes n floats to out from ctx. */
typedef void (*RunFn)(void *ctx, float *out);

/* Runs f at every count of THREADS and checks each result against the one
 * thread result, bit for bit; names the first count that differs. */
static void same_bits_all_threads(const char *what, RunFn f, void *ctx, int64_t n) {
    int nt0 = platform_default_threads();
    float *ref = h_falloc(n), *got = h_falloc(n);
    platform_set_threads(1);
    f(ctx, ref);
    int bad = 0;
    for (int i = 1; i < NTHREADS && !bad; i++) {
        platform_set_threads(THREADS[i]);
        for (int64_t j = 0; j < n; j++) got[j] = NAN; /* nothing left from the last run */
        f(ctx, got);
        if (memcmp(ref, got, sizeof(float) * (size_t)n) != 0) bad = THREADS[i];
    }
    platform_set_threads(nt0);
    CHECK(!bad, "%s: same bits with 1, 2, 3, 4, 5, 8 and 16 threads%s", what,
          bad ? " (differs at the count named below)" : "");
    if (bad) printf("       first differing thread count: %d\n", bad);
    free(ref);
    free(got);
}

/* --- GEMM ------------------------------------------------------------------ */

typedef struct {
    int ta, tb, M, N, K, builtin;
    float alpha, beta;
    const float *A, *B, *C0;
} GemmCase;

static void run_gemm(void *ctx, float *out) {
    GemmCase *g = ctx;
    int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
    memcpy(out, g->C0, sizeof(float) * (size_t)g->M * g->N);
    (g->builtin ? gemm_builtin : gemm)(g->ta, g->tb, g->M, g->N, g->K, g->alpha, g->A, lda, g->B, ldb, g->beta,
                                       out, g->N);
}

static void test_gemm_threads(void) {
    /* the DiT's q, k, v, o at 1,560 tokens (16 tiles; gemm() only, one
     * OpenBLAS call per tile), 8 tiles, 2 tiles; odd sizes, K tails, all four
     * transpose cases, beta 0 and 1 */
    static const int shapes[][6] = {{1560, 1536, 1536, 0, 1, 0}, {800, 2400, 1000, 0, 0, 1},
                                    {640, 1024, 1024, 0, 1, 0}, {333, 517, 700, 0, 0, 1},
                                    {200, 300, 260, 1, 0, 0},   {129, 1100, 300, 1, 1, 1},
                                    {1500, 70, 400, 0, 1, 0}};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        const int *c = shapes[s];
        GemmCase g = {c[3], c[4], c[0], c[1], c[2], 0, 0.5f, (float)c[5], NULL, NULL, NULL};
        g.A = h_rand_floats(100 + s, (int64_t)g.M * g.K, 1.0f);
        g.B = h_rand_floats(200 + s, (int64_t)g.K * g.N, 1.0f);
        g.C0 = h_rand_floats(300 + s, (int64_t)g.M * g.N, 1.0f);
        int procs = gemm_grid_procs();
        GemmGrid gg = gemm_tile_grid(g.M, g.N, g.K, procs, gemm_grid_granule());
        int r = gg.rows, q = gg.cols;
        char what[160];
        for (g.builtin = 0; g.builtin < (s < 2 ? 1 : 2); g.builtin++) {
            snprintf(what, sizeof what, "%s %dx%dx%d t%d%d (grid %dx%d for %d processors)",
                     g.builtin ? "gemm_builtin" : "gemm", g.M, g.N, g.K, g.ta, g.tb, r, q, procs);
            same_bits_all_threads(what, run_gemm, &g, (int64_t)g.M * g.N);
        }
        free((void *)g.A); free((void *)g.B); free((void *)g.C0);
    }
}

/* gemm_builtin sums every element over K in the same order whatever part of
 * C a call computes: any split of C into calls gives the same bits. */
static void test_builtin_any_split(void) {
    int M = 301, N = 517, K = 700;
    float *A = h_rand_floats(1, (int64_t)M * K, 1.0f), *B = h_rand_floats(2, (int64_t)N * K, 1.0f);
    float *C = h_falloc((int64_t)M * N), *D = h_falloc((int64_t)M * N);
    gemm_builtin(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    static const int rcut[] = {0, 1, 37, 150, 151, 301}, ccut[] = {0, 13, 16, 200, 517};
    for (int i = 0; i + 1 < 6; i++)
        for (int j = 0; j + 1 < 5; j++) {
            int i0 = rcut[i], j0 = ccut[j];
            gemm_builtin(0, 1, rcut[i + 1] - i0, ccut[j + 1] - j0, K, 1.0f, A + (size_t)i0 * K, K,
                         B + (size_t)j0 * K, K, 0.0f, D + (size_t)i0 * N + j0, N);
        }
    CHECK(h_same_bits(C, D, (int64_t)M * N), "gemm_builtin %dx%dx%d: 20 calls on odd tiles of C give the bits "
          "of one call", M, N, K);
    free(A); free(B); free(C); free(D);
}

/* The grid: never a function of the thread count; the smallest count of
 * gemm_tile_counts >= 2 procs at most (1 tile for 1 processor), no empty
 * tile, at most one extra packed float per 250 multiply-adds; the DiT's
 * GEMMs get 16+ tiles at 1,560 tokens on 16 processors (all busy), 48+ at
 * 6,240 tokens on 64, and at most 4 on 2 (the cheapest split that keeps
 * both busy); T2V_GEMM_PROCS sets the processors gemm() cuts for. */
static void test_tile_grid(void) {
    static const int shapes[][3] = {{1560, 1536, 1536}, {1560, 8960, 1536}, {1560, 1536, 8960},
                                    {6240, 1536, 1536}, {6240, 8960, 1536}, {512, 1536, 4096},
                                    {30, 4096, 4096},   {100, 100, 100},    {7, 5, 3},
                                    {1, 100000, 64}};
    static const int procs_list[] = {1, 2, 3, 16, 64}, caps[] = {1, 4, 6, 32, 64};
    int ok = 1, dit_ok = 1;
    for (int pi = 0; pi < 5; pi++) {
        int procs = procs_list[pi];
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            platform_set_threads(1);
            GemmGrid g1 = gemm_tile_grid(M, N, K, procs, 0);
            platform_set_threads(16);
            GemmGrid g2 = gemm_tile_grid(M, N, K, procs, 0);
            int r = g1.rows, c = g1.cols, r2 = g2.rows, c2 = g2.cols, tm = g1.tm, tn = g1.tn;
            int fits = r >= 1 && c >= 1 && r * c <= caps[pi] && M - (r - 1) * tm >= 1 && N - (c - 1) * tn >= 1 &&
                       250.0 * ((double)(c - 1) / N + (double)(r - 1) / M) <= 1.0;
            if (!fits || r != r2 || c != c2) {
                printf("       %d procs, %dx%dx%d: grid %dx%d (16 threads: %dx%d)\n", procs, M, N, K, r, c, r2, c2);
                ok = 0;
            }
            if (procs >= 16) printf("       %d procs, %dx%dx%d: %d x %d tiles\n", procs, M, N, K, r, c);
            if ((procs == 16 && s < 3 && r * c < 16) || (procs == 64 && s >= 3 && s < 5 && r * c < 48) ||
                (procs == 2 && s < 5 && r * c != 4))
                dit_ok = 0;
            if (s == 7 && r * c != 1) ok = 0;
        }
    }
    platform_set_threads(platform_default_threads());
    CHECK(ok, "gemm_tile_grid: the same grid at 1 and 16 threads; <= 2 tiles a processor (rounded up), none "
          "empty, <= 1 extra packed float per 250 multiply-adds, 1 tile for a small product");
    CHECK(dit_ok, "gemm_tile_grid: the DiT's GEMMs get 4 tiles on 2 processors, 16+ at 1,560 tokens on 16, "
          "48+ at 6,240 on 64");
    h_env_set("T2V_GEMM_PROCS", "48");
    int p48 = gemm_grid_procs();
    h_env_set("T2V_GEMM_PROCS", "0");
    int p0 = gemm_grid_procs();
    h_env_set("T2V_GEMM_PROCS", NULL);
    CHECK(p48 == 48 && p0 == gemm_grid_procs() && p0 >= 1,
          "gemm_grid_procs: T2V_GEMM_PROCS=48 -> %d; 0 (out of range) -> the machine's %d", p48, p0);
}

/* The row granule (T2V_GEMM_ROWS = G): row tiles of exactly G rows, the
 * column cut the same whatever M, never a function of the thread count; and
 * gemm() on rows [a, b) (a, b multiples of G, or b = M) gives the bits those
 * rows get in the whole call, whatever OpenBLAS kernel runs (the token
 * split of docs/SCALING.md rests on this). */
static void test_granule_rows(void) {
    static const int shapes[][3] = {{1560, 1536, 1536}, {1560, 8960, 1536}, {333, 517, 700}, {100, 64, 1536}};
    static const int grans[] = {64, 256}, procs_list[] = {1, 2, 16, 64};
    int grid_ok = 1;
    for (int s = 0; s < 4; s++)
        for (int gi = 0; gi < 2; gi++)
            for (int pi = 0; pi < 4; pi++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], G = grans[gi], P = procs_list[pi];
                platform_set_threads(1);
                GemmGrid g = gemm_tile_grid(M, N, K, P, G), h = gemm_tile_grid(G + 7, N, K, P, G);
                platform_set_threads(16);
                GemmGrid g16 = gemm_tile_grid(M, N, K, P, G);
                grid_ok &= g.tm == G && g.rows == (M + G - 1) / G && g.cols == h.cols && g.tn == h.tn &&
                           g.cols == g16.cols && g.rows == g16.rows && N - (g.cols - 1) * g.tn >= 1;
            }
    platform_set_threads(platform_default_threads());
    CHECK(grid_ok, "gemm_tile_grid with a granule G: rows of exactly G, the same columns for any M and thread "
          "count, none empty");
    h_env_set("T2V_GEMM_ROWS", "256");
    int M = 1560, N = 1536, K = 1536, G = gemm_grid_granule();
    float *A = h_rand_floats(5, (int64_t)M * K, 1.0f), *B = h_rand_floats(6, (int64_t)N * K, 1.0f);
    float *C = h_falloc((int64_t)M * N), *D = h_falloc((int64_t)M * N);
    gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    static const int cuts[] = {0, 256, 768, 1024, 1536, 1560};
    for (int i = 0; i + 1 < 6; i++)
        gemm(0, 1, cuts[i + 1] - cuts[i], N, K, 1.0f, A + (size_t)cuts[i] * K, K, B, K, 0.0f, D + (size_t)cuts[i] * N, N);
    CHECK(G == 256 && h_same_bits(C, D, (int64_t)M * N), "T2V_GEMM_ROWS=%d: %dx%dx%d computed as 5 calls on row "
          "ranges cut at multiples of 256 gives the bits of one call", G, M, N, K);
    h_env_set("T2V_GEMM_ROWS", "0");
    int g0 = gemm_grid_granule();
    h_env_set("T2V_GEMM_ROWS", NULL);
    CHECK(g0 == 0 && gemm_grid_granule() == 0, "gemm_grid_granule: T2V_GEMM_ROWS=0 (out of range) or unset: 0, "
          "the grid without a granule");
    free(A); free(B); free(C); free(D);
}

/* --- attention, norms, element-wise ---------------------------------------- */

typedef struct {
    int Nq, Nk, H, d;
    const float *q, *k, *v, *rb;
} AttCase;

static void run_attention(void *ctx, float *out) {
    AttCase *a = ctx;
    int HD = a->H * a->d;
    attention_forward(out, HD, a->q, HD, a->k, HD, a->v, HD, a->Nq, a->Nk, a->H, a->d, 0.125f, a->rb);
}

static void test_attention_threads(void) {
    /* 12 heads x 7 query blocks (self), 2 heads x 21 blocks with a
     * relative bias (the text encoder's form), and one head (the VAE's):
     * blocks of 48 rows at 1 thread, of 6 at 16 */
    static const int cases[][4] = {{300, 300, 12, 64}, {1000, 77, 2, 32}, {300, 300, 1, 64}};
    for (int c = 0; c < 3; c++) {
        AttCase a = {cases[c][0], cases[c][1], cases[c][2], cases[c][3], NULL, NULL, NULL, NULL};
        int HD = a.H * a.d;
        a.q = h_rand_floats(10 + c, (int64_t)a.Nq * HD, 2.0f);
        a.k = h_rand_floats(20 + c, (int64_t)a.Nk * HD, 1.0f);
        a.v = h_rand_floats(30 + c, (int64_t)a.Nk * HD, 1.0f);
        a.rb = c == 1 ? h_rand_floats(40, (int64_t)a.H * (a.Nq + a.Nk - 1), 1.0f) : NULL;
        char what[96];
        snprintf(what, sizeof what, "attention_forward Nq=%d Nk=%d H=%d d=%d%s", a.Nq, a.Nk, a.H, a.d,
                 a.rb ? " + bias" : "");
        same_bits_all_threads(what, run_attention, &a, (int64_t)a.Nq * HD);
        free((void *)a.q); free((void *)a.k); free((void *)a.v); free((void *)a.rb);
    }
}

typedef struct {
    int N, C;
    const float *x, *w, *b, *sh, *sc;
} RowCase;

static void run_layernorm(void *ctx, float *out) {
    RowCase *r = ctx;
    layernorm_forward(out, r->x, r->w, r->b, r->N, r->C, 1e-6f);
}
static void run_rmsnorm(void *ctx, float *out) {
    RowCase *r = ctx;
    rmsnorm_forward(out, r->x, r->w, r->N, r->C, 1e-6f);
}
static void run_softmax(void *ctx, float *out) {
    RowCase *r = ctx;
    memcpy(out, r->x, sizeof(float) * (size_t)r->N * r->C);
    softmax_inplace(out, r->N, r->C);
}
static void run_modulate_residual(void *ctx, float *out) {
    RowCase *r = ctx;
    memcpy(out, r->x, sizeof(float) * (size_t)r->N * r->C);
    modulate_inplace(out, r->sh, r->sc, 0, NULL, r->N, r->C);
    residual_inplace(out, r->x, r->w, 0, NULL, r->N, r->C);
}
static void run_gelu_silu(void *ctx, float *out) {
    RowCase *r = ctx;
    int64_t n = (int64_t)r->N * r->C;
    memcpy(out, r->x, sizeof(float) * (size_t)n);
    gelu_tanh_inplace(out, n / 2);
    silu_inplace(out + n / 2, n - n / 2);
}

static void test_rowwise_threads(void) {
    RowCase r = {777, 320, NULL, NULL, NULL, NULL, NULL};
    int64_t n = (int64_t)r.N * r.C;
    r.x = h_rand_floats(50, n, 4.0f);
    r.w = h_rand_floats(51, r.C, 1.0f);
    r.b = h_rand_floats(52, r.C, 1.0f);
    r.sh = h_rand_floats(53, r.C, 1.0f);
    r.sc = h_rand_floats(54, r.C, 0.5f);
    same_bits_all_threads("layernorm_forward 777x320", run_layernorm, &r, n);
    same_bits_all_threads("rmsnorm_forward 777x320", run_rmsnorm, &r, n);
    same_bits_all_threads("softmax_inplace 777x320", run_softmax, &r, n);
    same_bits_all_threads("modulate_inplace + residual_inplace 777x320", run_modulate_residual, &r, n);
    same_bits_all_threads("gelu_tanh_inplace + silu_inplace 248,640 values", run_gelu_silu, &r, n);
    free((void *)r.x); free((void *)r.w); free((void *)r.b); free((void *)r.sh); free((void *)r.sc);
}

/* --- convolution, linear --------------------------------------------------- */

typedef struct {
    int Cin, T, H, W;
    const Tensor *w;
    const float *x, *bias;
    Conv3dParams p;
} ConvCase;

static void run_conv(void *ctx, float *out) {
    ConvCase *c = ctx;
    T2vError e = {0, {0}};
    if (conv3d_forward(out, c->x, c->Cin, c->T, c->H, c->W, c->w, c->bias, &c->p, &e) != T2V_OK)
        printf("       conv3d_forward: %s\n", e.msg);
}

static void test_conv_threads(void) {
    enum { Cin = 24, Cout = 40, T = 3, H = 18, W = 22 };
    int64_t shape[5] = {Cout, Cin, 3, 3, 3};
    Tensor tw;
    T2vError e = {0, {0}};
    if (tensor_alloc(&tw, DT_F32, 5, shape, &e) != T2V_OK) { CHECK(0, "tensor_alloc: %s", e.msg); return; }
    float *w = h_rand_floats(60, Cout * Cin * 27, 0.125f);
    for (int64_t i = 0; i < (int64_t)Cout * Cin * 27; i++) wr_u32le((uint32_t *)tw.data + i, f32_to_bits(w[i]));
    ConvCase c = {Cin, T, H, W, &tw, h_rand_floats(61, (int64_t)Cin * T * H * W, 1.0f), h_rand_floats(62, Cout, 1.0f),
                  {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}};
    same_bits_all_threads("conv3d_forward 24->40 [3,18,22] k3 causal (Winograd)", run_conv, &c,
                          (int64_t)Cout * T * H * W);
    Conv3dParams im = {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 0, 2};
    c.p = im;
    int To, Ho, Wo;
    conv3d_out_size(&c.p, T, H, W, &To, &Ho, &Wo);
    same_bits_all_threads("conv3d_forward 24->40 [3,18,22] k3 (im2col)", run_conv, &c,
                          (int64_t)Cout * To * Ho * Wo);
    free(w); free((void *)c.x); free((void *)c.bias);
    tensor_free(&tw);
}

/* 128 output channels on 2 frames of 10 x 12: the Winograd path cuts Cout
 * into 2 blocks of 64 (few rectangles): the same bits for every thread
 * count, and close to the float64 direct convolution. */
static void test_conv_channel_blocks(void) {
    enum { Cin = 16, Cout = 128, T = 2, H = 10, W = 12 };
    int64_t shape[5] = {Cout, Cin, 3, 3, 3}, n = (int64_t)Cout * T * H * W;
    Tensor tw;
    T2vError e = {0, {0}};
    if (tensor_alloc(&tw, DT_F32, 5, shape, &e) != T2V_OK) { CHECK(0, "tensor_alloc: %s", e.msg); return; }
    float *w = h_rand_floats(63, Cout * Cin * 27, 0.125f);
    for (int64_t i = 0; i < (int64_t)Cout * Cin * 27; i++) wr_u32le((uint32_t *)tw.data + i, f32_to_bits(w[i]));
    ConvCase c = {Cin, T, H, W, &tw, h_rand_floats(64, (int64_t)Cin * T * H * W, 1.0f), h_rand_floats(65, Cout, 1.0f),
                  {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}};
    same_bits_all_threads("conv3d_forward 16->128 [2,10,12] k3 causal (Winograd, 2 channel blocks)", run_conv, &c, n);
    float *got = h_falloc(n), *ref = h_falloc(n);
    run_conv(&c, got);
    conv3d_naive(ref, c.x, Cin, T, H, W, w, Cout, c.bias, &c.p);
    check_close("conv3d_forward 16->128, channel blocks vs direct", got, ref, n, 1e-5, 0.9999999);
    free(got); free(ref); free(w); free((void *)c.x); free((void *)c.bias);
    tensor_free(&tw);
}

typedef struct {
    int M;
    const Tensor *W;
    const float *x;
} LinCase;

static void run_linear(void *ctx, float *out) {
    LinCase *l = ctx;
    linear_forward(out, l->x, l->W, NULL, l->M, NULL);
}

static void test_linear_threads(void) {
    int N = 700, K = 530;
    int64_t shape[2] = {N, K};
    Tensor W;
    T2vError e = {0, {0}};
    if (tensor_alloc(&W, DT_BF16, 2, shape, &e) != T2V_OK) { CHECK(0, "tensor_alloc: %s", e.msg); return; }
    float *wf = h_rand_floats(70, (int64_t)N * K, 0.0625f);
    for (int64_t i = 0; i < (int64_t)N * K; i++) wr_u16le((unsigned char *)W.data + 2 * i, f32_to_bf16(wf[i]));
    static const int Ms[2] = {30, 400}; /* widening fused with the tiles; the weight widened whole */
    for (int c = 0; c < 2; c++) {
        LinCase l = {Ms[c], &W, h_rand_floats(71 + c, (int64_t)Ms[c] * K, 1.0f)};
        char what[64];
        snprintf(what, sizeof what, "linear_forward BF16 %dx%dx%d", l.M, N, K);
        same_bits_all_threads(what, run_linear, &l, (int64_t)l.M * N);
        free((void *)l.x);
    }
    free(wf);
    tensor_free(&W);
}

int main(void) {
    printf("gemm backend: %s\n", gemm_backend());
    test_tile_grid();
    test_gemm_threads(); /* this machine's grids */
    h_env_set("T2V_GEMM_PROCS", "64"); /* a 64-processor machine's: 16 to 64 tiles */
    test_gemm_threads();
    h_env_set("T2V_GEMM_PROCS", NULL);
    test_builtin_any_split();
    test_granule_rows();
    h_env_set("T2V_GEMM_ROWS", "256"); /* the granule's grids keep the bits at every thread count too */
    test_gemm_threads();
    h_env_set("T2V_GEMM_ROWS", NULL);
    test_attention_threads();
    test_rowwise_threads();
    test_conv_threads();
    test_conv_channel_blocks();
    test_linear_threads();
    return h_finish();
}
