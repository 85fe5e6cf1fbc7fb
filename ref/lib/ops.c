/*
 * ops.c: the kernels every stage is written in (contract in ops.h).
 *
 * Determinism: every reduction (GEMM's sum over K, norms, softmax sums,
 * attention) runs in a fixed order inside one thread; threads only split
 * outputs. So results are bit-identical for any thread count
 * (docs/ARCHITECTURE.md, Numerics). exp/tanh/erf are evaluated in double and rounded.
 */
#include "ops.h"
#include "platform.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef T2V_OPENBLAS
#include <cblas.h>
#endif


/* ===========================================================================
 * GEMM, built-in: BLIS-style blocking. op(B) is packed in KC x NC blocks into
 * NR-wide column panels, op(A) in MC x KC blocks into MR-tall row panels; a
 * register-blocked MR x NR micro-kernel does the arithmetic. Every element
 * of C is one sum over K, in KC chunks in increasing order and each chunk in
 * increasing k (a product rounded, then added), whatever the thread count
 * and whichever micro-kernel runs: all of them give the same bits. */
#define GEMM_MR 6
#define GEMM_NR_MAX 32
#define GEMM_MC 96   /* multiple of MR */
#define GEMM_KC 256
#define GEMM_NC 1024 /* multiple of every NR */
#define GEMM_JCHUNK 256 /* most columns per parallel task, 2^k times every NR */
/* gemm_tile_grid (OpenBLAS build) */
#define GEMM_TILE_MAC 250.0
#define GEMM_TILE_MIN_MAC 4e6

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* acc[MR][nr] = sum_k a[k][0..MR) (x) b[k][0..nr), k increasing. */
typedef void (*MicroKernel)(int kc, const float *a, const float *b, float *acc);
typedef struct {
    int nr;
    MicroKernel run;
} GemmKernel;

#if defined(__GNUC__)
/* GCC/clang vector extensions (not intrinsics): the accumulators are named
 * vector variables, so they stay in registers on any target. */
typedef float v4f __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));

/* row i of the tile: c_i += a[p][i] * b[p][:] (vector times scalar) */
#define MK_ROW(i)                          \
    do {                                   \
        float ai = a[p * GEMM_MR + (i)];   \
        c##i##0 += b0 * ai;                \
        c##i##1 += b1 * ai;                \
    } while (0)

/* 6 x 8 in 4-wide vectors: 12 accumulators, fits 16 SSE/NEON registers. */
static void micro_6x8(int kc, const float *a, const float *b, float *acc) {
    v4f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    v4f c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int p = 0; p < kc; p++) {
        v4f b0, b1;
        memcpy(&b0, b + p * 8, sizeof b0);
        memcpy(&b1, b + p * 8 + 4, sizeof b1);
        MK_ROW(0); MK_ROW(1); MK_ROW(2);
        MK_ROW(3); MK_ROW(4); MK_ROW(5);
    }
    v4f out[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    memcpy(acc, out, sizeof out);
}

#if defined(__x86_64__) || defined(__i386__)
#define T2V_HAVE_AVX2_KERNEL 1
/* 6 x 16 in 8-wide AVX2 vectors (separate mul and add: no FMA, so the same
 * bits as micro_6x8). Chosen at run time when the CPU has AVX2. */
__attribute__((target("avx2"))) static void micro_6x16_avx2(int kc, const float *a,
                                                            const float *b, float *acc) {
    v8f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    v8f c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int p = 0; p < kc; p++) {
        v8f b0, b1;
        memcpy(&b0, b + p * 16, sizeof b0);
        memcpy(&b1, b + p * 16 + 8, sizeof b1);
        MK_ROW(0); MK_ROW(1); MK_ROW(2);
        MK_ROW(3); MK_ROW(4); MK_ROW(5);
    }
    v8f out[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    memcpy(acc, out, sizeof out);
}

#if defined(T2V_OPENBLAS)
#include <immintrin.h>
#define T2V_HAVE_FMA_KERNEL 1
/* 6 x 16 with fused multiply-adds (AVX2 + FMA): twice the arithmetic rate
 * of micro_6x16_avx2, other bits (one rounding per multiply-add). Only the
 * OpenBLAS build's attention and small-M linears use it (fast_kernel): that
 * build already gives OpenBLAS's bits, while BLAS=none keeps one set of bits
 * on every platform. */
#define FMA_ROW(i)                                                  \
    do {                                                            \
        __m256 ai = _mm256_broadcast_ss(a + p * GEMM_MR + (i));     \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                 \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                 \
    } while (0)
__attribute__((target("avx2,fma"))) static void micro_6x16_fma(int kc, const float *a,
                                                                const float *b, float *acc) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b + p * 16), b1 = _mm256_loadu_ps(b + p * 16 + 8);
        FMA_ROW(0); FMA_ROW(1); FMA_ROW(2);
        FMA_ROW(3); FMA_ROW(4); FMA_ROW(5);
    }
    __m256 out[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int i = 0; i < 12; i++) _mm256_storeu_ps(acc + 8 * i, out[i]);
}

/* 6 x 32 in 16-wide AVX-512 vectors, fused multiply-adds (same role). */
#define FMA512_ROW(i)                                               \
    do {                                                            \
        __m512 ai = _mm512_set1_ps(a[p * GEMM_MR + (i)]);           \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                 \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                 \
    } while (0)
__attribute__((target("avx512f"))) static void micro_6x32_avx512(int kc, const float *a,
                                                                  const float *b, float *acc) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b + p * 32), b1 = _mm512_loadu_ps(b + p * 32 + 16);
        FMA512_ROW(0); FMA512_ROW(1); FMA512_ROW(2);
        FMA512_ROW(3); FMA512_ROW(4); FMA512_ROW(5);
    }
    __m512 out[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int i = 0; i < 12; i++) _mm512_storeu_ps(acc + 16 * i, out[i]);
}
#endif
#endif

#else
/* Plain C for other compilers. */
static void micro_6x8(int kc, const float *a, const float *b, float *acc) {
    float c[GEMM_MR * 8] = {0};
    for (int p = 0; p < kc; p++)
        for (int i = 0; i < GEMM_MR; i++)
            for (int j = 0; j < 8; j++) c[i * 8 + j] += a[p * GEMM_MR + i] * b[p * 8 + j];
    memcpy(acc, c, sizeof c);
}
#endif

#ifdef T2V_HAVE_AVX2_KERNEL
/* T2V_GEMM_GENERIC=1 in the environment: the portable kernels and loops
 * only (for tests). */
static int generic_forced(void) {
    const char *e = getenv("T2V_GEMM_GENERIC");
    return e && e[0] == '1';
}
#endif

/* The widest micro-kernel this CPU runs (the portable one if generic_forced). */
static GemmKernel gemm_kernel(void) {
    GemmKernel k = {8, micro_6x8};
#ifdef T2V_HAVE_AVX2_KERNEL
    if (__builtin_cpu_supports("avx2") && !generic_forced()) {
        k.nr = 16;
        k.run = micro_6x16_avx2;
    }
#endif
    return k;
}

/* The micro-kernel of the attention and of linear_fused: in the OpenBLAS
 * build the widest FMA one the CPU has (AVX-512, else AVX2 + FMA; not with
 * T2V_GEMM_GENERIC=1), else gemm_kernel()'s (BLAS=none: the same bits on
 * every platform). */
static GemmKernel fast_kernel(void) {
    GemmKernel k = gemm_kernel();
#ifdef T2V_HAVE_FMA_KERNEL
    if (k.nr == 16 && __builtin_cpu_supports("avx512f")) {
        k.nr = 32;
        k.run = micro_6x32_avx512;
    } else if (k.nr == 16 && __builtin_cpu_supports("fma")) {
        k.run = micro_6x16_fma;
    }
#endif
    return k;
}

/* Ap[panel][k][MR] <- op(A)[i0.., p0..], zero-padded to whole panels. */
static void pack_A(float *Ap, int transA, const float *A, int lda, int i0, int mc, int p0,
                   int kc) {
    for (int ir = 0; ir < mc; ir += GEMM_MR) {
        int mr = imin(GEMM_MR, mc - ir);
        float *dst = Ap + (size_t)ir * kc;
        for (int p = 0; p < kc; p++) {
            for (int i = 0; i < mr; i++) {
                size_t r = (size_t)(i0 + ir + i), c = (size_t)(p0 + p);
                dst[p * GEMM_MR + i] = transA ? A[c * lda + r] : A[r * lda + c];
            }
            for (int i = mr; i < GEMM_MR; i++) dst[p * GEMM_MR + i] = 0.0f;
        }
    }
}

/* Bp[panel][k][NR] <- op(B)[p0.., j0..], zero-padded to whole panels.
 * Panels [jp0, jp1) of the block only (so threads can share the work). */
static void pack_B(float *Bp, int NR, int transB, const float *B, int ldb, int p0, int kc, int j0,
                   int nc, int jp0, int jp1) {
    for (int jp = jp0; jp < jp1; jp++) {
        int jr = jp * NR, nr = imin(NR, nc - jr);
        float *dst = Bp + (size_t)jr * kc;
        if (!transB) {
            for (int p = 0; p < kc; p++) {
                const float *src = B + (size_t)(p0 + p) * ldb + j0 + jr;
                for (int j = 0; j < nr; j++) dst[p * NR + j] = src[j];
            }
        } else { /* read rows of B contiguously */
            for (int j = 0; j < nr; j++) {
                const float *src = B + (size_t)(j0 + jr + j) * ldb + p0;
                for (int p = 0; p < kc; p++) dst[p * NR + j] = src[p];
            }
        }
        for (int p = 0; p < kc; p++)
            for (int j = nr; j < NR; j++) dst[p * NR + j] = 0.0f;
    }
}

/* C[mc, nc] (first K chunk: = alpha*AB + beta*C, later: += alpha*AB) over
 * packed panels. */
