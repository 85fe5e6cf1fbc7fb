/* cmd_bisect.c: `t2v bisect THEIRS.safetensors --model DIR [--profile NAME]`
 * (docs/VERIFY.md). THEIRS is another implementation's op-level dump of one
 * DiT forward (tools/dump_hooks.py, or `t2v stage dit --dump-level op`), in
 * official or diffusers names. Each op of each dumped block is replayed in
 * t2v from THEIR inputs to that op and compared with THEIR output under the
 * profile's op bounds; the first op outside them is reported with its
 * formula and its worst element. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ops.h"
#include "t2v.h"
#include "verify.h"

typedef enum { K_LN, K_LN_AFFINE, K_MOD, K_LINEAR, K_RMS, K_ROPE, K_ATTN, K_RESID, K_GELU,
               K_SINUS, K_TIME_MLP, K_TIME_PROJ, K_TEXT_MLP, K_HEAD_MOD } OpKind;
/* the profile's op bound each kind is checked against (the sinusoid, like
 * RoPE, is cos/sin of float64 angles; the MLPs are linears) */
static const char *const KIND_NAME[] = {"norm", "norm", "modulate", "linear", "norm", "rope", "attention",
                                        "residual", "gelu", "rope", "linear", "linear", "linear", "modulate"};

/* One op of WanAttentionBlock (docs/MODEL.md 2.3, 2.4): its output, inputs
 * (official names after "blocks.N."; "" is the block's output), and for the
 * modulation ops the chunks of E = modulation + e it uses (shift, scale or
 * gate; -1 none). */
typedef struct {
    const char *out;
    OpKind kind;
    const char *in[3];
    int chunk[2];
    const char *formula;
} OpDef;

static const OpDef BLOCK_OPS[] = {
    {"norm1", K_LN, {"in"}, {-1, -1}, "LayerNorm(x) over dim, no affine, eps; x = blocks.N.in"},
    {"self_attn.in", K_MOD, {"norm1", "e"}, {0, 1}, "norm1 * (1 + E[1]) + E[0], E = blocks.N.modulation + e"},
    {"self_attn.q", K_LINEAR, {"self_attn.in"}, {-1, -1}, "self_attn.q.weight x + bias, x = self_attn input"},
    {"self_attn.k", K_LINEAR, {"self_attn.in"}, {-1, -1}, "self_attn.k.weight x + bias, x = self_attn input"},
    {"self_attn.v", K_LINEAR, {"self_attn.in"}, {-1, -1}, "self_attn.v.weight x + bias, x = self_attn input"},
    {"self_attn.norm_q", K_RMS, {"self_attn.q"}, {-1, -1}, "q / sqrt(mean(q^2) over all of dim + eps) * norm_q.weight"},
    {"self_attn.norm_k", K_RMS, {"self_attn.k"}, {-1, -1}, "k / sqrt(mean(k^2) over all of dim + eps) * norm_k.weight"},
    {"self_attn.rope_q", K_ROPE, {"self_attn.norm_q"}, {-1, -1},
     "3D RoPE of norm_q: pairs (x[2j], x[2j+1]) of each head rotated by the (f, h, w) angles of docs/MODEL.md 2.5"},
    {"self_attn.rope_k", K_ROPE, {"self_attn.norm_k"}, {-1, -1}, "3D RoPE of norm_k (docs/MODEL.md 2.5)"},
    {"self_attn.o.in", K_ATTN, {"self_attn.rope_q", "self_attn.rope_k", "self_attn.v"}, {-1, -1},
     "softmax(q k^T / sqrt(head_dim)) v per head, q k after RoPE"},
    {"self_attn.o", K_LINEAR, {"self_attn.o.in"}, {-1, -1}, "self_attn.o.weight y + bias, y = attention output"},
    {"norm3.in", K_RESID, {"in", "self_attn.o", "e"}, {2, -1}, "x + self_attn(...) * E[2] (gated residual)"},
    {"norm3", K_LN_AFFINE, {"norm3.in"}, {-1, -1}, "LayerNorm(x) * norm3.weight + norm3.bias"},
    {"cross_attn.q", K_LINEAR, {"norm3"}, {-1, -1}, "cross_attn.q.weight x + bias, x = norm3 output"},
    {"cross_attn.norm_q", K_RMS, {"cross_attn.q"}, {-1, -1}, "q / sqrt(mean(q^2) + eps) * norm_q.weight"},
    {"cross_attn.k", K_LINEAR, {"cross_attn.context"}, {-1, -1}, "cross_attn.k.weight c + bias, c = text context"},
    {"cross_attn.norm_k", K_RMS, {"cross_attn.k"}, {-1, -1}, "k / sqrt(mean(k^2) + eps) * norm_k.weight"},
    {"cross_attn.v", K_LINEAR, {"cross_attn.context"}, {-1, -1}, "cross_attn.v.weight c + bias"},
    {"cross_attn.o.in", K_ATTN, {"cross_attn.norm_q", "cross_attn.norm_k", "cross_attn.v"}, {-1, -1},
     "softmax(q k^T / sqrt(head_dim)) v per head over all text_len rows, no RoPE"},
    {"cross_attn.o", K_LINEAR, {"cross_attn.o.in"}, {-1, -1}, "cross_attn.o.weight y + bias"},
    {"norm2.in", K_RESID, {"norm3.in", "cross_attn.o"}, {-1, -1}, "x + cross_attn(...) (plain residual)"},
    {"norm2", K_LN, {"norm2.in"}, {-1, -1}, "LayerNorm(x) over dim, no affine, eps"},
    {"ffn.in", K_MOD, {"norm2", "e"}, {3, 4}, "norm2 * (1 + E[4]) + E[3]"},
    {"ffn.0", K_LINEAR, {"ffn.in"}, {-1, -1}, "ffn.0.weight x + bias"},
    {"ffn.1", K_GELU, {"ffn.0"}, {-1, -1}, "GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"},
    {"ffn.2", K_LINEAR, {"ffn.1"}, {-1, -1}, "ffn.2.weight h + bias"},
    {"", K_RESID, {"norm2.in", "ffn.2", "e"}, {5, -1}, "x + ffn(...) * E[5] (gated residual): the block output"},
};
#define NROWS(a) (int)(sizeof(a) / sizeof((a)[0]))
#define NOPS NROWS(BLOCK_OPS)

