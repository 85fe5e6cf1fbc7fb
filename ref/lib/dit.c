/*
 * dit.c: WanModel, the Wan2.1 diffusion transformer (docs/MODEL.md section 2).
 *
 * Read top to bottom like the model: config, weights (one name per official
 * tensor), state, then patch_embedding, time_embedding/time_projection,
 * text_embedding, the blocks (self_attn, cross_attn, ffn), head, unpatchify.
 * All projections are GEMMs over every token at once; attention is the
 * blocked online-softmax kernel of ops.c (memory O(N·d)).
 */
#include "dit.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "causal.h"
#include "ops.h"

/* FFN hidden activations are computed in row chunks of this many tokens, so
 * their buffer stays (chunk, ffn_dim) whatever N is. */
#define DIT_FFN_CHUNK 512
#define ROPE_MAX_POS 1024 /* rope_params(1024, ...) in the official code */

/* The op-level tap of block blk (-1: top level); nothing without one. */
static void tap(const DiT *m, int blk, const char *name, const float *x, int row0, int rows, int total, int cols) {
    char full[64];
    if (!m->tap) return;
    if (blk < 0) snprintf(full, sizeof full, "%s", name);
    else snprintf(full, sizeof full, *name ? "blocks.%d.%s" : "blocks.%d", blk, name);
    m->tap(m->tap_user, full, x, row0, rows, total, cols);
}
#define TAP(name, x, rows, cols) tap(m, blk, name, x, 0, rows, rows, cols)
/* this pass's rows [r0, r1) of a token tensor x [N, cols] (DiTSplit) */
#define TAPR(name, x, N, cols) tap(m, blk, name, (x) + (size_t)s->r0 * (cols), s->r0, s->r1 - s->r0, N, cols)
/* row r0 of x [., cols] */
#define ROWS(x, cols) ((x) + (size_t)s->r0 * (size_t)(cols))

/* ===========================================================================
 * Config (docs/MODEL.md 1.1, 1.2) */
void dit_default_config(DiTConfig *c) {
    memset(c, 0, sizeof *c);
    c->dim = 1536;
    c->ffn_dim = 8960;
    c->freq_dim = 256;
    c->num_heads = 12;
    c->num_layers = 30;
    c->in_dim = 16;
    c->out_dim = 16;
    c->text_dim = 4096;
    c->text_len = 512;
    c->patch_t = 1;
    c->patch_h = 2;
    c->patch_w = 2;
    c->eps = 1e-6f;
}

int dit_check_config(const DiTConfig *c, const char *path, T2vError *err) {
    if (c->dim < 1 || c->ffn_dim < 1 || c->freq_dim < 2 || c->num_heads < 1 ||
        c->num_layers < 0 || c->in_dim < 1 || c->out_dim < 1 || c->text_dim < 1 ||
        c->text_len < 1 || c->patch_t < 1 || c->patch_h < 1 || c->patch_w < 1)
        return t2v_fail(err, T2V_EINPUT, "%s: DiT config has a size below 1", path);
    if (c->dim % c->num_heads || (c->dim / c->num_heads) % 2)
        return t2v_fail(err, T2V_EINPUT,
                        "%s: dim %d must split into num_heads %d heads of even size", path,
                        c->dim, c->num_heads);
    if (c->freq_dim % 2)
        return t2v_fail(err, T2V_EINPUT, "%s: freq_dim %d must be even", path, c->freq_dim);
    if (!(c->eps > 0.0f) || !(c->eps < 1.0f))
        return t2v_fail(err, T2V_EINPUT, "%s: eps %g outside (0, 1)", path, (double)c->eps);
    return T2V_OK;
}

/* ===========================================================================
 * Weights: the official tensors of docs/MODEL.md 2.1 in one table, in module
 * order. dit_tensor_specs lists it (for `t2v info`); dit_build binds and
 * shape-checks every row. Matrices stay views in file dtype; vectors are
 * widened into w->vectors. */

/* Sizes in the table: a positive number is itself, these stand for the config's. */
enum { S_D = -1, S_6D = -2, S_FFN = -3, S_IN = -4, S_TEXT = -5, S_FREQ = -6, S_PT = -7, S_PH = -8,
       S_PW = -9, S_OUT = -10 /* out_dim * pt * ph * pw */ };

typedef struct {
    const char *name;  /* official name; in a block, after "blocks.N." */
    int ndim, shape[5];
    int vector;        /* 1: widened to fp32 once (biases, norms, modulation) */
    size_t offset;     /* of its pointer in DiTWeights, or in DiTBlock for a block row */
} DiTTensor;

