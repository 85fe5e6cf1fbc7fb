/*
 * test_causal.c: causal chunk-by-chunk generation (causal.h) against
 * tools/golden_causal.py (tools/reference/causal.py, float64) on the tiny
 * model (golden/models/tiny):
 *
 *   - the causal DiT pass through the key/value cache after two clean
 *     blocks, with every frame kept and with a rolling window of 5 frames
 *     and 1 sink frame (the two must differ: eviction changes the result);
 *   - whole generations of 3 and 4 blocks with explicit fresh noise: every
 *     block's latent after every step and the final latent, including runs
 *     past the rolling window (whole-block and partial evictions after a
 *     sink); the seeded noise stream gives the bits of the explicit noise;
 *     the same bits for 1, 2 and 3 threads;
 *   - the cache's size stays window x frame tokens whatever the clip length;
 *   - bad settings (frames not a whole number of blocks, a window smaller
 *     than block + sink, a sampler other than distill) are usage errors;
 *     through the CLI: the usage exit code (1) and nothing written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "t2v.h"

#define MODEL_DIR "golden/models/tiny"
/* golden/README.md, causal: the DiT's tolerance; the pipeline's latent tolerance */
#define TOL_VEL 1e-5
#define COS_VEL 0.9999999
#define TOL_LATENT 1e-5
#define COS_LATENT 0.9999999

