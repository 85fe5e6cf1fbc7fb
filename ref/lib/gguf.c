/* gguf.c: see gguf.h. */
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_NAME (1u << 16) /* tensor names and keys: the spec says 64 bytes; be lenient */
#define GGUF_MAX_TEXT 1024       /* printable metadata values are cut here */
#define GGUF_MAX_DEPTH 4         /* arrays of arrays */
#define GGUF_MAX_TENSORS 65536   /* a 14B Wan file has ~1,100 */

/* GGUF metadata value types. */
enum { GV_U8, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STRING, GV_ARRAY, GV_U64, GV_I64,
       GV_F64, GV_COUNT };

static const char *const VALUE_NAMES[GV_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                                  "string", "array", "u64", "i64", "f64"};
static const int VALUE_SIZE[GV_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(int type) {
    return type >= 0 && type < GV_COUNT ? VALUE_NAMES[type] : "?";
}

/* ggml tensor types by id (ggml.h), and t2v's dtype for those it reads
 * (DT_COUNT: known to ggml, not read by t2v). */
static const struct {
    const char *name;
    DType dt;
} GGML_TYPES[] = {
    {"F32", DT_F32},      {"F16", DT_F16},      {"Q4_0", DT_Q4_0},     {"Q4_1", DT_Q4_1},
    {"Q4_2", DT_COUNT},   {"Q4_3", DT_COUNT},   {"Q5_0", DT_Q5_0},     {"Q5_1", DT_Q5_1},
    {"Q8_0", DT_Q8_0},    {"Q8_1", DT_COUNT},   {"Q2_K", DT_Q2_K},     {"Q3_K", DT_Q3_K},
    {"Q4_K", DT_Q4_K},    {"Q5_K", DT_Q5_K},    {"Q6_K", DT_Q6_K},     {"Q8_K", DT_COUNT},
    {"IQ2_XXS", DT_COUNT}, {"IQ2_XS", DT_COUNT}, {"IQ3_XXS", DT_COUNT}, {"IQ1_S", DT_COUNT},
    {"IQ4_NL", DT_COUNT}, {"IQ3_S", DT_COUNT},  {"IQ2_S", DT_COUNT},   {"IQ4_XS", DT_COUNT},
    {"I8", DT_I8},        {"I16", DT_I16},      {"I32", DT_I32},       {"I64", DT_I64},
    {"F64", DT_F64},      {"IQ1_M", DT_COUNT},  {"BF16", DT_BF16},     {"Q4_0_4_4", DT_COUNT},
    {"Q4_0_4_8", DT_COUNT}, {"Q4_0_8_8", DT_COUNT}, {"TQ1_0", DT_COUNT}, {"TQ2_0", DT_COUNT},
    {"IQ4_NL_4_4", DT_COUNT}, {"IQ4_NL_4_8", DT_COUNT}, {"IQ4_NL_8_8", DT_COUNT}, {"MXFP4", DT_COUNT},
};
#define N_GGML_TYPES (int)(sizeof GGML_TYPES / sizeof GGML_TYPES[0])

int gguf_magic(const unsigned char *head, size_t n) {
    return n >= 4 && head[0] == 'G' && head[1] == 'G' && head[2] == 'U' && head[3] == 'F';
}

/* ---------------------------------------------------------------------------
 * A bounds-checked cursor over the mapped file. Every read checks the bytes
 * left first; a failed read sets err once and makes the following ones fail. */
typedef struct {
    const unsigned char *p;
    size_t pos, size;
    const char *path;
    T2vError *err;
    int rc;
} Cur;

static int cur_fail(Cur *c, const char *what) {
    if (!c->rc)
        c->rc = t2v_fail(c->err, T2V_EINPUT,
                         "%s: truncated GGUF file: %s needs bytes past offset %zu (file is %zu bytes)", c->path, what,
                         c->pos, c->size);
    return c->rc;
}

static int need(Cur *c, uint64_t n, const char *what) {
    if (c->rc) return c->rc;
    return n > c->size - c->pos ? cur_fail(c, what) : T2V_OK;
}

static uint32_t get_u32(Cur *c, const char *what) {
    if (need(c, 4, what)) return 0;
    c->pos += 4;
    return rd_u32le(c->p + c->pos - 4);
}

static uint64_t get_u64(Cur *c, const char *what) {
    if (need(c, 8, what)) return 0;
    c->pos += 8;
    return rd_u64le(c->p + c->pos - 8);
}

/* A string: u64 length then bytes. *s points into the file; max bounds it. */
static int get_str(Cur *c, const unsigned char **s, uint64_t *len, uint64_t max, const char *what) {
    *len = get_u64(c, what);
    if (c->rc) return c->rc;
    if (*len > max)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: %s at offset %zu: length %llu is over the limit %llu",
                                c->path, what, c->pos - 8, (unsigned long long)*len, (unsigned long long)max);
    if (need(c, *len, what)) return c->rc;
    *s = c->p + c->pos;
    c->pos += (size_t)*len;
    return T2V_OK;
}