static void macro_kernel(const GemmKernel *gk, int mc, int nc, int kc, const float *Ap,
                         const float *Bp, float alpha, float beta, int first, float *C, int ldc) {
    float acc[GEMM_MR * GEMM_NR_MAX];
    int NR = gk->nr;
    for (int jr = 0; jr < nc; jr += NR) {
        int nr = imin(NR, nc - jr);
        for (int ir = 0; ir < mc; ir += GEMM_MR) {
            int mr = imin(GEMM_MR, mc - ir);
            gk->run(kc, Ap + (size_t)ir * kc, Bp + (size_t)jr * kc, acc);
            for (int i = 0; i < mr; i++) {
                float *c = C + (size_t)(ir + i) * ldc + jr;
                const float *s = acc + i * NR;
                if (!first)
                    for (int j = 0; j < nr; j++) c[j] += alpha * s[j];
                else if (beta == 0.0f)
                    for (int j = 0; j < nr; j++) c[j] = alpha * s[j];
                else
                    for (int j = 0; j < nr; j++) c[j] = alpha * s[j] + beta * c[j];
            }
        }
    }
}

/* C = beta*C (beta == 0 writes zeros without reading C). */
static void scale_C(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
}

/* Columns per task in gemm_builtin: GEMM_JCHUNK, halved (to 2 NR at
 * least) while one block's tasks would leave a thread without two of them:
 * 16 to 64 threads get work on the DiT's 17 row blocks, and the text
 * encoder's single one. An element's sum is the same whoever computes it,
 * so this thread-dependent split does not change a bit. */
static int gemm_jchunk(int n_ic, int nc, int nt, int nr) {
    int j = GEMM_JCHUNK;
    while (j > 2 * nr && (int64_t)n_ic * ((nc + j - 1) / j) < 2 * nt) j /= 2;
    return j;
}

void gemm_builtin(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { scale_C(M, N, beta, C, ldc); return; }
    GemmKernel gk = gemm_kernel();
    int nt = platform_max_threads();
    /* packing buffers: one KC x NC block of op(B), one MC x KC block of op(A)
     * per thread, no bigger than this product needs */
    size_t kc_max = (size_t)imin(K, GEMM_KC);
    size_t a_size = kc_max * (size_t)((imin(M, GEMM_MC) + GEMM_MR - 1) / GEMM_MR * GEMM_MR);
    size_t b_size = kc_max * (size_t)((imin(N, GEMM_NC) + gk.nr - 1) / gk.nr * gk.nr);
    float *Bp = malloc(sizeof(float) * b_size);
    float *Ap = malloc(sizeof(float) * a_size * (size_t)nt);
    if (!Ap || !Bp) { /* out of memory: the slow path still gives the answer */
        free(Ap); free(Bp);
        gemm_naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    double flops = 2.0 * M * N * (double)K;
    int n_ic = (M + GEMM_MC - 1) / GEMM_MC;
#pragma omp parallel if (flops > 2e6 && nt > 1) num_threads(nt)
    {
        float *myAp = Ap + (size_t)platform_thread_id() * a_size;
        for (int jc = 0; jc < N; jc += GEMM_NC) {
            int nc = imin(GEMM_NC, N - jc);
            int n_jp = (nc + gk.nr - 1) / gk.nr;
            int jchunk = gemm_jchunk(n_ic, nc, nt, gk.nr), n_jt = (nc + jchunk - 1) / jchunk;
            for (int pc = 0; pc < K; pc += GEMM_KC) {
                int kc = imin(GEMM_KC, K - pc);
#pragma omp for schedule(static)
                for (int jp = 0; jp < n_jp; jp++)
                    pack_B(Bp, gk.nr, transB, B, ldb, pc, kc, jc, nc, jp, jp + 1);
                /* implicit barrier: Bp is complete */
#pragma omp for schedule(dynamic, 1)
                for (int t = 0; t < n_ic * n_jt; t++) {
                    int ic = (t / n_jt) * GEMM_MC, jt = (t % n_jt) * jchunk;
                    int mc = imin(GEMM_MC, M - ic), ncols = imin(jchunk, nc - jt);
                    pack_A(myAp, transA, A, lda, ic, mc, pc, kc);
                    macro_kernel(&gk, mc, ncols, kc, myAp, Bp + (size_t)jt * kc, alpha, beta,
                                 pc == 0, C + (size_t)ic * ldc + jc + jt, ldc);
                }
                /* implicit barrier before Bp is repacked */
            }
        }
    }
    free(Ap);
    free(Bp);
}

/* The obviously correct triple loop; accumulates in double, then
 * C = alpha*sum + beta*C rounded once to float (beta == 0: C not read). */
void gemm_naive(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int p = 0; p < K; p++) {
                double a = transA ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                double b = transB ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                s += a * b;
            }
            float *c = C + (size_t)i * ldc + j;
            *c = beta == 0.0f ? (float)(alpha * s) : (float)(alpha * s + (double)beta * *c);
        }
}

/* The tile grid of gemm() in the OpenBLAS build: C is cut into rows x cols
 * tiles, one single-threaded cblas call per tile, the tiles spread over the
 * OpenMP threads. OpenBLAS's value for an element depends on the M and N of
 * the call that computes it, not only on K (its micro-kernels take other
 * paths at other tile edges; measured in docs/ARCHITECTURE.md, Threading),
 * so the grid never depends on the thread count: every --threads makes the
 * same calls and gets the same bits. It depends on the shape and on the
 * machine: `procs`, its online processors (gemm_grid_procs).
 *
 * Each call packs its rows of op(A) and its columns of op(B), so r x c tiles
 * pack ((c-1) M + (r-1) N) K floats more than one call would: what a split
 * costs one thread. So the grid has the fewest tiles that keep the machine
 * busy: at most two per processor (one only for a single processor), of
 * gemm_tile_counts (whole rounds for 2, 4, 8, 16, 32 or 64 threads, nearly
 * so for 3, 6, 12, 24, 48), copying at most one extra float per
 * GEMM_TILE_MAC multiply-adds (measured: a few per cent of one thread's time)
 * and leaving each tile GEMM_TILE_MIN_MAC multiply-adds; the most tiles
 * within those bounds, then the least extra packing. DiT 1.3B at 1,560 tokens
 * on 2 processors: q, k, v, o 2 x 2 tiles, ffn.0 (N 8,960) 1 x 4; on 16:
 * 4 x 4 and 2 x 16; on 64, 6,240 tokens: 48 to 64 tiles. */
static const int gemm_tile_counts[] = {64, 48, 32, 24, 16, 12, 8, 6, 4, 3, 2};

/* The largest count of gemm_tile_counts a grid may have: the smallest one
 * >= 2 procs (1 for a single processor). */
static int gemm_tile_cap(int procs) {
    size_t ncounts = sizeof gemm_tile_counts / sizeof gemm_tile_counts[0];
    int cap = procs <= 1 ? 1 : gemm_tile_counts[0];
    for (size_t i = 0; i < ncounts && procs > 1; i++)
        if (gemm_tile_counts[i] >= 2 * procs) cap = gemm_tile_counts[i];
    return cap;
}

/* With a row granule G (T2V_GEMM_ROWS, docs/SCALING.md, What is split): row
 * tiles of exactly G rows from row 0, the last one partial, and a column
 * cut from (N, K, procs) alone: the most columns up to a quarter of the
 * tile cap (the row tiles supply the rest of the parallelism) that pack at
 * most one extra float per 2 GEMM_TILE_MAC multiply-adds and leave a G-row
 * tile GEMM_TILE_MIN_MAC. So rows [a, b) of C with a a multiple of G (b one
 * too, or M) get the same OpenBLAS calls whatever else the call computes:
 * a process computing only those rows gets the bits of one computing all. */
static GemmGrid gemm_granule_grid(int M, int N, int K, int procs, int G) {
    size_t ncounts = sizeof gemm_tile_counts / sizeof gemm_tile_counts[0];
    int cap = gemm_tile_cap(procs) / 4;
    GemmGrid g = {(M + G - 1) / G, 1, G, N};
    for (size_t i = 0; i < ncounts; i++) {
        int c = gemm_tile_counts[i];
        if (c > cap || c > N || (double)(c - 1) / N * 2.0 * GEMM_TILE_MAC > 1.0 ||
            (double)G * N * K < (double)c * GEMM_TILE_MIN_MAC)
            continue;
        g.cols = c;
        break;
    }
    g.tn = (N + g.cols - 1) / g.cols;
    return g;
}

GemmGrid gemm_tile_grid(int M, int N, int K, int procs, int granule) {
    if (granule > 0) return gemm_granule_grid(M, N, K, procs, granule);
    size_t ncounts = sizeof gemm_tile_counts / sizeof gemm_tile_counts[0];
    int cap = gemm_tile_cap(procs), rows = 1, cols = 1;
    for (size_t i = 0; i < ncounts; i++) {
        int T = gemm_tile_counts[i];
        double best = -1.0;
        if (T > cap) continue;
        for (int r = 1; r <= imin(T, M); r++) { /* r x T/r tiles */
            int c = T / r;
            double extra = (double)(c - 1) / N + (double)(r - 1) / M; /* floats per multiply-add */
            if (r * c != T || c > N || extra * GEMM_TILE_MAC > 1.0 || (best >= 0 && extra >= best)) continue;
            if ((double)M * N * K < (double)T * GEMM_TILE_MIN_MAC) break; /* too little work for T calls */
            best = extra;
            rows = r;
            cols = c;
        }
        if (best >= 0) break;
    }
    GemmGrid g = {rows, cols, (M + rows - 1) / rows, (N + cols - 1) / cols};
    return g;
}

/* T2V_GEMM_ROWS (1..2^20): the row granule of the OpenBLAS grid; 0 when
 * unset or out of range (the grid of gemm_tile_grid's first rule). */
int gemm_grid_granule(void) {
    const char *e = getenv("T2V_GEMM_ROWS");
    long n = e && e[0] ? atol(e) : 0;
    return n >= 1 && n <= (1L << 20) ? (int)n : 0;
}

int gemm_row_granule(void) {
#ifdef T2V_OPENBLAS
    return gemm_grid_granule();
#else
    return 1;
#endif
}

