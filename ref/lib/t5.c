/*
 * t5.c: the umT5 encoder (docs/MODEL.md section 5; official wan/modules/t5.py,
 * T5Encoder with shared_pos=False). See t5.h for the data flow.
 */
#include "t5.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define T5_MAX_DISTANCE 128 /* T5RelativeEmbedding max_dist (docs/MODEL.md 5.2) */
#define T5_EPS 1e-6f        /* T5LayerNorm eps (docs/MODEL.md 5.1)              */

/* ----------------------------------------------------------------------------
 * Relative position buckets (docs/MODEL.md 5.2). The official code computes the log
 * term in float32 and truncates; here the float32 log is the correctly
 * rounded double log, and the divisions are float32 as there. For 32 buckets
 * and max_distance 128 this gives the explicit table of docs/MODEL.md 5.2 (tested). */
int t5_relative_bucket(int rel, int num_buckets, int max_distance) {
    int nb = num_buckets / 2;          /* buckets per direction     */
    int bucket = rel > 0 ? nb : 0;     /* key after query: +nb      */
    int n = rel < 0 ? -rel : rel;
    int max_exact = nb / 2;
    if (n < max_exact) return bucket + n;
    float ratio = (float)n / (float)max_exact;
    float lg = (float)log((double)ratio);
    float lmax = (float)log((double)max_distance / (double)max_exact);
    float r = lg / lmax * (float)(nb - max_exact);
    int large = max_exact + (int)r;
    if (large > nb - 1) large = nb - 1;
    return bucket + large;
}

/* ----------------------------------------------------------------------------
 * The configuration, read off the tensor shapes. */

/* tl_require on a name with at most one layer index; checks a float dtype
 * and the shape (-1 matches any size), fills err naming the tensor. */
static const Tensor *req(const TensorList *w, T2vError *err, int ndim, int64_t d0, int64_t d1,
                         const char *fmt, int layer) {
    int64_t shape[2] = {d0, d1};
    if (layer >= 0) return tl_require(w, err, ndim, shape, fmt, layer);
    return tl_require(w, err, ndim, shape, "%s", fmt);
}

int t5_config_from_tensors(T5Config *c, const TensorList *w, T2vError *err) {
    memset(c, 0, sizeof *c);
    const Tensor *emb = req(w, err, 2, -1, -1, "token_embedding.weight", -1);
    if (!emb) {
        if (tl_find(w, "shared.weight") || tl_find(w, "encoder.block.0.layer.0.layer_norm.weight"))
            return t2v_fail(err, T2V_EINPUT,
                            "umT5: these weights use Hugging Face / ComfyUI names (shared.weight, "
                            "encoder.block.N...); expected the official Wan2.1 names "
                            "(token_embedding.weight, blocks.N...)");
        return T2V_EINPUT;
    }
    c->vocab = (int)emb->shape[0];
    c->dim = (int)emb->shape[1];
    c->num_layers = 0;
    while (tl_findf(w, "blocks.%d.norm1.weight", c->num_layers)) c->num_layers++;
    if (c->num_layers == 0)
        return t2v_fail(err, T2V_EINPUT, "umT5: tensor blocks.0.norm1.weight missing");
    const Tensor *q = req(w, err, 2, -1, c->dim, "blocks.%d.attn.q.weight", 0);
    const Tensor *f = req(w, err, 2, -1, c->dim, "blocks.%d.ffn.fc1.weight", 0);
    const Tensor *p = req(w, err, 2, -1, -1, "blocks.%d.pos_embedding.embedding.weight", 0);
    if (!q || !f || !p) return T2V_EINPUT;
    c->dim_attn = (int)q->shape[0];
    c->dim_ffn = (int)f->shape[0];
    c->num_buckets = (int)p->shape[0];
    c->num_heads = (int)p->shape[1];
    c->max_distance = T5_MAX_DISTANCE;
    c->eps = T5_EPS;
    if (c->num_heads < 1 || c->dim_attn % c->num_heads != 0)
        return t2v_fail(err, T2V_EINPUT,
                        "umT5: blocks.0.attn.q.weight has %d rows, not a multiple of the %d heads "
                        "of blocks.0.pos_embedding.embedding.weight [%d, %d]",
                        c->dim_attn, c->num_heads, c->num_buckets, c->num_heads);
    if (c->num_buckets < 4 || c->num_buckets % 2 != 0)
        return t2v_fail(err, T2V_EINPUT,
                        "umT5: blocks.0.pos_embedding.embedding.weight: expected an even number "
                        "of buckets >= 4 (32 for umT5), found %d", c->num_buckets);
    c->head_dim = c->dim_attn / c->num_heads;
    return T2V_OK;
}