static char *dup_bytes(const unsigned char *s, size_t n) {
    char *d = (char *)malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---------------------------------------------------------------------------
 * Metadata */

/* Skips (depth > 0) or reads one value of type `type`, writing a printable
 * form of a scalar or string into text (cap bytes). */
static int read_value(Cur *c, int type, int depth, char *text, size_t cap, const char *key) {
    if (type < 0 || type >= GV_COUNT)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: metadata '%s': unknown value type %d", c->path, key, type);
    if (type == GV_STRING) {
        const unsigned char *s;
        uint64_t n;
        char what[96];
        snprintf(what, sizeof what, "metadata '%.60s': a string", key);
        if (get_str(c, &s, &n, c->size, what)) return c->rc;
        if (text) {
            size_t k = n < cap - 4 ? (size_t)n : cap - 4, i;
            for (i = 0; i < k; i++) text[i] = s[i] >= 0x20 && s[i] != 0x7f ? (char)s[i] : '?';
            strcpy(text + k, n > k ? "..." : "");
        }
        return T2V_OK;
    }
    if (type == GV_ARRAY) {
        if (depth >= GGUF_MAX_DEPTH)
            return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: metadata '%s': arrays nested deeper than %d", c->path,
                                    key, GGUF_MAX_DEPTH);
        int et = (int)get_u32(c, "an array's element type");
        uint64_t n = get_u64(c, "an array's length");
        if (c->rc) return c->rc;
        if (et < 0 || et >= GV_COUNT)
            return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: metadata '%s': unknown array element type %d", c->path,
                                    key, et);
        /* every element takes at least its size (strings 8, arrays 12 bytes) */
        uint64_t least = et == GV_STRING ? 8 : et == GV_ARRAY ? 12 : (uint64_t)VALUE_SIZE[et];
        if (n > (c->size - c->pos) / least)
            return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: metadata '%s': an array of %llu %s does not fit in the "
                                    "%zu bytes left", c->path, key, (unsigned long long)n, VALUE_NAMES[et],
                                    c->size - c->pos);
        if (et != GV_STRING && et != GV_ARRAY) c->pos += (size_t)(n * least);
        else
            for (uint64_t i = 0; i < n && !c->rc; i++) read_value(c, et, depth + 1, NULL, 0, key);
        if (text) snprintf(text, cap, "[%llu x %s]", (unsigned long long)n, VALUE_NAMES[et]);
        return c->rc;
    }
    if (need(c, (uint64_t)VALUE_SIZE[type], "a metadata value")) return c->rc;
    const unsigned char *v = c->p + c->pos;
    c->pos += (size_t)VALUE_SIZE[type];
    if (!text) return T2V_OK;
    switch (type) {
    case GV_U8: snprintf(text, cap, "%u", v[0]); break;
    case GV_I8: snprintf(text, cap, "%d", (signed char)v[0]); break;
    case GV_BOOL: snprintf(text, cap, "%s", v[0] ? "true" : "false"); break;
    case GV_U16: snprintf(text, cap, "%u", rd_u16le(v)); break;
    case GV_I16: snprintf(text, cap, "%d", (int16_t)rd_u16le(v)); break;
    case GV_U32: snprintf(text, cap, "%lu", (unsigned long)rd_u32le(v)); break;
    case GV_I32: snprintf(text, cap, "%ld", (long)(int32_t)rd_u32le(v)); break;
    case GV_F32: snprintf(text, cap, "%.9g", (double)f32_from_bits(rd_u32le(v))); break;
    case GV_U64: snprintf(text, cap, "%llu", (unsigned long long)rd_u64le(v)); break;
    case GV_I64: snprintf(text, cap, "%lld", (long long)(int64_t)rd_u64le(v)); break;
    default: { /* GV_F64 */
        uint64_t u = rd_u64le(v);
        double d;
        memcpy(&d, &u, 8);
        snprintf(text, cap, "%.17g", d);
    }
    }
    return T2V_OK;
}

