/*
 * gemm_bf16.c: bf16 products with fp32 accumulation (contract and the exact
 * order in gemm_bf16.h; docs/ARCHITECTURE.md, Numerics, "bf16").
 *
 * Operands, once per product, whole K: op(A) rounded to bf16 row by row
 * (row-major, each row's pairs k = 2p, 2p+1 already adjacent), op(B) in
 * panels of NR columns as interleaved pairs, Bp[panel][p][NR][2] (a bf16
 * file's pairs copied as they are). A micro-kernel runs one MR x NR tile over
 * a range of pairs, broadcasting each row's pair of A against NR columns of
 * B, its accumulators loaded from and stored to C between ranges (an fp32
 * store and load are exact, so the chain of each element is one chain over
 * all K whatever the range size). Where the time goes and why these sizes:
 * docs/ARCHITECTURE.md, Numerics, "bf16", Speed.
 */
#include "gemm_bf16.h"

#include "ops.h"
#include "platform.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#define BF_MR 12
#define BF_NR 32
#define BF_MC 96      /* rows of A per task, multiple of MR */
#define BF_NCHUNK 256 /* columns per task, multiple of NR */
#define BF_KCP 768    /* pairs per micro-kernel call, at most: K in equal chunks */
#define ATT_BQ 48     /* queries per attention task, at most */

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }


const char *precision_name(Precision p) { return p == PREC_BF16 ? "bf16" : "fp32"; }

int precision_from_name(const char *s, Precision *out) {
    if (strcmp(s, "fp32") == 0) { *out = PREC_FP32; return 0; }
    if (strcmp(s, "bf16") == 0) { *out = PREC_BF16; return 0; }
    return -1;
}

/* ===========================================================================
 * The arithmetic (gemm_bf16.h). One step R(acc + a b): the product of two
 * bf16 values (8 significant bits each) is exact in double, and acc + a b
 * is rounded to double and then to float; with 53 >= 2 x 24 + 2 bits the
 * double rounding cannot differ from one rounding to float (the product has
 * at most 16 significant bits, so the sum is exact in double whenever its
 * low bits could reach a float rounding boundary). */
static inline float bf16_daz(uint16_t h) {
    if ((h & 0x7f80u) == 0) h &= 0x8000u; /* denormal (or zero) -> zero of its sign */
    return f32_from_bits((uint32_t)h << 16);
}

static inline float dot_step(float acc, float a, float b) {
    float r = (float)((double)acc + (double)a * (double)b);
    if (fabsf(r) < 0x1p-126f) r = copysignf(0.0f, r); /* FTZ, after rounding */
    return r;
}

float bf16_dot_step(float acc, uint16_t a, uint16_t b) { return dot_step(acc, bf16_daz(a), bf16_daz(b)); }

/* Element (k, j) of op(B) as fp32 (before rounding to bf16). */
static float operand_at(const Bf16Operand *B, int64_t k, int64_t j) {
    if (B->W) {
        int64_t K = tensor_numel(B->W) / B->W->shape[0];
        const unsigned char *p = (const unsigned char *)B->W->data;
        int64_t i = j * K + k;
        switch (B->W->dtype) {
        case DT_BF16: return f32_from_bits((uint32_t)rd_u16le(p + 2 * i) << 16);
        case DT_F16: return f16_to_f32(rd_u16le(p + 2 * i));
        default: return f32_from_bits(rd_u32le(p + 4 * i));
        }
    }
    return B->trans ? B->f[j * B->ld + k] : B->f[k * B->ld + j];
}

/* ===========================================================================
 * Micro-kernels: the MR x NR tile c (row stride ldc; first: start from +0,
 * else continue from c's values) over np pairs, rows of A from a (row i's
 * pairs at a + i lda, lda in uint16_t) and columns of B from b[p][NR][2];
 * bias not NULL: + bias[j] in fp32 before the store (a Linear's bias, on
 * the last pairs of K). Both give the bits of bf16_dot_step applied in order. */
typedef void (*Bf16Micro)(int np, const uint16_t *a, size_t lda, const uint16_t *b, float *c, int ldc, int first,
                          const float *bias);
/* d[0, n) <- f32_to_bf16(s[0, n)) */
typedef void (*Bf16Round)(uint16_t *d, const float *s, int n);

static void micro_portable(int np, const uint16_t *a, size_t lda, const uint16_t *b, float *c, int ldc,
                           int first, const float *bias) {
    float acc[BF_MR * BF_NR];
    for (int i = 0; i < BF_MR; i++)
        for (int j = 0; j < BF_NR; j++) acc[i * BF_NR + j] = first ? 0.0f : c[(size_t)i * ldc + j];
    for (int p = 0; p < np; p++) {
        const uint16_t *bp = b + (size_t)p * BF_NR * 2;
        float b0[BF_NR], b1[BF_NR];
        for (int j = 0; j < BF_NR; j++) { b0[j] = bf16_daz(bp[2 * j]); b1[j] = bf16_daz(bp[2 * j + 1]); }
        for (int i = 0; i < BF_MR; i++) {
            const uint16_t *ap = a + i * lda + 2 * (size_t)p;
            float a0 = bf16_daz(ap[0]), a1 = bf16_daz(ap[1]);
            float *ci = acc + i * BF_NR;
            for (int j = 0; j < BF_NR; j++) ci[j] = dot_step(dot_step(ci[j], a1, b1[j]), a0, b0[j]);
        }
    }
    for (int i = 0; i < BF_MR && bias; i++)
        for (int j = 0; j < BF_NR; j++) acc[i * BF_NR + j] += bias[j];
    for (int i = 0; i < BF_MR; i++) memcpy(c + (size_t)i * ldc, acc + i * BF_NR, sizeof(float) * BF_NR);
}

