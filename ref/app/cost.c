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
        if (bytes) bytes[d->t[i].dtype] += (int64_t)dtype_nbytes(d->t[i].dtype, n);
    }
    return p;
}

/* A stage's list of specs (from its *_tensor_specs) as descriptions of dtype dt. */
static int desc_specs(DescList *d, const TensorSpec *s, int n, DType dt, T2vError *err) {
    int rc = s ? T2V_OK : T2V_ERESOURCE;
    for (int i = 0; i < n && !rc; i++) rc = desc_add(d, err, dt, s[i].ndim, s[i].shape, "%s", s[i].name);
    return rc;
}

static TensorSpec *spec_alloc(int n, T2vError *err) {
    return (TensorSpec *)t2v_malloc((size_t)(n > 0 ? n : 1) * sizeof(TensorSpec), "tensor list", err);
}

/* DiT, docs/MODEL.md 2.1. */
int desc_dit(DescList *d, const DiTConfig *c, DType dt, T2vError *err) {
    int n = dit_tensor_specs(c, NULL, 0);
    TensorSpec *s = spec_alloc(n, err);
    if (s) dit_tensor_specs(c, s, n);
    int rc = desc_specs(d, s, n, dt, err);
    free(s);
    return rc;
}

/* umT5 encoder, docs/MODEL.md 5.4. */
int desc_t5(DescList *d, const T5Config *c, DType dt, T2vError *err) {
    int n = t5_tensor_specs(c, NULL, 0);
    TensorSpec *s = spec_alloc(n, err);
    if (s) t5_tensor_specs(c, s, n);
    int rc = desc_specs(d, s, n, dt, err);
    free(s);
    return rc;
}

/* WanVAE_, docs/MODEL.md 4.3: encoder, conv1, conv2, decoder, in module order. */
int desc_vae(DescList *d, const VaeConfig *c, DType dt, T2vError *err) {
    int n = vae_tensor_specs(c, NULL, 0);
    TensorSpec *s = spec_alloc(n, err);
    if (s) vae_tensor_specs(c, s, n);
    int rc = desc_specs(d, s, n, dt, err);
    free(s);
    return rc;
}

/* ----------------------------------------------------------------------------
 * ModelDesc */