/* Outside the blocks (top-level names; docs/MODEL.md 2.2): before them the
 * time and text embeddings, after them the head. "head.in" is the head's
 * input, else the last block's output. */
static const OpDef TOP_OPS[] = {
    {"time_embedding.in", K_SINUS, {"timestep"}, {-1, -1},
     "sinusoid of t: cos(t 10000^(-i/half)) for i < half, then the sines (cosines first)"},
    {"time_embedding", K_TIME_MLP, {"time_embedding.in"}, {-1, -1},
     "time_embedding.2(SiLU(time_embedding.0(sinusoid))): e"},
    {"time_projection", K_TIME_PROJ, {"time_embedding"}, {-1, -1}, "time_projection.1(SiLU(e)): e0 [6, dim]"},
    {"text_embedding", K_TEXT_MLP, {"text_embedding.in"}, {-1, -1},
     "text_embedding.2(GELU_tanh(text_embedding.0(context zero-padded to text_len)))"},
};
static const OpDef HEAD_OPS[] = {
    {"head.head.in", K_HEAD_MOD, {"head.in", "time_embedding"}, {-1, -1},
     "LayerNorm(x) * (1 + m[1]) + m[0], m = head.modulation + e (e itself, not SiLU(e))"},
    {"head.head", K_LINEAR, {"head.head.in"}, {-1, -1}, "head.head.weight x + bias"},
};

typedef struct {
    DiT *m;
    const SafeTensors *st;
    int diffusers, grid[3]; /* grid[0] = 0: unknown (no patch_embedding.in) */
    const OpTol *ops;
    int nops, verbose;
    int checked, skipped;
} Bisect;

/* "blocks.N.suffix" (or "blocks.N"; blk < 0: the top-level name suffix) in
 * the dump's naming. */
