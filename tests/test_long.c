/*
 * test_long.c: long video (docs/ARCHITECTURE.md, "Long video") against
 * tools/golden_long.py (tools/reference/context.py, float64):
 *
 *   - the context-window schedules (static, uniform): every step's windows,
 *     exactly; every frame covered; the weights' ramps;
 *   - sampling with context windows on the tiny model (golden/models/tiny):
 *     every step's latent, including steps where two windows meet edge to
 *     edge (weights summing to 0: the plain-mean rule), the same bits for
 *     1, 2 and 3 threads;
 *   - RIFLEx: the DiT's velocity with each time component replaced, and the
 *     default component;
 *   - the DiT's token buffers hold one window (denoiser_init), and the
 *     DiT phase's memory estimate (cost_memory_windowed: `t2v info`,
 *     generate's memory check) grows with the clip only by the latent-sized
 *     buffers;
 *   - the CLI: `t2v stage sampler --context-window ...` converts frames to
 *     latent frames and matches the same golden; a bad overlap is a usage
 *     error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "harness.h"
#include "t2v.h"

#define MODEL_DIR "golden/models/tiny"
/* golden/README.md, long: the pipeline's latent tolerance; the DiT's */
#define TOL_LATENT 1e-5
#define COS_LATENT 0.9999999
#define TOL_VEL 1e-5
#define COS_VEL 0.9999999

static void test_schedules(void) {
    SafeTensors st;
    if (!golden_open(&st, "golden/long/schedules.safetensors")) return;
    int cases = 0, bad = 0, uncovered = 0;
    int *starts = malloc(sizeof(int) * 2 * 1024);
    for (int i = 0; i < st.tensors.n; i++) {
        const char *name = st.tensors.names[i];
        const Tensor *t = &st.tensors.tensors[i];
        char sched[16];
        int T, w, o, step;
        if (sscanf(name, "%15[a-z].T%d.w%d.o%d.s%d", sched, &T, &w, &o, &step) != 5) continue;
        WindowSettings ws = {w, o, WINDOW_UNIFORM};
        window_schedule_parse(sched, &ws.schedule);
        int n = window_starts(&ws, T, step, starts), same = n == t->shape[0];
        for (int k = 0; same && k < n; k++) same = starts[k] == (int)rd_u32le((const char *)t->data + 4 * k);
        if (!same && bad++ < 5) {
            printf("       %s: got", name);
            for (int k = 0; k < n; k++) printf(" %d", starts[k]);
            printf("\n");
        }
        float tot[256] = {0}, wt[64];
        for (int k = 0; k < n; k++) {
            window_weights(&ws, T, starts[k], wt);
            for (int f = 0; f < w; f++) tot[starts[k] + f] += wt[f] + 1.0f; /* +1: counts coverage */
        }
        for (int f = 0; f < T; f++) uncovered += tot[f] <= 0.0f;
        cases++;
    }
    free(starts);
    CHECK(cases > 800 && !bad, "window schedules: %d step/clip cases match the reference exactly (%d differ)", cases,
          bad);
    CHECK(!uncovered, "every latent frame of every case is in some window (%d are not)", uncovered);
    st_close(&st);
    /* the ramps: linspace(0,1,o) at a start past 0, linspace(1,0,o) before the end */
    WindowSettings ws = {5, 3, WINDOW_STATIC};
    float wt[5];
    window_weights(&ws, 12, 4, wt);
    CHECK(wt[0] == 0.0f && wt[1] == 0.5f && wt[2] == 0.0f + 1.0f - 0.0f && wt[3] == 0.5f && wt[4] == 0.0f,
          "weights of a middle window (5 frames, overlap 3): %g %g %g %g %g", wt[0], wt[1], wt[2], wt[3], wt[4]);
    window_weights(&ws, 12, 0, wt);
    CHECK(wt[0] == 1.0f && wt[1] == 1.0f && wt[2] == 1.0f && wt[4] == 0.0f, "the first window has no left ramp");
    window_weights(&ws, 12, 7, wt);
    CHECK(wt[0] == 0.0f && wt[4] == 1.0f, "the last window has no right ramp");
    CHECK(window_passes(&ws, 4, 7) == 7 && !window_active(&ws, 5) && window_active(&ws, 6),
          "no windows when the clip fits one: one pass per step");
    WindowSettings wan = window_from_video(81, 16, 4, WINDOW_UNIFORM), demo = window_from_video(17, 8, 4, WINDOW_STATIC);
    CHECK(wan.frames == 21 && wan.overlap == 4 && wan.schedule == WINDOW_UNIFORM && demo.frames == 5 &&
          demo.overlap == 2 && demo.schedule == WINDOW_STATIC && !window_from_video(0, 16, 4, WINDOW_UNIFORM).frames,
          "video windows in latent frames: 81/16 -> %d/%d, 17/8 -> %d/%d (21/4, 5/2), none for 0", wan.frames,
          wan.overlap, demo.frames, demo.overlap);
}

