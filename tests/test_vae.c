/*
 * test_vae.c: the Wan-VAE (ref/vae.c) against the float64 PyTorch reference
 * (tools/reference/vae.py, goldens written by tools/golden_vae.py):
 *   - a tiny VAE (dim 8, the shipped structure): latents of 1, 2 and 5 frames
 *     at 6x10 decoded to videos; every decoder module's output on a 2-frame
 *     2x3 latent; every encoder stage and mu on a 9-frame 16x24 clip;
 *   - the full-width decoder (dim 96) on a 16x2x4x4 latent;
 *   - same bits for 1 and 2 threads; progress callback once per chunk;
 *   - config derived from the weights; missing / misshapen tensors refused
 *     with their names; the working-memory estimate grows with the area.
 * The reference asserts that its chunked (feature-cache) run equals its
 * whole-sequence run; the C decoder is always chunked.
 * Weights come from the PRNG of harness.h, seeded per tensor by name, from
 * the list in each golden's metadata. Tolerances: golden/README.md, vae.
 */
#include "harness.h"

#include "../ref/lib/ops.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/vae.h"

#define TOL_TINY 1e-5
#define COS_TINY 0.9999999
#define TOL_FULL 1e-5
#define COS_FULL 0.9999999

#include "prng_weights.h"

static int build(Vae *m, const TensorList *tl, const char *what) {
    T2vError e = {0, {0}};
    int rc = vae_build(m, tl, &e);
    CHECK(rc == T2V_OK, "vae_build %s: %s", what, rc ? e.msg : "ok");
    return rc == T2V_OK;
}

static int64_t shape_n(const int s[4]) { return (int64_t)s[0] * s[1] * s[2] * s[3]; }

static int golden_shape_is(const SafeTensors *st, const char *name, const int s[4]) {
    const Tensor *t = tl_find(&st->tensors, name);
    int ok = t && t->ndim == 4;
    for (int i = 0; ok && i < 4; i++) ok = t->shape[i] == s[i];
    CHECK(ok, "%s: golden shape matches [%d, %d, %d, %d]", name, s[0], s[1], s[2], s[3]);
    return ok;
}

typedef struct {
    int calls, last, n, in_order;
} Prog;

static void prog_cb(void *user, int chunk, int nchunks) {
    Prog *p = (Prog *)user;
    if (chunk != p->last + 1) p->in_order = 0;
    p->last = chunk;
    p->n = nchunks;
    p->calls++;
}

/* ---------------------------------------------------------------------------
 * Tiny decoder: 1, 2, 5 latent frames at 6x10 */
static void test_tiny_decode(Vae *m, const SafeTensors *g) {
    static const int Ts[3] = {1, 2, 5};
    for (int ti = 0; ti < 3; ti++) {
        int t = Ts[ti];
        char zn[32], vn[32];
        snprintf(zn, sizeof zn, "latent.t%d", t);
        snprintf(vn, sizeof vn, "video.t%d", t);
        int64_t nz, nv;
        float *z = golden_f32(g, zn, &nz), *ref = golden_f32(g, vn, &nv);
        int s[4] = {3, 1 + 4 * (t - 1), 48, 80};
        if (!z || !ref || !golden_shape_is(g, vn, s)) { free(z); free(ref); continue; }
        float *video = malloc(sizeof(float) * (size_t)nv);
        Prog p = {0, 0, 0, 1};
        T2vError e = {0, {0}};
        int rc = vae_decode(m, z, t, 6, 10, video, prog_cb, &p, &e);
        CHECK(rc == T2V_OK, "tiny vae_decode T=%d: %s", t, rc ? e.msg : "ok");
        CHECK(p.calls == t && p.n == t && p.in_order, "progress: %d calls of k/%d in order (T=%d)", p.calls, p.n, t);
        char what[64];
        snprintf(what, sizeof what, "tiny decode T=%d video [3,%d,48,80]", t, s[1]);
        if (!rc) check_close(what, video, ref, nv, TOL_TINY, COS_TINY);
        if (t == 2 && !rc) { /* same bits for 1 and 2 threads (docs/ARCHITECTURE.md, Numerics) */
            float *v1 = malloc(sizeof(float) * (size_t)nv);
            platform_set_threads(1);
            rc = vae_decode(m, z, t, 6, 10, v1, NULL, NULL, &e);
            platform_set_threads(2);
            CHECK(rc == T2V_OK && !memcmp(v1, video, sizeof(float) * (size_t)nv),
                  "tiny decode T=2: same bits with 1 and 2 threads");
            free(v1);
        }
        free(video);
        free(z);
        free(ref);
    }
}

