/*
 * vae.c: the Wan-VAE decoder and encoder (docs/MODEL.md section 4).
 *
 * The official code runs the decoder once per latent frame with a feature
 * cache: every causal conv keeps the last 2 frames of its input and prepends
 * them to the next chunk (docs/MODEL.md 4.4). Because every layer is causal in time,
 * the same result comes from pushing single frames through the layer chain:
 * a frame enters layer i, which emits 0, 1 or 2 frames to layer i+1
 * (upsample3d emits 2, downsample3d emits one per 2 after the first). This
 * file does exactly that, depth first, so each buffer holds one frame and
 * memory is flat in the number of frames.
 *
 * Layout: a frame is [C, H*W] (channel-major); a causal conv's input window
 * is [C, n+1, H*W]: n <= 2 cached frames, then the new one, with the missing
 * 2-n frames given to conv3d_forward as front zero padding.
 */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* docs/MODEL.md 4.5: latent mean and std (z_dim 16), kept as float32; 1/std in fp32 */
static const float VAE_MEAN[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f,
                                   -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f, -0.3632f,
                                   -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float VAE_STD[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                  2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                  1.6382f, 1.1253f, 2.8251f, 1.9160f};

/* ============================================================================
 * Configuration (docs/MODEL.md 4.3) and the latent's geometry */

#define VAE_Z_NORM (int)(sizeof VAE_MEAN / sizeof VAE_MEAN[0]) /* the latent normalisation's channels */
#define VAE_MAX_CH (1 << 16) /* channels above this are refused (no real VAE comes near) */

/* Layers in a half: conv1, 3 middle, the blocks of n stages (per residual
 * blocks each, a resample between stages), head. */
static int chain_len(const VaeConfig *c, int dec) {
    int per = dec ? c->num_res_blocks + 1 : c->num_res_blocks;
    return 1 + 3 + c->n_stages * (per + 1) - 1 + 1;
}

static void finish_config(VaeConfig *c, int dec, int enc) {
    int top = c->dim * c->dim_mult[c->n_stages - 1];
    c->dec_top = dec ? top : 0;
    c->enc_top = enc ? top : 0;
    c->n_dec = dec ? chain_len(c, 1) : 0;
    c->n_enc = enc ? chain_len(c, 0) : 0;
    c->scale_s = c->scale_t = 1;
    for (int i = 0; i + 1 < c->n_stages; i++) {
        c->scale_s *= 2;
        if (c->temporal_down[i]) c->scale_t *= 2;
    }
}

void vae_default_config(VaeConfig *c) {
    static const int mult[4] = {1, 2, 4, 4}, tdown[3] = {0, 1, 1};
    memset(c, 0, sizeof *c);
    c->dim = 96, c->z_dim = 16, c->n_stages = 4, c->num_res_blocks = 2;
    for (int i = 0; i < 4; i++) c->dim_mult[i] = mult[i];
    for (int i = 0; i < 3; i++) c->temporal_down[i] = tdown[i];
    finish_config(c, 1, 1);
}

/* Reads one half's stages off its blocks (decoder.upsamples.K or
 * encoder.downsamples.K): runs of ResidualBlocks (residual.2.weight gives a
 * stage's channels) with a Resample (resample.1.weight; temporal with
 * time_conv.weight) between stages. c->dim must be set. */
static int read_stages(VaeConfig *c, const TensorList *tl, int dec, T2vError *err) {
    const char *blk = dec ? "decoder.upsamples" : "encoder.downsamples";
    int n = 0, run = 0, per = -1, ch[VAE_MAX_STAGES] = {0}, tc[VAE_MAX_STAGES] = {0};
    for (int k = 0;; k++) {
        const Tensor *r = tl_findf(tl, "%s.%d.residual.2.weight", blk, k);
        int resample = tl_findf(tl, "%s.%d.resample.1.weight", blk, k) != NULL;
        if (r) { /* a ResidualBlock: the first of a stage gives its channels */
            if (run++ == 0) {
                if (n == VAE_MAX_STAGES)
                    return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s: more than %d stages", blk, VAE_MAX_STAGES);
                if (r->ndim < 1 || r->shape[0] < 1 || r->shape[0] > VAE_MAX_CH || r->shape[0] % c->dim)
                    return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s.%d.residual.2.weight: expected a "
                                    "multiple of dim %d output channels", blk, k, c->dim);
                ch[n] = (int)(r->shape[0] / c->dim);
            }
            continue;
        }
        if (run == 0 || (per >= 0 && run != per))
            return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s.%d: expected %s (the WanVAE_ layout of docs/MODEL.md 4.3: "
                            "the same number of residual blocks in every stage)", blk, k,
                            run == 0 ? "a residual block" : "the same residual blocks as stage 0");
        per = run, run = 0, n++;
        if (!resample) break;
        tc[n - 1] = tl_findf(tl, "%s.%d.time_conv.weight", blk, k) != NULL;
    }
    c->n_stages = n;
    c->num_res_blocks = dec ? per - 1 : per;
    for (int i = 0; i < n; i++) c->dim_mult[dec ? n - 1 - i : i] = ch[i];
    for (int i = 0; i + 1 < n; i++) c->temporal_down[dec ? n - 2 - i : i] = tc[i];
    return T2V_OK;
}

/* One half's config: z_dim from conv2 (decoder) or conv1 (encoder), dim
 * from decoder.head.0.gamma or encoder.conv1.weight, then the stages. */
static int read_half(VaeConfig *c, const TensorList *tl, int dec, T2vError *err) {
    const char *zn = dec ? "conv2.weight" : "conv1.weight", *dn = dec ? "decoder.head.0.gamma" : "encoder.conv1.weight";
    const Tensor *z = tl_find(tl, zn), *d = tl_find(tl, dn);
    memset(c, 0, sizeof *c);
    if (!d) return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: tensor '%s' is missing", dn);
    int64_t zc = z->ndim >= 1 ? z->shape[0] / (dec ? 1 : 2) : 0;
    if (zc < 1 || zc > VAE_MAX_Z || (!dec && z->shape[0] % 2))
        return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s: expected %s1..%d latent channels", zn,
                        dec ? "" : "twice ", VAE_MAX_Z);
    if (d->ndim < 1 || d->shape[0] < 1 || d->shape[0] > VAE_MAX_CH)
        return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s: expected 1..%d channels", dn, VAE_MAX_CH);
    c->z_dim = (int)zc, c->dim = (int)d->shape[0];
    return read_stages(c, tl, dec, err);
}

static int same_half(const VaeConfig *a, const VaeConfig *b) {
    int same = a->dim == b->dim && a->z_dim == b->z_dim && a->n_stages == b->n_stages &&
               a->num_res_blocks == b->num_res_blocks;
    for (int i = 0; same && i < a->n_stages; i++)
        same = a->dim_mult[i] == b->dim_mult[i] && a->temporal_down[i] == b->temporal_down[i];
    return same;
}