#define TOP(f) offsetof(DiTWeights, f)
#define BLK(f) offsetof(DiTBlock, f)
static const DiTTensor DIT_EMBED[] = {
    {"patch_embedding.weight", 5, {S_D, S_IN, S_PT, S_PH, S_PW}, 0, TOP(patch_embedding)},
    {"patch_embedding.bias", 1, {S_D}, 1, TOP(patch_embedding_b)},
    {"text_embedding.0.weight", 2, {S_D, S_TEXT}, 0, TOP(text_embedding0)},
    {"text_embedding.0.bias", 1, {S_D}, 1, TOP(text_embedding0_b)},
    {"text_embedding.2.weight", 2, {S_D, S_D}, 0, TOP(text_embedding2)},
    {"text_embedding.2.bias", 1, {S_D}, 1, TOP(text_embedding2_b)},
    {"time_embedding.0.weight", 2, {S_D, S_FREQ}, 0, TOP(time_embedding0)},
    {"time_embedding.0.bias", 1, {S_D}, 1, TOP(time_embedding0_b)},
    {"time_embedding.2.weight", 2, {S_D, S_D}, 0, TOP(time_embedding2)},
    {"time_embedding.2.bias", 1, {S_D}, 1, TOP(time_embedding2_b)},
    {"time_projection.1.weight", 2, {S_6D, S_D}, 0, TOP(time_projection1)},
    {"time_projection.1.bias", 1, {S_6D}, 1, TOP(time_projection1_b)},
};
static const DiTTensor DIT_BLOCK[] = {
    {"modulation", 3, {1, 6, S_D}, 1, BLK(modulation)},
    {"self_attn.q.weight", 2, {S_D, S_D}, 0, BLK(sa_q)},
    {"self_attn.q.bias", 1, {S_D}, 1, BLK(sa_bq)},
    {"self_attn.k.weight", 2, {S_D, S_D}, 0, BLK(sa_k)},
    {"self_attn.k.bias", 1, {S_D}, 1, BLK(sa_bk)},
    {"self_attn.v.weight", 2, {S_D, S_D}, 0, BLK(sa_v)},
    {"self_attn.v.bias", 1, {S_D}, 1, BLK(sa_bv)},
    {"self_attn.o.weight", 2, {S_D, S_D}, 0, BLK(sa_o)},
    {"self_attn.o.bias", 1, {S_D}, 1, BLK(sa_bo)},
    {"self_attn.norm_q.weight", 1, {S_D}, 1, BLK(sa_norm_q)},
    {"self_attn.norm_k.weight", 1, {S_D}, 1, BLK(sa_norm_k)},
    {"norm3.weight", 1, {S_D}, 1, BLK(norm3_w)},
    {"norm3.bias", 1, {S_D}, 1, BLK(norm3_b)},
    {"cross_attn.q.weight", 2, {S_D, S_D}, 0, BLK(ca_q)},
    {"cross_attn.q.bias", 1, {S_D}, 1, BLK(ca_bq)},
    {"cross_attn.k.weight", 2, {S_D, S_D}, 0, BLK(ca_k)},
    {"cross_attn.k.bias", 1, {S_D}, 1, BLK(ca_bk)},
    {"cross_attn.v.weight", 2, {S_D, S_D}, 0, BLK(ca_v)},
    {"cross_attn.v.bias", 1, {S_D}, 1, BLK(ca_bv)},
    {"cross_attn.o.weight", 2, {S_D, S_D}, 0, BLK(ca_o)},
    {"cross_attn.o.bias", 1, {S_D}, 1, BLK(ca_bo)},
    {"cross_attn.norm_q.weight", 1, {S_D}, 1, BLK(ca_norm_q)},
    {"cross_attn.norm_k.weight", 1, {S_D}, 1, BLK(ca_norm_k)},
    {"ffn.0.weight", 2, {S_FFN, S_D}, 0, BLK(ffn0)},
    {"ffn.0.bias", 1, {S_FFN}, 1, BLK(ffn0_b)},
    {"ffn.2.weight", 2, {S_D, S_FFN}, 0, BLK(ffn2)},
    {"ffn.2.bias", 1, {S_D}, 1, BLK(ffn2_b)},
};
static const DiTTensor DIT_HEAD[] = {
    {"head.head.weight", 2, {S_OUT, S_D}, 0, TOP(head)},
    {"head.head.bias", 1, {S_OUT}, 1, TOP(head_b)},
    {"head.modulation", 3, {1, 2, S_D}, 1, TOP(head_modulation)},
};
#undef TOP
#undef BLK
#define NROWS(t) (int)(sizeof(t) / sizeof((t)[0]))

static int64_t dit_size(const DiTConfig *c, int s) {
    switch (s) {
    case S_D: return c->dim;
    case S_6D: return 6 * (int64_t)c->dim;
    case S_FFN: return c->ffn_dim;
    case S_IN: return c->in_dim;
    case S_TEXT: return c->text_dim;
    case S_FREQ: return c->freq_dim;
    case S_PT: return c->patch_t;
    case S_PH: return c->patch_h;
    case S_PW: return c->patch_w;
    case S_OUT: return (int64_t)c->out_dim * c->patch_t * c->patch_h * c->patch_w;
    default: return s;
    }
}

/* Row t of the table as a spec; block >= 0 for a DIT_BLOCK row. */
static void dit_spec(const DiTConfig *c, const DiTTensor *t, int block, TensorSpec *s) {
    if (block < 0) snprintf(s->name, sizeof s->name, "%s", t->name);
    else snprintf(s->name, sizeof s->name, "blocks.%d.%s", block, t->name);
    s->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) s->shape[i] = dit_size(c, t->shape[i]);
}

/* Spec k of the whole list (embeddings, blocks, head) with its table row;
 * *block is its block, or -1. */
static const DiTTensor *dit_row(const DiTConfig *c, int k, TensorSpec *s, int *block) {
    int ne = NROWS(DIT_EMBED), nb = NROWS(DIT_BLOCK) * c->num_layers;
    const DiTTensor *t = k < ne ? &DIT_EMBED[k] : k < ne + nb ? &DIT_BLOCK[(k - ne) % NROWS(DIT_BLOCK)]
                                                              : &DIT_HEAD[k - ne - nb];
    *block = k < ne || k >= ne + nb ? -1 : (k - ne) / NROWS(DIT_BLOCK);
    dit_spec(c, t, *block, s);
    return t;
}

int dit_tensor_specs(const DiTConfig *c, TensorSpec *out, int cap) {
    int n = NROWS(DIT_EMBED) + NROWS(DIT_BLOCK) * c->num_layers + NROWS(DIT_HEAD), block;
    for (int k = 0; k < n && k < cap; k++) dit_row(c, k, &out[k], &block);
    return n;
}

/* Floats of every vector row: the size of w->vectors. */
static size_t vector_floats(const DiTConfig *c) {
    size_t n = 0;
    TensorSpec s;
    int block;
    for (int k = 0, nk = dit_tensor_specs(c, NULL, 0); k < nk; k++) {
        if (!dit_row(c, k, &s, &block)->vector) continue;
        size_t v = 1;
        for (int i = 0; i < s.ndim; i++) v *= (size_t)s.shape[i];
        n += v;
    }
    return n;
}

typedef struct {
    const TensorList *tl;
    const char *prefix; /* "" or "model.diffusion_model." (ComfyUI files) */
    float *vec;
    size_t used, cap;
    int rc;
    T2vError *err;
} Binder;

/* Binds spec s: a view, or for a vector a widened fp32 copy in b->vec. The
 * pointer goes to *dst (a const Tensor * or a const float * field). */
static void bind_spec(Binder *b, const TensorSpec *s, int vector, void *dst) {
    if (b->rc) return;
    const Tensor *t = tl_require(b->tl, b->err, s->ndim, s->shape, "%s%s", b->prefix, s->name);
    if (!t) { b->rc = T2V_EINPUT; return; }
    if (!vector) { *(const Tensor **)dst = t; return; }
    int64_t n = tensor_numel(t);
    if (b->used + (size_t)n > b->cap) { /* cannot happen: cap counts every vector */
        b->rc = t2v_fail(b->err, T2V_EINPUT, "dit: vector storage overflow");
        return;
    }
    float *v = b->vec + b->used;
    widen_scaled(v, t->data, t->dtype, t->scale, n);
    b->used += (size_t)n;
    *(const float **)dst = v;
}