/* Every decoder module's output (2 frames at 2x3), then the encoder. */
static void test_tiny_stages(Vae *m, const SafeTensors *g) {
    int64_t nz;
    float *z = golden_f32(g, "latent", &nz);
    if (!z) return;
    for (int n = 0; n <= m->config.n_dec; n++) {
        const char *name = vae_layer_name(m, 1, n - 1);
        int s[4];
        vae_stage_shape(m, 1, n, 2, 2, 3, s);
        int64_t nr;
        float *ref = golden_f32(g, name, &nr);
        if (!ref) continue;
        if (golden_shape_is(g, name, s)) {
            float *out = malloc(sizeof(float) * (size_t)shape_n(s));
            T2vError e = {0, {0}};
            int rc = vae_decode_stage(m, n, z, 2, 2, 3, out, &e);
            char what[80];
            snprintf(what, sizeof what, "stage %s [%d,%d,%d,%d]", name, s[0], s[1], s[2], s[3]);
            if (rc) CHECK(0, "%s: %s", what, e.msg);
            else check_close(what, out, ref, nr, TOL_TINY, COS_TINY);
            free(out);
        }
        free(ref);
    }
    int64_t nv;
    float *ref = golden_f32(g, "video", &nv), *video = malloc(sizeof(float) * 3 * 5 * 16 * 24);
    T2vError e = {0, {0}};
    if (ref && nv == 3 * 5 * 16 * 24) {
        int rc = vae_decode(m, z, 2, 2, 3, video, NULL, NULL, &e);
        if (rc) CHECK(0, "tiny decode 2x3: %s", e.msg);
        else check_close("tiny decode 2x3 video [3,5,16,24]", video, ref, nv, TOL_TINY, COS_TINY);
    }
    free(ref);
    free(video);
    free(z);
}

static void test_tiny_encode(Vae *m, const SafeTensors *g) {
    int64_t nv;
    float *video = golden_f32(g, "video", &nv);
    if (!video) return;
    int checked = 0;
    for (int n = 1; n <= m->config.n_enc; n++) {
        const char *name = vae_layer_name(m, 0, n - 1);
        if (!tl_find(&g->tensors, name)) continue; /* not every stage is committed */
        int s[4];
        vae_stage_shape(m, 0, n, 9, 16, 24, s);
        int64_t nr;
        float *ref = golden_f32(g, name, &nr);
        if (ref && golden_shape_is(g, name, s)) {
            float *out = malloc(sizeof(float) * (size_t)shape_n(s));
            T2vError e = {0, {0}};
            int rc = vae_encode_stage(m, n, video, 9, 16, 24, out, &e);
            char what[80];
            snprintf(what, sizeof what, "stage %s [%d,%d,%d,%d]", name, s[0], s[1], s[2], s[3]);
            if (rc) CHECK(0, "%s: %s", what, e.msg);
            else check_close(what, out, ref, nr, TOL_TINY, COS_TINY);
            free(out);
            checked++;
        }
        free(ref);
    }
    CHECK(checked >= 10, "tiny encoder: %d stages compared", checked);
    int64_t nr;
    float *ref = golden_f32(g, "latent", &nr);
    int s[4] = {16, 3, 2, 3};
    if (ref && golden_shape_is(g, "latent", s)) {
        float *z = malloc(sizeof(float) * (size_t)nr);
        T2vError e = {0, {0}};
        int rc = vae_encode(m, video, 9, 16, 24, z, &e);
        if (rc) CHECK(0, "tiny vae_encode: %s", e.msg);
        else check_close("tiny encode mu [16,3,2,3]", z, ref, nr, TOL_TINY, COS_TINY);
        /* 11 frames: the 2 past the last group of 4 are dropped, as officially */
        float *v11 = calloc((size_t)3 * 11 * 16 * 24, sizeof(float));
        for (int c = 0; c < 3; c++)
            memcpy(v11 + (size_t)c * 11 * 384, video + (size_t)c * 9 * 384, sizeof(float) * 9 * 384);
        rc = vae_encode(m, v11, 11, 16, 24, z, &e);
        if (rc) CHECK(0, "tiny vae_encode 11 frames: %s", e.msg);
        else check_close("tiny encode 11 frames (2 dropped)", z, ref, nr, TOL_TINY, COS_TINY);
        free(v11);
        free(z);
    }
    free(ref);
    free(video);
}

