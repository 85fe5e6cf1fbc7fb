/* cost.c: see cost.h. Every number `t2v info` prints comes from here. */
#include "cost.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------
 * Tensor descriptions */

static int desc_add(DescList *d, T2vError *err, DType dt, int ndim, const int64_t *shape, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

static int desc_add(DescList *d, T2vError *err, DType dt, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 256;
        TensorDesc *t = (TensorDesc *)realloc(d->t, (size_t)cap * sizeof *t);
        if (!t) return t2v_fail(err, T2V_ERESOURCE, "out of memory listing tensors");
        d->t = t, d->cap = cap;
    }
    TensorDesc *t = &d->t[d->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    return T2V_OK;
}

void desc_list_free(DescList *d) {
    free(d->t);
    memset(d, 0, sizeof *d);
}

const TensorDesc *desc_find(const DescList *d, const char *name) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->t[i].name, name)) return &d->t[i];
    return NULL;
}

int64_t desc_numel(const TensorDesc *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int64_t desc_params(const DescList *d, int64_t *bytes) {
    int64_t p = 0;
    if (bytes) memset(bytes, 0, DT_COUNT * sizeof *bytes);
    for (int i = 0; i < d->n; i++) {
        int64_t n = desc_numel(&d->t[i]);
        p += n;
        if (bytes) bytes[d->t[i].dtype] += n * (int64_t)dtype_size(d->t[i].dtype);
    }
    return p;
}

/* Shorthands: a shape literal, and weight+bias of a Linear or a conv. */
#define SH(...) (const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)
#define ADD(dims_and_n, ...) (rc = rc ? rc : desc_add_n(d, err, dt, dims_and_n, __VA_ARGS__))

static int desc_add_n(DescList *d, T2vError *err, DType dt, const int64_t *shape, size_t ndim, const char *name) {
    return desc_add(d, err, dt, (int)ndim, shape, "%s", name);
}

/* DiT, spec 2.1 (in the order of the official module tree). */
int desc_dit(DescList *d, const DiTConfig *c, DType dt, T2vError *err) {
    int64_t D = c->dim, Ff = c->ffn_dim, P = (int64_t)c->out_dim * c->patch_t * c->patch_h * c->patch_w;
    int rc = T2V_OK;
    char n[96];
    ADD(SH(D, c->in_dim, c->patch_t, c->patch_h, c->patch_w), "patch_embedding.weight");
    ADD(SH(D), "patch_embedding.bias");
    ADD(SH(D, c->text_dim), "text_embedding.0.weight");
    ADD(SH(D), "text_embedding.0.bias");
    ADD(SH(D, D), "text_embedding.2.weight");
    ADD(SH(D), "text_embedding.2.bias");
    ADD(SH(D, c->freq_dim), "time_embedding.0.weight");
    ADD(SH(D), "time_embedding.0.bias");
    ADD(SH(D, D), "time_embedding.2.weight");
    ADD(SH(D), "time_embedding.2.bias");
    ADD(SH(6 * D, D), "time_projection.1.weight");
    ADD(SH(6 * D), "time_projection.1.bias");
    static const char *const attn[] = {"self_attn", "cross_attn"};
    static const char *const qkvo[] = {"q", "k", "v", "o"};
    for (int b = 0; b < c->num_layers && !rc; b++) {
        snprintf(n, sizeof n, "blocks.%d.modulation", b), ADD(SH(1, 6, D), n);
        for (int a = 0; a < 2; a++) {
            for (int k = 0; k < 4; k++) {
                snprintf(n, sizeof n, "blocks.%d.%s.%s.weight", b, attn[a], qkvo[k]), ADD(SH(D, D), n);
                snprintf(n, sizeof n, "blocks.%d.%s.%s.bias", b, attn[a], qkvo[k]), ADD(SH(D), n);
            }
            snprintf(n, sizeof n, "blocks.%d.%s.norm_q.weight", b, attn[a]), ADD(SH(D), n);
            snprintf(n, sizeof n, "blocks.%d.%s.norm_k.weight", b, attn[a]), ADD(SH(D), n);
            if (a == 0) {
                snprintf(n, sizeof n, "blocks.%d.norm3.weight", b), ADD(SH(D), n);
                snprintf(n, sizeof n, "blocks.%d.norm3.bias", b), ADD(SH(D), n);
            }
        }
        snprintf(n, sizeof n, "blocks.%d.ffn.0.weight", b), ADD(SH(Ff, D), n);
        snprintf(n, sizeof n, "blocks.%d.ffn.0.bias", b), ADD(SH(Ff), n);
        snprintf(n, sizeof n, "blocks.%d.ffn.2.weight", b), ADD(SH(D, Ff), n);
        snprintf(n, sizeof n, "blocks.%d.ffn.2.bias", b), ADD(SH(D), n);
    }
    ADD(SH(P, D), "head.head.weight");
    ADD(SH(P), "head.head.bias");
    ADD(SH(1, 2, D), "head.modulation");
    return rc;
}

/* umT5 encoder, spec 5.4. */
int desc_t5(DescList *d, const T5Config *c, DType dt, T2vError *err) {
    int64_t D = c->dim, A = c->dim_attn, Ff = c->dim_ffn;
    int rc = T2V_OK;
    char n[96];
    ADD(SH(c->vocab, D), "token_embedding.weight");
    for (int b = 0; b < c->num_layers && !rc; b++) {
        snprintf(n, sizeof n, "blocks.%d.norm1.weight", b), ADD(SH(D), n);
        snprintf(n, sizeof n, "blocks.%d.attn.q.weight", b), ADD(SH(A, D), n);
        snprintf(n, sizeof n, "blocks.%d.attn.k.weight", b), ADD(SH(A, D), n);
        snprintf(n, sizeof n, "blocks.%d.attn.v.weight", b), ADD(SH(A, D), n);
        snprintf(n, sizeof n, "blocks.%d.attn.o.weight", b), ADD(SH(D, A), n);
        snprintf(n, sizeof n, "blocks.%d.norm2.weight", b), ADD(SH(D), n);
        snprintf(n, sizeof n, "blocks.%d.ffn.gate.0.weight", b), ADD(SH(Ff, D), n);
        snprintf(n, sizeof n, "blocks.%d.ffn.fc1.weight", b), ADD(SH(Ff, D), n);
        snprintf(n, sizeof n, "blocks.%d.ffn.fc2.weight", b), ADD(SH(D, Ff), n);
        snprintf(n, sizeof n, "blocks.%d.pos_embedding.embedding.weight", b), ADD(SH(c->num_buckets, c->num_heads), n);
    }
    ADD(SH(D), "norm.weight");
    return rc;
}

/* VAE building blocks (spec 4.2). */
static int vae_res(DescList *d, DType dt, const char *p, int64_t in, int64_t out, T2vError *err) {
    int rc = T2V_OK;
    char n[96];
    snprintf(n, sizeof n, "%s.residual.0.gamma", p), ADD(SH(in, 1, 1, 1), n);
    snprintf(n, sizeof n, "%s.residual.2.weight", p), ADD(SH(out, in, 3, 3, 3), n);
    snprintf(n, sizeof n, "%s.residual.2.bias", p), ADD(SH(out), n);
    snprintf(n, sizeof n, "%s.residual.3.gamma", p), ADD(SH(out, 1, 1, 1), n);
    snprintf(n, sizeof n, "%s.residual.6.weight", p), ADD(SH(out, out, 3, 3, 3), n);
    snprintf(n, sizeof n, "%s.residual.6.bias", p), ADD(SH(out), n);
    if (in != out) {
        snprintf(n, sizeof n, "%s.shortcut.weight", p), ADD(SH(out, in, 1, 1, 1), n);
        snprintf(n, sizeof n, "%s.shortcut.bias", p), ADD(SH(out), n);
    }
    return rc;
}

static int vae_attn(DescList *d, DType dt, const char *p, int64_t C, T2vError *err) {
    int rc = T2V_OK;
    char n[96];
    snprintf(n, sizeof n, "%s.norm.gamma", p), ADD(SH(C, 1, 1), n);
    snprintf(n, sizeof n, "%s.to_qkv.weight", p), ADD(SH(3 * C, C, 1, 1), n);
    snprintf(n, sizeof n, "%s.to_qkv.bias", p), ADD(SH(3 * C), n);
    snprintf(n, sizeof n, "%s.proj.weight", p), ADD(SH(C, C, 1, 1), n);
    snprintf(n, sizeof n, "%s.proj.bias", p), ADD(SH(C), n);
    return rc;
}

/* mode: 'd' downsample2d, 'D' downsample3d, 'u' upsample2d, 'U' upsample3d. */
static int vae_resample(DescList *d, DType dt, const char *p, int64_t C, char mode, T2vError *err) {
    int rc = T2V_OK;
    char n[96];
    int64_t out = mode == 'u' || mode == 'U' ? C / 2 : C;
    snprintf(n, sizeof n, "%s.resample.1.weight", p), ADD(SH(out, C, 3, 3), n);
    snprintf(n, sizeof n, "%s.resample.1.bias", p), ADD(SH(out), n);
    if (mode == 'U' || mode == 'D') {
        int64_t tc = mode == 'U' ? 2 * C : C;
        snprintf(n, sizeof n, "%s.time_conv.weight", p), ADD(SH(tc, C, 3, 1, 1), n);
        snprintf(n, sizeof n, "%s.time_conv.bias", p), ADD(SH(tc), n);
    }
    return rc;
}

static int vae_middle(DescList *d, DType dt, const char *half, int64_t C, T2vError *err) {
    char p[64];
    int rc;
    snprintf(p, sizeof p, "%s.middle.0", half), rc = vae_res(d, dt, p, C, C, err);
    snprintf(p, sizeof p, "%s.middle.1", half), rc = rc ? rc : vae_attn(d, dt, p, C, err);
    snprintf(p, sizeof p, "%s.middle.2", half), rc = rc ? rc : vae_res(d, dt, p, C, C, err);
    return rc;
}

/* WanVAE_ (spec 4.3): encoder, conv1, conv2, decoder, in module order. */
int desc_vae(DescList *d, int dim, int z_dim, DType dt, T2vError *err) {
    static const int mult[4] = {1, 2, 4, 4}, tdown[3] = {0, 1, 1};
    int64_t top = (int64_t)dim * mult[3], z = z_dim;
    int rc = T2V_OK, k = 0;
    char p[64];
    ADD(SH(dim, 3, 3, 3, 3), "encoder.conv1.weight");
    ADD(SH(dim), "encoder.conv1.bias");
    int64_t in = dim;
    for (int i = 0; i < 4 && !rc; i++) {
        int64_t out = (int64_t)dim * mult[i];
        for (int r = 0; r < 2 && !rc; r++, in = out)
            snprintf(p, sizeof p, "encoder.downsamples.%d", k++), rc = vae_res(d, dt, p, in, out, err);
        if (i < 3 && !rc)
            snprintf(p, sizeof p, "encoder.downsamples.%d", k++), rc = vae_resample(d, dt, p, out, tdown[i] ? 'D' : 'd', err);
    }
    if (!rc) rc = vae_middle(d, dt, "encoder", top, err);
    ADD(SH(top, 1, 1, 1), "encoder.head.0.gamma");
    ADD(SH(2 * z, top, 3, 3, 3), "encoder.head.2.weight");
    ADD(SH(2 * z), "encoder.head.2.bias");
    ADD(SH(2 * z, 2 * z, 1, 1, 1), "conv1.weight");
    ADD(SH(2 * z), "conv1.bias");
    ADD(SH(z, z, 1, 1, 1), "conv2.weight");
    ADD(SH(z), "conv2.bias");
    ADD(SH(top, z, 3, 3, 3), "decoder.conv1.weight");
    ADD(SH(top), "decoder.conv1.bias");
    if (!rc) rc = vae_middle(d, dt, "decoder", top, err);
    /* dims [4,4,4,2,1] x dim; stages 1..3 take half the channels in (after
     * the previous upsample); temporal upsample = reversed tdown */
    static const int dmult[5] = {4, 4, 4, 2, 1}, tup[3] = {1, 1, 0};
    k = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        int64_t out = (int64_t)dim * dmult[i + 1];
        in = (int64_t)dim * dmult[i] / (i ? 2 : 1);
        for (int r = 0; r < 3 && !rc; r++, in = out)
            snprintf(p, sizeof p, "decoder.upsamples.%d", k++), rc = vae_res(d, dt, p, in, out, err);
        if (i < 3 && !rc)
            snprintf(p, sizeof p, "decoder.upsamples.%d", k++), rc = vae_resample(d, dt, p, out, tup[i] ? 'U' : 'u', err);
    }
    ADD(SH(dim, 1, 1, 1), "decoder.head.0.gamma");
    ADD(SH(3, dim, 3, 3, 3), "decoder.head.2.weight");
    ADD(SH(3), "decoder.head.2.bias");
    return rc;
}
#undef ADD
#undef SH

