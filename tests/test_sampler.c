/*
 * test_sampler.c: schedule, UniPC, Euler, CFG and seeded noise against the
 * goldens of tools/golden_sampler.py (float64 PyTorch reference; the noise
 * from torch.randn itself). Tolerances: golden/README.md, section sampler.
 */
#include "harness.h"

#include "../ref/lib/sampler.h"

#define TOL_RUN 3e-6  /* max|d|/rms per step latent, fp32 latents vs float64 reference */
#define COS_RUN 0.999999999

/* ---------------------------------------------------------------------------
 * The tables of tools/golden_sampler.py */

static const struct { int steps; double shift; } SCHEDULES[] = {
    {50, 5.0}, {50, 3.0}, {40, 5.0}, {20, 8.0}, {30, 12.0}, {5, 1.0}, {2, 5.0},
    {1, 5.0}, {10, 0.5}, {25, 7.5}, {1000, 5.0}};

static const struct { uint64_t seed; int64_t n; } NOISE[] = {
    {0, 1}, {1, 2}, {2, 3}, {3, 7}, {4, 15}, {5, 16}, {6, 17}, {7, 31}, {8, 32}, {9, 33},
    {42, 100}, {0, 16 * 5 * 8 * 8}, {1234, 16 * 3 * 6 * 10}, {2025, 16 * 2 * 3 * 5},
    {99, 1000}, {7, 4097}, {4294967295ull, 40}, {4294967296ull + 7, 24},
    {18446744073709551615ull, 9}, {123456789, 16 * 1 * 6 * 10}};

#define NCH 16
#define NPOS (2 * 3 * 5)
#define NRUN (NCH * NPOS)
#define RUN_SEED 2025

typedef struct { const char *solver; int steps; double shift; float cfg; } RunCase;
static const RunCase RUNS[] = {
    {"unipc", 2, 5.0, 1.0f}, {"unipc", 2, 5.0, 5.0f}, {"unipc", 5, 5.0, 1.0f},
    {"unipc", 5, 5.0, 5.0f}, {"unipc", 20, 5.0, 1.0f}, {"unipc", 20, 5.0, 5.0f},
    {"euler", 2, 5.0, 1.0f}, {"euler", 2, 5.0, 5.0f}, {"euler", 5, 5.0, 1.0f},
    {"euler", 5, 5.0, 5.0f}, {"euler", 20, 5.0, 1.0f}, {"euler", 20, 5.0, 5.0f},
    {"unipc", 50, 3.0, 6.0f}};

/* Listed schedules (golden/sampler/listed.safetensors) */
typedef struct { int steps; double t[5]; double shift; } ListedSchedule;
static const ListedSchedule LISTS[] = {
    {3, {1000, 757, 522}, 1.0}, {4, {1000, 750, 500, 250}, 5.0},
    {5, {999, 900, 700, 400, 100}, 3.0}, {1, {500.5}, 2.0}};
typedef struct { const char *solver; int list; float cfg; } ListedCase;
static const ListedCase LISTED[] = {
    {"distill", 0, 1.0f}, {"distill", 1, 1.0f}, {"distill", 1, 3.0f}, {"distill", 3, 1.0f},
    {"euler", 2, 1.0f}, {"euler", 2, 5.0f}, {"unipc", 2, 1.0f}, {"unipc", 2, 5.0f},
    {"euler", 1, 1.0f}};
static const struct { uint64_t seed; int64_t n; int draws; } STREAMS[] = {
    {3, 5, 4}, {4, 16, 3}, {5, 17, 3}, {6, 40, 3}, {7, 3, 5}};

/* ---------------------------------------------------------------------------
 * Toy velocity model, the same as reference.sampler.toy_model:
 *   v[c,p] = x[c,p] - tanh(sum_k A[c,k] x[k,p] + b[c] t/1000 + ctx[c])
 * with A, b, ctx from prng_fill (seeds 11..14). Records every call. */

