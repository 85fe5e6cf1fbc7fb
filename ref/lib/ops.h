/*
 * ops.h: the kernels every stage is written in. Shapes are in the comment
 * above each function, row-major, no batch dimension. All compute is fp32;
 * weights arrive as Tensors in their file dtype and are widened just before
 * use. Own reductions run in a fixed order (threads split the outputs, never
 * a sum), so results are bit-identical for any thread count.
 *
 * exp/tanh/sin/cos are evaluated in double and rounded (docs/ARCHITECTURE.md, Numerics).
 */
#ifndef T2V_OPS_H
#define T2V_OPS_H

#include "tensor.h"

/* ---------------------------------------------------------------------------
 * GEMM. Row-major, cblas conventions:
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 * op(X) = X or X^T according to transA/transB (0/1).
 * Built on OpenBLAS's cblas_sgemm, or with `make BLAS=none` on gemm_builtin's
 * blocked, OpenMP-threaded replacement. gemm_naive is the slow, obviously
 * correct triple loop the fast paths are tested against. */
void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc);
void gemm_builtin(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
void gemm_naive(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);
const char *gemm_backend(void); /* "openblas" or "builtin" */
/* The rows x cols tiles gemm() cuts C[M,N] into in the OpenBLAS build (one
 * single-threaded OpenBLAS call each, shared by the threads), for a machine
 * of `procs` processors: never a function of the thread count, so every
 * thread count gets the same bits (ops.c). gemm_grid_procs: the procs gemm()
 * uses (T2V_GEMM_PROCS, else the machine's online processors). */
typedef struct {
    int rows, cols; /* tiles                                              */
    int tm, tn;     /* rows and columns of a tile (the last ones: the rest) */
} GemmGrid;
/* granule G > 0 (T2V_GEMM_ROWS): row tiles of exactly G rows from row 0 and
 * columns cut from (N, K, procs) alone, so a call on rows [a, b), a and b
 * multiples of G (or b = M), computes them as the whole call does. */
GemmGrid gemm_tile_grid(int M, int N, int K, int procs, int granule);
int gemm_grid_procs(void);
int gemm_grid_granule(void);
/* The rows a split of a GEMM's M must cut on to keep the bits of one call
 * (docs/SCALING.md, What is split): the granule under OpenBLAS (0: none set,
 * no split keeps them), 1 for the built-in GEMM (any split does). */
int gemm_row_granule(void);

/* Whether W must be widened into a scratch copy before an fp32 kernel reads
 * it: not F32, a big-endian host, or F32 data not 4-byte aligned in its file
 * (tensor_f32's rule; a legal safetensors file may put a tensor at any byte
 * offset). The one rule every stage sizes its widening scratch with. */
int needs_widening(const Tensor *W);

/* W as fp32: W's own data unless needs_widening(W), else W widened into
 * scratch (numel floats), rows split over threads, BF16 by an inline shift.
 * Exact: the same values as tensor_f32, faster. */
const float *weight_f32(const Tensor *W, float *scratch);

/* PyTorch Linear: out[M,N] = inp[M,K] · W[N,K]^T + b[N].
 * W is any float dtype. For few rows (M <= 96: a prompt's tokens) of a
 * non-F32 W, the widening is fused with the GEMM's packing (W read once, in
 * its file dtype); otherwise as linear_gemm_forward. The choice depends on
 * the dtype and M only, never on alignment, so a misaligned F32 file gives
 * the bits of an aligned one. wscratch: N*K floats, used when
 * needs_widening(W) (NULL: a temporary is allocated when needed). b may be
 * NULL. */
void linear_forward(float *out, const float *inp, const Tensor *W, const float *b, int M,
                    float *wscratch);
/* The same as weight_f32 + linear_f32_forward, for any M: W [N, ...] (K =
 * numel / N, so a Conv3d kernel with kernel = stride works as its matrix)
 * widened whole into wscratch when needs_widening(W) (NULL: a temporary),
 * then one gemm(). The DiT's linears, whatever the token count. */
void linear_gemm_forward(float *out, const float *inp, const Tensor *W, const float *b, int M,
                         float *wscratch);
/* out[M,N] = inp[M,K] · w[N,K]^T + b[N] with w already fp32 (weight_f32):
 * one gemm(), then the bias (b may be NULL). */
void linear_f32_forward(float *out, const float *inp, const float *w, const float *b, int M, int N,
                        int K);

/* out[m,N] = W[N,K] x[m,K] + b[N] for m < M vectors (the M = 1 MLPs of the
 * time embedding, one vector per distinct timestep): W read a row at a time
 * in its file dtype, any alignment; each sum in increasing k, then + b[n], so
 * a vector gets the same bits whatever M and the other vectors are. */
void matvec_forward(float *out, const Tensor *W, const float *x, const float *b, int M);

/* ---------------------------------------------------------------------------
 * adaLN (the DiT's modulation), in place on x[N,D]. Token n uses row
 * r = row[n] (row NULL: r = 0 for every token) of tables with row stride ld,
 * so tokens with different timesteps each take their own row. */
/* x[n] <- x[n] * (1 + scale[r]) + shift[r] */
void modulate_inplace(float *x, const float *shift, const float *scale, int ld, const int *row, int N,
                      int D);
/* x[n] += y[n] * gate[r] (gate NULL: x += y, the plain residual) */
void residual_inplace(float *x, const float *y, const float *gate, int ld, const int *row, int N,
                      int D);

/* ---------------------------------------------------------------------------
 * Norms, over the last dimension C of inp[N,C]. */
/* LayerNorm (biased variance). weight/bias may be NULL (no affine). */
void layernorm_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps);
/* RMSNorm: out = inp / sqrt(mean(inp^2) + eps) * weight (weight may be NULL). */
void rmsnorm_forward(float *out, const float *inp, const float *weight, int N, int C, float eps);