/* ----------------------------------------------------------------------------
 * The weights: the official tensors of docs/MODEL.md 5.4 in one table. t5_tensor_specs
 * lists it (for `t2v info`); t5_build binds and shape-checks every row. */

void t5_default_config(T5Config *c) {
    memset(c, 0, sizeof *c);
    c->vocab = 256384, c->dim = 4096, c->dim_attn = 4096, c->dim_ffn = 10240, c->num_heads = 64;
    c->head_dim = 64, c->num_layers = 24, c->num_buckets = 32;
    c->max_distance = T5_MAX_DISTANCE, c->eps = T5_EPS;
}

/* Sizes in the table: a positive number is itself, these stand for the config's. */
enum { S_D = -1, S_ATTN = -2, S_FFN = -3, S_BUCKETS = -4, S_HEADS = -5, S_VOCAB = -6 };

typedef struct {
    const char *name; /* official name; in a block, after "blocks.N." */
    int ndim, shape[2];
    size_t offset;    /* of its pointer in T5LayerWeights, or in T5Weights for the others */
} T5Tensor;

static const T5Tensor T5_EMBED = {"token_embedding.weight", 2, {S_VOCAB, S_D}, offsetof(T5Weights, token_embedding)};
static const T5Tensor T5_BLOCK[] = {
    {"norm1.weight", 1, {S_D}, offsetof(T5LayerWeights, norm1)},
    {"attn.q.weight", 2, {S_ATTN, S_D}, offsetof(T5LayerWeights, q)},
    {"attn.k.weight", 2, {S_ATTN, S_D}, offsetof(T5LayerWeights, k)},
    {"attn.v.weight", 2, {S_ATTN, S_D}, offsetof(T5LayerWeights, v)},
    {"attn.o.weight", 2, {S_D, S_ATTN}, offsetof(T5LayerWeights, o)},
    {"norm2.weight", 1, {S_D}, offsetof(T5LayerWeights, norm2)},
    {"ffn.gate.0.weight", 2, {S_FFN, S_D}, offsetof(T5LayerWeights, gate)},
    {"ffn.fc1.weight", 2, {S_FFN, S_D}, offsetof(T5LayerWeights, fc1)},
    {"ffn.fc2.weight", 2, {S_D, S_FFN}, offsetof(T5LayerWeights, fc2)},
    {"pos_embedding.embedding.weight", 2, {S_BUCKETS, S_HEADS}, offsetof(T5LayerWeights, pos_embedding)},
};
static const T5Tensor T5_NORM = {"norm.weight", 1, {S_D}, offsetof(T5Weights, norm)};
#define T5_NBLOCK (int)(sizeof T5_BLOCK / sizeof T5_BLOCK[0])

static int64_t t5_size(const T5Config *c, int s) {
    switch (s) {
    case S_D: return c->dim;
    case S_ATTN: return c->dim_attn;
    case S_FFN: return c->dim_ffn;
    case S_BUCKETS: return c->num_buckets;
    case S_HEADS: return c->num_heads;
    case S_VOCAB: return c->vocab;
    default: return s;
    }
}

/* Spec k of the whole list (token_embedding, the blocks, norm) with its row;
 * *layer is its block, or -1. */
static const T5Tensor *t5_row(const T5Config *c, int k, TensorSpec *s, int *layer) {
    int nb = T5_NBLOCK * c->num_layers;
    const T5Tensor *t = k == 0 ? &T5_EMBED : k <= nb ? &T5_BLOCK[(k - 1) % T5_NBLOCK] : &T5_NORM;
    *layer = k == 0 || k > nb ? -1 : (k - 1) / T5_NBLOCK;
    if (*layer < 0) snprintf(s->name, sizeof s->name, "%s", t->name);
    else snprintf(s->name, sizeof s->name, "blocks.%d.%s", *layer, t->name);
    s->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) s->shape[i] = t5_size(c, t->shape[i]);
    return t;
}

int t5_tensor_specs(const T5Config *c, TensorSpec *out, int cap) {
    int n = 2 + T5_NBLOCK * c->num_layers, layer;
    for (int k = 0; k < n && k < cap; k++) t5_row(c, k, &out[k], &layer);
    return n;
}

/* Every row of the table, in order, into m->weights (m->config set). */
static int bind_weights(T5 *m, const TensorList *w, T2vError *err) {
    TensorSpec s;
    int layer;
    for (int k = 0, n = t5_tensor_specs(&m->config, NULL, 0); k < n; k++) {
        const T5Tensor *t = t5_row(&m->config, k, &s, &layer);
        const Tensor *x = tl_require(w, err, s.ndim, s.shape, "%s", s.name);
        if (!x) return T2V_EINPUT;
        char *base = layer < 0 ? (char *)&m->weights : (char *)&m->weights.layers[layer];
        *(const Tensor **)(base + t->offset) = x;
    }
    return T2V_OK;
}

