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
#include <stdarg.h>
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
/* The Wan2.2 VAE's (z_dim 48): Wan2_2_VAE.__init__ in the official vae2_2.py */
static const float VAE22_MEAN[48] = {
    -0.2289f, -0.0052f, -0.1323f, -0.2339f, -0.2799f, 0.0174f,  0.1838f,  0.1557f,  -0.1382f, 0.0542f,
    0.2813f,  0.0891f,  0.1570f,  -0.0098f, 0.0375f,  -0.1825f, -0.2246f, -0.1207f, -0.0698f, 0.5109f,
    0.2665f,  -0.2108f, -0.2158f, 0.2502f,  -0.2055f, -0.0322f, 0.1109f,  0.1567f,  -0.0729f, 0.0899f,
    -0.2799f, -0.1230f, -0.0313f, -0.1649f, 0.0117f,  0.0723f,  -0.2839f, -0.2083f, -0.0520f, 0.3748f,
    0.0152f,  0.1957f,  0.1433f,  -0.2944f, 0.3573f,  -0.0548f, -0.1681f, -0.0667f};
static const float VAE22_STD[48] = {
    0.4765f, 1.0364f, 0.4514f, 1.1677f, 0.5313f, 0.4990f, 0.4818f, 0.5013f, 0.8158f, 1.0344f,
    0.5894f, 1.0901f, 0.6885f, 0.6165f, 0.8454f, 0.4978f, 0.5759f, 0.3523f, 0.7135f, 0.6804f,
    0.5833f, 1.4146f, 0.8986f, 0.5659f, 0.7069f, 0.5338f, 0.4889f, 0.4917f, 0.4069f, 0.4999f,
    0.6866f, 0.4093f, 0.5709f, 0.6065f, 0.6415f, 0.4944f, 0.5726f, 1.2042f, 0.5458f, 1.6887f,
    0.3971f, 1.0600f, 0.3943f, 0.5537f, 0.5444f, 0.4089f, 0.7468f, 0.7744f};

/* The latent normalisation of a z_dim (docs/MODEL.md 4.5): 0 when none is known. */
static int latent_norm(int z_dim, const float **mean, const float **std) {
    *mean = VAE_MEAN, *std = VAE_STD; /* Wan2.1 */
    if (z_dim == 48) *mean = VAE22_MEAN, *std = VAE22_STD;
    return z_dim == 16 || z_dim == 48;
}

/* ============================================================================
 * Configuration (docs/MODEL.md 4.3) and the latent's geometry */

#define VAE_MAX_CH (1 << 16) /* channels above this are refused (no real VAE comes near) */

static int build_chain(const VaeConfig *c, int dec, VaeLayer *L);
static int chain_len(const VaeConfig *c, int dec) { return build_chain(c, dec, NULL); }
static int base_dim(const VaeConfig *c, int dec) { return dec ? c->dec_dim : c->dim; }

static void finish_config(VaeConfig *c, int dec, int enc) {
    c->dec_top = dec ? c->dec_dim * c->dim_mult[c->n_stages - 1] : 0;
    c->enc_top = enc ? c->dim * c->dim_mult[c->n_stages - 1] : 0;
    c->n_dec = dec ? chain_len(c, 1) : 0;
    c->n_enc = enc ? chain_len(c, 0) : 0;
    c->scale_s = c->patch, c->scale_t = 1;
    for (int i = 0; i + 1 < c->n_stages; i++) {
        c->scale_s *= 2;
        if (c->temporal_down[i]) c->scale_t *= 2;
    }
}

void vae_default_config(VaeConfig *c) {
    static const int mult[4] = {1, 2, 4, 4}, tdown[3] = {0, 1, 1};
    memset(c, 0, sizeof *c);
    c->dim = c->dec_dim = 96, c->z_dim = 16, c->n_stages = 4, c->num_res_blocks = 2, c->patch = 1;
    for (int i = 0; i < 4; i++) c->dim_mult[i] = mult[i];
    for (int i = 0; i < 3; i++) c->temporal_down[i] = tdown[i];
    finish_config(c, 1, 1);
}

