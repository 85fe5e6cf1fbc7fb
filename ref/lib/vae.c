/*
 * vae.c: the Wan-VAE decoder and encoder (wan21-spec section 4).
 *
 * The official code runs the decoder once per latent frame with a feature
 * cache: every causal conv keeps the last 2 frames of its input and prepends
 * them to the next chunk (spec 4.4). Because every layer is causal in time,
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

/* spec 4.5: latent mean and std (z_dim 16), kept as float32; 1/std in fp32 */
static const float VAE_MEAN[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f,
                                   -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f, -0.3632f,
                                   -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float VAE_STD[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                  2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                  1.6382f, 1.1253f, 2.8251f, 1.9160f};

/* ============================================================================
 * Weights: binding by official name (spec 4.3) */

static int ecode(const T2vError *err) { return err && err->code ? err->code : T2V_EINPUT; }

static float *vec_f32(const TensorList *tl, int64_t n, const char *name, T2vError *err) {
    int64_t shape[1] = {n};
    const Tensor *t = tl_find(tl, name);
    /* gammas are [C,1,1,1] or [C,1,1], biases [C] */
    if (t && dtype_is_float(t->dtype) && tensor_numel(t) == n && t->ndim >= 1 && t->shape[0] == n) {
        float *v = t2v_malloc(sizeof(float) * (size_t)n, name, err);
        if (v) widen_to_f32(v, t->data, t->dtype, n);
        return v;
    }
    tl_require(tl, err, 1, shape, "%s", name); /* fills the message */
    if (t && err && !err->code) t2v_fail(err, T2V_EINPUT, "tensor '%s': expected %lld values", name, (long long)n);
    return NULL;
}

/* Binds NAME.weight (kernel kt x kh x kw, kt = 0: a 2D conv [o,i,kh,kw]) and
 * NAME.bias. cout < 0: any; the found value is stored. */
static int bind_conv(VaeConv *c, const TensorList *tl, const char *name, int cout, int cin, int kt,
                     int kh, int kw, T2vError *err) {
    char wn[128], bn[128];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    const Tensor *t;
    if (kt == 0) {
        int64_t s[4] = {cout, cin, kh, kw};
        t = tl_require(tl, err, 4, s, "%s", wn);
    } else {
        int64_t s[5] = {cout, cin, kt, kh, kw};
        t = tl_require(tl, err, 5, s, "%s", wn);
    }
    if (!t) return ecode(err);
    c->w = *t;
    c->w.owned = 0;
    c->w.ndim = 5;
    c->w.shape[0] = t->shape[0];
    c->w.shape[1] = t->shape[1];
    c->w.shape[2] = kt ? kt : 1;
    c->w.shape[3] = kh;
    c->w.shape[4] = kw;
    c->cout = (int)t->shape[0];
    c->cin = (int)t->shape[1];
    c->b = vec_f32(tl, c->cout, bn, err);
    return c->b ? T2V_OK : ecode(err);
}

static int bind_gamma(float **g, const TensorList *tl, const char *name, int c, T2vError *err) {
    *g = vec_f32(tl, c, name, err);
    return *g ? T2V_OK : ecode(err);
}

static int has(const TensorList *tl, const char *fmt, const char *pre) {
    char n[128];
    snprintf(n, sizeof n, fmt, pre);
    return tl_find(tl, n) != NULL;
}

/* ResidualBlock: residual.0.gamma, residual.2, residual.3.gamma, residual.6,
 * shortcut when in != out. */
static int bind_res(VaeLayer *L, const TensorList *tl, int cin, T2vError *err) {
    char n[128];
    int rc;
    L->kind = VAE_RES;
    snprintf(n, sizeof n, "%s.residual.2", L->name);
    if ((rc = bind_conv(&L->conv, tl, n, -1, cin, 3, 3, 3, err))) return rc;
    L->cin = cin;
    L->cout = L->conv.cout;
    snprintf(n, sizeof n, "%s.residual.0.gamma", L->name);
    if ((rc = bind_gamma(&L->gamma, tl, n, cin, err))) return rc;
    snprintf(n, sizeof n, "%s.residual.3.gamma", L->name);
    if ((rc = bind_gamma(&L->gamma2, tl, n, L->cout, err))) return rc;
    snprintf(n, sizeof n, "%s.residual.6", L->name);
    if ((rc = bind_conv(&L->conv2, tl, n, L->cout, L->cout, 3, 3, 3, err))) return rc;
    if (cin == L->cout) return T2V_OK;
    snprintf(n, sizeof n, "%s.shortcut", L->name);
    return bind_conv(&L->shortcut, tl, n, L->cout, cin, 1, 1, 1, err);
}

/* AttentionBlock: norm.gamma [C,1,1], to_qkv [3C,C,1,1], proj [C,C,1,1]; the
 * 1x1 convs are used as Linear layers (2-dim views). */
static int bind_attn(VaeLayer *L, const TensorList *tl, int c, T2vError *err) {
    char n[128];
    int rc;
    L->kind = VAE_ATTN;
    L->cin = L->cout = c;
    snprintf(n, sizeof n, "%s.norm.gamma", L->name);
    if ((rc = bind_gamma(&L->gamma, tl, n, c, err))) return rc;
    snprintf(n, sizeof n, "%s.to_qkv", L->name);
    if ((rc = bind_conv(&L->conv, tl, n, 3 * c, c, 0, 1, 1, err))) return rc;
    snprintf(n, sizeof n, "%s.proj", L->name);
    if ((rc = bind_conv(&L->conv2, tl, n, c, c, 0, 1, 1, err))) return rc;
    L->conv.w.ndim = L->conv2.w.ndim = 2;
    return T2V_OK;
}

/* Resample: resample.1 (Conv2d 3x3) and, for the 3d modes, time_conv. */
static int bind_resample(VaeLayer *L, const TensorList *tl, int cin, int up, T2vError *err) {
    char n[128];
    int rc, t3 = has(tl, "%s.time_conv.weight", L->name);
    L->kind = up ? (t3 ? VAE_UP3D : VAE_UP2D) : (t3 ? VAE_DOWN3D : VAE_DOWN2D);
    L->cin = cin;
    snprintf(n, sizeof n, "%s.resample.1", L->name);
    if ((rc = bind_conv(&L->conv, tl, n, up ? cin / 2 : cin, cin, 0, 3, 3, err))) return rc;
    L->cout = L->conv.cout;
    if (!t3) return T2V_OK;
    snprintf(n, sizeof n, "%s.time_conv", L->name);
    return bind_conv(&L->time_conv, tl, n, up ? 2 * cin : cin, cin, 3, 1, 1, err);
}

/* CausalConv3d k3 (decoder.conv1 / encoder.conv1), or the head. */
static int bind_conv_layer(VaeLayer *L, const TensorList *tl, int cin, int cout, int head, T2vError *err) {
    char n[128];
    int rc;
    L->kind = head ? VAE_HEAD : VAE_CONV;
    L->cin = cin;
    if (head) {
        snprintf(n, sizeof n, "%s.0.gamma", L->name);
        if ((rc = bind_gamma(&L->gamma, tl, n, cin, err))) return rc;
    }
    snprintf(n, sizeof n, head ? "%s.2" : "%s", L->name);
    if ((rc = bind_conv(&L->conv, tl, n, cout, cin, 3, 3, 3, err))) return rc;
    L->cout = L->conv.cout;
    return T2V_OK;
}

/* Counts the blocks NAME.0, NAME.1, ... (ResidualBlock or Resample). */
static int count_blocks(const TensorList *tl, const char *pre) {
    char p[96];
    int k = 0;
    for (;; k++) {
        snprintf(p, sizeof p, "%s.%d", pre, k);
        if (!has(tl, "%s.residual.0.gamma", p) && !has(tl, "%s.resample.1.weight", p)) return k;
    }
}

/* The decoder or encoder chain: conv1, [middle,] blocks, [middle,] head. */
static int bind_chain(VaeLayer **out, int *nout, const TensorList *tl, int dec, int z_dim, T2vError *err) {
    const char *pfx = dec ? "decoder" : "encoder", *blk = dec ? "decoder.upsamples" : "encoder.downsamples";
    int nb = count_blocks(tl, blk), n = nb + 5, rc = T2V_OK, i = 0, c;
    VaeLayer *L = t2v_calloc((size_t)n, sizeof *L, "VAE layers", err);
    if (!L) return T2V_ERESOURCE;
    *out = L;
    *nout = n;
    snprintf(L[0].name, sizeof L[0].name, "%s.conv1", pfx);
    if ((rc = bind_conv_layer(&L[0], tl, dec ? z_dim : 3, -1, 0, err))) return rc;
    c = L[0].cout;
    for (int m = 0; m < 2; m++) { /* middle first in the decoder, last in the encoder */
        if ((m == 0) == (dec != 0)) {
            for (int j = 0; j < 3; j++, i++) {
                VaeLayer *M = &L[i + 1];
                snprintf(M->name, sizeof M->name, "%s.middle.%d", pfx, j);
                rc = j == 1 ? bind_attn(M, tl, c, err) : bind_res(M, tl, c, err);
                if (rc) return rc;
            }
        } else {
            for (int k = 0; k < nb; k++, i++) {
                VaeLayer *B = &L[i + 1];
                snprintf(B->name, sizeof B->name, "%s.%d", blk, k);
                char g[96];
                snprintf(g, sizeof g, "%s.residual.0.gamma", B->name);
                const Tensor *gt = tl_find(tl, g);
                rc = gt ? bind_res(B, tl, (int)gt->shape[0], err) : bind_resample(B, tl, c, dec, err);
                if (rc) return rc;
                if (B->cin != c)
                    return t2v_fail(err, T2V_EINPUT, "%s: expects %d input channels, the previous layer gives %d",
                                    B->name, B->cin, c);
                c = B->cout;
            }
        }
    }
    VaeLayer *H = &L[n - 1];
    snprintf(H->name, sizeof H->name, "%s.head", pfx);
    return bind_conv_layer(H, tl, c, dec ? 3 : 2 * z_dim, 1, err);
}

static void derive_config(Vae *m) {
    VaeConfig *c = &m->config;
    c->scale_s = c->scale_t = 1;
    for (int i = 0; i < c->n_dec; i++) {
        if (m->dec[i].kind == VAE_UP2D || m->dec[i].kind == VAE_UP3D) c->scale_s *= 2;
        if (m->dec[i].kind == VAE_UP3D) c->scale_t *= 2;
    }
    if (c->n_dec) {
        c->dec_top = m->dec[0].cout;
        c->dim = m->dec[c->n_dec - 1].cin;
    }
    if (c->n_enc) {
        c->enc_top = m->enc[c->n_enc - 1].cin;
        if (!c->n_dec) c->dim = m->enc[0].cout;
    }
}

int vae_build(Vae *m, const TensorList *tl, T2vError *err) {
    memset(m, 0, sizeof *m);
    int rc = T2V_OK, has_dec = tl_find(tl, "conv2.weight") != NULL, has_enc = tl_find(tl, "conv1.weight") != NULL;
    if (!has_dec && !has_enc)
        return t2v_fail(err, T2V_EINPUT, "VAE checkpoint: neither 'conv2.weight' (decoder) nor 'conv1.weight' "
                                         "(encoder) found: not a Wan VAE state dict?");
    const Tensor *t = tl_find(tl, has_dec ? "conv2.weight" : "conv1.weight");
    int z = (int)t->shape[0] / (has_dec ? 1 : 2);
    m->config.z_dim = z;
    if (has_dec && !rc) {
        if (!(rc = bind_conv(&m->conv2, tl, "conv2", z, z, 1, 1, 1, err)))
            rc = bind_chain(&m->dec, &m->config.n_dec, tl, 1, z, err);
    }
    if (has_enc && !rc) {
        if (!(rc = bind_conv(&m->conv1, tl, "conv1", 2 * z, 2 * z, 1, 1, 1, err)))
            rc = bind_chain(&m->enc, &m->config.n_enc, tl, 0, z, err);
    }
    if (!rc && z != 16)
        rc = t2v_fail(err, T2V_EINPUT, "VAE checkpoint: z_dim %d, expected 16 (the latent normalisation of "
                                       "spec 4.5 has 16 channels)", z);
    if (rc) {
        vae_free(m);
        return rc;
    }
    derive_config(m);
    return T2V_OK;
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

/* RMS_norm (spec 4.2): x / max(||x||_2 over channels, 1e-12) * sqrt(C) * gamma,
 * then SiLU when silu != 0. out[c*cs + p*ps]: the caller picks the layout
 * (a window slot, ps = 1, or tokens-major for the attention, which takes no
 * SiLU: silu is ignored when ps != 1). */
static void norm_forward(float *out, int64_t cs, int64_t ps, const float *x, const float *gamma, int C,
                         int64_t hw, int silu, float *inv) {
    const double sc = sqrt((double)C);
#pragma omp parallel for schedule(static)
    for (int64_t p0 = 0; p0 < hw; p0 += 256) {
        double ss[256];
        int np = hw - p0 < 256 ? (int)(hw - p0) : 256;
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
 * space (spec 4.2). out [Cout, h*w]. Then the new frame joins the cache. */
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

/* ResidualBlock (spec 4.2): out = conv6(silu(norm3(conv2(silu(norm0(x)))))) + shortcut(x). */
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

/* AttentionBlock (spec 4.2): single head over the h*w positions of the frame. */
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

/* downsample3d (spec 4.4, encoding): spatial first; the first frame passes
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
        if (!st->seen) { /* the first frame skips time_conv (the 'Rep' chunk, spec 4.4) */
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

/* Runs conv2 and the first n decoder layers on z [16, T, h, w] one latent
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
        /* z / (1/std) + mean (spec 4.5), then conv2: both per frame */
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
        return t2v_fail(err, T2V_EINPUT, "VAE decode: latent [16, %d, %d, %d] is empty", T, h, w);
    return decode_chain(m, c->n_dec, z, T, h, w, video_sink, video, 3, 1 + c->scale_t * (T - 1), cb, user, err);
}

/* Encoder sink: conv1 (1x1x1), keep mu = channels [0, z), normalise (spec 4.5)
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

/* Feeds frames 0..1+4(T-1)-1 of video [3, F, H, W] through the first n
 * encoder layers. */
static int encode_chain(Vae *m, int n, const float *video, int F, int H, int W, VaeSink sink, float *out,
                        int out_c, int nout, T2vError *err) {
    VaeRun r;
    int rc = run_init(&r, m, m->enc, n, 3, H, W, err);
    int64_t HW = (int64_t)H * W;
    int Fuse = 1 + 4 * ((F - 1) / 4);
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
    if (F < 1 || H < 8 || W < 8 || H % 8 || W % 8)
        return t2v_fail(err, T2V_EINPUT, "VAE encode: video [3, %d, %d, %d]: expected at least 1 frame and "
                        "H, W multiples of 8", F, H, W);
    return encode_chain(m, c->n_enc, video, F, H, W, latent_sink, z, c->z_dim, 1 + (F - 1) / 4, err);
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
    int oh, ow, f = dec ? T : 1 + 4 * ((T - 1) / 4);
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
