/* tensor.c: see tensor.h. */
#include "tensor.h"
#include "quant.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------
 * Errors */

int t2v_fail(T2vError *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void *t2v_malloc(size_t n, const char *what, T2vError *err) {
    void *p = malloc(n ? n : 1);
    if (!p) t2v_fail(err, T2V_ERESOURCE, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *t2v_calloc(size_t count, size_t size, const char *what, T2vError *err) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        t2v_fail(err, T2V_ERESOURCE, "out of memory allocating %zu x %zu bytes for %s", count, size,
                 what);
    return p;
}

/* ----------------------------------------------------------------------------
 * Dtypes */

/* size: bytes per element, or per block of `block` elements (ggml's block
 * structs: scales as fp16 and packed quants, quant.c). */
static const struct {
    const char *name;
    size_t size;
    int is_float, block;
} DTYPES[DT_COUNT] = {
    [DT_F64] = {"F64", 8, 1, 1}, [DT_F32] = {"F32", 4, 1, 1},   [DT_F16] = {"F16", 2, 1, 1},
    [DT_BF16] = {"BF16", 2, 1, 1}, [DT_I64] = {"I64", 8, 0, 1}, [DT_I32] = {"I32", 4, 0, 1},
    [DT_I16] = {"I16", 2, 0, 1}, [DT_I8] = {"I8", 1, 0, 1},     [DT_U8] = {"U8", 1, 0, 1},
    [DT_BOOL] = {"BOOL", 1, 0, 1}, [DT_F8_E4M3] = {"F8_E4M3", 1, 1, 1},
    [DT_Q8_0] = {"Q8_0", 34, 1, 32},  [DT_Q4_0] = {"Q4_0", 18, 1, 32},  [DT_Q4_1] = {"Q4_1", 20, 1, 32},
    [DT_Q5_0] = {"Q5_0", 22, 1, 32},  [DT_Q5_1] = {"Q5_1", 24, 1, 32},  [DT_Q2_K] = {"Q2_K", 84, 1, 256},
    [DT_Q3_K] = {"Q3_K", 110, 1, 256}, [DT_Q4_K] = {"Q4_K", 144, 1, 256}, [DT_Q5_K] = {"Q5_K", 176, 1, 256},
    [DT_Q6_K] = {"Q6_K", 210, 1, 256},
};

size_t dtype_size(DType dt) { return (unsigned)dt < DT_COUNT ? DTYPES[dt].size : 0; }
int dtype_block(DType dt) { return (unsigned)dt < DT_COUNT ? DTYPES[dt].block : 1; }
int dtype_is_quant(DType dt) { return dtype_block(dt) > 1; }
size_t dtype_nbytes(DType dt, int64_t n) { return (size_t)(n / dtype_block(dt)) * dtype_size(dt); }
const char *dtype_name(DType dt) { return (unsigned)dt < DT_COUNT ? DTYPES[dt].name : "?"; }
int dtype_is_float(DType dt) { return (unsigned)dt < DT_COUNT && DTYPES[dt].is_float; }

int dtype_from_name(const char *name, DType *out) {
    for (int i = 0; i < DT_COUNT; i++)
        if (!dtype_is_quant((DType)i) && strcmp(name, DTYPES[i].name) == 0) {
            *out = (DType)i;
            return 0;
        }
    return -1;
}

int host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* ----------------------------------------------------------------------------
 * Scalar conversions */

float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in fp32 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t f32_to_f16(float f) {
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) { /* below 2^-14: subnormal half, round to nearest even */
        float v = f32_from_bits(a) * 16777216.0f; /* exact scaling by 2^24 */
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* round mantissa to 10 bits, even */
    return (uint16_t)(sign | (((r >> 23) - 112u) << 10) | ((r >> 13) & 0x3ffu));
}

/* e4m3fn: exponent bias 7, subnormals m x 2^-9, no infinities, S.1111.111 NaN. */
float f8e4m3_to_f32(uint8_t b) {
    uint32_t sign = (uint32_t)(b & 0x80u) << 24, exp = (b >> 3) & 0xfu, man = b & 7u;
    if (exp == 15 && man == 7) return f32_from_bits(sign | 0x7fc00000u);
    if (exp == 0) { /* man x 2^-9, exact */
        float v = (float)man * 0.001953125f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 120u) << 23) | (man << 20));
}

void widen_scaled(float *dst, const void *src, DType dt, float scale, int64_t n) {
    widen_to_f32(dst, src, dt, n);
    if (scale != 0.0f)
        for (int64_t i = 0; i < n; i++) dst[i] *= scale;
}