static void test_forward(const Model *m) {
    SafeTensors st;
    if (!golden_open(&st, "golden/causal/forward.safetensors")) return;
    T2vError e = {0, {0}};
    Checkpoint ck;
    DiT dit;
    if (model_load_dit(m, &ck, &dit, &e)) { h_report(0, "load DiT: %s", e.msg); st_close(&st); return; }
    int64_t nl = 0, nc = 0;
    float *clean[2] = {golden_f32(&st, "clean.0", NULL), golden_f32(&st, "clean.1", NULL)};
    float *lat = golden_f32(&st, "latent", &nl), *ctx = golden_f32(&st, "context", &nc), *t = golden_f32(&st, "t", NULL);
    float *emb = malloc(sizeof(float) * (size_t)dit.c.text_len * dit.c.dim), *v = malloc(sizeof(float) * (size_t)nl);
    float *got[2] = {malloc(sizeof(float) * (size_t)nl), malloc(sizeof(float) * (size_t)nl)};
    const char *names[2] = {"velocity", "velocity.w5s1"};
    int windows[2] = {9, 5}, sinks[2] = {0, 1};
    int ok = clean[0] && clean[1] && lat && ctx && t && emb && v && got[0] && got[1] &&
             !dit_embed_context(&dit, ctx, (int)(nc / dit.c.text_dim), emb, &e);
    for (int c = 0; ok && c < 2; c++) {
        CausalCache cache;
        if (causal_cache_init(&cache, &dit.c, 4, windows[c], sinks[c], 0, &e)) { ok = 0; break; }
        for (int b = 0; ok && b < 2; b++)
            ok = !causal_forward(&dit, &cache, clean[b], 3, 4, 4, 3 * b, 0.0f, emb, v, &e);
        ok = ok && !causal_forward(&dit, &cache, lat, 3, 4, 4, 6, t[0], emb, got[c], &e);
        CHECK(!ok || cache.local_end == 4 * (c ? 5 : 9), "%s: the cache holds %d tokens (%d expected)", names[c],
              cache.local_end, 4 * (c ? 5 : 9));
        causal_cache_free(&cache);
        float *ref = ok ? golden_f32(&st, names[c], NULL) : NULL;
        char what[64];
        snprintf(what, sizeof what, "causal forward: %s", names[c]);
        if (ref) check_close(what, got[c], ref, nl, TOL_VEL, COS_VEL);
        free(ref);
    }
    if (!ok) h_report(0, "causal forward: %s", e.msg);
    double diff = 0, rms = 0;
    for (int64_t i = 0; ok && i < nl; i++) diff += (got[0][i] - got[1][i]) * (double)(got[0][i] - got[1][i]),
                                          rms += (double)got[0][i] * got[0][i];
    CHECK(ok && diff > 1e-4 * rms, "eviction changes the velocity (|d|^2 / |v|^2 = %.3g)", rms > 0 ? diff / rms : 0);
    CausalCache cache;
    /* --precision bf16: a bf16 cache gives the bits of an fp32 one (the attention rounds K, V to bf16) */
    float *vb[2] = {malloc(sizeof(float) * (size_t)nl), malloc(sizeof(float) * (size_t)nl)};
    dit.precision = PREC_BF16;
    for (int c = 0; ok && vb[0] && vb[1] && c < 2; c++) {
        if (causal_cache_init(&cache, &dit.c, 4, 5, 1, c, &e)) { ok = 0; break; }
        for (int b = 0; ok && b < 2; b++)
            ok = !causal_forward(&dit, &cache, clean[b], 3, 4, 4, 3 * b, 0.0f, emb, v, &e);
        ok = ok && !causal_forward(&dit, &cache, lat, 3, 4, 4, 6, t[0], emb, vb[c], &e);
        causal_cache_free(&cache);
    }
    CHECK(ok && vb[0] && vb[1] && !memcmp(vb[0], vb[1], sizeof(float) * (size_t)nl),
          "bf16 DiT, window 5 with 1 sink: a bf16 key/value cache gives the bits of an fp32 one");
    double dd = 0, rr = 0;
    for (int64_t i = 0; ok && i < nl; i++) dd += (vb[1][i] - got[1][i]) * (double)(vb[1][i] - got[1][i]),
                                           rr += (double)got[1][i] * got[1][i];
    CHECK(ok && dd > 0 && dd < 1e-4 * rr, "... and differs from the fp32 velocity by bf16 rounding (|d|/|v| = %.2g)",
          rr > 0 ? sqrt(dd / rr) : 0);
    dit.precision = PREC_FP32;
    free(vb[0]), free(vb[1]);
    /* the first block sees only itself: the bidirectional pass on its 3 frames, bit for bit
     * (after a block was cached and causal_cache_reset emptied the cache again) */
    if (ok && !causal_cache_init(&cache, &dit.c, 4, 9, 0, 0, &e)) {
        ok = !causal_forward(&dit, &cache, clean[0], 3, 4, 4, 0, 0.0f, emb, v, &e);
        causal_cache_reset(&cache);
        ok = ok && !causal_forward(&dit, &cache, lat, 3, 4, 4, 0, t[0], emb, got[0], &e) &&
             !dit_forward_embedded(&dit, lat, 3, 4, 4, t, 1, emb, got[1], &e);
        CHECK(ok && !memcmp(got[0], got[1], sizeof(float) * (size_t)nl), "the first block's causal pass (after a "
              "reset) gives the bits of the bidirectional pass on its frames");
        causal_cache_free(&cache);
    }
    /* a pass that neither continues nor repeats the cached frames is refused */
    if (ok && !causal_cache_init(&cache, &dit.c, 4, 9, 0, 0, &e)) {
        int rc = causal_forward(&dit, &cache, lat, 3, 4, 4, 3, 0.0f, emb, v, &e);
        CHECK(rc == T2V_EINPUT, "a pass starting at frame 3 of an empty cache is refused: %s", e.msg);
        causal_cache_free(&cache);
    }
    /* a block that cannot sit beside the sink frames when the cache rolls is refused */
    if (ok && !causal_cache_init(&cache, &dit.c, 4, 4, 2, 0, &e)) {
        int rc = causal_forward(&dit, &cache, clean[0], 3, 4, 4, 0, 0.0f, emb, v, &e);
        rc = rc ? rc : causal_forward(&dit, &cache, clean[1], 3, 4, 4, 3, 0.0f, emb, v, &e);
        CHECK(rc == T2V_EINPUT && strstr(e.msg, "sink"), "window 4, sink 2, blocks of 3: the second block is refused: "
              "%s", e.msg);
        causal_cache_free(&cache);
    }
    for (int i = 0; i < 2; i++) free(clean[i]), free(got[i]);
    free(lat), free(ctx), free(t), free(emb), free(v);
    dit_free(&dit);
    ckpt_close(&ck);
    st_close(&st);
}

typedef struct {
    int T, block, window, sink, steps;
    double ts[8], shift;
    uint64_t seed;
} GenCase;