static void dump_name(const Bisect *b, int blk, const char *suffix, char *out, size_t n) {
    char off[96];
    if (blk < 0) snprintf(off, sizeof off, "%s", suffix);
    else if (*suffix) snprintf(off, sizeof off, "blocks.%d.%s", blk, suffix);
    else snprintf(off, sizeof off, "blocks.%d", blk);
    if (b->diffusers) dump_name_to_diffusers(off, out, n);
    else snprintf(out, n, "%s", off);
}

/* Their tensor as fp32 [rows, cols] (cols = its last dim; RoPE outputs of
 * [L, heads, head_dim] are taken as [L, dim] by the caller's cols), or NULL. */
static float *theirs(const Bisect *b, int blk, const char *suffix, int cols, int *rows, T2vError *err) {
    char name[96];
    dump_name(b, blk, suffix, name, sizeof name);
    const Tensor *t = tl_find(&b->st->tensors, name);
    if (!t) return NULL;
    int64_t n = tensor_numel(t);
    if (cols <= 0 || n % cols || n == 0) {
        t2v_fail(err, T2V_EINPUT, "%s: tensor '%s' has %lld values, not rows of %d", b->st->path, name,
                 (long long)n, cols);
        return NULL;
    }
    *rows = (int)(n / cols);
    return tensor_to_f32_alloc(t, err);
}

static void linear_of(const DiTBlock *w, const char *out, const Tensor **W, const float **bias) {
    static const char *const names[] = {"self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q",
                                        "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"};
    const Tensor *ws[] = {w->sa_q, w->sa_k, w->sa_v, w->sa_o, w->ca_q, w->ca_k, w->ca_v, w->ca_o, w->ffn0, w->ffn2};
    const float *bs[] = {w->sa_bq, w->sa_bk, w->sa_bv, w->sa_bo, w->ca_bq, w->ca_bk, w->ca_bv, w->ca_bo,
                         w->ffn0_b, w->ffn2_b};
    for (int i = 0; i < 10; i++)
        if (!strcmp(out, names[i])) { *W = ws[i]; *bias = bs[i]; return; }
}

/* out[rows, N] = W in + b, W widened through a scratch copy when needed. */
static int lin(float *out, const float *in, const Tensor *W, const float *bias, int rows, T2vError *err) {
    float *scratch = (float *)t2v_malloc((size_t)tensor_numel(W) * sizeof(float), "weight", err);
    if (!scratch) return T2V_ERESOURCE;
    linear_gemm_forward(out, in, W, bias, rows, scratch);
    free(scratch);
    return T2V_OK;
}

/* The top-level ops (blk < 0) into y [rows, cols]. */
static int replay_top(Bisect *b, const OpDef *op, float *const *x, float *y, int rows, int cols, T2vError *err) {
    const DiTWeights *w = &b->m->w;
    const DiTConfig *c = &b->m->c;
    int D = c->dim, rc = T2V_OK;
    float *tmp = (float *)t2v_malloc((size_t)rows * D * sizeof(float), "hidden", err);
    if (!tmp) return T2V_ERESOURCE;
    switch (op->kind) {
    case K_SINUS: dit_sinusoid(c->freq_dim, x[0][0], y); break;
    case K_TIME_MLP:
        rc = lin(tmp, x[0], w->time_embedding0, w->time_embedding0_b, rows, err);
        silu_inplace(tmp, (int64_t)rows * D);
        if (!rc) rc = lin(y, tmp, w->time_embedding2, w->time_embedding2_b, rows, err);
        break;
    case K_TIME_PROJ:
        memcpy(tmp, x[0], (size_t)rows * D * sizeof(float));
        silu_inplace(tmp, (int64_t)rows * D);
        rc = lin(y, tmp, w->time_projection1, w->time_projection1_b, rows, err);
        break;
    case K_TEXT_MLP:
        rc = lin(tmp, x[0], w->text_embedding0, w->text_embedding0_b, rows, err);
        gelu_tanh_inplace(tmp, (int64_t)rows * D);
        if (!rc) rc = lin(y, tmp, w->text_embedding2, w->text_embedding2_b, rows, err);
        break;
    case K_HEAD_MOD: {
        float *m = (float *)t2v_malloc(2 * (size_t)D * sizeof(float), "head modulation", err);
        if (!m) { rc = T2V_ERESOURCE; break; }
        for (int i = 0; i < 2 * D; i++) m[i] = w->head_modulation[i] + x[1][i % D];
        layernorm_forward(y, x[0], NULL, NULL, rows, D, c->eps);
        modulate_inplace(y, m, m + D, 2 * D, NULL, rows, D);
        free(m);
        break;
    }
    case K_LINEAR: rc = lin(y, x[0], w->head, w->head_b, rows, err); break;
    default: rc = t2v_fail(err, T2V_EINPUT, "bisect: op %s has no top-level replay", op->out);
    }
    (void)cols;
    free(tmp);
    return rc;
}

