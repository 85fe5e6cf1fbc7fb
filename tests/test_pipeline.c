/*
 * test_pipeline.c: the whole pipeline (pipeline_generate: tokenizer -> umT5 ->
 * DiT + sampler with CFG -> VAE decode) on the tiny model directory
 * golden/models/tiny, against tools/reference/pipeline.py (PyTorch, float64):
 * golden/pipeline/case_{a,b,c}.safetensors from tools/golden_pipeline.py.
 *
 * Every tensor of DESIGN.md section 5 is checked: ids exactly, the noise and
 * the timesteps exactly (same bits as torch), the contexts, every step's
 * latent, the final latent and the video with the tolerances of
 * golden/README.md (pipeline section). Then determinism: the same run with 1
 * and 2 threads gives the same bits.
 */
#include "harness.h"

#include "../ref/lib/model.h"
#include "../ref/lib/ops.h"
#include "../ref/lib/platform.h"
#include "../ref/lib/sampler.h"

#define MODEL_DIR "golden/models/tiny"

/* Tolerances (golden/README.md, pipeline section): max|d| / rms(ref), cosine. */
#define TOL_CONTEXT 1e-5
#define COS_CONTEXT 0.99999999
#define TOL_LATENT 1e-5
#define COS_LATENT 0.9999999
#define TOL_VIDEO 1e-4
#define COS_VIDEO 0.9999999

static const char *meta(const SafeTensors *st, const char *key) {
    const char *v = st_meta(st, key);
    return v ? v : "";
}

static int check_ids(const char *what, const int32_t *got, int n, const SafeTensors *st, const char *name) {
    const Tensor *t = tl_find(&st->tensors, name);
    if (!t || t->dtype != DT_I32 || t->ndim != 1) {
        h_report(0, "%s: golden '%s' missing or not I32 [L]", what, name);
        return 0;
    }
    int ok = t->shape[0] == n && got;
    for (int i = 0; ok && i < n; i++) /* the golden's bytes are little-endian */
        ok = got[i] == (int32_t)rd_u32le((const char *)t->data + 4 * i);
    h_report(ok, "%-44s L=%d (golden L=%lld) exact", what, n, (long long)t->shape[0]);
    if (!ok)
        for (int i = 0; i < n && i < t->shape[0]; i++)
            if (got[i] != (int32_t)rd_u32le((const char *)t->data + 4 * i))
                printf("       [%d] got %d ref %d\n", i, got[i], (int)rd_u32le((const char *)t->data + 4 * i));
    return ok;
}

static int check_tensor(const char *what, const float *got, int64_t n, const SafeTensors *st, const char *name,
                        double tol, double min_cos) {
    int64_t nr = 0;
    float *ref = golden_f32(st, name, &nr);
    if (!ref) return 0;
    int ok;
    if (nr != n) {
        h_report(0, "%s: %lld values, golden '%s' has %lld", what, (long long)n, name, (long long)nr);
        ok = 0;
    } else if (tol == 0) {
        ok = got && !memcmp(got, ref, (size_t)n * sizeof(float));
        h_report(ok, "%-44s n=%-8lld same bits", what, (long long)n);
    } else {
        ok = check_close(what, got, ref, n, tol, min_cos);
    }
    free(ref);
    return ok;
}

typedef struct {
    GenSettings s;
    char prompt[512], negative[512];
} Case;

static int read_case(Case *c, const SafeTensors *st) {
    memset(c, 0, sizeof *c);
    snprintf(c->prompt, sizeof c->prompt, "%s", meta(st, "prompt"));
    snprintf(c->negative, sizeof c->negative, "%s", meta(st, "negative"));
    c->s.prompt = c->prompt;
    c->s.negative = c->negative;
    c->s.width = atoi(meta(st, "width"));
    c->s.height = atoi(meta(st, "height"));
    c->s.frames = atoi(meta(st, "frames"));
    c->s.steps = atoi(meta(st, "steps"));
    c->s.cfg = atof(meta(st, "cfg"));
    c->s.shift = atof(meta(st, "shift"));
    c->s.seed = (uint64_t)strtoull(meta(st, "seed"), NULL, 10);
    c->s.keep_steps = 1;
    SamplerKind k;
    if (sampler_kind_from_name(meta(st, "sampler"), &k)) return 0;
    c->s.sampler = (int)k;
    return c->s.width > 0 && c->s.height > 0 && c->s.frames > 0 && c->s.steps > 0;
}

static int run(const ModelPaths *mp, const GenSettings *s, GenResult *r, const char *what) {
    T2vError e = {0, {0}};
    int rc = pipeline_generate(mp, s, NULL, r, &e);
    if (rc) h_report(0, "%s: pipeline_generate failed (%d): %s", what, rc, e.msg);
    return rc == T2V_OK;
}