int vae_config_from_tensors(VaeConfig *c, const TensorList *tl, T2vError *err) {
    int dec = tl_find(tl, "conv2.weight") != NULL, enc = tl_find(tl, "conv1.weight") != NULL, rc = T2V_OK;
    memset(c, 0, sizeof *c);
    if (!dec && !enc)
        return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: neither 'conv2.weight' (decoder) nor 'conv1.weight' "
                                         "(encoder) found: not a Wan VAE state dict?");
    VaeConfig e;
    if (dec) rc = read_half(c, tl, 1, err);
    if (!rc && enc) rc = read_half(&e, tl, 0, err);
    if (!rc && enc && !dec) *c = e;
    if (!rc && enc && dec && !same_half(c, &e))
        rc = t2v_fail(err, T2V_EINPUT, "VAE checkpoint: the encoder and the decoder disagree on dim, z_dim, "
                                       "stages or residual blocks");
    if (!rc) finish_config(c, dec, enc);
    return rc;
}

void vae_latent_size(const VaeConfig *c, int F, int H, int W, int *T, int *h, int *w) {
    *T = 1 + (F - 1) / c->scale_t;
    *h = H / c->scale_s;
    *w = W / c->scale_s;
}

void vae_video_size(const VaeConfig *c, int T, int h, int w, int *F, int *H, int *W) {
    *F = 1 + c->scale_t * (T - 1);
    *H = c->scale_s * h;
    *W = c->scale_s * w;
}

int vae_video_size_ok(const VaeConfig *c, int F, int H, int W) {
    return F >= 1 && (F - 1) % c->scale_t == 0 && H >= c->scale_s && W >= c->scale_s && H % c->scale_s == 0 &&
           W % c->scale_s == 0;
}

/* ============================================================================
 * The layer chains and their tensors (docs/MODEL.md 4.3): the one list that
 * vae_tensor_specs prints and vae_build binds. */

static void set_layer(VaeLayer *l, VaeKind kind, int cin, int cout, const char *pfx, const char *what, int k) {
    memset(l, 0, sizeof *l);
    l->kind = kind, l->cin = cin, l->cout = cout;
    if (k < 0) snprintf(l->name, sizeof l->name, "%s.%s", pfx, what);
    else snprintf(l->name, sizeof l->name, "%s.%s.%d", pfx, what, k);
}

/* Block k of decoder.upsamples (dec) or encoder.downsamples: stage i has
 * per residual blocks, then (but the last stage) a resample. Decoder stage i
 * has dim_mult[n-1-i] (the encoder's in reverse) and takes half the channels
 * of the stage before (after its upsample), as Decoder3d. */
static void block_layer(const VaeConfig *c, int dec, int k, VaeLayer *l) {
    int n = c->n_stages, per = dec ? c->num_res_blocks + 1 : c->num_res_blocks;
    int i = k / (per + 1), r = k % (per + 1), out = c->dim * c->dim_mult[dec ? n - 1 - i : i];
    const char *pfx = dec ? "decoder" : "encoder", *blk = dec ? "upsamples" : "downsamples";
    if (r == per) { /* the resample after stage i */
        int t = c->temporal_down[dec ? n - 2 - i : i];
        VaeKind kind = dec ? (t ? VAE_UP3D : VAE_UP2D) : (t ? VAE_DOWN3D : VAE_DOWN2D);
        set_layer(l, kind, out, dec ? out / 2 : out, pfx, blk, k);
        return;
    }
    int in = r > 0 ? out : i == 0 ? c->dim * (dec ? c->dim_mult[n - 1] : 1)
                       : dec ? c->dim * c->dim_mult[n - i] / 2 : c->dim * c->dim_mult[i - 1];
    set_layer(l, VAE_RES, in, out, pfx, blk, k);
}

/* Layer j of a half in run order: decoder conv1, middle.0-2, upsamples.*,
 * head; encoder conv1, downsamples.*, middle.0-2, head. */
static void chain_layer(const VaeConfig *c, int dec, int j, VaeLayer *l) {
    const char *pfx = dec ? "decoder" : "encoder";
    int top = c->dim * c->dim_mult[c->n_stages - 1], last = chain_len(c, dec) - 1, mid = dec ? 1 : last - 3;
    if (j == 0)
        set_layer(l, VAE_CONV, dec ? c->z_dim : 3, dec ? top : c->dim, pfx, "conv1", -1);
    else if (j == last)
        set_layer(l, VAE_HEAD, dec ? c->dim * c->dim_mult[0] : top, dec ? 3 : 2 * c->z_dim, pfx, "head", -1);
    else if (j >= mid && j < mid + 3)
        set_layer(l, j == mid + 1 ? VAE_ATTN : VAE_RES, top, top, pfx, "middle", j - mid);
    else
        block_layer(c, dec, dec ? j - 4 : j - 1, l);
}

/* One tensor and where vae_build puts it: a conv weight is viewed, a gamma or
 * a bias widened to fp32. */
typedef struct {
    TensorSpec s;
    VaeConv *conv;
    float **vec;
} VaeSlot;

#define VAE_MAX_SLOTS 8

/* Slot NAME SUB TAIL ("decoder.head" ".2" ".weight") with its shape. */
static void slot(VaeSlot *o, int *n, const char *name, const char *sub, const char *tail, VaeConv *conv,
                 float **vec, int ndim, const int64_t *shape) {
    VaeSlot *s = &o[(*n)++];
    snprintf(s->s.name, sizeof s->s.name, "%s%s%s", name, sub, tail);
    s->s.ndim = ndim;
    for (int i = 0; i < ndim; i++) s->s.shape[i] = shape[i];
    s->conv = conv, s->vec = vec;
}

/* NAME.weight [cout, cin, kt, kh, kw] (kt = 0: a Conv2d [cout, cin, kh, kw])
 * and NAME.bias [cout]. */
static void slot_conv(VaeSlot *o, int *n, VaeConv *cv, const char *name, const char *sub, int64_t cout, int64_t cin,
                      int kt, int kh, int kw) {
    int64_t s5[5] = {cout, cin, kt, kh, kw}, s4[4] = {cout, cin, kh, kw};
    slot(o, n, name, sub, ".weight", cv, NULL, kt ? 5 : 4, kt ? s5 : s4);
    slot(o, n, name, sub, ".bias", NULL, &cv->b, 1, &cout);
}

/* A gamma [C, 1, 1, 1] (RMS_norm over channels), [C, 1, 1] in the attention. */
static void slot_gamma(VaeSlot *o, int *n, float **g, const char *name, const char *sub, int64_t C, int ndim) {
    int64_t s[4] = {C, 1, 1, 1};
    slot(o, n, name, sub, "", NULL, g, ndim, s);
}

