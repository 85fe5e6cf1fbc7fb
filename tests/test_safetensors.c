/* test_safetensors.c: the safetensors reader against files written by
 * tools/st.py (tools/golden_formats.py), the sharded index, metadata, and the
 * writer round trip (st_write then st_open). Values are given by the formulas
 * in tools/golden_formats.py and recomputed here. */
#include "harness.h"

#define DIR "golden/formats/"

static const Tensor *need(const SafeTensors *st, const char *name, DType dt, int ndim, int64_t d0, int64_t d1) {
    const Tensor *t = tl_find(&st->tensors, name);
    int ok = t && t->dtype == dt && t->ndim == ndim && (ndim < 1 || t->shape[0] == d0) &&
             (ndim < 2 || t->shape[1] == d1);
    CHECK(ok, "%s: '%s' is %s with %d dims", st->path, name, dtype_name(dt), ndim);
    return ok ? t : NULL;
}

/* The values of st_dtypes.safetensors, element by element, in each dtype. */
static void check_dtypes(const SafeTensors *st) {
    const Tensor *t;
    int ok;
    if ((t = need(st, "f64", DT_F64, 2, 2, 3))) {
        ok = 1;
        for (int i = 0; i < 6; i++) {
            uint64_t u = rd_u64le((const char *)t->data + 8 * i);
            double x;
            memcpy(&x, &u, 8);
            ok &= x == (i - 5) * 0.25;
        }
        CHECK(ok, "f64 values (i-5)/4");
    }
    const char *fl[3] = {"f32", "f16", "bf16"};
    DType fd[3] = {DT_F32, DT_F16, DT_BF16};
    for (int k = 0; k < 3; k++)
        if ((t = need(st, fl[k], fd[k], 2, 2, 3))) {
            float v[6];
            widen_to_f32(v, t->data, t->dtype, 6);
            ok = 1;
            for (int i = 0; i < 6; i++) ok &= v[i] == (float)(i - 5) * 0.25f;
            CHECK(ok, "%s values (i-5)/4 (widened exactly)", fl[k]);
        }
    if ((t = need(st, "i64", DT_I64, 1, 6, 0))) {
        ok = 1;
        for (int i = 0; i < 6; i++) ok &= (int64_t)rd_u64le((const char *)t->data + 8 * i) == i * ((int64_t)1 << 40) - 5;
        CHECK(ok, "i64 values i*2^40-5");
    }
    if ((t = need(st, "i32", DT_I32, 1, 6, 0))) {
        ok = 1;
        for (int i = 0; i < 6; i++) ok &= (int32_t)rd_u32le((const char *)t->data + 4 * i) == i * 100000 - 5;
        CHECK(ok, "i32 values i*100000-5");
    }
    if ((t = need(st, "i16", DT_I16, 1, 6, 0))) {
        ok = 1;
        for (int i = 0; i < 6; i++) ok &= (int16_t)rd_u16le((const char *)t->data + 2 * i) == i * 1000 - 5;
        CHECK(ok, "i16 values i*1000-5");
    }
    if ((t = need(st, "i8", DT_I8, 1, 6, 0))) {
        ok = 1;
        for (int i = 0; i < 6; i++) ok &= ((const int8_t *)t->data)[i] == i * 10 - 50;
        CHECK(ok, "i8 values i*10-50");
    }
    if ((t = need(st, "u8", DT_U8, 1, 6, 0))) {
        ok = 1;
        for (int i = 0; i < 6; i++) ok &= ((const uint8_t *)t->data)[i] == i * 40;
        CHECK(ok, "u8 values i*40");
    }
    if ((t = need(st, "bool", DT_BOOL, 1, 6, 0))) {
        ok = 1;
        for (int i = 0; i < 6; i++) ok &= ((const uint8_t *)t->data)[i] == (i % 3 == 0);
        CHECK(ok, "bool values i%%3==0");
    }
    if ((t = need(st, "scalar", DT_F32, 0, 0, 0)))
        CHECK(tensor_numel(t) == 1 && f32_from_bits(rd_u32le(t->data)) == 1.5f, "0-dim scalar 1.5");
    if ((t = need(st, "empty", DT_F32, 2, 0, 4))) CHECK(tensor_nbytes(t) == 0, "empty [0, 4] has no bytes");
    CHECK(st->tensors.n == 12, "12 tensors (got %d)", st->tensors.n);
}

static void check_meta(const SafeTensors *st) {
    const char *f = st_meta(st, "format"), *n = st_meta(st, "note"), *p = st_meta(st, "producer");
    CHECK(f && strcmp(f, "pt") == 0, "__metadata__ format = pt");
    CHECK(p && strcmp(p, "tools/golden_formats.py") == 0, "__metadata__ producer");
    CHECK(n && strcmp(n, "caf\xc3\xa9 \"q\"") == 0, "__metadata__ note with UTF-8 and an escaped quote");
    CHECK(st_meta(st, "absent") == NULL && st->nmeta == 3, "3 metadata entries, absent key gives NULL");
}