/* Samples case `name` from its inputs with `threads` threads; returns the
 * step latents (steps x n) or NULL. */
static float *sample_case(const Model *m, const SafeTensors *st, int threads, int64_t *n_out, int *steps_out) {
    T2vError e = {0, {0}};
    Checkpoint ck;
    DiT dit;
    if (model_load_dit(m, &ck, &dit, &e)) { h_report(0, "load DiT: %s", e.msg); return NULL; }
    SamplingSettings ss;
    memset(&ss, 0, sizeof ss);
    sampler_kind_from_name(h_meta(st, "sampler"), &ss.sampler);
    ss.steps = atoi(h_meta(st, "steps")), ss.cfg = atof(h_meta(st, "cfg")), ss.shift = atof(h_meta(st, "shift"));
    ss.window.frames = atoi(h_meta(st, "window_latent")), ss.window.overlap = atoi(h_meta(st, "overlap_latent"));
    window_schedule_parse(h_meta(st, "schedule"), &ss.window.schedule);
    int64_t nx = 0, nc = 0, nn = 0;
    float *x = golden_f32(st, "noise", &nx), *ctx = golden_f32(st, "context", &nc);
    float *ctxn = ss.cfg > 1 ? golden_f32(st, "context_neg", &nn) : NULL;
    int T = atoi(h_meta(st, "latent_frames"));
    LatentGrid g = {16, T, 4, 4, (int64_t)16 * T * 16};
    float *steps = malloc(sizeof(float) * (size_t)g.n * ss.steps);
    Denoiser d;
    platform_set_threads(threads);
    int ok = x && ctx && (ss.cfg <= 1 || ctxn) && steps && nx == g.n &&
             !denoiser_init(&d, &dit, &ss, &g, ctx, (int)(nc / dit.c.text_dim), ctxn, (int)(nn / dit.c.text_dim), &e);
    if (ok) {
        if (ss.window.schedule == WINDOW_CHAIN)
            ok = !pipeline_sample_chain(&dit, &ss, &g, ctx, (int)(nc / dit.c.text_dim), ctxn,
                                        (int)(nn / dit.c.text_dim), NULL, x, steps, NULL, NULL, &e);
        else
            ok = !pipeline_sample(&d, x, steps, NULL, &e);
        denoiser_free(&d);
        int per = (g.h / dit.c.patch_h) * (g.w / dit.c.patch_w) / dit.c.patch_t, win = ss.window.frames * per;
        if (ok && threads == 2 && window_active(&ss.window, T)) /* denoiser_init's dit_reserve */
            CHECK(dit.s.cap_tokens == win, "context windows: the DiT's token buffers hold one window, %d tokens, "
                  "not the clip's %d (%d reserved)", win, T * per, dit.s.cap_tokens);
    }
    if (!ok) h_report(0, "sampling %s: %s", st->path, e.msg);
    free(x), free(ctx), free(ctxn);
    dit_free(&dit);
    ckpt_close(&ck);
    if (!ok) { free(steps); return NULL; }
    *n_out = g.n, *steps_out = ss.steps;
    return steps;
}

