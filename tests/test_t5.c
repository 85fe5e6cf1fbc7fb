/*
 * test_t5.c: the umT5 encoder (ref/t5.c) against the float64 PyTorch
 * reference (tools/reference/t5.py via tools/golden_t5.py).
 *
 *   - relative position buckets against the explicit table of docs/MODEL.md 5.2;
 *   - tiny encoder, weights stored bf16 and f32: every layer's output and the
 *     context of the unpadded run, and the context against the rows of the
 *     official padded form (text_len with key mask);
 *   - the same tiny encoder loaded from a torch.save .pth in official layout;
 *   - one full-width layer (dim 4096, 64 heads, ffn 10240), weights made here
 *     from harness.h prng_fill with the seeds of tools/golden_t5.py;
 *   - refusals: missing / misshapen tensors, HF names, bad ids.
 * Tolerances: golden/README.md, section "t5".
 */
#include "harness.h"

#include "../ref/lib/ops.h"
#include "../ref/lib/pth.h"
#include "../ref/lib/t5.h"

#define TOL_TINY 1e-5
#define COS_TINY 0.99999999
#define TOL_FULL 1e-5
#define COS_FULL 0.99999999

/* ---------------------------------------------------------------------------
 * Per-layer dump through the hook. */
typedef struct {
    float *buf; /* (num_layers, L, dim) */
    int calls;
} Dump;

static void dump_hook(void *ctx, int layer, const float *x, int L, int dim) {
    Dump *d = (Dump *)ctx;
    memcpy(d->buf + (size_t)layer * L * dim, x, (size_t)L * dim * sizeof(float));
    d->calls++;
}

/* Encodes `tokens` with per-layer dumps and compares every layer, the
 * context, and the context against the padded reference's first L rows;
 * then `tokens.short` against its padded reference. */
static void check_encoder(T5 *m, const SafeTensors *g, const char *what) {
    char label[128];
    int L, Ls, dim = t5_dim(m), nl = m->config.num_layers;
    int32_t *ids = golden_ids(g, "tokens", &L), *ids_s = golden_ids(g, "tokens.short", &Ls);
    if (!ids || !ids_s) { free(ids); free(ids_s); return; }
    float *ctx = malloc((size_t)L * dim * sizeof(float));
    Dump d = {malloc((size_t)nl * L * dim * sizeof(float)), 0};
    T2vError e = {0, {0}};
    t5_set_hook(m, dump_hook, &d);
    int rc = t5_encode(m, ids, L, ctx, &e);
    t5_set_hook(m, NULL, NULL);
    CHECK(rc == T2V_OK && d.calls == nl, "%s: encode %d tokens, %d layer hooks (%s)", what, L,
          d.calls, e.msg);
    for (int l = 0; l < nl && rc == T2V_OK; l++) {
        char name[32];
        snprintf(name, sizeof name, "layer.%d", l);
        float *ref = golden_f32(g, name, NULL);
        snprintf(label, sizeof label, "%s %s", what, name);
        if (ref) check_close(label, d.buf + (size_t)l * L * dim, ref, (int64_t)L * dim, TOL_TINY, COS_TINY);
        free(ref);
    }
    float *ref = golden_f32(g, "context", NULL), *pad = golden_f32(g, "context.padded", NULL);
    snprintf(label, sizeof label, "%s context", what);
    if (ref && rc == T2V_OK) check_close(label, ctx, ref, (int64_t)L * dim, TOL_TINY, COS_TINY);
    snprintf(label, sizeof label, "%s context vs padded[:%d]", what, L);
    if (pad && rc == T2V_OK) check_close(label, ctx, pad, (int64_t)L * dim, TOL_TINY, COS_TINY);
    free(ref);
    free(pad);

    /* Short prompt, then the long one again: the state is reused and the
     * result must not depend on what ran before (same bits). */
    float *ctx_s = malloc((size_t)Ls * dim * sizeof(float)), *again = malloc((size_t)L * dim * sizeof(float));
    rc = t5_encode(m, ids_s, Ls, ctx_s, &e);
    pad = golden_f32(g, "context.short.padded", NULL);
    snprintf(label, sizeof label, "%s short (%d) vs padded[:%d]", what, Ls, Ls);
    if (pad && rc == T2V_OK) check_close(label, ctx_s, pad, (int64_t)Ls * dim, TOL_TINY, COS_TINY);
    free(pad);
    rc = t5_encode(m, ids, L, again, &e);
    CHECK(rc == T2V_OK && memcmp(again, ctx, (size_t)L * dim * sizeof(float)) == 0,
          "%s: re-encoding after a shorter prompt gives the same bits", what);
    free(ctx_s); free(again); free(ctx); free(d.buf); free(ids); free(ids_s);
}