static void check_file(void) {
    SafeTensors st;
    if (!golden_open(&st, DIR "st_dtypes.safetensors")) return;
    check_dtypes(&st);
    check_meta(&st);
    st_close(&st);
}

/* st_write then st_open: same names, order, dtypes, shapes, bytes, metadata;
 * data 8-byte aligned; no PATH.tmp left behind. */
static void check_roundtrip(const char *argv0) {
    SafeTensors src, back;
    T2vError err = {0, {0}};
    if (!golden_open(&src, DIR "st_dtypes.safetensors")) return;
    char path[1024], tmp[1040];
    snprintf(path, sizeof path, "%s.roundtrip.safetensors", argv0);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int n = src.tensors.n;
    StItem *items = (StItem *)calloc((size_t)n, sizeof *items);
    for (int i = 0; i < n; i++) {  /* reversed order: the writer keeps the order given */
        items[i].name = src.tensors.names[n - 1 - i];
        items[i].t = &src.tensors.tensors[n - 1 - i];
    }
    const char *mk[2] = {"seed", "quote\"back\\slash"}, *mv[2] = {"42", "line\nbreak \xe2\x82\xac"};
    int rc = st_write(path, items, n, mk, mv, 2, &err);
    CHECK(rc == T2V_OK, "st_write %s%s%s", path, rc ? ": " : "", rc ? err.msg : "");
    if (rc == T2V_OK) {
        rc = st_open(&back, path, &err);
        CHECK(rc == T2V_OK, "st_open of the written file%s%s", rc ? ": " : "", rc ? err.msg : "");
    }
    if (rc == T2V_OK) {
        int same = back.tensors.n == n;
        for (int i = 0; same && i < n; i++) {
            const Tensor *a = items[i].t, *b = &back.tensors.tensors[i];
            same = strcmp(back.tensors.names[i], items[i].name) == 0 && a->dtype == b->dtype &&
                   a->ndim == b->ndim && tensor_nbytes(a) == tensor_nbytes(b) &&
                   memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0 &&
                   (tensor_nbytes(a) == 0 || memcmp(a->data, b->data, tensor_nbytes(a)) == 0);
            if (!same) printf("       first difference at tensor %d '%s'\n", i, items[i].name);
        }
        CHECK(same, "round trip: %d tensors, same order, dtypes, shapes and bytes", n);
        const char *s = st_meta(&back, "seed"), *q = st_meta(&back, mk[1]);
        CHECK(s && strcmp(s, "42") == 0 && q && strcmp(q, mv[1]) == 0 && back.nmeta == 2,
              "round trip: metadata with quotes, backslash, newline, UTF-8");
        CHECK(rd_u64le(back.map.data) % 8 == 0, "header length %llu is a multiple of 8",
              (unsigned long long)rd_u64le(back.map.data));
        CHECK(!platform_file_exists(tmp), "no %s left behind", tmp);
        st_close(&back);
    }
    remove(path);
    free(items);
    st_close(&src);
}

static void check_sharded(void) {
    StShards s;
    T2vError err = {0, {0}};
    int rc = st_open_any(&s, DIR "sharded/model.safetensors.index.json", &err);
    CHECK(rc == T2V_OK, "st_open_any index.json%s%s", rc ? ": " : "", rc ? err.msg : "");
    if (rc) return;
    CHECK(s.nfiles == 2 && s.tensors.n == 4, "2 shards, 4 tensors (got %d, %d)", s.nfiles, s.tensors.n);
    int ok = 1;
    for (int k = 0; k < 4; k++) {
        const Tensor *t = tl_findf(&s.tensors, "blocks.%d.w", k);
        if (!t || t->dtype != DT_F32 || t->ndim != 2 || t->shape[0] != 2 || t->shape[1] != 3) { ok = 0; continue; }
        for (int i = 0; i < 6; i++) ok &= f32_from_bits(rd_u32le((const char *)t->data + 4 * i)) == k + 0.5f * i;
        int idx = (int)(t - s.tensors.tensors);
        const char *want = k < 2 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        const char *src = s.tensors.source[idx];
        ok &= src && strlen(src) >= strlen(want) && strcmp(src + strlen(src) - strlen(want), want) == 0;
    }
    CHECK(ok, "blocks.k.w = k + 0.5 i, each from its shard");
    st_close_any(&s);
    /* A single file through the same entry point. */
    rc = st_open_any(&s, DIR "st_dtypes.safetensors", &err);
    CHECK(rc == T2V_OK && s.nfiles == 1 && s.tensors.n == 12, "st_open_any on one .safetensors file%s%s",
          rc ? ": " : "", rc ? err.msg : "");
    if (!rc) st_close_any(&s);
    rc = st_open_any(&s, DIR "sharded/missing.safetensors.index.json", &err);
    CHECK(rc == T2V_EINPUT && strstr(err.msg, "missing.safetensors.index.json"), "missing index refused: %s",
          err.msg);
}

int main(int argc, char **argv) {
    (void)argc;
    check_file();
    check_roundtrip(argv[0]);
    check_sharded();
    return h_finish();
}