/* general.alignment: a u32 power of two. */
static int set_alignment(GgufFile *g, Cur *c, int type, size_t at) {
    uint32_t a = type == GV_U32 ? rd_u32le(c->p + at) : 0;
    if (type != GV_U32 || a == 0 || (a & (a - 1)) != 0 || a > (1u << 24))
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: general.alignment must be a u32 power of two (at most 2^24), "
                                "found %s %lu", c->path, gguf_type_name(type), (unsigned long)a);
    g->alignment = a;
    return T2V_OK;
}

static int read_metadata(GgufFile *g, Cur *c, uint64_t n) {
    /* each entry: key length (8) + type (4) + at least one byte */
    if (n > (c->size - c->pos) / 13)
        return c->rc = t2v_fail(c->err, T2V_EINPUT,
                                "%s: truncated GGUF file: %llu metadata entries cannot fit in its %zu bytes", c->path,
                                (unsigned long long)n, c->size);
    g->kv = (GgufKv *)calloc((size_t)n + 1, sizeof *g->kv);
    if (!g->kv) return c->rc = t2v_fail(c->err, T2V_ERESOURCE, "%s: out of memory for metadata", c->path);
    char text[GGUF_MAX_TEXT];
    for (uint64_t i = 0; i < n && !c->rc; i++) {
        const unsigned char *ks;
        uint64_t klen;
        if (get_str(c, &ks, &klen, GGUF_MAX_NAME, "a metadata key")) break;
        GgufKv *kv = &g->kv[g->nkv];
        kv->key = dup_bytes(ks, (size_t)klen);
        if (!kv->key) return c->rc = t2v_fail(c->err, T2V_ERESOURCE, "%s: out of memory", c->path);
        g->nkv++;
        kv->type = (int)get_u32(c, "a metadata value type");
        size_t at = c->pos;
        text[0] = 0;
        if (c->rc || read_value(c, kv->type, 0, text, sizeof text, kv->key)) break;
        if (!(kv->text = dup_bytes((const unsigned char *)text, strlen(text))))
            return c->rc = t2v_fail(c->err, T2V_ERESOURCE, "%s: out of memory", c->path);
        for (int k = 0; k + 1 < g->nkv; k++)
            if (!strcmp(g->kv[k].key, kv->key))
                return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: metadata key '%s' appears twice", c->path, kv->key);
        if (!strcmp(kv->key, "general.alignment")) set_alignment(g, c, kv->type, at);
    }
    return c->rc;
}

/* ---------------------------------------------------------------------------
 * Tensor infos */

typedef struct {
    uint64_t offset, bytes;
    int type, index;
} Info;

/* By offset, then file order: qsort is not stable, and a tie left to it
 * named overlapping tensors in another order on Windows. */
