/* safetensors.c: see safetensors.h. */
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ST_MAX_HEADER (256u << 20) /* 256 MiB of JSON is already absurd */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Reads a JSON array of non-negative int64 into out[]; returns count or -1. */
static int int_array(const JsonValue *a, int64_t *out, int max) {
    if (!a || a->type != JSON_ARRAY || a->len > (size_t)max) return -1;
    for (size_t i = 0; i < a->len; i++) {
        const JsonValue *x = &a->items[i];
        if (x->type != JSON_NUMBER || !x->is_integer || x->integer_overflow || x->integer < 0) return -1;
        out[i] = x->integer;
    }
    return (int)a->len;
}

typedef struct {
    uint64_t begin, end;
    int index;
} Range;

/* By start, then header order (qsort is not stable: the same error
 * message on every platform). */
static int cmp_range(const void *a, const void *b) {
    const Range *x = (const Range *)a, *y = (const Range *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Validates one header entry and adds it as a view into the data section. */
static int add_entry(SafeTensors *st, const char *name, const JsonValue *info, const unsigned char *data,
                     uint64_t data_size, Range *range, T2vError *err) {
    const char *path = st->path;
    if (info->type != JSON_OBJECT)
        return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': header entry is not an object", path, name);
    const JsonValue *jd = json_get(info, "dtype"), *js = json_get(info, "shape"),
                    *jo = json_get(info, "data_offsets");
    Tensor t;
    memset(&t, 0, sizeof t);
    if (!jd || jd->type != JSON_STRING || dtype_from_name(jd->string, &t.dtype) != 0)
        return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': unknown or missing dtype%s%.20s%s", path, name,
                        jd && jd->type == JSON_STRING ? " \"" : "", jd && jd->type == JSON_STRING ? jd->string : "",
                        jd && jd->type == JSON_STRING ? "\"" : "");
    t.ndim = int_array(js, t.shape, T2V_MAX_DIMS);
    if (t.ndim < 0)
        return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': shape must be an array of at most %d non-negative integers",
                        path, name, T2V_MAX_DIMS);
    int64_t off[2];
    if (int_array(jo, off, 2) != 2 || off[0] > off[1])
        return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': data_offsets must be [begin, end] with begin <= end",
                        path, name);
    /* numel * dtype size, refusing overflow */
    uint64_t bytes = dtype_size(t.dtype);
    for (int i = 0; i < t.ndim; i++) {
        uint64_t d = (uint64_t)t.shape[i];
        if (d && bytes > UINT64_MAX / d)
            return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': shape size overflows", path, name);
        bytes *= d;
    }
    if ((uint64_t)(off[1] - off[0]) != bytes)
        return t2v_fail(err, T2V_EINPUT,
                        "%s: tensor '%s': shape and dtype %s need %llu bytes, data_offsets give %llu",
                        path, name, dtype_name(t.dtype), (unsigned long long)bytes,
                        (unsigned long long)(off[1] - off[0]));
    if ((uint64_t)off[1] > data_size)
        return t2v_fail(err, T2V_EINPUT, "%s: tensor '%s': data_offsets end %lld is past the data section (%llu bytes)",
                        path, name, (long long)off[1], (unsigned long long)data_size);
    t.data = (void *)(data + off[0]);
    range->begin = (uint64_t)off[0];
    range->end = (uint64_t)off[1];
    range->index = st->tensors.n;
    return tl_add(&st->tensors, name, &t, st->path, err);
}