/* ----------------------------------------------------------------------------
 * ModelDesc */

void model_desc_free(ModelDesc *m) {
    for (int s = 0; s < STAGE_COUNT; s++) {
        desc_list_free(&m->w[s]);
        free(m->file[s]);
    }
    memset(m, 0, sizeof *m);
}

/* T5Config from the umT5 shapes (as t5.c derives it). */
static int t5_config_from_desc(T5Config *c, const DescList *d, const char *path, T2vError *err) {
    const TensorDesc *emb = desc_find(d, "token_embedding.weight"), *q = desc_find(d, "blocks.0.attn.q.weight");
    const TensorDesc *g = desc_find(d, "blocks.0.ffn.gate.0.weight");
    const TensorDesc *pe = desc_find(d, "blocks.0.pos_embedding.embedding.weight");
    if (!emb || !q || !g || !pe || emb->ndim != 2 || q->ndim != 2 || g->ndim != 2 || pe->ndim != 2)
        return t2v_fail(err, T2V_EINPUT, "%s: not a umT5 encoder (expected token_embedding.weight and "
                        "blocks.0.{attn.q,ffn.gate.0,pos_embedding.embedding}.weight, 2-D)", path);
    memset(c, 0, sizeof *c);
    c->vocab = (int)emb->shape[0], c->dim = (int)emb->shape[1];
    c->dim_attn = (int)q->shape[0], c->dim_ffn = (int)g->shape[0];
    c->num_buckets = (int)pe->shape[0], c->num_heads = (int)pe->shape[1];
    c->head_dim = c->num_heads ? c->dim_attn / c->num_heads : 0;
    c->max_distance = 128, c->eps = 1e-6f;
    char name[64];
    for (c->num_layers = 0;; c->num_layers++) {
        snprintf(name, sizeof name, "blocks.%d.norm1.weight", c->num_layers);
        if (!desc_find(d, name)) break;
    }
    return T2V_OK;
}