static void test_tiny(const char *path, const char *what) {
    SafeTensors g;
    if (!golden_open(&g, path)) return;
    T5 m;
    T2vError e = {0, {0}};
    int rc = t5_build(&m, &g.tensors, &e);
    CHECK(rc == T2V_OK, "%s: t5_build from safetensors (%s)", what, e.msg);
    if (rc == T2V_OK) {
        const T5Config *c = &m.config;
        CHECK(c->vocab == 128 && c->dim == 32 && c->dim_attn == 48 && c->num_heads == 4 &&
                  c->head_dim == 12 && c->dim_ffn == 80 && c->num_layers == 3 && c->num_buckets == 32,
              "%s: config from shapes: vocab %d dim %d attn %d heads %d ffn %d layers %d buckets %d",
              what, c->vocab, c->dim, c->dim_attn, c->num_heads, c->dim_ffn, c->num_layers,
              c->num_buckets);
        check_encoder(&m, &g, what);
        t5_free(&m);
    }
    st_close(&g);
}

/* The bf16 tiny encoder as torch.save wrote it (official layout). */
static void test_pth(void) {
    const char *path = "golden/models/t5-tiny/models_t5_umt5-xxl-enc-bf16.pth";
    PthFile p;
    SafeTensors g;
    T2vError e = {0, {0}};
    int rc = pth_open(&p, path, &e);
    CHECK(rc == T2V_OK, "pth_open %s (%s)", path, e.msg);
    if (rc != T2V_OK) return;
    CHECK(p.tensors.n == 1 + 3 * 10 + 1, "tiny .pth holds %d tensors (expected 32)", p.tensors.n);
    if (golden_open(&g, "golden/t5/tiny_bf16.safetensors")) {
        /* The same bits as the golden's BF16 weights. */
        int same = 1;
        for (int i = 0; i < p.tensors.n; i++) {
            const Tensor *a = &p.tensors.tensors[i], *b = tl_find(&g.tensors, p.tensors.names[i]);
            if (!b || a->dtype != DT_BF16 || b->dtype != DT_BF16 || tensor_nbytes(a) != tensor_nbytes(b) ||
                memcmp(a->data, b->data, tensor_nbytes(a)) != 0)
                same = 0;
        }
        CHECK(same, ".pth tensors equal the golden's BF16 weights");
        T5 m;
        rc = t5_build(&m, &p.tensors, &e);
        CHECK(rc == T2V_OK, "t5_build from .pth (%s)", e.msg);
        if (rc == T2V_OK) {
            check_encoder(&m, &g, "tiny .pth");
            t5_free(&m);
        }
        st_close(&g);
    }
    pth_close(&p);
}

/* ---------------------------------------------------------------------------
 * One full-width layer, weights from the shared PRNG (tools/golden_t5.py
 * full_layer_specs: same names, order, seeds, scales). */
#define FULL_SEED 0x7535000ULL

