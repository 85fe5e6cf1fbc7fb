/*
 * dit.c: WanModel, the Wan2.1 diffusion transformer (wan21-spec section 2).
 *
 * Read top to bottom like the model: config, weights (one name per official
 * tensor), state, then patch_embedding, time_embedding/time_projection,
 * text_embedding, the blocks (self_attn, cross_attn, ffn), head, unpatchify.
 * All projections are GEMMs over every token at once; attention is the
 * blocked online-softmax kernel of ops.c (memory O(N·d)).
 */
#include "dit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* FFN hidden activations are computed in row chunks of this many tokens, so
 * their buffer stays (chunk, ffn_dim) whatever N is. */
#define DIT_FFN_CHUNK 512
#define ROPE_MAX_POS 1024 /* rope_params(1024, ...) in the official code */

/* ===========================================================================
 * Config (wan21-spec 1.1, 1.2) */
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

static int check_config(const DiTConfig *c, const char *path, T2vError *err) {
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

static int json_pos_int(const JsonValue *j, const char *key, int *out, int required,
                        const char *path, T2vError *err) {
    const JsonValue *v = json_get(j, key);
    if (!v) {
        if (required) return t2v_fail(err, T2V_EINPUT, "%s: config key \"%s\" missing", path, key);
        return T2V_OK;
    }
    if (v->type != JSON_NUMBER || !v->is_integer || v->integer_overflow || v->integer < 1 ||
        v->integer > (1 << 20))
        return t2v_fail(err, T2V_EINPUT, "%s: config key \"%s\": expected an integer in 1..%d",
                        path, key, 1 << 20);
    *out = (int)v->integer;
    return T2V_OK;
}

int dit_config_from_json(DiTConfig *c, const JsonValue *j, const char *path, T2vError *err) {
    dit_default_config(c);
    if (!j || j->type != JSON_OBJECT)
        return t2v_fail(err, T2V_EINPUT, "%s: expected a JSON object", path);
    const JsonValue *v = json_get(j, "_class_name");
    if (v && (v->type != JSON_STRING || strcmp(v->string, "WanModel")))
        return t2v_fail(err, T2V_EINPUT, "%s: _class_name: expected \"WanModel\"", path);
    v = json_get(j, "model_type");
    if (v && (v->type != JSON_STRING || strcmp(v->string, "t2v")))
        return t2v_fail(err, T2V_EINPUT, "%s: model_type: expected \"t2v\", found %s", path,
                        v->type == JSON_STRING ? v->string : "a non-string");
    struct { const char *key; int *field; int required; } keys[] = {
        {"dim", &c->dim, 1},           {"ffn_dim", &c->ffn_dim, 1},
        {"num_heads", &c->num_heads, 1}, {"num_layers", &c->num_layers, 1},
        {"freq_dim", &c->freq_dim, 0}, {"in_dim", &c->in_dim, 0},
        {"out_dim", &c->out_dim, 0},   {"text_len", &c->text_len, 0},
        {"text_dim", &c->text_dim, 0},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int rc = json_pos_int(j, keys[i].key, keys[i].field, keys[i].required, path, err);
        if (rc) return rc;
    }
    v = json_get(j, "eps");
    if (v) {
        if (v->type != JSON_NUMBER)
            return t2v_fail(err, T2V_EINPUT, "%s: config key \"eps\": expected a number", path);
        c->eps = (float)v->number;
    }
    v = json_get(j, "patch_size");
    if (v) {
        int *p[3] = {&c->patch_t, &c->patch_h, &c->patch_w};
        if (v->type != JSON_ARRAY || v->len != 3)
            return t2v_fail(err, T2V_EINPUT, "%s: patch_size: expected an array of 3", path);
        for (int i = 0; i < 3; i++) {
            const JsonValue *e = &v->items[i];
            if (e->type != JSON_NUMBER || !e->is_integer || e->integer < 1 || e->integer > 64)
                return t2v_fail(err, T2V_EINPUT, "%s: patch_size[%d]: expected 1..64", path, i);
            *p[i] = (int)e->integer;
        }
    }
    return check_config(c, path, err);
}

/* ===========================================================================
 * Weights: every official name of wan21-spec 2.1 bound and shape-checked.
 * Matrices stay views in file dtype; vectors are widened into w->vectors. */
typedef struct {
    const TensorList *tl;
    const char *prefix; /* "" or "model.diffusion_model." (ComfyUI files) */
    float *vec;
    size_t used, cap;
    int rc;
    T2vError *err;
} Binder;

static const Tensor *bind_v(Binder *b, int ndim, const int64_t *shape, const char *fmt,
                            va_list ap) {
    char name[256];
    if (b->rc) return NULL;
    vsnprintf(name, sizeof name, fmt, ap);
    const Tensor *t = tl_require(b->tl, b->err, ndim, shape, "%s%s", b->prefix, name);
    if (!t) { b->rc = T2V_EINPUT; return NULL; }
    if (!dtype_is_float(t->dtype)) {
        b->rc = t2v_fail(b->err, T2V_EINPUT, "tensor %s%s: expected a float dtype, found %s",
                         b->prefix, name, dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

/* A matrix (or conv kernel) view. */
static const Tensor *bind_mat(Binder *b, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const Tensor *t = bind_v(b, ndim, shape, fmt, ap);
    va_end(ap);
    return t;
}

/* A vector widened to fp32 once. */
static const float *bind_vec(Binder *b, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const Tensor *t = bind_v(b, ndim, shape, fmt, ap);
    va_end(ap);
    if (!t) return NULL;
    int64_t n = tensor_numel(t);
    if (b->used + (size_t)n > b->cap) { /* cannot happen: cap counts every vector */
        b->rc = t2v_fail(b->err, T2V_EINPUT, "dit: vector storage overflow");
        return NULL;
    }
    float *dst = b->vec + b->used;
    widen_to_f32(dst, t->data, t->dtype, n);
    b->used += (size_t)n;
    return dst;
}

static size_t vector_floats(const DiTConfig *c) {
    size_t D = (size_t)c->dim, Ko = (size_t)c->out_dim * c->patch_t * c->patch_h * c->patch_w;
    size_t top = 5 * D + 6 * D + 2 * D + Ko;      /* biases, time_projection, head */
    size_t block = 6 * D + 8 * D + 4 * D + 2 * D + (size_t)c->ffn_dim + D;
    return top + block * (size_t)c->num_layers;
}

static void bind_block(Binder *b, DiTBlock *k, int i, const DiTConfig *c) {
    int64_t D = c->dim, F = c->ffn_dim;
    int64_t mod[3] = {1, 6, D}, DD[2] = {D, D}, v1[1] = {D}, FD[2] = {F, D}, DF[2] = {D, F},
            vF[1] = {F};
    k->modulation = bind_vec(b, 3, mod, "blocks.%d.modulation", i);
    k->sa_q = bind_mat(b, 2, DD, "blocks.%d.self_attn.q.weight", i);
    k->sa_bq = bind_vec(b, 1, v1, "blocks.%d.self_attn.q.bias", i);
    k->sa_k = bind_mat(b, 2, DD, "blocks.%d.self_attn.k.weight", i);
    k->sa_bk = bind_vec(b, 1, v1, "blocks.%d.self_attn.k.bias", i);
    k->sa_v = bind_mat(b, 2, DD, "blocks.%d.self_attn.v.weight", i);
    k->sa_bv = bind_vec(b, 1, v1, "blocks.%d.self_attn.v.bias", i);
    k->sa_o = bind_mat(b, 2, DD, "blocks.%d.self_attn.o.weight", i);
    k->sa_bo = bind_vec(b, 1, v1, "blocks.%d.self_attn.o.bias", i);
    k->sa_norm_q = bind_vec(b, 1, v1, "blocks.%d.self_attn.norm_q.weight", i);
    k->sa_norm_k = bind_vec(b, 1, v1, "blocks.%d.self_attn.norm_k.weight", i);
    k->norm3_w = bind_vec(b, 1, v1, "blocks.%d.norm3.weight", i);
    k->norm3_b = bind_vec(b, 1, v1, "blocks.%d.norm3.bias", i);
    k->ca_q = bind_mat(b, 2, DD, "blocks.%d.cross_attn.q.weight", i);
    k->ca_bq = bind_vec(b, 1, v1, "blocks.%d.cross_attn.q.bias", i);
    k->ca_k = bind_mat(b, 2, DD, "blocks.%d.cross_attn.k.weight", i);
    k->ca_bk = bind_vec(b, 1, v1, "blocks.%d.cross_attn.k.bias", i);
    k->ca_v = bind_mat(b, 2, DD, "blocks.%d.cross_attn.v.weight", i);
    k->ca_bv = bind_vec(b, 1, v1, "blocks.%d.cross_attn.v.bias", i);
    k->ca_o = bind_mat(b, 2, DD, "blocks.%d.cross_attn.o.weight", i);
    k->ca_bo = bind_vec(b, 1, v1, "blocks.%d.cross_attn.o.bias", i);
    k->ca_norm_q = bind_vec(b, 1, v1, "blocks.%d.cross_attn.norm_q.weight", i);
    k->ca_norm_k = bind_vec(b, 1, v1, "blocks.%d.cross_attn.norm_k.weight", i);
    k->ffn0 = bind_mat(b, 2, FD, "blocks.%d.ffn.0.weight", i);
    k->ffn0_b = bind_vec(b, 1, vF, "blocks.%d.ffn.0.bias", i);
    k->ffn2 = bind_mat(b, 2, DF, "blocks.%d.ffn.2.weight", i);
    k->ffn2_b = bind_vec(b, 1, v1, "blocks.%d.ffn.2.bias", i);
}

static void bind_top(Binder *b, DiTWeights *w, const DiTConfig *c) {
    int64_t D = c->dim, Ko = (int64_t)c->out_dim * c->patch_t * c->patch_h * c->patch_w;
    int64_t pe[5] = {D, c->in_dim, c->patch_t, c->patch_h, c->patch_w}, v1[1] = {D},
            te0[2] = {D, c->text_dim}, DD[2] = {D, D}, tm0[2] = {D, c->freq_dim},
            tp[2] = {6 * D, D}, v6[1] = {6 * D}, hm[3] = {1, 2, D}, hh[2] = {Ko, D}, vK[1] = {Ko};
    w->patch_embedding = bind_mat(b, 5, pe, "patch_embedding.weight");
    w->patch_embedding_b = bind_vec(b, 1, v1, "patch_embedding.bias");
    w->text_embedding0 = bind_mat(b, 2, te0, "text_embedding.0.weight");
    w->text_embedding0_b = bind_vec(b, 1, v1, "text_embedding.0.bias");
    w->text_embedding2 = bind_mat(b, 2, DD, "text_embedding.2.weight");
    w->text_embedding2_b = bind_vec(b, 1, v1, "text_embedding.2.bias");
    w->time_embedding0 = bind_mat(b, 2, tm0, "time_embedding.0.weight");
    w->time_embedding0_b = bind_vec(b, 1, v1, "time_embedding.0.bias");
    w->time_embedding2 = bind_mat(b, 2, DD, "time_embedding.2.weight");
    w->time_embedding2_b = bind_vec(b, 1, v1, "time_embedding.2.bias");
    w->time_projection1 = bind_mat(b, 2, tp, "time_projection.1.weight");
    w->time_projection1_b = bind_vec(b, 1, v6, "time_projection.1.bias");
    w->head_modulation = bind_vec(b, 3, hm, "head.modulation");
    w->head = bind_mat(b, 2, hh, "head.head.weight");
    w->head_b = bind_vec(b, 1, vK, "head.head.bias");
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

int dit_reserve(DiT *m, int max_tokens, T2vError *err) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    if (max_tokens <= s->cap_tokens) return T2V_OK;
    size_t N = (size_t)max_tokens, D = (size_t)c->dim, pp = (size_t)c->patch_t * c->patch_h * c->patch_w;
    size_t kp = (size_t)(c->in_dim > c->out_dim ? c->in_dim : c->out_dim) * pp;
    size_t chunk = N < DIT_FFN_CHUNK ? N : DIT_FFN_CHUNK, half = D / (size_t)c->num_heads / 2;
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
    return T2V_OK;
}

int dit_build(DiT *m, const DiTConfig *c, const TensorList *tl, T2vError *err) {
    memset(m, 0, sizeof *m);
    int rc = check_config(c, "DiT config", err);
    if (rc) return rc;
    m->c = *c;
    Binder b = {tl, "", NULL, 0, vector_floats(c), 0, err};
    if (!tl_find(tl, "patch_embedding.weight") &&
        tl_find(tl, "model.diffusion_model.patch_embedding.weight"))
        b.prefix = "model.diffusion_model.";
    m->w.vectors = b.vec = t2v_malloc(b.cap * sizeof(float), "DiT vectors", err);
    m->w.blocks = t2v_calloc((size_t)c->num_layers + 1, sizeof(DiTBlock), "DiT blocks", err);
    if (!b.vec || !m->w.blocks) { dit_free(m); return T2V_ERESOURCE; }
    bind_top(&b, &m->w, c);
    for (int i = 0; i < c->num_layers && !b.rc; i++) bind_block(&b, &m->w.blocks[i], i, c);
    if (!b.rc) b.rc = alloc_fixed(m, err);
    if (!b.rc) b.rc = reserve_times(m, 1, err);
    if (b.rc) dit_free(m);
    return b.rc;
}

void dit_free(DiT *m) {
    free(m->w.vectors);
    free(m->w.blocks);
    free(m->s.tokens_block);
    free(m->s.t_row);
    free(m->s.times_block);
    free(m->s.fixed_block);
    memset(m, 0, sizeof *m);
}

/* ===========================================================================
 * Embeddings (wan21-spec 2.2 a-d, 2.5) */

/* patch_embedding: Conv3d with kernel = stride = patch, as one GEMM.
 * latent [Cin, T, H, W] -> patches [N, Cin*pt*ph*pw] -> x [N, dim], tokens
 * in (f, h, w) row-major order. */
static void patch_embedding_forward(DiT *m, const float *latent, int T, int H, int W) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    int pt = c->patch_t, ph = c->patch_h, pw = c->patch_w, f = T / pt, h = H / ph, w = W / pw;
    int N = f * h * w, Kp = c->in_dim * pt * ph * pw;
#pragma omp parallel for schedule(static) if (N > 64)
    for (int n = 0; n < N; n++) {
        int fi = n / (h * w), hi = n / w % h, wi = n % w;
        float *row = s->patches + (size_t)n * Kp;
        for (int ci = 0; ci < c->in_dim; ci++)
            for (int p = 0; p < pt; p++)
                for (int q = 0; q < ph; q++)
                    for (int r = 0; r < pw; r++)
                        row[((ci * pt + p) * ph + q) * pw + r] =
                            latent[(((size_t)ci * T + fi * pt + p) * H + hi * ph + q) * W + wi * pw + r];
    }
    linear_gemm_forward(s->x, s->patches, m->w.patch_embedding, m->w.patch_embedding_b, N, s->w1);
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

/* For each row r < n_times: sinusoid of t_val[r] (cosines first, float64),
 * time_embedding -> e [dim], time_projection -> e0 [6, dim]. */
static void time_embedding_forward(DiT *m) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    int half = c->freq_dim / 2, D = c->dim, nv = s->n_times;
    for (int r = 0; r < nv; r++) {
        float *emb = s->t_emb + (size_t)r * c->freq_dim;
        for (int i = 0; i < half; i++) {
            double arg = (double)s->t_val[r] * pow(10000.0, -(double)i / half);
            emb[i] = (float)cos(arg);
            emb[half + i] = (float)sin(arg);
        }
    }
    matvec_forward(s->t_hid, m->w.time_embedding0, s->t_emb, m->w.time_embedding0_b, nv); /* (nv, dim) */
    silu_inplace(s->t_hid, (int64_t)nv * D);
    matvec_forward(s->e, m->w.time_embedding2, s->t_hid, m->w.time_embedding2_b, nv);
    memcpy(s->t_hid, s->e, sizeof(float) * (size_t)nv * D);
    silu_inplace(s->t_hid, (int64_t)nv * D);
    matvec_forward(s->e0, m->w.time_projection1, s->t_hid, m->w.time_projection1_b, nv); /* (nv, 6 dim) */
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

/* 3D RoPE tables for the grid (f, h, w): per token, c = d/2 angles; pair j
 * < c_t uses fi with base dim_t = d - 4(d/6), then c/3 pairs of hi and c/3
 * of wi with base dim_s = 2(d/6). Angles and cos/sin in float64. */
static void rope_tables(DiT *m, int f, int h, int w) {
    int d = m->c.dim / m->c.num_heads, c = d / 2;
    int ct = c - 2 * (c / 3), ch = c / 3;
    int dim_t = d - 4 * (d / 6), dim_s = 2 * (d / 6), N = f * h * w;
#pragma omp parallel for schedule(static) if (N > 64)
    for (int n = 0; n < N; n++) {
        int pos[3] = {n / (h * w), n / w % h, n % w};
        for (int j = 0; j < c; j++) {
            int axis = j < ct ? 0 : j < ct + ch ? 1 : 2;
            int k = axis == 0 ? j : axis == 1 ? j - ct : j - ct - ch;
            int dm = axis == 0 ? dim_t : dim_s;
            double angle = (double)pos[axis] * (1.0 / pow(10000.0, (double)(2 * k) / dm));
            m->s.rope_cos[(size_t)n * c + j] = (float)cos(angle);
            m->s.rope_sin[(size_t)n * c + j] = (float)sin(angle);
        }
    }
}

int dit_embed_context(DiT *m, const float *context, int L, float *out, T2vError *err) {
    const DiTConfig *c = &m->c;
    int D = c->dim, Lc = c->text_len;
    float *tmp = m->s.ck; /* (text_len, dim) */
    if (L < 0 || L > Lc)
        return t2v_fail(err, T2V_EINPUT, "dit: context has %d rows, expected at most text_len %d",
                        L, Lc);
    if (L > 0)
        linear_gemm_forward(tmp, context, m->w.text_embedding0, m->w.text_embedding0_b, L, m->s.w1);
    for (int i = L; i < Lc; i++) /* zero padding rows: W·0 + b = b */
        memcpy(tmp + (size_t)i * D, m->w.text_embedding0_b, sizeof(float) * (size_t)D);
    gelu_tanh_inplace(tmp, (int64_t)Lc * D);
    linear_gemm_forward(out, tmp, m->w.text_embedding2, m->w.text_embedding2_b, Lc, m->s.w1);
    if (m->trace) m->trace(m->trace_user, "context_emb", out, (int64_t)Lc * D);
    return T2V_OK;
}

/* ===========================================================================
 * WanAttentionBlock (wan21-spec 2.3, 2.4) */

/* self_attn on s->xn; result in s->q. */
static void self_attn_forward(DiT *m, const DiTBlock *b, int N) {
    DiTState *s = &m->s;
    int D = m->c.dim, H = m->c.num_heads, d = D / H;
    float eps = m->c.eps;
    linear_gemm_forward(s->q, s->xn, b->sa_q, b->sa_bq, N, s->w1);
    rmsnorm_forward(s->q, s->q, b->sa_norm_q, N, D, eps); /* over all of D */
    linear_gemm_forward(s->k, s->xn, b->sa_k, b->sa_bk, N, s->w1);
    rmsnorm_forward(s->k, s->k, b->sa_norm_k, N, D, eps);
    linear_gemm_forward(s->v, s->xn, b->sa_v, b->sa_bv, N, s->w1);
    rope_apply(s->q, N, H, d, D, s->rope_cos, s->rope_sin);
    rope_apply(s->k, N, H, d, D, s->rope_cos, s->rope_sin);
    attention_forward(s->xn, D, s->q, D, s->k, D, s->v, D, N, N, H, d,
                      (float)(1.0 / sqrt((double)d)), NULL);
    linear_gemm_forward(s->q, s->xn, b->sa_o, b->sa_bo, N, s->w1);
}

/* cross_attn of s->xn on the embedded context (all text_len rows, no mask,
 * no RoPE); result in s->q. */
static void cross_attn_forward(DiT *m, const DiTBlock *b, int N, const float *ctx) {
    DiTState *s = &m->s;
    int D = m->c.dim, H = m->c.num_heads, d = D / H, Lc = m->c.text_len;
    float eps = m->c.eps;
    linear_gemm_forward(s->q, s->xn, b->ca_q, b->ca_bq, N, s->w1);
    rmsnorm_forward(s->q, s->q, b->ca_norm_q, N, D, eps);
    linear_gemm_forward(s->ck, ctx, b->ca_k, b->ca_bk, Lc, s->w1);
    rmsnorm_forward(s->ck, s->ck, b->ca_norm_k, Lc, D, eps);
    linear_gemm_forward(s->cv, ctx, b->ca_v, b->ca_bv, Lc, s->w1);
    attention_forward(s->xn, D, s->q, D, s->ck, D, s->cv, D, N, Lc, H, d,
                      (float)(1.0 / sqrt((double)d)), NULL);
    linear_gemm_forward(s->q, s->xn, b->ca_o, b->ca_bo, N, s->w1);
}

/* ffn.2(gelu_tanh(ffn.0(s->xn))) in equal row chunks of at most
 * DIT_FFN_CHUNK (1,560 tokens: 3 x 520, not 3 x 512 + 24); result in s->q.
 * Both weights are widened (when needed) once for all chunks. */
static void ffn_forward(DiT *m, const DiTBlock *b, int N) {
    DiTState *s = &m->s;
    int D = m->c.dim, F = m->c.ffn_dim;
    int nch = (N + DIT_FFN_CHUNK - 1) / DIT_FFN_CHUNK, chunk = (N + nch - 1) / nch;
    const float *w0 = weight_f32(b->ffn0, s->w1), *w2 = weight_f32(b->ffn2, s->w2);
    for (int r0 = 0; r0 < N; r0 += chunk) {
        int n = N - r0 < chunk ? N - r0 : chunk;
        linear_f32_forward(s->hid, s->xn + (size_t)r0 * D, w0, b->ffn0_b, n, F, D); /* (n, ffn) */
        gelu_tanh_inplace(s->hid, (int64_t)n * F);
        linear_f32_forward(s->q + (size_t)r0 * D, s->hid, w2, b->ffn2_b, n, D, F); /* (n, dim) */
    }
}

/* E = modulation + e0 for each distinct t: rows 0..5 = shift/scale/gate of
 * self_attn, then of ffn; token n takes E[row[n]]. */
static void block_forward(DiT *m, const DiTBlock *b, int N, const float *ctx) {
    DiTState *s = &m->s;
    int D = m->c.dim, ld = 6 * D;
    float eps = m->c.eps, *E = s->mod;
    for (int r = 0; r < s->n_times; r++) {
        const float *e0 = s->e0 + (size_t)r * ld;
        for (int i = 0; i < 6 * D; i++) E[(size_t)r * ld + i] = b->modulation[i] + e0[i];
    }
    /* x = x + self_attn(norm1(x) (1 + E1) + E0) E2 */
    layernorm_forward(s->xn, s->x, NULL, NULL, N, D, eps);
    modulate_inplace(s->xn, E, E + D, ld, s->row, N, D);
    self_attn_forward(m, b, N);
    residual_inplace(s->x, s->q, E + 2 * D, ld, s->row, N, D);
    /* x = x + cross_attn(norm3(x), context) */
    layernorm_forward(s->xn, s->x, b->norm3_w, b->norm3_b, N, D, eps);
    cross_attn_forward(m, b, N, ctx);
    residual_inplace(s->x, s->q, NULL, 0, NULL, N, D);
    /* x = x + ffn(norm2(x) (1 + E4) + E3) E5 */
    layernorm_forward(s->xn, s->x, NULL, NULL, N, D, eps);
    modulate_inplace(s->xn, E + 3 * D, E + 4 * D, ld, s->row, N, D);
    ffn_forward(m, b, N);
    residual_inplace(s->x, s->q, E + 5 * D, ld, s->row, N, D);
}

/* ===========================================================================
 * Head and unpatchify (wan21-spec 2.2 f, g) */

/* head.modulation + e (e itself, not silu(e)) for each distinct t: shift,
 * scale; then head.head. */
static void head_forward(DiT *m, int N) {
    DiTState *s = &m->s;
    int D = m->c.dim, ld = 6 * D;
    float *E = s->mod;
    for (int r = 0; r < s->n_times; r++) {
        const float *e = s->e + (size_t)r * D;
        for (int i = 0; i < 2 * D; i++) E[(size_t)r * ld + i] = m->w.head_modulation[i] + e[i % D];
    }
    layernorm_forward(s->xn, s->x, NULL, NULL, N, D, m->c.eps);
    modulate_inplace(s->xn, E, E + D, ld, s->row, N, D);
    linear_gemm_forward(s->patches, s->xn, m->w.head, m->w.head_b, N, s->w1);
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

/* ===========================================================================
 * WanModel.forward (wan21-spec 2.2) */
int dit_forward_embedded(DiT *m, const float *latent, int T, int H, int W, const float *t, int nt,
                         const float *context_emb, float *velocity, T2vError *err) {
    const DiTConfig *c = &m->c;
    DiTState *s = &m->s;
    char name[32];
    if (T < 1 || H < 1 || W < 1 || T % c->patch_t || H % c->patch_h || W % c->patch_w)
        return t2v_fail(err, T2V_EINPUT,
                        "dit: latent [%d, %d, %d, %d]: T, H, W must be positive multiples of "
                        "the patch size (%d, %d, %d)", c->in_dim, T, H, W, c->patch_t,
                        c->patch_h, c->patch_w);
    int f = T / c->patch_t, h = H / c->patch_h, w = W / c->patch_w;
    if (f > ROPE_MAX_POS || h > ROPE_MAX_POS || w > ROPE_MAX_POS || (int64_t)f * h * w > (1 << 28))
        return t2v_fail(err, T2V_EINPUT,
                        "dit: patch grid (%d, %d, %d): each axis allows at most %d positions",
                        f, h, w, ROPE_MAX_POS);
    int N = f * h * w;
    if (!t || (nt != 1 && nt != N))
        return t2v_fail(err, T2V_EINPUT,
                        "dit: %d timesteps for %d tokens (patch grid %d x %d x %d): expected 1 "
                        "(one t for every token) or %d (one per token)", t ? nt : 0, N, f, h, w, N);
    for (int i = 0; i < nt; i++)
        if (!isfinite(t[i]))
            return t2v_fail(err, T2V_EINPUT, "dit: timestep %d of %d is %g, expected a finite number",
                            i, nt, (double)t[i]);
    int rc = dit_reserve(m, N, err);
    if (rc) return rc;
    int nv = time_rows(m, t, nt);
    if ((rc = reserve_times(m, nv, err))) return rc;
    s->n_times = nv;
    s->row = nt == 1 ? NULL : s->t_row;
    for (int r = 0; r < nv; r++) s->t_val[r] = t[s->t_first[r]];
    patch_embedding_forward(m, latent, T, H, W);
    if (m->trace) m->trace(m->trace_user, "patch", s->x, (int64_t)N * c->dim);
    time_embedding_forward(m);
    if (m->trace) trace_time(m, N);
    rope_tables(m, f, h, w);
    for (int i = 0; i < c->num_layers; i++) {
        block_forward(m, &m->w.blocks[i], N, context_emb);
        if (m->trace) {
            snprintf(name, sizeof name, "block.%d", i);
            m->trace(m->trace_user, name, s->x, (int64_t)N * c->dim);
        }
    }
    head_forward(m, N);
    if (m->trace)
        m->trace(m->trace_user, "head", s->patches,
                 (int64_t)N * c->out_dim * c->patch_t * c->patch_h * c->patch_w);
    unpatchify(m, velocity, T, H, W);
    return T2V_OK;
}

int dit_forward(DiT *m, const float *latent, int T, int H, int W, const float *t, int nt,
                const float *context, int L, float *velocity, T2vError *err) {
    int rc = dit_embed_context(m, context, L, m->s.ctx, err);
    if (rc) return rc;
    return dit_forward_embedded(m, latent, T, H, W, t, nt, m->s.ctx, velocity, err);
}