/* ---------------------------------------------------------------------------
 * Config, refusals, memory */
static void test_config(const Vae *m) {
    const VaeConfig *c = &m->config;
    CHECK(c->dim == 8 && c->z_dim == 16 && c->dec_top == 32 && c->enc_top == 32,
          "tiny config from weights: dim %d z_dim %d dec_top %d enc_top %d", c->dim, c->z_dim, c->dec_top,
          c->enc_top);
    CHECK(c->n_dec == 20 && c->n_enc == 16 && c->scale_s == 8 && c->scale_t == 4,
          "tiny layers: %d decoder, %d encoder; x%d space, x%d time", c->n_dec, c->n_enc, c->scale_s, c->scale_t);
    CHECK(!strcmp(vae_layer_name(m, 1, 7), "decoder.upsamples.3") &&
              !strcmp(vae_layer_name(m, 0, 16 - 1), "encoder.head"),
          "layer names: %s, %s", vae_layer_name(m, 1, 7), vae_layer_name(m, 0, 15));
    CHECK(c->n_stages == 4 && c->dim_mult[0] == 1 && c->dim_mult[1] == 2 && c->dim_mult[2] == 4 &&
              c->dim_mult[3] == 4 && c->num_res_blocks == 2 && !c->temporal_down[0] && c->temporal_down[1] &&
              c->temporal_down[2],
          "tiny stages from weights: dim_mult [1,2,4,4], 2 residual blocks, temporal [0,1,1]");
    size_t a = vae_decode_memory(m, 6, 10), b = vae_decode_memory(m, 12, 20);
    CHECK(a > 0 && b > a, "decode working memory grows with the area (%zu -> %zu bytes)", a, b);
}

/* The shipped config, the latent's geometry, and the tensor list vae_build
 * binds: every spec of the tiny config is in the tiny list with its shape. */
static void test_specs(const Vae *m, const TensorList *tl) {
    VaeConfig d;
    vae_default_config(&d);
    CHECK(d.dim == 96 && d.z_dim == 16 && d.scale_s == 8 && d.scale_t == 4 && d.dec_top == 384 &&
              d.n_dec == 20 && d.n_enc == 16,
          "Wan2.1 default: dim %d z %d, x%d space x%d time, top %d, %d + %d layers", d.dim, d.z_dim, d.scale_s,
          d.scale_t, d.dec_top, d.n_dec, d.n_enc);
    int n = vae_tensor_specs(&d, NULL, 0);
    CHECK(n == 194, "Wan2.1 VAE: %d tensors listed (docs/MODEL.md 4.1: 194)", n);
    int T, h, w, F, H, W;
    vae_latent_size(&d, 81, 480, 832, &T, &h, &w);
    vae_video_size(&d, T, h, w, &F, &H, &W);
    CHECK(T == 21 && h == 60 && w == 104 && F == 81 && H == 480 && W == 832,
          "81 x 480 x 832 <-> latent %d x %d x %d <-> %d x %d x %d", T, h, w, F, H, W);
    CHECK(vae_video_size_ok(&d, 81, 480, 832) && vae_video_size_ok(&d, 1, 8, 8) && !vae_video_size_ok(&d, 80, 480, 832) &&
              !vae_video_size_ok(&d, 81, 484, 832) && !vae_video_size_ok(&d, 0, 8, 8),
          "legal sizes: 1 + 4k frames, H and W multiples of 8");
    const VaeConfig *c = &m->config;
    n = vae_tensor_specs(c, NULL, 0);
    TensorSpec *s = malloc(sizeof *s * (size_t)n);
    int again = vae_tensor_specs(c, s, n), bad = 0;
    for (int i = 0; i < n; i++) {
        const Tensor *t = tl_find(tl, s[i].name);
        int ok = t && t->ndim == s[i].ndim;
        for (int k = 0; ok && k < s[i].ndim; k++) ok = t->shape[k] == s[i].shape[k];
        if (!ok && bad++ == 0) printf("       first mismatch: %s\n", s[i].name);
    }
    CHECK(again == n && n == tl->n && bad == 0, "tiny: vae_tensor_specs lists %d tensors, the file has %d, %d differ",
          n, tl->n, bad);
    free(s);
    VaeConfig f;
    T2vError e = {0, {0}};
    int rc = vae_config_from_tensors(&f, tl, &e);
    CHECK(rc == 0 && !memcmp(&f, c, sizeof f), "vae_config_from_tensors = vae_build's config (%s)", rc ? e.msg : "ok");
}