/* The tensors of layer l in the official module order. */
static int layer_slots(VaeLayer *l, VaeSlot *o) {
    int n = 0;
    int64_t ci = l->cin, co = l->cout;
    switch (l->kind) {
    case VAE_CONV:
        slot_conv(o, &n, &l->conv, l->name, "", co, ci, 3, 3, 3);
        break;
    case VAE_HEAD: /* head.0 RMS_norm, head.1 SiLU, head.2 CausalConv3d */
        slot_gamma(o, &n, &l->gamma, l->name, ".0.gamma", ci, 4);
        slot_conv(o, &n, &l->conv, l->name, ".2", co, ci, 3, 3, 3);
        break;
    case VAE_RES:
        slot_gamma(o, &n, &l->gamma, l->name, ".residual.0.gamma", ci, 4);
        slot_conv(o, &n, &l->conv, l->name, ".residual.2", co, ci, 3, 3, 3);
        slot_gamma(o, &n, &l->gamma2, l->name, ".residual.3.gamma", co, 4);
        slot_conv(o, &n, &l->conv2, l->name, ".residual.6", co, co, 3, 3, 3);
        if (ci != co) slot_conv(o, &n, &l->shortcut, l->name, ".shortcut", co, ci, 1, 1, 1);
        break;
    case VAE_ATTN: /* 1x1 Conv2d used as Linear layers */
        slot_gamma(o, &n, &l->gamma, l->name, ".norm.gamma", ci, 3);
        slot_conv(o, &n, &l->conv, l->name, ".to_qkv", 3 * ci, ci, 0, 1, 1);
        slot_conv(o, &n, &l->conv2, l->name, ".proj", ci, ci, 0, 1, 1);
        break;
    case VAE_UP2D:
    case VAE_UP3D:
    case VAE_DOWN2D:
    case VAE_DOWN3D:
        slot_conv(o, &n, &l->conv, l->name, ".resample.1", co, ci, 0, 3, 3);
        if (l->kind == VAE_UP3D) slot_conv(o, &n, &l->time_conv, l->name, ".time_conv", 2 * ci, ci, 3, 1, 1);
        if (l->kind == VAE_DOWN3D) slot_conv(o, &n, &l->time_conv, l->name, ".time_conv", ci, ci, 3, 1, 1);
        break;
    }
    return n;
}

/* The top-level 1x1x1 conv of a half: conv2 [z, z] before the decoder,
 * conv1 [2z, 2z] after the encoder. */
static int top_slots(Vae *m, int dec, VaeSlot *o) {
    int n = 0;
    int64_t z = m->config.z_dim * (dec ? 1 : 2);
    slot_conv(o, &n, dec ? &m->conv2 : &m->conv1, dec ? "conv2" : "conv1", "", z, z, 1, 1, 1);
    return n;
}

static int put_slots(const VaeSlot *s, int ns, TensorSpec *out, int cap, int n) {
    for (int k = 0; k < ns; k++, n++)
        if (n < cap) out[n] = s[k].s;
    return n;
}

int vae_tensor_specs(const VaeConfig *c, TensorSpec *out, int cap) {
    Vae m;
    VaeLayer l;
    VaeSlot s[VAE_MAX_SLOTS];
    int n = 0;
    memset(&m, 0, sizeof m);
    m.config = *c;
    for (int j = 0; j < c->n_enc; j++) chain_layer(c, 0, j, &l), n = put_slots(s, layer_slots(&l, s), out, cap, n);
    if (c->n_enc) n = put_slots(s, top_slots(&m, 0, s), out, cap, n);
    if (c->n_dec) n = put_slots(s, top_slots(&m, 1, s), out, cap, n);
    for (int j = 0; j < c->n_dec; j++) chain_layer(c, 1, j, &l), n = put_slots(s, layer_slots(&l, s), out, cap, n);
    return n;
}

/* ============================================================================
 * Weights: binding the list (docs/MODEL.md 4.3) */

static int ecode(const T2vError *err) { return err && err->code ? err->code : T2V_EINPUT; }

static float *vec_f32(const TensorList *tl, int64_t n, const char *name, T2vError *err) {
    int64_t shape[1] = {n};
    const Tensor *t = tl_find(tl, name);
    /* gammas are [C,1,1,1] or [C,1,1], biases [C] */
    if (t && dtype_is_float(t->dtype) && tensor_numel(t) == n && t->ndim >= 1 && t->shape[0] == n) {
        float *v = t2v_malloc(sizeof(float) * (size_t)n, name, err);
        if (v) widen_scaled(v, t->data, t->dtype, t->scale, n);
        return v;
    }
    tl_require(tl, err, 1, shape, "%s", name); /* fills the message */
    if (t && err && !err->code) t2v_fail(err, T2V_EINPUT, "tensor '%s': expected %lld values", name, (long long)n);
    return NULL;
}

/* A weight becomes a 5-dim view [Cout, Cin, kt, kh, kw] (a Conv2d's kt = 1);
 * vectors are widened (any shape with C values, leading dim C). */
static int bind_slot(const VaeSlot *s, const TensorList *tl, T2vError *err) {
    if (s->vec) {
        *s->vec = vec_f32(tl, s->s.shape[0], s->s.name, err);
        return *s->vec ? T2V_OK : ecode(err);
    }
    const Tensor *t = tl_require(tl, err, s->s.ndim, s->s.shape, "%s", s->s.name);
    if (!t) return ecode(err);
    VaeConv *c = s->conv;
    c->w = *t;
    c->w.owned = 0;
    if (t->ndim == 4) {
        c->w.ndim = 5;
        c->w.shape[2] = 1, c->w.shape[3] = t->shape[2], c->w.shape[4] = t->shape[3];
    }
    c->cout = (int)t->shape[0];
    c->cin = (int)t->shape[1];
    return T2V_OK;
}

static int bind_slots(const VaeSlot *s, int n, const TensorList *tl, T2vError *err) {
    int rc = T2V_OK;
    for (int k = 0; k < n && !rc; k++) rc = bind_slot(&s[k], tl, err);
    return rc;
}

/* A half: its top-level conv, then its chain of layers. */
static int bind_half(Vae *m, const TensorList *tl, int dec, T2vError *err) {
    const VaeConfig *c = &m->config;
    VaeSlot s[VAE_MAX_SLOTS];
    int n = dec ? c->n_dec : c->n_enc, rc = bind_slots(s, top_slots(m, dec, s), tl, err);
    if (rc) return rc;
    VaeLayer *L = t2v_calloc((size_t)n, sizeof *L, "VAE layers", err);
    if (!L) return T2V_ERESOURCE;
    *(dec ? &m->dec : &m->enc) = L;
    for (int j = 0; j < n && !rc; j++) {
        chain_layer(c, dec, j, &L[j]);
        rc = bind_slots(s, layer_slots(&L[j], s), tl, err);
        if (L[j].kind == VAE_ATTN) L[j].conv.w.ndim = L[j].conv2.w.ndim = 2; /* Linear views [Cout, Cin] */
    }
    return rc;
}