static int cmp_info(const void *a, const void *b) {
    const Info *x = (const Info *)a, *y = (const Info *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Reads one tensor info into t (shape reversed to PyTorch order) and inf. */
static int read_info(GgufFile *g, Cur *c, Tensor *t, Info *inf, char **name) {
    const unsigned char *ns;
    uint64_t nlen;
    if (get_str(c, &ns, &nlen, GGUF_MAX_NAME, "a tensor name")) return c->rc;
    if (!(*name = dup_bytes(ns, (size_t)nlen))) return c->rc = t2v_fail(c->err, T2V_ERESOURCE, "out of memory");
    if (strlen(*name) != nlen)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': name contains a NUL byte", c->path, *name);
    char what[128];
    snprintf(what, sizeof what, "tensor '%.60s': its dimensions, type and offset", *name);
    uint32_t nd = get_u32(c, what);
    if (c->rc) return c->rc;
    if (nd < 1 || nd > T2V_MAX_DIMS)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': %lu dimensions (t2v reads 1 to %d)", c->path,
                                *name, (unsigned long)nd, T2V_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->ndim = (int)nd;
    /* the product of the non-zero dims must fit, so that a product of any of
     * them, in any order (tensor_numel), does too */
    int64_t numel = 1, zero = 0;
    for (uint32_t i = 0; i < nd; i++) {
        uint64_t d = get_u64(c, what);
        if (c->rc) return c->rc;
        if (d > (uint64_t)INT64_MAX || (d && (uint64_t)numel > (uint64_t)INT64_MAX / d))
            return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': the product of its dimensions overflows "
                                    "(dimension %lu is %llu)", c->path, *name, (unsigned long)i, (unsigned long long)d);
        if (d) numel *= (int64_t)d;
        else zero = 1;
        t->shape[nd - 1 - i] = (int64_t)d; /* ggml's order is fastest first */
    }
    if (zero) numel = 0;
    uint32_t type = get_u32(c, what);
    inf->offset = get_u64(c, what);
    if (c->rc) return c->rc;
    if (type >= (uint32_t)N_GGML_TYPES || GGML_TYPES[type].dt == DT_COUNT)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': ggml type %lu (%s) is not supported (t2v reads "
                                "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)",
                                c->path, *name, (unsigned long)type,
                                type < (uint32_t)N_GGML_TYPES ? GGML_TYPES[type].name : "unknown");
    t->dtype = GGML_TYPES[type].dt;
    int bs = dtype_block(t->dtype);
    if (t->shape[nd - 1] % bs)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': rows of %lld elements are not whole %s blocks "
                                "of %d", c->path, *name, (long long)t->shape[nd - 1], dtype_name(t->dtype), bs);
    if ((uint64_t)(numel / bs) > UINT64_MAX / dtype_size(t->dtype))
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': its size in bytes overflows", c->path, *name);
    inf->bytes = (uint64_t)(numel / bs) * dtype_size(t->dtype);
    inf->type = (int)type;
    if (inf->offset % g->alignment)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': data offset %llu is not a multiple of the "
                                "alignment %lu", c->path, *name, (unsigned long long)inf->offset,
                                (unsigned long)g->alignment);
    return T2V_OK;
}

/* Places each tensor in the data section: inside the file, no overlaps. */
static int place_tensors(GgufFile *g, Cur *c, Info *inf, int n) {
    uint64_t avail = g->data_offset <= c->size ? c->size - g->data_offset : 0;
    for (int i = 0; i < n; i++) {
        const char *name = g->tensors.names[i];
        if (inf[i].offset > avail || inf[i].bytes > avail - inf[i].offset)
            return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s': data [%llu, +%llu) runs past the end of the "
                                    "file (data section of %llu bytes at offset %llu)", c->path, name,
                                    (unsigned long long)inf[i].offset, (unsigned long long)inf[i].bytes,
                                    (unsigned long long)avail, (unsigned long long)g->data_offset);
        g->tensors.tensors[i].data = (void *)(c->p + g->data_offset + inf[i].offset);
        inf[i].index = i;
    }
    qsort(inf, (size_t)n, sizeof *inf, cmp_info);
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (inf[i].bytes == 0) continue;
        if (last >= 0 && inf[i].offset < inf[last].offset + inf[last].bytes)
            return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensors '%s' and '%s' overlap in the data section",
                                    c->path, g->tensors.names[inf[last].index], g->tensors.names[inf[i].index]);
        last = i;
    }
    return T2V_OK;
}

