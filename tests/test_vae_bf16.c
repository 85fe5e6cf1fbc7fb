/*
 * test_vae_bf16.c: the VAE in `--precision bf16` (gemm_bf16.h conv3d_bf16_forward;
 * docs/ARCHITECTURE.md, Numerics, "bf16", VAE):
 *   - conv3d_bf16_forward against conv3d_bf16_naive (the definition, one
 *     element at a time), bit for bit: causal front padding of 0, 1, 2
 *     frames, 1x1x1, 3x3 and 3x1x1 kernels, strides, odd Cin, Cout past a
 *     row block, several output frames; F32, BF16 and F16 weights; the fast
 *     kernel and the portable one (T2V_GEMM_GENERIC=1); 1, 2 and 3 threads;
 *   - the tiny VAE (dim 8) and the full-width decoder against their bf16
 *     goldens (tools/reference/vae.py bf16_products, float64 with the same
 *     rounding points: golden/vae/tiny_precision_bf16.safetensors), and the
 *     bf16 path's own error against the fp32-path goldens, per stage;
 *   - the same bits from the portable kernel and 1 or 3 threads;
 *   - the Wan2.2 VAE in bf16 against its fp32 golden (bounded), same bits.
 * Tolerances: golden/README.md, "bf16".
 */
#include "harness.h"

#include "../ref/lib/gemm_bf16.h"
#include "../ref/lib/ops.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/vae.h"

#include "prng_weights.h"

/* One convolution on fp32 inputs: the same bf16 operands on both sides, only
 * the fp32 sums differ. */
#define TOL_CONV_BF16 1e-5
#define COS_CONV_BF16 0.9999999
/* Whole stages against the bf16 golden (golden/README.md, "bf16", VAE): an
 * activation t2v holds in fp32 and the reference in float64 can round to
 * the other bf16 neighbour, and from the first such flip on, the two runs
 * round different values and drift apart by a fraction of bf16's own
 * error. Before the first flip (on these goldens: up to
 * decoder.upsamples.5, STAGES_TIGHT decoder layers) they agree to 1e-6. */
#define TOL_VAE_TIGHT 1e-5
#define COS_VAE_TIGHT 0.9999999
#define STAGES_TIGHT 10
#define TOL_VAE_BF16 3e-2
#define COS_VAE_BF16 0.99998
/* The full-width decoder sums 10,368 products per output from its first
 * layer on: flips from the start, and the runs drift apart as far as bf16's
 * own error (measured 1-cos 2.1e-5 against the bf16 golden, 3.0e-5 against
 * fp32's). A bound: the tiny VAE and the single convs carry the tight checks. */
#define TOL_VAE_FULL 5e-2
#define COS_VAE_FULL 0.99995
/* The bf16 path against the fp32 path's float64 golden: it must differ (bf16
 * ran) and stay within a bound on what bf16 operands cost (measured per
 * stage in golden/README.md: 9e-3 .. 5e-2). */
#define MIN_VS_FP32 1e-3
#define MAX_VS_FP32 1e-1

static uint64_t rng = 0x6276616531ULL;
static float rand_unit(void) { return (float)((double)(prng_next(&rng) >> 11) * 0x1p-53 * 2.0 - 1.0); }

/* --------------------------------------------------------------------------
 * The conv kernel against its definition */
typedef struct {
    int Cin, Cout, T, H, W;
    Conv3dParams p;
    const char *what;
} ConvCase;