static void test_refusals(TensorList *tl) {
    T2vError e = {0, {0}};
    Vae m;
    /* a missing tensor: named in the message */
    int i = 0;
    for (; i < tl->n; i++)
        if (!strcmp(tl->names[i], "decoder.middle.1.proj.bias")) break;
    CHECK(i < tl->n, "tiny list has decoder.middle.1.proj.bias");
    if (i == tl->n) return;
    char *saved = tl->names[i], away[] = "renamed.away";
    tl->names[i] = away;
    int rc = vae_build(&m, tl, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "decoder.middle.1.proj.bias"), "missing tensor refused: %s", e.msg);
    tl->names[i] = saved;
    /* a misshapen one */
    for (i = 0; i < tl->n; i++)
        if (!strcmp(tl->names[i], "decoder.upsamples.4.residual.6.weight")) break;
    if (i == tl->n) return;
    int64_t s0 = tl->tensors[i].shape[1];
    tl->tensors[i].shape[1] = s0 + 1;
    e.code = 0;
    rc = vae_build(&m, tl, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "decoder.upsamples.4.residual.6.weight") && strstr(e.msg, "expected"),
          "misshapen tensor refused: %s", e.msg);
    tl->tensors[i].shape[1] = s0;
    TensorList empty = {0, 0, NULL, NULL, NULL};
    e.code = 0;
    rc = vae_build(&m, &empty, &e);
    CHECK(rc == T2V_EINPUT && strstr(e.msg, "conv2.weight"), "empty checkpoint refused: %s", e.msg);
}

/* BF16 weights (as a converted checkpoint may ship them) take the widening
 * path of conv3d_forward / linear_forward. There is no golden for bf16-rounded
 * weights, so the video is compared with the F32-weight golden under a loose,
 * documented bound (golden/README.md): it catches a broken widening, not a
 * small numerical error. */
static void test_bf16(const SafeTensors *g) {
    TensorList tl;
    Vae m;
    if (!make_weights(&tl, g, DT_BF16)) return;
    if (build(&m, &tl, "tiny bf16")) {
        int64_t nz, nv;
        float *z = golden_f32(g, "latent.t2", &nz), *ref = golden_f32(g, "video.t2", &nv);
        float *v = malloc(sizeof(float) * (size_t)nv);
        T2vError e = {0, {0}};
        int rc = vae_decode(&m, z, 2, 6, 10, v, NULL, NULL, &e);
        if (rc) CHECK(0, "bf16 decode: %s", e.msg);
        else check_close("tiny decode T=2, bf16 weights (bf16 bound)", v, ref, nv, 0.1, 0.999);
        free(v);
        free(z);
        free(ref);
        vae_free(&m);
    }
    tl_free(&tl);
}

/* ---------------------------------------------------------------------------
 * Full width (dim 96), weights from the PRNG */