/* The processors gemm()'s grid is cut for: T2V_GEMM_PROCS (1..1024) when
 * set, to reproduce another machine's OpenBLAS bits or to test the grids of
 * a larger one; else the machine's online processors: not the process's
 * affinity, so MPI ranks pinned to cores cut the grids one process does. */
int gemm_grid_procs(void) {
    const char *e = getenv("T2V_GEMM_PROCS");
    int n = e && e[0] ? atoi(e) : 0;
    return n >= 1 && n <= 1024 ? n : platform_online_processors();
}

#ifdef T2V_OPENBLAS
/* C[M,N] = alpha op(A) op(B) + beta C, row-major, as one single-threaded
 * OpenBLAS call. Made in column-major form (C^T = op(B)^T op(A)^T), the form
 * OpenBLAS converts a row-major call to: the same arithmetic, minus the
 * row-major-only shortcut some builds take for small products (its "direct"
 * AVX-512 kernel, chosen by size and CPU, not by the core type). */
static void sgemm_call(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasColMajor, transB ? CblasTrans : CblasNoTrans, transA ? CblasTrans : CblasNoTrans, N, M, K,
                alpha, B, ldb, A, lda, beta, C, ldc);
}

static void gemm_openblas_tiled(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                                int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    GemmGrid g = gemm_tile_grid(M, N, K, gemm_grid_procs(), gemm_grid_granule());
    int rows = g.rows, cols = g.cols, tm = g.tm, tn = g.tn;
    #pragma omp parallel for schedule(dynamic, 1) if (rows * cols > 1)
    for (int t = 0; t < rows * cols; t++) {
        /* C[i.., j..] from rows i.. of op(A), columns j.. of op(B); never empty:
         * r tiles only where M >= 250 (r - 1), so (r - 1) ceil(M / r) < M, or
         * r = ceil(M / G) tiles of G; c columns only where N >= 250 (c - 1) */
        int i = t / cols * tm, j = t % cols * tn;
        int m = M - i < tm ? M - i : tm, n = N - j < tn ? N - j : tn;
        sgemm_call(transA, transB, m, n, K, alpha, transA ? A + i : A + (size_t)i * lda, lda,
                   transB ? B + (size_t)j * ldb : B + j, ldb, beta, C + (size_t)i * ldc + j, ldc);
    }
}
#endif

void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc) {
#ifdef T2V_OPENBLAS
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { scale_C(M, N, beta, C, ldc); return; }
    gemm_openblas_tiled(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    gemm_builtin(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

const char *gemm_backend(void) {
#ifdef T2V_OPENBLAS
    return "openblas";
#else
    return "builtin";
#endif
}

/* Whether tensor_f32 must widen W into scratch (not F32, big-endian host, or
 * F32 data not 4-byte aligned in its file). */
int needs_widening(const Tensor *W) {
    return W->dtype != DT_F32 || W->scale != 0.0f || W->delta || !host_is_little_endian() || (uintptr_t)W->data % 4 != 0;
}

/* dst[i, 0..n) <- rows r0.. of W[., K] from column p0, widened to fp32.
 * BF16 (the checkpoints' dtype) is an inline 16-bit shift; other dtypes
 * go through widen_to_f32. Exact, so any split gives the same values.
 * A quantized W (GGUF) is decoded here, block by block, into the tile that
 * uses it: its rows are whole blocks (gguf.c checks K), and every caller's
 * p0 is a multiple of GEMM_KC or MV_KB (both 256, a multiple of every block)
 * with n reaching K or a multiple of 256, so [p0, p0 + n) is whole blocks. */
static void widen_rows(float *dst, int ldd, const Tensor *W, int K, int r0, int nrows, int p0, int n) {
    const unsigned char *base = (const unsigned char *)W->data;
    for (int i = 0; i < nrows; i++) {
        const unsigned char *s = base + dtype_nbytes(W->dtype, (int64_t)(r0 + i) * K + p0);
        float *d = dst + (size_t)i * ldd;
        if (W->dtype == DT_BF16) {
#pragma omp simd /* d and s never overlap */
            for (int p = 0; p < n; p++) {
                uint32_t u = ((uint32_t)s[2 * p] | (uint32_t)s[2 * p + 1] << 8) << 16;
                memcpy(d + p, &u, sizeof u);
            }
        } else {
            widen_to_f32(d, s, W->dtype, n);
        }
        if (W->scale != 0.0f) /* a scaled fp8 weight: w = value x scale (tensor.h) */
            for (int p = 0; p < n; p++) d[p] *= W->scale;
    }
}

/* The whole of W[N, K] widened into scratch, rows split over threads. */
static void widen_parallel(float *scratch, const Tensor *W, int N, int K) {
#pragma omp parallel for schedule(static) if ((int64_t)N * K > 65536)
    for (int r = 0; r < N; r += 64)
        widen_rows(scratch + (size_t)r * K, K, W, K, r, imin(64, N - r), 0, K);
}

const float *weight_f32(const Tensor *W, float *scratch) {
    if (!needs_widening(W)) return (const float *)W->data;
    int64_t n = tensor_numel(W), rows = W->ndim > 1 ? W->shape[0] : 1;
    if (n > 0) widen_parallel(scratch, W, (int)rows, (int)(n / rows));
    if (n > 0 && W->delta) /* LoRA merged at widening: W += up @ down (tensor.h LowRank) */
        gemm(0, 0, (int)rows, (int)(n / rows), W->delta->rank, 1.0f, W->delta->up, W->delta->rank,
             W->delta->down, (int)(n / rows), 1.0f, scratch, (int)(n / rows));
    return scratch;
}

#define LIN_JB 128 /* output columns per fused task, multiple of every NR */

/* Few input rows (M <= GEMM_MC, the text encoder's L tokens) and a weight
 * that needs widening: widening fused with packing. W is widened one
 * LIN_JB x KC tile at a time, in the thread's cache, straight into the
 * GEMM's packed panels, instead of into an N x K fp32 copy that the GEMM
 * would then read again: W is read once, in its file dtype, and the input
 * rows are packed once (a cblas call per tile would pack them again each
 * time). Threads split the output columns; each output is one sum in
 * gemm_builtin's order on fast_kernel() (BLAS=none: the same bits as
 * gemm_builtin), whatever the thread count. */
static int linear_fused(float *out, const float *inp, const Tensor *W, int M, int N, int K) {
    GemmKernel gk = fast_kernel();
    int nt = platform_max_threads(), Mp = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    int kc_max = imin(K, GEMM_KC), ntask = (N + LIN_JB - 1) / LIN_JB, nchunk = (K + GEMM_KC - 1) / GEMM_KC;
    size_t per = 2 * (size_t)LIN_JB * kc_max; /* widened tile + packed panels */
    float *Ap = malloc(sizeof(float) * (size_t)Mp * K);
    float *buf = malloc(sizeof(float) * per * (size_t)nt);
    if (!Ap || !buf) { free(Ap); free(buf); return -1; }
#pragma omp parallel num_threads(nt) if ((int64_t)M * N * K > 1000000 && nt > 1)
    {
#pragma omp for schedule(static)
        for (int c = 0; c < nchunk; c++) {
            int pc = c * GEMM_KC;
            pack_A(Ap + (size_t)pc * Mp, 0, inp, K, 0, M, pc, imin(GEMM_KC, K - pc));
        }
        float *tile = buf + per * (size_t)platform_thread_id(), *Bp = tile + (size_t)LIN_JB * kc_max;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < ntask; t++) {
            int j0 = t * LIN_JB, nb = imin(LIN_JB, N - j0);
            for (int pc = 0; pc < K; pc += GEMM_KC) {
                int kc = imin(GEMM_KC, K - pc);
                widen_rows(tile, kc, W, K, j0, nb, pc, kc);
                pack_B(Bp, gk.nr, 1, tile, kc, 0, kc, 0, nb, 0, (nb + gk.nr - 1) / gk.nr);
                macro_kernel(&gk, M, nb, kc, Ap + (size_t)pc * Mp, Bp, 1.0f, 0.0f, pc == 0, out + j0, N);
            }
        }
    }
    free(Ap);
    free(buf);
    return 0;
}

/* out[M,N] += b[N] (b NULL: nothing). */
static void bias_add(float *out, const float *b, int M, int N) {
    if (!b) return;
#pragma omp parallel for schedule(static) if ((int64_t)M * N > 65536)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) out[(size_t)i * N + j] += b[j];
}

void linear_f32_forward(float *out, const float *inp, const float *w, const float *b, int M, int N,
                        int K) {
    if (M <= 0 || N <= 0) return;
    gemm(0, 1, M, N, K, 1.0f, inp, K, w, K, 0.0f, out, N);
    bias_add(out, b, M, N);
}

/* A NULL wscratch where widening is needed is replaced by a temporary. */
void linear_gemm_forward(float *out, const float *inp, const Tensor *W, const float *b, int M,
                         float *wscratch) {
    int N = (int)W->shape[0], K = N > 0 ? (int)(tensor_numel(W) / N) : 0;
    float *tmp = NULL;
    if (M <= 0 || N <= 0) return;
    if (needs_widening(W) && !wscratch) {
        tmp = malloc(sizeof(float) * (size_t)N * K);
        if (!tmp) { /* out of memory: NaN rather than garbage */
            for (size_t i = 0; i < (size_t)M * N; i++) out[i] = NAN;
            return;
        }
        wscratch = tmp;
    }
    linear_f32_forward(out, inp, weight_f32(W, wscratch), b, M, N, K);
    free(tmp);
}

/* PyTorch Linear: out[M,N] = inp[M,K] W[N,K]^T + b[N]. The fused path is
 * chosen by dtype, not by needs_widening: an F32 weight that only needs a
 * copy (misaligned, big-endian) takes the GEMM path as an aligned one does. */
void linear_forward(float *out, const float *inp, const Tensor *W, const float *b, int M,
                    float *wscratch) {
    int N = (int)W->shape[0], K = (int)W->shape[1];
    if (M <= 0 || N <= 0) return;
    if (W->dtype != DT_F32 && !W->delta && M <= GEMM_MC && K > 0 && linear_fused(out, inp, W, M, N, K) == 0) {
        bias_add(out, b, M, N);
        return;
    }
    linear_gemm_forward(out, inp, W, b, M, wscratch);
}

/* out[m, :] += up @ (down @ x[m, :]) for each of the M vectors: a LoRA delta
 * beside a matrix-vector product (rank-sized sums, fixed order). */
static void matvec_lowrank(float *out, const LowRank *d, const float *x, int M, int N, int K) {
    float t[512];
    for (int m = 0; m < M; m++) {
        for (int r0 = 0; r0 < d->rank; r0 += 512) {
            int rb = imin(512, d->rank - r0);
            for (int j = 0; j < rb; j++) {
                const float *dr = d->down + (size_t)(r0 + j) * K, *xm = x + (size_t)m * K;
                float a = 0.0f;
                for (int k = 0; k < K; k++) a += dr[k] * xm[k];
                t[j] = a;
            }
            for (int n = 0; n < N; n++) {
                const float *u = d->up + (size_t)n * d->rank + r0;
                float a = 0.0f;
                for (int j = 0; j < rb; j++) a += u[j] * t[j];
                out[(size_t)m * N + n] += a;
            }
        }
    }
}

/* Vectors per pass over W, and columns of W widened at a time. */
#define MV_VB 8
#define MV_KB 256
/* widen_rows decodes whole quantized blocks (of at most 256 elements). */
typedef char t2v_chunks_are_whole_blocks[GEMM_KC % 256 == 0 && MV_KB % 256 == 0 ? 1 : -1];

void matvec_forward(float *out, const Tensor *W, const float *x, const float *b, int M) {
    int N = (int)W->shape[0], K = N > 0 ? (int)(tensor_numel(W) / N) : 0;
    int direct = !needs_widening(W);
    for (int m0 = 0; m0 < M; m0 += MV_VB) {
        int mb = imin(MV_VB, M - m0);
#pragma omp parallel for schedule(static) if ((int64_t)N * K * mb > 65536)
        for (int n = 0; n < N; n++) {
            float acc[MV_VB] = {0}, wbuf[MV_KB];
            for (int k0 = 0; k0 < K; k0 += MV_KB) {
                int kb = imin(MV_KB, K - k0);
                const float *w = wbuf;
                if (direct) w = (const float *)W->data + (size_t)n * K + k0;
                else widen_rows(wbuf, kb, W, K, n, 1, k0, kb);
                for (int v = 0; v < mb; v++) {
                    const float *xv = x + (size_t)(m0 + v) * K + k0;
                    float a = acc[v];
                    for (int k = 0; k < kb; k++) a += w[k] * xv[k];
                    acc[v] = a;
                }
            }
            for (int v = 0; v < mb; v++) out[(size_t)(m0 + v) * N + n] = acc[v] + (b ? b[n] : 0.0f);
        }
    }
    if (W->delta) matvec_lowrank(out, W->delta, x, M, N, K);
}

/* ===========================================================================
 * adaLN modulation and the gated residual (docs/MODEL.md 2.3). */
void modulate_inplace(float *x, const float *shift, const float *scale, int ld, const int *row, int N,
                      int D) {
#pragma omp parallel for schedule(static) if ((int64_t)N * D > 65536)
    for (int i = 0; i < N; i++) {
        float *r = x + (size_t)i * D;
        size_t o = row ? (size_t)row[i] * ld : 0;
        const float *sh = shift + o, *sc = scale + o;
        for (int j = 0; j < D; j++) r[j] = r[j] * (1.0f + sc[j]) + sh[j];
    }
}

void residual_inplace(float *x, const float *y, const float *gate, int ld, const int *row, int N,
                      int D) {
#pragma omp parallel for schedule(static) if ((int64_t)N * D > 65536)
    for (int i = 0; i < N; i++) {
        float *r = x + (size_t)i * D;
        const float *u = y + (size_t)i * D;
        if (gate) {
            const float *g = gate + (row ? (size_t)row[i] * ld : 0);
            for (int j = 0; j < D; j++) r[j] += u[j] * g[j];
        } else {
            for (int j = 0; j < D; j++) r[j] += u[j];
        }
    }
}

/* ===========================================================================
 * Norms over the last dimension; statistics in double, fixed order.
 * LayerNorm: biased variance, PyTorch semantics (docs/MODEL.md 2.3);
 * RMSNorm: x / sqrt(mean(x^2) + eps) * weight (docs/MODEL.md 2.4). */
void layernorm_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((int64_t)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < C; c++) mean += x[c];
        mean /= C;
        for (int c = 0; c < C; c++) { double d = x[c] - mean; var += d * d; }
        var /= C;
        double rstd = 1.0 / sqrt(var + (double)eps);
        for (int c = 0; c < C; c++) {
            float v = (float)((x[c] - mean) * rstd);
            if (weight) v *= weight[c];
            if (bias) v += bias[c];
            y[c] = v;
        }
    }
}