static void conv_case(const ConvCase *cc, DType dt) {
    const Conv3dParams *p = &cc->p;
    int To, Ho, Wo;
    conv3d_out_size(p, cc->T, cc->H, cc->W, &To, &Ho, &Wo);
    int64_t nw = (int64_t)cc->Cout * cc->Cin * p->kt * p->kh * p->kw, nx = (int64_t)cc->Cin * cc->T * cc->H * cc->W;
    int64_t no = (int64_t)cc->Cout * To * Ho * Wo;
    float *w = h_falloc(nw), *x = h_falloc(nx), *b = h_falloc(cc->Cout), *ref = h_falloc(no), *out = h_falloc(no);
    void *data = malloc(4 * (size_t)nw);
    for (int64_t i = 0; i < nx; i++) x[i] = rand_unit() * (i % 7 == 0 ? 1e-3f : 1.0f);
    for (int i = 0; i < cc->Cout; i++) b[i] = rand_unit();
    for (int64_t i = 0; i < nw; i++) { /* the weight as the file holds it; w: its exact fp32 value */
        float v = rand_unit() * 0.25f;
        if (dt == DT_BF16) { wr_u16le((uint16_t *)data + i, f32_to_bf16(v)); w[i] = bf16_to_f32(f32_to_bf16(v)); }
        else if (dt == DT_F16) { wr_u16le((uint16_t *)data + i, f32_to_f16(v)); w[i] = f16_to_f32(f32_to_f16(v)); }
        else { uint32_t u; memcpy(&u, &v, 4); wr_u32le((uint32_t *)data + i, u); w[i] = v; }
    }
    Tensor wt = {dt, 5, {cc->Cout, cc->Cin, p->kt, p->kh, p->kw}, data, 0, 0.0f, NULL};
    conv3d_bf16_naive(ref, x, cc->Cin, cc->T, cc->H, cc->W, w, cc->Cout, b, p);
    int all = 1;
    for (int generic = 0; generic <= 1; generic++) {
        if (generic) h_env_set("T2V_GEMM_GENERIC", "1"); else h_generic_restore();
        for (int nt = 1; nt <= 3; nt++) {
            platform_set_threads(nt);
            memset(out, 0xff, sizeof(float) * (size_t)no);
            T2vError e = {0, {0}};
            int rc = conv3d_bf16_forward(out, x, cc->Cin, cc->T, cc->H, cc->W, &wt, b, p, &e);
            int ok = rc == T2V_OK && h_same_bits(out, ref, no);
            if (!ok)
                CHECK(0, "bf16 conv %s, %s weights, %s kernel, %d threads: bits of the definition (%s)", cc->what,
                      dtype_name(dt), generic ? "portable" : bf16_kernel_name(), nt, rc ? e.msg : "differ");
            all &= ok;
        }
    }
    h_generic_restore();
    platform_set_threads(2);
    CHECK(all, "bf16 conv %s, %s weights: both kernels, 1-3 threads = conv3d_bf16_naive bit for bit", cc->what,
          dtype_name(dt));
    /* and it is a convolution: within bf16's error of the fp32 one */
    if (dt == DT_F32) {
        float *r32 = h_falloc(no);
        conv3d_naive(r32, x, cc->Cin, cc->T, cc->H, cc->W, w, cc->Cout, b, p);
        ErrStats s;
        err_stats(&s, ref, r32, no, 1.0);
        CHECK(s.rel < 2e-2 && s.rel > 0.0, "bf16 conv %s: against the fp32 conv max|d|/rms %.2e (bf16 operands)",
              cc->what, s.rel);
        free(r32);
    }
    free(w); free(x); free(b); free(ref); free(out); free(data);
}

