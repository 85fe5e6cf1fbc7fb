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
#include "../ref/app/image.h"

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
    SamplingSettings ss;
    memset(&ss, 0, sizeof ss); /* field by field: no windows, no RIFLEx */
    ss.sampler = SAMPLER_UNIPC, ss.steps = 4, ss.shift = 3.0, ss.cfg = 4.0;
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
    SamplingSettings ss;
    memset(&ss, 0, sizeof ss);
    ss.sampler = SAMPLER_UNIPC, ss.steps = 6, ss.shift = 3.0, ss.cfg = 4.0, ss.cfg_low = 3.0, ss.boundary = 0.875;
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

#ifndef _WIN32 /* the CLI through a POSIX shell (tests/cross/run.sh) */
/* ---------------------------------------------------------------------------
 * The stage contract through the program (t2v stage sampler / dit) on model
 * directories in the official layouts, assembled here from the goldens:
 *   TI2V: config.json, diffusion_pytorch_model.safetensors, Wan2.2_VAE.safetensors
 *   A14B: high_noise_model/ and low_noise_model/ (config.json + DiT each) */
static char g_bin[1024], g_tmp[64];
static char g_log[1 << 16]; /* the last run's output (also in g_tmp/log.txt), where the checks read it */

static int run(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = h_vrun_bin("", g_bin, g_tmp, g_log, sizeof g_log, fmt, ap);
    va_end(ap);
    return rc;
}

/* DIR/config.json from the golden's metadata and DIR/<dit> as a copy of it. */
static int write_dit_dir(const char *dir, const char *golden) {
    SafeTensors st;
    char path[600], cmd[1400];
    if (!golden_open(&st, golden)) return 0;
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/diffusion_pytorch_model.safetensors'", dir, golden, dir);
    int copied = system(cmd) == 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    const char *cfg = st_meta(&st, "config");
    int ok = f && cfg && fputs(cfg, f) >= 0;
    if (f) fclose(f);
    st_close(&st);
    return ok && copied;
}

static int write_tensors(const char *path, const SafeTensors *g, const char *const *names, const char *const *as,
                         int n) {
    StItem items[8];
    T2vError e = {0, {0}};
    for (int i = 0; i < n; i++) {
        items[i].name = as[i];
        items[i].t = tl_find(&g->tensors, names[i]);
        if (!items[i].t) return 0;
    }
    return st_write(path, items, n, NULL, NULL, 0, &e) == T2V_OK;
}

/* Compares tensor NAME of OUT with golden REF. */
static void compare_out(const char *out, const char *name, const SafeTensors *g, const char *ref, double tol) {
    SafeTensors o;
    if (!golden_open(&o, out)) return;
    int64_t n1, n2;
    float *a = golden_f32(&o, name, &n1), *b = golden_f32(g, ref, &n2);
    char what[96];
    snprintf(what, sizeof what, "t2v stage: %s", name);
    if (a && b && n1 == n2) check_close(what, a, b, n1, tol, COS_LATENT);
    else CHECK(0, "%s: %s in %s, %s in the golden", what, name, out, ref);
    free(a);
    free(b);
    st_close(&o);
}