static void round_portable(uint16_t *d, const float *s, int n) {
    for (int k = 0; k < n; k++) d[k] = f32_to_bf16(s[k]);
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define T2V_HAVE_AVX512BF16 1
#include <immintrin.h>
/* 12 x 32: 24 zmm accumulators; per pair, two 32-column loads of B and a
 * broadcast of each row's pair of A. vdpbf16ps does, per 32-bit lane, the
 * two steps of the order (the odd member first), DAZ/FTZ, round to nearest
 * even, whatever MXCSR says. */
#define DP_ROW(i)                                                                  \
    do {                                                                           \
        uint32_t w;                                                                \
        memcpy(&w, a + (i) * lda + 2 * (size_t)p, sizeof w);                       \
        __m512bh ai = (__m512bh)_mm512_set1_epi32((int)w);                         \
        c##i##0 = _mm512_dpbf16_ps(c##i##0, ai, b0);                               \
        c##i##1 = _mm512_dpbf16_ps(c##i##1, ai, b1);                               \
    } while (0)
#define LD_ROW(i)                                                                  \
    __m512 c##i##0 = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + (size_t)(i) * ldc); \
    __m512 c##i##1 = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + (size_t)(i) * ldc + 16)
__attribute__((target("avx512f,avx512bf16"))) static void micro_avx512bf16(int np, const uint16_t *a, size_t lda,
                                                                          const uint16_t *b, float *c, int ldc,
                                                                          int first, const float *bias) {
    LD_ROW(0); LD_ROW(1); LD_ROW(2); LD_ROW(3); LD_ROW(4); LD_ROW(5);
    LD_ROW(6); LD_ROW(7); LD_ROW(8); LD_ROW(9); LD_ROW(10); LD_ROW(11);
    for (int p = 0; p < np; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)p * BF_NR * 2);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)p * BF_NR * 2 + 32);
        DP_ROW(0); DP_ROW(1); DP_ROW(2); DP_ROW(3); DP_ROW(4); DP_ROW(5);
        DP_ROW(6); DP_ROW(7); DP_ROW(8); DP_ROW(9); DP_ROW(10); DP_ROW(11);
    }
    __m512 out[24] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51,
                      c60, c61, c70, c71, c80, c81, c90, c91, c100, c101, c110, c111};
    if (bias) {
        __m512 bb[2] = {_mm512_loadu_ps(bias), _mm512_loadu_ps(bias + 16)};
        for (int i = 0; i < 24; i++) out[i] = _mm512_add_ps(out[i], bb[i % 2]);
    }
    for (int i = 0; i < 24; i++) _mm512_storeu_ps(c + (size_t)(i / 2) * ldc + 16 * (i % 2), out[i]);
}

/* f32_to_bf16 (tensor.h) on 16 lanes: the same integer operations, so the same bits. */
__attribute__((target("avx512f"))) static void round_avx512(uint16_t *d, const float *s, int n) {
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512i u = _mm512_loadu_si512(s + k);
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
        __m512i hi = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, half), _mm512_and_si512(hi, one)), 16);
        r = _mm512_mask_or_epi32(r, nan, hi, quiet);
        _mm256_storeu_si256((__m256i *)(d + k), _mm512_cvtepi32_epi16(r));
    }
    for (; k < n; k++) d[k] = f32_to_bf16(s[k]);
}

/* T2V_GEMM_GENERIC=1 in the environment: the portable kernel (for tests). */
static int generic_forced(void) {
    const char *e = getenv("T2V_GEMM_GENERIC");
    return e && e[0] == '1';
}
#endif

/* The kernels this CPU runs: the micro-kernel and the rounding loop. */
typedef struct {
    Bf16Micro micro;
    Bf16Round round;
} Bf16Kernels;

static Bf16Kernels bf16_kernels(void) {
    Bf16Kernels k = {micro_portable, round_portable};
#ifdef T2V_HAVE_AVX512BF16
    if (!generic_forced() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")) {
        k.micro = micro_avx512bf16;
        k.round = round_avx512;
    }
#endif
    return k;
}

void bf16_round(uint16_t *d, const float *s, int64_t n) {
    Bf16Round run = bf16_kernels().round;
    for (int64_t i = 0; i < n; i += 1 << 20) run(d + i, s + i, (int)(n - i < (1 << 20) ? n - i : 1 << 20));
}

const char *bf16_kernel_name(void) { return bf16_kernels().micro == micro_portable ? "portable" : "avx512-bf16"; }

/* ===========================================================================
 * Operands. np = ceil(K / 2) pairs; a missing k (odd K) and rows/columns past
 * the edge are zeros.
 *   A: rows rounded once into row-major bf16, Ar[i][0, 2 np) (row stride
 *      2 np, rows padded with zero rows to a multiple of MR): the
 *      micro-kernel broadcasts row i's pair p from Ar[i][2p, 2p+2).
 *   B: panels of NR columns as pairs, Bp[panel][p][NR][2]. */
static int pairs(int K) { return (K + 1) / 2; }
static int mr_pad(int m) { return (m + BF_MR - 1) / BF_MR * BF_MR; }

/* Ar <- bf16(A) for rows [0, m) of A, then zero rows up to mr_pad(m). */
static void round_a(const Bf16Kernels *kn, uint16_t *Ar, const float *A, int lda, int m, int K) {
    size_t la = 2 * (size_t)pairs(K);
    for (int i = 0; i < m; i++) {
        kn->round(Ar + i * la, A + (size_t)i * lda, K);
        if (K % 2) Ar[i * la + K] = 0;
    }
    memset(Ar + m * la, 0, sizeof(uint16_t) * la * (size_t)(mr_pad(m) - m));
}

/* A hint to fetch the line at address x (no effect on any value): the
 * transposition reads 32 rows at once, too many streams for the hardware
 * prefetcher to follow out of memory. */
#if defined(__GNUC__)
#define PREFETCH(x) __builtin_prefetch(x)
#else
#define PREFETCH(x) ((void)0)
#endif
#define PACK_AHEAD 4 /* blocks of 16 pairs */

/* dst[p][j][2] <- the pairs p of nr rows of bf16 values (row j's pair p: 4
 * bytes at src + j ls + 4p, any alignment), pairs [0, np): the transposition
 * runs in blocks of 16 pairs, so the rows' lines stay in L1. */
static void transpose_pairs(uint16_t *dst, const unsigned char *src, size_t ls, int nr, int np) {
    for (int p0 = 0; p0 < np; p0 += 16) {
        int pe = imin(p0 + 16, np);
        for (int j = 0; j < nr; j++) {
            if (p0 + 16 * PACK_AHEAD < np) PREFETCH(src + j * ls + 4 * (size_t)(p0 + 16 * PACK_AHEAD));
            for (int p = p0; p < pe; p++) memcpy(dst + ((size_t)p * BF_NR + j) * 2, src + j * ls + 4 * (size_t)p, 4);
        }
    }
}

/* d[0, n) <- the bf16 values of column j of op(B), k in [k0, k0 + n) (B
 * from rows: B->W or B->trans); f: n floats of scratch. */