/* ---------------------------------------------------------------------------
 * Elementwise activations, in place on n values. */
void gelu_tanh_inplace(float *x, int64_t n); /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
void gelu_erf_inplace(float *x, int64_t n);  /* 0.5x(1+erf(x/sqrt(2))) */
void silu_inplace(float *x, int64_t n);      /* x * sigmoid(x) */
/* Softmax over the last dimension of x[N,C], in place. */
void softmax_inplace(float *x, int N, int C);

/* x[i] = t2v_expf(x[i] - sub) for i < n: the vector loop the attention's
 * softmax uses (the same bits as the scalar call). */
void exp_shifted_inplace(float *x, int n, float sub);

/* Scalar helpers (double inside, rounded to float). */
float t2v_expf(float x);
float t2v_tanhf(float x);

/* ---------------------------------------------------------------------------
 * Rotary embedding with interleaved pairs (x[2j], x[2j+1]) (docs/MODEL.md 2.5):
 *   x[.., 2j]   <- x0 cos - x1 sin,   x[.., 2j+1] <- x0 sin + x1 cos
 * x[N, H, d] with row stride ld (>= H*d); cos/sin [N, d/2] shared by heads. */
void rope_apply(float *x, int N, int H, int d, int ld, const float *cos_t, const float *sin_t);

/* ---------------------------------------------------------------------------
 * Attention, blocked with an online softmax: memory O(N·d), never Nq x Nk.
 *   out[i, h*d:(h+1)*d] = sum_j softmax_j(scale · q_i·k_j + bias) v_j   per head h
 * q[Nq, H*d] (row stride ldq), k and v [Nk, H*d] (strides ldk, ldv),
 * out[Nq, H*d] (stride ldo). relbias, when not NULL, is [H][Nq+Nk-1] and adds
 * relbias[h][(j - i) + (Nq - 1)] to logit (i, j) (T5's relative bias).
 * Threads split (head, query block) pairs; each output is computed by one
 * thread in a fixed order. */
void attention_forward(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                       const float *relbias);
/* The obvious O(Nq·Nk) version, for tests. */
void attention_naive(float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                     const float *v, int ldv, int Nq, int Nk, int H, int d, float scale,
                     const float *relbias);

/* ---------------------------------------------------------------------------
 * 3D convolution by im2col + GEMM, stride 1 or more, explicit zero padding
 * per side; 3x3 spatial kernels with stride 1 and padding 1 (the VAE's)
 * by Winograd F(2x2, 3x3) + GEMM instead (ops.c). inp[Cin, T, H, W] -> out[Cout, To, Ho, Wo] with
 *   To = (T + pt0 + pt1 - kt) / st + 1, likewise Ho, Wo.
 * W [Cout, Cin, kt, kh, kw] in any float dtype, bias [Cout] fp32 or NULL.
 * Causal convs pass pt0 = 2*p, pt1 = 0 (the VAE, docs/MODEL.md 4.2).
 * Works in output tiles, so scratch stays bounded; allocates its own. */
typedef struct {
    int kt, kh, kw;
    int st, sh, sw;
    int pt0, pt1, ph0, ph1, pw0, pw1;
} Conv3dParams;

int conv3d_forward(float *out, const float *inp, int Cin, int T, int H, int W, const Tensor *weight,
                   const float *bias, const Conv3dParams *p, T2vError *err);
void conv3d_out_size(const Conv3dParams *p, int T, int H, int W, int *To, int *Ho, int *Wo);
/* The scratch conv3d_forward allocates, at most, for a weight of wnumel
 * elements and cout output channels (it grows with the thread count). */
size_t conv3d_scratch_bytes(int64_t cout, int64_t wnumel);
void conv3d_naive(float *out, const float *inp, int Cin, int T, int H, int W, const float *weight,
                  int Cout, const float *bias, const Conv3dParams *p);

#endif