#define MAX_CALLS 256
typedef struct {
    float A[NCH * NCH], b[NCH], ctx_cond[NCH], ctx_uncond[NCH];
    int ncalls, cond[MAX_CALLS];
    float timestep[MAX_CALLS];
    int fail_at;            /* return an error at this call (-1: never) */
    float *steps_out;       /* [steps][NRUN] latents seen by on_step, or NULL */
    int nsteps_seen;
    float last_x[NRUN], last_vc[NRUN], last_vu[NRUN]; /* latest input, cond/uncond outputs */
} Toy;

static void toy_init(Toy *m) {
    memset(m, 0, sizeof(*m));
    prng_fill(11, m->A, NCH * NCH, 0.25f);
    prng_fill(12, m->b, NCH, 1.0f);
    prng_fill(13, m->ctx_cond, NCH, 0.5f);
    prng_fill(14, m->ctx_uncond, NCH, 0.5f);
    m->fail_at = -1;
}

static int toy_velocity(void *user, const float *x, float t, int cond, float *v, T2vError *err) {
    Toy *m = (Toy *)user;
    if (m->ncalls == m->fail_at) return t2v_fail(err, T2V_EINPUT, "toy: failing on purpose");
    if (m->ncalls < MAX_CALLS) { m->cond[m->ncalls] = cond; m->timestep[m->ncalls] = t; }
    m->ncalls++;
    const float *ctx = cond ? m->ctx_cond : m->ctx_uncond;
    for (int c = 0; c < NCH; c++)
        for (int p = 0; p < NPOS; p++) {
            double acc = 0.0;
            for (int k = 0; k < NCH; k++) acc += (double)m->A[c * NCH + k] * x[k * NPOS + p];
            acc += (double)m->b[c] * (t / 1000.0) + ctx[c];
            v[c * NPOS + p] = (float)((double)x[c * NPOS + p] - tanh(acc));
        }
    memcpy(m->last_x, x, sizeof(m->last_x));
    memcpy(cond ? m->last_vc : m->last_vu, v, sizeof(m->last_vc));
    return T2V_OK;
}

static void toy_on_step(void *user, int i, const float *x) {
    Toy *m = (Toy *)user;
    if (m->steps_out) memcpy(m->steps_out + (int64_t)i * NRUN, x, sizeof(float) * NRUN);
    m->nsteps_seen++;
}

/* The sampling loop of pipeline_sample (ref/lib/pipeline.c) with the toy in
 * place of the DiT: per step the conditional pass, then (cfg > 1) the
 * unconditional one and cfg_combine, then sampler_step. tmp_v: 2n floats. */
static int toy_run(Sampler *s, float *x, float cfg, Toy *m, float *tmp_v, int record, T2vError *err) {
    float *vc = tmp_v, *vu = tmp_v + s->n;
    for (int i = 0; i < s->steps; i++) {
        float t = sampler_timestep(s, i);
        int rc = toy_velocity(m, x, t, 1, vc, err);
        if (!rc && cfg > 1.0f && !(rc = toy_velocity(m, x, t, 0, vu, err))) cfg_combine(vc, vc, vu, cfg, s->n);
        if (rc) return rc;
        sampler_step(s, i, x, vc);
        if (record) toy_on_step(m, i, x);
    }
    return T2V_OK;
}

/* ---------------------------------------------------------------------------
 * Schedule */