static void test_cli_ti2v(const SafeTensors *g) {
    char dir[400], in[400], out[400], path[500];
    snprintf(dir, sizeof dir, "%s/ti2v", g_tmp);
    snprintf(in, sizeof in, "%s/in.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/out.safetensors", g_tmp);
    SafeTensors gv;
    TensorList tl;
    T2vError e = {0, {0}};
    if (!write_dit_dir(dir, "golden/wan22/ti2v_dit.safetensors") || !golden_open(&gv, "golden/vae22/tiny.safetensors"))
        return;
    int ok = make_weights(&tl, &gv, DT_F32);
    StItem *items = ok ? calloc((size_t)tl.n, sizeof *items) : NULL;
    for (int i = 0; items && i < tl.n; i++) items[i].name = tl.names[i], items[i].t = &tl.tensors[i];
    snprintf(path, sizeof path, "%s/Wan2.2_VAE.safetensors", dir);
    ok = items && st_write(path, items, tl.n, NULL, NULL, 0, &e) == T2V_OK;
    CHECK(ok, "tiny TI2V model directory written: %s", ok ? dir : e.msg);
    free(items);
    tl_free(&tl);
    st_close(&gv);
    if (!ok) return;
    /* the VAE stages on the 2.2 VAE: clip [3,9,32,48] <-> latent [48,3,2,3] */
    if (golden_open(&gv, "golden/vae22/tiny.safetensors")) {
        static const char *const vn[1] = {"clip"}, *const va[1] = {"video"}, *const ln[1] = {"latent.t3"},
                                 *const la[1] = {"latent"};
        int r1 = write_tensors(in, &gv, vn, va, 1) ? run("stage vae-encode --model '%s' --in '%s' --out '%s' --force",
                                                         dir, in, out) : -1;
        CHECK(r1 == 0, "stage vae-encode, Wan2.2 VAE: exit %d", r1);
        if (!r1) compare_out(out, "latent", &gv, "mu.clip", TOL_LATENT);
        r1 = write_tensors(in, &gv, ln, la, 1) ? run("stage vae-decode --model '%s' --in '%s' --out '%s' --force -q",
                                                     dir, in, out) : -1;
        CHECK(r1 == 0, "stage vae-decode, Wan2.2 VAE: exit %d", r1);
        if (!r1) compare_out(out, "video", &gv, "video.t3", TOL_LATENT);
        st_close(&gv);
    }
    static const char *const n[4] = {"ti2v.noise", "context", "context_neg", "ti2v_i2v.image"},
                             *const as[4] = {"noise", "context", "context_neg", "image"};
    /* the tiny Wan2.1 model's text encoder and tokenizer (text_dim 32, as this DiT's) */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r golden/models/tiny/models_t5_umt5-xxl-enc-bf16.pth golden/models/tiny/google '%s/'",
             dir);
    CHECK(system(cmd) == 0, "tiny umT5 and tokenizer copied into the TI2V directory");
    int rc = run("info --model '%s'", dir);
    CHECK(rc == 0 && strstr(g_log, "Wan2.2 TI2V-5B"), "t2v info names the family Wan2.2 TI2V-5B (exit %d)", rc);
    /* text-to-video: no image */
    if (write_tensors(in, g, n, as, 3)) {
        rc = run("stage sampler --model '%s' --in '%s' --out '%s' --steps 4 --cfg 4 --shift 3 -q --force", dir, in, out);
        CHECK(rc == 0, "stage sampler, TI2V text-to-video: exit %d", rc);
        if (!rc) compare_out(out, "latent.final", g, "ti2v_t2v.latent.final", TOL_LATENT);
    }
    /* image-to-video: `image` present -> image_latent added */
    if (write_tensors(in, g, n, as, 4)) {
        rc = run("stage sampler --model '%s' --in '%s' --out '%s' --steps 4 --cfg 4 --shift 3 -q --force", dir, in, out);
        CHECK(rc == 0, "stage sampler, TI2V image-to-video: exit %d", rc);
        if (!rc) compare_out(out, "latent.final", g, "ti2v_i2v.latent.final", TOL_LATENT);
        if (!rc) compare_out(out, "image_latent", g, "ti2v_i2v.image_latent", TOL_IMAGE);
        rc = run("stage sampler --model '%s' --in '%s' --out '%s' --steps 4 --cfg 4,3 -q --force", dir, in, out);
        CHECK(rc == T2V_EUSAGE, "--cfg HIGH,LOW on a one-model directory: exit %d (usage)", rc);
    }
}