/* Golden case golden/long/<name>.safetensors (windowed_<case> or
 * chain_<sampler>): every step's latent, and the same bits on 1 and 3 threads. */
static void test_windowed(const Model *m, const char *name) {
    char path[128], what[96];
    snprintf(path, sizeof path, "golden/long/%s.safetensors", name);
    SafeTensors st;
    if (!golden_open(&st, path)) return;
    int chain = !strcmp(h_meta(&st, "schedule"), "chain");
    printf("-- %s: %s %s steps, window %s (latent %s) overlap %s (latent %s), %s latent frames; %s [%s]\n", name,
           h_meta(&st, "sampler"), h_meta(&st, "steps"), h_meta(&st, "window"), h_meta(&st, "window_latent"),
           h_meta(&st, "overlap"), h_meta(&st, "overlap_latent"), h_meta(&st, "latent_frames"),
           chain ? "frames held by each window" : "weights summing to 0 at steps",
           h_meta(&st, chain ? "held" : "zero_weight_steps"));
    int64_t n = 0;
    int steps = 0;
    float *got = sample_case(m, &st, 2, &n, &steps);
    for (int k = 0; got && k < steps; k++) {
        char tn[32];
        snprintf(tn, sizeof tn, "latent.step%d", k);
        snprintf(what, sizeof what, "%s: %s", name, tn);
        float *ref = golden_f32(&st, tn, NULL);
        if (ref) check_close(what, got + (size_t)k * n, ref, n, TOL_LATENT, COS_LATENT);
        free(ref);
    }
    for (int threads = 1; got && threads <= 3; threads += 2) {
        int64_t n2;
        int s2;
        float *again = sample_case(m, &st, threads, &n2, &s2);
        CHECK(again && !memcmp(again, got, sizeof(float) * (size_t)n * steps),
              "%s: the same bits with %d thread(s) as with 2", name, threads);
        free(again);
    }
    free(got);
    st_close(&st);
}

static void test_riflex(const Model *m) {
    SafeTensors st;
    if (!golden_open(&st, "golden/long/riflex.safetensors")) return;
    T2vError e = {0, {0}};
    Checkpoint ck;
    DiT dit;
    if (model_load_dit(m, &ck, &dit, &e)) { h_report(0, "load DiT: %s", e.msg); st_close(&st); return; }
    int64_t nl = 0, nc = 0;
    float *lat = golden_f32(&st, "latent", &nl), *ctx = golden_f32(&st, "context", &nc), *t = golden_f32(&st, "t", NULL);
    float *v = malloc(sizeof(float) * (size_t)nl);
    int head = dit.c.dim / dit.c.num_heads, ct = (head - 4 * (head / 6)) / 2;
    for (int k = 0; lat && ctx && t && v && k <= ct; k++) {
        char name[32], what[64];
        if (k) snprintf(name, sizeof name, "velocity.k%d", k);
        else snprintf(name, sizeof name, "velocity.off");
        dit.riflex_k = k, dit.riflex_frames = 9;
        int rc = dit_forward(&dit, lat, 9, 4, 4, t, 1, ctx, (int)(nc / dit.c.text_dim), v, &e);
        if (rc) { h_report(0, "dit_forward: %s", e.msg); break; }
        float *ref = golden_f32(&st, name, NULL);
        snprintf(what, sizeof what, "RIFLEx %s", name);
        if (ref) check_close(what, v, ref, nl, TOL_VEL, COS_VEL);
        free(ref);
    }
    int bad = 0, cases = 0;
    for (int i = 0; i < st.tensors.n; i++) {
        int h, L;
        if (sscanf(st.tensors.names[i], "riflex_default_k.h%d.L%d", &h, &L) != 2) continue;
        int want = (int)rd_u32le(st.tensors.tensors[i].data), got = dit_riflex_default_k(h, L);
        cases++;
        if (got != want) printf("       head %d, L %d: got %d want %d\n", h, L, got, want), bad++;
    }
    CHECK(cases == 12 && !bad, "RIFLEx default component for %d (head, length) pairs", cases);
    free(lat), free(ctx), free(t), free(v);
    dit_free(&dit);
    ckpt_close(&ck);
    st_close(&st);
}