static void test_schedule_spec_vectors(void) {
    /* docs/MODEL.md 3.1 test vectors. */
    double sig[51];
    int ts[50];
    CHECK(sampler_schedule(50, 5.0, sig, ts) == T2V_OK, "schedule(50, 5) ok");
    static const int head[6] = {999, 995, 991, 987, 982, 978};
    static const int tail[6] = {405, 356, 302, 241, 172, 92};
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= ts[i] == head[i] && ts[44 + i] == tail[i];
    CHECK(ok, "docs/MODEL.md 3.1: N=50 S=5 timesteps 999 995 991 987 982 978 ... 405 356 302 241 172 92");
    CHECK(fabs(sig[0] - 0.99979985) < 5e-9 && fabs(sig[1] - 0.99573237) < 5e-9 &&
              fabs(sig[2] - 0.99153048) < 5e-9 && fabs(sig[47] - 0.24174035) < 5e-9 &&
              fabs(sig[48] - 0.17226514) < 5e-9 && fabs(sig[49] - 0.09250686) < 5e-9 &&
              sig[50] == 0.0,
          "docs/MODEL.md 3.1: N=50 S=5 sigmas 0.99979985 0.99573237 0.99153048 .. 0.09250686 0");
    CHECK(sampler_schedule(50, 3.0, sig, ts) == T2V_OK && ts[0] == 999 && ts[1] == 992 &&
              ts[2] == 985 && ts[48] == 111 && ts[49] == 57,
          "docs/MODEL.md 3.1: N=50 S=3 timesteps 999 992 985 .. 111 57");
    CHECK(sampler_schedule(40, 5.0, sig, ts) == T2V_OK && ts[0] == 999 && ts[1] == 994 &&
              ts[2] == 989 && ts[38] == 208 && ts[39] == 113,
          "docs/MODEL.md 3.1: N=40 S=5 timesteps 999 994 989 .. 208 113");
    CHECK(sampler_schedule(0, 5.0, sig, ts) == T2V_EUSAGE &&
              sampler_schedule(5, 0.0, sig, ts) == T2V_EUSAGE &&
              sampler_schedule(5, NAN, sig, ts) == T2V_EUSAGE,
          "schedule refuses steps 0, shift 0, shift NaN");
}

static void test_schedule_golden(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/sampler/schedule.safetensors")) return;
    for (size_t j = 0; j < sizeof(SCHEDULES) / sizeof(SCHEDULES[0]); j++) {
        int N = SCHEDULES[j].steps;
        double S = SCHEDULES[j].shift;
        char name[64];
        int64_t np = 0, ns = 0, nt = 0;
        snprintf(name, sizeof name, "sched.%d.params", (int)j);
        float *params = golden_f32(&st, name, &np);
        snprintf(name, sizeof name, "sched.%d.sigmas", (int)j);
        float *gs = golden_f32(&st, name, &ns);
        snprintf(name, sizeof name, "sched.%d.timesteps", (int)j);
        const Tensor *gt = tl_find(&st.tensors, name);
        if (!params || !gs || !gt || gt->dtype != DT_I32) {
            h_report(0, "schedule golden %d incomplete", (int)j);
            free(params); free(gs);
            continue;
        }
        nt = tensor_numel(gt);
        CHECK(np == 2 && params[0] == (float)N && params[1] == (float)S && ns == N + 1 && nt == N,
              "schedule golden %d is (steps %d, shift %g)", (int)j, N, S);
        double *sig = malloc(sizeof(double) * (size_t)(N + 1));
        int *ts = malloc(sizeof(int) * (size_t)N);
        sampler_schedule(N, S, sig, ts);
        int bad_s = 0, bad_t = 0, first = -1;
        for (int i = 0; i <= N && ns == N + 1; i++) {
            if (f32_to_bits((float)sig[i]) != f32_to_bits(gs[i]) || sig[i] != (double)(float)sig[i]) {
                bad_s++;
                if (first < 0) first = i;
            }
        }
        for (int i = 0; i < N && nt == N; i++) {
            int32_t g = (int32_t)rd_u32le((const char *)gt->data + 4 * i);
            if (ts[i] != g) { bad_t++; if (first < 0) first = i; }
        }
        CHECK(bad_s == 0 && bad_t == 0,
              "schedule(%d, %g): sigmas bit-exact, timesteps exact (%d + %d bad, first %d)", N, S,
              bad_s, bad_t, first);
        free(sig); free(ts); free(params); free(gs);
    }
    st_close(&st);
}