static int read_case(const SafeTensors *st, GenCase *c) {
    memset(c, 0, sizeof *c);
    c->T = atoi(h_meta(st, "latent_frames")), c->block = atoi(h_meta(st, "block"));
    c->window = atoi(h_meta(st, "window")), c->sink = atoi(h_meta(st, "sink"));
    c->shift = atof(h_meta(st, "shift")), c->seed = (uint64_t)atoll(h_meta(st, "seed"));
    const char *p = h_meta(st, "timesteps");
    while (*p && c->steps < 8) {
        c->ts[c->steps++] = strtod(p, (char **)&p);
        if (*p == ',') p++;
    }
    return c->T > 0 && c->block > 0 && c->steps > 0;
}

/* Generates case st with `threads` threads; renoise from the golden or
 * (use_seed) from the seed's stream. Returns the final latent or NULL. */
static float *generate(const Model *m, const SafeTensors *st, const GenCase *c, int threads, int use_seed) {
    T2vError e = {0, {0}};
    Checkpoint ck;
    DiT dit;
    if (model_load_dit(m, &ck, &dit, &e)) { h_report(0, "load DiT: %s", e.msg); return NULL; }
    LatentGrid g = {16, c->T, 4, 4, (int64_t)16 * c->T * 16};
    int K = c->steps, nb = c->T / c->block;
    size_t nblk = (size_t)16 * c->block * 16;
    int64_t nx = 0, nc = 0;
    float *x = golden_f32(st, "noise", &nx), *ctx = golden_f32(st, "context", &nc);
    float *renoise = malloc(sizeof(float) * nblk * (size_t)(nb * (K - 1) > 0 ? nb * (K - 1) : 1));
    int ok = x && ctx && renoise && nx == g.n;
    for (int b = 0; ok && b < nb; b++)
        for (int k = 0; ok && k + 1 < K; k++) {
            char name[32];
            snprintf(name, sizeof name, "renoise.b%d.k%d", b, k);
            float *r = golden_f32(st, name, NULL);
            if (r) memcpy(renoise + ((size_t)b * (K - 1) + k) * nblk, r, sizeof(float) * nblk);
            ok = r != NULL;
            free(r);
        }
    SamplingSettings ss;
    memset(&ss, 0, sizeof ss);
    ss.sampler = SAMPLER_DISTILL, ss.steps = K, ss.shift = c->shift, ss.cfg = 1.0, ss.timesteps = c->ts;
    ss.causal.block = c->block, ss.causal.window = c->window, ss.causal.sink = c->sink;
    platform_set_threads(threads);
    if (ok && pipeline_sample_causal(&dit, &ss, &g, ctx, (int)(nc / dit.c.text_dim), x, c->seed,
                                     use_seed ? NULL : renoise, NULL, &e)) {
        h_report(0, "pipeline_sample_causal %s: %s", st->path, e.msg);
        ok = 0;
    }
    free(ctx), free(renoise);
    dit_free(&dit);
    ckpt_close(&ck);
    if (!ok) { free(x); return NULL; }
    return x;
}

static void test_generation(const Model *m, const char *name) {
    char path[128], what[96];
    snprintf(path, sizeof path, "golden/causal/gen_%s.safetensors", name);
    SafeTensors st;
    GenCase c;
    if (!golden_open(&st, path)) return;
    if (!read_case(&st, &c)) { h_report(0, "%s: bad metadata", path); st_close(&st); return; }
    printf("-- causal %s: %d latent frames in blocks of %d, window %d, sink %d, %d steps\n", name, c.T, c.block,
           c.window, c.sink, c.steps);
    int64_t n = (int64_t)16 * c.T * 16;
    float *got = generate(m, &st, &c, 2, 0), *ref = golden_f32(&st, "latent.final", NULL);
    snprintf(what, sizeof what, "causal %s: latent.final", name);
    if (got && ref) check_close(what, got, ref, n, TOL_LATENT, COS_LATENT);
    free(ref);
    if (!strcmp(name, "stream")) { /* the golden's noise is the seed's stream */
        float *seeded = generate(m, &st, &c, 2, 1);
        CHECK(got && seeded && !memcmp(seeded, got, sizeof(float) * (size_t)n),
              "causal %s: the seed's noise stream gives the bits of the explicit noise", name);
        free(seeded);
    }
    for (int threads = 1; got && threads <= 3; threads += 2) {
        float *again = generate(m, &st, &c, threads, 0);
        CHECK(again && !memcmp(again, got, sizeof(float) * (size_t)n), "causal %s: the same bits with %d thread(s) "
              "as with 2", name, threads);
        free(again);
    }
    free(got);
    st_close(&st);
}

