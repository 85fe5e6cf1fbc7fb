/*
 * tensor.h: the base of t2v. Errors, dtypes, the Tensor view, little-endian
 * loads, the scratch arena, named tensor lists (one per checkpoint) and the
 * error metric used by tests and `t2v compare`.
 *
 * Every other file in ref/ includes this one. No global state lives here.
 */
#ifndef T2V_TENSOR_H
#define T2V_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define T2V_VERSION "0.1.0"

/* ----------------------------------------------------------------------------
 * Errors. Library functions return one of these codes and fill a T2vError
 * that names the file, the tensor, what was expected and what was found.
 * The codes are also the CLI exit codes (docs/ARCHITECTURE.md, Errors). */
enum { T2V_OK = 0, T2V_EUSAGE = 1, T2V_EINPUT = 2, T2V_ERESOURCE = 3 };

typedef struct {
    int code;
    char msg[1024];
} T2vError;

/* Formats the message into err (may be NULL) and returns code. */
/* printf-style checking; mingw's default printf is Microsoft's, which lacks
 * %zu and %lld, so there the GNU format (its __USE_MINGW_ANSI_STDIO) is named. */
#if defined(__MINGW32__)
#define T2V_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__)
#define T2V_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define T2V_PRINTF(f, a)
#endif

int t2v_fail(T2vError *err, int code, const char *fmt, ...) T2V_PRINTF(3, 4);

/* malloc/calloc that fail with T2V_ERESOURCE and a message naming `what`. */
void *t2v_malloc(size_t n, const char *what, T2vError *err);
void *t2v_calloc(size_t count, size_t size, const char *what, T2vError *err);

/* ----------------------------------------------------------------------------
 * Dtypes: the safetensors names. Data in files is always little-endian.
 * F8_E4M3 is float8 e4m3fn (1 sign, 4 exponent bits with bias 7, 3 mantissa
 * bits; no infinities; 0x7f and 0xff are NaN): every value widens exactly to
 * fp32. Readers refuse NaN encodings in weights (names.c, ckpt_open_as).
 * After it come ggml's block-quantized types (GGUF files, ref/lib/quant.h):
 * a row of one is whole blocks of dtype_block() elements, each block
 * dtype_size() bytes; the weights stay so in memory and are decoded block by
 * block where they are widened (widen_to_f32, ops.c). */
typedef enum {
    DT_F64, DT_F32, DT_F16, DT_BF16, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL,
    DT_F8_E4M3,
    DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_Q2_K, DT_Q3_K, DT_Q4_K, DT_Q5_K, DT_Q6_K,
    DT_COUNT
} DType;

size_t dtype_size(DType dt);  /* bytes of one element, or of one block when quantized */
int dtype_block(DType dt);    /* elements per block: 1, or 32 / 256 when quantized */
int dtype_is_quant(DType dt); /* one of the block-quantized types */
/* Bytes of n elements (n a multiple of dtype_block; else rounded down). */
size_t dtype_nbytes(DType dt, int64_t n);
const char *dtype_name(DType dt);                 /* "F32", "BF16", "Q4_K", ... */
/* The safetensors names: every dtype but the quantized ones (GGUF only). */
int dtype_from_name(const char *name, DType *out); /* 0 ok, -1 unknown    */
int dtype_is_float(DType dt); /* float storage, quantized types included */

/* Little-endian loads and stores, correct on any host byte order. */
static inline uint16_t rd_u16le(const void *p) {
    const unsigned char *b = (const unsigned char *)p;
    return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t rd_u32le(const void *p) {
    const unsigned char *b = (const unsigned char *)p;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static inline uint64_t rd_u64le(const void *p) {
    const unsigned char *b = (const unsigned char *)p;
    return (uint64_t)rd_u32le(b) | ((uint64_t)rd_u32le(b + 4) << 32);
}
static inline void wr_u16le(void *p, uint16_t v) {
    unsigned char *b = (unsigned char *)p;
    b[0] = (unsigned char)v; b[1] = (unsigned char)(v >> 8);
}
static inline void wr_u32le(void *p, uint32_t v) {
    unsigned char *b = (unsigned char *)p;
    b[0] = (unsigned char)v; b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16); b[3] = (unsigned char)(v >> 24);
}
static inline void wr_u64le(void *p, uint64_t v) {
    wr_u32le(p, (uint32_t)v); wr_u32le((unsigned char *)p + 4, (uint32_t)(v >> 32));
}
int host_is_little_endian(void);

/* Scalar conversions. bf16 -> f32 is an exact 16-bit shift; f32 -> bf16
 * and f32 -> f16 round to nearest even. The bit casts and f32 -> bf16 are
 * inline: the bf16 GEMM rounds every operand with them. */
static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}
float bf16_to_f32(uint16_t h);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

float f8e4m3_to_f32(uint8_t b); /* exact; NaN for 0x7f / 0xff */

/* Widens n little-endian elements of a float or integer dtype to fp32; for a
 * quantized dtype src is the start of a block and n a multiple of the block
 * (the blocks decoded exactly as ggml does, quant.h). */
void widen_to_f32(float *dst, const void *src, DType dt, int64_t n);
/* The same times a tensor's per-tensor scale (Tensor.scale; 0: none), one
 * fp32 multiply per element: w = widened value x scale (ComfyUI's scaled
 * fp8 files, README "Layouts"). Every reader of weights widens through it. */