static int copy_list(DescList *d, const TensorList *tl, T2vError *err) {
    for (int i = 0; i < tl->n; i++) {
        const Tensor *t = &tl->tensors[i];
        if (t->ndim > 5) return t2v_fail(err, T2V_EINPUT, "tensor %s has %d dims (at most 5 expected)", tl->names[i], t->ndim);
        int rc = desc_add(d, err, t->dtype, t->ndim, t->shape, "%s", tl->names[i]);
        if (rc) return rc;
    }
    return T2V_OK;
}

static char *dup_str(const char *s) {
    char *p = s ? (char *)malloc(strlen(s) + 1) : NULL;
    if (p) strcpy(p, s);
    return p;
}

static int vae_dims(ModelDesc *m, const char *path, T2vError *err) {
    const TensorDesc *c2 = desc_find(&m->w[STAGE_VAE], "conv2.weight");
    const TensorDesc *hd = desc_find(&m->w[STAGE_VAE], "decoder.head.0.gamma");
    if (!c2 || !hd) return t2v_fail(err, T2V_EINPUT, "%s: not a Wan VAE decoder (no conv2.weight or decoder.head.0.gamma)", path);
    m->vae_z = (int)c2->shape[0], m->vae_dim = (int)hd->shape[0];
    return T2V_OK;
}