/* generate -i: a still from the tiny Wan2.1 model, animated by the tiny TI2V one. */
static void test_cli_i2v(void) {
    char path[600];
    int rc = run("generate --model golden/models/tiny -p 'a red circle' -o '%s/still' --format png -q --force", g_tmp);
    snprintf(path, sizeof path, "%s/still_0000.png", g_tmp);
    CHECK(rc == 0 && access(path, R_OK) == 0, "a 32x32 still made by the tiny model (exit %d)", rc);
    rc = run("generate --model '%s/ti2v' -i '%s' -p 'it moves' -W 64 -H 64 -f 5 --steps 2 -o '%s/i2v' --format png "
             "--dump '%s/i2vdump' --preview '%s/prev.png' -q --force", g_tmp, path, g_tmp, g_tmp, g_tmp);
    snprintf(path, sizeof path, "%s/i2v_0004.png", g_tmp);
    CHECK(rc == 0 && access(path, R_OK) == 0, "generate -i on the tiny TI2V model: 5 frames at 64x64 (exit %d)", rc);
    snprintf(path, sizeof path, "%s/prev.png", g_tmp);
    CHECK(rc == 0 && access(path, R_OK) == 0, "--preview on a 48-channel latent (ComfyUI's Wan22 factors built in)");
    /* the dump: the prepared still, its latent, and latent frame 0 held to it */
    SafeTensors d;
    snprintf(path, sizeof path, "%s/i2vdump/dump.safetensors", g_tmp);
    if (!rc && golden_open(&d, path)) {
        int64_t ni, nz, nl;
        float *img = golden_f32(&d, "image", &ni), *z = golden_f32(&d, "image_latent", &nz),
              *lat = golden_f32(&d, "latent.final", &nl);
        int held = img && z && lat && ni == 3 * 64 * 64 && nz == 48 * 16 && nl == 48 * 2 * 16;
        for (int c = 0; held && c < 48; c++) held = !memcmp(lat + c * 32, z + c * 16, 16 * sizeof(float));
        CHECK(held, "generate -i --dump: image [3,64,64], image_latent [48,1,4,4], latent frame 0 = image_latent");
        free(img), free(z), free(lat);
        st_close(&d);
    }
    snprintf(path, sizeof path, "%s/still_0000.png", g_tmp);
    rc = run("generate --model '%s/ti2v' -i '%s' -p 'it moves' -W 64 -H 64 -f 21 --steps 2 --context-window 9 "
             "--context-overlap 4 --context-schedule chain -o '%s/chain' -q --force", g_tmp, path, g_tmp);
    CHECK(rc != 0 && strstr(g_log, "the chain schedule: a Wan2.1-style text-to-video DiT only"),
          "generate -i with the chain schedule: refused, saying why (exit %d)", rc);
    rc = run("generate --model golden/models/tiny -i '%s' -p 'x' -o '%s/no' -q --force", path, g_tmp);
    CHECK(rc == T2V_EUSAGE, "generate -i with a Wan2.1 model: exit %d (usage)", rc);
    rc = run("generate --model '%s/ti2v' -i '%s/nothing.png' -p 'x' -o '%s/no' -q --force", g_tmp, g_tmp, g_tmp);
    CHECK(rc == T2V_EINPUT, "generate -i with a missing image: exit %d", rc);
}