int t5_build(T5 *m, const TensorList *w, T2vError *err) {
    memset(m, 0, sizeof *m);
    T5Config *c = &m->config;
    int rc = t5_config_from_tensors(c, w, err);
    if (rc != T2V_OK) return rc;
    m->weights.layers =
        t2v_calloc((size_t)c->num_layers, sizeof(T5LayerWeights), "umT5 layers", err);
    if (!m->weights.layers) return T2V_ERESOURCE;
    if ((rc = bind_weights(m, w, err)) != T2V_OK) goto fail;
    /* One weight matrix widened at a time: the largest is an FFN matrix. */
    size_t wmax = (size_t)c->dim_attn * (size_t)c->dim;
    if ((size_t)c->dim_ffn * (size_t)c->dim > wmax) wmax = (size_t)c->dim_ffn * (size_t)c->dim;
    m->state.wscratch = t2v_malloc(wmax * sizeof(float), "umT5 weight scratch", err);
    if (!m->state.wscratch) { rc = T2V_ERESOURCE; goto fail; }
    return T2V_OK;
fail:
    t5_free(m);
    return rc;
}

void t5_free(T5 *m) {
    bf16_work_free(&m->bf16);
    free(m->weights.layers);
    free(m->state.wscratch);
    if (m->state.arena.base) arena_free(&m->state.arena);
    memset(m, 0, sizeof *m);
}

int t5_dim(const T5 *m) { return m->config.dim; }

void t5_set_hook(T5 *m, T5LayerHook hook, void *ctx) {
    m->hook = hook;
    m->hook_ctx = ctx;
}

/* ----------------------------------------------------------------------------
 * State: every activation for L tokens, from one arena (re-made only when a
 * longer sequence comes). */
static int state_reserve(T5State *s, const T5Config *c, int L, T2vError *err) {
    if (L <= s->cap) return T2V_OK;
    size_t n = (size_t)L, d = (size_t)c->dim, a = (size_t)c->dim_attn, f = (size_t)c->dim_ffn;
    size_t rb = 2 * n - 1, nf = 3 * n * d + 4 * n * a + 2 * n * f + (size_t)c->num_heads * rb +
                                 (size_t)c->num_buckets * (size_t)c->num_heads + d;
    size_t bytes = nf * sizeof(float) + rb * sizeof(int) + 16 * 64;
    if (s->arena.base) arena_free(&s->arena);
    s->cap = 0;
    int rc = arena_init(&s->arena, bytes, err);
    if (rc != T2V_OK) return rc;
    s->x = arena_floats(&s->arena, (int64_t)(n * d));
    s->xn = arena_floats(&s->arena, (int64_t)(n * d));
    s->y = arena_floats(&s->arena, (int64_t)(n * d));
    s->q = arena_floats(&s->arena, (int64_t)(n * a));
    s->k = arena_floats(&s->arena, (int64_t)(n * a));
    s->v = arena_floats(&s->arena, (int64_t)(n * a));
    s->att = arena_floats(&s->arena, (int64_t)(n * a));
    s->g = arena_floats(&s->arena, (int64_t)(n * f));
    s->h = arena_floats(&s->arena, (int64_t)(n * f));
    s->relbias = arena_floats(&s->arena, (int64_t)((size_t)c->num_heads * rb));
    s->emb = arena_floats(&s->arena, (int64_t)c->num_buckets * c->num_heads);
    s->normw = arena_floats(&s->arena, c->dim);
    s->bucket = arena_alloc(&s->arena, rb * sizeof(int));
    if (!s->x || !s->xn || !s->y || !s->q || !s->k || !s->v || !s->att || !s->g || !s->h ||
        !s->relbias || !s->emb || !s->normw || !s->bucket)
        return t2v_fail(err, T2V_ERESOURCE, "umT5: activation arena too small (%zu bytes)", bytes);
    s->cap = L;
    return T2V_OK;
}

/* ----------------------------------------------------------------------------
 * Forward pass (docs/MODEL.md 5.2). */

/* The linears in the encoder's precision (docs/ARCHITECTURE.md, Numerics). */
static void t5_linear(T5 *m, float *out, const float *inp, const Tensor *W, int L) {
    if (m->precision == PREC_BF16) linear_bf16_forward(out, inp, W, NULL, L, &m->bf16);
    else linear_forward(out, inp, W, NULL, L, m->state.wscratch);
}

