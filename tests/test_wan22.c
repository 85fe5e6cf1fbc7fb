/*
 * test_wan22.c: Wan2.2's sampling loops (ref/lib/pipeline.c) against
 * golden/wan22 (tools/golden_wan22.py, from tools/reference/wan22.py in
 * float64): TI2V-5B text-to-video and image-to-video on a tiny TI2V DiT and
 * the tiny Wan2.2 VAE of golden/vae22; the A14B expert switch on two tiny
 * experts. Tolerances: golden/README.md, wan22.
 */
#include "harness.h"

#include "../ref/lib/json.h"
#include "../ref/lib/model.h"
#include "../ref/lib/pipeline.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/vae.h"

#include "prng_weights.h"

#define TOL_LATENT 1e-5
#define COS_LATENT 0.9999999
#define TOL_IMAGE 1e-5

/* A tiny DiT from golden/wan22/NAME (config.json in the metadata). */
static int load_dit(DiT *dit, SafeTensors *st, const char *path) {
    T2vError e = {0, {0}};
    if (!golden_open(st, path)) return 0;
    const char *cfg = st_meta(st, "config");
    char eb[128];
    JsonValue *j = cfg ? json_parse(cfg, strlen(cfg), eb, sizeof eb) : NULL;
    DiTConfig c;
    int rc = j ? dit_config_from_json(&c, j, path, &e) : T2V_EINPUT;
    if (!rc) rc = dit_build(dit, &c, &st->tensors, &e);
    json_free(j);
    CHECK(rc == T2V_OK, "%s: tiny DiT built: %s", path, rc ? (j ? e.msg : "no config") : "ok");
    if (rc) st_close(st);
    return rc == T2V_OK;
}

/* Runs the loop on KEY.noise (or noise) and compares every step and the final latent. */
static void check_run(Denoiser *d, const SafeTensors *g, const char *key, const char *noise_name, int steps) {
    int64_t n;
    float *x = golden_f32(g, noise_name, &n), *trace = x ? malloc(sizeof(float) * (size_t)n * steps) : NULL;
    T2vError e = {0, {0}};
    if (!trace) { CHECK(0, "%s: golden %s", key, noise_name); free(x); return; }
    int rc = pipeline_sample(d, x, trace, NULL, &e);
    CHECK(rc == T2V_OK, "%s: pipeline_sample: %s", key, rc ? e.msg : "ok");
    for (int i = 0; !rc && i < steps; i++) {
        char name[64], what[80];
        int64_t nr;
        snprintf(name, sizeof name, "%s.latent.step%d", key, i);
        float *ref = golden_f32(g, name, &nr);
        snprintf(what, sizeof what, "%s step %d", key, i);
        if (ref && nr == n) check_close(what, trace + (size_t)i * n, ref, n, TOL_LATENT, COS_LATENT);
        else CHECK(0, "%s: golden %s", what, name);
        free(ref);
    }
    char name[64];
    int64_t nr;
    snprintf(name, sizeof name, "%s.latent.final", key);
    float *ref = golden_f32(g, name, &nr);
    if (!rc && ref && nr == n) check_close(name, x, ref, n, TOL_LATENT, COS_LATENT);
    free(ref);
    free(trace);
    free(x);
}