static int read_metadata(SafeTensors *st, const JsonValue *m, T2vError *err) {
    if (m->type != JSON_OBJECT)
        return t2v_fail(err, T2V_EINPUT, "%s: __metadata__ must be an object of strings", st->path);
    st->meta_keys = (char **)calloc(m->len + 1, sizeof(char *));
    st->meta_vals = (char **)calloc(m->len + 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory", st->path);
    for (size_t i = 0; i < m->len; i++) {
        if (m->items[i].type != JSON_STRING)
            return t2v_fail(err, T2V_EINPUT, "%s: __metadata__ value of '%s' is not a string", st->path, m->keys[i]);
        st->meta_keys[st->nmeta] = dup_str(m->keys[i]);
        st->meta_vals[st->nmeta] = dup_str(m->items[i].string);
        st->nmeta++;
        if (!st->meta_keys[st->nmeta - 1] || !st->meta_vals[st->nmeta - 1])
            return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory", st->path);
    }
    return T2V_OK;
}

static int parse_header(SafeTensors *st, T2vError *err) {
    const unsigned char *d = st->map.data;
    size_t size = st->map.size;
    if (size < 8)
        return t2v_fail(err, T2V_EINPUT, "%s: %zu bytes is too short for a safetensors file (need at least 8)",
                        st->path, size);
    uint64_t n = rd_u64le(d);
    if (n > size - 8 || n > ST_MAX_HEADER)
        return t2v_fail(err, T2V_EINPUT, "%s: header length %llu does not fit in the file (%zu bytes)", st->path,
                        (unsigned long long)n, size);
    char jerr[256];
    JsonValue *h = json_parse((const char *)d + 8, (size_t)n, jerr, sizeof jerr);
    if (!h) return t2v_fail(err, T2V_EINPUT, "%s: bad header: %s", st->path, jerr);
    int rc = T2V_OK;
    Range *ranges = NULL;
    if (h->type != JSON_OBJECT) {
        rc = t2v_fail(err, T2V_EINPUT, "%s: header is not a JSON object", st->path);
        goto done;
    }
    ranges = (Range *)calloc(h->len + 1, sizeof *ranges);
    if (!ranges) { rc = t2v_fail(err, T2V_ERESOURCE, "%s: out of memory", st->path); goto done; }
    const unsigned char *data = d + 8 + n;
    uint64_t data_size = size - 8 - n;
    int nr = 0;
    for (size_t i = 0; i < h->len && rc == T2V_OK; i++) {
        if (strcmp(h->keys[i], "__metadata__") == 0) rc = read_metadata(st, &h->items[i], err);
        else rc = add_entry(st, h->keys[i], &h->items[i], data, data_size, &ranges[nr++], err);
    }
    if (rc) goto done;
    /* No two tensors may share bytes. */
    qsort(ranges, (size_t)nr, sizeof *ranges, cmp_range);
    uint64_t last_end = 0;
    int last = -1;
    for (int i = 0; i < nr; i++) {
        if (ranges[i].begin == ranges[i].end) continue;
        if (last >= 0 && ranges[i].begin < last_end) {
            rc = t2v_fail(err, T2V_EINPUT, "%s: tensors '%s' and '%s' overlap in the data section", st->path,
                          st->tensors.names[ranges[last].index], st->tensors.names[ranges[i].index]);
            goto done;
        }
        last_end = ranges[i].end;
        last = i;
    }
done:
    free(ranges);
    json_free(h);
    return rc;
}

int st_open(SafeTensors *st, const char *path, T2vError *err) {
    memset(st, 0, sizeof *st);
    st->path = dup_str(path);
    if (!st->path) return t2v_fail(err, T2V_ERESOURCE, "out of memory");
    int rc = platform_map_file(&st->map, path, err);
    if (rc == T2V_OK) rc = parse_header(st, err);
    if (rc) st_close(st);
    return rc;
}

void st_close(SafeTensors *st) {
    tl_free(&st->tensors);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    if (st->map.data) platform_unmap_file(&st->map);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const char *st_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

/* ----------------------------------------------------------------------------
 * Sharded checkpoints */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int add_shard(StShards *s, const char *path, T2vError *err) {
    SafeTensors *files = (SafeTensors *)realloc(s->files, (size_t)(s->nfiles + 1) * sizeof *files);
    if (!files) return t2v_fail(err, T2V_ERESOURCE, "out of memory opening %s", path);
    s->files = files;
    int rc = st_open(&s->files[s->nfiles], path, err);
    if (rc) return rc;
    s->nfiles++;
    return T2V_OK;
}

static int open_index(StShards *s, const char *path, T2vError *err) {
    MappedFile m;
    int rc = platform_map_file(&m, path, err);
    if (rc) return rc;
    char jerr[256];
    JsonValue *j = json_parse((const char *)m.data, m.size, jerr, sizeof jerr);
    platform_unmap_file(&m);
    if (!j) return t2v_fail(err, T2V_EINPUT, "%s: %s", path, jerr);
    const JsonValue *wm = json_get(j, "weight_map");
    if (!wm || wm->type != JSON_OBJECT || wm->len == 0) {
        json_free(j);
        return t2v_fail(err, T2V_EINPUT, "%s: expected a non-empty \"weight_map\" object", path);
    }
    /* Directory of the index file: shard names are relative to it. */
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    char shard[4096];
    for (size_t i = 0; i < wm->len && rc == T2V_OK; i++) {
        const JsonValue *f = &wm->items[i];
        if (f->type != JSON_STRING || strchr(f->string, '/') || strchr(f->string, '\\') ||
            strcmp(f->string, "..") == 0 || f->len == 0) {
            rc = t2v_fail(err, T2V_EINPUT, "%s: weight_map entry for '%s' must be a plain file name", path,
                          wm->keys[i]);
            break;
        }
        if (dirlen + f->len + 1 > sizeof shard) {
            rc = t2v_fail(err, T2V_EINPUT, "%s: shard path too long", path);
            break;
        }
        memcpy(shard, path, dirlen);
        memcpy(shard + dirlen, f->string, f->len + 1);
        int have = 0;
        for (int k = 0; k < s->nfiles && !have; k++) have = strcmp(s->files[k].path, shard) == 0;
        if (!have && (rc = add_shard(s, shard, err)) != T2V_OK && err) {
            /* name the index too: the shard's own message only names the shard */
            char inner[sizeof err->msg];
            memcpy(inner, err->msg, sizeof inner);
            t2v_fail(err, rc, "%s: shard of tensor '%s': %s", path, wm->keys[i], inner);
        }
    }
    /* Every tensor named by the index must be in its shard. */
    for (size_t i = 0; i < wm->len && rc == T2V_OK; i++) {
        int found = 0;
        for (int k = 0; k < s->nfiles && !found; k++)
            found = strcmp(s->files[k].path + dirlen, wm->items[i].string) == 0 && /* the named shard */
                    tl_find(&s->files[k].tensors, wm->keys[i]) != NULL;
        if (!found)
            rc = t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' is listed in shard %s but not found there", path,
                          wm->keys[i], wm->items[i].string);
    }
    json_free(j);
    return rc;
}

int st_open_any(StShards *s, const char *path, T2vError *err) {
    memset(s, 0, sizeof *s);
    int rc = ends_with(path, ".json") ? open_index(s, path, err) : add_shard(s, path, err);
    for (int k = 0; k < s->nfiles && rc == T2V_OK; k++) {
        const TensorList *tl = &s->files[k].tensors;
        for (int i = 0; i < tl->n && rc == T2V_OK; i++) {
            if (tl_find(&s->tensors, tl->names[i]))
                rc = t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' appears in more than one shard", path,
                              tl->names[i]);
            else
                rc = tl_add(&s->tensors, tl->names[i], &tl->tensors[i], s->files[k].path, err);
        }
    }
    if (rc) st_close_any(s);
    return rc;
}