/* Every step of every block: a step-by-step run of the loop's parts. */
static void test_steps(const Model *m, const char *name) {
    char path[128];
    snprintf(path, sizeof path, "golden/causal/gen_%s.safetensors", name);
    SafeTensors st;
    GenCase c;
    if (!golden_open(&st, path)) return;
    T2vError e = {0, {0}};
    Checkpoint ck;
    DiT dit;
    if (!read_case(&st, &c) || model_load_dit(m, &ck, &dit, &e)) { h_report(0, "%s: %s", path, e.msg); st_close(&st); return; }
    int K = c.steps, nb = c.T / c.block, B = c.block, checked = 0, bad = 0;
    size_t nblk = (size_t)16 * B * 16;
    int64_t nc = 0;
    float *x = golden_f32(&st, "noise", NULL), *ctx = golden_f32(&st, "context", &nc);
    float *emb = malloc(sizeof(float) * (size_t)dit.c.text_len * dit.c.dim), *xb = malloc(sizeof(float) * nblk),
          *v = malloc(sizeof(float) * nblk);
    Sampler smp;
    CausalCache cache;
    int ok = x && ctx && emb && xb && v && !dit_embed_context(&dit, ctx, (int)(nc / dit.c.text_dim), emb, &e) &&
             !sampler_init_listed(&smp, SAMPLER_DISTILL, c.ts, K, c.shift, (int64_t)nblk, &e);
    CausalSettings cs = {B, c.window, c.sink, 0.0f};
    if (ok && causal_cache_init(&cache, &dit.c, 4, causal_window_frames(&cs, c.T), c.sink, 0, &e)) {
        sampler_free(&smp);
        ok = 0;
    }
    for (int b = 0; ok && b < nb; b++) {
        const float *eps[8];
        float *rn[8] = {0};
        for (int k = 0; k + 1 < K; k++) {
            char rname[32];
            snprintf(rname, sizeof rname, "renoise.b%d.k%d", b, k);
            rn[k] = golden_f32(&st, rname, NULL), eps[k] = rn[k];
            ok = ok && rn[k];
        }
        sampler_renoise_given(&smp, eps);
        for (int ch = 0; ch < 16; ch++) memcpy(xb + (size_t)ch * B * 16, x + ((size_t)ch * c.T + b * B) * 16,
                                               sizeof(float) * B * 16);
        for (int k = 0; ok && k < K; k++) {
            ok = !causal_forward(&dit, &cache, xb, B, 4, 4, b * B, sampler_timestep(&smp, k), emb, v, &e);
            if (!ok) break;
            sampler_step(&smp, k, xb, v);
            char sname[32], what[64];
            snprintf(sname, sizeof sname, "latent.b%d.k%d", b, k);
            snprintf(what, sizeof what, "causal %s: %s", name, sname);
            float *ref = golden_f32(&st, sname, NULL);
            if (ref) bad += !check_close(what, xb, ref, (int64_t)nblk, TOL_LATENT, COS_LATENT), checked++;
            free(ref);
        }
        ok = ok && !causal_forward(&dit, &cache, xb, B, 4, 4, b * B, 0.0f, emb, v, &e);
        CHECK(!ok || cache.local_end <= cache.cap, "block %d: the cache holds %d <= %d tokens", b, cache.local_end,
              cache.cap);
        for (int k = 0; k + 1 < K; k++) free(rn[k]);
    }
    if (!ok) h_report(0, "causal %s steps: %s", name, e.msg);
    printf("   %d step latents compared, %d beyond tolerance\n", checked, bad);
    if (x && ctx && emb && xb && v && ok) causal_cache_free(&cache), sampler_free(&smp);
    free(x), free(ctx), free(emb), free(xb), free(v);
    dit_free(&dit);
    ckpt_close(&ck);
    st_close(&st);
}