/* Every row of the table, in order, into m->w. */
static void bind_weights(Binder *b, DiT *m) {
    TensorSpec s;
    int block;
    for (int k = 0, n = dit_tensor_specs(&m->c, NULL, 0); k < n && !b->rc; k++) {
        const DiTTensor *t = dit_row(&m->c, k, &s, &block);
        char *base = block < 0 ? (char *)&m->w : (char *)&m->w.blocks[block];
        bind_spec(b, &s, t->vector, base + t->offset);
    }
}

/* ===========================================================================
 * State. The fixed part (context, widening scratch) and the time tables for
 * one timestep are allocated by dit_build; the token part by dit_reserve. */
static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; } /* floats: 64 bytes */

/* The largest matrix used through GEMM that needs widening (w1: ops.c's
 * needs_widening, which also counts misaligned F32 data) and the largest
 * ffn.2 (w2). The M=1 time MLP reads its weights row by row instead
 * (matvec_forward). */
static void widening_sizes(const DiT *m, size_t *w1, size_t *w2) {
    const DiTWeights *w = &m->w;
    const Tensor *top[4] = {w->patch_embedding, w->text_embedding0, w->text_embedding2, w->head};
    *w1 = *w2 = 0;
    for (int i = 0; i < 4; i++)
        if (needs_widening(top[i]) && (size_t)tensor_numel(top[i]) > *w1)
            *w1 = (size_t)tensor_numel(top[i]);
    for (int l = 0; l < m->c.num_layers; l++) {
        const DiTBlock *b = &w->blocks[l];
        const Tensor *mats[9] = {b->sa_q, b->sa_k, b->sa_v, b->sa_o, b->ca_q,
                                 b->ca_k, b->ca_v, b->ca_o, b->ffn0};
        for (int i = 0; i < 9; i++)
            if (needs_widening(mats[i]) && (size_t)tensor_numel(mats[i]) > *w1)
                *w1 = (size_t)tensor_numel(mats[i]);
        if (needs_widening(b->ffn2) && (size_t)tensor_numel(b->ffn2) > *w2)
            *w2 = (size_t)tensor_numel(b->ffn2);
    }
}

static int alloc_fixed(DiT *m, T2vError *err) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    size_t D = (size_t)c->dim, Lc = (size_t)c->text_len, w1, w2;
    widening_sizes(m, &w1, &w2);
    size_t sz[5] = {align16(Lc * D), align16(Lc * D), align16(Lc * D), align16(w1), align16(w2)};
    size_t total = 0;
    for (int i = 0; i < 5; i++) total += sz[i];
    float *p = t2v_malloc(total * sizeof(float), "DiT context/widening buffers", err);
    if (!p) return T2V_ERESOURCE;
    s->fixed_block = p;
    s->ctx = p; p += sz[0];
    s->ck = p; p += sz[1];
    s->cv = p; p += sz[2];
    s->w1 = w1 ? p : NULL; p += sz[3];
    s->w2 = w2 ? p : NULL;
    return T2V_OK;
}

/* Time tables for up to n distinct timesteps: freq_dim + 14 dim + 1 floats
 * each (one t for every token: 1). */
static int reserve_times(DiT *m, int n, T2vError *err) {
    DiTState *s = &m->s;
    if (n <= s->cap_times) return T2V_OK;
    size_t N = (size_t)n, D = (size_t)m->c.dim;
    size_t sz[6] = {align16(N), align16(N * (size_t)m->c.freq_dim), align16(N * D), align16(N * D),
                    align16(6 * N * D), align16(6 * N * D)};
    size_t total = 0;
    for (int i = 0; i < 6; i++) total += sz[i];
    float *p = t2v_malloc(total * sizeof(float), "DiT time tables", err);
    if (!p) return T2V_ERESOURCE;
    free(s->times_block);
    s->times_block = p;
    s->t_val = p; p += sz[0];
    s->t_emb = p; p += sz[1];
    s->t_hid = p; p += sz[2];
    s->e = p; p += sz[3];
    s->e0 = p; p += sz[4];
    s->mod = p;
    s->cap_times = n;
    return T2V_OK;
}

/* The FFN's row chunk for n rows: with a GEMM row granule G > 1 (ops.h
 * gemm_row_granule), the largest multiple of G up to DIT_FFN_CHUNK (G
 * itself if larger), so that every chunk starts on a multiple of G as the
 * token ranges do; else n in equal chunks of at most DIT_FFN_CHUNK (1,560
 * tokens: 3 x 520, not 3 x 512 + 24). */
static int ffn_chunk(int n, int G) {
    if (G > 1) return G * (DIT_FFN_CHUNK / G > 1 ? DIT_FFN_CHUNK / G : 1);
    int nch = (n + DIT_FFN_CHUNK - 1) / DIT_FFN_CHUNK;
    return nch > 0 ? (n + nch - 1) / nch : 1;
}

int dit_reserve(DiT *m, int max_tokens, T2vError *err) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    int G = gemm_row_granule(), chunk_rows = ffn_chunk(max_tokens, G);
    if (chunk_rows > max_tokens) chunk_rows = max_tokens;
    if (max_tokens <= s->cap_tokens && chunk_rows <= s->hid_rows) return T2V_OK;
    if (max_tokens < s->cap_tokens) max_tokens = s->cap_tokens;
    if (chunk_rows < s->hid_rows) chunk_rows = s->hid_rows;
    size_t N = (size_t)max_tokens, D = (size_t)c->dim, pp = (size_t)c->patch_t * c->patch_h * c->patch_w;
    size_t kp = (size_t)(c->in_dim > c->out_dim ? c->in_dim : c->out_dim) * pp;
    size_t chunk = (size_t)chunk_rows, half = D / (size_t)c->num_heads / 2;
    size_t nd = align16(N * D), sz_p = align16(N * kp), sz_r = align16(N * half),
           sz_h = align16(chunk * (size_t)c->ffn_dim);
    size_t total = 5 * nd + sz_p + 2 * sz_r + sz_h;
    float *p = t2v_malloc(total * sizeof(float), "DiT token buffers", err);
    int *rows = p ? t2v_malloc(2 * N * sizeof(int), "DiT token time rows", err) : NULL;
    if (!rows) { free(p); return T2V_ERESOURCE; }
    free(s->tokens_block);
    free(s->t_row);
    s->tokens_block = p;
    s->t_row = rows;
    s->t_first = rows + N;
    s->x = p; p += nd;
    s->xn = p; p += nd;
    s->q = p; p += nd;
    s->k = p; p += nd;
    s->v = p; p += nd;
    s->patches = p; p += sz_p;
    s->rope_cos = p; p += sz_r;
    s->rope_sin = p; p += sz_r;
    s->hid = p;
    s->cap_tokens = max_tokens;
    s->hid_rows = chunk_rows;
    return T2V_OK;
}