static void test_orders(void) {
    Sampler s;
    T2vError e = {0, {0}};
    int ok = sampler_init(&s, SAMPLER_UNIPC, 5, 5.0, 4, &e) == T2V_OK;
    static const int want5[5] = {1, 2, 2, 2, 1};
    for (int i = 0; ok && i < 5; i++) ok &= sampler_order(&s, i) == want5[i];
    sampler_free(&s);
    CHECK(ok, "UniPC orders for 5 steps: 1 2 2 2 1 (warm-up, lower_order_final)");
    ok = sampler_init(&s, SAMPLER_UNIPC, 2, 5.0, 4, &e) == T2V_OK && sampler_order(&s, 0) == 1 &&
         sampler_order(&s, 1) == 1;
    sampler_free(&s);
    ok &= sampler_init(&s, SAMPLER_UNIPC, 1, 5.0, 4, &e) == T2V_OK && sampler_order(&s, 0) == 1;
    sampler_free(&s);
    CHECK(ok, "UniPC orders for 2 steps: 1 1; for 1 step: 1");
    int rc = sampler_init(&s, SAMPLER_UNIPC, 0, 5.0, 4, &e);
    CHECK(rc == T2V_EUSAGE && strstr(e.msg, "steps") != NULL, "init refuses steps 0: %s", e.msg);
    rc = sampler_init(&s, SAMPLER_EULER, 5, -1.0, 4, &e);
    CHECK(rc == T2V_EUSAGE && strstr(e.msg, "shift") != NULL, "init refuses shift -1: %s", e.msg);
    SamplerKind k;
    CHECK(sampler_kind_from_name("unipc", &k) == 0 && k == SAMPLER_UNIPC &&
              sampler_kind_from_name("euler", &k) == 0 && k == SAMPLER_EULER &&
              sampler_kind_from_name("dpm++", &k) == -1 &&
              strcmp(sampler_kind_name(SAMPLER_EULER), "euler") == 0,
          "sampler names unipc/euler, dpm++ refused");
}

/* ---------------------------------------------------------------------------
 * Noise */

static void test_noise(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/sampler/noise.safetensors")) return;
    for (size_t j = 0; j < sizeof(NOISE) / sizeof(NOISE[0]); j++) {
        char name[32];
        int64_t n = 0;
        snprintf(name, sizeof name, "noise.%d", (int)j);
        float *ref = golden_f32(&st, name, &n);
        if (!ref) continue;
        if (n != NOISE[j].n) {
            h_report(0, "%s: golden has %lld values, table says %lld", name, (long long)n,
                     (long long)NOISE[j].n);
            free(ref);
            continue;
        }
        float *got = malloc(sizeof(float) * (size_t)n);
        randn_torch(NOISE[j].seed, got, n);
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (f32_to_bits(got[i]) != f32_to_bits(ref[i])) { if (first < 0) first = i; bad++; }
        CHECK(bad == 0, "randn_torch(seed %llu, n %lld) bit-exact vs torch.randn (%lld differ%s)",
              (unsigned long long)NOISE[j].seed, (long long)n, (long long)bad, bad ? ", see below" : "");
        if (bad)
            printf("       first [%lld] got %.9g ref %.9g\n", (long long)first, got[first], ref[first]);
        free(got);
        free(ref);
    }
    st_close(&st);
    /* Determinism and seed dependence. */
    float a[40], b[40];
    randn_torch(5, a, 40);
    randn_torch(5, b, 40);
    CHECK(memcmp(a, b, sizeof a) == 0, "randn_torch is deterministic");
    randn_torch(6, b, 40);
    CHECK(memcmp(a, b, sizeof a) != 0, "randn_torch depends on the seed");
}

/* ---------------------------------------------------------------------------
 * CFG and the negative prompt */

static void test_cfg_combine(void) {
    float vc[4] = {3.0f, -1.0f, 0.5f, 2.0f}, vu[4] = {1.0f, 1.0f, 0.5f, -2.0f}, v[4];
    cfg_combine(v, vc, vu, 2.0f, 4);
    CHECK(v[0] == 5.0f && v[1] == -3.0f && v[2] == 0.5f && v[3] == 6.0f,
          "cfg_combine: vu + g (vc - vu) with g 2");
    cfg_combine(v, vc, vu, 1.0f, 4);
    CHECK(memcmp(v, vc, sizeof v) == 0, "cfg_combine with g 1 gives v_cond");
    memcpy(v, vc, sizeof v);
    cfg_combine(v, v, vu, 5.0f, 4);
    CHECK(v[0] == 11.0f && v[1] == -9.0f && v[3] == 18.0f, "cfg_combine in place (v aliases v_cond)");
}