void widen_scaled(float *dst, const void *src, DType dt, float scale, int64_t n);

/* ----------------------------------------------------------------------------
 * Tensor: dtype, shape and contiguous row-major data, ALWAYS little-endian
 * bytes (the file format), also when owned. Usually a view into a mapped file
 * (owned == 0); sometimes an owned malloc'ed buffer. Use tensor_from_f32 /
 * tensor_from_i32 to make one from host arrays, tensor_f32 to read one. */
#define T2V_MAX_DIMS 8

/* A low-rank delta on a weight W [N, K] (LoRA, lora.h): the weight used is
 * W + up [N, rank] @ down [rank, K], fp32, the strength folded into up. The
 * kernels add it where W is widened (ops.c weight_f32) or beside a
 * matrix-vector product, so W itself stays in its file dtype. */
typedef struct {
    int rank;
    const float *up, *down;
} LowRank;

typedef struct {
    DType dtype;
    int ndim;
    int64_t shape[T2V_MAX_DIMS];
    void *data;
    int owned;            /* 1: data was malloc'ed and tensor_free releases it */
    float scale;          /* per-tensor dequantization scale: w = value x scale; 0: none */
    const LowRank *delta; /* LoRA delta added to W; NULL: none */
} Tensor;

int64_t tensor_numel(const Tensor *t);
size_t tensor_nbytes(const Tensor *t);
/* "[16, 5, 8, 8]" into buf. */
const char *shape_str(const Tensor *t, char *buf, size_t len);
/* A new owned tensor; data zeroed. */
int tensor_alloc(Tensor *t, DType dt, int ndim, const int64_t *shape, T2vError *err);
void tensor_free(Tensor *t);
/* Owned little-endian copies of host arrays (for writing outputs). */
int tensor_from_f32(Tensor *t, const float *x, int ndim, const int64_t *shape, T2vError *err);
int tensor_from_i32(Tensor *t, const int32_t *x, int ndim, const int64_t *shape, T2vError *err);
/* n host floats stored as little-endian F32 bytes at dst (dst may be x:
 * the tensor byte order above, on any host). */
void f32_store_le(void *dst, const float *x, int64_t n);
/* Whole tensor widened to a new malloc'ed fp32 array (caller frees). */
float *tensor_to_f32_alloc(const Tensor *t, T2vError *err);
/* Direct pointer when t is F32 on a little-endian host; otherwise widens
 * into scratch (which must hold numel floats) and returns scratch. */
const float *tensor_f32(const Tensor *t, float *scratch);

/* ----------------------------------------------------------------------------
 * Arena: one block, bump allocation. A forward pass takes
 * all of its buffers from an arena sized once, so its inner loops never call
 * malloc. Allocations are 64-byte aligned. */
typedef struct {
    char *base;
    size_t size, used;
} Arena;

int arena_init(Arena *a, size_t size, T2vError *err);
void *arena_alloc(Arena *a, size_t bytes); /* NULL when full */
float *arena_floats(Arena *a, int64_t n);
void arena_free(Arena *a);

/* ----------------------------------------------------------------------------
 * TensorList: named tensors of one checkpoint (possibly several files). Names
 * are owned by the list; tensors are views (the files stay mapped by whoever
 * opened them). `source` names the file each tensor came from, for messages. */
typedef struct {
    int n, cap;
    char **names;
    Tensor *tensors;
    const char **source;
} TensorList;

int tl_add(TensorList *tl, const char *name, const Tensor *t, const char *source, T2vError *err);
const Tensor *tl_find(const TensorList *tl, const char *name);
/* printf-style lookup: tl_findf(tl, "blocks.%d.ffn.0.weight", i). */
const Tensor *tl_findf(const TensorList *tl, const char *fmt, ...) T2V_PRINTF(2, 3);
/* Finds a tensor and checks its rank and shape (-1 in `shape` matches any
 * size). On failure fills err ("FILE: tensor NAME: expected shape [..], found
 * [..]" or "... missing") and returns NULL. */
const Tensor *tl_require(const TensorList *tl, T2vError *err, int ndim, const int64_t *shape,
                         const char *fmt, ...) T2V_PRINTF(5, 6);
void tl_free(TensorList *tl); /* frees names and owned tensors */

/* One tensor a stage expects: its official name, rank and shape. Each stage
 * lists its own from its config (dit_tensor_specs, t5_tensor_specs,
 * vae_tensor_specs): the one list its build binds and shape-checks, and the
 * layout `t2v info --config` prints. */
#define T2V_SPEC_DIMS 5
typedef struct {
    char name[96];
    int ndim;
    int64_t shape[T2V_SPEC_DIMS];
} TensorSpec;

/* ----------------------------------------------------------------------------
 * Error metric (tests, `t2v compare`): max |a-r|, that over rms(r), cosine
 * similarity, and the index of the first element whose error exceeds
 * tol_rel * rms(r). NaN or Inf anywhere in a makes the comparison fail. */
typedef struct {
    int64_t n;
    double max_abs, rms_ref, rel, cosine;
    int64_t argmax, first_bad; /* first_bad = -1 when none */
    int64_t nonfinite;         /* count of NaN/Inf in a */
} ErrStats;

void err_stats(ErrStats *s, const float *a, const float *ref, int64_t n, double tol_rel);
/* Pass when finite, rel <= tol_rel and cosine >= min_cos. */
int err_ok(const ErrStats *s, double tol_rel, double min_cos);

#endif