static void column_bf16(const Bf16Kernels *kn, uint16_t *d, float *f, const Bf16Operand *B, int64_t j, int k0, int n) {
    if (!B->W) {
        kn->round(d, B->f + j * B->ld + k0, n);
        return;
    }
    int64_t K = tensor_numel(B->W) / B->W->shape[0];
    const unsigned char *p = (const unsigned char *)B->W->data;
    size_t e = (size_t)(j * K + k0);
    if (B->W->dtype == DT_BF16) { /* as stored */
        for (int k = 0; k < n; k++) d[k] = rd_u16le(p + 2 * (e + k));
        return;
    }
    for (int k = 0; k < n; k++)
        f[k] = B->W->dtype == DT_F16 ? f16_to_f32(rd_u16le(p + 2 * (e + k))) : f32_from_bits(rd_u32le(p + 4 * (e + k)));
    kn->round(d, f, n);
}

/* One panel dst of nr columns from j0 of op(B) when its columns are rows in
 * memory: blocks of PACK_KB k, each rounded row by row and transposed. */
#define PACK_KB 256
static void pack_b_rows(const Bf16Kernels *kn, uint16_t *dst, const Bf16Operand *B, int j0, int nr, int K) {
    uint16_t t[BF_NR * PACK_KB];
    float f[PACK_KB];
    for (int k0 = 0; k0 < K; k0 += PACK_KB) {
        int kb = imin(PACK_KB, K - k0);
        for (int j = 0; j < nr; j++) {
            column_bf16(kn, t + j * PACK_KB, f, B, j0 + j, k0, kb);
            if (kb % 2) t[j * PACK_KB + kb] = 0;
        }
        transpose_pairs(dst + (size_t)k0 * BF_NR, (const unsigned char *)t, 2 * PACK_KB, nr, pairs(kb));
    }
}

/* One panel from fp32 memory op(B)[k, j] = f[k ld + j]: rows k = 2p, 2p+1
 * rounded and interleaved. */
static void pack_b_cols(const Bf16Kernels *kn, uint16_t *dst, const Bf16Operand *B, int j0, int nr, int K) {
    uint16_t t0[BF_NR], t1[BF_NR];
    for (int p = 0; p < pairs(K); p++) {
        kn->round(t0, B->f + (size_t)(2 * p) * B->ld + j0, nr);
        if (2 * p + 1 < K) kn->round(t1, B->f + (size_t)(2 * p + 1) * B->ld + j0, nr);
        else memset(t1, 0, sizeof t1);
        uint16_t *d = dst + (size_t)p * BF_NR * 2;
        for (int j = 0; j < nr; j++) d[2 * j] = t0[j], d[2 * j + 1] = t1[j];
    }
}

/* Bp[panel][p][NR][2] <- bf16(op(B)[k, j]) for column panels [jp0, jp1) of N. */
static void pack_b(const Bf16Kernels *kn, uint16_t *Bp, const Bf16Operand *B, int N, int K, int jp0, int jp1) {
    int np = pairs(K);
    for (int jp = jp0; jp < jp1; jp++) {
        int j0 = jp * BF_NR, nr = imin(BF_NR, N - j0);
        uint16_t *dst = Bp + (size_t)j0 * np * 2;
        if (nr < BF_NR || K % 2) memset(dst, 0, sizeof(uint16_t) * (size_t)np * BF_NR * 2);
        if (B->W && B->W->dtype == DT_BF16 && host_is_little_endian() && K % 2 == 0) /* a pair: 4 bytes of the file */
            transpose_pairs(dst, (const unsigned char *)B->W->data + (size_t)j0 * K * 2, (size_t)K * 2, nr, np);
        else if (!B->W && !B->trans)
            pack_b_cols(kn, dst, B, j0, nr, K);
        else
            pack_b_rows(kn, dst, B, j0, nr, K);
    }
}

/* C[m, n] from np pairs: rows Ar (m rows la apart, rounded by round_a) and
 * columns Bp (panels np pairs long);
 * then + bias[j] in fp32 when bias is not NULL (a Linear's bias, added to
 * each tile after its last pairs, before it is stored: the same sum as
 * adding it afterwards). */
static void macro_bf16(Bf16Micro run, int m, int n, int np, size_t la, const uint16_t *Ar, const uint16_t *Bp, float *C,
                       int ldc, const float *bias) {
    float acc[BF_MR * BF_NR] = {0};
    if (np <= 0) return;
    int kc = (np + (np + BF_KCP - 1) / BF_KCP - 1) / ((np + BF_KCP - 1) / BF_KCP); /* equal chunks */
    for (int p0 = 0; p0 < np; p0 += kc) {
        int kp = imin(kc, np - p0);
        for (int jr = 0; jr < n; jr += BF_NR) {
            int nr = imin(BF_NR, n - jr);
            for (int ir = 0; ir < m; ir += BF_MR) {
                int mr = imin(BF_MR, m - ir);
                const uint16_t *a = Ar + ir * la + (size_t)p0 * 2;
                const uint16_t *b = Bp + ((size_t)jr * np + (size_t)p0 * BF_NR) * 2;
                float *c = C + (size_t)ir * ldc + jr;
                const float *bj = bias && p0 + kp == np ? bias + jr : NULL;
                if (mr == BF_MR && nr == BF_NR) {
                    run(kp, a, la, b, c, ldc, p0 == 0, bj);
                    continue;
                }
                /* an edge tile: through acc (the bias: nr columns) */
                for (int i = 0; i < mr && p0 > 0; i++) memcpy(acc + i * BF_NR, c + (size_t)i * ldc, sizeof(float) * (size_t)nr);
                run(kp, a, la, b, acc, BF_NR, p0 == 0, NULL);
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] = bj ? acc[i * BF_NR + j] + bj[j] : acc[i * BF_NR + j];
            }
        }
    }
}

void bf16_work_free(Bf16Work *w) {
    free(w->p);
    memset(w, 0, sizeof *w);
}

void bf16_work_forget(Bf16Work *w) { w->packed_w = NULL; }

/* n bytes of w's scratch (its old contents are not kept), or NULL when out
 * of memory. */
static void *work_get(Bf16Work *w, size_t n) {
    if (n <= w->cap) return w->p;
    free(w->p);
    w->p = malloc(n);
    w->cap = w->p ? n : 0;
    w->packed_w = NULL;
    return w->p;
}

/* Rounded up to 64 bytes (a cache line) for the next part of a scratch. */
static size_t line(size_t bytes) { return (bytes + 63) / 64 * 64; }