static void test_negative_prompt(void) {
    const char *p = wan_default_negative_prompt();
    SafeTensors st;
    if (golden_open(&st, "golden/sampler/schedule.safetensors")) {
        const Tensor *t = tl_find(&st.tensors, "negative_prompt");
        CHECK(t && t->dtype == DT_U8 && tensor_numel(t) == (int64_t)strlen(p) &&
                  memcmp(t->data, p, strlen(p)) == 0,
              "default negative prompt = the reference's bytes");
        st_close(&st);
    }
    size_t len = strlen(p), chars = 0, commas = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c & 0xC0) != 0x80) chars++;
        if (i + 2 < len && c == 0xEF && (unsigned char)p[i + 1] == 0xBC &&
            (unsigned char)p[i + 2] == 0x8C)
            commas++; /* U+FF0C */
    }
    CHECK(len == 403 && chars == 137, "default negative prompt: 403 bytes, 137 characters (%zu, %zu)",
          len, chars);
    CHECK(strncmp(p, "\350\211\262\350\260\203", 6) == 0 &&
              strcmp(p + len - 9, "\345\200\222\347\235\200\350\265\260") == 0 &&
              strstr(p, "JPEG") != NULL && commas == 27,
          "default negative prompt: starts 色调, ends 倒着走, has JPEG, 27 full-width commas (%zu)",
          commas);
}

/* ---------------------------------------------------------------------------
 * Tiny sampling runs against the float64 reference, every step */

static void test_runs(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/sampler/runs.safetensors")) return;
    int64_t nn = 0;
    float *noise = golden_f32(&st, "noise", &nn);
    if (!noise || nn != NRUN) {
        h_report(0, "runs golden: noise missing or not %d values", NRUN);
        free(noise);
        st_close(&st);
        return;
    }
    float mine[NRUN];
    randn_torch(RUN_SEED, mine, NRUN);
    CHECK(memcmp(mine, noise, sizeof mine) == 0, "runs noise = randn_torch(%d) bit-exact", RUN_SEED);
    static Toy m;
    for (size_t c = 0; c < sizeof(RUNS) / sizeof(RUNS[0]); c++) {
        const RunCase *rc = &RUNS[c];
        char base[96], name[128];
        snprintf(base, sizeof base, "%s.n%d.shift%g.cfg%g", rc->solver, rc->steps, rc->shift,
                 (double)rc->cfg);
        SamplerKind kind;
        sampler_kind_from_name(rc->solver, &kind);
        Sampler s;
        T2vError e = {0, {0}};
        if (sampler_init(&s, kind, rc->steps, rc->shift, NRUN, &e) != T2V_OK) {
            h_report(0, "%s: init: %s", base, e.msg);
            continue;
        }
        toy_init(&m);
        float *steps_out = malloc(sizeof(float) * NRUN * (size_t)rc->steps);
        m.steps_out = steps_out;
        float x[NRUN], tmp[2 * NRUN];
        memcpy(x, noise, sizeof x);
        int r = toy_run(&s, x, rc->cfg, &m, tmp, 1, &e);
        CHECK(r == T2V_OK && m.nsteps_seen == rc->steps, "%s: run ok, on_step called %d times",
              base, m.nsteps_seen);
        /* Calls: cond first then uncond when cfg > 1, else cond only; t_i of the schedule. */
        int per = rc->cfg > 1.0f ? 2 : 1, calls_ok = m.ncalls == per * rc->steps;
        for (int i = 0; calls_ok && i < m.ncalls && i < MAX_CALLS; i++)
            calls_ok &= m.cond[i] == (per == 2 ? !(i % 2) : 1) &&
                        m.timestep[i] == sampler_timestep(&s, i / per);
        CHECK(calls_ok, "%s: %d model calls (%s), timesteps of the schedule", base, m.ncalls,
              per == 2 ? "cond, uncond per step" : "cond only: cfg <= 1 skips uncond");
        /* The last step returns the x0 prediction of the uncorrected x_{N-1} exactly. */
        int exact = 1;
        double sl = s.sigmas[rc->steps - 1];
        float vlast[NRUN];
        memcpy(vlast, m.last_vc, sizeof vlast);
        if (per == 2) cfg_combine(vlast, m.last_vc, m.last_vu, rc->cfg, NRUN);
        for (int k = 0; k < NRUN; k++)
            exact &= x[k] == (float)((double)m.last_x[k] - sl * vlast[k]);
        CHECK(exact, "%s: final = x_{N-1} - sigma_{N-1} v_{N-1} exactly (uncorrected x)", base);
        int all = 1;
        for (int k = 0; k < rc->steps; k++) {
            snprintf(name, sizeof name, "%s.step%d", base, k);
            int64_t n = 0;
            float *ref = golden_f32(&st, name, &n);
            if (!ref) { all = 0; continue; }
            ErrStats es;
            err_stats(&es, steps_out + (int64_t)k * NRUN, ref, NRUN, TOL_RUN);
            int ok = n == NRUN && err_ok(&es, TOL_RUN, COS_RUN);
            if (!ok || k == rc->steps - 1) {
                char what[160];
                snprintf(what, sizeof what, "%s step %d/%d", base, k, rc->steps);
                check_close(what, steps_out + (int64_t)k * NRUN, ref, NRUN, TOL_RUN, COS_RUN);
            }
            all &= ok;
            free(ref);
        }
        CHECK(all, "%s: every step's latent within tol %.0e", base, TOL_RUN);
        snprintf(name, sizeof name, "%s.final", base);
        float *ref = golden_f32(&st, name, NULL);
        if (ref) check_close(name, x, ref, NRUN, TOL_RUN, COS_RUN);
        free(ref);
        /* Reusing the sampler restarts the history: the same result bit for bit. */
        float x2[NRUN];
        memcpy(x2, noise, sizeof x2);
        toy_init(&m);
        r = toy_run(&s, x2, rc->cfg, &m, tmp, 0, &e);
        CHECK(r == T2V_OK && memcmp(x, x2, sizeof x) == 0, "%s: a second run gives the same bits",
              base);
        free(steps_out);
        sampler_free(&s);
    }
    free(noise);
    st_close(&st);
}