void vae22_default_config(VaeConfig *c) {
    vae_default_config(c);
    c->dim = 160, c->dec_dim = 256, c->z_dim = 48, c->patch = 2, c->grouped = 1;
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

/* The Wan2.2 layout: group i is BLK.i.SUB.j (j < per residual blocks, then a
 * Resample at j = per in every group but the last). c->dim must be set. */
static int read_groups(VaeConfig *c, const TensorList *tl, int dec, T2vError *err) {
    const char *blk = dec ? "decoder.upsamples" : "encoder.downsamples", *sub = dec ? "upsamples" : "downsamples";
    int n = 0, per = -1, last = 0;
    for (; n < VAE_MAX_STAGES + 1 && !last; n++) {
        const Tensor *r = tl_findf(tl, "%s.%d.%s.0.residual.2.weight", blk, n, sub);
        if (!r) break;
        if (n == VAE_MAX_STAGES)
            return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s: more than %d groups", blk, VAE_MAX_STAGES);
        int j = 0;
        while (tl_findf(tl, "%s.%d.%s.%d.residual.2.weight", blk, n, sub, j)) j++;
        if (per >= 0 && j != per)
            return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s.%d: %d residual blocks, group 0 has %d", blk, n, j,
                            per);
        if (r->ndim < 1 || r->shape[0] < 1 || r->shape[0] > VAE_MAX_CH || r->shape[0] % c->dim)
            return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s.%d.%s.0.residual.2.weight: expected a multiple "
                            "of dim %d output channels", blk, n, sub, c->dim);
        per = j;
        c->dim_mult[n] = (int)(r->shape[0] / c->dim);
        last = !tl_findf(tl, "%s.%d.%s.%d.resample.1.weight", blk, n, sub, j);
        c->temporal_down[n] = !last && tl_findf(tl, "%s.%d.%s.%d.time_conv.weight", blk, n, sub, j);
    }
    if (n == 0 || !last)
        return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s: expected groups of residual blocks with a "
                        "resample after all but the last (the Wan2.2 layout)", blk);
    c->n_stages = n;
    c->num_res_blocks = dec ? per - 1 : per;
    if (dec) { /* the decoder's groups run the encoder's stages in reverse */
        int m[VAE_MAX_STAGES], t[VAE_MAX_STAGES];
        for (int i = 0; i < n; i++) m[i] = c->dim_mult[i], t[i] = c->temporal_down[i];
        for (int i = 0; i < n; i++) c->dim_mult[n - 1 - i] = m[i];
        for (int i = 0; i + 1 < n; i++) c->temporal_down[n - 2 - i] = t[i];
        c->temporal_down[n - 1] = 0;
    }
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
    c->z_dim = (int)zc, c->dim = c->dec_dim = (int)d->shape[0];
    /* Wan2.2: grouped blocks; the pixels folded 2x2 (12 = 3 * 2 * 2 channels at
     * encoder.conv1 / out of decoder.head.2) */
    c->grouped = tl_findf(tl, "%s.0.%s.0.residual.2.weight", dec ? "decoder.upsamples" : "encoder.downsamples",
                          dec ? "upsamples" : "downsamples") != NULL;
    const Tensor *px = tl_find(tl, dec ? "decoder.head.2.weight" : "encoder.conv1.weight");
    int64_t pc = px && px->ndim == 5 ? px->shape[dec ? 0 : 1] : 3;
    c->patch = pc == 12 ? 2 : 1;
    if (pc != 3 && pc != 12)
        return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s: %lld pixel channels, expected 3 (Wan2.1) or 12 "
                        "(Wan2.2's 2x2 patches)", dec ? "decoder.head.2.weight" : "encoder.conv1.weight",
                        (long long)pc);
    return c->grouped ? read_groups(c, tl, dec, err) : read_stages(c, tl, dec, err);
}