static size_t a_pack_elems(int m, int K) { return (size_t)mr_pad(m) * pairs(K) * 2; }
static size_t b_pack_elems(int n, int K) { return (size_t)((n + BF_NR - 1) / BF_NR * BF_NR) * pairs(K) * 2; }

void gemm_bf16_naive(int M, int N, int K, const float *A, int lda, const Bf16Operand *B, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k += 2) {
                uint16_t a1 = k + 1 < K ? f32_to_bf16(A[(size_t)i * lda + k + 1]) : 0;
                uint16_t b1 = k + 1 < K ? f32_to_bf16(operand_at(B, k + 1, j)) : 0;
                acc = bf16_dot_step(acc, a1, b1);
                acc = bf16_dot_step(acc, f32_to_bf16(A[(size_t)i * lda + k]), f32_to_bf16(operand_at(B, k, j)));
            }
            C[(size_t)i * ldc + j] = acc;
        }
}

/* gemm_bf16, then C[i, j] += bias[j] (fp32) when bias is not NULL. */
static void gemm_bf16_bias(int M, int N, int K, const float *A, int lda, const Bf16Operand *B, float *C, int ldc,
                           const float *bias, Bf16Work *ws) {
    if (M <= 0 || N <= 0) return;
    Bf16Kernels kn = bf16_kernels();
    int nt = platform_max_threads(), n_jp = (N + BF_NR - 1) / BF_NR, n_ip = (M + BF_MR - 1) / BF_MR;
    Bf16Work tmp = {NULL, 0, NULL, 0, 0}, *w = ws ? ws : &tmp;
    size_t b_bytes = line(sizeof(uint16_t) * b_pack_elems(N, K));
    unsigned char *buf = work_get(w, b_bytes + sizeof(uint16_t) * a_pack_elems(M, K));
    if (!buf) { /* out of memory: the slow path gives the same bits */
        gemm_bf16_naive(M, N, K, A, lda, B, C, ldc);
        for (int i = 0; bias && i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] += bias[j];
        return;
    }
    uint16_t *Bp = (uint16_t *)buf, *Ar = (uint16_t *)(buf + b_bytes);
    /* the same weight tensor as the last product (the DiT's FFN row chunks):
     * its packing is still at the start of the scratch */
    int packed = B->W && w->packed_w == B->W && w->packed_n == N && w->packed_k == K;
    w->packed_w = NULL;
    int n_ic = (M + BF_MC - 1) / BF_MC, n_jt = (N + BF_NCHUNK - 1) / BF_NCHUNK;
    double flops = 2.0 * M * N * (double)K;
#pragma omp parallel num_threads(nt) if (flops > 2e6 && nt > 1)
    {
#pragma omp for schedule(static) nowait
        for (int jp = 0; jp < (packed ? 0 : n_jp); jp++) pack_b(&kn, Bp, B, N, K, jp, jp + 1);
#pragma omp for schedule(static)
        for (int ip = 0; ip < n_ip; ip++)
            round_a(&kn, Ar + a_pack_elems(ip * BF_MR, K), A + (size_t)ip * BF_MR * lda, lda,
                    imin(BF_MR, M - ip * BF_MR), K);
        /* implicit barrier: Ar and Bp complete. Tasks: MC rows x NCHUNK columns. */
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < n_ic * n_jt; t++) {
            int i0 = (t / n_jt) * BF_MC, j0 = (t % n_jt) * BF_NCHUNK;
            int m = imin(BF_MC, M - i0), n = imin(BF_NCHUNK, N - j0);
            macro_bf16(kn.micro, m, n, pairs(K), 2 * (size_t)pairs(K), Ar + a_pack_elems(i0, K),
                       Bp + (size_t)j0 * pairs(K) * 2,
                       C + (size_t)i0 * ldc + j0, ldc, bias ? bias + j0 : NULL);
        }
    }
    if (B->W) w->packed_w = B->W, w->packed_n = N, w->packed_k = K;
    bf16_work_free(&tmp);
}

void gemm_bf16(int M, int N, int K, const float *A, int lda, const Bf16Operand *B, float *C, int ldc,
               Bf16Work *ws) {
    gemm_bf16_bias(M, N, K, A, lda, B, C, ldc, NULL, ws);
}

/* Whether the packing reads W's elements directly: BF16, F16 or F32 values
 * as stored. Quantized and fp8 weights, a per-tensor scale and a LoRA delta
 * are first widened to fp32 by weight_f32 (the fp32 path's values), then
 * rounded to bf16 like an fp32 weight. */
static int packs_directly(const Tensor *W) {
    return (W->dtype == DT_BF16 || W->dtype == DT_F16 || W->dtype == DT_F32) && W->scale == 0.0f && !W->delta;
}

void linear_bf16_forward(float *out, const float *inp, const Tensor *W, const float *b, int M, Bf16Work *ws) {
    int N = (int)W->shape[0], K = (int)(tensor_numel(W) / N);
    Bf16Operand B = {W, NULL, 0, 1};
    float *wide = NULL;
    if (!packs_directly(W)) {
        wide = (float *)malloc(sizeof(float) * (size_t)N * K);
        if (!wide) { /* out of memory: NaN rather than garbage */
            for (size_t i = 0; i < (size_t)M * N; i++) out[i] = NAN;
            return;
        }
        B.W = NULL, B.f = weight_f32(W, wide), B.ld = K;
    }
    gemm_bf16_bias(M, N, K, inp, K, &B, out, N, b, ws);
    free(wide);
}

/* ===========================================================================
 * Attention (gemm_bf16.h). K and V of every head are packed once; a task is
 * (head, ATT_BQ queries) with the whole score rows S[nq, Nk] in scratch, so
 * the max is final before any p_j is rounded to bf16.
 *
 * The softmax of one score row s[0, n) (the bf16 product q.k), in place into
 * the weights p_j = exp(scale s_j [+ b_j] - m), m their max, and l = sum p_j
 * in eight interleaved fp32 partial sums (lane k: j = k, k+8, ... in order)
 * combined as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)). In three passes: */

/* s_j <- scale s_j [+ b_j]; returns m (all -inf or NaN: 0, weights 0). */
static float scale_max_portable(float *s, int n, float scale, const float *b) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) s[j] = b ? s[j] * scale + b[j] : s[j] * scale;
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    return mx;
}

/* l = sum p_j in the lane order above. */
static float lane_sum_portable(const float *s, int n) {
    float r[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) r[k] += s[j + k];
    for (; j < n; j++) r[j % 8] += s[j];
    return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
}