int dit_build(DiT *m, const DiTConfig *c, const TensorList *tl, T2vError *err) {
    memset(m, 0, sizeof *m);
    int rc = dit_check_config(c, "DiT config", err);
    if (rc) return rc;
    m->c = *c;
    Binder b = {tl, "", NULL, 0, vector_floats(c), 0, err};
    if (!tl_find(tl, "patch_embedding.weight") &&
        tl_find(tl, "model.diffusion_model.patch_embedding.weight"))
        b.prefix = "model.diffusion_model.";
    m->w.vectors = b.vec = t2v_malloc(b.cap * sizeof(float), "DiT vectors", err);
    m->w.blocks = t2v_calloc((size_t)c->num_layers + 1, sizeof(DiTBlock), "DiT blocks", err);
    if (!b.vec || !m->w.blocks) { dit_free(m); return T2V_ERESOURCE; }
    bind_weights(&b, m);
    if (!b.rc) b.rc = alloc_fixed(m, err);
    if (!b.rc) b.rc = reserve_times(m, 1, err);
    if (b.rc) dit_free(m);
    return b.rc;
}

void dit_free(DiT *m) {
    bf16_work_free(&m->bf16);
    bf16_work_free(&m->bf16_ffn2);
    free(m->w.vectors);
    free(m->w.blocks);
    free(m->s.tokens_block);
    free(m->s.t_row);
    free(m->s.times_block);
    free(m->s.fixed_block);
    memset(m, 0, sizeof *m);
}

/* ===========================================================================
 * Embeddings (docs/MODEL.md 2.2 a-d, 2.5) */

/* The linears and attention of the embeddings and blocks in m->precision
 * (docs/ARCHITECTURE.md, Numerics); dit_attention: H heads from q, k, v's
 * first column (a DiTSplit passes its own range). */
static void dit_linear(DiT *m, float *out, const float *inp, const Tensor *W, const float *b, int M) {
    if (m->precision == PREC_BF16) linear_bf16_forward(out, inp, W, b, M, &m->bf16);
    else linear_gemm_forward(out, inp, W, b, M, m->s.w1);
}

static void dit_attention(DiT *m, float *out, const float *q, const float *k, const float *v, int Nq, int Nk,
                          int H) {
    int D = m->c.dim, d = D / m->c.num_heads;
    float scale = (float)(1.0 / sqrt((double)d));
    if (m->precision == PREC_BF16) attention_bf16_forward(out, D, q, D, k, D, v, D, Nq, Nk, H, d, scale, NULL, &m->bf16);
    else attention_forward(out, D, q, D, k, D, v, D, Nq, Nk, H, d, scale, NULL);
}

/* patch_embedding: Conv3d with kernel = stride = patch, as one GEMM.
 * latent [Cin, T, H, W] -> patches [N, Cin*pt*ph*pw] -> x [N, dim], tokens
 * in (f, h, w) row-major order; rows [r0, r1) of them. */
static void patch_embedding_forward(DiT *m, const float *latent, int T, int H, int W) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    int pt = c->patch_t, ph = c->patch_h, pw = c->patch_w, h = H / ph, w = W / pw;
    int Kp = c->in_dim * pt * ph * pw;
#pragma omp parallel for schedule(static) if (s->r1 - s->r0 > 64)
    for (int n = s->r0; n < s->r1; n++) {
        int fi = n / (h * w), hi = n / w % h, wi = n % w;
        float *row = s->patches + (size_t)n * Kp;
        for (int ci = 0; ci < c->in_dim; ci++)
            for (int p = 0; p < pt; p++)
                for (int q = 0; q < ph; q++)
                    for (int r = 0; r < pw; r++)
                        row[((ci * pt + p) * ph + q) * pw + r] =
                            latent[(((size_t)ci * T + fi * pt + p) * H + hi * ph + q) * W + wi * pw + r];
    }
    dit_linear(m, ROWS(s->x, c->dim), ROWS(s->patches, Kp), m->w.patch_embedding, m->w.patch_embedding_b,
               s->r1 - s->r0);
}

/* Time embedding, per distinct timestep.
 *
 * The official Wan2.2 WanModel.forward takes t of shape [B] or [B, seq_len]
 * (one per token; TI2V gives the tokens of its conditioning frame t = 0): a
 * [B] t is expanded to [B, seq_len], and the sinusoid, time_embedding and
 * time_projection run on every token: e [B, seq_len, dim], e0 [B, seq_len, 6,
 * dim]; each block adds its modulation to all of e0 ([B, seq_len, 6, dim]
 * again) and the head adds head.modulation to e. Here the tables have one
 * row per distinct value of t instead (s->t_row maps a token to its row), so
 * one t, or one per latent frame, costs a row or a few, not seq_len x 6 x
 * dim floats, and each token still gets the e and e0 of its own t (the
 * sinusoid in float64, as there). A row's bits do not depend on the other
 * rows: one t repeated for every token gives the bits of that t given once. */

/* Bit-for-bit equality (-0 and 0 are two values: their sines differ). */
static int same_t(float a, float b) { return f32_to_bits(a) == f32_to_bits(b); }

/* The distinct values of t[0..nt), in order of first appearance: s->t_first[r]
 * is row r's first token, s->t_row[n] token n's row. Returns their number.
 * A token equal to the one before it (a latent frame shares one t in Wan2.2
 * TI2V) skips the search; the search is O(nt * rows) at worst, well below
 * the time MLP that each row costs. */
static int time_rows(DiT *m, const float *t, int nt) {
    DiTState *s = &m->s;
    int nv = 0;
    for (int n = 0; n < nt; n++) {
        int r = n > 0 && same_t(t[n], t[n - 1]) ? s->t_row[n - 1] : -1;
        for (int j = 0; r < 0 && j < nv; j++)
            if (same_t(t[n], t[s->t_first[j]])) r = j;
        if (r < 0) {
            r = nv++;
            s->t_first[r] = n;
        }
        s->t_row[n] = r;
    }
    return nv;
}

void dit_sinusoid(int freq_dim, float t, float *emb) {
    int half = freq_dim / 2;
    for (int i = 0; i < half; i++) {
        double arg = (double)t * pow(10000.0, -(double)i / half);
        emb[i] = (float)cos(arg);
        emb[half + i] = (float)sin(arg);
    }
}