/* The replay of op `op` of block blk into y [rows, cols] from the inputs x[]. */
static int replay(Bisect *b, int blk, const OpDef *op, float *const *x, const int *xrows, float *y, int rows, int cols,
                  T2vError *err) {
    if (blk < 0) return replay_top(b, op, x, y, rows, cols, err);
    DiT *m = b->m;
    const DiTBlock *w = &m->w.blocks[blk];
    int D = m->c.dim, H = m->c.num_heads, d = D / H;
    float eps = m->c.eps, *E = NULL;
    if (op->chunk[0] >= 0) { /* E = modulation + e, [6, dim] */
        if (!(E = (float *)t2v_malloc(6 * (size_t)D * sizeof(float), "modulation", err))) return T2V_ERESOURCE;
        for (int i = 0; i < 6 * D; i++) E[i] = w->modulation[i] + x[op->kind == K_MOD ? 1 : 2][i];
    }
    size_t n = (size_t)rows * cols;
    switch (op->kind) {
    case K_LN: layernorm_forward(y, x[0], NULL, NULL, rows, D, eps); break;
    case K_LN_AFFINE: layernorm_forward(y, x[0], w->norm3_w, w->norm3_b, rows, D, eps); break;
    case K_MOD:
        memcpy(y, x[0], n * sizeof(float));
        modulate_inplace(y, E + op->chunk[0] * D, E + op->chunk[1] * D, 6 * D, NULL, rows, D);
        break;
    case K_LINEAR: {
        const Tensor *W = NULL;
        const float *bias = NULL;
        linear_of(w, op->out, &W, &bias);
        float *scratch = (float *)t2v_malloc((size_t)tensor_numel(W) * sizeof(float), "weight", err);
        if (!scratch) { free(E); return T2V_ERESOURCE; }
        linear_gemm_forward(y, x[0], W, bias, rows, scratch);
        free(scratch);
        break;
    }
    case K_RMS: {
        int q = !strcmp(op->out + strlen(op->out) - 6, "norm_q"), self = !strncmp(op->out, "self_attn", 9);
        const float *g = self ? (q ? w->sa_norm_q : w->sa_norm_k) : (q ? w->ca_norm_q : w->ca_norm_k);
        rmsnorm_forward(y, x[0], g, rows, D, eps);
        break;
    }
    case K_ROPE:
        memcpy(y, x[0], n * sizeof(float));
        rope_apply(y, rows, H, d, D, m->s.rope_cos, m->s.rope_sin);
        break;
    case K_ATTN: attention_forward(y, D, x[0], D, x[1], D, x[2], D, rows, xrows[1], H, d, (float)(1.0 / sqrt((double)d)),
                                   NULL);
        break;
    case K_RESID:
        memcpy(y, x[0], n * sizeof(float));
        residual_inplace(y, x[1], op->chunk[0] >= 0 ? E + op->chunk[0] * D : NULL, 6 * D, NULL, rows, D);
        break;
    case K_GELU: memcpy(y, x[0], n * sizeof(float)); gelu_tanh_inplace(y, (int64_t)n); break;
    default: break; /* the top-level kinds: replay_top */
    }
    free(E);
    return T2V_OK;
}

