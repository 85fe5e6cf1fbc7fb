/*
 * t5.c: the umT5 encoder (wan21-spec section 5; official wan/modules/t5.py,
 * T5Encoder with shared_pos=False). See t5.h for the data flow.
 */
#include "t5.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define T5_MAX_DISTANCE 128 /* T5RelativeEmbedding max_dist (spec 5.2) */
#define T5_EPS 1e-6f        /* T5LayerNorm eps (spec 5.1)              */

/* ----------------------------------------------------------------------------
 * Relative position buckets (spec 5.2). The official code computes the log
 * term in float32 and truncates; here the float32 log is the correctly
 * rounded double log, and the divisions are float32 as there. For 32 buckets
 * and max_distance 128 this gives the explicit table of spec 5.2 (tested). */
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
 * Binding the weights. */

/* tl_require on a name with at most one layer index; checks a float dtype
 * and the shape (-1 matches any size), fills err naming the tensor. */
static const Tensor *req(const TensorList *w, T2vError *err, int ndim, int64_t d0, int64_t d1,
                         const char *fmt, int layer) {
    int64_t shape[2] = {d0, d1};
    if (layer >= 0) return tl_require(w, err, ndim, shape, fmt, layer);
    return tl_require(w, err, ndim, shape, "%s", fmt);
}