/* The definition (attention_bf16_naive): the three passes one element at a time. */
static float softmax_weights(float *s, int n, float scale, const float *b) {
    float mx = scale_max_portable(s, n, scale, b);
    exp_shifted_inplace(s, n, mx == -INFINITY ? 0.0f : mx);
    return lane_sum_portable(s, n);
}

#ifdef T2V_HAVE_AVX512BF16
/* scale_max_portable 16 wide: the same products and sums; the max of the
 * same values (vmaxps returns its second operand, the running max, when s_j
 * is NaN, as the scalar comparison skips it; a max of +0 and -0 may differ
 * in sign, which no s_j - m can tell: s_j - (+-0) = s_j for s_j != 0 and
 * exp(+-0) = 1). */
__attribute__((target("avx512f"))) static float scale_max_avx512(float *s, int n, float scale, const float *b) {
    __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(-INFINITY);
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(s + j), vs);
        if (b) x = _mm512_add_ps(x, _mm512_loadu_ps(b + j));
        _mm512_storeu_ps(s + j, x);
        vm = _mm512_max_ps(x, vm);
    }
    float mx = _mm512_reduce_max_ps(vm);
    for (; j < n; j++) {
        s[j] = b ? s[j] * scale + b[j] : s[j] * scale;
        mx = s[j] > mx ? s[j] : mx;
    }
    return mx;
}

/* lane_sum_portable with the eight lanes in one 8-wide register. */
__attribute__((target("avx512f"))) static float lane_sum_avx512(const float *s, int n) {
    __m256 v = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) v = _mm256_add_ps(v, _mm256_loadu_ps(s + j));
    float r[8];
    _mm256_storeu_ps(r, v);
    for (; j < n; j++) r[j % 8] += s[j];
    return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
}
#endif

/* softmax_weights (the same bits) on the kernels' loops, the weights also
 * rounded to bf16 into pb[0, n) (pb[n] = 0 for an odd n: P's row for P.V). */
static float softmax_row(const Bf16Kernels *kn, float *s, int n, float scale, const float *b, uint16_t *pb) {
    float mx, l;
#ifdef T2V_HAVE_AVX512BF16
    if (kn->micro == micro_avx512bf16) {
        mx = scale_max_avx512(s, n, scale, b);
        exp_shifted_inplace(s, n, mx == -INFINITY ? 0.0f : mx);
        l = lane_sum_avx512(s, n);
    } else
#endif
    {
        mx = scale_max_portable(s, n, scale, b);
        exp_shifted_inplace(s, n, mx == -INFINITY ? 0.0f : mx);
        l = lane_sum_portable(s, n);
    }
    kn->round(pb, s, n);
    if (n % 2) pb[n] = 0;
    return l;
}

typedef struct {
    Bf16Kernels kn;
    int Nq, Nk, H, d;
    float scale;
    const float *relbias;
    uint16_t *Kp, *Vp;      /* per head: K_h as B [d x Nk]^T, V_h as B [Nk x d] */
    size_t kp_size, vp_size;
} Bf16AttPlan;

/* Queries [i0, i0 + nq) of head h: S = Q K^T (fp32 scratch), P = the
 * rounded weights (Ar, the rows of the second product), O = P V, out = O / l. */
static void att_bf16_task(const Bf16AttPlan *pl, float *out, int ldo, const float *q, int ldq, int h, int i0,
                          int nq, float *S, float *O, uint16_t *Ar) {
    int Nk = pl->Nk, d = pl->d;
    size_t la = 2 * (size_t)pairs(Nk);
    round_a(&pl->kn, Ar, q + (size_t)i0 * ldq + (size_t)h * d, ldq, nq, d);
    macro_bf16(pl->kn.micro, nq, Nk, pairs(d), 2 * (size_t)pairs(d), Ar, pl->Kp + (size_t)h * pl->kp_size, S, Nk, NULL);
    const float *rb = pl->relbias ? pl->relbias + (size_t)h * (pl->Nq + Nk - 1) : NULL;
    float *l = O + (size_t)nq * d;
    for (int i = 0; i < nq; i++)
        l[i] = softmax_row(&pl->kn, S + (size_t)i * Nk, Nk, pl->scale, rb ? rb + (pl->Nq - 1 - (i0 + i)) : NULL,
                           Ar + i * la);
    memset(Ar + nq * la, 0, sizeof(uint16_t) * la * (size_t)(mr_pad(nq) - nq));
    macro_bf16(pl->kn.micro, nq, d, pairs(Nk), la, Ar, pl->Vp + (size_t)h * pl->vp_size, O, d, NULL);
    for (int i = 0; i < nq; i++) {
        float *o = out + (size_t)(i0 + i) * ldo + (size_t)h * d;
        for (int c = 0; c < d; c++) o[c] = O[(size_t)i * d + c] / l[i];
    }
}

/* One query at a time with gemm_bf16_naive: the same arithmetic. */
void attention_bf16_naive(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                          const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                          const float *relbias) {
    float *s = malloc(sizeof(float) * (size_t)(Nk > 0 ? Nk : 1));
    for (int h = 0; h < H; h++)
        for (int i = 0; i < Nq; i++) {
            float *o = out + (size_t)i * ldo + (size_t)h * d;
            if (!s || Nk <= 0) { /* no keys: zero; no memory: NaN */
                for (int c = 0; c < d; c++) o[c] = s ? 0.0f : NAN;
                continue;
            }
            Bf16Operand kb = {NULL, k + (size_t)h * d, ldk, 1}, vb = {NULL, v + (size_t)h * d, ldv, 0};
            gemm_bf16_naive(1, Nk, d, q + (size_t)i * ldq + (size_t)h * d, ldq, &kb, s, Nk);
            const float *rb = relbias ? relbias + (size_t)h * (Nq + Nk - 1) + (Nq - 1 - i) : NULL;
            float l = softmax_weights(s, Nk, scale, rb);
            gemm_bf16_naive(1, d, Nk, s, Nk, &vb, o, d);
            for (int c = 0; c < d; c++) o[c] /= l;
        }
    free(s);
}