/* For each row r < n_times: sinusoid of t_val[r] (cosines first, float64),
 * time_embedding -> e [dim], time_projection -> e0 [6, dim]. */
static void time_embedding_forward(DiT *m) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    int D = c->dim, nv = s->n_times;
    for (int r = 0; r < nv; r++) dit_sinusoid(c->freq_dim, s->t_val[r], s->t_emb + (size_t)r * c->freq_dim);
    matvec_forward(s->t_hid, m->w.time_embedding0, s->t_emb, m->w.time_embedding0_b, nv); /* (nv, dim) */
    silu_inplace(s->t_hid, (int64_t)nv * D);
    matvec_forward(s->e, m->w.time_embedding2, s->t_hid, m->w.time_embedding2_b, nv);
    memcpy(s->t_hid, s->e, sizeof(float) * (size_t)nv * D);
    silu_inplace(s->t_hid, (int64_t)nv * D);
    matvec_forward(s->e0, m->w.time_projection1, s->t_hid, m->w.time_projection1_b, nv); /* (nv, 6 dim) */
}

int dit_time_embedding(DiT *m, float t, float *e, float *e0, T2vError *err) {
    if (!isfinite(t)) return t2v_fail(err, T2V_EINPUT, "dit: timestep %g, expected a finite number", (double)t);
    int rc = reserve_times(m, 1, err);
    if (rc) return rc;
    m->s.n_times = 1;
    m->s.row = NULL;
    m->s.t_val[0] = t;
    time_embedding_forward(m);
    memcpy(e, m->s.e, sizeof(float) * (size_t)m->c.dim);
    memcpy(e0, m->s.e0, sizeof(float) * 6 * (size_t)m->c.dim);
    return T2V_OK;
}

/* The traces "e" and "e0": the row itself for one t, else every token's row
 * ([N, dim] and [N, 6, dim], as the official e and e0), expanded into a
 * temporary (tests and --dump only; skipped if it cannot be allocated). */
static void trace_time(DiT *m, int N) {
    DiTState *s = &m->s;
    size_t D = (size_t)m->c.dim;
    if (!s->row) {
        m->trace(m->trace_user, "e", s->e, (int64_t)D);
        m->trace(m->trace_user, "e0", s->e0, 6 * (int64_t)D);
        return;
    }
    float *buf = malloc(sizeof(float) * (size_t)N * 6 * D);
    if (!buf) return;
    for (int n = 0; n < N; n++) memcpy(buf + n * D, s->e + s->row[n] * D, sizeof(float) * D);
    m->trace(m->trace_user, "e", buf, (int64_t)N * D);
    for (int n = 0; n < N; n++) memcpy(buf + n * 6 * D, s->e0 + s->row[n] * 6 * D, sizeof(float) * 6 * D);
    m->trace(m->trace_user, "e0", buf, (int64_t)N * 6 * D);
    free(buf);
}

#define RIFLEX_TWO_PI (2.0 * 3.14159265358979323846)

/* The RoPE frequency of component k of an axis of dm dimensions. */
static double rope_freq(int k, int dm) {
    return 1.0 / pow(10000.0, (double)(2 * k) / dm);
}

int dit_riflex_default_k(int head_dim, int trained_frames) {
    int dim_t = head_dim - 4 * (head_dim / 6), best_k = 1;
    double best = -1.0;
    for (int j = 0; j < dim_t / 2; j++) {
        double gap = fabs(RIFLEX_TWO_PI / rope_freq(j, dim_t) - trained_frames);
        if (best < 0 || gap < best) best = gap, best_k = j + 1;
    }
    return best_k;
}

/* 3D RoPE tables for the grid (f, h, w): per token, c = d/2 angles; pair j
 * < c_t uses fi with base dim_t = d - 4(d/6), then c/3 pairs of hi and c/3
 * of wi with base dim_s = 2(d/6). Angles and cos/sin in float64. RIFLEx
 * replaces one time frequency (Zhao et al. 2025, Eq. 8). */
void dit_rope_tables(DiT *m, int f, int h, int w) {
    int d = m->c.dim / m->c.num_heads, c = d / 2;
    int ct = c - 2 * (c / 3), ch = c / 3;
    int dim_t = d - 4 * (d / 6), dim_s = 2 * (d / 6), N = f * h * w;
    int rk = m->riflex_k > 0 && m->riflex_k <= ct && m->riflex_frames > 0 ? m->riflex_k - 1 : -1;
    double riflex = rk >= 0 ? 0.9 * RIFLEX_TWO_PI / m->riflex_frames : 0.0;
#pragma omp parallel for schedule(static) if (N > 64)
    for (int n = 0; n < N; n++) {
        int pos[3] = {m->frame0 + n / (h * w), n / w % h, n % w}; /* frame0: causal.h */
        for (int j = 0; j < c; j++) {
            int axis = j < ct ? 0 : j < ct + ch ? 1 : 2;
            int k = axis == 0 ? j : axis == 1 ? j - ct : j - ct - ch;
            int dm = axis == 0 ? dim_t : dim_s;
            double freq = axis == 0 && k == rk ? riflex : rope_freq(k, dm);
            double angle = (double)pos[axis] * freq;
            m->s.rope_cos[(size_t)n * c + j] = (float)cos(angle);
            m->s.rope_sin[(size_t)n * c + j] = (float)sin(angle);
        }
    }
}

int dit_embed_context(DiT *m, const float *context, int L, float *out, T2vError *err) {
    bf16_work_forget(&m->bf16);
    const DiTConfig *c = &m->c;
    int D = c->dim, Lc = c->text_len;
    float *tmp = m->s.ck; /* (text_len, dim) */
    if (L < 0 || L > Lc)
        return t2v_fail(err, T2V_EINPUT, "dit: context has %d rows, expected at most text_len %d",
                        L, Lc);
    if (L > 0)
        dit_linear(m, tmp, context, m->w.text_embedding0, m->w.text_embedding0_b, L);
    for (int i = L; i < Lc; i++) /* zero padding rows: W·0 + b = b */
        memcpy(tmp + (size_t)i * D, m->w.text_embedding0_b, sizeof(float) * (size_t)D);
    gelu_tanh_inplace(tmp, (int64_t)Lc * D);
    dit_linear(m, out, tmp, m->w.text_embedding2, m->w.text_embedding2_b, Lc);
    if (m->trace) m->trace(m->trace_user, "context_emb", out, (int64_t)Lc * D);
    tap(m, -1, "text_embedding", out, 0, Lc, Lc, D);
    return T2V_OK;
}