static void test_settings(void) {
    T2vError e = {0, {0}};
    CausalSettings a = {3, 0, 0, 0.0f}, b = {3, 5, 3, 0.0f}, c = {3, 0, 1, 0.0f}, d = {3, 6, 3, 0.0f};
    CHECK(causal_check(&a, 10, &e) == T2V_EUSAGE && strstr(e.msg, "whole number of blocks"),
          "10 latent frames in blocks of 3: %s", e.msg);
    CHECK(causal_check(&b, 9, &e) == T2V_EUSAGE && strstr(e.msg, "cannot hold"), "window 5, sink 3, block 3: %s",
          e.msg);
    CHECK(causal_check(&c, 9, &e) == T2V_EUSAGE, "sink frames without a window: %s", e.msg);
    CHECK(causal_check(&a, 1026, &e) == T2V_EUSAGE && strstr(e.msg, "1024"), "1026 latent frames: %s", e.msg);
    CHECK(causal_check(&a, 21, &e) == T2V_OK && causal_check(&d, 30, &e) == T2V_OK, "21 frames in blocks of 3; "
          "window 6 with 3 sink frames");
    CHECK(causal_window_frames(&d, 300) == 6 && causal_window_frames(&a, 300) == 300 &&
          causal_window_frames(&d, 3) == 3, "the cache holds min(window, clip) frames");
}

static char g_bin[900];