void rmsnorm_forward(float *out, const float *inp, const float *weight, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((int64_t)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double ms = 0.0;
        for (int c = 0; c < C; c++) ms += (double)x[c] * x[c];
        double r = 1.0 / sqrt(ms / C + (double)eps);
        for (int c = 0; c < C; c++) {
            float v = (float)(x[c] * r);
            y[c] = weight ? v * weight[c] : v;
        }
    }
}

/* ===========================================================================
 * Activations: the transcendental part in double, rounded once.
 *
 * e^x is the project's own, in double, from + - * alone (no libm, no table):
 * e^x = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 (|r| <= ln2/2, ln 2
 * split in a head whose products with k are exact and a tail), e^r by its
 * Taylor polynomial of degree 11 (remainder < 6.3e-15 relative), 2^k built in
 * the exponent bits. So it gives the same bits on every IEEE platform, and
 * loops over it vectorise (glibc's exp is one scalar call per element: 38 M
 * of them per DiT block at 1,560 tokens). Rounded to float it equals
 * (float)exp((double)x) except within ~1e-14 of a rounding boundary
 * (tests/test_ops.c counts the differences over 2^20 inputs). */
static inline double exp_poly(double x) {
    const double shift = 0x1.8p52, log2e = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    x = x < -708.0 ? -708.0 : x; /* e^-708 ~ 3e-308, still a normal double */
    x = x > 709.0 ? 709.0 : x;   /* (NaN passes both) */
    double t = x * log2e + shift; /* k + 1.5 * 2^52: k in the low mantissa bits */
    double kd = t - shift;
    uint64_t ki;
    memcpy(&ki, &t, sizeof ki);
    double r = (x - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 39916800;
    p = p * r + 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
    p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040;
    p = p * r + 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t sb = (ki + 1023) << 52; /* the biased exponent of 2^k */
    double s;
    memcpy(&s, &sb, sizeof s);
    return p * s;
}

float t2v_expf(float x) { return (float)exp_poly((double)x); }
float t2v_tanhf(float x) { return (float)tanh((double)x); }

/* The element-wise loops over exp_poly, stamped out three times on x86
 * (baseline, AVX2, AVX-512, chosen at run time as the GEMM micro-kernel is):
 * the same IEEE double operations in the same order, so the same bits every
 * way; AVX2 runs them 4 wide (2.5-4x faster than the baseline build,
 * measured), AVX-512 8 wide.
 *   exp_shifted: x[i] = e^(x[i] - sub)
 *   gelu_tanh:   0.5 v (1 + tanh(u)) = v / (1 + e^(-2u)), u = sqrt(2/pi)(v +
 *                0.044715 v^3): one exp instead of tanh's, in double, rounded once
 *   silu:        v / (1 + e^-v) in double, rounded once */
#define ELEMENTWISE_LOOPS(SFX, ATTR)                                                          \
    ATTR static void exp_shifted_##SFX(float *x, int n, float sub) {                        \
        _Pragma("omp simd") for (int i = 0; i < n; i++)                                      \
            x[i] = (float)exp_poly((double)(x[i] - sub));                                    \
    }                                                                                        \
    ATTR static void gelu_tanh_##SFX(float *x, int n) {                                     \
        const double k = 0.7978845608028654; /* sqrt(2/pi) */                               \
        _Pragma("omp simd") for (int i = 0; i < n; i++) {                                    \
            double v = x[i];                                                                 \
            x[i] = (float)(v / (1.0 + exp_poly(-2.0 * k * (v + 0.044715 * v * v * v))));     \
        }                                                                                    \
    }                                                                                        \
    ATTR static void silu_##SFX(float *x, int n) {                                          \
        _Pragma("omp simd") for (int i = 0; i < n; i++) {                                    \
            double v = x[i];                                                                 \
            x[i] = (float)(v / (1.0 + exp_poly(-v)));                                        \
        }                                                                                    \
    }
ELEMENTWISE_LOOPS(base, )
#ifdef T2V_HAVE_AVX2_KERNEL
ELEMENTWISE_LOOPS(avx2, __attribute__((target("avx2"))))
#if defined(__clang__) /* clang's target attribute has no vector-width option */
ELEMENTWISE_LOOPS(avx512, __attribute__((target("avx512f"))))
#else /* GCC would use 256-bit vectors without it */
ELEMENTWISE_LOOPS(avx512, __attribute__((target("avx512f,prefer-vector-width=512"))))
#endif
#endif

typedef struct {
    void (*exp_shifted)(float *x, int n, float sub);
    void (*gelu_tanh)(float *x, int n);
    void (*silu)(float *x, int n);
} VecKernels;

/* The widest loops the CPU runs (T2V_GEMM_GENERIC=1: the baseline). */
static VecKernels vec_kernels(void) {
    VecKernels v = {exp_shifted_base, gelu_tanh_base, silu_base};
#ifdef T2V_HAVE_AVX2_KERNEL
    if (generic_forced()) return v;
    if (__builtin_cpu_supports("avx512f")) {
        VecKernels a = {exp_shifted_avx512, gelu_tanh_avx512, silu_avx512};
        v = a;
    } else if (__builtin_cpu_supports("avx2")) {
        VecKernels a = {exp_shifted_avx2, gelu_tanh_avx2, silu_avx2};
        v = a;
    }
#endif
    return v;
}