int vae_build(Vae *m, const TensorList *tl, T2vError *err) {
    memset(m, 0, sizeof *m);
    int rc = vae_config_from_tensors(&m->config, tl, err);
    if (!rc && m->config.z_dim != VAE_Z_NORM)
        rc = t2v_fail(err, T2V_EINPUT, "VAE checkpoint: z_dim %d, expected %d (the latent normalisation of "
                                       "docs/MODEL.md 4.5 has %d channels)", m->config.z_dim, VAE_Z_NORM, VAE_Z_NORM);
    if (!rc && m->config.n_dec) rc = bind_half(m, tl, 1, err);
    if (!rc && m->config.n_enc) rc = bind_half(m, tl, 0, err);
    if (rc) vae_free(m);
    return rc;
}

static void free_layers(VaeLayer *L, int n) {
    for (int i = 0; L && i < n; i++) {
        free(L[i].gamma);
        free(L[i].gamma2);
        free(L[i].conv.b);
        free(L[i].conv2.b);
        free(L[i].shortcut.b);
        free(L[i].time_conv.b);
    }
    free(L);
}

void vae_free(Vae *m) {
    /* a failed build may have a partial chain: count its allocated entries */
    int nd = m->dec ? m->config.n_dec : 0, ne = m->enc ? m->config.n_enc : 0;
    free_layers(m->dec, nd);
    free_layers(m->enc, ne);
    free(m->conv1.b);
    free(m->conv2.b);
    memset(m, 0, sizeof *m);
}

/* ============================================================================
 * Run state: per-layer feature caches and the shared frame buffers */

typedef struct {
    float *f[2]; /* the last 2 input frames [C, hw], oldest first */
    int n;       /* how many are valid (0..2) */
} VaeCache;

typedef struct {
    int h, w;        /* size of the frames entering this layer */
    VaeCache c1, c2; /* RES: before residual.2 / residual.6; CONV, HEAD: conv; UP3D: time_conv */
    int seen;        /* UP3D, DOWN3D: the first frame has passed */
    int pending;     /* DOWN3D: a frame waits in window slot 1 */
    float *tbuf;     /* UP3D: time_conv output [2C, hw]; DOWN3D: window [C, 3, h'w'] */
} VaeLayerState;

typedef struct {
    VaeLayerState *ls;
    float *a, *b, *y; /* frame buffers, each the largest C*hw of the chain */
    float *s;         /* scratch: conv windows, upsampled frames, attention */
    float *inv;       /* per-pixel norm factors [largest hw] */
    char *block;      /* one allocation holding all of the above */
    /* sink */
    float *out;        /* [out_c, nout, oh, ow] */
    int out_c, oh, ow; /* channels and size of the frames the chain emits */
    int nout, fi;      /* output frames in all, next to write */
    const Vae *m;
} VaeRun;

typedef struct {
    int64_t frame, scratch, hw, state; /* floats */
} VaeSizes;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static int down_size(int n) { return (n + 1 - 3) / 2 + 1; }

/* Walks the chain from an h x w input, storing each layer's input size in ls
 * (when not NULL) and accumulating the buffer sizes; returns the output size. */
static void plan_chain(const VaeLayer *L, int n, int h, int w, VaeLayerState *ls, VaeSizes *s, int *oh, int *ow) {
    for (int i = 0; i < n; i++) {
        const VaeLayer *l = &L[i];
        int64_t hw = (int64_t)h * w, cmax = l->cin > l->cout ? l->cin : l->cout;
        if (ls) ls[i].h = h, ls[i].w = w;
        s->hw = max64(s->hw, hw);
        s->frame = max64(s->frame, cmax * hw);
        switch (l->kind) {
        case VAE_CONV:
        case VAE_HEAD:
            s->state += 2 * l->cin * hw;
            s->scratch = max64(s->scratch, 3 * l->cin * hw);
            break;
        case VAE_RES:
            s->state += 2 * (l->cin + l->cout) * hw;
            s->scratch = max64(s->scratch, 3 * cmax * hw);
            break;
        case VAE_ATTN:
            s->scratch = max64(s->scratch, 5 * l->cin * hw);
            break;
        case VAE_UP3D:
            s->state += 2 * l->cin * hw + 2 * l->cin * hw; /* cache + time_conv output */
            s->scratch = max64(s->scratch, 3 * l->cin * hw);
            /* fall through */
        case VAE_UP2D:
            h *= 2, w *= 2;
            s->scratch = max64(s->scratch, (int64_t)l->cin * h * w);
            s->frame = max64(s->frame, (int64_t)l->cout * h * w);
            break;
        case VAE_DOWN2D:
        case VAE_DOWN3D:
            h = down_size(h), w = down_size(w);
            if (l->kind == VAE_DOWN3D) s->state += 3 * (int64_t)l->cin * h * w;
            break;
        }
    }
    *oh = h;
    *ow = w;
}

static int cache_alloc(VaeCache *c, int64_t n, char **p) {
    c->f[0] = (float *)*p;
    c->f[1] = (float *)*p + n;
    *p += 2 * n * sizeof(float);
    c->n = 0;
    return 0;
}

/* Carves every buffer out of one block (sizes from plan_chain). */
static int run_init(VaeRun *r, const Vae *m, const VaeLayer *L, int n, int cin, int h, int w, T2vError *err) {
    memset(r, 0, sizeof *r);
    VaeSizes s = {(int64_t)cin * h * w, 0, (int64_t)h * w, 0}; /* the chain's input frame */
    int oh, ow;
    r->m = m;
    r->ls = t2v_calloc((size_t)n + 1, sizeof *r->ls, "VAE layer state", err);
    if (!r->ls) return T2V_ERESOURCE;
    plan_chain(L, n, h, w, r->ls, &s, &oh, &ow);
    r->oh = oh;
    r->ow = ow;
    size_t total = sizeof(float) * (size_t)(3 * s.frame + s.scratch + s.hw + s.state) + 64;
    r->block = t2v_malloc(total, "VAE working memory", err);
    if (!r->block) return T2V_ERESOURCE;
    char *p = r->block;
    r->a = (float *)p, p += sizeof(float) * (size_t)s.frame;
    r->b = (float *)p, p += sizeof(float) * (size_t)s.frame;
    r->y = (float *)p, p += sizeof(float) * (size_t)s.frame;
    r->s = (float *)p, p += sizeof(float) * (size_t)s.scratch;
    r->inv = (float *)p, p += sizeof(float) * (size_t)s.hw;
    for (int i = 0; i < n; i++) {
        const VaeLayer *l = &L[i];
        VaeLayerState *st = &r->ls[i];
        int64_t hw = (int64_t)st->h * st->w;
        switch (l->kind) {
        case VAE_CONV:
        case VAE_HEAD:
            cache_alloc(&st->c1, l->cin * hw, &p);
            break;
        case VAE_RES:
            cache_alloc(&st->c1, l->cin * hw, &p);
            cache_alloc(&st->c2, l->cout * hw, &p);
            break;
        case VAE_UP3D:
            cache_alloc(&st->c1, l->cin * hw, &p);
            st->tbuf = (float *)p, p += sizeof(float) * (size_t)(2 * l->cin * hw);
            break;
        case VAE_DOWN3D:
            st->tbuf = (float *)p;
            p += sizeof(float) * (size_t)(3 * l->cin * down_size(st->h) * down_size(st->w));
            break;
        default:
            break;
        }
    }
    return T2V_OK;
}