int model_desc_from_dir(ModelDesc *m, const ModelPaths *mp, T2vError *err) {
    memset(m, 0, sizeof *m);
    const char *files[STAGE_COUNT] = {mp->t5, mp->dit, mp->vae};
    static const char *const what[STAGE_COUNT] = {"text encoder", "DiT", "VAE"};
    if (!mp->config) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no config.json", mp->dir);
    int rc = dit_config_read(&m->dit, mp->config, err);
    for (int s = 0; s < STAGE_COUNT && !rc; s++) {
        if (!files[s]) { rc = t2v_fail(err, T2V_EINPUT, "%s: model directory has no %s checkpoint", mp->dir, what[s]); break; }
        Checkpoint ck;
        if ((rc = ckpt_open(&ck, files[s], err))) break;
        rc = copy_list(&m->w[s], ck.tensors, err);
        ckpt_close(&ck);
        m->file[s] = dup_str(files[s]);
    }
    if (!rc) rc = t5_config_from_desc(&m->t5, &m->w[STAGE_T5], mp->t5, err);
    if (!rc) rc = vae_dims(m, mp->vae, err);
    if (rc) model_desc_free(m);
    return rc;
}

int model_desc_from_config(ModelDesc *m, const DiTConfig *c, T2vError *err) {
    memset(m, 0, sizeof *m);
    m->dit = *c;
    /* umT5-XXL, spec 5.1 */
    T5Config *t = &m->t5;
    t->vocab = 256384, t->dim = 4096, t->dim_attn = 4096, t->dim_ffn = 10240, t->num_heads = 64;
    t->head_dim = 64, t->num_layers = 24, t->num_buckets = 32, t->max_distance = 128, t->eps = 1e-6f;
    m->vae_dim = 96, m->vae_z = 16;
    int rc = desc_dit(&m->w[STAGE_DIT], c, DT_F32, err);
    if (!rc) rc = desc_t5(&m->w[STAGE_T5], t, DT_BF16, err);
    if (!rc) rc = desc_vae(&m->w[STAGE_VAE], m->vae_dim, m->vae_z, DT_F32, err);
    if (rc) model_desc_free(m);
    return rc;
}

