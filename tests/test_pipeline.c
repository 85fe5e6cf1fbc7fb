/*
 * test_pipeline.c: the whole pipeline (pipeline_generate: tokenizer -> umT5 ->
 * DiT + sampler with CFG -> VAE decode) on the tiny model directory
 * golden/models/tiny, against tools/reference/pipeline.py (PyTorch, float64):
 * golden/pipeline/case_{a,b,c}.safetensors from tools/golden_pipeline.py.
 *
 * Every tensor of docs/MODEL.md section 9 is checked: ids exactly, the noise and
 * the timesteps exactly (same bits as torch), the contexts, every step's
 * latent, the final latent and the video with the tolerances of
 * golden/README.md (pipeline section). Then determinism: the same run with 1
 * and 2 threads gives the same bits.
 */
#include "harness.h"

#include "../ref/lib/model.h"
#include "../ref/lib/pipeline.h"
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
    double listed[64];
} Case;

/* "1000,750,500" -> values; the count, or -1 for a bad list. */
static int parse_list(const char *v, double *out, int max) {
    int n = 0;
    for (const char *p = v; *p && n < max; n++) {
        char *end;
        out[n] = strtod(p, &end);
        if (end == p) return -1;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* An F64 golden tensor into out (at most max values): its count, 0 if absent. */
static int read_f64(const SafeTensors *st, const char *name, double *out, int max) {
    const Tensor *t = tl_find(&st->tensors, name);
    int64_t n = t && t->dtype == DT_F64 ? tensor_numel(t) : 0;
    if (n > max) return 0;
    for (int64_t k = 0; k < n; k++) {
        uint64_t u = rd_u64le((const char *)t->data + 8 * k);
        memcpy(&out[k], &u, sizeof u);
    }
    return (int)n;
}

static int read_case(Case *c, const SafeTensors *st) {
    memset(c, 0, sizeof *c);
    snprintf(c->prompt, sizeof c->prompt, "%s", h_meta(st, "prompt"));
    snprintf(c->negative, sizeof c->negative, "%s", h_meta(st, "negative"));
    c->s.prompt = c->prompt;
    c->s.negative = c->negative;
    c->s.width = atoi(h_meta(st, "width"));
    c->s.height = atoi(h_meta(st, "height"));
    c->s.frames = atoi(h_meta(st, "frames"));
    c->s.sampling.steps = atoi(h_meta(st, "steps"));
    c->s.sampling.cfg = atof(h_meta(st, "cfg"));
    c->s.sampling.shift = atof(h_meta(st, "shift"));
    c->s.seed = (uint64_t)strtoull(h_meta(st, "seed"), NULL, 10);
    c->s.keep_steps = 1;
    SamplerKind k;
    if (sampler_kind_from_name(h_meta(st, "sampler"), &k)) return 0;
    c->s.sampling.sampler = k;
    if (*h_meta(st, "timesteps")) {
        int n = parse_list(h_meta(st, "timesteps"), c->listed, 64);
        if (n != c->s.sampling.steps) return 0;
        c->s.sampling.timesteps = c->listed;
    }
    T2vError e = {0, {0}};
    if (*h_meta(st, "cache") && cache_parse(h_meta(st, "cache"), &c->s.sampling.cache, &e)) return 0;
    if (c->s.sampling.cache.kind == CACHE_MAGCACHE) { /* the ratios the reference calibrated */
        CacheSettings *cs = &c->s.sampling.cache;
        cs->n_ratios = read_f64(st, "cache.ratios", cs->ratios, 2 * CACHE_MAX_STEPS);
        if (cs->n_ratios != 2 * c->s.sampling.steps) return 0;
    }
    return c->s.width > 0 && c->s.height > 0 && c->s.frames > 0 && c->s.sampling.steps > 0;
}

static int run(const Model *m, const GenSettings *s, GenResult *r, const char *what) {
    T2vError e = {0, {0}};
    int rc = pipeline_generate(m, s, NULL, r, &e);
    if (rc) h_report(0, "%s: pipeline_generate failed (%d): %s", what, rc, e.msg);
    return rc == T2V_OK;
}

/* The step cache's decisions against the reference's, step for step. */
static void check_decisions(const char *name, const GenResult *r, const SafeTensors *st) {
    const Tensor *t = tl_find(&st->tensors, "cache.computed");
    int steps = t && t->ndim == 2 ? (int)t->shape[0] : 0, same = r->computed && steps > 0, reused = 0;
    for (int k = 0; same && k < 2 * steps; k++) {
        int32_t want = (int32_t)rd_u32le((const char *)t->data + 4 * k);
        same &= r->computed[k] == want;
        reused += want == 0;
        if (r->computed[k] != want) printf("       step %d pass %d: computed %d, reference %d\n", k / 2, k % 2,
                                          r->computed[k], want);
    }
    CHECK(same && reused > 0, "%s: cache decisions identical to the reference's, step for step (%d of %d passes "
          "reused)", name, reused, 2 * steps);
}

static void test_case(const Model *m, const char *name) {
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
    printf("-- case %s: %s %d steps cfg %g shift %g %dx%dx%d seed %llu\n", name, h_meta(&st, "sampler"), c.s.sampling.steps,
           c.s.sampling.cfg, c.s.sampling.shift, c.s.width, c.s.height, c.s.frames, (unsigned long long)c.s.seed);
    GenResult r;
    if (!run(m, &c.s, &r, path)) {
        st_close(&st);
        return;
    }
    int64_t nl = r.grid.n, nv = (int64_t)3 * c.s.frames * c.s.height * c.s.width;
#define W(s) (snprintf(what, sizeof what, "%s: %s", name, s), what)
    check_ids(W("tokens"), r.ids, r.L, &st, "tokens");
    check_tensor(W("context"), r.context, (int64_t)r.L * r.text_dim, &st, "context", TOL_CONTEXT, COS_CONTEXT);
    if (c.s.sampling.cfg > 1) {
        check_ids(W("tokens_neg"), r.ids_neg, r.L_neg, &st, "tokens_neg");
        check_tensor(W("context_neg"), r.context_neg, (int64_t)r.L_neg * r.text_dim, &st, "context_neg",
                     TOL_CONTEXT, COS_CONTEXT);
    } else {
        CHECK(!r.context_neg && !tl_find(&st.tensors, "context_neg"), "%s: cfg <= 1: no negative pass", name);
    }
    check_tensor(W("noise (torch.randn bits)"), r.noise, nl, &st, "noise", 0, 0);
    check_tensor(W("timesteps"), r.timesteps, c.s.sampling.steps, &st, "timesteps", 0, 0);
    for (int k = 0; k < c.s.sampling.steps; k++) {
        char tn[32], lbl[64];
        snprintf(tn, sizeof tn, "latent.step%d", k);
        snprintf(lbl, sizeof lbl, "latent.step%d", k);
        check_tensor(W(lbl), r.steps + (size_t)k * nl, nl, &st, tn, TOL_LATENT, COS_LATENT);
    }
    check_tensor(W("latent.final"), r.latent, nl, &st, "latent.final", TOL_LATENT, COS_LATENT);
    check_tensor(W("video"), r.video, nv, &st, "video", TOL_VIDEO, COS_VIDEO);
    if (c.s.sampling.cache.kind != CACHE_NONE) check_decisions(name, &r, &st);
#undef W
    gen_result_free(&r);
    st_close(&st);
}

/* The same run with 1 and 2 threads: the same bits (docs/ARCHITECTURE.md, Numerics). */
static void test_threads(const Model *m) {
    SafeTensors st;
    if (!golden_open(&st, "golden/pipeline/case_a.safetensors")) return;
    Case c;
    read_case(&c, &st);
    st_close(&st);
    c.s.keep_steps = 0;
    GenResult r1, r2;
    platform_set_threads(1);
    int ok1 = run(m, &c.s, &r1, "1 thread");
    platform_set_threads(2);
    int ok2 = run(m, &c.s, &r2, "2 threads");
    if (ok1 && ok2) {
        int64_t nl = r1.grid.n, nv = (int64_t)3 * c.s.frames * c.s.height * c.s.width;
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
static void test_bad_settings(const Model *m) {
    GenSettings s;
    memset(&s, 0, sizeof s);
    s.prompt = "a cat", s.negative = "a dog", s.width = 32, s.height = 32, s.frames = 5, s.seed = 1;
    s.sampling.sampler = SAMPLER_UNIPC, s.sampling.steps = 2, s.sampling.shift = 3.0, s.sampling.cfg = 4.0;
    struct { int w, h, f, steps; double shift; const char *neg; const char *what; } bad[] = {
        {40, 32, 5, 2, 3.0, "x", "width not a multiple of 16"},
        {32, 32, 6, 2, 3.0, "x", "frames not 4k+1"},
        {32, 32, 5, 0, 3.0, "x", "0 steps"},
        {32, 32, 5, 2, 0.0, "x", "shift 0"},
        {32, 32, 5, 2, 3.0, NULL, "cfg > 1 without a negative prompt"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        GenSettings b = s;
        b.width = bad[i].w, b.height = bad[i].h, b.frames = bad[i].f, b.sampling.steps = bad[i].steps;
        b.sampling.shift = bad[i].shift, b.negative = bad[i].neg;
        GenResult r;
        T2vError e = {0, {0}};
        int rc = pipeline_generate(m, &b, NULL, &r, &e);
        CHECK(rc == T2V_EUSAGE && r.video == NULL, "bad settings refused (%s): %s", bad[i].what, e.msg);
        gen_result_free(&r);
    }
}

/* What the watch sees: each phase starts at k = 0 and ends at k = n, in the
 * order text, sampling, decode; the step views come in order, each with the
 * latent the dump keeps, its sigma and timestep, and v = CFG(v_cond, v_uncond). */
typedef struct {
    const GenResult *ref; /* a run of the same settings, for x_{i+1} */
    double g;
    int steps_seen, in_order, x_next_ok, guided_ok, phases_ok, last_phase;
} Watched;

static void watch_progress(void *user, PipelinePhase phase, int k, int n) {
    Watched *w = (Watched *)user;
    if (k == 0) {
        w->phases_ok &= (int)phase == w->last_phase + 1;
        w->last_phase = (int)phase;
    }
    w->phases_ok &= (int)phase == w->last_phase && k >= 0 && k <= n;
}

static int watch_step(void *user, const StepView *s, T2vError *err) {
    (void)err;
    Watched *w = (Watched *)user;
    const int64_t n = s->grid.n;
    w->in_order &= s->step == w->steps_seen++;
    w->in_order &= s->t == w->ref->timesteps[s->step];
    w->x_next_ok &= !memcmp(s->x_next, w->ref->steps + (size_t)s->step * n, (size_t)n * sizeof(float));
    float *v = (float *)malloc((size_t)n * sizeof(float));
    if (v && s->v_uncond) cfg_combine(v, s->v_cond, s->v_uncond, (float)w->g, n);
    else if (v) memcpy(v, s->v_cond, (size_t)n * sizeof(float));
    w->guided_ok &= v && !memcmp(v, s->v, (size_t)n * sizeof(float));
    free(v);
    return T2V_OK;
}

static int stop_step(void *user, const StepView *s, T2vError *err) {
    (void)user;
    return s->step == 1 ? t2v_fail(err, T2V_ERESOURCE, "stopped by the watch on purpose") : T2V_OK;
}

static void test_watch(const Model *m) {
    SafeTensors st;
    if (!golden_open(&st, "golden/pipeline/case_a.safetensors")) return;
    Case c;
    read_case(&c, &st);
    st_close(&st);
    GenResult ref, r;
    if (!run(m, &c.s, &ref, "watch: reference run")) return;
    Watched w = {&ref, c.s.sampling.cfg, 0, 1, 1, 1, 1, -1};
    PipelineWatch pw = {&w, watch_progress, watch_step};
    T2vError e = {0, {0}};
    int rc = pipeline_generate(m, &c.s, &pw, &r, &e);
    CHECK(rc == T2V_OK && w.steps_seen == c.s.sampling.steps && w.in_order,
          "watch: %d step views in order, with the schedule's timesteps (%s)", w.steps_seen, e.msg);
    CHECK(w.x_next_ok, "watch: each view's x_next is that step's latent (latent.step{k})");
    CHECK(w.guided_ok && c.s.sampling.cfg > 1, "watch: v = v_uncond + g (v_cond - v_uncond) in every view");
    CHECK(w.phases_ok && w.last_phase == PHASE_DECODE, "watch: phases text, sampling, VAE decode, in order");
    CHECK(rc == T2V_OK && !memcmp(r.video, ref.video, (size_t)3 * c.s.frames * c.s.height * c.s.width * 4),
          "watch: watching changes no bit of the video");
    gen_result_free(&r);
    PipelineWatch stop = {NULL, NULL, stop_step};
    rc = pipeline_generate(m, &c.s, &stop, &r, &e);
    CHECK(rc == T2V_ERESOURCE && strstr(e.msg, "on purpose") && r.video == NULL,
          "watch: a step watcher's error stops the run before decoding (rc %d)", rc);
    gen_result_free(&r);
    gen_result_free(&ref);
}

/* DiT passes counted through the DiT's trace hook: "patch" once per pass,
 * "block.0" once per pass whose blocks ran (a step cache may skip them). */
typedef struct { int passes, blocks; } Calls;
static void count_calls(void *user, const char *name, const float *x, int64_t n) {
    (void)x, (void)n;
    Calls *c = (Calls *)user;
    c->passes += !strcmp(name, "patch");
    c->blocks += !strcmp(name, "block.0");
}

/* pipeline_sample on the tiny DiT with settings s; counts the DiT's passes. */
static int sample_counting(const Model *m, const SamplingSettings *s, Calls *calls, int *computed, int *reused) {
    Checkpoint ck;
    DiT dit;
    T2vError e = {0, {0}};
    memset(calls, 0, sizeof *calls);
    if (model_load_dit(m, &ck, &dit, &e)) { h_report(0, "load dit: %s", e.msg); return -1; }
    LatentGrid g;
    int rc = latent_grid(&g, m, 5, 32, 32, &e);
    float *x = rc ? NULL : (float *)malloc((size_t)g.n * sizeof(float));
    float ctx[4 * 32], ctxn[3 * 32];
    prng_fill(21, ctx, 4 * 32, 1.0f);
    prng_fill(22, ctxn, 3 * 32, 1.0f);
    Denoiser d;
    if (x && !(rc = denoiser_init(&d, &dit, s, &g, ctx, 4, ctxn, 3, &e))) {
        randn_torch(3, x, g.n);
        dit.trace = count_calls, dit.trace_user = calls;
        rc = pipeline_sample(&d, x, NULL, NULL, &e);
        if (computed) cache_counts(&d.cache, computed, reused);
        denoiser_free(&d);
    }
    if (rc) h_report(0, "sample: %s", e.msg);
    free(x);
    dit_free(&dit);
    ckpt_close(&ck);
    return rc;
}

/* --cfg <= 1 makes exactly one DiT call per step, for every sampler; > 1 two. */
static void test_dit_calls(const Model *m) {
    static const double listed[4] = {1000, 750, 500, 250};
    struct { SamplerKind k; int steps; double cfg; const double *t; int per; } cases[] = {
        {SAMPLER_UNIPC, 6, 1.0, NULL, 1}, {SAMPLER_EULER, 5, 0.5, NULL, 1}, {SAMPLER_DISTILL, 4, 1.0, listed, 1},
        {SAMPLER_UNIPC, 6, 5.0, NULL, 2}, {SAMPLER_DISTILL, 4, 3.0, listed, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SamplingSettings s;
        memset(&s, 0, sizeof s);
        s.sampler = cases[i].k, s.steps = cases[i].steps, s.shift = 3.0, s.cfg = cases[i].cfg, s.timesteps = cases[i].t;
        Calls c;
        if (sample_counting(m, &s, &c, NULL, NULL)) continue;
        CHECK(c.passes == cases[i].per * cases[i].steps && c.blocks == c.passes,
              "%s, %d steps, cfg %g: %d DiT calls (%d per step)", sampler_kind_name(cases[i].k), cases[i].steps,
              cases[i].cfg, c.passes, cases[i].per);
    }
    /* with a step cache every pass still starts, the skipped ones run no block */
    SamplingSettings s;
    memset(&s, 0, sizeof s);
    s.sampler = SAMPLER_UNIPC, s.steps = 20, s.shift = 3.0, s.cfg = 1.0;
    s.cache.kind = CACHE_TEACACHE, s.cache.thresh = 1.2;
    Calls c;
    int computed = 0, reused = 0;
    if (!sample_counting(m, &s, &c, &computed, &reused))
        CHECK(c.passes == 20 && c.blocks == computed && computed + reused == 20 && reused > 0,
              "teacache, cfg 1: 20 passes, blocks ran on the %d computed, %d reused", computed, reused);
    /* MagCache with every ratio 1: the error stays 0, so K = 2 decides: after
     * int(0.2 x 20) = 4 retention steps, skip, skip, compute, ... */
    memset(&s.cache, 0, sizeof s.cache);
    s.cache.kind = CACHE_MAGCACHE, s.cache.thresh = 0.01, s.cache.max_skips = 2, s.cache.retention = 0.2;
    s.cache.n_ratios = 2, s.cache.ratios[0] = s.cache.ratios[1] = 1.0;
    if (!sample_counting(m, &s, &c, &computed, &reused))
        CHECK(c.passes == 20 && c.blocks == computed && computed == 9 && reused == 11,
              "magcache (ratios 1, K 2, RET 0.2), cfg 1: blocks ran on %d computed (want 9), %d reused (want 11)",
              computed, reused);
    /* EasyCache skips the whole pass: no patch embedding on a reused one */
    memset(&s.cache, 0, sizeof s.cache);
    s.cache.kind = CACHE_EASYCACHE, s.cache.thresh = 5.0, s.cache.warmup = 3;
    if (!sample_counting(m, &s, &c, &computed, &reused))
        CHECK(c.passes == computed && c.blocks == computed && computed + reused == 20 && reused > 0 &&
                  computed >= 4,
              "easycache, cfg 1: the DiT ran on the %d computed passes only (3 warm-up + last), %d reused",
              computed, reused);
}

/* magcache-calibrate on case c's settings: the ratios measured by the C
 * run against the reference's (case i's cache.ratios), every pass computed. */
static void test_mag_calibrate(const Model *m) {
    SafeTensors st;
    if (!golden_open(&st, "golden/pipeline/case_i.safetensors")) return;
    Case c;
    double want[2 * CACHE_MAX_STEPS];
    int ok = read_case(&c, &st), n = read_f64(&st, "cache.ratios", want, 2 * CACHE_MAX_STEPS);
    st_close(&st);
    if (!ok || n != 2 * c.s.sampling.steps) { h_report(0, "case_i: no cache.ratios"); return; }
    memset(&c.s.sampling.cache, 0, sizeof c.s.sampling.cache);
    c.s.sampling.cache.kind = CACHE_MAGCACHE_CAL;
    c.s.keep_steps = 0;
    GenResult r;
    if (!run(m, &c.s, &r, "magcache-calibrate")) return;
    double worst = 0.0;
    int computed = 0;
    for (int k = 0; k < n; k++) {
        computed += r.computed[k] == 1;
        double d = k < 2 ? (isnan(r.cache_metric[k]) ? 0.0 : 1.0) : fabs(r.cache_metric[k] - want[k]) / want[k];
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    CHECK(computed == n && worst < 1e-5, "magcache-calibrate: all %d passes computed, ratios vs the reference's: "
          "max rel diff %.2e (< 1e-5)", n, worst);
    gen_result_free(&r);
}

/* The published MagCache tables resampled to S steps (nearest_interp), bit
 * for bit against the reference's; a width without a table is refused. */
static void test_mag_published(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/pipeline/case_i.safetensors")) return;
    static const int dims[2] = {1536, 5120}, steps[4] = {50, 20, 7, 1};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            char name[64];
            double want[100];
            snprintf(name, sizeof name, "mag.published.%d.%d", dims[i], steps[j]);
            int n = read_f64(&st, name, want, 100);
            CacheSettings cs;
            T2vError e = {0, {0}};
            StepCache c;
            memset(&cs, 0, sizeof cs);
            cs.kind = CACHE_MAGCACHE, cs.thresh = 0.12, cs.max_skips = 2, cs.retention = 0.2;
            int ok = n == 2 * steps[j] && !cache_init(&c, &cs, steps[j], dims[i], 1, 1, &e);
            ok = ok && !memcmp(c.ratio, want, (size_t)n * sizeof(double));
            if (n == 2 * steps[j]) cache_free(&c);
            CHECK(ok, "magcache: published ratios, width %d, %d steps: the reference's table, bit for bit", dims[i],
                  steps[j]);
        }
    st_close(&st);
    CacheSettings cs;
    StepCache c;
    T2vError e = {0, {0}};
    memset(&cs, 0, sizeof cs);
    cs.kind = CACHE_MAGCACHE, cs.thresh = 0.12, cs.max_skips = 2, cs.retention = 0.2;
    int rc = cache_init(&c, &cs, 20, 128, 1, 1, &e);
    CHECK(rc == T2V_EUSAGE && strstr(e.msg, "width 128") && strstr(e.msg, "magcache-calibrate"),
          "magcache: width 128 without ratios refused: %s", e.msg);
}

/* With a step cache, 1 and 2 threads: the same decisions and the same bits. */
static void test_cache_threads(const Model *m, const char *name) {
    SafeTensors st;
    char path[96];
    snprintf(path, sizeof path, "golden/pipeline/case_%s.safetensors", name);
    if (!golden_open(&st, path)) return;
    Case c;
    read_case(&c, &st);
    st_close(&st);
    c.s.keep_steps = 0;
    GenResult r1, r2;
    platform_set_threads(1);
    int ok1 = run(m, &c.s, &r1, "1 thread");
    platform_set_threads(2);
    int ok2 = run(m, &c.s, &r2, "2 threads");
    if (ok1 && ok2)
        CHECK(!memcmp(r1.latent, r2.latent, (size_t)r1.grid.n * sizeof(float)) &&
                  !memcmp(r1.computed, r2.computed, (size_t)c.s.sampling.steps * 2 * sizeof(int32_t)),
              "%s, threads 1 vs 2: the same decisions and latent.final bits", cache_kind_name(c.s.sampling.cache.kind));
    if (ok1) gen_result_free(&r1);
    if (ok2) gen_result_free(&r2);
    platform_set_threads(platform_default_threads());
}

int main(void) {
    Model m;
    T2vError e = {0, {0}};
    if (model_open(&m, MODEL_DIR, MODEL_NEED_ALL, &e)) {
        h_report(0, "model_open %s: %s (run tools/write_tiny_model.py)", MODEL_DIR, e.msg);
        return h_finish();
    }
    test_case(&m, "a");
    test_case(&m, "b");
    test_case(&m, "c");
    test_case(&m, "d");
    test_case(&m, "e");
    test_case(&m, "f");
    test_case(&m, "g");
    test_case(&m, "h");
    test_case(&m, "i");
    test_case(&m, "j");
    test_mag_calibrate(&m);
    test_mag_published();
    test_dit_calls(&m);
    test_cache_threads(&m, "h");
    test_cache_threads(&m, "i");
    test_cache_threads(&m, "j");
    test_threads(&m);
    test_bad_settings(&m);
    test_watch(&m);
    model_close(&m);
    return h_finish();
}