/* The DiT phase's estimate in windows of 5 latent frames, clips of 20 and 40
 * latent frames: 20 latent frames more cost the sampler's seven latent-sized
 * buffers (noise, latent, x_seen, v_cond, v_uncond, v, the blend's plain
 * sums: denoiser_init, windows_init) and nothing for the DiT's tokens; one
 * pass over the whole clip would cost more. The chain schedule samples one
 * window at a time: 20 more latent frames cost only the clip's noise and
 * result (pipeline_sample_chain), and its DiT phase is below the blend's. */
static void test_memory_estimate(const Model *m) {
    ModelDesc md;
    T2vError e = {0, {0}};
    if (model_desc_from_model(&md, m, &e)) { h_report(0, "model_desc_from_model: %s", e.msg); return; }
    ClipSize a, b;
    MemEstimate ea, eb, whole, ca, cb;
    cost_size(&a, &md, 64, 64, 1 + md.vae.scale_t * 19, 16);
    cost_size(&b, &md, 64, 64, 1 + md.vae.scale_t * 39, 16);
    cost_memory(&md, &a, &ea);
    cost_memory(&md, &b, &eb);
    whole = eb, ca = ea, cb = eb;
    cost_memory_windowed(&md, &a, 5, 0, &ea);
    cost_memory_windowed(&md, &b, 5, 0, &eb);
    cost_memory_windowed(&md, &a, 5, 1, &ca);
    cost_memory_windowed(&md, &b, 5, 1, &cb);
    double frame = 4.0 * md.vae.z_dim * a.h * a.w; /* one latent frame, float */
    CHECK(a.T == 20 && b.T == 40 && eb.dit - ea.dit == 7 * 20 * frame,
          "windowed DiT-phase estimate: 20 more latent frames add %.0f bytes (7 latent-sized buffers: %.0f)",
          eb.dit - ea.dit, 7 * 20 * frame);
    CHECK(cb.dit - ca.dit == 2 * 20 * frame && cb.dit < eb.dit && cb.peak >= cb.dit,
          "chained DiT-phase estimate: 20 more latent frames add %.0f bytes (the noise and result: %.0f); "
          "%.0f bytes against the blend's %.0f", cb.dit - ca.dit, 2 * 20 * frame, cb.dit, eb.dit);
    CHECK(eb.dit < whole.dit && eb.peak >= eb.dit && eb.peak >= eb.vae && eb.peak >= eb.text,
          "windowed DiT phase %.0f bytes < one pass over the clip %.0f; the peak is the largest phase", eb.dit,
          whole.dit);
    /* the VAE phase: the video streamed to the writers (docs/OUTPUTS.md), or held whole with --dump */
    double video = 12.0 * (b.F - a.F) * a.H * a.W; /* 80 more float RGB frames */
    CHECK(fabs(eb.vae - ea.vae - 2 * 20 * frame) < 0.5, "streamed VAE phase: 20 more latent frames add %.0f bytes "
          "(the noise and the final latent: %.0f), not the video's %.0f", eb.vae - ea.vae, 2 * 20 * frame, video);
    MemEstimate da = ea, db = eb;
    cost_memory_whole_video(&md, &a, &da);
    cost_memory_whole_video(&md, &b, &db);
    CHECK(fabs(db.vae - da.vae - 2 * 20 * frame - video) < 0.5 && db.vae > eb.vae && db.peak >= db.vae,
          "--dump's VAE phase holds the whole float video: 80 more frames add %.0f bytes (%.0f)", db.vae - da.vae,
          2 * 20 * frame + video);
    model_desc_free(&md);
}

static char g_bin[900];