/* T5LayerNorm: out = w * x / sqrt(mean(x^2) + eps), over dim. */
static void t5_norm(T5State *s, const T5Config *c, float *out, const float *x, const Tensor *w,
                    int L) {
    widen_scaled(s->normw, w->data, w->dtype, w->scale, c->dim);
    rmsnorm_forward(out, x, s->normw, L, c->dim, c->eps);
}

/* The layer's bias table relbias[h][(j - i) + (L - 1)] = E[bucket(j - i), h]. */
static void position_bias(T5State *s, const T5Config *c, const Tensor *pos_embedding, int L) {
    int H = c->num_heads, R = 2 * L - 1;
    widen_scaled(s->emb, pos_embedding->data, pos_embedding->dtype, pos_embedding->scale, (int64_t)c->num_buckets * H);
    for (int h = 0; h < H; h++)
        for (int r = 0; r < R; r++) s->relbias[(size_t)h * R + r] = s->emb[s->bucket[r] * H + h];
}

/* x += o( softmax(q k^T + bias) v ), no 1/sqrt(d) scaling (docs/MODEL.md 5.2). */
static void attention_block(T5 *m, const T5LayerWeights *lw, int L) {
    T5State *s = &m->state;
    const T5Config *c = &m->config;
    int a = c->dim_attn;
    t5_norm(s, c, s->xn, s->x, lw->norm1, L);
    t5_linear(m, s->q, s->xn, lw->q, L); /* (L, dim_attn) */
    t5_linear(m, s->k, s->xn, lw->k, L);
    t5_linear(m, s->v, s->xn, lw->v, L);
    position_bias(s, c, lw->pos_embedding, L);
    if (m->precision == PREC_BF16)
        attention_bf16_forward(s->att, a, s->q, a, s->k, a, s->v, a, L, L, c->num_heads, c->head_dim, 1.0f,
                               s->relbias, &m->bf16);
    else
        attention_forward(s->att, a, s->q, a, s->k, a, s->v, a, L, L, c->num_heads, c->head_dim, 1.0f,
                          s->relbias);
    t5_linear(m, s->y, s->att, lw->o, L); /* (L, dim) */
    for (size_t i = 0; i < (size_t)L * c->dim; i++) s->x[i] += s->y[i];
}

/* x += fc2( fc1(x) * gelu_tanh(gate(x)) ), GELU on the gate branch (docs/MODEL.md 5.2). */
static void ffn_block(T5 *m, const T5LayerWeights *lw, int L) {
    T5State *s = &m->state;
    const T5Config *c = &m->config;
    size_t nf = (size_t)L * c->dim_ffn;
    t5_norm(s, c, s->xn, s->x, lw->norm2, L);
    t5_linear(m, s->g, s->xn, lw->gate, L); /* (L, dim_ffn) */
    gelu_tanh_inplace(s->g, (int64_t)nf);
    t5_linear(m, s->h, s->xn, lw->fc1, L);
    for (size_t i = 0; i < nf; i++) s->h[i] *= s->g[i];
    t5_linear(m, s->y, s->h, lw->fc2, L); /* (L, dim) */
    for (size_t i = 0; i < (size_t)L * c->dim; i++) s->x[i] += s->y[i];
}

int t5_encode(T5 *m, const int32_t *ids, int L, float *context, T2vError *err) {
    const T5Config *c = &m->config;
    T5State *s = &m->state;
    bf16_work_forget(&m->bf16);
    const Tensor *emb = m->weights.token_embedding;
    if (L < 1) return t2v_fail(err, T2V_EINPUT, "umT5: expected at least 1 token, found %d", L);
    for (int i = 0; i < L; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return t2v_fail(err, T2V_EINPUT,
                            "umT5: token %d is id %d, outside token_embedding.weight [0, %d)", i,
                            (int)ids[i], c->vocab);
    int rc = state_reserve(s, c, L, err);
    if (rc != T2V_OK) return rc;
    /* x = token_embedding[ids], no sqrt(d) scaling (docs/MODEL.md 5.2 step 1) */
    size_t row = dtype_nbytes(emb->dtype, c->dim);
    for (int i = 0; i < L; i++)
        widen_scaled(s->x + (size_t)i * c->dim, (const char *)emb->data + (size_t)ids[i] * row,
                     emb->dtype, emb->scale, c->dim);
    for (int r = 0; r < 2 * L - 1; r++)
        s->bucket[r] = t5_relative_bucket(r - (L - 1), c->num_buckets, c->max_distance);
    for (int l = 0; l < c->num_layers; l++) {
        attention_block(m, &m->weights.layers[l], L);
        ffn_block(m, &m->weights.layers[l], L);
        if (m->hook) m->hook(m->hook_ctx, l, s->x, L, c->dim);
    }
    t5_norm(s, c, context, s->x, m->weights.norm, L); /* final T5LayerNorm */
    return T2V_OK;
}