void widen_to_f32(float *dst, const void *src, DType dt, int64_t n) {
    const unsigned char *s = (const unsigned char *)src;
    switch (dt) {
    case DT_F32:
        if (host_is_little_endian()) memcpy(dst, s, (size_t)n * 4);
        else for (int64_t i = 0; i < n; i++) dst[i] = f32_from_bits(rd_u32le(s + 4 * i));
        break;
    case DT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(rd_u16le(s + 2 * i));
        break;
    case DT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(rd_u16le(s + 2 * i));
        break;
    case DT_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = rd_u64le(s + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
        break;
    case DT_I64:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int64_t)rd_u64le(s + 8 * i);
        break;
    case DT_I32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int32_t)rd_u32le(s + 4 * i);
        break;
    case DT_I16:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int16_t)rd_u16le(s + 2 * i);
        break;
    case DT_I8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(signed char)s[i];
        break;
    case DT_F8_E4M3:
        if (n < 1024) {
            for (int64_t i = 0; i < n; i++) dst[i] = f8e4m3_to_f32(s[i]);
        } else { /* a row of a weight: a table of the 256 values, built here (no global state) */
            float lut[256];
            for (int b = 0; b < 256; b++) lut[b] = f8e4m3_to_f32((uint8_t)b);
            for (int64_t i = 0; i < n; i++) dst[i] = lut[s[i]];
        }
        break;
    case DT_U8:
    case DT_BOOL:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
        break;
    default:
        if (dtype_is_quant(dt)) quant_dequant(dt, dst, s, n / dtype_block(dt));
        else for (int64_t i = 0; i < n; i++) dst[i] = NAN;
    }
}

/* ----------------------------------------------------------------------------
 * Tensor */

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t tensor_nbytes(const Tensor *t) { return dtype_nbytes(t->dtype, tensor_numel(t)); }

const char *shape_str(const Tensor *t, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

int tensor_alloc(Tensor *t, DType dt, int ndim, const int64_t *shape, T2vError *err) {
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > T2V_MAX_DIMS)
        return t2v_fail(err, T2V_EUSAGE, "tensor rank %d out of range", ndim);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = t2v_calloc(tensor_nbytes(t), 1, "tensor", err);
    if (!t->data) return T2V_ERESOURCE;
    t->owned = 1;
    return T2V_OK;
}

void tensor_free(Tensor *t) {
    if (t->owned) free(t->data);
    t->data = NULL;
    t->owned = 0;
}

void f32_store_le(void *dst, const float *x, int64_t n) {
    unsigned char *d = (unsigned char *)dst;
    if (!host_is_little_endian())
        for (int64_t i = 0; i < n; i++) wr_u32le(d + 4 * i, f32_to_bits(x[i]));
    else if (d != (const unsigned char *)x) /* in place, the bytes are already these */
        memmove(d, x, (size_t)n * 4);
}

int tensor_from_f32(Tensor *t, const float *x, int ndim, const int64_t *shape, T2vError *err) {
    int rc = tensor_alloc(t, DT_F32, ndim, shape, err);
    if (rc) return rc;
    f32_store_le(t->data, x, tensor_numel(t));
    return T2V_OK;
}

int tensor_from_i32(Tensor *t, const int32_t *x, int ndim, const int64_t *shape, T2vError *err) {
    int rc = tensor_alloc(t, DT_I32, ndim, shape, err);
    if (rc) return rc;
    unsigned char *d = (unsigned char *)t->data;
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++) wr_u32le(d + 4 * i, (uint32_t)x[i]);
    return T2V_OK;
}

float *tensor_to_f32_alloc(const Tensor *t, T2vError *err) {
    int64_t n = tensor_numel(t);
    float *x = (float *)t2v_malloc((size_t)n * sizeof(float), "tensor widened to fp32", err);
    if (x) widen_scaled(x, t->data, t->dtype, t->scale, n);
    return x;
}

const float *tensor_f32(const Tensor *t, float *scratch) {
    if (t->dtype == DT_F32 && !t->scale && host_is_little_endian() && ((uintptr_t)t->data % 4) == 0)
        return (const float *)t->data;
    widen_scaled(scratch, t->data, t->dtype, t->scale, tensor_numel(t));
    return scratch;
}

/* ----------------------------------------------------------------------------
 * Arena */

int arena_init(Arena *a, size_t size, T2vError *err) {
    memset(a, 0, sizeof *a);
    a->base = (char *)t2v_malloc(size + 64, "scratch arena", err);
    if (!a->base) return T2V_ERESOURCE;
    a->size = size;
    return T2V_OK;
}

void *arena_alloc(Arena *a, size_t bytes) {
    uintptr_t start = ((uintptr_t)a->base + a->used + 63) & ~(uintptr_t)63;
    size_t off = (size_t)(start - (uintptr_t)a->base);
    if (off + bytes > a->size + 64 || off + bytes < off) return NULL;
    a->used = off + bytes;
    return (void *)start;
}

float *arena_floats(Arena *a, int64_t n) { return (float *)arena_alloc(a, (size_t)n * sizeof(float)); }