/* latent.final of the CLI's output file against the golden's. */
static void compare_final(const char *what, const char *path, const char *golden) {
    SafeTensors got, ref;
    char name[96];
    snprintf(name, sizeof name, "%s: latent.final", what);
    if (!golden_open(&got, path)) return;
    if (golden_open(&ref, golden)) {
        int64_t n = 0, nr = 0;
        float *a = golden_f32(&got, "latent.final", &n), *b = golden_f32(&ref, "latent.final", &nr);
        if (a && b && n == nr) check_close(name, a, b, n, TOL_LATENT, COS_LATENT);
        else h_report(0, "%s missing or of another size", name);
        free(a), free(b);
        st_close(&ref);
    }
    st_close(&got);
}

/* The CLI: frames -> latent frames, a bad overlap refused, the chain
 * schedule against its golden (stage sampler and generate), its refusals
 * and t2v.json's context_schedule. */
static void test_cli(void) {
#ifdef _WIN32
    printf("skipped: the CLI checks (POSIX shell redirections) on Windows\n");
    return;
#endif
    const char *out = "build/test_long_out.safetensors";
    char cmd[4096];
    remove(out);
    snprintf(cmd, sizeof cmd, "%s stage sampler --model " MODEL_DIR " --in golden/long/windowed_uniform.safetensors "
             "--out %s --steps 4 --cfg 4 --shift 3 --sampler unipc --context-window 13 --context-overlap 8 "
             "--context-schedule uniform -q --force", g_bin, out);
    int rc = system(cmd);
    CHECK(rc == 0, "t2v stage sampler --context-window 13 --context-overlap 8: exit %d", rc);
    if (rc == 0) compare_final("CLI windowed uniform", out, "golden/long/windowed_uniform.safetensors");
    remove(out);
    snprintf(cmd, sizeof cmd, "%s stage sampler --model " MODEL_DIR " --in golden/long/windowed_uniform.safetensors "
             "--out %s --steps 2 --context-window 13 --context-overlap 16 -q 2>/dev/null", g_bin, out);
    rc = system(cmd);
    FILE *f = fopen(out, "rb");
    CHECK(rc != 0 && !f, "an overlap as long as the window is refused (exit %d), nothing written", rc);
    if (f) fclose(f);
    /* the chain schedule through the CLI: the golden's windows, its latent */
    snprintf(cmd, sizeof cmd, "%s stage sampler --model " MODEL_DIR " --in golden/long/chain_unipc.safetensors "
             "--out %s --steps 3 --cfg 4 --shift 3 --sampler unipc --context-window 13 --context-overlap 8 "
             "--context-schedule chain -q --force 2>/dev/null", g_bin, out); /* its warning: tested below */
    rc = system(cmd);
    CHECK(rc == 0, "t2v stage sampler --context-schedule chain: exit %d", rc);
    if (rc == 0) compare_final("CLI chain", out, "golden/long/chain_unipc.safetensors");
    remove(out);
    /* generate: the same clip from its prompt and seed (the golden's noise is the seed's) */
    snprintf(cmd, sizeof cmd, "%s generate --model " MODEL_DIR " -p 'a red circle moving to the right' --negative "
             "'a blurry picture' -f 33 -W 32 -H 32 --steps 3 --cfg 4 --shift 3 --sampler unipc --seed 17 "
             "--context-window 13 --context-overlap 8 --context-schedule chain --dump build/test_long_chain "
             "-o build/test_long_chain.png -q --force 2>/dev/null && %s compare --subset "
             "build/test_long_chain/dump.safetensors golden/long/chain_unipc.safetensors", g_bin, g_bin);
    rc = system(cmd);
    CHECK(rc == 0, "t2v generate --context-schedule chain: its latent.step{k} and latent.final match "
          "golden/long/chain_unipc (t2v compare exit %d)", rc);
    const char *refused[][2] = {
        {"--sampler distill --timesteps 1000,500 --shift 5 --cfg 1", "the distill sampler"},
        {"--context-overlap 0", "an overlap of 0 (nothing to hold)"},
        {"--cache teacache:0.1", "a step cache"},
    };
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, "%s stage sampler --model " MODEL_DIR " --in golden/long/chain_unipc.safetensors "
                 "--out %s --context-window 13 --context-overlap 8 --context-schedule chain %s -q --force "
                 "2>/dev/null", g_bin, out, refused[k][0]);
        rc = system(cmd);
        f = fopen(out, "rb");
        CHECK(rc != 0 && !f, "the chain schedule with %s is refused (exit %d), nothing written", refused[k][1], rc);
        if (f) fclose(f);
        remove(out);
    }