static int read_tensors(GgufFile *g, Cur *c, uint64_t n) {
    /* each info: name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8) */
    if (n > GGUF_MAX_TENSORS) /* names are checked for duplicates pairwise */
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: %llu tensors (t2v reads at most %d)", c->path,
                                (unsigned long long)n, GGUF_MAX_TENSORS);
    if (n > (c->size - c->pos) / 32)
        return c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: truncated GGUF file: %llu tensors cannot fit in its %zu bytes",
                                c->path, (unsigned long long)n, c->size);
    Info *inf = (Info *)calloc((size_t)n + 1, sizeof *inf);
    if (!inf) return c->rc = t2v_fail(c->err, T2V_ERESOURCE, "%s: out of memory", c->path);
    for (uint64_t i = 0; i < n && !c->rc; i++) {
        Tensor t;
        char *name = NULL;
        if (!read_info(g, c, &t, &inf[i], &name)) {
            if (tl_find(&g->tensors, name))
                c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: tensor '%s' appears twice", c->path, name);
            else
                c->rc = tl_add(&g->tensors, name, &t, g->path, c->err);
        }
        free(name);
    }
    if (!c->rc) {
        uint64_t a = g->alignment;
        g->data_offset = (c->pos + a - 1) / a * a;
        if (n && g->data_offset > c->size)
            c->rc = t2v_fail(c->err, T2V_EINPUT, "%s: truncated GGUF file: the data section would start at %llu, past "
                             "the end (%zu bytes)", c->path, (unsigned long long)g->data_offset, c->size);
    }
    if (!c->rc) place_tensors(g, c, inf, (int)n);
    free(inf);
    return c->rc;
}

/* ---------------------------------------------------------------------------
 * Open / close */

static int parse(GgufFile *g, T2vError *err) {
    Cur c = {g->map.data, 0, g->map.size, g->path, err, 0};
    if (c.size < 24 || !gguf_magic(c.p, c.size))
        return t2v_fail(err, T2V_EINPUT, "%s: not a GGUF file (%s)", g->path,
                        c.size < 24 ? "shorter than its 24-byte header" : "no \"GGUF\" magic");
    c.pos = 4;
    g->version = get_u32(&c, "the version");
    if (g->version != 2 && g->version != 3)
        return t2v_fail(err, T2V_EINPUT, "%s: GGUF version %lu (t2v reads versions 2 and 3, little-endian)", g->path,
                        (unsigned long)g->version);
    uint64_t nt = get_u64(&c, "the tensor count"), nkv = get_u64(&c, "the metadata count");
    g->alignment = 32;
    if (!read_metadata(g, &c, nkv)) read_tensors(g, &c, nt);
    return c.rc;
}

int gguf_open(GgufFile *g, const char *path, T2vError *err) {
    memset(g, 0, sizeof *g);
    g->path = dup_bytes((const unsigned char *)path, strlen(path));
    if (!g->path) return t2v_fail(err, T2V_ERESOURCE, "out of memory");
    int rc = platform_map_file(&g->map, path, err);
    if (!rc) rc = parse(g, err);
    if (rc) gguf_close(g);
    return rc;
}

void gguf_close(GgufFile *g) {
    tl_free(&g->tensors);
    for (int i = 0; i < g->nkv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].text);
    }
    free(g->kv);
    if (g->map.data) platform_unmap_file(&g->map);
    free(g->path);
    memset(g, 0, sizeof *g);
}

const char *gguf_meta(const GgufFile *g, const char *key) {
    for (int i = 0; i < g->nkv; i++)
        if (!strcmp(g->kv[i].key, key)) return g->kv[i].text;
    return NULL;
}