static void test_conv_kernels(void) {
    static const ConvCase cases[] = {
        /* causal 3x3x3 with 2, 1, 0 frames of front padding (the VAE's windows) */
        {8, 20, 1, 7, 9, {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}, "3x3x3 causal, 1 frame"},
        {6, 14, 2, 5, 11, {3, 3, 3, 1, 1, 1, 1, 0, 1, 1, 1, 1}, "3x3x3 causal, 2 frames"},
        {16, 108, 3, 9, 17, {3, 3, 3, 1, 1, 1, 0, 0, 1, 1, 1, 1}, "3x3x3 causal, 3 frames, 108 out (>96)"},
        {3, 12, 3, 6, 10, {3, 3, 3, 1, 1, 1, 0, 0, 1, 1, 1, 1}, "3x3x3, odd Cin 3 (encoder.conv1)"},
        {5, 7, 5, 4, 6, {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}, "3x3x3 causal, 5 output frames"},
        {10, 30, 1, 13, 50, {1, 3, 3, 1, 1, 1, 0, 0, 1, 1, 1, 1}, "2D 3x3 (resample), 650 positions"},
        {8, 8, 1, 9, 12, {1, 3, 3, 1, 2, 2, 0, 0, 0, 1, 0, 1}, "3x3 stride 2 (downsample)"},
        {12, 24, 3, 4, 5, {3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, "3x1x1 (time_conv)"},
        {6, 6, 3, 4, 5, {3, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, 0}, "3x1x1 stride 2 in time (downsample3d)"},
        {16, 33, 1, 1, 300, {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, "1x1x1 (conv2, shortcut)"},
        {7, 200, 1, 2, 3, {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}, "few positions, 200 out (channel blocks)"},
        {64, 30, 3, 3, 5, {3, 3, 3, 1, 1, 1, 1, 0, 1, 1, 1, 1}, "Cin 64: 864 pairs, two K chunks"},
    };
    printf("       bf16 kernel on this CPU: %s\n", bf16_kernel_name());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_case(&cases[i], DT_F32);
    conv_case(&cases[1], DT_BF16);
    conv_case(&cases[3], DT_F16);
}

/* Single convolutions against the reference (op.NAME.*). */
static void test_conv_goldens(const SafeTensors *g) {
    static const struct {
        const char *name;
        Conv3dParams p;
    } cases[] = {{"causal", {3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}},
                 {"down2d", {1, 3, 3, 1, 2, 2, 0, 0, 0, 0, 0, 0}},
                 {"time2", {3, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, 0}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char n[4][48];
        static const char *const part[4] = {"x", "w", "b", "out"};
        for (int k = 0; k < 4; k++) snprintf(n[k], sizeof n[k], "op.%s.%s", cases[i].name, part[k]);
        const Tensor *xt = tl_find(&g->tensors, n[0]), *wt = tl_find(&g->tensors, n[1]);
        float *b = golden_f32(g, n[2], NULL), *ref = golden_f32(g, n[3], NULL), *x = golden_f32(g, n[0], NULL);
        if (xt && wt && b && ref && x && xt->ndim == 4 && wt->ndim == 5) {
            int To, Ho, Wo, Cout = (int)wt->shape[0];
            const Conv3dParams *p = &cases[i].p;
            conv3d_out_size(p, (int)xt->shape[1], (int)xt->shape[2], (int)xt->shape[3], &To, &Ho, &Wo);
            int64_t no = (int64_t)Cout * To * Ho * Wo;
            float *out = h_falloc(no);
            T2vError e = {0, {0}};
            int rc = conv3d_bf16_forward(out, x, (int)xt->shape[0], (int)xt->shape[1], (int)xt->shape[2],
                                         (int)xt->shape[3], wt, b, p, &e);
            char what[64];
            snprintf(what, sizeof what, "bf16 conv golden %s [%d,%d,%d,%d]", cases[i].name, Cout, To, Ho, Wo);
            if (rc) CHECK(0, "%s: %s", what, e.msg);
            else check_close(what, out, ref, no, TOL_CONV_BF16, COS_CONV_BF16);
            free(out);
        } else {
            CHECK(0, "bf16 conv golden %s: tensors missing or misshapen", cases[i].name);
        }
        free(b); free(ref); free(x);
    }
}

/* --------------------------------------------------------------------------
 * The tiny VAE and the full-width decoder against the goldens */

/* max|d|/rms of got against the fp32 path's float64 golden, printed and
 * bounded: bf16 ran, and costs no more than bf16 operands do. */
static void vs_fp32(const char *what, const float *got, const float *ref32, int64_t n) {
    ErrStats s;
    err_stats(&s, got, ref32, n, 1.0);
    printf("       %s: bf16 path vs the fp32 golden: max|d|/rms %.2e, 1-cos %.1e\n", what, s.rel, 1.0 - s.cosine);
    CHECK(s.rel > MIN_VS_FP32 && s.rel < MAX_VS_FP32, "%s: bf16 vs fp32 %.2e in (%.0e, %.0e)", what, s.rel,
          MIN_VS_FP32, MAX_VS_FP32);
}

/* Stage n (1..) of the decoder (dec) or encoder against g16 (and g32 where it
 * holds the stage): 2-frame 2x3 latent / 9-frame 16x24 video. */
static int stage_check(Vae *m, int dec, int n, const float *in, const SafeTensors *g16, const SafeTensors *g32) {
    const char *name = vae_layer_name(m, dec, n - 1);
    if (!tl_find(&g16->tensors, name)) return 0;
    int s[4];
    if (dec) vae_stage_shape(m, 1, n, 2, 2, 3, s);
    else vae_stage_shape(m, 0, n, 9, 16, 24, s);
    int64_t nr = 0, n32 = 0, len = (int64_t)s[0] * s[1] * s[2] * s[3];
    float *ref = golden_f32(g16, name, &nr), *ref32 = tl_find(&g32->tensors, name) ? golden_f32(g32, name, &n32) : NULL;
    float *out = h_falloc(len);
    T2vError e = {0, {0}};
    int rc = dec ? vae_decode_stage(m, n, in, 2, 2, 3, out, &e) : vae_encode_stage(m, n, in, 9, 16, 24, out, &e);
    char what[96];
    snprintf(what, sizeof what, "bf16 stage %s [%d,%d,%d,%d]", name, s[0], s[1], s[2], s[3]);
    if (rc || nr != len) CHECK(0, "%s: %s", what, rc ? e.msg : "golden size differs");
    else {
        if (dec && n <= STAGES_TIGHT) check_close(what, out, ref, len, TOL_VAE_TIGHT, COS_VAE_TIGHT);
        else check_close(what, out, ref, len, TOL_VAE_BF16, COS_VAE_BF16);
        if (ref32 && n32 == len) vs_fp32(what, out, ref32, len);
    }
    free(ref); free(ref32); free(out);
    return 1;
}

static void test_tiny(const SafeTensors *gd, const SafeTensors *gs, const SafeTensors *ge, const SafeTensors *g16) {
    TensorList tl;
    Vae m;
    T2vError e = {0, {0}};
    if (!make_weights(&tl, gd, DT_F32)) return;
    if (vae_build(&m, &tl, &e)) { CHECK(0, "vae_build tiny: %s", e.msg); tl_free(&tl); return; }
    m.precision = PREC_BF16;
    float *z = golden_f32(gs, "latent", NULL), *video = golden_f32(ge, "video", NULL);
    int nd = 0, ne = 0;
    for (int n = 1; z && n <= m.config.n_dec; n++) nd += stage_check(&m, 1, n, z, g16, gs);
    for (int n = 1; video && n <= m.config.n_enc; n++) ne += stage_check(&m, 0, n, video, g16, ge);
    CHECK(nd >= STAGES_TIGHT && ne >= 5, "bf16 tiny: %d decoder and %d encoder stages compared", nd, ne);
    /* the decode: video against both goldens; other kernels and threads */
    int64_t nv = 3 * 5 * 16 * 24, nz = 16 * 3 * 2 * 3;
    float *v = h_falloc(nv), *v1 = h_falloc(nv);
    float *ref = golden_f32(g16, "video", NULL), *ref32 = golden_f32(gs, "video", NULL);
    if (z && ref && ref32 && !vae_decode(&m, z, 2, 2, 3, v, NULL, NULL, &e)) {
        check_close("bf16 tiny decode 2x3 video [3,5,16,24]", v, ref, nv, TOL_VAE_BF16, COS_VAE_BF16);
        vs_fp32("bf16 tiny decode 2x3 video", v, ref32, nv);
        static const int threads[2] = {1, 3};
        for (int k = 0; k < 2; k++) {
            h_env_set("T2V_GEMM_GENERIC", k == 0 ? "1" : NULL);
            platform_set_threads(threads[k]);
            int rc = vae_decode(&m, z, 2, 2, 3, v1, NULL, NULL, &e);
            CHECK(rc == T2V_OK && h_same_bits(v, v1, nv), "bf16 tiny decode: %s kernel, %d threads: the same bits",
                  k == 0 ? "portable" : bf16_kernel_name(), threads[k]);
        }
        h_generic_restore();
        platform_set_threads(2);
        /* and fp32 is still fp32 */
        m.precision = PREC_FP32;
        if (!vae_decode(&m, z, 2, 2, 3, v1, NULL, NULL, &e)) {
            ErrStats s;
            err_stats(&s, v1, ref32, nv, 1.0);
            CHECK(s.rel < 1e-5, "fp32 after bf16 on the same Vae: %.2e against the fp32 golden", s.rel);
        }
        m.precision = PREC_BF16;
    } else {
        CHECK(0, "bf16 tiny decode: %s", z && ref && ref32 ? e.msg : "golden missing");
    }
    float *mu = h_falloc(nz), *mu1 = h_falloc(nz);
    float *rmu = golden_f32(g16, "latent", NULL), *rmu32 = golden_f32(ge, "latent", NULL);
    if (video && rmu && rmu32 && !vae_encode(&m, video, 9, 16, 24, mu, &e)) {
        check_close("bf16 tiny encode mu [16,3,2,3]", mu, rmu, nz, TOL_VAE_BF16, COS_VAE_BF16);
        vs_fp32("bf16 tiny encode mu", mu, rmu32, nz);
        h_env_set("T2V_GEMM_GENERIC", "1");
        platform_set_threads(3);
        int rc = vae_encode(&m, video, 9, 16, 24, mu1, &e);
        h_generic_restore();
        platform_set_threads(2);
        CHECK(rc == T2V_OK && h_same_bits(mu, mu1, nz), "bf16 tiny encode: portable kernel, 3 threads: the same bits");
    } else {
        CHECK(0, "bf16 tiny encode: %s", video && rmu && rmu32 ? e.msg : "golden missing");
    }
    free(v); free(v1); free(ref); free(ref32); free(mu); free(mu1); free(rmu); free(rmu32);
    free(z); free(video);
    vae_free(&m);
    tl_free(&tl);
}

static void test_full(const SafeTensors *gf, const SafeTensors *g16) {
    TensorList tl;
    Vae m;
    T2vError e = {0, {0}};
    if (!make_weights(&tl, gf, DT_F32)) return;
    if (vae_build(&m, &tl, &e)) { CHECK(0, "vae_build full: %s", e.msg); tl_free(&tl); return; }
    m.precision = PREC_BF16;
    int64_t nv = 3 * 5 * 32 * 32;
    float *z = golden_f32(gf, "latent", NULL), *ref32 = golden_f32(gf, "video", NULL);
    float *ref = golden_f32(g16, "full.video", NULL), *v = h_falloc(nv);
    if (z && ref && ref32 && !vae_decode(&m, z, 2, 4, 4, v, NULL, NULL, &e)) {
        check_close("bf16 full-width decode video [3,5,32,32]", v, ref, nv, TOL_VAE_FULL, COS_VAE_FULL);
        vs_fp32("bf16 full-width decode video", v, ref32, nv);
    } else {
        CHECK(0, "bf16 full-width decode: %s", z && ref && ref32 ? e.msg : "golden missing");
    }
    size_t b16 = vae_decode_memory(&m, 4, 4);
    m.precision = PREC_FP32;
    size_t b32 = vae_decode_memory(&m, 4, 4);
    CHECK(b16 > 0 && b32 > 0, "decode working memory: fp32 %zu, bf16 %zu bytes", b32, b16);
    free(z); free(ref32); free(ref); free(v);
    vae_free(&m);
    tl_free(&tl);
}

/* The Wan2.2 VAE (2x2 patches, group shortcuts, 48-channel latent): no bf16
 * golden of its own; the decode (T = 3) and the clip's encode in bf16 against
 * the fp32 path's float64 golden (bounded as above), and the same bits from
 * the portable kernel on 3 threads. */
static void test_vae22(const SafeTensors *g) {
    TensorList tl;
    Vae m;
    T2vError e = {0, {0}};
    if (!make_weights(&tl, g, DT_F32)) return;
    if (vae_build(&m, &tl, &e)) { CHECK(0, "vae_build 2.2: %s", e.msg); tl_free(&tl); return; }
    m.precision = PREC_BF16;
    int64_t nz, nv, nc, nm;
    float *z = golden_f32(g, "latent.t3", &nz), *ref = golden_f32(g, "video.t3", &nv);
    float *clip = golden_f32(g, "clip", &nc), *rmu = golden_f32(g, "mu.clip", &nm);
    if (z && ref && clip && rmu && nv == 3 * 9 * 32 * 48 && nm == 48 * 3 * 2 * 3) {
        float *v = h_falloc(nv), *v1 = h_falloc(nv), *mu = h_falloc(nm), *mu1 = h_falloc(nm);
        int rc = vae_decode(&m, z, 3, 2, 3, v, NULL, NULL, &e);
        if (!rc) rc = vae_encode(&m, clip, 9, 32, 48, mu, &e);
        if (rc) CHECK(0, "bf16 Wan2.2 VAE: %s", e.msg);
        else {
            vs_fp32("bf16 Wan2.2 decode T=3 video", v, ref, nv);
            vs_fp32("bf16 Wan2.2 encode clip mu", mu, rmu, nm);
            h_env_set("T2V_GEMM_GENERIC", "1");
            platform_set_threads(3);
            rc = vae_decode(&m, z, 3, 2, 3, v1, NULL, NULL, &e);
            if (!rc) rc = vae_encode(&m, clip, 9, 32, 48, mu1, &e);
            h_generic_restore();
            platform_set_threads(2);
            CHECK(rc == T2V_OK && h_same_bits(v, v1, nv) && h_same_bits(mu, mu1, nm),
                  "bf16 Wan2.2 decode and encode: portable kernel, 3 threads: the same bits");
        }
        free(v); free(v1); free(mu); free(mu1);
    } else {
        CHECK(0, "bf16 Wan2.2: golden tensors missing or misshapen");
    }
    free(z); free(ref); free(clip); free(rmu);
    vae_free(&m);
    tl_free(&tl);
}

int main(void) {
    h_generic_save();
    platform_set_threads(2);
    test_conv_kernels();
    SafeTensors gd, gs, ge, gf, g16;
    if (golden_open(&g16, "golden/vae/tiny_precision_bf16.safetensors")) {
        test_conv_goldens(&g16);
        if (golden_open(&gd, "golden/vae/tiny_decode.safetensors")) {
            if (golden_open(&gs, "golden/vae/tiny_stages.safetensors")) {
                if (golden_open(&ge, "golden/vae/tiny_encode.safetensors")) {
                    test_tiny(&gd, &gs, &ge, &g16);
                    st_close(&ge);
                }
                st_close(&gs);
            }
            st_close(&gd);
        }
        if (golden_open(&gf, "golden/vae/full_decode.safetensors")) {
            test_full(&gf, &g16);
            st_close(&gf);
        }
        st_close(&g16);
    }
    if (golden_open(&gf, "golden/vae22/tiny.safetensors")) {
        test_vae22(&gf);
        st_close(&gf);
    }
    return h_finish();
}