static void test_ti2v(const SafeTensors *g, float *ctx, float *ctxn) {
    SafeTensors st, gv;
    DiT dit;
    if (!load_dit(&dit, &st, "golden/wan22/ti2v_dit.safetensors")) return;
    LatentGrid grid = {48, 2, 4, 4, 48 * 2 * 4 * 4};
    SamplingSettings ss = {SAMPLER_UNIPC, 4, 3.0, 4.0};
    Denoiser d;
    T2vError e = {0, {0}};
    int rc = denoiser_init(&d, &dit, &ss, &grid, ctx, 5, ctxn, 4, &e);
    CHECK(rc == T2V_OK, "TI2V denoiser: %s", rc ? e.msg : "ok");
    if (!rc) {
        check_run(&d, g, "ti2v_t2v", "ti2v.noise", 4);
        denoiser_free(&d);
    }
    /* image-to-video: the image through the tiny Wan2.2 VAE, then the loop */
    TensorList tl;
    Vae vae;
    int64_t ni, nz;
    float *image = golden_f32(g, "ti2v_i2v.image", &ni), *zref = golden_f32(g, "ti2v_i2v.image_latent", &nz);
    float z[48 * 16];
    if (image && zref && nz == 48 * 16 && golden_open(&gv, "golden/vae22/tiny.safetensors")) {
        if (make_weights(&tl, &gv, DT_F32) && vae_build(&vae, &tl, &e) == T2V_OK) {
            rc = vae_encode(&vae, image, 1, 64, 64, z, &e);
            CHECK(rc == T2V_OK, "TI2V image -> latent [48,1,4,4]: %s", rc ? e.msg : "ok");
            if (!rc) check_close("TI2V image_latent", z, zref, nz, TOL_IMAGE, COS_LATENT);
            vae_free(&vae);
        } else {
            CHECK(0, "tiny Wan2.2 VAE: %s", e.msg);
        }
        tl_free(&tl);
        st_close(&gv);
        rc = denoiser_init(&d, &dit, &ss, &grid, ctx, 5, ctxn, 4, &e);
        if (!rc) rc = denoiser_set_image(&d, zref, &e); /* the golden's latent: the loop alone */
        CHECK(rc == T2V_OK, "TI2V image-to-video denoiser: %s", rc ? e.msg : "ok");
        if (!rc) {
            check_run(&d, g, "ti2v_i2v", "ti2v.noise", 4);
            denoiser_free(&d);
        }
    }
    free(image);
    free(zref);
    dit_free(&dit);
    st_close(&st);
}

static void test_a14b(const SafeTensors *g, float *ctx, float *ctxn) {
    SafeTensors sh, sl;
    DiT hi, lo;
    if (!load_dit(&hi, &sh, "golden/wan22/a14b_high.safetensors")) return;
    if (!load_dit(&lo, &sl, "golden/wan22/a14b_low.safetensors")) { dit_free(&hi); st_close(&sh); return; }
    LatentGrid grid = {16, 2, 4, 4, 16 * 2 * 4 * 4};
    SamplingSettings ss = {SAMPLER_UNIPC, 6, 3.0, 4.0};
    Denoiser d;
    T2vError e = {0, {0}};
    int experts[6] = {-1, -1, -1, -1, -1, -1};
    int rc = denoiser_init(&d, &hi, &ss, &grid, ctx, 5, ctxn, 4, &e);
    if (!rc) rc = denoiser_set_low_expert(&d, &lo, 0.875, 3.0f, ctx, 5, ctxn, 4, &e);
    CHECK(rc == T2V_OK, "A14B denoiser with two experts: %s", rc ? e.msg : "ok");
    if (!rc) {
        d.experts = experts;
        CHECK(denoiser_expert(&d, 875.0f) == 0 && denoiser_expert(&d, 874.9f) == 1 &&
                  denoiser_expert(&d, 875.5f) == 0,
              "A14B: the high-noise expert while int(t) >= 875, the low-noise one below");
        check_run(&d, g, "a14b", "a14b.noise", 6);
        int64_t ne;
        float *ref = golden_f32(g, "a14b.experts", &ne);
        int same = ref && ne == 6;
        for (int i = 0; same && i < 6; i++) same = experts[i] == (int)ref[i];
        CHECK(same, "A14B: experts per step %d %d %d %d %d %d as the reference", experts[0], experts[1],
              experts[2], experts[3], experts[4], experts[5]);
        free(ref);
        denoiser_free(&d);
    }
    dit_free(&hi);
    dit_free(&lo);
    st_close(&sh);
    st_close(&sl);
}

int main(void) {
    platform_set_threads(2);
    SafeTensors g;
    if (golden_open(&g, "golden/wan22/cases.safetensors")) {
        int64_t n1, n2;
        float *ctx = golden_f32(&g, "context", &n1), *ctxn = golden_f32(&g, "context_neg", &n2);
        if (ctx && ctxn && n1 == 5 * 32 && n2 == 4 * 32) {
            test_ti2v(&g, ctx, ctxn);
            test_a14b(&g, ctx, ctxn);
        } else {
            CHECK(0, "golden/wan22/cases.safetensors: context [5,32], context_neg [4,32]");
        }
        free(ctx);
        free(ctxn);
        st_close(&g);
    }
    return h_finish();
}