static void test_cli_a14b(const SafeTensors *g) {
    char dir[400], sub[450], in[400], out[400];
    snprintf(dir, sizeof dir, "%s/a14b", g_tmp);
    snprintf(in, sizeof in, "%s/in.safetensors", g_tmp);
    snprintf(out, sizeof out, "%s/out.safetensors", g_tmp);
    snprintf(sub, sizeof sub, "%s/high_noise_model", dir);
    int ok = write_dit_dir(sub, "golden/wan22/a14b_high.safetensors");
    snprintf(sub, sizeof sub, "%s/low_noise_model", dir);
    ok = ok && write_dit_dir(sub, "golden/wan22/a14b_low.safetensors");
    CHECK(ok, "tiny A14B model directory (high_noise_model/, low_noise_model/) written");
    static const char *const n[3] = {"a14b.noise", "context", "context_neg"}, *const as[3] = {"noise", "context",
                                                                                           "context_neg"};
    if (!ok || !write_tensors(in, g, n, as, 3)) return;
    /* the official defaults apply: cfg 4.0 high / 3.0 low, boundary 0.875 */
    int rc = run("stage sampler --model '%s' --in '%s' --out '%s' --steps 6 --shift 3 -q --force", dir, in, out);
    CHECK(rc == 0, "stage sampler, A14B (default guidance 4.0,3.0 and boundary): exit %d", rc);
    if (!rc) compare_out(out, "latent.final", g, "a14b.latent.final", TOL_LATENT);
    if (!rc) compare_out(out, "experts", g, "a14b.experts", 0);
    rc = run("stage sampler --model '%s' --in '%s' --out '%s' --steps 6 --shift 3 --cfg 4,3 --boundary 0.875 -q "
             "--force", dir, in, out);
    CHECK(rc == 0, "stage sampler, A14B with --cfg 4,3 --boundary 0.875: exit %d", rc);
    if (!rc) compare_out(out, "latent.final", g, "a14b.latent.final", TOL_LATENT);
    /* the whole program: the tiny model's umT5, tokenizer and Wan2.1 VAE beside the experts */
    char cmd[1400], path[600];
    snprintf(cmd, sizeof cmd, "cp -r golden/models/tiny/models_t5_umt5-xxl-enc-bf16.pth golden/models/tiny/google "
             "golden/models/tiny/Wan2.1_VAE.pth '%s/'", dir);
    if (system(cmd) == 0) {
        rc = run("info --model '%s'", dir);
        CHECK(rc == 0 && strstr(g_log, "Wan2.2 T2V-A14B") && strstr(g_log, "low_noise_model"),
              "t2v info names the family Wan2.2 T2V-A14B and the low-noise expert (exit %d)", rc);
        rc = run("generate --model '%s' -p 'a cat' -W 32 -H 32 -f 5 --steps 6 --shift 3 -o '%s/moe' --format png "
                 "--dump '%s/moedump' -q --force", dir, g_tmp, g_tmp);
        SafeTensors d;
        snprintf(path, sizeof path, "%s/moedump/dump.safetensors", g_tmp);
        int ok2 = rc == 0 && golden_open(&d, path);
        if (ok2) {
            int64_t ne;
            float *ex = golden_f32(&d, "experts", &ne);
            ok2 = ex && ne == 6 && ex[0] == 0.0f && ex[5] == 1.0f;
            free(ex);
            st_close(&d);
        }
        CHECK(ok2, "generate on the tiny A14B directory: exit %d, the dump's experts start high and end low", rc);
    }
    /* stage dit: the expert by t; at t = 900 the high-noise one, at 600 the low-noise one */
    SafeTensors o;
    float *v[2] = {NULL, NULL};
    int64_t nv[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        Tensor t;
        int64_t one = 1;
        float tv = k ? 600.0f : 900.0f;
        T2vError e = {0, {0}};
        const Tensor *src[2] = {tl_find(&g->tensors, "a14b.noise"), tl_find(&g->tensors, "context")};
        if (!src[0] || !src[1] || tensor_alloc(&t, DT_F32, 1, &one, &e)) return;
        memcpy(t.data, &tv, 4);
        StItem items[3] = {{"latent", src[0]}, {"timestep", &t}, {"context", src[1]}};
        rc = st_write(in, items, 3, NULL, NULL, 0, &e) || run("stage dit --model '%s' --in '%s' --out '%s' --force",
                                                               dir, in, out);
        tensor_free(&t);
        CHECK(rc == 0, "stage dit, A14B at t = %g: exit %d", (double)tv, rc);
        if (!rc && golden_open(&o, out)) {
            v[k] = golden_f32(&o, "velocity", &nv[k]);
            st_close(&o);
        }
    }
    /* the same inputs through each expert directly */
    for (int k = 0; k < 2 && v[0] && v[1]; k++) {
        SafeTensors sd;
        DiT dit;
        int64_t nx, nc;
        float *x = golden_f32(g, "a14b.noise", &nx), *c = golden_f32(g, "context", &nc), tv = k ? 600.0f : 900.0f;
        float *ref = malloc(sizeof(float) * (size_t)nx);
        T2vError e = {0, {0}};
        if (load_dit(&dit, &sd, k ? "golden/wan22/a14b_low.safetensors" : "golden/wan22/a14b_high.safetensors")) {
            int r2 = dit_forward(&dit, x, 2, 4, 4, &tv, 1, c, 5, ref, &e);
            CHECK(r2 == 0 && nv[k] == nx && !memcmp(ref, v[k], sizeof(float) * (size_t)nx),
                  "stage dit at t = %g ran the %s-noise expert (same bits as that expert alone)", (double)tv,
                  k ? "low" : "high");
            dit_free(&dit);
            st_close(&sd);
        }
        free(x), free(c), free(ref);
    }
    free(v[0]);
    free(v[1]);
}
#endif

/* The still of generate -i against PIL (tools/golden_image.py): Lanczos
 * resizes exact to the 8-bit level (at most one level off: PIL sums in fixed
 * point), best_output_size exact, the whole preparation to 1/127.5. */