static void test_cli(void) {
#ifdef _WIN32
    printf("skipped: the CLI checks (POSIX shell redirections) on Windows\n");
#else
    const char *out = "build/test_causal_out", *png = "build/test_causal_out.png", *log = "build/test_causal.log";
    static const char *bad[][2] = {
        {"-f 17 --causal-block 3", "not a whole number of blocks"}, /* 5 latent frames */
        {"-f 21 --causal-block 3 --causal-window 4 --causal-sink 2", "cannot hold"},
        {"-f 21 --causal-block 3 --sampler unipc", "distill sampler"},
        {"-f 21 --causal-block 3 --cfg 5", "without guidance"},
        {"-f 21 --causal-block 3 --context-window 9", "no --context-window"},
        {"-f 21 --causal-block 3 --trace build", "no --dump, --trace or --preview"},
        {"-f 21 --causal-block x", "--causal-block must be"},
    };
    static char text[1 << 16];
    char cmd[2048];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        remove(png);
        snprintf(cmd, sizeof cmd, "%s generate --model " MODEL_DIR " -p 'a red ball' -W 16 -H 16 -o %s --steps 2 %s",
                 g_bin, out, bad[i][0]);
        int rc = h_run_logged(cmd, log, text, sizeof text);
        FILE *f = fopen(png, "rb");
        CHECK(rc == 1 && !f && strstr(text, bad[i][1]), "generate %s: usage error (exit %d, 1 expected), nothing "
              "written, says '%s'", bad[i][0], rc, bad[i][1]);
        if (f) fclose(f);
    }
    static const char *good[] = {"--causal-window 3", "--causal-window 4 --causal-sink 1 --precision bf16"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        remove(png);
        snprintf(cmd, sizeof cmd, "%s generate --model " MODEL_DIR " -p 'a red ball' -W 16 -H 16 -f 21 -o %s --force "
                 "--timesteps 1000,750,500,250 --shift 5 --causal-block 3 %s", g_bin, out, good[i]);
        int rc = h_run_logged(cmd, log, text, sizeof text);
        FILE *f = fopen(png, "rb");
        CHECK(rc == 0 && f && strstr(text, "causal: 6 latent frames in blocks of 3"),
              "generate --causal-block 3 %s (21 frames, 2 blocks): exit %d, video written", good[i], rc);
        if (f) fclose(f);
    }
    /* t2v stage causal: the golden's inputs through the CLI */
    const char *sout = "build/test_causal_stage.safetensors";
    snprintf(cmd, sizeof cmd, "%s stage causal --model " MODEL_DIR " --in golden/causal/gen_sink.safetensors --out %s "
             "--causal-block 3 --causal-window 7 --causal-sink 1 --timesteps 1000,757,522 --shift 1 --force -q",
             g_bin, sout);
    int src = h_run_logged(cmd, log, text, sizeof text);
    SafeTensors got, ref;
    CHECK(src == 0, "t2v stage causal on gen_sink's inputs: exit %d", src);
    if (src == 0 && golden_open(&got, sout)) {
        if (golden_open(&ref, "golden/causal/gen_sink.safetensors")) {
            int64_t na = 0, nr = 0;
            float *a = golden_f32(&got, "latent.final", &na), *b = golden_f32(&ref, "latent.final", &nr);
            if (a && b && na == nr) check_close("stage causal: latent.final", a, b, na, TOL_LATENT, COS_LATENT);
            else h_report(0, "stage causal: latent.final missing or of another size");
            free(a), free(b);
            st_close(&ref);
        }
        st_close(&got);
    }
    snprintf(cmd, sizeof cmd, "%s stage sampler --model " MODEL_DIR " --in golden/causal/gen_sink.safetensors --out %s "
             "--causal-block 3 --force -q", g_bin, sout);
    src = h_run_logged(cmd, log, text, sizeof text);
    CHECK(src == 1 && strstr(text, "use `t2v stage causal`"), "stage sampler --causal-block is refused (exit %d)", src);
    remove(sout);
    /* t2v info: the cache's size (2 x 2 layers x 4 frames x 1 token x dim 32 x 4 bytes = 2 KiB) and the passes */
    snprintf(cmd, sizeof cmd, "%s info --model " MODEL_DIR " -W 16 -H 16 -f 21 --steps 4 --causal-block 3 "
             "--causal-window 4 --causal-sink 1", g_bin);
    int irc = h_run_logged(cmd, log, text, sizeof text);
    CHECK(irc == 0 && strstr(text, "2 blocks of 3 latent frames, 4 steps + 1 clean pass each") &&
          strstr(text, "4 latent frames (1 sink), 2.00 KiB"), "t2v info --causal-block 3: blocks and cache size "
          "(exit %d)", irc);
    /* a model directory that says it is causal (t2v.json causal_block) */
    const char *dir = "build/test_causal_model";
    int rc = h_sh("rm -rf %s && mkdir -p %s && cp -r " MODEL_DIR "/* %s/ && /usr/bin/python3 -c \"import json; "
                  "p='%s/t2v.json'; d=json.load(open(p)); d.update(causal_block=3, causal_window=4, causal_sink=1); "
                  "json.dump(d, open(p, 'w'))\"", dir, dir, dir, dir);
    snprintf(cmd, sizeof cmd, "%s generate --model %s -p 'a red ball' -W 16 -H 16 -f 21 -o %s --steps 3 --force", g_bin, dir,
             out);
    remove(png);
    rc = rc ? rc : h_run_logged(cmd, log, text, sizeof text);
    CHECK(rc == 0 && strstr(text, "key/value cache of 4 latent frames (1 sink)"),
          "t2v.json causal_block 3, causal_window 4, causal_sink 1: generate runs causal (exit %d)", rc);
    snprintf(cmd, sizeof cmd, "%s generate --model %s -p 'a red ball' -W 16 -H 16 -f 21 -o %s --steps 3 "
             "--force --causal-block 0", g_bin, dir, out);
    rc = h_run_logged(cmd, log, text, sizeof text);
    CHECK(rc == 0 && !strstr(text, "causal:"), "--causal-block 0 turns it off (exit %d)", rc);
    h_sh("rm -rf %s build/test_causal_out* %s", dir, log);
#endif
}

int main(int argc, char **argv) {
    h_find_bin(argc > 0 ? argv[0] : "", g_bin, sizeof g_bin);
    test_settings();
    Model m;
    T2vError e = {0, {0}};
    if (model_open(&m, MODEL_DIR, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e)) {
        h_report(0, "model_open %s: %s", MODEL_DIR, e.msg);
        return h_finish();
    }
    test_forward(&m);
    test_generation(&m, "stream");
    test_generation(&m, "rolling");
    test_generation(&m, "sink");
    test_steps(&m, "rolling");
    test_steps(&m, "sink");
    model_close(&m);
    test_cli();
    return h_finish();
}
