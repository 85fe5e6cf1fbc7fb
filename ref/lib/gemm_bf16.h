/*
 * gemm_bf16.h: the bf16 arithmetic of `--precision bf16` (docs/ARCHITECTURE.md,
 * Numerics, "bf16").
 *
 * Operands are rounded to bf16 (round to nearest even) as they are packed;
 * products accumulate in fp32 in the order of the x86 instruction vdpbf16ps,
 * which every kernel follows bit for bit. For one output element, with the
 * sum over k taken in pairs (k = 2p, 2p+1; an odd K gets a zero pair member):
 *
 *   acc = +0
 *   for p = 0, 1, ...:  acc = R(acc + a[2p+1] b[2p+1]);  acc = R(acc + a[2p] b[2p])
 *
 * R rounds the exact value to fp32 (nearest even) once; bf16 inputs that are
 * denormal count as zero (of their sign), and a rounded result below 2^-126
 * in magnitude becomes zero of its sign (DAZ/FTZ, tininess after rounding).
 * The order depends only on K: the kernels, the tiling and the thread count
 * never change a bit. Kernels: "avx512-bf16" (vdpbf16ps, chosen at run time
 * by cpuid) and "portable" (plain C, any CPU; forced with T2V_GEMM_GENERIC=1).
 */
#ifndef T2V_GEMM_BF16_H
#define T2V_GEMM_BF16_H

#include "ops.h"
#include "tensor.h"

/* The arithmetic of the linear layers and attention products. */
typedef enum { PREC_FP32, PREC_BF16 } Precision;
const char *precision_name(Precision p);                 /* "fp32", "bf16" */
int precision_from_name(const char *s, Precision *out);  /* 0 ok, -1 unknown */

/* The kernel gemm_bf16 runs on this CPU: "avx512-bf16" or "portable". */
const char *bf16_kernel_name(void);

/* One step of the order above, the definition every kernel matches:
 * R(acc + a b) with a, b bf16 bit patterns (DAZ) and the result FTZ. */
float bf16_dot_step(float acc, uint16_t a, uint16_t b);

/* d[i] = f32_to_bf16(s[i]) for i in [0, n), with the loop the products
 * round their operands with (16 wide where the CPU allows; the same bits). */
void bf16_round(uint16_t *d, const float *s, int64_t n);

/* Scratch the bf16 products pack their operands into: grown on demand and
 * kept by the caller (a stage's state), so that a forward pass does not fault
 * in fresh pages at every product. Zero-initialise; bf16_work_free. A NULL
 * Bf16Work * anywhere below: a temporary one for that call. */
typedef struct {
    void *p;
    size_t cap;
    /* the weight tensor whose packing the scratch still holds (a product with
     * the same W, N and K skips packing it again); NULL: none */
    const Tensor *packed_w;
    int packed_n, packed_k;
} Bf16Work;
void bf16_work_free(Bf16Work *w);
/* Forgets the packed weight: call when weights may have changed (the
 * stages call it at the start of every forward). */
void bf16_work_forget(Bf16Work *w);

/* The second operand of a bf16 product, element (k, j) of op(B) [K, N]:
 *   W != NULL: W [N, K] a tensor in its file dtype (F32, F16, BF16, any
 *              alignment): element W[j, k] (PyTorch Linear's weight);
 *   else       f fp32 in memory: trans ? f[j*ld + k] : f[k*ld + j]. */
typedef struct {
    const Tensor *W;
    const float *f;
    int64_t ld;
    int trans;
} Bf16Operand;

/* C[M, N] = A[M, K] (row stride lda) · op(B) in the order above; C is
 * overwritten (row stride ldc). Threads split C, never a sum. */
void gemm_bf16(int M, int N, int K, const float *A, int lda, const Bf16Operand *B, float *C, int ldc,
               Bf16Work *ws);
/* The same, one element at a time with bf16_dot_step (for tests). */
void gemm_bf16_naive(int M, int N, int K, const float *A, int lda, const Bf16Operand *B, float *C,
                     int ldc);

/* PyTorch Linear in bf16: out[M, N] = bf16(inp)[M, K] · bf16(W)[N, K]^T, then
 * + b[N] in fp32 (b may be NULL). W [N, ...] any float dtype, K = numel / N. */
void linear_bf16_forward(float *out, const float *inp, const Tensor *W, const float *b, int M, Bf16Work *ws);

/* attention_forward (ops.h) with bf16 products: per head h and query i,
 *   s_j = scale · (bf16(q_i) · bf16(k_j)) [+ relbias],  m = max_j s_j,
 *   p_j = exp(s_j - m) (fp32), l = sum_j p_j (fp32, j increasing),
 *   out_i = (sum_j bf16(p_j) bf16(v_j)) / l
 * the two sums over d and over j in the bf16 order; softmax in fp32. */
void attention_bf16_forward(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                            const float *relbias, Bf16Work *ws);
/* The same, one query at a time with gemm_bf16_naive (for tests). */
void attention_bf16_naive(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                          const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                          const float *relbias);

/* conv3d_forward (ops.h) with bf16 products, the VAE's convolutions in
 * `--precision bf16` (docs/ARCHITECTURE.md, Numerics, "bf16", VAE): for each
 * output element, acc = +0, then per kernel tap (a, b, c) in order and per
 * channel pair (2q, 2q+1) (an odd Cin: a zero channel 2q+1 = Cin) the two
 * steps of the order above, odd channel first:
 *   acc = R(acc + bf16(w[co,2q+1,a,b,c]) bf16(x[2q+1, ...])); then 2q
 * with x zero in the spatial padding; the temporal taps that fall outside
 * the input frames are left out (as the fp32 path's Winograd leaves them
 * out); then out = acc + bias[co] in fp32. No Winograd: every product takes
 * the plain activation and weight. The weight is rounded once per call from
 * its file dtype (row by row). The same bits for every kernel and thread
 * count. */
int conv3d_bf16_forward(float *out, const float *inp, int Cin, int T, int H, int W, const Tensor *weight,
                        const float *bias, const Conv3dParams *p, T2vError *err);
/* The same, one element at a time with bf16_dot_step; w fp32 [Cout, Cin, kt,
 * kh, kw] (for tests). */
void conv3d_bf16_naive(float *out, const float *inp, int Cin, int T, int H, int W, const float *w, int Cout,
                       const float *bias, const Conv3dParams *p);
/* The scratch conv3d_bf16_forward allocates for a weight of wnumel elements
 * [cout, cin, ...] on an input of in_pixels = T H W (it grows with the
 * thread count). */
size_t conv3d_bf16_scratch_bytes(int64_t cin, int64_t cout, int64_t wnumel, int64_t in_pixels);

#endif