static void run_free(VaeRun *r) {
    free(r->block);
    free(r->ls);
    memset(r, 0, sizeof *r);
}

size_t vae_decode_memory(const Vae *m, int h, int w) {
    VaeSizes s = {(int64_t)m->config.z_dim * h * w, 0, (int64_t)h * w, 0};
    int oh, ow;
    if (!m->config.n_dec) return 0;
    plan_chain(m->dec, m->config.n_dec, h, w, NULL, &s, &oh, &ow);
    size_t bytes = sizeof(float) * (size_t)(3 * s.frame + s.scratch + s.hw + s.state);
    /* conv3d_forward's scratch for the largest weight (384 x 384 x 27 in
     * the official VAE) */
    int64_t wmax = 0, cmax = 0;
    for (int i = 0; i < m->config.n_dec; i++) {
        const Tensor *w[2] = {&m->dec[i].conv.w, &m->dec[i].conv2.w};
        for (int k = 0; k < 2; k++)
            if (w[k]->ndim) wmax = max64(wmax, tensor_numel(w[k])), cmax = max64(cmax, w[k]->shape[0]);
    }
    return bytes + conv3d_scratch_bytes(cmax, wmax);
}

/* ============================================================================
 * Kernels on frames [C, hw] */

/* RMS_norm (docs/MODEL.md 4.2): x / max(||x||_2 over channels, 1e-12) * sqrt(C) * gamma,
 * then SiLU when silu != 0. out[c*cs + p*ps]: the caller picks the layout
 * (a window slot, ps = 1, or tokens-major for the attention, which takes no
 * SiLU: silu is ignored when ps != 1). */
static void norm_forward(float *out, int64_t cs, int64_t ps, const float *x, const float *gamma, int C,
                         int64_t hw, int silu, float *inv) {
    const double sc = sqrt((double)C);
#pragma omp parallel for schedule(static) /* 64 pixels a task: 16 at 32 x 32 */
    for (int64_t p0 = 0; p0 < hw; p0 += 64) {
        double ss[64];
        int np = hw - p0 < 64 ? (int)(hw - p0) : 64;
        for (int j = 0; j < np; j++) ss[j] = 0.0;
        for (int c = 0; c < C; c++) {
            const float *xc = x + (size_t)c * hw + p0;
            for (int j = 0; j < np; j++) ss[j] += (double)xc[j] * xc[j];
        }
        for (int j = 0; j < np; j++) {
            double nrm = sqrt(ss[j]);
            inv[p0 + j] = (float)(sc / (nrm > 1e-12 ? nrm : 1e-12));
        }
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * hw;
        float g = gamma[c], *oc = out + (size_t)c * cs;
        if (ps != 1) { /* tokens-major, the attention's input: never followed by SiLU */
            for (int64_t p = 0; p < hw; p++) oc[p * ps] = xc[p] * inv[p] * g;
            continue;
        }
        for (int64_t p = 0; p < hw; p++) oc[p] = xc[p] * inv[p] * g;
        if (silu) silu_inplace(oc, hw);
    }
}

/* Copies the n cached frames into window slots 0..n-1 of win [C, n+1, hw]. */
static void cache_to_window(float *win, const VaeCache *c, int C, int64_t hw) {
    int64_t st = (int64_t)(c->n + 1) * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < C; ch++)
        for (int k = 0; k < c->n; k++)
            memcpy(win + ch * st + k * hw, c->f[k] + ch * hw, sizeof(float) * (size_t)hw);
}

/* Keeps the window's newest frame (slot n) as the cache's newest frame. */
static void cache_push(VaeCache *c, const float *win, int C, int64_t hw) {
    int64_t st = (int64_t)(c->n + 1) * hw, slot = (int64_t)c->n * hw;
    float *dst;
    if (c->n < 2) {
        dst = c->f[c->n++];
    } else {
        float *t = c->f[0];
        c->f[0] = c->f[1];
        c->f[1] = t;
        dst = t;
    }
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < C; ch++) memcpy(dst + ch * hw, win + ch * st + slot, sizeof(float) * (size_t)hw);
}

/* CausalConv3d on one new frame that the caller wrote into window slot
 * c->n of win [Cin, c->n+1, h*w]: front zero padding 2 - n in time, kh/2 in
 * space (docs/MODEL.md 4.2). out [Cout, h*w]. Then the new frame joins the cache. */
static int causal_conv(float *out, float *win, VaeCache *c, const VaeConv *cv, int h, int w, T2vError *err) {
    int64_t hw = (int64_t)h * w;
    int kh = (int)cv->w.shape[3], kw = (int)cv->w.shape[4], kt = (int)cv->w.shape[2];
    Conv3dParams p = {kt, kh, kw, 1, 1, 1, (kt - 1) - c->n, 0, kh / 2, kh / 2, kw / 2, kw / 2};
    cache_to_window(win, c, cv->cin, hw);
    int rc = conv3d_forward(out, win, cv->cin, c->n + 1, h, w, &cv->w, cv->b, &p, err);
    if (!rc) cache_push(c, win, cv->cin, hw);
    return rc;
}

/* Stride of a channel in the window: where the caller writes the new frame. */
static int64_t win_stride(const VaeCache *c, int h, int w) { return (int64_t)(c->n + 1) * h * w; }
static float *win_slot(float *win, const VaeCache *c, int h, int w) { return win + (int64_t)c->n * h * w; }

/* A 1x1x1 conv on one frame (conv2, conv1, shortcut). */
static int pointwise(float *out, const float *x, const VaeConv *cv, int64_t hw, T2vError *err) {
    Conv3dParams p = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    return conv3d_forward(out, x, cv->cin, 1, 1, (int)hw, &cv->w, cv->b, &p, err);
}