void arena_free(Arena *a) {
    free(a->base);
    memset(a, 0, sizeof *a);
}

/* ----------------------------------------------------------------------------
 * TensorList */

int tl_add(TensorList *tl, const char *name, const Tensor *t, const char *source, T2vError *err) {
    if (tl->n == tl->cap) {
        int cap = tl->cap ? 2 * tl->cap : 64;
        char **names = (char **)realloc(tl->names, (size_t)cap * sizeof *names);
        if (names) tl->names = names;
        Tensor *ts = (Tensor *)realloc(tl->tensors, (size_t)cap * sizeof *ts);
        if (ts) tl->tensors = ts;
        const char **src = (const char **)realloc((void *)tl->source, (size_t)cap * sizeof *src);
        if (src) tl->source = src;
        if (!names || !ts || !src)
            return t2v_fail(err, T2V_ERESOURCE, "out of memory listing tensors of %s", source);
        tl->cap = cap;
    }
    size_t len = strlen(name);
    char *copy = (char *)t2v_malloc(len + 1, "tensor name", err);
    if (!copy) return T2V_ERESOURCE;
    memcpy(copy, name, len + 1);
    tl->names[tl->n] = copy;
    tl->tensors[tl->n] = *t;
    tl->source[tl->n] = source;
    tl->n++;
    return T2V_OK;
}

const Tensor *tl_find(const TensorList *tl, const char *name) {
    for (int i = 0; i < tl->n; i++)
        if (strcmp(tl->names[i], name) == 0) return &tl->tensors[i];
    return NULL;
}

const Tensor *tl_findf(const TensorList *tl, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return tl_find(tl, name);
}

static const char *tl_source_of(const TensorList *tl, const Tensor *t) {
    if (t && tl->n) {
        ptrdiff_t i = t - tl->tensors;
        if (i >= 0 && i < tl->n && tl->source[i]) return tl->source[i];
    }
    return tl->n && tl->source[0] ? tl->source[0] : "checkpoint";
}

const Tensor *tl_require(const TensorList *tl, T2vError *err, int ndim, const int64_t *shape,
                         const char *fmt, ...) {
    char name[512], want[256], got[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const Tensor *t = tl_find(tl, name);
    if (!t) {
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' is missing", tl_source_of(tl, NULL), name);
        return NULL;
    }
    int ok = t->ndim == ndim && dtype_is_float(t->dtype);
    for (int i = 0; ok && i < ndim; i++)
        if (shape[i] >= 0 && t->shape[i] != shape[i]) ok = 0;
    if (!ok) {
        Tensor w = {DT_F32, ndim, {0}, NULL, 0, 0.0f, NULL};
        for (int i = 0; i < ndim; i++) w.shape[i] = shape[i];
        shape_str(&w, want, sizeof want);
        shape_str(t, got, sizeof got);
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': expected a float tensor of shape %s, found %s %s",
                 tl_source_of(tl, t), name, want, dtype_name(t->dtype), got);
        return NULL;
    }
    return t;
}

void tl_free(TensorList *tl) {
    for (int i = 0; i < tl->n; i++) {
        free(tl->names[i]);
        tensor_free(&tl->tensors[i]);
    }
    free(tl->names);
    free(tl->tensors);
    free((void *)tl->source);
    memset(tl, 0, sizeof *tl);
}

/* ----------------------------------------------------------------------------
 * Error metric */

void err_stats(ErrStats *s, const float *a, const float *ref, int64_t n, double tol_rel) {
    double ss_ref = 0, ss_a = 0, dot = 0;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->argmax = -1;
    s->first_bad = -1;
    for (int64_t i = 0; i < n; i++) {
        double r = ref[i], x = a[i];
        ss_ref += r * r;
        if (!isfinite(a[i])) { s->nonfinite++; continue; }
        ss_a += x * x;
        dot += x * r;
        double d = fabs(x - r);
        if (d > s->max_abs || s->argmax < 0) { s->max_abs = d; s->argmax = i; }
    }
    s->rms_ref = n ? sqrt(ss_ref / (double)n) : 0;
    s->rel = s->rms_ref > 0 ? s->max_abs / s->rms_ref : (s->max_abs > 0 ? INFINITY : 0);
    if (ss_a == 0 && ss_ref == 0) s->cosine = 1;
    else if (ss_a == 0 || ss_ref == 0) s->cosine = 0;
    else s->cosine = dot / (sqrt(ss_a) * sqrt(ss_ref));
    double lim = tol_rel * s->rms_ref;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(a[i]) || fabs((double)a[i] - (double)ref[i]) > lim) { s->first_bad = i; break; }
}

int err_ok(const ErrStats *s, double tol_rel, double min_cos) {
    return s->nonfinite == 0 && s->rel <= tol_rel && s->cosine >= min_cos;
}