/* Width of a tensor of the op tables. */
static int cols_of(const DiT *m, const char *suffix) {
    const DiTConfig *c = &m->c;
    if (!strcmp(suffix, "ffn.0") || !strcmp(suffix, "ffn.1")) return c->ffn_dim;
    if (!strcmp(suffix, "e") || !strcmp(suffix, "time_projection")) return 6 * c->dim;
    if (!strcmp(suffix, "timestep")) return 1;
    if (!strcmp(suffix, "time_embedding.in")) return c->freq_dim;
    if (!strcmp(suffix, "text_embedding.in")) return c->text_dim;
    if (!strcmp(suffix, "head.head")) return c->out_dim * c->patch_t * c->patch_h * c->patch_w;
    return c->dim;
}

/* One op: 1 ok, 0 wrong (reported), -1 skipped, < -1 error. When their
 * dump has no RoPE outputs (diffusers), attention takes their normed q/k and
 * applies RoPE itself. */
static int check_op(Bisect *b, int blk, const OpDef *op, T2vError *err) {
    OpDef o = *op;
    float *x[3] = {NULL, NULL, NULL}, *y = NULL, *ref = NULL;
    int xr[3] = {0, 0, 0}, rows = 0, rc = -1, fused = 0;
    char name[96];
    dump_name(b, blk, o.out, name, sizeof name);
    if (o.kind == K_ROPE && !b->grid[0]) return -1;
    if (o.kind == K_ATTN && !strcmp(o.out, "self_attn.o.in")) {
        char r[96];
        dump_name(b, blk, "self_attn.rope_q", r, sizeof r);
        if (!tl_find(&b->st->tensors, r) && b->grid[0]) {
            o.in[0] = "self_attn.norm_q", o.in[1] = "self_attn.norm_k", fused = 1;
            o.formula = "softmax(RoPE(q) RoPE(k)^T / sqrt(head_dim)) v per head (their dump has no RoPE outputs: "
                        "RoPE and attention checked as one op)";
        }
    }
    ref = theirs(b, blk, o.out, cols_of(b->m, o.out), &rows, err);
    for (int i = 0; i < 3 && ref; i++) {
        if (!o.in[i]) continue;
        x[i] = theirs(b, blk, o.in[i], cols_of(b->m, o.in[i]), &xr[i], err);
        if (!x[i] && !err->code && o.kind == K_HEAD_MOD && i == 0) /* no head input: the last block's output */
            x[i] = theirs(b, b->m->c.num_layers - 1, "", b->m->c.dim, &xr[i], err);
        if (!x[i]) break;
        int one = !strcmp(o.in[i], "e") || o.kind == K_SINUS || o.kind == K_TIME_MLP || o.kind == K_TIME_PROJ ||
                  (o.kind == K_HEAD_MOD && i == 1); /* t, e, e0: one row */
        if (one && xr[i] != 1) { /* one t (or e) per token: not replayed */
            free(x[i]);
            x[i] = NULL;
            break;
        }
    }
    int have = ref != NULL;
    for (int i = 0; i < 3; i++) have = have && (!o.in[i] || x[i]);
    if (have && !err->code) { /* rows: the inputs' must be the output's (attention: k and v alike; RoPE: the grid's) */
        int N = b->grid[0] * b->grid[1] * b->grid[2], bad = -1;
        for (int i = 0; i < 3 && bad < 0; i++) {
            if (!o.in[i] || !strcmp(o.in[i], "e") || (o.kind == K_HEAD_MOD && i == 1) || o.kind == K_SINUS) continue;
            int want = o.kind == K_ATTN && i > 0 ? xr[1] : rows;
            if (xr[i] != want) bad = i;
        }
        if (bad >= 0 || ((o.kind == K_ROPE || fused) && rows != N)) {
            char in[96];
            dump_name(b, blk, bad >= 0 ? o.in[bad] : o.out, in, sizeof in);
            t2v_fail(err, T2V_EINPUT, "%s: '%s' has %d rows, which do not fit op %s (%d output rows%s%d tokens "
                     "in the patch grid of patch_embedding.in)", b->st->path, in, bad >= 0 ? xr[bad] : rows, name,
                     rows, ", ", N);
        }
    }
    if (err->code) rc = -2;
    else if (have) {
        int cols = cols_of(b->m, o.out);
        y = (float *)t2v_malloc((size_t)rows * cols * sizeof(float), "bisect output", err);
        if (!y) rc = -2;
        else if (fused) {
            rope_apply(x[0], xr[0], b->m->c.num_heads, b->m->c.dim / b->m->c.num_heads, b->m->c.dim,
                       b->m->s.rope_cos, b->m->s.rope_sin);
            rope_apply(x[1], xr[1], b->m->c.num_heads, b->m->c.dim / b->m->c.num_heads, b->m->c.dim,
                       b->m->s.rope_cos, b->m->s.rope_sin);
        }
        if (y && replay(b, blk, &o, x, xr, y, rows, cols, err)) rc = -2;
        else if (y) {
            const OpTol *t = profile_op(b->ops, b->nops, KIND_NAME[o.kind]);
            double tol = t ? t->rel : 0, omc = t ? t->omc : 0;
            ErrStats s;
            err_stats(&s, y, ref, (int64_t)rows * cols, tol);
            int ok = t && err_ok(&s, tol, 1.0 - omc);
            b->checked++;
            if (b->verbose || !ok)
                printf("%-34s %-9s rel %.3e (<= %.0e)  1-cos %.2e (<= %.0e)  %s\n", name, KIND_NAME[o.kind], s.rel,
                       tol, 1.0 - s.cosine, omc, ok ? "ok" : "WRONG");
            if (!t) printf("  the profile has no bound for op kind '%s'\n", KIND_NAME[o.kind]);
            if (!ok) {
                int64_t i = s.nonfinite ? (s.first_bad >= 0 ? s.first_bad : 0) : s.argmax;
                printf("\nfirst wrong op: %s (%s)\n  formula: %s\n", name, KIND_NAME[o.kind], o.formula);
                printf("  inputs (theirs):");
                for (int k = 0; k < 3; k++)
                    if (o.in[k]) { dump_name(b, blk, o.in[k], name, sizeof name); printf(" %s", name); }
                printf("\n  worst element [%lld, %lld] (row, column): t2v %.9g, theirs %.9g (|d| %.3g, rms of "
                       "theirs %.3g)\n", (long long)(i / cols), (long long)(i % cols), y[i], ref[i], s.max_abs,
                       s.max_abs / (s.rel > 0 ? s.rel : 1));
            }
            rc = ok;
        }
    }
    if (rc == -1) b->skipped++;
    for (int i = 0; i < 3; i++) free(x[i]);
    free(y);
    free(ref);
    return rc;
}