/* ResidualBlock (docs/MODEL.md 4.2): out = conv6(silu(norm3(conv2(silu(norm0(x)))))) + shortcut(x). */
static int res_forward(float *out, const float *x, const VaeLayer *L, VaeLayerState *st, VaeRun *r, T2vError *err) {
    int h = st->h, w = st->w, rc;
    int64_t hw = (int64_t)h * w;
    norm_forward(win_slot(r->s, &st->c1, h, w), win_stride(&st->c1, h, w), 1, x, L->gamma, L->cin, hw, 1, r->inv);
    if ((rc = causal_conv(r->y, r->s, &st->c1, &L->conv, h, w, err))) return rc;               /* residual.2 */
    norm_forward(win_slot(r->s, &st->c2, h, w), win_stride(&st->c2, h, w), 1, r->y, L->gamma2, L->cout, hw, 1,
                 r->inv);
    if ((rc = causal_conv(out, r->s, &st->c2, &L->conv2, h, w, err))) return rc;               /* residual.6 */
    const float *sc = x;
    if (L->shortcut.w.data) {
        if ((rc = pointwise(r->y, x, &L->shortcut, hw, err))) return rc;
        sc = r->y;
    }
    int64_t n = (int64_t)L->cout * hw;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] += sc[i];
    return T2V_OK;
}

/* AttentionBlock (docs/MODEL.md 4.2): single head over the h*w positions of the frame. */
static int attn_forward(float *out, const float *x, const VaeLayer *L, VaeLayerState *st, VaeRun *r) {
    int C = L->cin;
    int64_t hw = (int64_t)st->h * st->w;
    float *xt = r->s, *qkv = xt + C * hw, *att = qkv + 3 * C * hw; /* [hw,C], [hw,3C], [hw,C] */
    norm_forward(xt, 1, C, x, L->gamma, C, hw, 0, r->inv);
    linear_forward(qkv, xt, &L->conv.w, L->conv.b, (int)hw, NULL);                 /* to_qkv */
    attention_forward(att, C, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, (int)hw, (int)hw, 1, C,
                      (float)(1.0 / sqrt((double)C)), NULL);
    linear_forward(xt, att, &L->conv2.w, L->conv2.b, (int)hw, NULL);               /* proj */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int64_t p = 0; p < hw; p++) out[c * hw + p] = x[c * hw + p] + xt[p * C + c];
    return T2V_OK;
}

/* Nearest x2 in H and W into r->s, then resample.1 (Conv2d 3x3, pad 1). */
static int up_spatial(float *out, const float *x, const VaeLayer *L, int h, int w, VaeRun *r, T2vError *err) {
    int H = 2 * h, W = 2 * w;
    float *u = r->s;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < L->cin; c++)
        for (int i = 0; i < H; i++) {
            const float *src = x + ((int64_t)c * h + i / 2) * w;
            float *dst = u + ((int64_t)c * H + i) * W;
            for (int j = 0; j < W; j++) dst[j] = src[j / 2];
        }
    Conv3dParams p = {1, 3, 3, 1, 1, 1, 0, 0, 1, 1, 1, 1};
    return conv3d_forward(out, u, L->cin, 1, H, W, &L->conv.w, L->conv.b, &p, err);
}

/* Zero pad right/bottom by 1, resample.1 (Conv2d 3x3, stride 2). */
static int down_spatial(float *out, const float *x, const VaeLayer *L, int h, int w, T2vError *err) {
    Conv3dParams p = {1, 3, 3, 1, 2, 2, 0, 0, 0, 1, 0, 1};
    return conv3d_forward(out, x, L->cin, 1, h, w, &L->conv.w, L->conv.b, &p, err);
}

/* downsample3d (docs/MODEL.md 4.4, encoding): spatial first; the first frame passes
 * through and stays cached; then every second frame emits
 * time_conv(last, pending, new) (kernel 3, stride 2, no padding) and becomes
 * the new "last". Window st->tbuf [C, 3, h'w']: slots last, pending, new. */
static int down3d_forward(float *out, const float *x, const VaeLayer *l, VaeLayerState *st, int *emit,
                          T2vError *err) {
    int64_t hw2 = (int64_t)down_size(st->h) * down_size(st->w);
    float *win = st->tbuf;
    int rc = down_spatial(out, x, l, st->h, st->w, err);
    if (rc) return rc;
    int slot = !st->seen ? 0 : st->pending ? 2 : 1;
    for (int c = 0; c < l->cin; c++) memcpy(win + (c * 3 + slot) * hw2, out + c * hw2, sizeof(float) * (size_t)hw2);
    *emit = !st->seen || st->pending;
    if (!st->seen) {
        st->seen = 1;
        return T2V_OK;
    }
    if (!st->pending) {
        st->pending = 1;
        return T2V_OK;
    }
    Conv3dParams p = {3, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, 0};
    if ((rc = conv3d_forward(out, win, l->cin, 3, 1, (int)hw2, &l->time_conv.w, l->time_conv.b, &p, err))) return rc;
    for (int c = 0; c < l->cin; c++) memcpy(win + c * 3 * hw2, win + (c * 3 + 2) * hw2, sizeof(float) * (size_t)hw2);
    st->pending = 0;
    return T2V_OK;
}

/* ============================================================================
 * The chains, one frame at a time */

typedef int (*VaeSink)(VaeRun *r, const float *x, T2vError *err);

static float *other(VaeRun *r, const float *x) { return x == r->a ? r->b : r->a; }

/* Pushes frame x [L[i].cin, h*w] through layers i..n-1 and the sink. */
static int chain_run(VaeRun *r, const VaeLayer *L, int n, int i, float *x, VaeSink sink, T2vError *err) {
    if (i == n) return sink(r, x, err);
    const VaeLayer *l = &L[i];
    VaeLayerState *st = &r->ls[i];
    int h = st->h, w = st->w, rc = T2V_OK;
    int64_t hw = (int64_t)h * w;
    float *out = other(r, x);
    switch (l->kind) {
    case VAE_CONV:
    case VAE_HEAD:
        if (l->kind == VAE_HEAD) /* head.0 RMS_norm, head.1 SiLU */
            norm_forward(win_slot(r->s, &st->c1, h, w), win_stride(&st->c1, h, w), 1, x, l->gamma, l->cin, hw, 1,
                         r->inv);
        else
            for (int c = 0; c < l->cin; c++)
                memcpy(win_slot(r->s, &st->c1, h, w) + c * win_stride(&st->c1, h, w), x + c * hw,
                       sizeof(float) * (size_t)hw);
        rc = causal_conv(out, r->s, &st->c1, &l->conv, h, w, err);
        break;
    case VAE_RES:
        rc = res_forward(out, x, l, st, r, err);
        break;
    case VAE_ATTN:
        rc = attn_forward(out, x, l, st, r);
        break;
    case VAE_UP2D:
        rc = up_spatial(out, x, l, h, w, r, err);
        break;
    case VAE_UP3D:
        if (!st->seen) { /* the first frame skips time_conv (the 'Rep' chunk, docs/MODEL.md 4.4) */
            st->seen = 1;
            rc = up_spatial(out, x, l, h, w, r, err);
            break;
        }
        for (int c = 0; c < l->cin; c++)
            memcpy(win_slot(r->s, &st->c1, h, w) + c * win_stride(&st->c1, h, w), x + c * hw,
                   sizeof(float) * (size_t)hw);
        if ((rc = causal_conv(st->tbuf, r->s, &st->c1, &l->time_conv, h, w, err))) return rc;
        /* channels [0,C) are frame 2t, [C,2C) frame 2t+1 */
        for (int k = 0; k < 2; k++) {
            out = other(r, NULL);
            if ((rc = up_spatial(out, st->tbuf + (int64_t)k * l->cin * hw, l, h, w, r, err))) return rc;
            if ((rc = chain_run(r, L, n, i + 1, out, sink, err))) return rc;
        }
        return T2V_OK;
    case VAE_DOWN2D:
        rc = down_spatial(out, x, l, h, w, err);
        break;
    case VAE_DOWN3D: {
        int emit = 0;
        if ((rc = down3d_forward(out, x, l, st, &emit, err)) || !emit) return rc;
        break;
    }
    }
    if (rc) return rc;
    return chain_run(r, L, n, i + 1, out, sink, err);
}