void st_close_any(StShards *s) {
    /* The merged list holds views only: free its names, not the data. */
    for (int i = 0; i < s->tensors.n; i++) s->tensors.tensors[i].owned = 0;
    tl_free(&s->tensors);
    for (int k = 0; k < s->nfiles; k++) st_close(&s->files[k]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

/* ----------------------------------------------------------------------------
 * Writer */

static char *build_header(const StItem *items, int n, const char *const *mk, const char *const *mv, int nmeta,
                          size_t *out_len) {
    StrBuf b = {0};
    sb_str(&b, "{");
    if (nmeta > 0) {
        sb_str(&b, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) sb_str(&b, ",");
            sb_json_str(&b, mk[i]);
            sb_str(&b, ":");
            sb_json_str(&b, mv[i]);
        }
        sb_str(&b, n ? "}," : "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const Tensor *t = items[i].t;
        if (i) sb_str(&b, ",");
        sb_json_str(&b, items[i].name);
        sb_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) sb_printf(&b, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        uint64_t nb = tensor_nbytes(t);
        sb_printf(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    sb_str(&b, "}");
    while (!b.oom && b.n % 8) sb_str(&b, " "); /* align data to 8 */
    *out_len = b.n;
    return sb_take(&b);
}

int st_write(const char *path, const StItem *items, int n, const char *const *meta_keys,
             const char *const *meta_vals, int nmeta, T2vError *err) {
    size_t hlen;
    char *header = build_header(items, n, meta_keys, meta_vals, nmeta, &hlen);
    if (!header) return t2v_fail(err, T2V_ERESOURCE, "%s: out of memory building the header", path);
    size_t plen = strlen(path) + 16;
    char *tmp = (char *)malloc(plen);
    if (!tmp) { free(header); return t2v_fail(err, T2V_ERESOURCE, "out of memory"); }
    snprintf(tmp, plen, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int rc = T2V_OK;
    if (!f) {
        rc = t2v_fail(err, T2V_ERESOURCE, "%s: cannot create file", tmp);
    } else {
        unsigned char len8[8];
        wr_u64le(len8, (uint64_t)hlen);
        int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen;
        for (int i = 0; ok && i < n; i++) {
            size_t nb = tensor_nbytes(items[i].t);
            ok = nb == 0 || fwrite(items[i].t->data, 1, nb, f) == nb;
        }
        if (fclose(f) != 0) ok = 0;
        if (!ok) {
            remove(tmp);
            rc = t2v_fail(err, T2V_ERESOURCE, "%s: write failed (disk full?)", tmp);
        } else {
            rc = platform_rename(tmp, path, err);
            if (rc) remove(tmp);
        }
    }
    free(tmp);
    free(header);
    return rc;
}