static void test_case(const ModelPaths *mp, const char *name) {
    char path[256], what[128];
    snprintf(path, sizeof path, "golden/pipeline/case_%s.safetensors", name);
    SafeTensors st;
    if (!golden_open(&st, path)) return;
    Case c;
    if (!read_case(&c, &st)) {
        h_report(0, "%s: bad __metadata__ (re-run `make golden`)", path);
        st_close(&st);
        return;
    }
    printf("-- case %s: %s %d steps cfg %g shift %g %dx%dx%d seed %llu\n", name, meta(&st, "sampler"), c.s.steps,
           c.s.cfg, c.s.shift, c.s.width, c.s.height, c.s.frames, (unsigned long long)c.s.seed);
    GenResult r;
    if (!run(mp, &c.s, &r, path)) {
        st_close(&st);
        return;
    }
    int64_t nl = (int64_t)16 * r.T * r.h * r.w, nv = (int64_t)3 * c.s.frames * c.s.height * c.s.width;
#define W(s) (snprintf(what, sizeof what, "%s: %s", name, s), what)
    check_ids(W("tokens"), r.ids, r.L, &st, "tokens");
    check_tensor(W("context"), r.context, (int64_t)r.L * r.text_dim, &st, "context", TOL_CONTEXT, COS_CONTEXT);
    if (c.s.cfg > 1) {
        check_ids(W("tokens_neg"), r.ids_neg, r.L_neg, &st, "tokens_neg");
        check_tensor(W("context_neg"), r.context_neg, (int64_t)r.L_neg * r.text_dim, &st, "context_neg",
                     TOL_CONTEXT, COS_CONTEXT);
    } else {
        CHECK(!r.context_neg && !tl_find(&st.tensors, "context_neg"), "%s: cfg <= 1: no negative pass", name);
    }
    check_tensor(W("noise (torch.randn bits)"), r.noise, nl, &st, "noise", 0, 0);
    check_tensor(W("timesteps"), r.timesteps, c.s.steps, &st, "timesteps", 0, 0);
    for (int k = 0; k < c.s.steps; k++) {
        char tn[32], lbl[64];
        snprintf(tn, sizeof tn, "latent.step%d", k);
        snprintf(lbl, sizeof lbl, "latent.step%d", k);
        check_tensor(W(lbl), r.steps + (size_t)k * nl, nl, &st, tn, TOL_LATENT, COS_LATENT);
    }
    check_tensor(W("latent.final"), r.latent, nl, &st, "latent.final", TOL_LATENT, COS_LATENT);
    check_tensor(W("video"), r.video, nv, &st, "video", TOL_VIDEO, COS_VIDEO);
#undef W
    gen_result_free(&r);
    st_close(&st);
}

/* The same run with 1 and 2 threads: the same bits (DESIGN.md section 6). */
static void test_threads(const ModelPaths *mp) {
    SafeTensors st;
    if (!golden_open(&st, "golden/pipeline/case_a.safetensors")) return;
    Case c;
    read_case(&c, &st);
    st_close(&st);
    c.s.keep_steps = 0;
    GenResult r1, r2;
    platform_set_threads(1);
    int ok1 = run(mp, &c.s, &r1, "1 thread");
    platform_set_threads(2);
    int ok2 = run(mp, &c.s, &r2, "2 threads");
    if (ok1 && ok2) {
        int64_t nl = (int64_t)16 * r1.T * r1.h * r1.w, nv = (int64_t)3 * c.s.frames * c.s.height * c.s.width;
        CHECK(!memcmp(r1.context, r2.context, (size_t)r1.L * r1.text_dim * sizeof(float)),
              "threads 1 vs 2: context has the same bits");
        CHECK(!memcmp(r1.latent, r2.latent, (size_t)nl * sizeof(float)), "threads 1 vs 2: latent.final has the same bits");
        CHECK(!memcmp(r1.video, r2.video, (size_t)nv * sizeof(float)), "threads 1 vs 2: video has the same bits (gemm: %s)",
              gemm_backend());
        CHECK(r1.steps == NULL, "keep_steps = 0 keeps no step latents");
    }
    if (ok1) gen_result_free(&r1);
    if (ok2) gen_result_free(&r2);
    platform_set_threads(platform_default_threads());
}

/* Bad settings are refused before any work, with a usage error. */
static void test_bad_settings(const ModelPaths *mp) {
    GenSettings s = {"a cat", "a dog", 32, 32, 5, 2, 4.0, 3.0, SAMPLER_UNIPC, 1, 0};
    struct { int w, h, f, steps; double shift; const char *neg; const char *what; } bad[] = {
        {40, 32, 5, 2, 3.0, "x", "width not a multiple of 16"},
        {32, 32, 6, 2, 3.0, "x", "frames not 4k+1"},
        {32, 32, 5, 0, 3.0, "x", "0 steps"},
        {32, 32, 5, 2, 0.0, "x", "shift 0"},
        {32, 32, 5, 2, 3.0, NULL, "cfg > 1 without a negative prompt"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        GenSettings b = s;
        b.width = bad[i].w, b.height = bad[i].h, b.frames = bad[i].f, b.steps = bad[i].steps;
        b.shift = bad[i].shift, b.negative = bad[i].neg;
        GenResult r;
        T2vError e = {0, {0}};
        int rc = pipeline_generate(mp, &b, NULL, &r, &e);
        CHECK(rc == T2V_EUSAGE && r.video == NULL, "bad settings refused (%s): %s", bad[i].what, e.msg);
        gen_result_free(&r);
    }
}

int main(void) {
    ModelPaths mp;
    T2vError e = {0, {0}};
    if (model_find(&mp, MODEL_DIR, MODEL_NEED_ALL, &e)) {
        h_report(0, "model_find %s: %s (run tools/write_tiny_model.py)", MODEL_DIR, e.msg);
        return h_finish();
    }
    test_case(&mp, "a");
    test_case(&mp, "b");
    test_case(&mp, "c");
    test_threads(&mp);
    test_bad_settings(&mp);
    model_paths_free(&mp);
    return h_finish();
}