/* The callback's error stops the run and is returned. */
static void test_run_error(void) {
    static Toy m;
    toy_init(&m);
    m.fail_at = 3;
    Sampler s;
    T2vError e = {0, {0}};
    float x[NRUN], tmp[2 * NRUN];
    randn_torch(1, x, NRUN);
    int ok = sampler_init(&s, SAMPLER_UNIPC, 10, 5.0, NRUN, &e) == T2V_OK;
    int rc = ok ? toy_run(&s, x, 5.0f, &m, tmp, 1, &e) : -1;
    CHECK(rc == T2V_EINPUT && m.nsteps_seen == 1 && strstr(e.msg, "on purpose") != NULL,
          "model error at call 3 stops the run after step 1 (rc %d, %d steps)", rc, m.nsteps_seen);
    sampler_free(&s);
}

/* Any cfg <= 1 (here 0.5) skips the unconditional pass: one call per step. */
static void test_cfg_below_one(void) {
    static Toy m;
    toy_init(&m);
    Sampler s;
    T2vError e = {0, {0}};
    float x[NRUN], tmp[2 * NRUN];
    randn_torch(2, x, NRUN);
    int ok = sampler_init(&s, SAMPLER_EULER, 4, 5.0, NRUN, &e) == T2V_OK &&
             toy_run(&s, x, 0.5f, &m, tmp, 0, &e) == T2V_OK;
    for (int i = 0; ok && i < m.ncalls; i++) ok &= m.cond[i] == 1;
    CHECK(ok && m.ncalls == 4, "cfg 0.5: 4 calls for 4 steps, all conditional (%d)", m.ncalls);
    sampler_free(&s);
}