static void test_image(void) {
    SafeTensors g;
    unsigned char *rgb = NULL;
    int w, h;
    T2vError e = {0, {0}};
    if (!golden_open(&g, "golden/wan22/image.safetensors")) return;
    int rc = image_load_rgb("golden/wan22/still.png", &w, &h, &rgb, &e);
    CHECK(rc == 0 && w == 61 && h == 37, "golden/wan22/still.png read: %dx%d", w, h);
    for (int i = 0; !rc && i < g.tensors.n; i++) {
        const char *name = g.tensors.names[i];
        int W, H;
        if (sscanf(name, "resize.%dx%d", &W, &H) != 2) continue;
        int64_t n;
        float *ref = golden_f32(&g, name, &n);
        unsigned char *out = malloc((size_t)W * H * 3);
        int r2 = ref && n == (int64_t)W * H * 3 ? image_resize_lanczos(rgb, w, h, out, W, H, &e) : -1;
        int maxd = 0, ndiff = 0;
        for (int64_t k = 0; !r2 && k < n; k++) {
            int d = abs((int)out[k] - (int)ref[k]);
            if (d > maxd) maxd = d;
            ndiff += d != 0;
        }
        CHECK(r2 == 0 && maxd <= 1, "Lanczos 61x37 -> %dx%d as PIL: max diff %d levels, %d of %lld values differ", W, H,
              maxd, ndiff, (long long)n);
        free(ref);
        free(out);
    }
    static const long long areas[2] = {64 * 64, 96 * 64};
    for (int i = 0; !rc && i < 2; i++) {
        char name[32];
        int64_t n;
        snprintf(name, sizeof name, "best.%lld", areas[i]);
        float *best = golden_f32(&g, name, &n);
        int ow, oh;
        image_best_size(61, 37, 32, 32, areas[i], &ow, &oh);
        CHECK(best && n == 2 && ow == (int)best[0] && oh == (int)best[1], "best_output_size for area %lld: %dx%d",
              areas[i], ow, oh);
        snprintf(name, sizeof name, "i2v.%lld", areas[i]);
        float *ref = golden_f32(&g, name, &n), *x = NULL;
        int W = 0, H = 0;
        int r2 = image_load_i2v("golden/wan22/still.png", areas[i], &W, &H, &x, &e);
        if (r2 || !ref || n != 3LL * W * H) CHECK(0, "generate -i preparation, area %lld: %s", areas[i], e.msg);
        else check_close(name, x, ref, n, 0.02, 0.9999); /* one 8-bit level is 2/255 */
        free(best), free(ref), free(x);
    }
    free(rgb);
    st_close(&g);
}

int main(int argc, char **argv) {
    platform_set_threads(2);
#ifndef _WIN32
    h_find_bin(argc > 0 ? argv[0] : "", g_bin, sizeof g_bin);
    int keep = getenv("T2V_KEEP_TMP") != NULL;
    int have_bin = access(g_bin, X_OK) == 0;
    CHECK(have_bin, "t2v binary at %s", g_bin);
    have_bin = have_bin && h_tmpdir(g_tmp, sizeof g_tmp, "t2v-wan22");
#else
    (void)argc, (void)argv;
    printf("note: the CLI checks (stage, generate on the official layouts) need a POSIX shell; not run on Windows\n");
#endif
    test_image();
    SafeTensors g;
    if (golden_open(&g, "golden/wan22/cases.safetensors")) {
        int64_t n1, n2;
        float *ctx = golden_f32(&g, "context", &n1), *ctxn = golden_f32(&g, "context_neg", &n2);
        if (ctx && ctxn && n1 == 5 * 32 && n2 == 4 * 32) {
            test_ti2v(&g, ctx, ctxn);
            test_a14b(&g, ctx, ctxn);
#ifndef _WIN32
            if (have_bin) test_cli_ti2v(&g);
            if (have_bin) test_cli_i2v();
            if (have_bin) test_cli_a14b(&g);
#endif
        } else {
            CHECK(0, "golden/wan22/cases.safetensors: context [5,32], context_neg [4,32]");
        }
        free(ctx);
        free(ctxn);
        st_close(&g);
    }
#ifndef _WIN32
    if (have_bin && !keep) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) printf("       (could not remove %s)\n", g_tmp);
    }
#endif
    return h_finish();
}