void attention_bf16_forward(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                            const float *relbias, Bf16Work *ws) {
    if (Nq <= 0 || H <= 0 || d <= 0) return;
    if (Nk <= 0) { /* softmax over no keys: define the output as zero */
        for (int i = 0; i < Nq; i++) memset(out + (size_t)i * ldo, 0, sizeof(float) * (size_t)H * d);
        return;
    }
    Bf16AttPlan pl = {bf16_kernels(), Nq, Nk, H, d, scale, relbias, NULL, NULL,
                      b_pack_elems(Nk, d), b_pack_elems(d, Nk)};
    /* queries per task: the score rows (fp32) and their bf16 rounding, 6 Nk
     * bytes a query, within ~512 KB (L2); a multiple of MR, at most ATT_BQ */
    int bq = (int)(((size_t)512 * 1024 / (6 * (size_t)Nk)) / BF_MR * BF_MR);
    bq = imin(imin(bq < BF_MR ? BF_MR : bq, ATT_BQ), Nq);
    int nt = platform_max_threads();
    size_t a_size = a_pack_elems(bq, Nk > d ? Nk : d);
    size_t f_size = (size_t)bq * Nk + (size_t)bq * d + (size_t)bq;
    size_t p_bytes = line(sizeof(uint16_t) * ((pl.kp_size + pl.vp_size) * (size_t)H + a_size * (size_t)nt));
    Bf16Work tmp = {NULL, 0, NULL, 0, 0}, *w = ws ? ws : &tmp;
    unsigned char *buf = work_get(w, p_bytes + sizeof(float) * f_size * (size_t)nt);
    if (!buf) { /* out of memory: the slow path gives the same bits */
        attention_bf16_naive(out, ldo, q, ldq, k, ldk, v, ldv, Nq, Nk, H, d, scale, relbias);
        return;
    }
    uint16_t *packs = (uint16_t *)buf;
    w->packed_w = NULL; /* overwritten below */
    float *fs = (float *)(buf + p_bytes);
    pl.Kp = packs;
    pl.Vp = packs + pl.kp_size * (size_t)H;
    int n_qb = (Nq + bq - 1) / bq, tasks = n_qb * H;
#pragma omp parallel num_threads(nt) if (tasks > 1 && nt > 1)
    {
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            Bf16Operand kb = {NULL, k + (size_t)h * d, ldk, 1}, vb = {NULL, v + (size_t)h * d, ldv, 0};
            pack_b(&pl.kn, pl.Kp + pl.kp_size * (size_t)h, &kb, Nk, d, 0, (Nk + BF_NR - 1) / BF_NR);
            pack_b(&pl.kn, pl.Vp + pl.vp_size * (size_t)h, &vb, d, Nk, 0, (d + BF_NR - 1) / BF_NR);
        }
        float *S = fs + f_size * (size_t)platform_thread_id();
        uint16_t *Ar = packs + (pl.kp_size + pl.vp_size) * (size_t)H + a_size * (size_t)platform_thread_id();
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) {
            int h = t / n_qb, i0 = (t % n_qb) * bq;
            att_bf16_task(&pl, out, ldo, q, ldq, h, i0, imin(bq, Nq - i0), S, S + (size_t)bq * Nk, Ar);
        }
    }
    bf16_work_free(&tmp);
}

/* ===========================================================================
 * Conv3d (gemm_bf16.h): out[Cout, positions] = Ar · Bp per output frame, a
 * product of pairs in the order (a, b, c, q): kernel tap outermost, channel
 * pairs (2q, 2q+1) innermost, so every tap is a whole number of pairs.
 *   Ar: the weight rounded once per call, row co: bf16 w[co, 2q + i, a, b, c]
 *       at ((a kh + b) kw + c) 2 Cq + 2q + i (Cq channel pairs; an odd Cin
 *       gets a zero channel);
 *   Xp: the input rounded once per call into channel pairs, Xp[q][t][h][w][2];
 *   Bp: per task (CONV_NP positions of one output frame), pair p of position
 *       j: the 4 bytes of Xp at the pixel the tap reads, or zeros in the
 *       spatial padding. The taps outside the input in time are left out. */
#define CONV_NP 128 /* output positions per task: 4 panels of NR */

typedef struct {
    Bf16Kernels kn;
    int Cin, T, H, W, Cout, Cq, To, Ho, Wo;
    const Conv3dParams *p;
    uint16_t *Ar, *Xp;
    int np;    /* pairs of a whole kernel: kt kh kw Cq */
    size_t la; /* Ar's row stride: 2 np */
} ConvPlan;

/* The temporal taps [*a0, *a1) of output frame `to` that read input frames. */
static void conv_taps(const ConvPlan *c, int to, int *a0, int *a1) {
    int t0 = to * c->p->st - c->p->pt0;
    *a0 = t0 < 0 ? -t0 : 0;
    *a1 = c->T - t0 < c->p->kt ? c->T - t0 : c->p->kt;
}

/* Row co of Ar from w [Cout, Cin, kt, kh, kw] (fp32 after widening: f, K
 * floats; r: K bf16 values of scratch). */
static void conv_round_row(const ConvPlan *c, int co, const float *f, uint16_t *r) {
    int ntap = c->p->kt * c->p->kh * c->p->kw, K = c->Cin * ntap;
    uint16_t *dst = c->Ar + (size_t)co * c->la;
    c->kn.round(r, f, K);
    memset(dst, 0, sizeof(uint16_t) * c->la);
    for (int ci = 0; ci < c->Cin; ci++)
        for (int tap = 0; tap < ntap; tap++) dst[(size_t)tap * 2 * c->Cq + ci] = r[ci * ntap + tap];
}

/* Ar <- the weight, rows padded with zero rows to a multiple of MR. A
 * weight with a scale or a dtype of whole elements is widened row by row;
 * others (quantized, a LoRA delta) whole by weight_f32, the fp32 path's values. */
static int conv_round_weight(ConvPlan *c, const Tensor *Wt, T2vError *err) {
    int64_t K = tensor_numel(Wt) / c->Cout;
    int by_row = !dtype_is_quant(Wt->dtype) && !Wt->delta, nt = platform_max_threads();
    float *wide = by_row ? NULL : t2v_malloc(sizeof(float) * (size_t)tensor_numel(Wt), "bf16 conv weight", err);
    unsigned char *buf = t2v_malloc((sizeof(float) + sizeof(uint16_t)) * (size_t)K * nt, "bf16 conv rows", err);
    if (!buf || (!by_row && !wide)) { free(wide); free(buf); return T2V_ERESOURCE; }
    const float *wf = by_row ? NULL : weight_f32(Wt, wide);
    size_t esz = dtype_size(Wt->dtype);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int co = 0; co < c->Cout; co++) {
        float *f = (float *)buf + (size_t)K * platform_thread_id();
        uint16_t *r = (uint16_t *)((float *)buf + (size_t)K * nt) + (size_t)K * platform_thread_id();
        if (by_row) widen_scaled(f, (const unsigned char *)Wt->data + esz * (size_t)K * co, Wt->dtype, Wt->scale, K);
        else memcpy(f, wf + (size_t)K * co, sizeof(float) * (size_t)K);
        conv_round_row(c, co, f, r);
    }
    memset(c->Ar + (size_t)c->Cout * c->la, 0, sizeof(uint16_t) * c->la * (size_t)(mr_pad(c->Cout) - c->Cout));
    free(buf);
    free(wide);
    return T2V_OK;
}