/* f over x[0, n) in chunks spread over the threads (each element alone, so
 * the chunking does not change a bit). */
#define VEC_CHUNK 4096
static void vec_apply(void (*f)(float *, int), float *x, int64_t n) {
    int64_t chunks = (n + VEC_CHUNK - 1) / VEC_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 4)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t i0 = c * VEC_CHUNK;
        f(x + i0, (int)(n - i0 < VEC_CHUNK ? n - i0 : VEC_CHUNK));
    }
}

void exp_shifted_inplace(float *x, int n, float sub) { vec_kernels().exp_shifted(x, n, sub); }

/* GELU, tanh approximation (docs/MODEL.md 2.2 (d), the DiT text embedding and FFN). */
void gelu_tanh_inplace(float *x, int64_t n) { vec_apply(vec_kernels().gelu_tanh, x, n); }

void gelu_erf_inplace(float *x, int64_t n) {
    const double r = 0.7071067811865476; /* 1/sqrt(2) */
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + erf(v * r)));
    }
}

void silu_inplace(float *x, int64_t n) { vec_apply(vec_kernels().silu, x, n); }

void softmax_inplace(float *x, int N, int C) {
    void (*exp_shifted)(float *, int, float) = vec_kernels().exp_shifted;
#pragma omp parallel for schedule(static) if ((int64_t)N * C > 32768)
    for (int n = 0; n < N; n++) {
        float *r = x + (size_t)n * C;
        float mx = -INFINITY;
        for (int c = 0; c < C; c++) mx = r[c] > mx ? r[c] : mx;
        double sum = 0.0;
        exp_shifted(r, C, mx);
        for (int c = 0; c < C; c++) sum += r[c];
        for (int c = 0; c < C; c++) r[c] = (float)(r[c] / sum);
    }
}

/* ===========================================================================
 * RoPE, interleaved pairs (docs/MODEL.md 2.5), rotated in double as the official
 * code does (it multiplies complex float64 numbers). */
void rope_apply(float *x, int N, int H, int d, int ld, const float *cos_t, const float *sin_t) {
    int half = d / 2;
#pragma omp parallel for schedule(static) if ((int64_t)N * H * d > 65536)
    for (int n = 0; n < N; n++) {
        const float *cs = cos_t + (size_t)n * half, *sn = sin_t + (size_t)n * half;
        for (int h = 0; h < H; h++) {
            float *u = x + (size_t)n * ld + (size_t)h * d;
            for (int j = 0; j < half; j++) {
                double x0 = u[2 * j], x1 = u[2 * j + 1], c = cs[j], s = sn[j];
                u[2 * j] = (float)(x0 * c - x1 * s);
                u[2 * j + 1] = (float)(x0 * s + x1 * c);
            }
        }
    }
}

/* ===========================================================================
 * Attention, blocked with an online softmax (flash-attention style). One
 * thread owns a (head, query block) pair and walks the key blocks in order:
 *   S = scale Q K^T (+ bias); m' = max(m, rowmax S); P = exp(S - m');
 *   l = l e^(m-m') + rowsum P;  O = O e^(m-m') + P V;   out = O / l.
 * K^T and V are packed once per call into the GEMM's panel layout (a copy of
 * K and V, O(Nk·H·d)), so the query-block tasks only pack Q and P. */
#define ATT_QB 48  /* most query rows per task (multiple of GEMM_MR) */
#define ATT_KB 256 /* keys per block (<= GEMM_KC: P V is one K chunk) */

/* C[M,N] = alpha * A B + beta * C from packed operands (M <= GEMM_MC): Ap
 * holds op(A) in K chunks of GEMM_KC, each round_up(M, MR) * kc floats; Bp
 * op(B) likewise, each kc * round_up(N, NR). Same arithmetic as gemm_builtin. */
static void gemm_packed(const GemmKernel *gk, int M, int N, int K, float alpha, const float *Ap,
                        const float *Bp, float beta, float *C, int ldc) {
    int Mp = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR, Np = (N + gk->nr - 1) / gk->nr * gk->nr;
    for (int pc = 0; pc < K; pc += GEMM_KC) {
        int kc = imin(GEMM_KC, K - pc);
        macro_kernel(gk, M, N, kc, Ap + (size_t)pc * Mp, Bp + (size_t)pc * Np, alpha, beta,
                     pc == 0, C, ldc);
    }
}

/* op(A) rows [0, M) of A[M, K] packed in K chunks (layout of gemm_packed). */
static void pack_A_chunks(float *Ap, const float *A, int lda, int M, int K) {
    int Mp = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    for (int pc = 0; pc < K; pc += GEMM_KC)
        pack_A(Ap + (size_t)pc * Mp, 0, A, lda, 0, M, pc, imin(GEMM_KC, K - pc));
}

/* op(B)[K, N] packed in K chunks (layout of gemm_packed). */
static void pack_B_chunks(float *Bp, int NR, int transB, const float *B, int ldb, int K, int N) {
    int Np = (N + NR - 1) / NR * NR;
    for (int pc = 0; pc < K; pc += GEMM_KC)
        pack_B(Bp + (size_t)pc * Np, NR, transB, B, ldb, pc, imin(GEMM_KC, K - pc), 0, N, 0,
               Np / NR);
}

typedef struct {
    GemmKernel gk;
    void (*exp_shifted)(float *x, int n, float sub);
    int Nq, Nk, H, d, nkb;
    size_t kp_size, vp_size; /* floats per (head, key block) */
    float *Kp, *Vp;          /* packed K^T [d, keys] and V [keys, d] blocks */
    float scale;
    const float *relbias;
} AttPlan;

typedef struct {
    float *S, *O, *m, *l, *Qp, *Pp;
} AttScratch;

static size_t att_scratch_floats(int d) {
    return 2 * (size_t)ATT_QB * ATT_KB + 2 * (size_t)ATT_QB * d + 2 * ATT_QB;
}

static void att_scratch_bind(AttScratch *s, float *base, int d) {
    s->S = base;
    s->O = s->S + (size_t)ATT_QB * ATT_KB;
    s->m = s->O + (size_t)ATT_QB * d;
    s->l = s->m + ATT_QB;
    s->Qp = s->l + ATT_QB;
    s->Pp = s->Qp + (size_t)ATT_QB * d;
}

/* max of x[0, n) and m: 8 running maxima, then combined (max is exact, so
 * the order does not matter; NaNs are skipped as by m = x > m ? x : m). */
static float row_max(const float *x, int n, float m) {
    float r[8] = {m, m, m, m, m, m, m, m};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) r[k] = x[j + k] > r[k] ? x[j + k] : r[k];
    for (; j < n; j++) r[j % 8] = x[j] > r[j % 8] ? x[j] : r[j % 8];
    for (int k = 1; k < 8; k++) r[0] = r[k] > r[0] ? r[k] : r[0];
    return r[0];
}

/* sum of x[0, n) in a fixed order: lane k adds x[k], x[k+8], ... in turn,
 * then ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)): 8 independent chains (one
 * vector) instead of one, the same bits on every platform. */
static float row_sum8(const float *x, int n) {
    float r[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) r[k] += x[j + k];
    for (; j < n; j++) r[j % 8] += x[j];
    return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
}

/* Online-softmax update of rows [0, nq) with the scores S[nq, nk] of key
 * block j0 (turned into probabilities in place). */
static void att_softmax_update(const AttPlan *pl, AttScratch *s, int h, int i0, int nq, int j0,
                               int nk) {
    const float *rb = pl->relbias ? pl->relbias + (size_t)h * (pl->Nq + pl->Nk - 1) : NULL;
    for (int i = 0; i < nq; i++) {
        float *Si = s->S + (size_t)i * nk;
        if (rb) {
            const float *b = rb + (j0 - (i0 + i)) + (pl->Nq - 1);
            for (int j = 0; j < nk; j++) Si[j] += b[j];
        }
        float mx = row_max(Si, nk, s->m[i]);
        float mref = mx == -INFINITY ? 0.0f : mx; /* all -inf so far: weights 0, not NaN */
        float corr = t2v_expf(s->m[i] - mref);
        pl->exp_shifted(Si, nk, mref);
        s->l[i] = s->l[i] * corr + row_sum8(Si, nk);
        s->m[i] = mx;
        float *Oi = s->O + (size_t)i * pl->d;
        if (corr != 1.0f)
            for (int c = 0; c < pl->d; c++) Oi[c] *= corr;
    }
}

/* One (head h, query rows i0..i0+nq) task. */
static void att_block(const AttPlan *pl, float *out, int ldo, const float *q, int ldq, int h,
                      int i0, int nq, AttScratch *s) {
    int d = pl->d;
    for (int i = 0; i < nq; i++) { s->m[i] = -INFINITY; s->l[i] = 0.0f; }
    memset(s->O, 0, sizeof(float) * (size_t)nq * d);
    pack_A_chunks(s->Qp, q + (size_t)i0 * ldq + (size_t)h * d, ldq, nq, d);
    for (int kb = 0; kb < pl->nkb; kb++) {
        int j0 = kb * ATT_KB, nk = imin(ATT_KB, pl->Nk - j0);
        size_t blk = (size_t)h * pl->nkb + kb;
        /* S[nq, nk] = scale * Q K^T */
        gemm_packed(&pl->gk, nq, nk, d, pl->scale, s->Qp, pl->Kp + blk * pl->kp_size, 0.0f, s->S,
                    nk);
        att_softmax_update(pl, s, h, i0, nq, j0, nk);
        /* O = P V + O */
        pack_A_chunks(s->Pp, s->S, nk, nq, nk);
        gemm_packed(&pl->gk, nq, d, nk, 1.0f, s->Pp, pl->Vp + blk * pl->vp_size, 1.0f, s->O, d);
    }
    for (int i = 0; i < nq; i++) {
        float *o = out + (size_t)(i0 + i) * ldo + (size_t)h * d;
        const float *Oi = s->O + (size_t)i * d;
        float l = s->l[i];
        for (int c = 0; c < d; c++) o[c] = Oi[c] / l;
    }
}

