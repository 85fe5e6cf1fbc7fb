/* test_pth.c: the .pth reader against files written by torch.save
 * (tools/golden_formats.py). Each golden/formats/<name>.pth has a
 * <name>.expected.safetensors holding the same tensors, contiguous, in the
 * same dtype: names, dtypes, shapes and bytes must match exactly. */
#include "harness.h"

#include "../ref/lib/platform.h"
#include "../ref/lib/pth.h"

#define DIR "golden/formats/"

/* Every expected tensor is in p with the same dtype, shape and bytes, and p
 * has no other tensors. */
static void compare_all(const char *label, const TensorList *got, const char *expected_path) {
    SafeTensors ex;
    if (!golden_open(&ex, expected_path)) return;
    CHECK(got->n == ex.tensors.n, "%s: %d tensors (expected %d)", label, got->n, ex.tensors.n);
    int bad = 0;
    for (int i = 0; i < ex.tensors.n; i++) {
        const char *name = ex.tensors.names[i];
        const Tensor *e = &ex.tensors.tensors[i], *t = tl_find(got, name);
        char a[64], b[64];
        if (!t) { h_report(0, "%s: tensor '%s' missing", label, name); bad++; continue; }
        int same = t->dtype == e->dtype && t->ndim == e->ndim;
        for (int d = 0; same && d < e->ndim; d++) same = t->shape[d] == e->shape[d];
        if (!same) {
            h_report(0, "%s: '%s' is %s %s, expected %s %s", label, name, dtype_name(t->dtype),
                     shape_str(t, a, sizeof a), dtype_name(e->dtype), shape_str(e, b, sizeof b));
            bad++;
            continue;
        }
        size_t nb = tensor_nbytes(e);
        if (nb && memcmp(t->data, e->data, nb) != 0) {
            const unsigned char *x = (const unsigned char *)t->data, *y = (const unsigned char *)e->data;
            size_t k = 0;
            while (x[k] == y[k]) k++;
            h_report(0, "%s: '%s' bytes differ from byte %zu (got 0x%02x, expected 0x%02x)", label, name, k,
                     x[k], y[k]);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: all %d tensors equal torch.save's values bit for bit", label, ex.tensors.n);
    st_close(&ex);
}

static void check_file(const char *name, const char *expected) {
    char path[256], epath[256];
    snprintf(path, sizeof path, DIR "%s.pth", name);
    snprintf(epath, sizeof epath, DIR "%s.expected.safetensors", expected);
    PthFile p;
    T2vError err = {0, {0}};
    int rc = pth_open(&p, path, &err);
    CHECK(rc == T2V_OK, "pth_open %s%s%s", path, rc ? ": " : "", rc ? err.msg : "");
    if (rc) return;
    compare_all(path, &p.tensors, epath);
    pth_close(&p);
}

/* Views point into the mapped file; transposed/strided ones are owned copies;
 * tensors of one storage share its bytes. */
static void check_views(void) {
    PthFile p;
    T2vError err = {0, {0}};
    if (pth_open(&p, DIR "pth_views.pth", &err)) { h_report(0, "open pth_views: %s", err.msg); return; }
    const unsigned char *lo = p.map.data, *hi = p.map.data + p.map.size;
    const Tensor *rows = tl_find(&p.tensors, "slice.rows"), *tr = tl_find(&p.tensors, "transposed"),
                 *a = tl_find(&p.tensors, "shared.a"), *b = tl_find(&p.tensors, "shared.b"),
                 *fl = tl_find(&p.tensors, "slice.flat"), *col = tl_find(&p.tensors, "column"),
                 *sc = tl_find(&p.tensors, "scalar"), *em = tl_find(&p.tensors, "empty");
    if (!rows || !tr || !a || !b || !fl || !col || !sc || !em) {
        h_report(0, "pth_views: tensors missing");
        pth_close(&p);
        return;
    }
#define INFILE(t) (!(t)->owned && (const unsigned char *)(t)->data >= lo && (const unsigned char *)(t)->data < hi)
    CHECK(INFILE(rows) && INFILE(a) && INFILE(b) && INFILE(fl), "contiguous views are not copied (owned=0, in the mapping)");
    CHECK(tr->owned && col->owned, "transposed and strided tensors are owned contiguous copies");
    CHECK((const char *)b->data == (const char *)a->data + 20 * 4, "shared.b starts 20 floats after shared.a (one storage)");
    CHECK((const char *)fl->data == (const char *)a->data + 7 * 4, "slice.flat honours storage_offset 7");
    CHECK(sc->ndim == 0 && tensor_numel(sc) == 1 && f32_from_bits(rd_u32le(sc->data)) == 2.5f, "0-dim tensor 2.5");
    CHECK(em->ndim == 2 && em->shape[0] == 0 && em->shape[1] == 3 && tensor_nbytes(em) == 0, "empty [0, 3] tensor");
    /* rows = base[2:5] starts 10 floats into the storage: base[1][0] is 5 floats before it */
    CHECK(tr->shape[0] == 5 && tr->shape[1] == 6 &&
              rd_u32le((const char *)tr->data + 4) == rd_u32le((const char *)rows->data - 5 * 4),
          "transposed[0][1] == base[1][0]");
#undef INFILE
    pth_close(&p);
}

/* pth_open_mem on the file's bytes gives the same tensors, and borrows them. */
static void check_mem(void) {
    MappedFile m;
    T2vError err = {0, {0}};
    if (platform_map_file(&m, DIR "pth_bf16.pth", &err)) { h_report(0, "map: %s", err.msg); return; }
    PthFile p;
    int rc = pth_open_mem(&p, m.data, m.size, "pth_bf16 (memory)", &err);
    CHECK(rc == T2V_OK, "pth_open_mem%s%s", rc ? ": " : "", rc ? err.msg : "");
    if (!rc) {
        compare_all("pth_open_mem", &p.tensors, DIR "pth_bf16.expected.safetensors");
        const Tensor *t = tl_find(&p.tensors, "norm.weight");
        CHECK(t && (const unsigned char *)t->data > m.data && (const unsigned char *)t->data < m.data + m.size,
              "pth_open_mem views point into the caller's buffer");
        pth_close(&p);
    }
    /* The same bytes with a lie in them: refused, and the name is in the message. */
    unsigned char *copy = (unsigned char *)malloc(m.size);
    memcpy(copy, m.data, m.size);
    copy[m.size - 22 + 16] ^= 0x40; /* central directory offset in the end record */
    rc = pth_open_mem(&p, copy, m.size, "lying-copy", &err);
    CHECK(rc == T2V_EINPUT && strstr(err.msg, "lying-copy"), "corrupted copy refused: %s", err.msg);
    free(copy);
    platform_unmap_file(&m);
}

/* bf16 values widen exactly (high half of an fp32). */
static void check_bf16_widen(void) {
    PthFile p;
    SafeTensors e;
    T2vError err = {0, {0}};
    if (pth_open(&p, DIR "pth_bf16.pth", &err)) { h_report(0, "%s", err.msg); return; }
    if (!golden_open(&e, DIR "pth_bf16.expected.safetensors")) { pth_close(&p); return; }
    const Tensor *t = tl_find(&p.tensors, "blocks.0.attn.q.weight");
    int64_t n = 0;
    float *ref = golden_f32(&e, "blocks.0.attn.q.weight", &n);
    float *got = t ? tensor_to_f32_alloc(t, NULL) : NULL;
    if (got && ref && t->dtype == DT_BF16)
        check_close("bf16 q.weight widened", got, ref, n, 0.0, 1.0);
    else
        h_report(0, "bf16 q.weight missing or not BF16");
    free(got);
    free(ref);
    st_close(&e);
    pth_close(&p);
}

int main(void) {
    check_file("pth_f32", "pth_f32");
    check_file("pth_bf16", "pth_bf16");
    check_file("pth_f16", "pth_f16");
    check_file("pth_views", "pth_views");
    check_file("pth_module", "pth_module");
    check_file("pth_params", "pth_params");
    check_file("pth_ints", "pth_ints");
    check_file("pth_proto4", "pth_proto4");
    check_file("pth_odd_strides", "pth_odd_strides"); /* stride 2^63-1 on a size-1 dim */
    check_file("pth_zip64", "pth_views"); /* every size/offset in ZIP64 records */
    check_file("pth_zip64_miniz", "pth_views"); /* local headers as miniz writes them past 4 GB */
    check_views();
    check_mem();
    check_bf16_widen();
    return h_finish();
}