/* Xp <- the input in channel pairs, bf16. */
static void conv_round_input(const ConvPlan *c, const float *inp) {
    int64_t n = (int64_t)c->T * c->H * c->W;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < c->Cq; q++) {
        uint16_t t0[256], t1[256];
        uint16_t *d = c->Xp + (size_t)q * n * 2;
        for (int64_t i0 = 0; i0 < n; i0 += 256) {
            int m = (int)(n - i0 < 256 ? n - i0 : 256);
            c->kn.round(t0, inp + (size_t)(2 * q) * n + i0, m);
            if (2 * q + 1 < c->Cin) c->kn.round(t1, inp + (size_t)(2 * q + 1) * n + i0, m);
            else memset(t1, 0, sizeof t1);
            for (int j = 0; j < m; j++) d[2 * (i0 + j)] = t0[j], d[2 * (i0 + j) + 1] = t1[j];
        }
    }
}

/* A run of positions in one output row and one panel: row ho from column
 * wo, n positions, written at column j of the task. */
typedef struct {
    int ho, wo, n, j;
} ConvRun;

/* The runs of positions [j0, j0 + n) of a frame; returns how many. */
static int conv_runs(const ConvPlan *c, int j0, int n, ConvRun *run) {
    int nr = 0;
    for (int j = 0; j < n;) {
        int ho = (j0 + j) / c->Wo, wo = (j0 + j) % c->Wo;
        int len = imin(imin(c->Wo - wo, n - j), BF_NR - j % BF_NR);
        run[nr++] = (ConvRun){ho, wo, len, j};
        j += len;
    }
    return nr;
}

/* Bp <- pairs [ps, pe) of the task's positions (runs), output frame to. */
static void conv_pack_b(const ConvPlan *c, uint16_t *Bp, int to, const ConvRun *run, int nrun, int n, int ps,
                        int pe) {
    const Conv3dParams *p = c->p;
    int npp = pe - ps, khw = p->kh * p->kw;
    size_t plane = (size_t)c->H * c->W * 2;
    if (n % BF_NR) memset(Bp + (size_t)(n / BF_NR) * npp * BF_NR * 2, 0, sizeof(uint16_t) * (size_t)npp * BF_NR * 2);
    for (int pp = ps; pp < pe; pp++) {
        int tap = pp / c->Cq, q = pp % c->Cq, a = tap / khw, b = tap % khw / p->kw, cc = tap % p->kw;
        const uint16_t *x = c->Xp + ((size_t)q * c->T + (size_t)(to * p->st - p->pt0 + a)) * plane;
        for (int r = 0; r < nrun; r++) {
            const ConvRun *u = &run[r];
            uint16_t *d = Bp + ((size_t)(u->j / BF_NR) * npp + (pp - ps)) * BF_NR * 2 + (u->j % BF_NR) * 2;
            int hi = u->ho * p->sh - p->ph0 + b, wi0 = u->wo * p->sw - p->pw0 + cc;
            if (hi < 0 || hi >= c->H) { memset(d, 0, sizeof(uint16_t) * 2 * (size_t)u->n); continue; }
            const uint16_t *row = x + (size_t)hi * c->W * 2;
            if (p->sw == 1 && u->n == BF_NR && wi0 >= 0 && wi0 + BF_NR <= c->W) { /* a whole panel: inlined */
                memcpy(d, row + 2 * (size_t)wi0, sizeof(uint16_t) * 2 * BF_NR);
            } else if (p->sw == 1) { /* a shifted copy of the row, zeros where it runs off the edges */
                int x0 = imin(u->n, wi0 < 0 ? -wi0 : 0), x1 = imax(x0, imin(u->n, c->W - wi0));
                memset(d, 0, sizeof(uint16_t) * 2 * (size_t)x0);
                if (x1 > x0) memcpy(d + 2 * x0, row + 2 * (size_t)(wi0 + x0), sizeof(uint16_t) * 2 * (size_t)(x1 - x0));
                memset(d + 2 * x1, 0, sizeof(uint16_t) * 2 * (size_t)(u->n - x1));
            } else {
                for (int k = 0; k < u->n; k++) {
                    int wi = wi0 + k * p->sw;
                    if (wi >= 0 && wi < c->W) memcpy(d + 2 * k, row + 2 * (size_t)wi, 4);
                    else d[2 * k] = d[2 * k + 1] = 0;
                }
            }
        }
    }
}

/* One task: output frame to, positions [j0, j0 + n), channels [co0, co0 + nco). */
static void conv_task(const ConvPlan *c, float *out, const float *bias, int to, int j0, int n, int co0, int nco,
                      uint16_t *Bp) {
    ConvRun run[CONV_NP];
    int a0, a1, khw = c->p->kh * c->p->kw, nrun = conv_runs(c, j0, n, run);
    int64_t P = (int64_t)c->Ho * c->Wo, ldc = (int64_t)c->To * P;
    conv_taps(c, to, &a0, &a1);
    int ps = a0 * khw * c->Cq, pe = a1 > a0 ? a1 * khw * c->Cq : ps;
    float *C = out + (size_t)co0 * ldc + (size_t)to * P + j0;
    if (pe > ps) conv_pack_b(c, Bp, to, run, nrun, n, ps, pe);
    for (int i0 = 0; i0 < nco; i0 += BF_MC) {
        int m = imin(BF_MC, nco - i0);
        float *Ci = C + (size_t)i0 * ldc;
        if (pe == ps)
            for (int i = 0; i < m; i++) memset(Ci + (size_t)i * ldc, 0, sizeof(float) * (size_t)n);
        else
            macro_bf16(c->kn.micro, m, n, pe - ps, c->la, c->Ar + (size_t)(co0 + i0) * c->la + 2 * (size_t)ps, Bp,
                       Ci, (int)ldc, NULL);
    }
    for (int i = 0; bias && i < nco; i++)
        for (int j = 0; j < n; j++) C[(size_t)i * ldc + j] += bias[co0 + i];
}