/* Stores frame x [out_c, oh*ow] as frame fi of r->out [out_c, nout, oh, ow];
 * clamp != 0: clamped to [-1, 1] (the decoder's last step). */
static int store_frame(VaeRun *r, const float *x, int clamp, T2vError *err) {
    int64_t hw = (int64_t)r->oh * r->ow;
    if (r->fi >= r->nout)
        return t2v_fail(err, T2V_EINPUT, "VAE: the chain produced more than the %d frames expected", r->nout);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < r->out_c; c++) {
        float *dst = r->out + ((int64_t)c * r->nout + r->fi) * hw;
        const float *src = x + c * hw;
        for (int64_t p = 0; p < hw; p++)
            dst[p] = !clamp ? src[p] : src[p] < -1.0f ? -1.0f : src[p] > 1.0f ? 1.0f : src[p];
    }
    r->fi++;
    return T2V_OK;
}

static int video_sink(VaeRun *r, const float *x, T2vError *err) { return store_frame(r, x, 1, err); }

/* Runs conv2 and the first n decoder layers on z [z_dim, T, h, w] one latent
 * frame at a time, emitting nout frames of out_c channels into out. */
static int decode_chain(Vae *m, int n, const float *z, int T, int h, int w, VaeSink sink, float *out, int out_c,
                        int nout, VaeProgress cb, void *user, T2vError *err) {
    VaeRun r;
    int rc = run_init(&r, m, m->dec, n, m->config.z_dim, h, w, err);
    int64_t hw = (int64_t)h * w, Z = m->config.z_dim;
    r.out = out;
    r.out_c = out_c;
    r.nout = nout;
    for (int t = 0; t < T && !rc; t++) {
        /* z / (1/std) + mean (docs/MODEL.md 4.5), then conv2: both per frame */
        float *zt = r.y;
        for (int ch = 0; ch < Z; ch++) {
            float inv = 1.0f / VAE_STD[ch];
            for (int64_t p = 0; p < hw; p++) zt[ch * hw + p] = z[(ch * T + t) * hw + p] / inv + VAE_MEAN[ch];
        }
        rc = pointwise(r.a, zt, &m->conv2, hw, err);
        if (!rc) rc = chain_run(&r, m->dec, n, 0, r.a, sink, err);
        if (!rc && cb) cb(user, t + 1, T);
    }
    if (!rc && r.fi != r.nout)
        rc = t2v_fail(err, T2V_EINPUT, "VAE decode: produced %d frames, expected %d", r.fi, r.nout);
    run_free(&r);
    return rc;
}

int vae_decode(Vae *m, const float *z, int T, int h, int w, float *video, VaeProgress cb, void *user,
               T2vError *err) {
    const VaeConfig *c = &m->config;
    if (!c->n_dec) return t2v_fail(err, T2V_EINPUT, "VAE decode: the checkpoint has no decoder");
    if (T < 1 || h < 1 || w < 1)
        return t2v_fail(err, T2V_EINPUT, "VAE decode: latent [%d, %d, %d, %d] is empty", c->z_dim, T, h, w);
    int F, H, W;
    vae_video_size(c, T, h, w, &F, &H, &W);
    return decode_chain(m, c->n_dec, z, T, h, w, video_sink, video, 3, F, cb, user, err);
}

/* Encoder sink: conv1 (1x1x1), keep mu = channels [0, z), normalise (docs/MODEL.md 4.5)
 * and store as latent frame fi. */
static int latent_sink(VaeRun *r, const float *x, T2vError *err) {
    const Vae *m = r->m;
    int64_t hw = (int64_t)r->oh * r->ow, Z = m->config.z_dim;
    int rc = pointwise(r->y, x, &m->conv1, hw, err);
    if (rc) return rc;
    for (int c = 0; c < Z; c++) {
        float inv = 1.0f / VAE_STD[c];
        for (int64_t p = 0; p < hw; p++) r->y[c * hw + p] = (r->y[c * hw + p] - VAE_MEAN[c]) * inv;
    }
    return store_frame(r, r->y, 0, err);
}

/* The frames of an F-frame video the encoder uses: 1 + scale_t*k, the
 * largest such that fits (the rest are dropped, as officially). */
static int encoder_frames(const VaeConfig *c, int F) { return 1 + c->scale_t * ((F - 1) / c->scale_t); }

/* Feeds the encoder_frames of video [3, F, H, W] through the first n
 * encoder layers. */
static int encode_chain(Vae *m, int n, const float *video, int F, int H, int W, VaeSink sink, float *out,
                        int out_c, int nout, T2vError *err) {
    VaeRun r;
    int rc = run_init(&r, m, m->enc, n, 3, H, W, err);
    int64_t HW = (int64_t)H * W;
    int Fuse = encoder_frames(&m->config, F);
    r.out = out;
    r.out_c = out_c;
    r.nout = nout;
    for (int f = 0; f < Fuse && !rc; f++) {
        for (int ch = 0; ch < 3; ch++)
            memcpy(r.a + ch * HW, video + ((int64_t)ch * F + f) * HW, sizeof(float) * (size_t)HW);
        rc = chain_run(&r, m->enc, n, 0, r.a, sink, err);
    }
    if (!rc && r.fi != r.nout)
        rc = t2v_fail(err, T2V_EINPUT, "VAE encode: produced %d frames, expected %d", r.fi, r.nout);
    run_free(&r);
    return rc;
}

int vae_encode(Vae *m, const float *video, int F, int H, int W, float *z, T2vError *err) {
    const VaeConfig *c = &m->config;
    if (!c->n_enc) return t2v_fail(err, T2V_EINPUT, "VAE encode: the checkpoint has no encoder");
    int T, h, w;
    if (F < 1 || H < c->scale_s || W < c->scale_s || H % c->scale_s || W % c->scale_s)
        return t2v_fail(err, T2V_EINPUT, "VAE encode: video [3, %d, %d, %d]: expected at least 1 frame and "
                        "H, W multiples of %d", F, H, W, c->scale_s);
    vae_latent_size(c, F, H, W, &T, &h, &w);
    return encode_chain(m, c->n_enc, video, F, H, W, latent_sink, z, c->z_dim, T, err);
}