/* check_op with its outcome folded into *rc (an error) and *wrong. */
static void check_one(Bisect *b, int blk, const OpDef *op, int *rc, int *wrong, T2vError *e) {
    int r = check_op(b, blk, op, e);
    if (r < -1) *rc = e->code ? e->code : T2V_ERESOURCE;
    else if (r == 0) *wrong = 1;
}

/* Whether the dump holds any tensor of block blk. */
static int block_present(const Bisect *b, int blk) {
    char p[32];
    int n = snprintf(p, sizeof p, "blocks.%d", blk);
    for (int i = 0; i < b->st->tensors.n; i++) {
        const char *s = b->st->tensors.names[i];
        if (!strncmp(s, p, (size_t)n) && (s[n] == 0 || s[n] == '.')) return 1;
    }
    return 0;
}

/* The latent's [C, T, H, W] of patch_embedding.in -> the patch grid. */
static void find_grid(Bisect *b) {
    const Tensor *t = tl_find(&b->st->tensors, "patch_embedding.in");
    const DiTConfig *c = &b->m->c;
    if (!t || t->ndim != 4 || t->shape[0] != c->in_dim) return;
    b->grid[0] = (int)(t->shape[1] / c->patch_t), b->grid[1] = (int)(t->shape[2] / c->patch_h);
    b->grid[2] = (int)(t->shape[3] / c->patch_w);
}