void model_desc_free(ModelDesc *m) {
    for (int s = 0; s < STAGE_COUNT; s++) {
        desc_list_free(&m->w[s]);
        free(m->file[s]);
    }
    memset(m, 0, sizeof *m);
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

/* The three checkpoints' headers (names mapped onto the official ones). */
static int desc_files(ModelDesc *m, const ModelPaths *mp, T2vError *err) {
    const char *files[STAGE_COUNT] = {mp->t5, mp->dit, mp->vae};
    static const char *const what[STAGE_COUNT] = {"text encoder", "DiT", "VAE"};
    static const WeightRole role[STAGE_COUNT] = {ROLE_T5, ROLE_DIT, ROLE_VAE};
    int rc = T2V_OK;
    for (int s = 0; s < STAGE_COUNT && !rc; s++) {
        if (!files[s]) { rc = t2v_fail(err, T2V_EINPUT, "%s: model directory has no %s checkpoint", mp->dir, what[s]); break; }
        Checkpoint ck;
        if ((rc = ckpt_open_as(&ck, files[s], role[s], err))) break;
        rc = copy_list(&m->w[s], ck.tensors, err);
        if (!rc && s == STAGE_T5) rc = t5_config_from_tensors(&m->t5, ck.tensors, err);
        if (!rc && s == STAGE_VAE) rc = vae_config_from_tensors(&m->vae, ck.tensors, err);
        ckpt_close(&ck);
        m->file[s] = dup_str(files[s]);
    }
    if (rc) model_desc_free(m);
    return rc;
}

int model_desc_from_dir(ModelDesc *m, const ModelPaths *mp, T2vError *err) {
    memset(m, 0, sizeof *m);
    if (!mp->config) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no config.json", mp->dir);
    int rc = dit_config_read(&m->dit, mp->config, err);
    return rc ? rc : desc_files(m, mp, err);
}

int model_desc_from_model(ModelDesc *m, const Model *mo, T2vError *err) {
    memset(m, 0, sizeof *m);
    if (!mo->has_dit) return t2v_fail(err, T2V_EINPUT, "%s: model directory has no config.json", mo->paths.dir);
    m->dit = mo->dit;
    return desc_files(m, &mo->paths, err);
}

int model_desc_from_config(ModelDesc *m, const DiTConfig *c, T2vError *err) {
    memset(m, 0, sizeof *m);
    m->dit = *c;
    t5_default_config(&m->t5);
    if (c->in_dim == 48) vae22_default_config(&m->vae); /* TI2V-5B's latent: Wan2.2_VAE.pth */
    else vae_default_config(&m->vae);
    int rc = desc_dit(&m->w[STAGE_DIT], c, DT_F32, err);
    if (!rc) rc = desc_t5(&m->w[STAGE_T5], &m->t5, DT_BF16, err);
    if (!rc) rc = desc_vae(&m->w[STAGE_VAE], &m->vae, DT_F32, err);
    if (rc) model_desc_free(m);
    return rc;
}

/* ----------------------------------------------------------------------------
 * Sizes and FLOPs */

static void size_of(ClipSize *s, const DiTConfig *c, const VaeConfig *v, int W, int H, int F, int L) {
    memset(s, 0, sizeof *s);
    s->W = W, s->H = H, s->F = F, s->L = L, s->C = v->z_dim;
    vae_latent_size(v, F, H, W, &s->T, &s->h, &s->w);
    s->f = s->T / c->patch_t, s->hp = s->h / c->patch_h, s->wp = s->w / c->patch_w;
    s->N = s->f * s->hp * s->wp;
}

void cost_size(ClipSize *s, const ModelDesc *m, int W, int H, int F, int L) {
    size_of(s, &m->dit, &m->vae, W, H, F, L);
}

/* Output shape [C, F, H, W] and FLOPs of one decoder layer, given its input
 * shape: the layer kind is read off its tensor names (docs/MODEL.md 4.3). */
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
static int64_t vae_walk(const ModelDesc *m, const ClipSize *s, const char *stop, int64_t shape[4]) {
    const DescList *d = &m->w[STAGE_VAE];
    int64_t sh[4] = {m->vae.z_dim, s->T, s->h, s->w}, total = 0, z = m->vae.z_dim;
    int64_t fl = 2 * z * z * s->T * s->h * s->w; /* conv2, 1x1x1 */
    total += fl;
    if (stop && !strcmp(stop, "conv2")) { memcpy(shape, sh, sizeof sh); return fl; }
    char p[64], n[96];
    /* Wan2.2 groups its blocks: decoder.upsamples.I.upsamples.J (the average
     * shortcuts have no weights and next to no FLOPs) */
    static const char *const groups[] = {"decoder.conv1", "decoder.middle.%d", "decoder.upsamples.%d",
                                         "decoder.upsamples.%d.upsamples.%d", "decoder.head"};
    int grouped = desc_find(d, "decoder.upsamples.0.upsamples.0.residual.2.weight") != NULL;
    for (int g = 0; g < 5; g++) {
        if ((g == 2 && grouped) || (g == 3 && !grouped)) continue;
        for (int i = 0, j = 0; i < 64 && j < 64;) {
            if (g == 3) snprintf(p, sizeof p, groups[g], i, j);
            else snprintf(p, sizeof p, groups[g], i);
            int found = 0;
            size_t lp = strlen(p);
            snprintf(n, sizeof n, "%s.", p);
            for (int k = 0; k < d->n && !found; k++) found = !strncmp(d->t[k].name, n, lp + 1);
            if (!found && g == 3 && j > 0) { i++, j = 0; continue; } /* the next group */
            if (!found) break;
            fl = vae_layer_step(d, p, sh);
            total += fl;
            if (stop && !strcmp(stop, p)) { memcpy(shape, sh, sizeof sh); return fl; }
            if (!strchr(groups[g], '%')) break;
            if (g == 3) j++;
            else i++;
        }
    }
    if (m->vae.patch > 1) /* unpatchify: [3 p p, F, h, w] -> [3, F, p h, p w] */
        sh[0] /= (int64_t)m->vae.patch * m->vae.patch, sh[2] *= m->vae.patch, sh[3] *= m->vae.patch;
    if (stop) { memset(shape, 0, 4 * sizeof *shape); return 0; }
    if (shape) memcpy(shape, sh, sizeof sh);
    return total;
}

int64_t cost_vae_layer(const ModelDesc *m, const ClipSize *s, const char *prefix, int64_t shape[4]) {
    return vae_walk(m, s, prefix, shape);
}

void cost_flops(const ModelDesc *m, const ClipSize *s, Flops *o) {
    const DiTConfig *c = &m->dit;
    const T5Config *t = &m->t5;
    int64_t N = s->N, D = c->dim, L = s->L, Lc = c->text_len, P = (int64_t)c->patch_t * c->patch_h * c->patch_w;
    memset(o, 0, sizeof *o);
    /* umT5 layer: q,k,v,o; QK^T and AV over L keys; gate, fc1, fc2 (docs/MODEL.md 5.2) */
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

void cost_memory_causal(const ModelDesc *m, const ClipSize *s, int block, int kept, MemEstimate *o) {
    ClipSize bs;
    MemEstimate bm;
    cost_size(&bs, m, s->W, s->H, 1 + m->vae.scale_t * (block - 1), s->L);
    cost_memory(m, &bs, &bm);
    double per_frame = s->f > 0 ? (double)s->N / s->f : 0; /* tokens of one latent frame */
    double latent = (double)m->vae.z_dim * s->T * s->h * s->w * 4;
    o->dit = bm.dit + 2 * latent + 8.0 * m->dit.num_layers * kept * per_frame * m->dit.dim;
    o->peak = o->text > o->dit ? o->text : o->dit;
    if (o->vae > o->peak) o->peak = o->vae;
}

void cost_memory_windowed(const ModelDesc *m, const ClipSize *s, int window, int chain, MemEstimate *o) {
    ClipSize ws;
    MemEstimate wm;
    cost_size(&ws, m, s->W, s->H, 1 + m->vae.scale_t * (window - 1), s->L);
    cost_memory(m, &ws, &wm);
    double latent = (double)m->vae.z_dim * s->T * s->h * s->w * 4, win = (double)m->vae.z_dim * ws.T * ws.h * ws.w * 4;
    if (chain) /* the clip's noise and result; the window's six (its x and held frames in place of those two) */
        o->dit = wm.dit + 2 * latent;
    else /* cost_memory's six for the clip, not the window; the blend's plain
          * sums for the clip, its input and velocity per window */
        o->dit = wm.dit + 6 * (latent - win) + latent + 2 * win;
    o->peak = o->text > o->dit ? o->text : o->dit;
    if (o->vae > o->peak) o->peak = o->vae;
}

/* Bytes of a stage's weights at their stored size. */
static double stage_bytes(const ModelDesc *m, int stage) {
    int64_t by[DT_COUNT];
    double b = 0;
    desc_params(&m->w[stage], by);
    for (int d = 0; d < DT_COUNT; d++) b += (double)by[d];
    return b;
}

/* The VAE phase of generate (docs/OUTPUTS.md, Streamed writing): weights;
 * ~6 full-resolution frames of the widest decoder stage's channels (feature
 * caches and scratch); the noise and the final latent; the decoded float
 * frames held: one latent frame's (scale_t), or with whole != 0 (--dump) the
 * whole video; and 8-bit frames: the chunk being appended (whole: a batch of
 * 16), up to two chunks of encoded PNG frames (frames, APNG), a frame per
 * Y4M and MP4 writer, the contact sheet's 8 tiles. */
static double vae_phase(const ModelDesc *m, const ClipSize *s, int whole) {
    double HW = (double)s->H * s->W, st = m->vae.scale_t < s->F ? m->vae.scale_t : s->F;
    double latent = (double)m->vae.z_dim * s->T * s->h * s->w * 4;
    double floats = whole ? s->F : st, bytes = (whole ? 16 : st) + 2 * st + 2 + 8;
    double scratch = (double)m->vae.dec_top * 6 * HW / ((double)m->vae.patch * m->vae.patch) * 4;
    return stage_bytes(m, STAGE_VAE) + scratch + 2 * latent + 3 * floats * HW * 4 + bytes * HW * 3;
}

void cost_memory_whole_video(const ModelDesc *m, const ClipSize *s, MemEstimate *o) {
    o->vae = vae_phase(m, s, 1);
    o->peak = o->text > o->dit ? o->text : o->dit;
    if (o->vae > o->peak) o->peak = o->vae;
}

void cost_memory(const ModelDesc *m, const ClipSize *s, MemEstimate *o) {
    const DiTConfig *c = &m->dit;
    double wb[STAGE_COUNT];
    for (int k = 0; k < STAGE_COUNT; k++) wb[k] = stage_bytes(m, k);
    double N = s->N, D = c->dim;
    double latent = (double)m->vae.z_dim * s->T * s->h * s->w * 4;
    /* T5: three widened [dim_ffn, dim] matrices (gate, fc1, fc2) */
    o->text = wb[STAGE_T5] + 3.0 * m->t5.dim * m->t5.dim_ffn * 4;
    /* DiT: residual, norm, q, k, v, attention out, FFN row chunk; two widened
     * weight matrices; embedded contexts; latent-sized sampler buffers */
    o->dit = wb[STAGE_DIT] + N * D * 4 * 8 + 4.0 * c->ffn_dim * D * 2 + 4.0 * c->text_len * D * 4 + latent * 6;
    o->vae = vae_phase(m, s, 0); /* the video streamed to the writers */
    o->peak = o->text > o->dit ? o->text : o->dit;
    if (o->vae > o->peak) o->peak = o->vae;
}