/* ===========================================================================
 * Sequence split (dit.h DiTSplit; docs/SCALING.md, What is split) */
void dit_token_range(int N, int parts, int part, int granule, int *a, int *b) {
    int64_t G = granule > 0 ? granule : 1, U = (N + G - 1) / G, P = parts > 0 ? parts : 1;
    int64_t u0 = part * U / P, u1 = (part + 1) * U / P;
    *a = (int)(u0 * G < N ? u0 * G : N), *b = (int)(u1 * G < N ? u1 * G : N);
}

void dit_part_attention(int H, int N, int parts, int part, int *h0, int *h1, int *q0, int *q1) {
    int64_t P = parts > 0 ? parts : 1, g = part;
    if (P <= H) {
        *h0 = (int)(g * H / P), *h1 = (int)((g + 1) * H / P), *q0 = 0, *q1 = N;
        return;
    }
    int64_t h = g * H / P, first = (h * P + H - 1) / H, end = ((h + 1) * P + H - 1) / H, c = end - first;
    *h0 = (int)h, *h1 = (int)h + 1;
    *q0 = (int)((g - first) * N / c), *q1 = (int)((g - first + 1) * N / c);
}

/* ===========================================================================
 * WanAttentionBlock (docs/MODEL.md 2.3, 2.4) */

/* softmax(q k^T / sqrt(d)) v of every head into s->xn; with a DiTSplit,
 * of this part's heads and queries over every key, between the two
 * exchanges; causal (m->kv): over this block's keys and the cached frames'. */
static void self_attention_heads(DiT *m, int blk, int N) {
    DiTState *s = &m->s;
    DiTSplit *sp = &m->split;
    int D = m->c.dim, H = m->c.num_heads, d = D / H, h0, h1, q0, q1, rc;
    if (m->kv) { /* causal: this block's tokens and the cached frames (causal.h); never split */
        const float *K, *V;
        int Nk = causal_cache_layer(m->kv, blk, s->k, s->v, &K, &V);
        dit_attention(m, s->xn, s->q, K, V, N, Nk, H);
        return;
    }
    if (sp->parts <= 1) {
        dit_attention(m, s->xn, s->q, s->k, s->v, N, N, H);
        return;
    }
    if ((rc = sp->to_heads(sp->user, s->q, s->k, s->v, N, D, d, &sp->err))) goto fail;
    dit_part_attention(H, N, sp->parts, sp->part, &h0, &h1, &q0, &q1);
    size_t off = (size_t)h0 * d, qoff = (size_t)q0 * D + off;
    if (h1 > h0 && q1 > q0)
        dit_attention(m, s->xn + qoff, s->q + qoff, s->k + off, s->v + off, q1 - q0, N, h1 - h0);
    if ((rc = sp->to_tokens(sp->user, s->xn, N, D, d, &sp->err))) goto fail;
    return;
fail:
    if (!sp->rc) sp->rc = rc;
}

/* self_attn on rows [r0, r1) of s->xn; result in s->q. */
static void self_attn_forward(DiT *m, const DiTBlock *b, int N) {
    DiTState *s = &m->s;
    int D = m->c.dim, H = m->c.num_heads, d = D / H, blk = (int)(b - m->w.blocks), n = s->r1 - s->r0;
    float eps = m->c.eps;
    dit_linear(m, ROWS(s->q, D), ROWS(s->xn, D), b->sa_q, b->sa_bq, n);
    TAPR("self_attn.q", s->q, N, D);
    rmsnorm_forward(ROWS(s->q, D), ROWS(s->q, D), b->sa_norm_q, n, D, eps); /* over all of D */
    TAPR("self_attn.norm_q", s->q, N, D);
    dit_linear(m, ROWS(s->k, D), ROWS(s->xn, D), b->sa_k, b->sa_bk, n);
    TAPR("self_attn.k", s->k, N, D);
    rmsnorm_forward(ROWS(s->k, D), ROWS(s->k, D), b->sa_norm_k, n, D, eps);
    TAPR("self_attn.norm_k", s->k, N, D);
    dit_linear(m, ROWS(s->v, D), ROWS(s->xn, D), b->sa_v, b->sa_bv, n);
    TAPR("self_attn.v", s->v, N, D);
    rope_apply(ROWS(s->q, D), n, H, d, D, ROWS(s->rope_cos, d / 2), ROWS(s->rope_sin, d / 2)); /* global positions */
    rope_apply(ROWS(s->k, D), n, H, d, D, ROWS(s->rope_cos, d / 2), ROWS(s->rope_sin, d / 2));
    TAPR("self_attn.rope_q", s->q, N, D);
    TAPR("self_attn.rope_k", s->k, N, D);
    self_attention_heads(m, blk, N);
    TAPR("self_attn.o.in", s->xn, N, D);
    dit_linear(m, ROWS(s->q, D), ROWS(s->xn, D), b->sa_o, b->sa_bo, n);
    TAPR("self_attn.o", s->q, N, D);
}

/* cross_attn of rows [r0, r1) of s->xn on the embedded context (all
 * text_len rows, no mask, no RoPE; keys and values computed whole by every
 * part); result in s->q. */
static void cross_attn_forward(DiT *m, const DiTBlock *b, int N, const float *ctx) {
    DiTState *s = &m->s;
    int D = m->c.dim, Lc = m->c.text_len, blk = (int)(b - m->w.blocks), n = s->r1 - s->r0;
    float eps = m->c.eps;
    TAP("cross_attn.context", ctx, Lc, D);
    dit_linear(m, ROWS(s->q, D), ROWS(s->xn, D), b->ca_q, b->ca_bq, n);
    TAPR("cross_attn.q", s->q, N, D);
    rmsnorm_forward(ROWS(s->q, D), ROWS(s->q, D), b->ca_norm_q, n, D, eps);
    TAPR("cross_attn.norm_q", s->q, N, D);
    dit_linear(m, s->ck, ctx, b->ca_k, b->ca_bk, Lc);
    TAP("cross_attn.k", s->ck, Lc, D);
    rmsnorm_forward(s->ck, s->ck, b->ca_norm_k, Lc, D, eps);
    TAP("cross_attn.norm_k", s->ck, Lc, D);
    dit_linear(m, s->cv, ctx, b->ca_v, b->ca_bv, Lc);
    TAP("cross_attn.v", s->cv, Lc, D);
    dit_attention(m, ROWS(s->xn, D), ROWS(s->q, D), s->ck, s->cv, n, Lc, m->c.num_heads);
    TAPR("cross_attn.o.in", s->xn, N, D);
    dit_linear(m, ROWS(s->q, D), ROWS(s->xn, D), b->ca_o, b->ca_bo, n);
    TAPR("cross_attn.o", s->q, N, D);
}