/* ----------------------------------------------------------------------------
 * Sizes and FLOPs */

void gen_size(GenSize *s, const DiTConfig *c, int W, int H, int F, int L) {
    memset(s, 0, sizeof *s);
    s->W = W, s->H = H, s->F = F, s->L = L;
    s->T = 1 + (F - 1) / 4, s->h = H / 8, s->w = W / 8; /* vae_stride (4, 8, 8) */
    s->f = s->T / c->patch_t, s->hp = s->h / c->patch_h, s->wp = s->w / c->patch_w;
    s->N = s->f * s->hp * s->wp;
}

/* Output shape [C, F, H, W] and FLOPs of one decoder layer, given its input
 * shape: the layer kind is read off its tensor names (spec 4.3). */
static int64_t vae_layer_step(const DescList *d, const char *p, int64_t sh[4]) {
    char n[128];
#define FIND(suffix) (snprintf(n, sizeof n, "%s.%s", p, suffix), desc_find(d, n))
    const TensorDesc *res = FIND("residual.2.weight"), *qkv = FIND("to_qkv.weight");
    const TensorDesc *tc = FIND("time_conv.weight"), *rs = FIND("resample.1.weight");
    const TensorDesc *cv = FIND("weight"), *hd = FIND("2.weight");
#undef FIND
    int64_t C = sh[0], Fr = sh[1], HW = sh[2] * sh[3], fl = 0;
    if (res) { /* two 3x3x3 convs and maybe a 1x1x1 shortcut */
        int64_t out = res->shape[0];
        fl = 2 * Fr * HW * 27 * (C * out + out * out);
        if (C != out) fl += 2 * Fr * HW * C * out;
        sh[0] = out;
    } else if (qkv) { /* per frame: to_qkv, QK^T, AV, proj */
        fl = Fr * (2 * HW * 3 * C * C + 4 * HW * HW * C + 2 * HW * C * C);
    } else if (rs) {
        if (tc) { /* upsample3d: time_conv on frames 1.., doubling them */
            fl = 2 * (Fr - 1) * HW * 3 * C * tc->shape[0];
            Fr = 1 + 2 * (Fr - 1);
        }
        int64_t out = rs->shape[0];
        sh[1] = Fr, sh[2] *= 2, sh[3] *= 2;
        fl += 2 * Fr * sh[2] * sh[3] * 9 * C * out;
        sh[0] = out;
    } else if (cv || hd) { /* decoder.conv1 (k3) or decoder.head.2 (k3) */
        const TensorDesc *t = cv ? cv : hd;
        int64_t out = t->shape[0], k = t->ndim == 5 ? t->shape[2] * t->shape[3] * t->shape[4] : 1;
        fl = 2 * Fr * HW * k * C * out;
        sh[0] = out;
    }
    return fl;
}

/* Walks conv2, decoder.conv1, middle.*, upsamples.*, head in order; returns
 * the FLOPs of the layer named `stop` (or of all when stop is NULL). */