/* Euler is UniPC at order 1: with 2 steps both use order 1 and the same final x0. */
static void test_unipc_order1_is_euler(void) {
    static Toy m;
    float xu[NRUN], xe[NRUN], tmp[2 * NRUN];
    Sampler su, se;
    T2vError e = {0, {0}};
    randn_torch(3, xu, NRUN);
    memcpy(xe, xu, sizeof xe);
    sampler_init(&su, SAMPLER_UNIPC, 1, 5.0, NRUN, &e);
    sampler_init(&se, SAMPLER_EULER, 1, 5.0, NRUN, &e);
    toy_init(&m);
    toy_run(&su, xu, 1.0f, &m, tmp, 0, &e);
    toy_init(&m);
    toy_run(&se, xe, 1.0f, &m, tmp, 0, &e);
    CHECK(memcmp(xu, xe, sizeof xu) == 0, "1 step: UniPC and Euler both return x - sigma_0 v");
    sampler_free(&su);
    sampler_free(&se);
}

/* ---------------------------------------------------------------------------
 * Listed schedules and the distill sampler (docs/MODEL.md 3.5) */

/* torch.randn calls one after another from one seed, against torch. */
static void test_stream(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/sampler/listed.safetensors")) return;
    for (size_t j = 0; j < sizeof(STREAMS) / sizeof(STREAMS[0]); j++) {
        TorchGen g;
        torch_gen_seed(&g, STREAMS[j].seed);
        int same = 1;
        for (int k = 0; k < STREAMS[j].draws; k++) {
            char name[48];
            snprintf(name, sizeof name, "stream.%d.%d", (int)j, k);
            int64_t n = 0;
            float *ref = golden_f32(&st, name, &n), mine[64];
            torch_gen_randn(&g, mine, STREAMS[j].n);
            same &= ref && n == STREAMS[j].n && memcmp(mine, ref, sizeof(float) * (size_t)n) == 0;
            free(ref);
        }
        CHECK(same, "stream seed %llu: %d draws of randn(%lld) bit-exact", (unsigned long long)STREAMS[j].seed,
              STREAMS[j].draws, (long long)STREAMS[j].n);
    }
    st_close(&st);
}

static void test_listed_schedule_rules(void) {
    double sig[5];
    float ts[4];
    T2vError e = {0, {0}};
    double up[3] = {500, 600, 100}, zero[2] = {500, 0}, big[1] = {1001}, one[1] = {1000};
    CHECK(sampler_schedule_listed(SAMPLER_EULER, up, 3, 1.0, sig, ts, &e) == T2V_EUSAGE &&
              strstr(e.msg, "decrease"), "listed: increasing values refused (%s)", e.msg);
    CHECK(sampler_schedule_listed(SAMPLER_EULER, zero, 2, 1.0, sig, ts, &e) == T2V_EUSAGE, "listed: 0 refused");
    CHECK(sampler_schedule_listed(SAMPLER_EULER, big, 1, 1.0, sig, ts, &e) == T2V_EUSAGE, "listed: 1001 refused");
    CHECK(sampler_schedule_listed(SAMPLER_UNIPC, one, 1, 5.0, sig, ts, &e) == T2V_EUSAGE &&
              strstr(e.msg, "UniPC"), "listed: UniPC refuses sigma 1 (%s)", e.msg);
    CHECK(sampler_schedule_listed(SAMPLER_DISTILL, one, 1, 5.0, sig, ts, &e) == T2V_OK && sig[0] == 1.0 &&
              ts[0] == 1000.0f && sig[1] == 0.0, "listed: distill takes t = 1000 (sigma 1, t 1000)");
    double sf[4] = {1000, 750, 500, 250};
    int ok = sampler_schedule_listed(SAMPLER_DISTILL, sf, 4, 5.0, sig, ts, &e) == T2V_OK;
    /* 750 at shift 5: 5 * 0.75 / (1 + 4 * 0.75) = 0.9375 */
    CHECK(ok && sig[1] == 0.9375 && ts[1] == 937.5f, "listed: Self-Forcing's 750 at shift 5 is sigma 0.9375");
    Sampler s;
    ok = sampler_init(&s, SAMPLER_DISTILL, 4, 5.0, 4, &e) == T2V_OK && s.sigmas[1] == 0.9375 &&
         s.sigmas[3] == 5 * 0.25 / (1 + 4 * 0.25);
    CHECK(ok, "distill without a list: t_k = 1000 (1 - k/4), Self-Forcing's list");
    sampler_free(&s);
}