static void test_full(const SafeTensors *g) {
    TensorList tl;
    Vae m;
    if (!make_weights(&tl, g, DT_F32)) return;
    if (build(&m, &tl, "full width (decoder only)")) {
        const VaeConfig *c = &m.config;
        CHECK(c->dim == 96 && c->dec_top == 384 && c->n_dec == 20 && c->n_enc == 0,
              "full config: dim %d top %d, %d decoder layers, no encoder", c->dim, c->dec_top, c->n_dec);
        int64_t nz, nv;
        float *z = golden_f32(g, "latent", &nz), *ref = golden_f32(g, "video", &nv);
        int s[4] = {3, 5, 32, 32};
        if (z && ref && golden_shape_is(g, "video", s)) {
            float *v = malloc(sizeof(float) * (size_t)nv);
            T2vError e = {0, {0}};
            int rc = vae_decode(&m, z, 2, 4, 4, v, NULL, NULL, &e);
            if (rc) CHECK(0, "full decode: %s", e.msg);
            else check_close("full-width decode [3,5,32,32]", v, ref, nv, TOL_FULL, COS_FULL);
            free(v);
            rc = vae_encode(&m, ref, 5, 32, 32, z, &e);
            CHECK(rc == T2V_EINPUT && strstr(e.msg, "no encoder"), "encode without encoder refused: %s", e.msg);
        }
        free(z);
        free(ref);
        vae_free(&m);
    }
    tl_free(&tl);
}

/* ---------------------------------------------------------------------------
 * The Wan2.2 VAE (golden/vae22/tiny.safetensors, tools/golden_vae22.py):
 * encoder width 8, decoder width 12, z_dim 48, 2x2 patches: 16x in space. */

/* Compares stage NAME ("decoder.head"...) with golden "stage.NAME" when present. */
static int vae22_stage(Vae *m, const SafeTensors *g, int dec, int n, const float *in, int T, int h, int w) {
    const char *name = vae_layer_name(m, dec, n - 1);
    char key[96];
    snprintf(key, sizeof key, "stage.%s", name);
    if (!strcmp(name, "decoder.middle.2")) snprintf(key, sizeof key, "stage.decoder.middle");
    if (!tl_find(&g->tensors, key)) return 0;
    int s[4];
    int64_t nr;
    vae_stage_shape(m, dec, n, T, h, w, s);
    float *ref = golden_f32(g, key, &nr);
    if (ref && golden_shape_is(g, key, s)) {
        float *out = malloc(sizeof(float) * (size_t)shape_n(s));
        T2vError e = {0, {0}};
        int rc = dec ? vae_decode_stage(m, n, in, T, h, w, out, &e) : vae_encode_stage(m, n, in, T, h, w, out, &e);
        char what[96];
        snprintf(what, sizeof what, "2.2 stage %s [%d,%d,%d,%d]", name, s[0], s[1], s[2], s[3]);
        if (rc) CHECK(0, "%s: %s", what, e.msg);
        else check_close(what, out, ref, nr, TOL_TINY, COS_TINY);
        free(out);
    }
    free(ref);
    return 1;
}