void attention_forward(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                       const float *relbias) {
    if (Nq <= 0 || H <= 0 || d <= 0) return;
    if (Nk <= 0) { /* softmax over no keys: define the output as zero */
        for (int i = 0; i < Nq; i++) memset(out + (size_t)i * ldo, 0, sizeof(float) * (size_t)H * d);
        return;
    }
    AttPlan pl = {fast_kernel(), vec_kernels().exp_shifted, Nq, Nk, H, d, (Nk + ATT_KB - 1) / ATT_KB,
                  0, 0, NULL, NULL, scale, relbias};
    int NR = pl.gk.nr, KBp = (ATT_KB + NR - 1) / NR * NR, dp = (d + NR - 1) / NR * NR;
    pl.kp_size = (size_t)d * KBp;
    pl.vp_size = (size_t)ATT_KB * dp;
    int nt = platform_max_threads();
    size_t per = att_scratch_floats(d), nblk = (size_t)H * pl.nkb;
    float *buf = malloc(sizeof(float) * (per * (size_t)nt + nblk * (pl.kp_size + pl.vp_size)));
    if (!buf) { /* out of memory: the slow path still gives the answer */
        attention_naive(out, ldo, q, ldq, k, ldk, v, ldv, Nq, Nk, H, d, scale, relbias);
        return;
    }
    pl.Kp = buf + per * (size_t)nt;
    pl.Vp = pl.Kp + nblk * pl.kp_size;
    /* query rows per task: ATT_QB, halved (multiples of GEMM_MR) while the
     * tasks would leave a thread without two (the VAE's one head: 22 tasks
     * at 32 x 32); a row's result does not depend on its block */
    int qb = ATT_QB;
    while (qb > GEMM_MR && (int64_t)H * ((Nq + qb - 1) / qb) < 2 * nt) qb = qb / 2 / GEMM_MR * GEMM_MR;
    int n_qb = (Nq + qb - 1) / qb, tasks = n_qb * H;
#pragma omp parallel num_threads(nt) if ((tasks > 1 || nblk > 1) && nt > 1)
    {
#pragma omp for schedule(static)
        for (int b = 0; b < (int)nblk; b++) {
            int h = b / pl.nkb, j0 = (b % pl.nkb) * ATT_KB, nk = imin(ATT_KB, Nk - j0);
            pack_B_chunks(pl.Kp + (size_t)b * pl.kp_size, NR, 1,
                          k + (size_t)j0 * ldk + (size_t)h * d, ldk, d, nk);
            pack_B_chunks(pl.Vp + (size_t)b * pl.vp_size, NR, 0,
                          v + (size_t)j0 * ldv + (size_t)h * d, ldv, nk, d);
        }
        AttScratch s;
        att_scratch_bind(&s, buf + per * (size_t)platform_thread_id(), d);
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) {
            int h = t / n_qb, i0 = (t % n_qb) * qb;
            att_block(&pl, out, ldo, q, ldq, h, i0, imin(qb, Nq - i0), &s);
        }
    }
    free(buf);
}

/* Reference attention: full score row, double accumulation throughout. */
void attention_naive(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                     const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                     const float *relbias) {
    if (Nk <= 0) { /* softmax over no keys: define the output as zero */
        for (int i = 0; i < Nq; i++) memset(out + (size_t)i * ldo, 0, sizeof(float) * (size_t)H * d);
        return;
    }
    double *p = malloc(sizeof(double) * (size_t)Nk);
    double *o = malloc(sizeof(double) * (size_t)d);
    if (!p || !o) { free(p); free(o); return; }
    for (int h = 0; h < H; h++)
        for (int i = 0; i < Nq; i++) {
            const float *qi = q + (size_t)i * ldq + (size_t)h * d;
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < Nk; j++) {
                const float *kj = k + (size_t)j * ldk + (size_t)h * d;
                double dot = 0.0;
                for (int c = 0; c < d; c++) dot += (double)qi[c] * kj[c];
                p[j] = scale * dot;
                if (relbias) p[j] += relbias[(size_t)h * (Nq + Nk - 1) + (j - i) + (Nq - 1)];
                if (p[j] > mx) mx = p[j];
            }
            for (int j = 0; j < Nk; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
            for (int c = 0; c < d; c++) o[c] = 0.0;
            for (int j = 0; j < Nk; j++) {
                const float *vj = v + (size_t)j * ldv + (size_t)h * d;
                for (int c = 0; c < d; c++) o[c] += p[j] * vj[c];
            }
            float *oi = out + (size_t)i * ldo + (size_t)h * d;
            for (int c = 0; c < d; c++) oi[c] = (float)(o[c] / sum);
        }
    free(p);
    free(o);
}

/* ===========================================================================
 * Conv3d: im2col + GEMM, out[Cout, P] = W[Cout, K] col[K, P] with
 * K = Cin*kt*kh*kw and P the output positions. The positions are cut into
 * tiles of conv_tile_n(P) columns, one task per tile, each on one thread
 * with its own column buffer: im2col of CONV_TILE_K rows of col at a time,
 * then one single-threaded GEMM over the whole of Cout accumulating into the
 * tile (beta = 1 after the first K block). So each im2col block is packed
 * once, right after it is written, while it is still in a 1 MiB L2 cache
 * (256 x 1,024 floats), and the weight once per tile of up to 1,024 columns.
 * (Splitting Cout into row tiles, as gemm() would, repacked the column block
 * once per row tile: the VAE decode ran 2x slower.) The tiles, fixed by P
 * alone, give the same bits for every thread count; CONV_TILE_K is the
 * built-in GEMM's KC, so BLAS=none sums in the same order as one call. */
enum { CONV_TILE_K = 256, CONV_TILE_N = 1024, CONV_TILE_MIN = 256 };

/* Columns per tile: at most CONV_TILE_N, and at least 64 tiles where that
 * leaves CONV_TILE_MIN columns or more per tile (64 threads busy on frames
 * of 128 x 128 and up); a multiple of 6 tiles (1, 2, 3 or 6 threads share
 * them evenly), rounded up to 16. Fixed by P alone. */
static int64_t conv_tile_n(int64_t P) {
    int64_t ntiles = (P + CONV_TILE_N - 1) / CONV_TILE_N, wide = P / CONV_TILE_MIN;
    if (ntiles < 64) ntiles = wide < 64 ? (wide > ntiles ? wide : ntiles) : 64;
    ntiles = 6 * ((ntiles + 5) / 6);
    return ((P + ntiles - 1) / ntiles + 15) / 16 * 16;
}

void conv3d_out_size(const Conv3dParams *p, int T, int H, int W, int *To, int *Ho, int *Wo) {
    *To = (T + p->pt0 + p->pt1 - p->kt) / p->st + 1;
    *Ho = (H + p->ph0 + p->ph1 - p->kh) / p->sh + 1;
    *Wo = (W + p->pw0 + p->pw1 - p->kw) / p->sw + 1;
}

/* col[r - r0, 0..np) for rows r0..r0+nr of the im2col matrix,
 * r = ((ci*kt+a)*kh+b)*kw+c, and output positions pos0..pos0+np, walking
 * the positions one output row (fixed to, ho) at a time. */
static void im2col3d(float *col, const float *inp, int T, int H, int W, const Conv3dParams *p, int Ho, int Wo,
                     int64_t r0, int nr, int64_t pos0, int np) {
    int K3 = p->kt * p->kh * p->kw;
    for (int64_t r = r0; r < r0 + nr; r++) {
        int ci = (int)(r / K3), a = (int)(r % K3) / (p->kh * p->kw), b = (int)(r / p->kw % p->kh),
            c = (int)(r % p->kw);
        const float *src = inp + (size_t)ci * T * H * W;
        float *dst = col + (size_t)(r - r0) * np;
        int wo = (int)(pos0 % Wo), ho = (int)(pos0 / Wo % Ho), to = (int)(pos0 / ((int64_t)Wo * Ho));
        for (int n = 0; n < np;) {
            int run = imin(Wo - wo, np - n);
            int ti = to * p->st - p->pt0 + a, hi = ho * p->sh - p->ph0 + b;
            if (ti < 0 || ti >= T || hi < 0 || hi >= H) {
                memset(dst + n, 0, sizeof(float) * (size_t)run);
            } else {
                const float *srow = src + ((size_t)ti * H + hi) * W;
                if (p->sw == 1) { /* a shifted copy of the row, zeros where it runs off the edges */
                    int wi0 = wo - p->pw0 + c, x0 = imax(0, -wi0), x1 = imax(x0, imin(run, W - wi0));
                    memset(dst + n, 0, sizeof(float) * (size_t)x0);
                    if (x1 > x0) memcpy(dst + n + x0, srow + wi0 + x0, sizeof(float) * (size_t)(x1 - x0));
                    memset(dst + n + x1, 0, sizeof(float) * (size_t)(run - x1));
                } else {
                    for (int x = 0; x < run; x++) {
                        int wi = (wo + x) * p->sw - p->pw0 + c;
                        dst[n + x] = wi >= 0 && wi < W ? srow[wi] : 0.0f;
                    }
                }
            }
            n += run;
            wo = 0;
            if (++ho == Ho) { ho = 0; to++; }
        }
    }
}

/* C[M, N] = A[M, K] B[K, N] + beta C, on the calling thread alone. */
static void gemm_serial(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                        float *C, int ldc) {
#ifdef T2V_OPENBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
#else
    gemm_builtin(0, 0, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc); /* nested: one thread */
#endif
}