static void test_listed_runs(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/sampler/listed.safetensors")) return;
    float noise[NRUN], eps[3][NRUN];
    randn_torch(RUN_SEED, noise, NRUN);
    int have = 1;
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "eps.%d", k);
        float *ref = golden_f32(&st, name, NULL);
        have &= ref != NULL;
        if (ref) memcpy(eps[k], ref, sizeof eps[k]);
        free(ref);
    }
    if (!have) { h_report(0, "listed golden: eps missing"); st_close(&st); return; }
    const float *const given[3] = {eps[0], eps[1], eps[2]};
    static Toy m;
    for (size_t c = 0; c < sizeof(LISTED) / sizeof(LISTED[0]); c++) {
        const ListedCase *lc = &LISTED[c];
        const ListedSchedule *ls = &LISTS[lc->list];
        char base[64], name[96];
        snprintf(base, sizeof base, "%s.L%d.cfg%g", lc->solver, lc->list, (double)lc->cfg);
        SamplerKind kind;
        sampler_kind_from_name(lc->solver, &kind);
        Sampler s;
        T2vError e = {0, {0}};
        if (sampler_init_listed(&s, kind, ls->t, ls->steps, ls->shift, NRUN, &e)) {
            h_report(0, "%s: init: %s", base, e.msg);
            continue;
        }
        sampler_renoise_given(&s, given);
        toy_init(&m);
        float *steps_out = malloc(sizeof(float) * NRUN * (size_t)ls->steps);
        m.steps_out = steps_out;
        float x[NRUN], tmp[2 * NRUN];
        memcpy(x, noise, sizeof x);
        int r = toy_run(&s, x, lc->cfg, &m, tmp, 1, &e);
        int per = lc->cfg > 1.0f ? 2 : 1;
        CHECK(r == T2V_OK && m.ncalls == per * ls->steps, "%s: %d model calls for %d steps", base, m.ncalls,
              ls->steps);
        int all = 1;
        for (int k = 0; k < ls->steps; k++) {
            snprintf(name, sizeof name, "%s.step%d", base, k);
            float *ref = golden_f32(&st, name, NULL);
            if (!ref) { all = 0; continue; }
            ErrStats es;
            err_stats(&es, steps_out + (int64_t)k * NRUN, ref, NRUN, TOL_RUN);
            if (!err_ok(&es, TOL_RUN, COS_RUN)) {
                all = 0;
                check_close(name, steps_out + (int64_t)k * NRUN, ref, NRUN, TOL_RUN, COS_RUN);
            }
            free(ref);
        }
        CHECK(all, "%s: every step's latent within tol %.0e", base, TOL_RUN);
        snprintf(name, sizeof name, "%s.final", base);
        float *ref = golden_f32(&st, name, NULL);
        if (ref) check_close(name, x, ref, NRUN, TOL_RUN, COS_RUN);
        free(ref);
        if (kind == SAMPLER_DISTILL) { /* the seeded stream gives the stored eps: the same bits */
            float x2[NRUN];
            memcpy(x2, noise, sizeof x2);
            sampler_renoise_from_seed(&s, RUN_SEED);
            toy_init(&m);
            r = toy_run(&s, x2, lc->cfg, &m, tmp, 0, &e);
            CHECK(r == T2V_OK && memcmp(x, x2, sizeof x) == 0, "%s: eps from seed %d = the given eps (bits)", base,
                  RUN_SEED);
        }
        free(steps_out);
        sampler_free(&s);
    }
    st_close(&st);
}

int main(void) {
    test_schedule_spec_vectors();
    test_schedule_golden();
    test_orders();
    test_noise();
    test_cfg_combine();
    test_negative_prompt();
    test_runs();
    test_run_error();
    test_cfg_below_one();
    test_unipc_order1_is_euler();
    test_stream();
    test_listed_schedule_rules();
    test_listed_runs();
    return h_finish();
}