static int add_prng_bf16(TensorList *tl, const char *name, int ndim, int64_t d0, int64_t d1,
                         int gain, float scale, uint64_t seed, float *tmp) {
    Tensor t;
    int64_t shape[2] = {d0, d1};
    if (tensor_alloc(&t, DT_BF16, ndim, shape, NULL) != T2V_OK) return -1;
    int64_t n = tensor_numel(&t);
    prng_fill(seed, tmp, n, scale);
    uint16_t *out = (uint16_t *)t.data;
    for (int64_t i = 0; i < n; i++) {
        float v = gain ? 1.0f + tmp[i] : tmp[i]; /* norm gains: bf16(f32(1 + 0.5 u)) */
        wr_u16le(&out[i], f32_to_bf16(v));
    }
    return tl_add(tl, name, &t, "prng", NULL) == T2V_OK ? 0 : -1;
}

static int build_full_layer(TensorList *tl) {
    const int64_t V = 64, d = 4096, a = 4096, f = 10240, nb = 32, H = 64;
    float *tmp = malloc((size_t)(f * d) * sizeof(float));
    uint64_t k = FULL_SEED;
    int bad = !tmp;
    bad = bad || add_prng_bf16(tl, "token_embedding.weight", 2, V, d, 0, 1.0f, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.norm1.weight", 1, d, 0, 1, 0.5f, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.attn.q.weight", 2, a, d, 0, 1.0f / 64, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.attn.k.weight", 2, a, d, 0, 1.0f / 64, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.attn.v.weight", 2, a, d, 0, 1.0f / 64, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.attn.o.weight", 2, d, a, 0, 1.0f / 64, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.norm2.weight", 1, d, 0, 1, 0.5f, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.ffn.gate.0.weight", 2, f, d, 0, 1.0f / 64, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.ffn.fc1.weight", 2, f, d, 0, 1.0f / 64, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.ffn.fc2.weight", 2, d, f, 0, 1.0f / 128, k++, tmp);
    bad = bad || add_prng_bf16(tl, "blocks.0.pos_embedding.embedding.weight", 2, nb, H, 0, 2.0f, k++, tmp);
    bad = bad || add_prng_bf16(tl, "norm.weight", 1, d, 0, 1, 0.5f, k++, tmp);
    free(tmp);
    return bad ? -1 : 0;
}

static void test_full_layer(void) {
    SafeTensors g;
    if (!golden_open(&g, "golden/t5/full_layer.safetensors")) return;
    TensorList tl = {0, 0, NULL, NULL, NULL};
    int ok = build_full_layer(&tl) == 0;
    CHECK(ok, "full layer: weights from prng_fill (%d tensors)", tl.n);
    T5 m;
    memset(&m, 0, sizeof m);
    T2vError e = {0, {0}};
    int rc = ok ? t5_build(&m, &tl, &e) : T2V_EINPUT;
    CHECK(rc == T2V_OK && m.config.dim == 4096 && m.config.num_heads == 64 &&
              m.config.head_dim == 64 && m.config.dim_ffn == 10240 && m.config.num_layers == 1,
          "full layer: t5_build, config dim 4096 heads 64 ffn 10240 (%s)", e.msg);
    int L;
    int32_t *ids = golden_ids(&g, "tokens", &L);
    if (rc == T2V_OK && ids) {
        float *ctx = malloc((size_t)L * 4096 * sizeof(float));
        Dump d = {malloc((size_t)L * 4096 * sizeof(float)), 0};
        t5_set_hook(&m, dump_hook, &d);
        rc = t5_encode(&m, ids, L, ctx, &e);
        CHECK(rc == T2V_OK, "full layer: encode %d tokens (%s)", L, e.msg);
        float *r0 = golden_f32(&g, "layer.0", NULL), *rc_ = golden_f32(&g, "context", NULL);
        if (rc == T2V_OK && r0) check_close("full layer: layer.0", d.buf, r0, (int64_t)L * 4096, TOL_FULL, COS_FULL);
        if (rc == T2V_OK && rc_) check_close("full layer: context", ctx, rc_, (int64_t)L * 4096, TOL_FULL, COS_FULL);
        free(r0); free(rc_); free(ctx); free(d.buf);
    }
    t5_free(&m);
    free(ids);
    tl_free(&tl);
    st_close(&g);
}

/* ---------------------------------------------------------------------------
 * Buckets (docs/MODEL.md 5.2): n 0-7 -> 0-7; 8-11 -> 8; 12-15 -> 9; 16-22 -> 10;
 * 23-31 -> 11; 32-45 -> 12; 46-63 -> 13; 64-90 -> 14; >= 91 -> 15; +16 when
 * the key comes after the query. */
static void test_buckets(void) {
    static const int lo[] = {8, 12, 16, 23, 32, 46, 64, 91, 1 << 30};
    int bad = 0, first = -1;
    for (int n = 0; n <= 5000; n++) {
        int want = n;
        if (n >= 8) {
            int b = 0;
            while (n >= lo[b + 1]) b++;
            want = 8 + b;
        }
        int before = t5_relative_bucket(-n, 32, 128), after = t5_relative_bucket(n, 32, 128);
        if (before != want || after != (n ? 16 + want : 0)) {
            bad++;
            if (first < 0) first = n;
        }
    }
    CHECK(bad == 0, "relative buckets = docs/MODEL.md 5.2 table for |j-i| <= 5000 (%d wrong, first %d)", bad, first);
}

/* ---------------------------------------------------------------------------
 * Refusals. */
static void copy_list_except(TensorList *dst, const TensorList *src, const char *skip,
                             const char *rename_from, const char *rename_to) {
    for (int i = 0; i < src->n; i++) {
        const char *name = src->names[i];
        if (skip && strcmp(name, skip) == 0) continue;
        if (rename_from && strcmp(name, rename_from) == 0) name = rename_to;
        Tensor t = src->tensors[i];
        t.owned = 0;
        tl_add(dst, name, &t, "test", NULL);
    }
}

static void test_refusals(void) {
    SafeTensors g;
    if (!golden_open(&g, "golden/t5/tiny_bf16.safetensors")) return;
    T5 m;
    T2vError e = {0, {0}};
    TensorList tl = {0, 0, NULL, NULL, NULL};
    copy_list_except(&tl, &g.tensors, "blocks.1.attn.k.weight", NULL, NULL);
    int rc = t5_build(&m, &tl, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "blocks.1.attn.k.weight"), "missing tensor refused: %s", e.msg);
    tl_free(&tl);

    Tensor bad = *tl_find(&g.tensors, "blocks.2.ffn.fc2.weight");
    bad.shape[1] = 40; /* numel shrinks: still inside the mapping */
    copy_list_except(&tl, &g.tensors, "blocks.2.ffn.fc2.weight", NULL, NULL);
    tl_add(&tl, "blocks.2.ffn.fc2.weight", &bad, "test", NULL);
    e.msg[0] = 0;
    rc = t5_build(&m, &tl, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "blocks.2.ffn.fc2.weight") && strstr(e.msg, "[32, 80]"),
          "misshapen tensor refused: %s", e.msg);
    tl_free(&tl);

    copy_list_except(&tl, &g.tensors, NULL, "token_embedding.weight", "shared.weight");
    e.msg[0] = 0;
    rc = t5_build(&m, &tl, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "Hugging Face"), "HF naming explained: %s", e.msg);
    tl_free(&tl);

    rc = t5_build(&m, &g.tensors, &e);
    if (rc == T2V_OK) {
        int32_t ids[3] = {5, 128, 1};
        float out[3 * 32];
        e.msg[0] = 0;
        rc = t5_encode(&m, ids, 3, out, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "128"), "id out of range refused: %s", e.msg);
        ids[1] = -1;
        rc = t5_encode(&m, ids, 3, out, &e);
        CHECK(rc == T2V_EINPUT, "negative id refused: %s", e.msg);
        rc = t5_encode(&m, ids, 0, out, &e);
        CHECK(rc == T2V_EINPUT, "empty sequence refused: %s", e.msg);
        t5_free(&m);
    }
    st_close(&g);
}

int main(void) {
    test_buckets();
    test_tiny("golden/t5/tiny_f32.safetensors", "tiny f32");
    test_tiny("golden/t5/tiny_bf16.safetensors", "tiny bf16");
    test_pth();
    test_refusals();
    test_full_layer();
    return h_finish();
}