static void test_vae22(const SafeTensors *g) {
    TensorList tl;
    Vae m;
    if (!make_weights(&tl, g, DT_F32)) return;
    if (!build(&m, &tl, "tiny Wan2.2")) { tl_free(&tl); return; }
    const VaeConfig *c = &m.config;
    CHECK(c->grouped && c->patch == 2 && c->dim == 8 && c->dec_dim == 12 && c->z_dim == 48 && c->scale_s == 16 &&
              c->scale_t == 4 && c->n_stages == 4 && c->num_res_blocks == 2 && c->temporal_down[0] == 0 &&
              c->temporal_down[1] == 1 && c->temporal_down[2] == 1,
          "Wan2.2 config from the tensors: grouped, patch %d, dim %d, dec_dim %d, z %d, stride %dx%d", c->patch,
          c->dim, c->dec_dim, c->z_dim, c->scale_t, c->scale_s);
    CHECK(vae_tensor_specs(c, NULL, 0) == tl.n, "Wan2.2: vae_tensor_specs lists %d tensors, the file %d",
          vae_tensor_specs(c, NULL, 0), tl.n);
    int T_, h_, w_;
    vae_latent_size(c, 1, 32, 32, &T_, &h_, &w_);
    CHECK(T_ == 1 && h_ == 2 && w_ == 2, "Wan2.2: a 1-frame 32x32 video has a 1-frame 2x2 latent");
    for (int t = 1; t <= 3; t += 2) {
        char zn[32], vn[32];
        snprintf(zn, sizeof zn, "latent.t%d", t);
        snprintf(vn, sizeof vn, "video.t%d", t);
        int64_t nz, nv;
        float *z = golden_f32(g, zn, &nz), *ref = golden_f32(g, vn, &nv);
        int s[4] = {3, 1 + 4 * (t - 1), 32, 48};
        if (z && ref && golden_shape_is(g, vn, s)) {
            float *video = malloc(sizeof(float) * (size_t)nv);
            T2vError e = {0, {0}};
            int rc = vae_decode(&m, z, t, 2, 3, video, NULL, NULL, &e);
            char what[64];
            snprintf(what, sizeof what, "2.2 decode T=%d video [3,%d,32,48]", t, s[1]);
            if (rc) CHECK(0, "%s: %s", what, e.msg);
            else check_close(what, video, ref, nv, TOL_TINY, COS_TINY);
            free(video);
        }
        if (z && t == 3) {
            int k = 0;
            for (int n = 1; n <= c->n_dec; n++) k += vae22_stage(&m, g, 1, n, z, 3, 2, 3);
            CHECK(k == 3, "2.2 decoder: %d stages compared (middle, upsamples.0, head)", k);
        }
        free(z);
        free(ref);
    }
    CHECK(vae_decode_memory(&m, 2, 3) > 0, "2.2 decode memory: %zu bytes for a 2x3 latent, any length",
          vae_decode_memory(&m, 2, 3));
    static const char *const in[2] = {"clip", "image"}, *const out[2] = {"mu.clip", "mu.image"};
    static const int F[2] = {9, 1}, W[2] = {48, 32};
    for (int k = 0; k < 2; k++) {
        int64_t nv, nr;
        float *video = golden_f32(g, in[k], &nv), *ref = golden_f32(g, out[k], &nr);
        int s[4] = {48, 1 + (F[k] - 1) / 4, 2, W[k] / 16};
        if (video && ref && golden_shape_is(g, out[k], s)) {
            float *z = malloc(sizeof(float) * (size_t)nr);
            T2vError e = {0, {0}};
            int rc = vae_encode(&m, video, F[k], 32, W[k], z, &e);
            char what[64];
            snprintf(what, sizeof what, "2.2 encode %s -> mu [48,%d,2,%d]", in[k], s[1], s[3]);
            if (rc) CHECK(0, "%s: %s", what, e.msg);
            else check_close(what, z, ref, nr, TOL_TINY, COS_TINY);
            free(z);
        }
        if (video && k == 0) {
            int n_st = 0;
            for (int n = 1; n <= c->n_enc; n++) n_st += vae22_stage(&m, g, 0, n, video, 9, 32, 48);
            CHECK(n_st == 5, "2.2 encoder: %d stages compared (4 groups, head)", n_st);
        }
        free(video);
        free(ref);
    }
    vae_free(&m);
    tl_free(&tl);
}

int main(void) {
    platform_set_threads(2);
    SafeTensors gd, gs, ge, gf;
    if (golden_open(&gd, "golden/vae/tiny_decode.safetensors")) {
        TensorList tl;
        Vae m;
        if (make_weights(&tl, &gd, DT_F32) && build(&m, &tl, "tiny")) {
            test_config(&m);
            test_specs(&m, &tl);
            test_tiny_decode(&m, &gd);
            if (golden_open(&gs, "golden/vae/tiny_stages.safetensors")) {
                test_tiny_stages(&m, &gs);
                st_close(&gs);
            }
            if (golden_open(&ge, "golden/vae/tiny_encode.safetensors")) {
                test_tiny_encode(&m, &ge);
                st_close(&ge);
            }
            vae_free(&m);
            test_refusals(&tl);
        }
        tl_free(&tl);
        test_bf16(&gd);
        st_close(&gd);
    }
    if (golden_open(&gf, "golden/vae22/tiny.safetensors")) {
        test_vae22(&gf);
        st_close(&gf);
    }
    if (golden_open(&gf, "golden/vae/full_decode.safetensors")) {
        test_full(&gf);
        st_close(&gf);
    }
    return h_finish();
}