/* ffn.2(gelu_tanh(ffn.0(s->xn))) on rows [r0, r1), in row chunks of
 * ffn_chunk rows from r0; result in s->q. Both weights are widened (when
 * needed) once for all chunks. */
static void ffn_forward(DiT *m, const DiTBlock *b, int N) {
    DiTState *s = &m->s;
    int D = m->c.dim, F = m->c.ffn_dim, blk = (int)(b - m->w.blocks);
    int chunk = ffn_chunk(s->r1 - s->r0, gemm_row_granule());
    if (chunk > s->hid_rows) chunk = s->hid_rows; /* equal chunks of a part's rows (G <= 1: any cut keeps the bits) */
    const float *w0 = NULL, *w2 = NULL;
    if (m->precision != PREC_BF16) { w0 = weight_f32(b->ffn0, s->w1); w2 = weight_f32(b->ffn2, s->w2); }
    for (int r0 = s->r0; r0 < s->r1; r0 += chunk) {
        int n = s->r1 - r0 < chunk ? s->r1 - r0 : chunk;
        if (m->precision == PREC_BF16) { /* bf16: the weights as they are, rounded while packed */
            linear_bf16_forward(s->hid, s->xn + (size_t)r0 * D, b->ffn0, b->ffn0_b, n, &m->bf16);
            gelu_tanh_inplace(s->hid, (int64_t)n * F);
            linear_bf16_forward(s->q + (size_t)r0 * D, s->hid, b->ffn2, b->ffn2_b, n, &m->bf16_ffn2);
            continue;
        }
        linear_f32_forward(s->hid, s->xn + (size_t)r0 * D, w0, b->ffn0_b, n, F, D); /* (n, ffn) */
        tap(m, blk, "ffn.0", s->hid, r0, n, N, F);
        gelu_tanh_inplace(s->hid, (int64_t)n * F);
        tap(m, blk, "ffn.1", s->hid, r0, n, N, F);
        linear_f32_forward(s->q + (size_t)r0 * D, s->hid, w2, b->ffn2_b, n, D, F); /* (n, dim) */
    }
    TAPR("ffn.2", s->q, N, D);
}

/* E = modulation + e0 for each distinct t: rows 0..5 = shift/scale/gate of
 * self_attn, then of ffn; token n takes E[row[n]]. */
static void block_forward(DiT *m, const DiTBlock *b, int N, const float *ctx) {
    DiTState *s = &m->s;
    int D = m->c.dim, ld = 6 * D, blk = (int)(b - m->w.blocks);
    float eps = m->c.eps, *E = s->mod;
    int n = s->r1 - s->r0;
    const int *row = s->row ? s->row + s->r0 : NULL;
    float *x = ROWS(s->x, D), *xn = ROWS(s->xn, D), *q = ROWS(s->q, D);
    for (int r = 0; r < s->n_times; r++) {
        const float *e0 = s->e0 + (size_t)r * ld;
        for (int i = 0; i < 6 * D; i++) E[(size_t)r * ld + i] = b->modulation[i] + e0[i];
    }
    TAPR("in", s->x, N, D);
    if (!s->row) TAP("e", s->e0, 6, D); /* one t: the block's e argument, e0 [6, dim] */
    /* x = x + self_attn(norm1(x) (1 + E1) + E0) E2 */
    layernorm_forward(xn, x, NULL, NULL, n, D, eps);
    TAPR("norm1", s->xn, N, D);
    modulate_inplace(xn, E, E + D, ld, row, n, D);
    TAPR("self_attn.in", s->xn, N, D);
    self_attn_forward(m, b, N);
    residual_inplace(x, q, E + 2 * D, ld, row, n, D);
    TAPR("norm3.in", s->x, N, D);
    /* x = x + cross_attn(norm3(x), context) */
    layernorm_forward(xn, x, b->norm3_w, b->norm3_b, n, D, eps);
    TAPR("norm3", s->xn, N, D);
    cross_attn_forward(m, b, N, ctx);
    residual_inplace(x, q, NULL, 0, NULL, n, D);
    TAPR("norm2.in", s->x, N, D);
    /* x = x + ffn(norm2(x) (1 + E4) + E3) E5 */
    layernorm_forward(xn, x, NULL, NULL, n, D, eps);
    TAPR("norm2", s->xn, N, D);
    modulate_inplace(xn, E + 3 * D, E + 4 * D, ld, row, n, D);
    TAPR("ffn.in", s->xn, N, D);
    ffn_forward(m, b, N);
    residual_inplace(x, q, E + 5 * D, ld, row, n, D);
    TAPR("", s->x, N, D);
}

/* ===========================================================================
 * Head and unpatchify (docs/MODEL.md 2.2 f, g) */

/* head.modulation + e (e itself, not silu(e)) for each distinct t: shift,
 * scale; then head.head; rows [r0, r1). */
static void head_forward(DiT *m, int N) {
    DiTState *s = &m->s;
    int D = m->c.dim, ld = 6 * D;
    float *E = s->mod;
    for (int r = 0; r < s->n_times; r++) {
        const float *e = s->e + (size_t)r * D;
        for (int i = 0; i < 2 * D; i++) E[(size_t)r * ld + i] = m->w.head_modulation[i] + e[i % D];
    }
    int n = s->r1 - s->r0, Ko = (int)m->w.head->shape[0];
    layernorm_forward(ROWS(s->xn, D), ROWS(s->x, D), NULL, NULL, n, D, m->c.eps);
    modulate_inplace(ROWS(s->xn, D), E, E + D, ld, s->row ? s->row + s->r0 : NULL, n, D);
    tap(m, -1, "head.head.in", ROWS(s->xn, D), s->r0, n, N, D);
    linear_gemm_forward(ROWS(s->patches, Ko), ROWS(s->xn, D), m->w.head, m->w.head_b, n, s->w1);
}