#ifndef _WIN32 /* h_sh, h_run_logged: POSIX shells (test_cli returns before this on Windows) */
    /* t2v.json's context_schedule is the default; a bad one is refused, naming the file */
    const char *dir = "build/test_long_model", *log = "build/test_long_model.log";
    static char text[65536]; /* t2v info prints some 29 kB */
    for (int k = 0; k < 2; k++) {
        rc = h_sh("rm -rf %s && mkdir -p %s && cp -r " MODEL_DIR "/* %s/ && /usr/bin/python3 -c \"import json; "
                  "p='%s/t2v.json'; d=json.load(open(p)); d.update(context_window=13, context_overlap=8, "
                  "context_schedule='%s'); json.dump(d, open(p, 'w'))\"", dir, dir, dir, dir, k ? "chained" : "chain");
        snprintf(cmd, sizeof cmd, "%s info --model %s -W 32 -H 32 -f 33 --steps 3", g_bin, dir);
        int irc = rc ? rc : h_run_logged(cmd, log, text, sizeof text);
        if (k == 0)
            CHECK(irc == 0 && strstr(text, "overlap 2, chain") && !strstr(text, "warning"),
                  "t2v.json context_schedule chain: t2v info shows chained windows, no warning (exit %d)", irc);
        else
            CHECK(irc != 0 && strstr(text, "t2v.json: \"context_schedule\" must be one of uniform, static or chain"),
                  "t2v.json context_schedule 'chained' is refused, naming the file (exit %d)", irc);
    }
    snprintf(cmd, sizeof cmd, "%s info --model " MODEL_DIR " -W 32 -H 32 -f 33 --context-window 13 "
             "--context-overlap 8 --context-schedule chain", g_bin);
    rc = h_run_logged(cmd, log, text, sizeof text);
    CHECK(rc == 0 && strstr(text, "warning: --context-schedule chain: " MODEL_DIR "/t2v.json does not name it"),
          "--context-schedule chain on a model whose t2v.json does not name it: a warning (exit %d)", rc);
    h_sh("rm -rf %s %s", dir, log);
#endif
    snprintf(cmd, sizeof cmd, "%s stage sampler --model " MODEL_DIR " --in x --out %s --context-schedule chained -q "
             "2>/dev/null", g_bin, out);
    rc = system(cmd);
    CHECK(rc != 0, "--context-schedule chained (a typo) is a usage error (exit %d)", rc);
    snprintf(cmd, sizeof cmd, "%s stage sampler --model " MODEL_DIR " --in x --out %s --riflex 0.5 -q "
             "2>/dev/null", g_bin, out);
    rc = system(cmd);
    CHECK(rc != 0, "--riflex 0.5 is a usage error (exit %d)", rc);
}

int main(int argc, char **argv) {
    h_find_bin(argc > 0 ? argv[0] : "", g_bin, sizeof g_bin);
    test_schedules();
    Model m;
    T2vError e = {0, {0}};
    if (model_open(&m, MODEL_DIR, MODEL_NEED_CONFIG | MODEL_NEED_DIT, &e)) {
        h_report(0, "model_open %s: %s", MODEL_DIR, e.msg);
        return h_finish();
    }
    test_windowed(&m, "windowed_uniform");
    test_windowed(&m, "windowed_static");
    test_windowed(&m, "windowed_edges");
    test_windowed(&m, "chain_unipc");
    test_windowed(&m, "chain_euler");
    test_riflex(&m);
    test_memory_estimate(&m);
    model_close(&m);
    test_cli();
    return h_finish();
}