static int conv_check(const Tensor *Wt, int Cin, int T, int H, int W, const Conv3dParams *p, int *To, int *Ho,
                      int *Wo, T2vError *err) {
    char sh[96];
    if (Wt->ndim != 5 || Wt->shape[1] != Cin || Wt->shape[2] != p->kt || Wt->shape[3] != p->kh ||
        Wt->shape[4] != p->kw || !dtype_is_float(Wt->dtype))
        return t2v_fail(err, T2V_EINPUT,
                        "bf16 conv3d weight: expected a float tensor [Cout, %d, %d, %d, %d], found %s %s",
                        Cin, p->kt, p->kh, p->kw, dtype_name(Wt->dtype), shape_str(Wt, sh, sizeof sh));
    conv3d_out_size(p, T, H, W, To, Ho, Wo);
    if (p->st < 1 || p->sh < 1 || p->sw < 1 || *To < 1 || *Ho < 1 || *Wo < 1)
        return t2v_fail(err, T2V_EINPUT, "bf16 conv3d: input [%d, %d, %d, %d] too small for kernel (%d, %d, %d) "
                        "stride (%d, %d, %d)", Cin, T, H, W, p->kt, p->kh, p->kw, p->st, p->sh, p->sw);
    return T2V_OK;
}

size_t conv3d_bf16_scratch_bytes(int64_t cin, int64_t cout, int64_t wnumel, int64_t in_pixels) {
    int64_t ntap = wnumel / (cin * cout), np = ntap * ((cin + 1) / 2), nt = platform_max_threads();
    return sizeof(uint16_t) * (size_t)(mr_pad((int)cout) * 2 * np + (cin + 1) / 2 * 2 * in_pixels +
                                       nt * CONV_NP * 2 * np) +
           (sizeof(float) + sizeof(uint16_t)) * (size_t)(wnumel / cout * nt);
}

int conv3d_bf16_forward(float *out, const float *inp, int Cin, int T, int H, int W, const Tensor *weight,
                        const float *bias, const Conv3dParams *p, T2vError *err) {
    ConvPlan c = {bf16_kernels(), Cin, T, H, W, (int)weight->shape[0], (Cin + 1) / 2, 0, 0, 0, p, NULL, NULL, 0, 0};
    int rc = conv_check(weight, Cin, T, H, W, p, &c.To, &c.Ho, &c.Wo, err);
    if (rc) return rc;
    c.np = p->kt * p->kh * p->kw * c.Cq;
    c.la = 2 * (size_t)c.np;
    int nt = platform_max_threads(), ntj = (c.Ho * c.Wo + CONV_NP - 1) / CONV_NP;
    int64_t nrect = (int64_t)c.To * ntj;
    int cb = 1; /* output channels in cb blocks when the frame has fewer tasks than threads */
    while (nrect * cb < nt && c.Cout / (2 * cb) >= BF_MC) cb *= 2;
    int nco = mr_pad((c.Cout + cb - 1) / cb); /* blocks start on a row tile: the kernel reads whole tiles of Ar */
    size_t bp_size = (size_t)CONV_NP * 2 * c.np;
    c.Ar = t2v_malloc(sizeof(uint16_t) * c.la * (size_t)mr_pad(c.Cout), "bf16 conv weight", err);
    c.Xp = c.Ar ? t2v_malloc(sizeof(uint16_t) * 2 * (size_t)c.Cq * T * H * W, "bf16 conv input", err) : NULL;
    uint16_t *bps = c.Xp ? t2v_malloc(sizeof(uint16_t) * bp_size * (size_t)nt, "bf16 conv columns", err) : NULL;
    rc = bps ? conv_round_weight(&c, weight, err) : T2V_ERESOURCE;
    if (!rc) {
        conv_round_input(&c, inp);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nrect * cb > 1)
        for (int64_t t = 0; t < nrect * cb; t++) {
            int64_t rect = t / cb;
            int to = (int)(rect / ntj), j0 = (int)(rect % ntj) * CONV_NP, co0 = (int)(t % cb) * nco;
            if (co0 < c.Cout)
                conv_task(&c, out, bias, to, j0, imin(CONV_NP, c.Ho * c.Wo - j0), co0, imin(nco, c.Cout - co0),
                          bps + bp_size * (size_t)platform_thread_id());
        }
    }
    free(bps);
    free(c.Xp);
    free(c.Ar);
    return rc;
}

void conv3d_bf16_naive(float *out, const float *inp, int Cin, int T, int H, int W, const float *w, int Cout,
                       const float *bias, const Conv3dParams *p) {
    int To, Ho, Wo, K3 = p->kt * p->kh * p->kw;
    conv3d_out_size(p, T, H, W, &To, &Ho, &Wo);
    for (int co = 0; co < Cout; co++)
        for (int to = 0; to < To; to++)
            for (int ho = 0; ho < Ho; ho++)
                for (int wo = 0; wo < Wo; wo++) {
                    float acc = 0.0f;
                    for (int a = 0; a < p->kt; a++) {
                        int ti = to * p->st - p->pt0 + a;
                        if (ti < 0 || ti >= T) continue; /* taps outside the input in time: not in the sum */
                        for (int b = 0; b < p->kh; b++)
                            for (int c = 0; c < p->kw; c++) {
                                int hi = ho * p->sh - p->ph0 + b, wi = wo * p->sw - p->pw0 + c;
                                int in = hi >= 0 && hi < H && wi >= 0 && wi < W;
                                for (int ci = 0; ci < Cin; ci += 2) { /* the pair (ci, ci + 1), odd member first */
                                    uint16_t wv[2] = {0, 0}, xv[2] = {0, 0};
                                    for (int i = 0; i < 2 && ci + i < Cin; i++) {
                                        int tap = (a * p->kh + b) * p->kw + c;
                                        wv[i] = f32_to_bf16(w[((size_t)co * Cin + ci + i) * K3 + tap]);
                                        size_t xi = (((size_t)(ci + i) * T + ti) * H + hi) * W + wi;
                                        if (in) xv[i] = f32_to_bf16(inp[xi]);
                                    }
                                    acc = bf16_dot_step(bf16_dot_step(acc, wv[1], xv[1]), wv[0], xv[0]);
                                }
                            }
                    }
                    out[(((size_t)co * To + to) * Ho + ho) * Wo + wo] = bias ? acc + bias[co] : acc;
                }
}