/* ============================================================================
 * Per-layer access (tests, dumps) */

const char *vae_layer_name(const Vae *m, int dec, int i) {
    int n = dec ? m->config.n_dec : m->config.n_enc;
    if (i < 0 || i >= n) return dec ? "conv2" : "video";
    return (dec ? m->dec : m->enc)[i].name;
}

void vae_stage_shape(const Vae *m, int dec, int n, int T, int h, int w, int shape[4]) {
    const VaeLayer *L = dec ? m->dec : m->enc;
    VaeSizes s = {0, 0, 0, 0};
    int oh, ow, f = dec ? T : encoder_frames(&m->config, T);
    plan_chain(L, n, h, w, NULL, &s, &oh, &ow);
    for (int i = 0; i < n; i++) {
        if (L[i].kind == VAE_UP3D) f = 1 + 2 * (f - 1);
        if (L[i].kind == VAE_DOWN3D) f = 1 + (f - 1) / 2;
    }
    shape[0] = n ? L[n - 1].cout : dec ? m->config.z_dim : 3;
    shape[1] = f;
    shape[2] = oh;
    shape[3] = ow;
}

static int stage_sink(VaeRun *r, const float *x, T2vError *err) { return store_frame(r, x, 0, err); }

int vae_decode_stage(Vae *m, int n, const float *z, int T, int h, int w, float *out, T2vError *err) {
    int shape[4];
    if (n < 0 || n > m->config.n_dec)
        return t2v_fail(err, T2V_EUSAGE, "VAE decode: no decoder layer %d (%d layers)", n, m->config.n_dec);
    vae_stage_shape(m, 1, n, T, h, w, shape);
    return decode_chain(m, n, z, T, h, w, stage_sink, out, shape[0], shape[1], NULL, NULL, err);
}

int vae_encode_stage(Vae *m, int n, const float *video, int F, int H, int W, float *out, T2vError *err) {
    int shape[4];
    if (n < 0 || n > m->config.n_enc)
        return t2v_fail(err, T2V_EUSAGE, "VAE encode: no encoder layer %d (%d layers)", n, m->config.n_enc);
    vae_stage_shape(m, 0, n, F, H, W, shape);
    return encode_chain(m, n, video, F, H, W, stage_sink, out, shape[0], shape[1], err);
}

/* ============================================================================
 * Latent preview (ComfyUI Latent2RGB) */

/* ComfyUI comfy/latent_formats.py, class Wan21 (latent_rgb_factors, bias). */
const VaePreview vae_preview_wan21 = {
    16,
    {{-0.1299f, -0.1692f, 0.2932f},
     {0.0671f, 0.0406f, 0.0442f},
     {0.3568f, 0.2548f, 0.1747f},
     {0.0372f, 0.2344f, 0.1420f},
     {0.0313f, 0.0189f, -0.0328f},
     {0.0296f, -0.0956f, -0.0665f},
     {-0.3477f, -0.4059f, -0.2925f},
     {0.0166f, 0.1902f, 0.1975f},
     {-0.0412f, 0.0267f, -0.1364f},
     {-0.1293f, 0.0740f, 0.1636f},
     {0.0680f, 0.3019f, 0.1128f},
     {0.0032f, 0.0581f, 0.0639f},
     {-0.1251f, 0.0927f, 0.1699f},
     {0.0060f, -0.0633f, 0.0005f},
     {0.3477f, 0.2275f, 0.2950f},
     {0.1984f, 0.0913f, 0.1861f}},
    {-0.1835f, -0.0868f, -0.3360f},
};

const VaePreview *vae_preview_default(const VaeConfig *c) {
    return c->z_dim == vae_preview_wan21.channels ? &vae_preview_wan21 : NULL;
}

int vae_preview_from_list(VaePreview *p, int channels, const float *v, int n, T2vError *err) {
    if (channels < 1 || channels > VAE_MAX_Z || n != 3 * channels + 3)
        return t2v_fail(err, T2V_EINPUT, "latent preview: %d factors for %d channels, expected %d x 3 weights "
                        "then 3 biases (1..%d channels)", n, channels, channels, VAE_MAX_Z);
    memset(p, 0, sizeof *p);
    p->channels = channels;
    for (int c = 0; c < channels; c++)
        for (int k = 0; k < 3; k++) p->rgb[c][k] = v[3 * c + k];
    for (int k = 0; k < 3; k++) p->bias[k] = v[3 * channels + k];
    return T2V_OK;
}

static int preview_check(const VaePreview *p, int C, int T, int frame, T2vError *err) {
    if (C != p->channels)
        return t2v_fail(err, T2V_EUSAGE, "latent preview: the factors map %d channels, the latent has %d",
                        p->channels, C);
    if (frame < 0 || frame >= T)
        return t2v_fail(err, T2V_EUSAGE, "latent preview: frame %d outside 0..%d", frame, T - 1);
    return T2V_OK;
}

/* bias + sum_c latent[c] * rgb[c] at pixel i of the frame, in channel order. */
static void preview_pixel(const VaePreview *p, const float *latent, int T, size_t hw, int frame, size_t i,
                          float px[3]) {
    for (int k = 0; k < 3; k++) {
        float acc = p->bias[k];
        for (int c = 0; c < p->channels; c++) acc += latent[((size_t)c * T + frame) * hw + i] * p->rgb[c][k];
        px[k] = acc;
    }
}

int vae_preview_f32(const VaePreview *p, const float *latent, int C, int T, int h, int w, int frame,
                    float *out, T2vError *err) {
    int rc = preview_check(p, C, T, frame, err);
    size_t hw = (size_t)h * w;
    for (size_t i = 0; !rc && i < hw; i++) preview_pixel(p, latent, T, hw, frame, i, out + 3 * i);
    return rc;
}

int vae_preview_rgb(const VaePreview *p, const float *latent, int C, int T, int h, int w, int frame,
                    uint8_t *rgb, T2vError *err) {
    int rc = preview_check(p, C, T, frame, err);
    size_t hw = (size_t)h * w;
    for (size_t i = 0; !rc && i < hw; i++) {
        float px[3]; /* one pixel at a time: no scratch buffer */
        preview_pixel(p, latent, T, hw, frame, i, px);
        for (int k = 0; k < 3; k++) {
            float x = px[k];
            if (x != x) x = -1.0f;
            x = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
            rgb[3 * i + k] = (uint8_t)floorf((x + 1.0f) * 127.5f + 0.5f);
        }
    }
    return rc;
}