static int same_half(const VaeConfig *a, const VaeConfig *b) {
    /* Wan2.2's decoder has its own width; Wan2.1's halves share one */
    int same = (a->grouped || a->dim == b->dim) && a->z_dim == b->z_dim && a->n_stages == b->n_stages &&
               a->num_res_blocks == b->num_res_blocks && a->patch == b->patch && a->grouped == b->grouped;
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
    if (!rc && enc && dec) c->dim = e.dim; /* c->dec_dim stays the decoder's */
    if (!rc && enc && dec && !same_half(c, &e))
        rc = t2v_fail(err, T2V_EINPUT, "VAE checkpoint: the encoder and the decoder disagree on dim, z_dim, "
                                       "stages, residual blocks or layout (Wan2.1 / Wan2.2)");
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

/* Appends a layer to L (counting only when L is NULL). */
static VaeLayer *add_layer(VaeLayer *L, int *n, VaeKind kind, int cin, int cout, const char *fmt, ...) {
    VaeLayer *l = L ? &L[*n] : NULL;
    (*n)++;
    if (!l) return NULL;
    va_list ap;
    memset(l, 0, sizeof *l);
    l->kind = kind, l->cin = cin, l->cout = cout;
    va_start(ap, fmt);
    vsnprintf(l->name, sizeof l->name, fmt, ap);
    va_end(ap);
    return l;
}

/* Stage i of a half (docs/MODEL.md 4.3): per residual blocks, then (but the
 * last stage) a resample. Decoder stage i has dim_mult[n-1-i] (the
 * encoder's in reverse). Wan2.1 names the blocks BLK.k in one run and its
 * decoder upsamples halve the channels; Wan2.2 names them BLK.i.SUB.j, keeps
 * the channels, and wraps the stage in a group: SAVE first, then (every
 * encoder group, every decoder group that upsamples) the average shortcut,
 * named after the group (docs/ARCHITECTURE.md, Wan2.2). */
static void add_stage(const VaeConfig *c, int dec, int i, int in, VaeLayer *L, int *n, int *k) {
    int ns = c->n_stages, per = dec ? c->num_res_blocks + 1 : c->num_res_blocks, last = i == ns - 1;
    int out = base_dim(c, dec) * c->dim_mult[dec ? ns - 1 - i : i], t = !last && c->temporal_down[dec ? ns - 2 - i : i];
    const char *blk = dec ? "decoder.upsamples" : "encoder.downsamples", *sub = dec ? "upsamples" : "downsamples";
    int save = *n, shortcut = c->grouped && (!dec || !last);
    if (shortcut) add_layer(L, n, VAE_SAVE, in, in, "%s.%d.avg_shortcut", blk, i);
    for (int r = 0; r <= per; r++) {
        VaeKind kind = r < per ? VAE_RES : dec ? (t ? VAE_UP3D : VAE_UP2D) : (t ? VAE_DOWN3D : VAE_DOWN2D);
        int ci = r == 0 ? in : out, co = r < per || !dec || c->grouped ? out : out / 2;
        if (r == per && last) break;
        if (c->grouped) add_layer(L, n, kind, ci, co, "%s.%d.%s.%d", blk, i, sub, r);
        else add_layer(L, n, kind, ci, co, "%s.%d", blk, (*k)++);
    }
    if (!shortcut) return;
    VaeLayer *l = add_layer(L, n, dec ? VAE_DUPUP : VAE_AVGDOWN, out, out, "%s.%d", blk, i);
    if (l) l->src = save, l->ft = t ? 2 : 1, l->fs = last ? 1 : 2;
}

/* The layers of a half in run order (docs/MODEL.md 4.3): decoder conv1,
 * middle.0-2, its stages, head; encoder conv1, its stages, middle.0-2, head.
 * Fills L when not NULL; returns the count. */
static int build_chain(const VaeConfig *c, int dec, VaeLayer *L) {
    const char *pfx = dec ? "decoder" : "encoder";
    int D = base_dim(c, dec), top = D * c->dim_mult[c->n_stages - 1], px = 3 * c->patch * c->patch, n = 0, k = 0;
    add_layer(L, &n, VAE_CONV, dec ? c->z_dim : px, dec ? top : D, "%s.conv1", pfx);
    for (int m = 0; dec && m < 3; m++) add_layer(L, &n, m == 1 ? VAE_ATTN : VAE_RES, top, top, "%s.middle.%d", pfx, m);
    for (int i = 0, in = dec ? top : D; i < c->n_stages; i++) {
        add_stage(c, dec, i, in, L, &n, &k);
        in = base_dim(c, dec) * c->dim_mult[dec ? c->n_stages - 1 - i : i];
        if (dec && !c->grouped) in /= 2;
    }
    for (int m = 0; !dec && m < 3; m++) add_layer(L, &n, m == 1 ? VAE_ATTN : VAE_RES, top, top, "%s.middle.%d", pfx, m);
    add_layer(L, &n, VAE_HEAD, dec ? D * c->dim_mult[0] : top, dec ? px : 2 * c->z_dim, "%s.head", pfx);
    return n;
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
    case VAE_SAVE: /* the Wan2.2 group shortcuts have no parameters */
    case VAE_AVGDOWN:
    case VAE_DUPUP:
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
    VaeLayer *L = calloc((size_t)(c->n_enc > c->n_dec ? c->n_enc : c->n_dec) + 1, sizeof *L);
    VaeSlot s[VAE_MAX_SLOTS];
    int n = 0;
    if (!L) return 0; /* out of memory: nothing listed */
    memset(&m, 0, sizeof m);
    m.config = *c;
    if (c->n_enc) build_chain(c, 0, L);
    for (int j = 0; j < c->n_enc; j++) n = put_slots(s, layer_slots(&L[j], s), out, cap, n);
    if (c->n_enc) n = put_slots(s, top_slots(&m, 0, s), out, cap, n);
    if (c->n_dec) n = put_slots(s, top_slots(&m, 1, s), out, cap, n);
    if (c->n_dec) build_chain(c, 1, L);
    for (int j = 0; j < c->n_dec; j++) n = put_slots(s, layer_slots(&L[j], s), out, cap, n);
    free(L);
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

/* The average shortcuts regroup channels: AvgDown3D needs cin*f a multiple
 * of cout, DupUp3D cout*f a multiple of cin (f = ft * fs * fs). */
static int check_groups(const VaeConfig *c, T2vError *err) {
    for (int dec = 0; dec < 2; dec++) {
        int n = dec ? c->n_dec : c->n_enc;
        VaeLayer *L = n ? calloc((size_t)n, sizeof *L) : NULL;
        if (n && !L) return t2v_fail(err, T2V_ERESOURCE, "VAE: out of memory");
        if (n) build_chain(c, dec, L);
        for (int i = 0; i < n; i++) {
            const VaeLayer *l = &L[i];
            int f = l->ft * l->fs * l->fs, ci = l->kind == VAE_AVGDOWN || l->kind == VAE_DUPUP ? L[l->src].cin : 0;
            if ((l->kind == VAE_AVGDOWN && (ci * f) % l->cout) || (l->kind == VAE_DUPUP && (l->cout * f) % ci)) {
                t2v_fail(err, T2V_EINPUT, "VAE checkpoint: %s: %d -> %d channels over %d positions cannot be "
                         "grouped for the average shortcut", l->name, ci, l->cout, f);
                free(L);
                return T2V_EINPUT;
            }
        }
        free(L);
    }
    return T2V_OK;
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
    build_chain(c, dec, L);
    for (int j = 0; j < n && !rc; j++) {
        rc = bind_slots(s, layer_slots(&L[j], s), tl, err);
        if (L[j].kind == VAE_ATTN) L[j].conv.w.ndim = L[j].conv2.w.ndim = 2; /* Linear views [Cout, Cin] */
    }
    return rc;
}

int vae_build(Vae *m, const TensorList *tl, T2vError *err) {
    memset(m, 0, sizeof *m);
    int rc = vae_config_from_tensors(&m->config, tl, err);
    const float *mean, *std;
    if (!rc && !latent_norm(m->config.z_dim, &mean, &std))
        rc = t2v_fail(err, T2V_EINPUT, "VAE checkpoint: z_dim %d, expected 16 (Wan2.1) or 48 (Wan2.2): the "
                      "latent normalisations of docs/MODEL.md 4.5", m->config.z_dim);
    if (!rc) rc = check_groups(&m->config, err);
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
    float *out;        /* [out_c, cap, oh, ow]: frames base .. base+cap-1 */
    int out_c, oh, ow; /* channels and size of the frames the chain emits */
    int nout, fi;      /* output frames in all, next to write */
    int base, cap;     /* the first frame out holds, and how many it holds */
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
        case VAE_SAVE:
            s->state += 2 * l->cin * hw;
            break;
        case VAE_AVGDOWN:
        case VAE_DUPUP:
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
        case VAE_SAVE:
            cache_alloc(&st->c1, l->cin * hw, &p);
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
    if (m->precision != PREC_BF16) return bytes + conv3d_scratch_bytes(cmax, wmax);
    /* bf16: the rounded weight and column panels of the largest conv, and the
     * input in bf16 pairs (at most a window or a frame, with a pad channel) */
    size_t conv = 0;
    for (int i = 0; i < m->config.n_dec; i++) {
        const VaeLayer *l = &m->dec[i];
        const VaeConv *cv[4] = {&l->conv, &l->conv2, &l->shortcut, &l->time_conv};
        for (int k = 0; k < 4; k++)
            if (cv[k]->w.ndim == 5) {
                size_t b = conv3d_bf16_scratch_bytes(cv[k]->cin, cv[k]->w.shape[0], tensor_numel(&cv[k]->w), 0);
                conv = b > conv ? b : conv;
            }
    }
    return bytes + conv + sizeof(uint16_t) * (size_t)(max64(s.scratch, s.frame) + 3 * s.hw);
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

/* A convolution in the VAE's precision: fp32 (ops.c, Winograd for the 3x3
 * kernels) or bf16 products (gemm_bf16.h; docs/ARCHITECTURE.md, Numerics, "bf16"). */
static int vae_conv3d(const Vae *m, float *out, const float *inp, int Cin, int T, int H, int W, const VaeConv *cv,
                      const Conv3dParams *p, T2vError *err) {
    if (m->precision == PREC_BF16) return conv3d_bf16_forward(out, inp, Cin, T, H, W, &cv->w, cv->b, p, err);
    return conv3d_forward(out, inp, Cin, T, H, W, &cv->w, cv->b, p, err);
}

/* CausalConv3d on one new frame that the caller wrote into window slot
 * c->n of win [Cin, c->n+1, h*w]: front zero padding 2 - n in time, kh/2 in
 * space (docs/MODEL.md 4.2). out [Cout, h*w]. Then the new frame joins the cache. */
static int causal_conv(const Vae *m, float *out, float *win, VaeCache *c, const VaeConv *cv, int h, int w,
                       T2vError *err) {
    int64_t hw = (int64_t)h * w;
    int kh = (int)cv->w.shape[3], kw = (int)cv->w.shape[4], kt = (int)cv->w.shape[2];
    Conv3dParams p = {kt, kh, kw, 1, 1, 1, (kt - 1) - c->n, 0, kh / 2, kh / 2, kw / 2, kw / 2};
    cache_to_window(win, c, cv->cin, hw);
    int rc = vae_conv3d(m, out, win, cv->cin, c->n + 1, h, w, cv, &p, err);
    if (!rc) cache_push(c, win, cv->cin, hw);
    return rc;
}

/* Stride of a channel in the window: where the caller writes the new frame. */
static int64_t win_stride(const VaeCache *c, int h, int w) { return (int64_t)(c->n + 1) * h * w; }
static float *win_slot(float *win, const VaeCache *c, int h, int w) { return win + (int64_t)c->n * h * w; }

/* A 1x1x1 conv on one frame (conv2, conv1, shortcut). */
static int pointwise(const Vae *m, float *out, const float *x, const VaeConv *cv, int64_t hw, T2vError *err) {
    Conv3dParams p = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    return vae_conv3d(m, out, x, cv->cin, 1, 1, (int)hw, cv, &p, err);
}

/* ResidualBlock (docs/MODEL.md 4.2): out = conv6(silu(norm3(conv2(silu(norm0(x)))))) + shortcut(x). */
static int res_forward(float *out, const float *x, const VaeLayer *L, VaeLayerState *st, VaeRun *r, T2vError *err) {
    int h = st->h, w = st->w, rc;
    int64_t hw = (int64_t)h * w;
    norm_forward(win_slot(r->s, &st->c1, h, w), win_stride(&st->c1, h, w), 1, x, L->gamma, L->cin, hw, 1, r->inv);
    if ((rc = causal_conv(r->m, r->y, r->s, &st->c1, &L->conv, h, w, err))) return rc;               /* residual.2 */
    norm_forward(win_slot(r->s, &st->c2, h, w), win_stride(&st->c2, h, w), 1, r->y, L->gamma2, L->cout, hw, 1,
                 r->inv);
    if ((rc = causal_conv(r->m, out, r->s, &st->c2, &L->conv2, h, w, err))) return rc;               /* residual.6 */
    const float *sc = x;
    if (L->shortcut.w.data) {
        if ((rc = pointwise(r->m, r->y, x, &L->shortcut, hw, err))) return rc;
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
    float scale = (float)(1.0 / sqrt((double)C));
    if (r->m->precision == PREC_BF16) { /* bf16 products, as the DiT's attention */
        linear_bf16_forward(qkv, xt, &L->conv.w, L->conv.b, (int)hw, NULL);
        attention_bf16_forward(att, C, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, (int)hw, (int)hw, 1, C, scale,
                               NULL, NULL);
        linear_bf16_forward(xt, att, &L->conv2.w, L->conv2.b, (int)hw, NULL);
    } else {
        linear_forward(qkv, xt, &L->conv.w, L->conv.b, (int)hw, NULL);                 /* to_qkv */
        attention_forward(att, C, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, (int)hw, (int)hw, 1, C, scale,
                          NULL);
        linear_forward(xt, att, &L->conv2.w, L->conv2.b, (int)hw, NULL);               /* proj */
    }
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
    return vae_conv3d(r->m, out, u, L->cin, 1, H, W, &L->conv, &p, err);
}

/* Zero pad right/bottom by 1, resample.1 (Conv2d 3x3, stride 2). */
static int down_spatial(const Vae *m, float *out, const float *x, const VaeLayer *L, int h, int w, T2vError *err) {
    Conv3dParams p = {1, 3, 3, 1, 2, 2, 0, 0, 0, 1, 0, 1};
    return vae_conv3d(m, out, x, L->cin, 1, h, w, &L->conv, &p, err);
}

/* downsample3d (docs/MODEL.md 4.4, encoding): spatial first; the first frame passes
 * through and stays cached; then every second frame emits
 * time_conv(last, pending, new) (kernel 3, stride 2, no padding) and becomes
 * the new "last". Window st->tbuf [C, 3, h'w']: slots last, pending, new. */
static int down3d_forward(const Vae *m, float *out, const float *x, const VaeLayer *l, VaeLayerState *st, int *emit,
                          T2vError *err) {
    int64_t hw2 = (int64_t)down_size(st->h) * down_size(st->w);
    float *win = st->tbuf;
    int rc = down_spatial(m, out, x, l, st->h, st->w, err);
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
    if ((rc = vae_conv3d(m, out, win, l->cin, 3, 1, (int)hw2, &l->time_conv, &p, err))) return rc;
    for (int c = 0; c < l->cin; c++) memcpy(win + c * 3 * hw2, win + (c * 3 + 2) * hw2, sizeof(float) * (size_t)hw2);
    st->pending = 0;
    return T2V_OK;
}

/* ============================================================================
 * Wan2.2: the group shortcuts (docs/ARCHITECTURE.md, Wan2.2) */

/* SAVE: the group's input frame joins a 2-frame history (oldest first). */
static void save_frame(VaeCache *c, const float *x, int64_t n) {
    if (c->n == 2) {
        float *t = c->f[0];
        c->f[0] = c->f[1], c->f[1] = t;
    } else {
        c->n++;
    }
    memcpy(c->f[c->n - 1], x, sizeof(float) * (size_t)n);
}

/* AvgDown3D, added to the group's output x [cout, h'w']: the input frames
 * (the previous one: dt = 0, the newest: dt = 1 when ft = 2; a zero frame
 * before the first, as the official front padding) folded into channels
 * (c, dt, dh, dw), and cout consecutive groups of them averaged. */
static void avgdown_add(float *x, const VaeLayer *l, const VaeLayerState *src, int cin) {
    int ft = l->ft, fs = l->fs, f = ft * fs * fs, gs = cin * f / l->cout, oh = src->h / fs, ow = src->w / fs;
    int64_t ohw = (int64_t)oh * ow, W = src->w;
    const VaeCache *c = &src->c1;
    const float *fr[2] = {ft == 2 && c->n == 2 ? c->f[0] : NULL, c->f[c->n - 1]};
#pragma omp parallel for schedule(static)
    for (int o = 0; o < l->cout; o++)
        for (int64_t p = 0; p < ohw; p++) {
            int64_t i = p / ow, j = p % ow;
            double acc = 0.0;
            for (int g = 0; g < gs; g++) {
                int k = o * gs + g, ch = k / f, dt = (k % f) / (fs * fs), dh = (k % (fs * fs)) / fs, dw = k % fs;
                const float *frame = fr[ft == 2 ? dt : 1];
                if (frame) acc += frame[(int64_t)ch * src->h * W + (i * fs + dh) * W + j * fs + dw];
            }
            x[o * ohw + p] += (float)(acc / gs);
        }
}

/* DupUp3D, added to the group's output x [cout, H'W'] (output frame e of this
 * input frame's 1 or 2): folded channel (o, dt, dh, dw) repeats input channel
 * (o*f + dt*fs*fs + dh*fs + dw) / (cout*f/cin); the first chunk keeps only
 * its last dt (dt = 1 when ft = 2). */
static void dupup_add(float *x, const VaeLayer *l, const VaeLayerState *src, int cin, int dt) {
    int fs = l->fs, f = l->ft * fs * fs, rep = l->cout * f / cin, h = src->h, w = src->w;
    int64_t W = (int64_t)w * fs, HW = (int64_t)h * fs * W;
    const float *in = src->c1.f[src->c1.n - 1];
#pragma omp parallel for schedule(static)
    for (int o = 0; o < l->cout; o++)
        for (int64_t p = 0; p < HW; p++) {
            int64_t I = p / W, J = p % W;
            int k = o * f + dt * fs * fs + (int)(I % fs) * fs + (int)(J % fs);
            x[o * HW + p] += in[(int64_t)(k / rep) * h * w + (I / fs) * w + J / fs];
        }
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
        rc = causal_conv(r->m, out, r->s, &st->c1, &l->conv, h, w, err);
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
        if ((rc = causal_conv(r->m, st->tbuf, r->s, &st->c1, &l->time_conv, h, w, err))) return rc;
        /* channels [0,C) are frame 2t, [C,2C) frame 2t+1 */
        for (int k = 0; k < 2; k++) {
            out = other(r, NULL);
            if ((rc = up_spatial(out, st->tbuf + (int64_t)k * l->cin * hw, l, h, w, r, err))) return rc;
            if ((rc = chain_run(r, L, n, i + 1, out, sink, err))) return rc;
        }
        return T2V_OK;
    case VAE_DOWN2D:
        rc = down_spatial(r->m, out, x, l, h, w, err);
        break;
    case VAE_DOWN3D: {
        int emit = 0;
        if ((rc = down3d_forward(r->m, out, x, l, st, &emit, err)) || !emit) return rc;
        break;
    }
    case VAE_SAVE: /* passes x on unchanged */
        save_frame(&st->c1, x, l->cin * hw);
        return chain_run(r, L, n, i + 1, x, sink, err);
    case VAE_AVGDOWN:
        avgdown_add(x, l, &r->ls[l->src], L[l->src].cin);
        return chain_run(r, L, n, i + 1, x, sink, err);
    case VAE_DUPUP: { /* outputs per input frame: the first 1 (dt 1 of 2), then dt 0, 1 */
        int dt = l->ft == 1 ? 0 : st->seen == 0 ? 1 : (st->seen - 1) % 2;
        st->seen++;
        dupup_add(x, l, &r->ls[l->src], L[l->src].cin, dt);
        return chain_run(r, L, n, i + 1, x, sink, err);
    }
    }
    if (rc) return rc;
    return chain_run(r, L, n, i + 1, out, sink, err);
}

/* Stores frame x [out_c*pp*pp, oh*ow] as frame fi of r->out [out_c, cap,
 * pp*oh, pp*ow] (which holds frames base .. base+cap-1), unfolding pp x pp
 * patches (channel (c, q_w, q_h), as vae_encode folds them); clamp != 0:
 * clamped to [-1, 1] (the decoder's last step). */
static int store_frame(VaeRun *r, const float *x, int clamp, int pp, T2vError *err) {
    int64_t hw = (int64_t)r->oh * r->ow, W = (int64_t)pp * r->ow, HW = hw * pp * pp;
    if (r->fi >= r->nout || r->fi - r->base >= r->cap)
        return t2v_fail(err, T2V_EINPUT, "VAE: the chain produced more than the %d frames expected", r->nout);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < r->out_c; c++) {
        float *dst = r->out + ((int64_t)c * r->cap + r->fi - r->base) * HW;
        for (int64_t P = 0; P < HW; P++) {
            int64_t I = P / W, J = P % W;
            float v = x[((int64_t)(c * pp + J % pp) * pp + I % pp) * hw + (I / pp) * r->ow + J / pp];
            dst[P] = !clamp ? v : v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
        }
    }
    r->fi++;
    return T2V_OK;
}

static int video_sink(VaeRun *r, const float *x, T2vError *err) {
    return store_frame(r, x, 1, r->m->config.patch, err);
}

/* Where a decode's frames go: all of them into out [out_c, nout, H, W], or
 * (fs set, out NULL) each latent frame's frames to fs as they are made. */
typedef struct {
    VaeSink sink;            /* per frame: video_sink or stage_sink */
    float *out;
    int out_c, nout;
    const VaeFrameSink *fs;
    VaeProgress cb;          /* after each latent frame; may be NULL */
    void *user;
} DecodeTo;

/* The most frames one latent frame decodes to: each temporal upsampling
 * doubles them (Wan: 4, docs/MODEL.md 4.4). */
static int chunk_frames(const VaeLayer *L, int n) {
    int cap = 1;
    for (int i = 0; i < n; i++) cap *= L[i].kind == VAE_UP3D ? 2 : 1;
    return cap;
}

/* Hands the k frames made since the last call to fs, as [out_c, k, H, W]
 * (the channels moved together when k < cap), and starts the next chunk. */
static int emit_chunk(VaeRun *r, const VaeFrameSink *fs, T2vError *err) {
    int k = r->fi - r->base, pp = r->m->config.patch;
    int64_t HW = (int64_t)r->oh * r->ow * pp * pp;
    if (k == 0) return T2V_OK;
    for (int c = 1; c < r->out_c; c++)
        memmove(r->out + c * k * HW, r->out + c * r->cap * HW, sizeof(float) * (size_t)(k * HW));
    int rc = fs->emit(fs->user, r->out, r->base, k, pp * r->oh, pp * r->ow, err);
    r->base = r->fi;
    return rc;
}

/* Runs conv2 and the first n decoder layers on z [z_dim, T, h, w] one latent
 * frame at a time, emitting d->nout frames of d->out_c channels (DecodeTo).
 * The one decode loop: vae_decode, vae_decode_to and vae_decode_stage. */
static int decode_chain(Vae *m, int n, const float *z, int T, int h, int w, const DecodeTo *d, T2vError *err) {
    VaeRun r;
    int rc = run_init(&r, m, m->dec, n, m->config.z_dim, h, w, err);
    int64_t hw = (int64_t)h * w, Z = m->config.z_dim, pp = m->config.patch;
    r.out_c = d->out_c;
    r.nout = d->nout;
    r.cap = d->fs ? chunk_frames(m->dec, n) : d->nout;
    r.out = d->fs ? (rc ? NULL : (float *)t2v_malloc(sizeof(float) * (size_t)d->out_c * r.cap * r.oh * r.ow * pp * pp,
                                                     "VAE decoded frames", err))
                  : d->out;
    if (!rc && !r.out) rc = T2V_ERESOURCE;
    for (int t = 0; t < T && !rc; t++) {
        /* z / (1/std) + mean (docs/MODEL.md 4.5), then conv2: both per frame */
        float *zt = r.y;
        const float *mean, *std;
        latent_norm((int)Z, &mean, &std); /* checked by vae_build */
        for (int ch = 0; ch < Z; ch++) {
            float inv = 1.0f / std[ch];
            for (int64_t p = 0; p < hw; p++) zt[ch * hw + p] = z[(ch * T + t) * hw + p] / inv + mean[ch];
        }
        rc = pointwise(m, r.a, zt, &m->conv2, hw, err);
        if (!rc) rc = chain_run(&r, m->dec, n, 0, r.a, d->sink, err);
        if (!rc && d->fs) rc = emit_chunk(&r, d->fs, err);
        if (!rc && d->cb) d->cb(d->user, t + 1, T);
    }
    if (!rc && r.fi != r.nout)
        rc = t2v_fail(err, T2V_EINPUT, "VAE decode: produced %d frames, expected %d", r.fi, r.nout);
    if (d->fs) free(r.out);
    run_free(&r);
    return rc;
}

/* The checks and the video's size of vae_decode and vae_decode_to. */
static int decode_size(const Vae *m, int T, int h, int w, int *F, T2vError *err) {
    const VaeConfig *c = &m->config;
    int H, W;
    if (!c->n_dec) return t2v_fail(err, T2V_EINPUT, "VAE decode: the checkpoint has no decoder");
    if (T < 1 || h < 1 || w < 1)
        return t2v_fail(err, T2V_EINPUT, "VAE decode: latent [%d, %d, %d, %d] is empty", c->z_dim, T, h, w);
    vae_video_size(c, T, h, w, F, &H, &W);
    return T2V_OK;
}

int vae_decode(Vae *m, const float *z, int T, int h, int w, float *video, VaeProgress cb, void *user,
               T2vError *err) {
    int F = 0, rc = decode_size(m, T, h, w, &F, err);
    DecodeTo d = {video_sink, video, 3, F, NULL, cb, user};
    return rc ? rc : decode_chain(m, m->config.n_dec, z, T, h, w, &d, err);
}

int vae_decode_to(Vae *m, const float *z, int T, int h, int w, const VaeFrameSink *fs, VaeProgress cb, void *user,
                  T2vError *err) {
    int F = 0, rc = decode_size(m, T, h, w, &F, err);
    DecodeTo d = {video_sink, NULL, 3, F, fs, cb, user};
    return rc ? rc : decode_chain(m, m->config.n_dec, z, T, h, w, &d, err);
}

/* Encoder sink: conv1 (1x1x1), keep mu = channels [0, z), normalise (docs/MODEL.md 4.5)
 * and store as latent frame fi. */
static int latent_sink(VaeRun *r, const float *x, T2vError *err) {
    const Vae *m = r->m;
    int64_t hw = (int64_t)r->oh * r->ow, Z = m->config.z_dim;
    const float *mean, *std;
    int rc = pointwise(m, r->y, x, &m->conv1, hw, err);
    if (rc) return rc;
    latent_norm((int)Z, &mean, &std);
    for (int c = 0; c < Z; c++) {
        float inv = 1.0f / std[c];
        for (int64_t p = 0; p < hw; p++) r->y[c * hw + p] = (r->y[c * hw + p] - mean[c]) * inv;
    }
    return store_frame(r, r->y, 0, 1, err);
}

/* The frames of an F-frame video the encoder uses: 1 + scale_t*k, the
 * largest such that fits (the rest are dropped, as officially). */
static int encoder_frames(const VaeConfig *c, int F) { return 1 + c->scale_t * ((F - 1) / c->scale_t); }

/* Feeds the encoder_frames of video [3, F, H, W] through the first n
 * encoder layers. */
static int encode_chain(Vae *m, int n, const float *video, int F, int H, int W, VaeSink sink, float *out,
                        int out_c, int nout, T2vError *err) {
    VaeRun r;
    int pp = m->config.patch, h = H / pp, w = W / pp;
    int rc = run_init(&r, m, m->enc, n, 3 * pp * pp, h, w, err);
    int64_t HW = (int64_t)H * W, hw = (int64_t)h * w;
    int Fuse = encoder_frames(&m->config, F);
    r.out = out;
    r.out_c = out_c;
    r.nout = nout;
    r.cap = nout;
    for (int f = 0; f < Fuse && !rc; f++) {
        /* fold pp x pp pixels into channels: (c, q_w, q_h) holds pixel (i*pp+q_h, j*pp+q_w) */
        for (int ch = 0; ch < 3 * pp * pp; ch++) {
            int c = ch / (pp * pp), qw = (ch / pp) % pp, qh = ch % pp;
            const float *src = video + ((int64_t)c * F + f) * HW;
            for (int64_t p = 0; p < hw; p++) r.a[ch * hw + p] = src[(p / w * pp + qh) * W + p % w * pp + qw];
        }
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
    int oh, ow, f = dec ? T : encoder_frames(&m->config, T), pp = dec ? 1 : m->config.patch;
    plan_chain(L, n, h / pp, w / pp, NULL, &s, &oh, &ow);
    for (int i = 0; i < n; i++) {
        if (L[i].kind == VAE_UP3D) f = 1 + 2 * (f - 1);
        if (L[i].kind == VAE_DOWN3D) f = 1 + (f - 1) / 2;
    }
    shape[0] = n ? L[n - 1].cout : dec ? m->config.z_dim : 3 * pp * pp;
    shape[1] = f;
    shape[2] = oh;
    shape[3] = ow;
}

static int stage_sink(VaeRun *r, const float *x, T2vError *err) { return store_frame(r, x, 0, 1, err); }

int vae_decode_stage(Vae *m, int n, const float *z, int T, int h, int w, float *out, T2vError *err) {
    int shape[4];
    if (n < 0 || n > m->config.n_dec)
        return t2v_fail(err, T2V_EUSAGE, "VAE decode: no decoder layer %d (%d layers)", n, m->config.n_dec);
    vae_stage_shape(m, 1, n, T, h, w, shape);
    DecodeTo d = {stage_sink, out, shape[0], shape[1], NULL, NULL, NULL};
    return decode_chain(m, n, z, T, h, w, &d, err);
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

/* ComfyUI comfy/latent_formats.py, class Wan22 (latent_rgb_factors, bias): the
 * 48-channel latent of the Wan2.2 VAE. */
const VaePreview vae_preview_wan22 = {
    48,
    {
     {0.0119f, 0.0103f, 0.0046f},
     {-0.1062f, -0.0504f, 0.0165f},
     {0.0140f, 0.0409f, 0.0491f},
     {-0.0813f, -0.0677f, 0.0607f},
     {0.0656f, 0.0851f, 0.0808f},
     {0.0264f, 0.0463f, 0.0912f},
     {0.0295f, 0.0326f, 0.0590f},
     {-0.0244f, -0.0270f, 0.0025f},
     {0.0443f, -0.0102f, 0.0288f},
     {-0.0465f, -0.0090f, -0.0205f},
     {0.0359f, 0.0236f, 0.0082f},
     {-0.0776f, 0.0854f, 0.1048f},
     {0.0564f, 0.0264f, 0.0561f},
     {0.0006f, 0.0594f, 0.0418f},
     {-0.0319f, -0.0542f, -0.0637f},
     {-0.0268f, 0.0024f, 0.0260f},
     {0.0539f, 0.0265f, 0.0358f},
     {-0.0359f, -0.0312f, -0.0287f},
     {-0.0285f, -0.1032f, -0.1237f},
     {0.1041f, 0.0537f, 0.0622f},
     {-0.0086f, -0.0374f, -0.0051f},
     {0.0390f, 0.0670f, 0.2863f},
     {0.0069f, 0.0144f, 0.0082f},
     {0.0006f, -0.0167f, 0.0079f},
     {0.0313f, -0.0574f, -0.0232f},
     {-0.1454f, -0.0902f, -0.0481f},
     {0.0714f, 0.0827f, 0.0447f},
     {-0.0304f, -0.0574f, -0.0196f},
     {0.0401f, 0.0384f, 0.0204f},
     {-0.0758f, -0.0297f, -0.0014f},
     {0.0568f, 0.1307f, 0.1372f},
     {-0.0055f, -0.0310f, -0.0380f},
     {0.0239f, -0.0305f, 0.0325f},
     {-0.0663f, -0.0673f, -0.0140f},
     {-0.0416f, -0.0047f, -0.0023f},
     {0.0166f, 0.0112f, -0.0093f},
     {-0.0211f, 0.0011f, 0.0331f},
     {0.1833f, 0.1466f, 0.2250f},
     {-0.0368f, 0.0370f, 0.0295f},
     {-0.3441f, -0.3543f, -0.2008f},
     {-0.0479f, -0.0489f, -0.0420f},
     {-0.0660f, -0.0153f, 0.0800f},
     {-0.0101f, 0.0068f, 0.0156f},
     {-0.0690f, -0.0452f, -0.0927f},
     {-0.0145f, 0.0041f, 0.0015f},
     {0.0421f, 0.0451f, 0.0373f},
     {0.0504f, -0.0483f, -0.0356f},
     {-0.0837f, 0.0168f, 0.0055f}},
    {0.0317f, -0.0878f, -0.1388f},
};

const VaePreview *vae_preview_default(const VaeConfig *c) {
    return c->z_dim == vae_preview_wan21.channels ? &vae_preview_wan21
         : c->z_dim == vae_preview_wan22.channels ? &vae_preview_wan22 : NULL;
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