/* out[:, p0..p0+np) of the convolution: one tile, on one thread. */
static void conv3d_tile(float *out, const float *inp, int T, int H, int W, const float *w, int Cout,
                        int64_t Kc, int64_t P, const Conv3dParams *p, int Ho, int Wo, int direct, float *col,
                        int64_t p0, int np) {
    if (direct) { /* a 1x1x1 kernel, stride 1, no padding: col is the input */
        gemm_serial(Cout, np, (int)Kc, w, (int)Kc, inp + p0, (int)P, 0.0f, out + p0, (int)P);
        return;
    }
    for (int64_t k0 = 0; k0 < Kc; k0 += CONV_TILE_K) {
        int nk = (int)(Kc - k0 < CONV_TILE_K ? Kc - k0 : CONV_TILE_K);
        im2col3d(col, inp, T, H, W, p, Ho, Wo, k0, nk, p0, np);
        gemm_serial(Cout, np, nk, w + k0, (int)Kc, col, np, k0 ? 1.0f : 0.0f, out + p0, (int)P);
    }
}

/* ===========================================================================
 * Conv3d with a 3x3 spatial kernel, stride 1, padding 1 (the VAE's convs):
 * Winograd F(2x2, 3x3) (Lavin & Gray 2015). Each 2x2 block of output pixels
 * ("tile") is Y = A^T [ sum_k U_k (.) V_k ] A, where for every input row
 * k = (a, ci) of the kernel (temporal tap a, input channel ci)
 *   U_k = G g_k G^T   the 3x3 kernel slice, transformed once per call (4x4),
 *   V_k = B^T d_k B   the 4x4 input patch under the tile, transformed,
 * so the 16 elementwise products summed over k are 16 GEMMs
 *   M[x][Cout, tiles] = U[x][Cout, K] V[x][K, tiles],  x = 0..15,
 * 16 multiplies per 4 outputs per k instead of 36: 2.25x fewer FLOPs than
 * im2col. The transform matrices hold only 0, +-1 and 1/2, so the result
 * stays within a few ulps of the direct sum (tests/test_ops.c compares both
 * with a float64 direct convolution).
 * Work is cut as the im2col path's: one task per (output frame, rectangle
 * of at most WG_NT tiles) on one thread, K in blocks of WG_KB rows, all
 * fixed by the shape, so every thread count gives the same bits. */
enum { WG_NT = 128, WG_KB = 256, WG_PAD = 16, WG_CO_MIN = 64 };

/* The transforms' loops over a row of tiles are asked to vectorise (gcc
 * does, with SSE2); clang turns an "omp simd" it cannot vectorise into an
 * error under -Werror, so for clang they are left to its own vectoriser. */
#if defined(__clang__)
#define WG_SIMD
#else
#define WG_SIMD _Pragma("omp simd")
#endif

static int winograd_applies(const Conv3dParams *p) {
    return p->kh == 3 && p->kw == 3 && p->st == 1 && p->sh == 1 && p->sw == 1 && p->ph0 == 1 && p->ph1 == 1 &&
           p->pw0 == 1 && p->pw1 == 1;
}

/* U[x][co][a*Cin + ci] = (G g G^T)[x] for g = w[co, ci, a] (3x3),
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
static void winograd_weights(float *U, const float *w, int Cout, int Cin, int kt) {
    int64_t K = (int64_t)kt * Cin;
#pragma omp parallel for schedule(static)
    for (int co = 0; co < Cout; co++)
        for (int ci = 0; ci < Cin; ci++)
            for (int a = 0; a < kt; a++) {
                const float *g = w + (((size_t)co * Cin + ci) * kt + a) * 9;
                float t[4][3], u[4][4];
                for (int j = 0; j < 3; j++) { /* t = G g */
                    t[0][j] = g[j];
                    t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                    t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                    t[3][j] = g[6 + j];
                }
                for (int i = 0; i < 4; i++) { /* u = t G^T */
                    u[i][0] = t[i][0];
                    u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                    u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                    u[i][3] = t[i][2];
                }
                for (int x = 0; x < 16; x++) U[((size_t)x * Cout + co) * K + (int64_t)a * Cin + ci] = u[x / 4][x % 4];
            }
}

/* A task's tiles: output frame `to`, tile rows ty0..ty0+ny, tile columns
 * tx0..tx0+nx (tile jj = (ty - ty0) * nx + tx - tx0). */
typedef struct {
    int to, ty0, ny, tx0, nx;
    int co0, nco; /* output channels co0..co0+nco */
} WgRect;

/* Input pixels (y, x0 + 2k) and (y, x0 + 2k + 1), k = 0..n, into e and o;
 * zero outside the H x W plane. */
static void wg_gather(float *e, float *o, const float *plane, int H, int W, int y, int x0, int n) {
    if (y < 0 || y >= H) {
        memset(e, 0, sizeof(float) * (size_t)(n + 1));
        memset(o, 0, sizeof(float) * (size_t)(n + 1));
        return;
    }
    const float *row = plane + (size_t)y * W;
    if (x0 >= 0 && x0 + 2 * n + 1 < W) {
WG_SIMD
        for (int k = 0; k <= n; k++) e[k] = row[x0 + 2 * k], o[k] = row[x0 + 2 * k + 1];
        return;
    }
    for (int k = 0; k <= n; k++) {
        int x = x0 + 2 * k;
        e[k] = x >= 0 && x < W ? row[x] : 0.0f;
        o[k] = x + 1 >= 0 && x + 1 < W ? row[x + 1] : 0.0f;
    }
}

/* V[x][r][jj] = (B^T d B)[x] for row r of V (one input channel at one
 * temporal tap: `plane`) and the tiles of R, B^T = [1 0 -1 0; 0 1 1 0;
 * 0 -1 1 0; 0 1 0 -1], d the 4x4 input patch at (2ty-1, 2tx-1). The patch
 * columns of a tile row are split into even (e) and odd (o) ones, so both
 * products are elementwise over the row's tiles. */
static void winograd_input(float *V, size_t xs, int nt, int r, const float *plane, int H, int W, const WgRect *R) {
    float e[4][WG_NT + 1], o[4][WG_NT + 1], qe[4][WG_NT + 1], qo[4][WG_NT + 1];
    int n = R->nx;
    for (int ty = R->ty0; ty < R->ty0 + R->ny; ty++) {
        for (int i = 0; i < 4; i++) wg_gather(e[i], o[i], plane, H, W, 2 * ty - 1 + i, 2 * R->tx0 - 1, n);
WG_SIMD
        for (int k = 0; k <= n; k++) { /* rows: q = B^T d */
            qe[0][k] = e[0][k] - e[2][k], qo[0][k] = o[0][k] - o[2][k];
            qe[1][k] = e[1][k] + e[2][k], qo[1][k] = o[1][k] + o[2][k];
            qe[2][k] = e[2][k] - e[1][k], qo[2][k] = o[2][k] - o[1][k];
            qe[3][k] = e[1][k] - e[3][k], qo[3][k] = o[1][k] - o[3][k];
        }
        float *v = V + (size_t)r * nt + (size_t)(ty - R->ty0) * n;
        for (int i = 0; i < 4; i++, v += 4 * xs) { /* columns: V = q B */
            const float *a = qe[i], *b = qo[i];
            float *v0 = v, *v1 = v + xs, *v2 = v + 2 * xs, *v3 = v + 3 * xs;
WG_SIMD
            for (int k = 0; k < n; k++) {
                v0[k] = a[k] - a[k + 1];
                v1[k] = b[k] + a[k + 1];
                v2[k] = a[k + 1] - b[k];
                v3[k] = b[k] - b[k + 1];
            }
        }
    }
}

/* out[co*cs + (2ty+i)*W + 2tx+j] = (A^T m A)[i][j] + bias[co] for the tiles
 * of R, A^T = [1 1 1 0; 0 1 -1 -1], m[x] = M[x][co][jj]; pixels past the
 * frame's edge are dropped. */
static void winograd_output(float *out, int64_t cs, const float *M, size_t xs, int Cout, int nt, const float *bias,
                            int H, int W, const WgRect *R) {
    int n = R->nx;
    float y[4][WG_NT];
    for (int co = 0; co < Cout; co++) {
        float b = bias ? bias[co] : 0.0f;
        for (int ty = R->ty0; ty < R->ty0 + R->ny; ty++) {
            const float *m = M + (size_t)co * nt + (size_t)(ty - R->ty0) * n;
WG_SIMD
            for (int k = 0; k < n; k++) {
                float t[2][4];
                for (int j = 0; j < 4; j++) {
                    t[0][j] = m[j * xs + k] + m[(4 + j) * xs + k] + m[(8 + j) * xs + k];
                    t[1][j] = m[(4 + j) * xs + k] - m[(8 + j) * xs + k] - m[(12 + j) * xs + k];
                }
                for (int i = 0; i < 2; i++) {
                    y[2 * i][k] = t[i][0] + t[i][1] + t[i][2] + b;
                    y[2 * i + 1][k] = t[i][1] - t[i][2] - t[i][3] + b;
                }
            }
            for (int i = 0; i < 2 && 2 * ty + i < H; i++) {
                float *row = out + (size_t)co * cs + (size_t)(2 * ty + i) * W;
                int x1 = imin(n, (W - 2 * R->tx0) / 2); /* tiles whose two columns are inside */
                for (int k = 0; k < x1; k++) row[2 * (R->tx0 + k)] = y[2 * i][k], row[2 * (R->tx0 + k) + 1] = y[2 * i + 1][k];
                if (x1 < n) row[2 * (R->tx0 + x1)] = y[2 * i][x1]; /* odd W: the last tile's left column */
            }
        }
    }
}

/* One task: the tiles of R, output channels R->co0.., on one thread. Only
 * the temporal taps that land inside the input take part (the others read
 * zero padding): rows k = a*Cin + ci for a in [a0, a1). */