/* token (fi, hi, wi) values viewed [p][q][r][c] -> out[c, fi*pt+p, hi*ph+q, wi*pw+r]. */
static void unpatchify(const DiT *m, float *out, int T, int H, int W) {
    const DiTConfig *c = &m->c;
    int pt = c->patch_t, ph = c->patch_h, pw = c->patch_w, C = c->out_dim;
    int h = H / ph, w = W / pw, N = (T / pt) * h * w, Ko = C * pt * ph * pw;
    for (int n = 0; n < N; n++) {
        int fi = n / (h * w), hi = n / w % h, wi = n % w;
        const float *tok = m->s.patches + (size_t)n * Ko;
        for (int p = 0; p < pt; p++)
            for (int q = 0; q < ph; q++)
                for (int r = 0; r < pw; r++)
                    for (int ci = 0; ci < C; ci++)
                        out[(((size_t)ci * T + fi * pt + p) * H + hi * ph + q) * W + wi * pw + r] =
                            tok[((p * ph + q) * pw + r) * C + ci];
    }
}

/* The blocks, with step caching (cache.h, docs/MODEL.md 3.6) when the DiT
 * has a cache: it may skip all of them, or all after block 0, adding the
 * residual they gave on the last computed pass instead. */
static void blocks_forward(DiT *m, int N, const float *ctx) {
    DiTState *s = &m->s;
    StepCache *cache = m->cache;
    char name[32];
    if (cache_before_blocks(cache, s->x, s->e, s->e0, s->n_times, N)) return;
    for (int i = 0; i < m->c.num_layers && !m->split.rc; i++) { /* split.rc: an exchange failed */
        block_forward(m, &m->w.blocks[i], N, ctx);
        if (m->trace) {
            snprintf(name, sizeof name, "block.%d", i);
            m->trace(m->trace_user, name, s->x, (int64_t)N * m->c.dim);
        }
        if (i == 0 && cache_after_first_block(cache, s->x, N)) return;
    }
    cache_after_blocks(cache, s->x, N);
}

/* ===========================================================================
 * WanModel.forward (docs/MODEL.md 2.2) */
int dit_forward_embedded(DiT *m, const float *latent, int T, int H, int W, const float *t, int nt,
                         const float *context_emb, float *velocity, T2vError *err) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    bf16_work_forget(&m->bf16);
    bf16_work_forget(&m->bf16_ffn2);
    if (T < 1 || H < 1 || W < 1 || T % c->patch_t || H % c->patch_h || W % c->patch_w)
        return t2v_fail(err, T2V_EINPUT,
                        "dit: latent [%d, %d, %d, %d]: T, H, W must be positive multiples of "
                        "the patch size (%d, %d, %d)", c->in_dim, T, H, W, c->patch_t,
                        c->patch_h, c->patch_w);
    int f = T / c->patch_t, h = H / c->patch_h, w = W / c->patch_w;
    if (m->frame0 < 0 || f > ROPE_MAX_POS - m->frame0 || h > ROPE_MAX_POS || w > ROPE_MAX_POS ||
        (int64_t)f * h * w > (1 << 28))
        return t2v_fail(err, T2V_EINPUT,
                        "dit: patch grid (%d, %d, %d) from frame %d: each axis allows at most %d positions",
                        f, h, w, m->frame0, ROPE_MAX_POS);
    int N = f * h * w;
    if (!t || (nt != 1 && nt != N))
        return t2v_fail(err, T2V_EINPUT,
                        "dit: %d timesteps for %d tokens (patch grid %d x %d x %d): expected 1 "
                        "(one t for every token) or %d (one per token)", t ? nt : 0, N, f, h, w, N);
    for (int i = 0; i < nt; i++)
        if (!isfinite(t[i]))
            return t2v_fail(err, T2V_EINPUT, "dit: timestep %d of %d is %g, expected a finite number",
                            i, nt, (double)t[i]);
    int64_t n_latent = (int64_t)c->in_dim * T * H * W; /* EasyCache: skips the whole pass (cache.h) */
    if (cache_before_model(m->cache, latent, n_latent, velocity)) return T2V_OK;
    int rc = dit_reserve(m, N, err);
    if (rc) return rc;
    int nv = time_rows(m, t, nt);
    if ((rc = reserve_times(m, nv, err))) return rc;
    s->n_times = nv;
    s->row = nt == 1 ? NULL : s->t_row;
    for (int r = 0; r < nv; r++) s->t_val[r] = t[s->t_first[r]];
    DiTSplit *sp = &m->split;
    if (sp->parts > 1 && (sp->part < 0 || sp->part >= sp->parts || sp->granule < 1 || !sp->to_heads ||
                          !sp->to_tokens || !sp->gather))
        return t2v_fail(err, T2V_EINPUT, "dit: split as part %d of %d (granule %d) without its exchanges",
                        sp->part, sp->parts, sp->granule);
    s->r0 = 0, s->r1 = N;
    if (sp->parts > 1) dit_token_range(N, sp->parts, sp->part, sp->granule, &s->r0, &s->r1);
    sp->rc = 0;
    patch_embedding_forward(m, latent, T, H, W);
    if (m->trace) m->trace(m->trace_user, "patch", s->x, (int64_t)N * c->dim);
    tap(m, -1, "patch_embedding", ROWS(s->x, c->dim), s->r0, s->r1 - s->r0, N, c->dim);
    time_embedding_forward(m);
    if (m->trace) trace_time(m, N);
    if (!s->row) { /* one t: the official module outputs (per-token t: not tapped) */
        tap(m, -1, "time_embedding.in", s->t_emb, 0, 1, 1, c->freq_dim);
        tap(m, -1, "time_embedding", s->e, 0, 1, 1, c->dim);
        tap(m, -1, "time_projection", s->e0, 0, 1, 1, 6 * c->dim);
    }
    dit_rope_tables(m, f, h, w);
    blocks_forward(m, N, context_emb);
    int Ko = c->out_dim * c->patch_t * c->patch_h * c->patch_w;
    if (!sp->rc) head_forward(m, N);
    if (!sp->rc && sp->parts > 1) sp->rc = sp->gather(sp->user, s->patches, N, Ko, &sp->err);
    if (sp->rc) { /* an exchange with the other parts failed */
        if (err) *err = sp->err;
        return sp->rc;
    }
    tap(m, -1, "head.head", s->patches, 0, N, N, Ko);
    if (m->trace)
        m->trace(m->trace_user, "head", s->patches, (int64_t)N * Ko);
    unpatchify(m, velocity, T, H, W);
    cache_after_model(m->cache, latent, velocity, n_latent);
    return T2V_OK;
}

int dit_forward(DiT *m, const float *latent, int T, int H, int W, const float *t, int nt,
                const float *context, int L, float *velocity, T2vError *err) {
    int rc = dit_embed_context(m, context, L, m->s.ctx, err);
    if (rc) return rc;
    return dit_forward_embedded(m, latent, T, H, W, t, nt, m->s.ctx, velocity, err);
}