int cmd_bisect(int argc, char **argv, App *app) {
    static const char *const value_opts[] = {"--model", "--profile", "--profiles", "--threads", NULL};
    const char *file = NULL, *model = app->default_model, *profile = "fp32", *profiles = app->tolerances;
    int verbose = 0;
    long threads = platform_default_threads();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (is_help_opt(a)) return command_help("bisect");
        if (!strcmp(a, "--all")) verbose = 1;
        else if (a[0] == '-' && (!v || !opt_in(a, value_opts))) return bad_option("bisect", a, value_opts);
        else if (!strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--profile")) profile = argv[++i];
        else if (!strcmp(a, "--profiles")) profiles = argv[++i];
        else if (!strcmp(a, "--threads")) {
            if (parse_int(argv[++i], 1, 1024, &threads)) return usage_error("bisect: --threads '%s': 1 to 1024", v);
        } else if (!file) file = a;
        else return usage_error("bisect: unexpected argument '%s'", a);
    }
    if (!file) return usage_error("%s", "bisect: usage: t2v bisect THEIRS.safetensors --model DIR [--profile NAME]");
    platform_set_threads((int)threads);
    T2vError e = {0, {0}};
    TolRule rules[64];
    OpTol ops[32];
    int nrules, nops;
    if (profile_load(profiles, profile, rules, 64, &nrules, ops, 32, &nops, &e)) return die(&e);
    SafeTensors st;
    if (st_open(&st, file, &e)) return die(&e);
    Model mo;
    Checkpoint ck;
    DiT dit;
    if (model_open(&mo, model, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e)) { st_close(&st); return die(&e); }
    if (model_load_dit(&mo, &ck, &dit, &e)) { model_close(&mo); st_close(&st); return die(&e); }
    Bisect b = {&dit, &st, 0, {0, 0, 0}, ops, nops, verbose, 0, 0};
    for (int i = 0; i < st.tensors.n; i++)
        if (strstr(st.tensors.names[i], ".attn1.") || strstr(st.tensors.names[i], ".attn2.")) b.diffusers = 1;
    find_grid(&b);
    int rc = T2V_OK, wrong = 0;
    if (b.grid[0]) {
        rc = dit_reserve(&dit, b.grid[0] * b.grid[1] * b.grid[2], &e);
        if (!rc) dit_rope_tables(&dit, b.grid[0], b.grid[1], b.grid[2]);
    }
    printf("bisect %s (%s names) against %s, profile %s\n", file, b.diffusers ? "diffusers" : "official", model,
           profile);
    int nblocks = 0, ntop = NROWS(TOP_OPS), nhead = NROWS(HEAD_OPS);
    for (int k = 0; k < ntop && !rc && !wrong; k++) /* in forward order: embeddings, blocks, head */
        check_one(&b, -1, &TOP_OPS[k], &rc, &wrong, &e);
    for (int blk = 0; blk < dit.c.num_layers && !rc && !wrong; blk++) {
        if (!block_present(&b, blk)) continue;
        nblocks++;
        for (int k = 0; k < NOPS && !rc && !wrong; k++) check_one(&b, blk, &BLOCK_OPS[k], &rc, &wrong, &e);
    }
    for (int k = 0; k < nhead && !rc && !wrong; k++) check_one(&b, -1, &HEAD_OPS[k], &rc, &wrong, &e);
    if (!rc && !wrong)
        printf("no wrong op: %d ops checked (%d block%s, embeddings, head), %d skipped (not in %s)%s\n", b.checked,
               nblocks, nblocks == 1 ? "" : "s", b.skipped, file,
               b.grid[0] ? "" : "; RoPE not checked: no patch_embedding.in (the latent) in the dump");
    dit_free(&dit);
    ckpt_close(&ck);
    model_close(&mo);
    st_close(&st);
    if (rc) return die(&e);
    if (!wrong && !b.checked) {
        fprintf(stderr, "t2v: bisect: no op of %s could be replayed (no blocks.N tensors with their inputs)\n", file);
        return 1;
    }
    return wrong ? 1 : 0;
}