static void winograd_task(float *out, const float *inp, int Cin, int T, int H, int W, const float *U, int Cout,
                          int kt, const float *bias, const Conv3dParams *p, int To, const WgRect *R, float *V,
                          float *M) {
    int nt = R->ny * R->nx, a0 = imax(0, p->pt0 - R->to), a1 = imin(kt, T + p->pt0 - R->to);
    int64_t K = (int64_t)kt * Cin, k1 = (int64_t)a1 * Cin;
    size_t ms = (size_t)R->nco * nt + WG_PAD; /* plane strides: WG_PAD floats apart keeps */
    if (a1 <= a0) memset(M, 0, sizeof(float) * 16 * ms);  /* the 16 planes off one cache set */
    for (int64_t k0 = (int64_t)a0 * Cin; k0 < k1; k0 += WG_KB) {
        int kb = (int)(k1 - k0 < WG_KB ? k1 - k0 : WG_KB);
        size_t vs = (size_t)kb * nt + WG_PAD;
        for (int r = 0; r < kb; r++) {
            int a = (int)((k0 + r) / Cin), ci = (int)((k0 + r) % Cin), ti = R->to - p->pt0 + a;
            winograd_input(V, vs, nt, r, inp + ((size_t)ci * T + ti) * H * W, H, W, R);
        }
        for (int x = 0; x < 16; x++)
            gemm_serial(R->nco, nt, kb, U + ((size_t)x * Cout + R->co0) * K + k0, (int)K, V + x * vs, nt,
                        k0 > (int64_t)a0 * Cin ? 1.0f : 0.0f, M + x * ms, nt);
    }
    winograd_output(out + ((size_t)R->co0 * To + R->to) * H * W, (int64_t)To * H * W, M, ms, R->nco, nt,
                    bias ? bias + R->co0 : NULL, H, W, R);
}

/* The Winograd path of conv3d_forward: out[Cout, To, H, W] (bias included).
 * Tasks are rectangles of about WG_NT tiles (runs of at most WG_NT tiles of
 * a tile row, or whole tile rows when a row is shorter) times blocks of
 * output channels: Cout halved while the tasks are fewer than 64 and a
 * block keeps WG_CO_MIN channels (the VAE's low resolutions, 512 channels
 * on 2 rectangles a frame: 16 tasks a frame instead of 2; each block
 * transforms its rectangle's input again, a few per cent of its work).
 * All of it fixed by the shape. */
static int conv3d_winograd(float *out, const float *inp, int Cin, int T, int H, int W, const float *w, int Cout,
                           int kt, const float *bias, const Conv3dParams *p, int To, T2vError *err) {
    int ntx = (W + 1) / 2, nty = (H + 1) / 2;
    int cx = (ntx + WG_NT - 1) / WG_NT, rx = (ntx + cx - 1) / cx; /* column runs of rx tiles */
    int ry = imax(1, WG_NT / rx), cy = (nty + ry - 1) / ry;        /* ry tile rows per task */
    int64_t nrect = (int64_t)To * cy * cx;
    int cb = 1;
    while (nrect * cb < 64 && Cout / (2 * cb) >= WG_CO_MIN) cb *= 2;
    int nco = (Cout + cb - 1) / cb; /* cb blocks of nco channels, the last one shorter, never empty */
    int64_t ntask = nrect * cb;
    size_t vsize = 16 * ((size_t)WG_NT * WG_KB + WG_PAD), per = vsize + 16 * ((size_t)WG_NT * nco + WG_PAD);
    float *U = t2v_malloc(sizeof(float) * 16 * (size_t)Cout * (size_t)kt * Cin, "conv3d Winograd weight", err);
    int nt = platform_max_threads();
    float *buf = U ? t2v_malloc(sizeof(float) * per * (size_t)nt, "conv3d Winograd buffers", err) : NULL;
    if (!buf) { free(U); return T2V_ERESOURCE; }
    winograd_weights(U, w, Cout, Cin, kt);
/* num_threads(nt): the team is exactly as large as the buffers are many
 * (LLVM's libomp gave a larger team after a nested region in a GEMM) */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (ntask > 1)
    for (int64_t task = 0; task < ntask; task++) {
        int64_t rect = task / cb;
        int bx = (int)(rect % cx), by = (int)(rect / cx % cy), co0 = (int)(task % cb) * nco;
        WgRect R = {(int)(rect / ((int64_t)cx * cy)), by * ry, imin(ry, nty - by * ry), bx * rx,
                    imin(rx, ntx - bx * rx), co0, imin(nco, Cout - co0)};
        float *V = buf + per * (size_t)platform_thread_id(), *M = V + vsize; /* V and M, per thread */
        winograd_task(out, inp, Cin, T, H, W, U, Cout, kt, bias, p, To, &R, V, M);
    }
    free(buf);
    free(U);
    return T2V_OK;
}

/* The im2col path of conv3d_forward: out[Cout, To, Ho, Wo] (bias included). */
static int conv3d_im2col(float *out, const float *inp, int Cin, int T, int H, int W, const float *w, int Cout,
                         const float *bias, const Conv3dParams *p, int To, int Ho, int Wo, T2vError *err) {
    int64_t Kc = (int64_t)Cin * p->kt * p->kh * p->kw, P = (int64_t)To * Ho * Wo;
    int direct = p->kt == 1 && p->kh == 1 && p->kw == 1 && p->st == 1 && p->sh == 1 &&
                 p->sw == 1 && !p->pt0 && !p->pt1 && !p->ph0 && !p->ph1 && !p->pw0 && !p->pw1;
    int64_t tn = conv_tile_n(P), ntiles = (P + tn - 1) / tn;
    int nt = platform_max_threads();
    size_t col_size = (size_t)(Kc < CONV_TILE_K ? Kc : CONV_TILE_K) * (size_t)tn; /* per thread */
    float *cols = NULL;
    if (!direct) {
        cols = t2v_malloc(sizeof(float) * col_size * (size_t)nt, "conv3d column buffers", err);
        if (!cols) return T2V_ERESOURCE;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (ntiles > 1) /* one buffer per thread */
    for (int64_t t = 0; t < ntiles; t++) {
        int64_t p0 = t * tn;
        conv3d_tile(out, inp, T, H, W, w, Cout, Kc, P, p, Ho, Wo, direct,
                    cols ? cols + (size_t)platform_thread_id() * col_size : NULL, p0, (int)(P - p0 < tn ? P - p0 : tn));
    }
    if (bias) {
#pragma omp parallel for schedule(static) if ((int64_t)Cout * P > 65536)
        for (int co = 0; co < Cout; co++)
            for (int64_t i = 0; i < P; i++) out[(size_t)co * P + i] += bias[co];
    }
    free(cols);
    return T2V_OK;
}

size_t conv3d_scratch_bytes(int64_t cout, int64_t wnumel) {
    size_t im2col = (size_t)CONV_TILE_K * CONV_TILE_N * (size_t)platform_max_threads();
    size_t wino = (size_t)(wnumel / 9 * 16) +   /* U: 16 numbers per 3x3 kernel slice */
                  16 * ((size_t)WG_NT * (WG_KB + (size_t)cout) + 2 * WG_PAD) * (size_t)platform_max_threads();
    return sizeof(float) * ((size_t)wnumel + (im2col > wino ? im2col : wino)); /* + the widened weight */
}

int conv3d_forward(float *out, const float *inp, int Cin, int T, int H, int W, const Tensor *weight,
                   const float *bias, const Conv3dParams *p, T2vError *err) {
    char sh[96];
    if (weight->ndim != 5 || weight->shape[1] != Cin || weight->shape[2] != p->kt ||
        weight->shape[3] != p->kh || weight->shape[4] != p->kw || !dtype_is_float(weight->dtype))
        return t2v_fail(err, T2V_EINPUT,
                        "conv3d weight: expected a float tensor [Cout, %d, %d, %d, %d], found %s %s",
                        Cin, p->kt, p->kh, p->kw, dtype_name(weight->dtype),
                        shape_str(weight, sh, sizeof sh));
    int To, Ho, Wo;
    conv3d_out_size(p, T, H, W, &To, &Ho, &Wo);
    if (p->st < 1 || p->sh < 1 || p->sw < 1 || To < 1 || Ho < 1 || Wo < 1)
        return t2v_fail(err, T2V_EINPUT,
                        "conv3d: input [%d, %d, %d, %d] too small for kernel (%d, %d, %d) "
                        "stride (%d, %d, %d)", Cin, T, H, W, p->kt, p->kh, p->kw, p->st, p->sh, p->sw);
    float *wscratch = NULL;
    if (needs_widening(weight)) {
        wscratch = t2v_malloc(sizeof(float) * (size_t)tensor_numel(weight), "conv3d weight", err);
        if (!wscratch) return T2V_ERESOURCE;
    }
    const float *w = weight_f32(weight, wscratch);
#ifdef T2V_OPENBLAS
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
#endif
    int Cout = (int)weight->shape[0];
    int rc = winograd_applies(p) ? conv3d_winograd(out, inp, Cin, T, H, W, w, Cout, p->kt, bias, p, To, err)
                                 : conv3d_im2col(out, inp, Cin, T, H, W, w, Cout, bias, p, To, Ho, Wo, err);
    free(wscratch);
    return rc;
}

/* Direct convolution, double accumulation, for tests. */
void conv3d_naive(float *out, const float *inp, int Cin, int T, int H, int W, const float *weight,
                  int Cout, const float *bias, const Conv3dParams *p) {
    int To, Ho, Wo;
    conv3d_out_size(p, T, H, W, &To, &Ho, &Wo);
    for (int co = 0; co < Cout; co++)
        for (int to = 0; to < To; to++)
            for (int ho = 0; ho < Ho; ho++)
                for (int wo = 0; wo < Wo; wo++) {
                    double s = bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < Cin; ci++)
                        for (int a = 0; a < p->kt; a++)
                            for (int b = 0; b < p->kh; b++)
                                for (int c = 0; c < p->kw; c++) {
                                    int ti = to * p->st - p->pt0 + a, hi = ho * p->sh - p->ph0 + b,
                                        wi = wo * p->sw - p->pw0 + c;
                                    if (ti < 0 || ti >= T || hi < 0 || hi >= H || wi < 0 || wi >= W)
                                        continue;
                                    double wv = weight[(((size_t)co * Cin + ci) * p->kt + a) * p->kh * p->kw +
                                                       (size_t)b * p->kw + c];
                                    s += wv * inp[(((size_t)ci * T + ti) * H + hi) * W + wi];
                                }
                    out[(((size_t)co * To + to) * Ho + ho) * Wo + wo] = (float)s;
                }
}