static int64_t vae_walk(const ModelDesc *m, const GenSize *s, const char *stop, int64_t shape[4]) {
    const DescList *d = &m->w[STAGE_VAE];
    int64_t sh[4] = {m->vae_z, s->T, s->h, s->w}, total = 0, z = m->vae_z;
    int64_t fl = 2 * z * z * s->T * s->h * s->w; /* conv2, 1x1x1 */
    total += fl;
    if (stop && !strcmp(stop, "conv2")) { memcpy(shape, sh, sizeof sh); return fl; }
    char p[64], n[96];
    static const char *const groups[] = {"decoder.conv1", "decoder.middle.%d", "decoder.upsamples.%d", "decoder.head"};
    for (int g = 0; g < 4; g++) {
        for (int i = 0; i < 64; i++) {
            snprintf(p, sizeof p, groups[g], i);
            int found = 0;
            size_t lp = strlen(p);
            snprintf(n, sizeof n, "%s.", p);
            for (int k = 0; k < d->n && !found; k++) found = !strncmp(d->t[k].name, n, lp + 1);
            if (!found) break;
            fl = vae_layer_step(d, p, sh);
            total += fl;
            if (stop && !strcmp(stop, p)) { memcpy(shape, sh, sizeof sh); return fl; }
            if (!strchr(groups[g], '%')) break;
        }
    }
    if (stop) { memset(shape, 0, 4 * sizeof *shape); return 0; }
    if (shape) memcpy(shape, sh, sizeof sh);
    return total;
}

int64_t cost_vae_layer(const ModelDesc *m, const GenSize *s, const char *prefix, int64_t shape[4]) {
    return vae_walk(m, s, prefix, shape);
}

void cost_flops(const ModelDesc *m, const GenSize *s, Flops *o) {
    const DiTConfig *c = &m->dit;
    const T5Config *t = &m->t5;
    int64_t N = s->N, D = c->dim, L = s->L, Lc = c->text_len, P = (int64_t)c->patch_t * c->patch_h * c->patch_w;
    memset(o, 0, sizeof *o);
    /* umT5 layer: q,k,v,o; QK^T and AV over L keys; gate, fc1, fc2 (spec 5.2) */
    o->t5_layer = 8 * L * t->dim * t->dim_attn + 4 * L * L * t->dim_attn + 6 * L * t->dim * t->dim_ffn;
    o->t5 = o->t5_layer * t->num_layers;
    o->text_embedding = 2 * Lc * ((int64_t)c->text_dim * D + D * D);
    o->patch = 2 * N * D * c->in_dim * P;
    o->time = 2 * ((int64_t)c->freq_dim * D + D * D + 6 * D * D);
    o->head = 2 * N * D * c->out_dim * P;
    o->self_proj = 8 * N * D * D;
    o->self_attn = 4 * N * N * D;
    o->cross_proj = 4 * N * D * D;
    o->cross_kv = 4 * Lc * D * D;
    o->cross_attn = 4 * N * Lc * D;
    o->ffn = 4 * N * D * c->ffn_dim;
    o->block = o->self_proj + o->self_attn + o->cross_proj + o->cross_kv + o->cross_attn + o->ffn;
    o->dit = o->patch + o->time + o->block * c->num_layers + o->head;
    o->vae_decode = vae_walk(m, s, NULL, NULL);
}

/* ----------------------------------------------------------------------------
 * Memory */

void cost_memory(const ModelDesc *m, const GenSize *s, MemEstimate *o) {
    const DiTConfig *c = &m->dit;
    int64_t by[DT_COUNT];
    double wb[STAGE_COUNT];
    for (int k = 0; k < STAGE_COUNT; k++) {
        desc_params(&m->w[k], by);
        wb[k] = 0;
        for (int d = 0; d < DT_COUNT; d++) wb[k] += (double)by[d];
    }
    double N = s->N, D = c->dim, F = s->F, HW = (double)s->H * s->W;
    double latent = 16.0 * s->T * s->h * s->w * 4;
    /* T5: three widened [dim_ffn, dim] matrices (gate, fc1, fc2) */
    o->text = wb[STAGE_T5] + 3.0 * m->t5.dim * m->t5.dim_ffn * 4;
    /* DiT: residual, norm, q, k, v, attention out, FFN row chunk; two widened
     * weight matrices; embedded contexts; latent-sized sampler buffers */
    o->dit = wb[STAGE_DIT] + N * D * 4 * 8 + 4.0 * c->ffn_dim * D * 2 + 4.0 * c->text_len * D * 4 + latent * 6;
    /* VAE: the float video and its uint8 copy, ~6 full-resolution frames of
     * the last stage's channels (feature caches and scratch) */
    double video = 3 * F * HW * 4 + F * HW * 3;
    o->vae = wb[STAGE_VAE] + video + (double)m->vae_dim * 4 * 6 * HW * 4;
    o->peak = o->text > o->dit ? o->text : o->dit;
    if (o->vae > o->peak) o->peak = o->vae;
}