/* Config from the shapes of token_embedding and block 0 (spec 5.1, 5.4). */
static int derive_config(T5Config *c, const TensorList *w, T2vError *err) {
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

static int bind_layer(T5LayerWeights *lw, const T5Config *c, const TensorList *w, int i,
                      T2vError *err) {
    int64_t d = c->dim, a = c->dim_attn, f = c->dim_ffn, nb = c->num_buckets, H = c->num_heads;
    struct { const Tensor **dst; int ndim; int64_t d0, d1; const char *name; } t[] = {
        {&lw->norm1, 1, d, 0, "blocks.%d.norm1.weight"},
        {&lw->q, 2, a, d, "blocks.%d.attn.q.weight"},
        {&lw->k, 2, a, d, "blocks.%d.attn.k.weight"},
        {&lw->v, 2, a, d, "blocks.%d.attn.v.weight"},
        {&lw->o, 2, d, a, "blocks.%d.attn.o.weight"},
        {&lw->norm2, 1, d, 0, "blocks.%d.norm2.weight"},
        {&lw->gate, 2, f, d, "blocks.%d.ffn.gate.0.weight"},
        {&lw->fc1, 2, f, d, "blocks.%d.ffn.fc1.weight"},
        {&lw->fc2, 2, d, f, "blocks.%d.ffn.fc2.weight"},
        {&lw->pos_embedding, 2, nb, H, "blocks.%d.pos_embedding.embedding.weight"},
    };
    for (size_t j = 0; j < sizeof t / sizeof t[0]; j++)
        if (!(*t[j].dst = req(w, err, t[j].ndim, t[j].d0, t[j].d1, t[j].name, i)))
            return T2V_EINPUT;
    return T2V_OK;
}

int t5_build(T5 *m, const TensorList *w, T2vError *err) {
    memset(m, 0, sizeof *m);
    T5Config *c = &m->config;
    int rc = derive_config(c, w, err);
    if (rc != T2V_OK) return rc;
    m->weights.token_embedding = tl_find(w, "token_embedding.weight");
    m->weights.layers =
        t2v_calloc((size_t)c->num_layers, sizeof(T5LayerWeights), "umT5 layers", err);
    if (!m->weights.layers) return T2V_ERESOURCE;
    for (int i = 0; i < c->num_layers; i++)
        if ((rc = bind_layer(&m->weights.layers[i], c, w, i, err)) != T2V_OK) goto fail;
    if (!(m->weights.norm = req(w, err, 1, c->dim, 0, "norm.weight", -1))) {
        rc = T2V_EINPUT;
        goto fail;
    }
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
 * Forward pass (spec 5.2). */

/* T5LayerNorm: out = w * x / sqrt(mean(x^2) + eps), over dim. */
static void t5_norm(T5State *s, const T5Config *c, float *out, const float *x, const Tensor *w,
                    int L) {
    widen_to_f32(s->normw, w->data, w->dtype, c->dim);
    rmsnorm_forward(out, x, s->normw, L, c->dim, c->eps);
}

/* The layer's bias table relbias[h][(j - i) + (L - 1)] = E[bucket(j - i), h]. */
static void position_bias(T5State *s, const T5Config *c, const Tensor *pos_embedding, int L) {
    int H = c->num_heads, R = 2 * L - 1;
    widen_to_f32(s->emb, pos_embedding->data, pos_embedding->dtype, (int64_t)c->num_buckets * H);
    for (int h = 0; h < H; h++)
        for (int r = 0; r < R; r++) s->relbias[(size_t)h * R + r] = s->emb[s->bucket[r] * H + h];
}

/* x += o( softmax(q k^T + bias) v ), no 1/sqrt(d) scaling (spec 5.2). */
static void attention_block(T5State *s, const T5Config *c, const T5LayerWeights *lw, int L) {
    int a = c->dim_attn;
    t5_norm(s, c, s->xn, s->x, lw->norm1, L);
    linear_forward(s->q, s->xn, lw->q, NULL, L, s->wscratch); /* (L, dim_attn) */
    linear_forward(s->k, s->xn, lw->k, NULL, L, s->wscratch);
    linear_forward(s->v, s->xn, lw->v, NULL, L, s->wscratch);
    position_bias(s, c, lw->pos_embedding, L);
    attention_forward(s->att, a, s->q, a, s->k, a, s->v, a, L, L, c->num_heads, c->head_dim, 1.0f,
                      s->relbias);
    linear_forward(s->y, s->att, lw->o, NULL, L, s->wscratch); /* (L, dim) */
    for (size_t i = 0; i < (size_t)L * c->dim; i++) s->x[i] += s->y[i];
}

/* x += fc2( fc1(x) * gelu_tanh(gate(x)) ), GELU on the gate branch (spec 5.2). */
static void ffn_block(T5State *s, const T5Config *c, const T5LayerWeights *lw, int L) {
    size_t nf = (size_t)L * c->dim_ffn;
    t5_norm(s, c, s->xn, s->x, lw->norm2, L);
    linear_forward(s->g, s->xn, lw->gate, NULL, L, s->wscratch); /* (L, dim_ffn) */
    gelu_tanh_inplace(s->g, (int64_t)nf);
    linear_forward(s->h, s->xn, lw->fc1, NULL, L, s->wscratch);
    for (size_t i = 0; i < nf; i++) s->h[i] *= s->g[i];
    linear_forward(s->y, s->h, lw->fc2, NULL, L, s->wscratch); /* (L, dim) */
    for (size_t i = 0; i < (size_t)L * c->dim; i++) s->x[i] += s->y[i];
}

int t5_encode(T5 *m, const int32_t *ids, int L, float *context, T2vError *err) {
    const T5Config *c = &m->config;
    T5State *s = &m->state;
    const Tensor *emb = m->weights.token_embedding;
    if (L < 1) return t2v_fail(err, T2V_EINPUT, "umT5: expected at least 1 token, found %d", L);
    for (int i = 0; i < L; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return t2v_fail(err, T2V_EINPUT,
                            "umT5: token %d is id %d, outside token_embedding.weight [0, %d)", i,
                            (int)ids[i], c->vocab);
    int rc = state_reserve(s, c, L, err);
    if (rc != T2V_OK) return rc;
    /* x = token_embedding[ids], no sqrt(d) scaling (spec 5.2 step 1) */
    size_t row = (size_t)c->dim * dtype_size(emb->dtype);
    for (int i = 0; i < L; i++)
        widen_to_f32(s->x + (size_t)i * c->dim, (const char *)emb->data + (size_t)ids[i] * row,
                     emb->dtype, c->dim);
    for (int r = 0; r < 2 * L - 1; r++)
        s->bucket[r] = t5_relative_bucket(r - (L - 1), c->num_buckets, c->max_distance);
    for (int l = 0; l < c->num_layers; l++) {
        attention_block(s, c, &m->weights.layers[l], L);
        ffn_block(s, c, &m->weights.layers[l], L);
        if (m->hook) m->hook(m->hook_ctx, l, s->x, L, c->dim);
    }
    t5_norm(s, c, context, s->x, m->weights.norm, L); /* final T5LayerNorm */
    return T2V_OK;
}
