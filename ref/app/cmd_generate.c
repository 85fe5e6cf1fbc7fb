/* cmd_generate.c: `t2v generate`. The library's pipeline_generate runs the
 * model (ref/lib/pipeline.c); this file is everything around it:
 *
 *   options + the model's defaults -> checks of sizes, outputs and memory
 *   pipeline_generate, watched: progress, --preview and --trace after each step
 *   frames -> PNG / APNG / Y4M / MP4 / contact sheet + provenance; --dump
 *
 * Everything is validated before any work; outputs go to temporary names and
 * are renamed when complete; existing files are kept unless --force. */
#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cost.h"
#include "outputs.h"
#include "sign.h"
#include "t2v.h"
#include "image.h"
#include "trace.h"
#include "verify.h"

typedef struct {
    const char *prompt, *negative, *model, *output, *dump, *preview, *trace, *image;
    float *pixels; /* -i: the prepared still [3, height, width] (prepare) */
    int width, height, frames, fps, formats, force, quiet;
    const char *sign_cert, *sign_key; /* --sign-cert, --sign-key (else env, else the local chain) */
    int no_sign, sign_on;             /* --no-sign; whether outputs are signed (prepare) */
    C2paSigner signer;
    Dist *dist;             /* MPI ranks; NULL: one process */
    unsigned long long seed;
    SamplingOpts sampling; /* --steps --cfg --shift --sampler --timesteps --cache --threads --precision */
    const char *timesteps_text, *cache_text; /* as given */
    ModelArgs margs;       /* --dit --t5 --vae --lora --lora-ignore-unknown */
    /* which were given on the command line (else the model's defaults) */
    int have_w, have_h, have_f, have_fps;
    int dump_level, diffusers;     /* --dump-level, --names diffusers (docs/VERIFY.md) */
    const char *dump_blocks;       /* --dump-blocks LIST, or NULL: all */
    RunPlan plan; /* the whole run's work, for the progress lines' ETA (prepare) */
} GenerateArgs;

/* ----------------------------------------------------------------------------
 * Options */

static int parse_formats(const char *s, int *out) {
    static const struct { const char *name; int bit; } F[] = {
        {"png", FMT_PNG}, {"apng", FMT_APNG}, {"y4m", FMT_Y4M}, {"mp4", FMT_MP4}, {"sheet", FMT_SHEET}};
    *out = 0;
    char buf[128];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int bit = 0;
        for (int i = 0; i < 5; i++)
            if (!strcmp(tok, F[i].name)) bit = F[i].bit;
        if (!bit) return -1;
        *out |= bit;
    }
    return *out ? 0 : -1;
}

/* The options of generate that take a value (the flags: --force, --no-sign,
 * -q, --quiet, -h, --help). */
static const char *const GEN_VALUE_OPTS[] = {
    "-p", "--prompt", "-n", "--negative", "--model", "-o", "--output", "--dump", "--preview", "--trace", "-W",
    "--width", "-H", "--height", "-f", "--frames", "--seed", "--fps", "--format", "--steps", "--cfg", "--shift",
    "--sampler", "--timesteps", "--cache", "--threads", "--precision", "--context-window", "--context-overlap",
    "--context-schedule", "--riflex", "--causal-block", "--causal-window", "--causal-sink", "--boundary", "-i",
    "--image", "--sign-cert", "--sign-key",
    "--dump-level", "--dump-blocks", "--names", MODEL_VALUE_OPTS, NULL};

/* T2V_OK; CLI_HELP_SHOWN after --help (exit 0); else a usage error's code. */
enum { CLI_HELP_SHOWN = -1 };

static int parse_gen_opts(GenerateArgs *o, int argc, char **argv, const char *default_model) {
    memset(o, 0, sizeof *o);
    o->model = default_model;
    o->output = "out/t2v";
    o->seed = 42;
    o->formats = FMT_PNG | FMT_APNG | FMT_SHEET;
    o->sampling.threads = platform_default_threads();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long iv;
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "--no-sign")) { o->no_sign = 1; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (is_help_opt(a)) { command_help("generate"); return CLI_HELP_SHOWN; }
        if (parse_model_flag(&o->margs, a)) continue;
        if (a[0] != '-') return usage_error("generate: unexpected argument '%s' (the prompt goes after -p)", a);
        if (!v || !opt_in(a, GEN_VALUE_OPTS)) return bad_option("generate", a, GEN_VALUE_OPTS);
        i++;
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--negative")) o->negative = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->output = v;
        else if (!strcmp(a, "--dump")) o->dump = v;
        else if (!strcmp(a, "--dump-level")) {
            if ((o->dump_level = dump_level_parse(v)) < 0)
                return usage_error("generate: --dump-level '%s': expected stage, block or op", v);
        } else if (!strcmp(a, "--dump-blocks")) o->dump_blocks = v;
        else if (!strcmp(a, "--names")) {
            if (strcmp(v, "official") && strcmp(v, "diffusers"))
                return usage_error("generate: --names '%s': expected official or diffusers", v);
            o->diffusers = !strcmp(v, "diffusers");
        }
        else if (!strcmp(a, "--preview")) o->preview = v;
        else if (!strcmp(a, "--trace")) o->trace = v;
        else if (!strcmp(a, "-i") || !strcmp(a, "--image")) o->image = v;
        else if (!strcmp(a, "--sign-cert")) o->sign_cert = v;
        else if (!strcmp(a, "--sign-key")) o->sign_key = v;
        else if (!strcmp(a, "-W") || !strcmp(a, "--width")) { /* multiples: latent_grid, from the model */
            if (parse_int(v, 16, 16384, &iv)) return usage_error("--width must be an integer in 16..16384, not '%s'", v);
            o->width = (int)iv, o->have_w = 1;
        } else if (!strcmp(a, "-H") || !strcmp(a, "--height")) {
            if (parse_int(v, 16, 16384, &iv)) return usage_error("--height must be an integer in 16..16384, not '%s'", v);
            o->height = (int)iv, o->have_h = 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--frames")) {
            if (parse_int(v, 1, 4097, &iv)) return usage_error("--frames must be an integer in 1..4097, not '%s'", v);
            o->frames = (int)iv, o->have_f = 1;
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(v, &o->seed)) return usage_error("--seed must be a non-negative integer, not '%s'", v);
        } else if (!strcmp(a, "--fps")) {
            if (parse_int(v, 1, 240, &iv)) return usage_error("--fps must be an integer in 1..240, not '%s'", v);
            o->fps = (int)iv, o->have_fps = 1;
        } else if (!strcmp(a, "--format")) {
            if (parse_formats(v, &o->formats))
                return usage_error("--format takes a comma list of png,apng,y4m,mp4,sheet, not '%s'", v);
        } else if ((iv = parse_model_opt(&o->margs, a, v)) != 0) {
            if (iv < 0) return T2V_EUSAGE;
        } else {
            int k = parse_sampling_opt(&o->sampling, a, v);
            if (k < 0) return T2V_EUSAGE;
            if (k == 0) return bad_option("generate", a, GEN_VALUE_OPTS); /* listed above, not parsed: a bug */
            if (!strcmp(a, "--timesteps")) o->timesteps_text = v;
            if (!strcmp(a, "--cache")) o->cache_text = v;
        }
    }
    if (o->no_sign && (o->sign_cert || o->sign_key))
        return usage_error("%s", "generate: --no-sign and --sign-cert/--sign-key contradict each other");
    if ((o->dump_level != DUMP_STAGE || o->dump_blocks || o->diffusers) && !o->dump)
        return usage_error("%s", "generate: --dump-level, --dump-blocks and --names need --dump DIR");
    if ((o->dump_blocks || o->diffusers) && o->dump_level == DUMP_STAGE)
        return usage_error("%s", "generate: --dump-blocks and --names need --dump-level block or op");
    if (!o->prompt) return usage_error("%s", "generate: a prompt is required (-p \"a red circle moving to the right\")");
    if (!*o->prompt) return usage_error("%s", "generate: the prompt is empty");
    return T2V_OK;
}

/* Fills the settings not given on the command line from the model. */
static int apply_defaults(GenerateArgs *o, const ModelDefaults *d, T2vError *err) {
    if (!o->have_w) o->width = d->width;
    if (!o->have_h) o->height = d->height;
    if (!o->have_f) o->frames = d->frames;
    if (!o->have_fps) o->fps = d->fps;
    return sampling_defaults(&o->sampling, d, err);
}

/* ----------------------------------------------------------------------------
 * What the run costs, from the checkpoints' headers (cost.c, the numbers
 * `t2v info` prints): the memory peak in bytes (the text encoder is released
 * before the DiT is loaded and the DiT before the VAE, so the largest phase),
 * and the work of each phase for the progress lines' ETA. 0 and no plan when
 * the headers cannot be read (the loaders then say why). */
static double run_cost(const Model *m, GenerateArgs *o) {
    ModelDesc md;
    T2vError e = {0, {0}};
    memset(&o->plan, 0, sizeof o->plan);
    if (model_desc_from_model(&md, m, &e)) return 0;
    ClipSize s;
    MemEstimate me;
    cost_size(&s, &md, o->width, o->height, o->frames, m->dit.text_len);
    cost_memory(&md, &s, &me);
    if (o->dump) cost_memory_whole_video(&md, &s, &me); /* --dump keeps the video whole */
    const WindowSettings *ws = &o->sampling.settings.window; /* --dump-level's forward runs on the whole clip */
    if (window_active(ws, s.T) && o->dump_level == DUMP_STAGE)
        cost_memory_windowed(&md, &s, ws->frames, window_chained(ws, s.T), &me);
    const CausalSettings *cs = &o->sampling.settings.causal;
    if (cs->block) cost_memory_causal(&md, &s, cs->block, causal_window_frames(cs, s.f), &me); /* a block at a time */
    double dit_phase = me.dit + cache_bytes(&o->sampling.settings.cache, s.N, md.dit.dim,
                                           (int64_t)s.C * s.T * s.h * s.w); /* --cache's buffers */
    if (dit_phase > me.peak) me.peak = dit_phase;
    double have = (double)platform_total_memory();
    if (!(have > 0 && me.peak > 0.9 * have)) /* a size that fits in memory: its FLOPs fit in int64 */
    {
        run_plan_for(&o->plan, &md, &s, o->sampling.settings.steps, o->sampling.settings.cfg);
        run_plan_windows(&o->plan, &md, &s, &o->sampling.settings);
        run_plan_causal(&o->plan, &md, &s, &o->sampling.settings);
    }
    model_desc_free(&md);
    return me.peak;
}

/* ----------------------------------------------------------------------------
 * Watching the pipeline: progress, --preview and --trace after each step */

typedef struct {
    const GenerateArgs *o;
    const Model *m;
    Progress progress;
    Trace *trace;     /* --trace, or NULL */
    TempFiles *temps;
    const char *fault_phase; /* T2V_FAULT_PHASE (tests): SIGINT when this phase has done one unit */
} GenerateWatch;

static void on_progress(void *user, PipelinePhase phase, int k, int n) {
    GenerateWatch *gw = (GenerateWatch *)user;
    progress_watch(&gw->progress, phase, k, n);
    if (k == 1 && gw->fault_phase && !strcmp(gw->fault_phase, pipeline_phase_name(phase))) raise(SIGINT);
}

static int on_step(void *user, const StepView *s, T2vError *err) {
    GenerateWatch *gw = (GenerateWatch *)user;
    const GenerateArgs *o = gw->o;
    const LatentGrid *g = &s->grid;
    const char *fr = getenv("T2V_FAULT_RANK"); /* tests: this rank fails after step 0 */
    if (fr && o->dist && atoi(fr) == o->dist->rank && s->step == 0)
        return t2v_fail(err, T2V_ERESOURCE, "rank %d: fault injected after step 0 (T2V_FAULT_RANK)", o->dist->rank);
    int rc = gw->trace ? trace_step(gw->trace, s, err) : T2V_OK;
    if (rc || !o->preview) return rc;
    /* the last latent frame of x_{i+1}, each latent pixel scale_s x scale_s */
    T2vError pe = {0, {0}};
    uint8_t *rgb = (uint8_t *)t2v_malloc((size_t)g->h * g->w * 3, "latent preview", &pe);
    int prc = rgb ? vae_preview_rgb(&gw->m->preview, s->x_next, g->C, g->T, g->h, g->w, g->T - 1, rgb, &pe)
                  : T2V_ERESOURCE;
    if (!prc) prc = video_write_preview_rgb(o->preview, rgb, g->h, g->w, gw->m->vae.scale_s, s->step == 0 ? o->force : 1,
                                            gw->temps, &pe);
    free(rgb);
    return prc ? t2v_fail(err, prc, "--preview: %s", pe.msg) : T2V_OK;
}

/* Provenance of this run. */
static int make_provenance(Provenance *p, const ModelPaths *mp, const GenerateArgs *o, const char *negative,
                           T2vError *err) {
    int rc = prov_init(p, err);
    if (!rc) rc = prov_set(p, "prompt", o->prompt, err);
    if (!rc) rc = prov_set(p, "negative_prompt", negative, err);
    if (!rc) rc = prov_set_number(p, err, "seed", "%llu", o->seed);
    if (!rc) rc = prov_set_number(p, err, "steps", "%d", o->sampling.settings.steps);
    if (!rc) rc = prov_set_number(p, err, "cfg", "%g", o->sampling.settings.cfg);
    if (!rc) rc = prov_set_number(p, err, "shift", "%g", o->sampling.settings.shift);
    if (!rc) rc = prov_set(p, "sampler", sampler_kind_name(o->sampling.settings.sampler), err);
    if (!rc && o->sampling.n_listed) rc = prov_set(p, "timesteps", o->timesteps_text, err);
    if (!rc && o->sampling.settings.cache.kind != CACHE_NONE) rc = prov_set(p, "cache", o->cache_text, err);
    if (!rc) rc = prov_set(p, "precision", precision_name(o->sampling.settings.precision), err);
    const WindowSettings *ws = &o->sampling.settings.window;
    if (!rc && ws->frames) rc = prov_set_number(p, err, "context_window_latent_frames", "%d", ws->frames);
    if (!rc && ws->frames) rc = prov_set_number(p, err, "context_overlap_latent_frames", "%d", ws->overlap);
    if (!rc && ws->frames) rc = prov_set(p, "context_schedule", window_schedule_name(ws->schedule), err);
    if (!rc && o->sampling.settings.riflex_k) rc = prov_set_number(p, err, "riflex_k", "%d", o->sampling.settings.riflex_k);
    if (!rc) rc = prov_set_number(p, err, "width", "%d", o->width);
    if (!rc) rc = prov_set_number(p, err, "height", "%d", o->height);
    if (!rc) rc = prov_set_number(p, err, "frames", "%d", o->frames);
    if (!rc) rc = prov_set_number(p, err, "fps", "%d", o->fps);
    if (!rc) rc = prov_set(p, "model", mp->dir, err);
    const char *files[] = {mp->config, mp->dit, mp->t5, mp->vae, mp->tokenizer};
    for (int i = 0; i < 5 && !rc; i++) rc = prov_add_model_file(p, files[i], err);
    p->signer = o->sign_on ? &o->signer : NULL;
    return rc;
}

/* ----------------------------------------------------------------------------
 * The video's files, written as the VAE decodes (docs/OUTPUTS.md, Streamed
 * writing): the decoder hands each latent frame's frames to frames_emit,
 * which turns them into 8-bit frames and appends them to a writer per
 * format; nothing of the clip's size is held. With --dump the float video is
 * kept whole for the dump file and handed over in one call after the run:
 * the same bytes either way. */

enum { EMIT_BATCH = 16 }; /* frames converted and appended at a time (the PNG encoders' parallel batch) */

typedef struct {
    const OutputPlan *op;
    const GenerateArgs *o;
    const Provenance *p;
    TempFiles *temps;
    VideoWriter *w[5];
    int nw, opened, done; /* writers; whether the set is started; frames appended */
    uint8_t *rgb;         /* [cap][H][W][3]: the frames being appended */
    int cap;
} FrameOut;

/* At the first frame: the output set starts (every file is held under its
 * temporary name until all are complete) and a writer per format opens. */
static int frames_open(FrameOut *fo, T2vError *err) {
    const OutputPlan *op = fo->op;
    const GenerateArgs *o = fo->o;
    int F = o->frames, H = o->height, W = o->width;
    const VideoSpec spec[5] = {{VIDEO_APNG, op->apng, F, H, W, o->fps, 0, 0, fo->p, o->force},
                               {VIDEO_SHEET, op->sheet, F, H, W, 0, F < 8 ? F : 8, 0, fo->p, o->force},
                               {VIDEO_Y4M, op->y4m, F, H, W, o->fps, 0, 0, NULL, o->force},
                               {VIDEO_MP4, op->mp4, F, H, W, o->fps, 0, 0, fo->p, o->force},
                               {VIDEO_PNG_FRAMES, op->frames, F, H, W, 0, 0, 0, fo->p, o->force}};
    const int bit[5] = {FMT_APNG, FMT_SHEET, FMT_Y4M, FMT_MP4, FMT_PNG};
    fo->opened = 1;
    int rc = tempfiles_hold(fo->temps, op->n, err);
    for (int i = 0; i < 5 && !rc; i++)
        if (op->formats & bit[i]) rc = video_writer_open(&fo->w[fo->nw++], &spec[i], fo->temps, err);
    return rc;
}

/* VaeFrameSink.emit: frames [3, n, H, W] -> 8 bits (video_to_u8) -> every writer. */
static int frames_emit(void *user, const float *frames, int first, int n, int H, int W, T2vError *err) {
    FrameOut *fo = (FrameOut *)user;
    int rc = fo->opened ? T2V_OK : frames_open(fo, err), b = n < EMIT_BATCH ? n : EMIT_BATCH;
    if (!rc && first != fo->done)
        rc = t2v_fail(err, T2V_EINPUT, "decoded frames %d.. arrived after %d frames", first, fo->done);
    if (!rc && b > fo->cap) {
        free(fo->rgb);
        fo->rgb = (uint8_t *)t2v_malloc((size_t)b * H * W * 3, "frames", err);
        fo->cap = fo->rgb ? b : 0;
        if (!fo->rgb) rc = T2V_ERESOURCE;
    }
    for (int k = 0; k < n && !rc; k += EMIT_BATCH) {
        int m = n - k < EMIT_BATCH ? n - k : EMIT_BATCH;
        video_to_u8_frames(frames, n, k, m, H, W, fo->rgb);
        for (int i = 0; i < fo->nw && !rc; i++) rc = video_writer_append(fo->w[i], fo->rgb, m, err);
    }
    if (!rc) fo->done += n;
    return rc;
}

/* Removes what the writers started (a failed run). */
static void frames_abort(FrameOut *fo) {
    for (int i = 0; i < fo->nw; i++) video_writer_abort(fo->w[i]);
    fo->nw = 0;
    free(fo->rgb);
    fo->rgb = NULL;
}

/* After the last frame: every writer's file into the held set, the Y4M's
 * C2PA sidecar, then the sidecar with the hashes of -o's files. */
static int write_outputs(FrameOut *fo, T2vError *err) {
    const OutputPlan *op = fo->op;
    int rc = T2V_OK, fmt = op->formats;
    for (int i = 0; i < fo->nw; i++) {
        if (!rc) rc = video_writer_close(fo->w[i], err);
        else video_writer_abort(fo->w[i]);
    }
    fo->nw = 0;
    if (!rc && (fmt & FMT_Y4M) && (fmt & FMT_C2PA)) /* Y4M has no place for a manifest: a sidecar */
        rc = video_write_c2pa_sidecar(op->c2pa, op->y4m, fo->p, fo->o->force, fo->temps, err);
    /* the sidecar lists -o's files: the plan's "-o" names before it */
    const char **names = (const char **)malloc((size_t)op->n * sizeof *names);
    int n = 0;
    for (int i = 0; names && i < op->n; i++)
        if (!strcmp(op->what[i], "-o") && strcmp(op->name[i], op->sidecar)) names[n++] = op->name[i];
    if (!rc) rc = names ? provenance_sidecar(op->sidecar, fo->p, names, n, fo->o->force, fo->temps, err)
                        : t2v_fail(err, T2V_ERESOURCE, "out of memory");
    free(names);
    return rc;
}

/* Two names of one numbered series (frames, trace strips): the same but for digits. */
static int same_series(const char *a, const char *b) {
    if (strlen(a) != strlen(b)) return 0;
    for (; *a; a++, b++)
        if (*a != *b && !(isdigit((unsigned char)*a) && isdigit((unsigned char)*b))) return 0;
    return 1;
}

/* What the user finds: a line per file, a numbered series on one line. */
static void report_outputs(const OutputPlan *op) {
    for (int i = 0, k; i < op->n; i = k) {
        for (k = i + 1; k < op->n && same_series(op->name[i], op->name[k]);) k++;
        if (k - i > 2) fprintf(stderr, "wrote %s .. %s (%d files)\n", op->name[i], op->name[k - 1], k - i);
        else for (int j = i; j < k; j++) fprintf(stderr, "wrote %s\n", op->name[j]);
    }
}

/* --dump DIR: every stage's tensors in one safetensors file (names:
 * docs/MODEL.md, stage tensors). */
static int write_dump(const GenerateArgs *o, const GenResult *r, const TensorSet *ops, TempFiles *temps,
                      T2vError *err) {
    const SamplingSettings *ss = &o->sampling.settings;
    const LatentGrid *g = &r->grid;
    char path[1200];
    snprintf(path, sizeof path, "%s/dump.safetensors%s", o->dump, T2V_TEMP_SUFFIX);
    int64_t lat[4] = {g->C, g->T, g->h, g->w}, vid[4] = {3, o->frames, o->height, o->width};
    int64_t s_ids[1] = {r->L}, s_neg[1] = {r->L_neg}, s_ctx[2] = {r->L, r->text_dim};
    int64_t s_ctxn[2] = {r->L_neg, r->text_dim}, s_ts[1] = {ss->steps};
    TensorSet ts;
    memset(&ts, 0, sizeof ts);
    int rc = tset_add_i32(&ts, "tokens", r->ids, 1, s_ids, err);
    if (!rc) rc = tset_add_f32(&ts, "context", r->context, 2, s_ctx, err);
    if (!rc && r->context_neg) rc = tset_add_i32(&ts, "tokens_neg", r->ids_neg, 1, s_neg, err);
    if (!rc && r->context_neg) rc = tset_add_f32(&ts, "context_neg", r->context_neg, 2, s_ctxn, err);
    if (!rc) rc = tset_add_f32(&ts, "noise", r->noise, 4, lat, err);
    if (!rc) rc = tset_add_f32(&ts, "timesteps", r->timesteps, 1, s_ts, err);
    for (int i = 0; i < ss->steps && !rc; i++) {
        char name[32];
        snprintf(name, sizeof name, "latent.step%d", i);
        rc = tset_add_f32(&ts, name, r->steps + (size_t)i * g->n, 4, lat, err);
    }
    if (!rc) rc = tset_add_f32(&ts, "latent.final", r->latent, 4, lat, err);
    int64_t s_dec[2] = {ss->steps, 2};
    if (!rc && r->computed) rc = tset_add_i32(&ts, "cache.computed", r->computed, 2, s_dec, err);
    if (!rc) rc = tset_add_f32(&ts, "video", r->video, 4, vid, err);
    /* Wan2.2: the image-to-video inputs, the A14B expert of every step (stage sampler's names) */
    int64_t s_img[3] = {3, o->height, o->width}, s_z[4] = {g->C, 1, g->h, g->w};
    if (!rc && o->pixels) rc = tset_add_f32(&ts, "image", o->pixels, 3, s_img, err);
    if (!rc && r->image_latent) rc = tset_add_f32(&ts, "image_latent", r->image_latent, 4, s_z, err);
    float *ex = r->experts ? (float *)t2v_malloc(sizeof(float) * (size_t)ss->steps, "experts", err) : NULL;
    if (r->experts && !ex) rc = T2V_ERESOURCE;
    for (int i = 0; ex && i < ss->steps; i++) ex[i] = (float)r->experts[i];
    if (!rc && ex) rc = tset_add_f32(&ts, "experts", ex, 1, s_ts, err);
    free(ex);
    for (int i = 0; !rc && ops && i < ops->n; i++) { /* --dump-level: the first DiT forward's taps */
        float *x = tensor_to_f32_alloc(&ops->t[i], err); /* stored little-endian */
        rc = x ? tset_add_f32(&ts, ops->names[i], x, ops->t[i].ndim, ops->t[i].shape, err) : T2V_ERESOURCE;
        free(x);
    }
    if (!rc && ops && !o->quiet)
        fprintf(stderr, "t2v: --dump: %d tensors, %.2f MB\n", ts.n, tset_bytes(&ts) / 1e6);
    char seed[32], steps[16], cfg[32], shift[32], size[64];
    snprintf(seed, sizeof seed, "%llu", o->seed);
    snprintf(steps, sizeof steps, "%d", ss->steps);
    snprintf(cfg, sizeof cfg, "%g", ss->cfg);
    snprintf(shift, sizeof shift, "%g", ss->shift);
    snprintf(size, sizeof size, "%dx%dx%d", o->width, o->height, o->frames);
    const char *mk[] = {"prompt", "negative_prompt", "seed", "steps", "cfg", "shift", "sampler", "size",
                        "t2v_version", "timesteps", "cache", "precision"};
    const char *mv[] = {o->prompt, r->context_neg ? o->negative : "", seed, steps, cfg, shift,
                        sampler_kind_name(ss->sampler), size, T2V_VERSION,
                        o->timesteps_text ? o->timesteps_text : "", o->cache_text ? o->cache_text : "none",
                        precision_name(ss->precision)};
    if (!rc) rc = tset_write(&ts, path, mk, mv, 12, err);
    if (!rc) rc = tempfiles_keep(temps, path, err); /* committed with the set */
    tset_free(&ts);
    return rc;
}

/* The whole set of files, checked before any work (outputs.h). */
static int plan_outputs(OutputPlan *op, const GenerateArgs *o, const LatentGrid *g, T2vError *err) {
    int rc = outputs_plan(op, o->output, o->formats, o->frames, o->height, o->width, err);
    char path[1200];
    double raw = 4.0 * (3.0 * o->frames * o->height * o->width + (o->sampling.settings.steps + 2.0) * g->n);
    if (!rc && o->dump && snprintf(path, sizeof path, "%s/dump.safetensors", o->dump) < (int)sizeof path)
        rc = outputs_add(op, "--dump", path, raw + 1e6, err);
    for (int i = 0; !rc && o->trace && i < o->sampling.settings.steps; i++) {
        snprintf(path, sizeof path, "%s/step_%03d.png", o->trace, i);
        rc = outputs_add(op, "--trace", path, 3.0 * TRACE_MAX_LATENT * o->height * o->width + 4096, err);
    }
    if (!rc && o->trace && snprintf(path, sizeof path, "%s/trace.json", o->trace) < (int)sizeof path)
        rc = outputs_add(op, "--trace", path, 64.0 * o->sampling.settings.steps + 4096, err);
    if (!rc && o->preview) /* refreshed during the run, not part of the set: only its name is checked */
        rc = outputs_add(op, "--preview", o->preview, 3.0 * o->height * o->width + 4096, err);
    if (!rc) rc = outputs_check(op, o->force, err);
    if (!rc && o->preview) op->n--;
    return rc;
}

/* Everything before the first heavy step: model, defaults, sizes, outputs, memory. */
static int prepare(GenerateArgs *o, Model *m, OutputPlan *op, T2vError *err) {
    int rc = model_open_with(m, o->model, &o->margs.o, MODEL_NEED_ALL, err);
    if (!rc) rc = apply_defaults(o, &m->defaults, err);
    if (rc) return rc;
    if (!o->negative)
        o->negative = m->defaults.negative_prompt ? m->defaults.negative_prompt : wan_default_negative_prompt();
    if (o->sampling.have_cfg_pair && m->family != MODEL_WAN22_A14B)
        return t2v_fail(err, T2V_EUSAGE, "--cfg HIGH,LOW: two guidance scales are for the two experts of Wan2.2 "
                        "A14B; %s has one model", o->model);
    if ((rc = cache_check(&o->sampling.settings.cache, m->dit.dim, err))) return rc;
    const CacheSettings *cs = &o->sampling.settings.cache;
    if (cs->kind == CACHE_MAGCACHE_CAL && !o->force && platform_file_exists(cs->path))
        return t2v_fail(err, T2V_EUSAGE, "--cache magcache-calibrate: %s exists; pass --force to overwrite it",
                        cs->path);
    if (o->image && m->family != MODEL_WAN22_TI2V)
        return t2v_fail(err, T2V_EUSAGE, "-i: image-to-video needs a Wan2.2 TI2V model; %s is %s", o->model,
                        model_family_name(m->family));
    if (o->image && (rc = image_load_i2v(o->image, (long long)o->width * o->height, &o->width, &o->height,
                                         &o->pixels, err)))
        return rc;
    if ((o->formats & FMT_MP4) && !video_find_ffmpeg(NULL, 0)) {
        fprintf(stderr, "t2v: note: ffmpeg is not on PATH, so no MP4 is written; add y4m to --format and convert "
                        "it later with `ffmpeg -i OUT.y4m OUT.mp4`\n");
        o->formats &= ~FMT_MP4;
        if (!o->formats) o->formats = FMT_Y4M;
    }
    LatentGrid g;
    if ((rc = latent_grid(&g, m, o->frames, o->height, o->width, err))) return rc;
    if ((rc = long_video_settings(&o->sampling, m, g.T, err))) return rc;
    if (o->sampling.settings.causal.block && (o->dump || o->trace || o->preview))
        return t2v_fail(err, T2V_EUSAGE, "--causal-block: no --dump, --trace or --preview (they watch whole-clip "
                        "steps; causal generation has none)");
    if (o->sampling.settings.causal.block && (o->image || m->family == MODEL_WAN22_A14B))
        return t2v_fail(err, T2V_EUSAGE, "--causal-block: a text-to-video DiT of one model (not -i, not the Wan2.2 "
                        "A14B experts)");
    if (o->dump_level != DUMP_STAGE) { /* the size of the DiT taps, before any work (docs/VERIFY.md) */
        unsigned char *mask = (unsigned char *)t2v_malloc((size_t)m->dit.num_layers + 1, "block mask", err);
        if (!mask || (rc = dump_blocks_parse(o->dump_blocks, mask, m->dit.num_layers, err))) {
            free(mask);
            return mask ? rc : T2V_ERESOURCE;
        }
        int nb = 0, N = (g.T / m->dit.patch_t) * (g.h / m->dit.patch_h) * (g.w / m->dit.patch_w);
        for (int i = 0; i < m->dit.num_layers; i++) nb += mask[i];
        free(mask);
        int64_t bytes = o->dump_level == DUMP_OP ? dump_op_bytes(N, m->dit.text_len, m->dit.dim, m->dit.ffn_dim, nb)
                                                 : 4 * (int64_t)N * m->dit.dim * nb;
        if (!o->quiet)
            fprintf(stderr, "t2v: --dump-level %s: the first DiT forward's tensors of %d block%s, about %.1f MB\n",
                    o->dump_level == DUMP_OP ? "op" : "block", nb, nb == 1 ? "" : "s", bytes / 1e6);
        if (!o->quiet && window_active(&o->sampling.settings.window, g.T))
            fprintf(stderr, "t2v: note: the dumped DiT forward is over the whole clip; this run's DiT passes are on "
                            "context windows\n");
    }
    if (o->preview && !m->has_preview)
        return t2v_fail(err, T2V_EUSAGE, "--preview: no latent -> RGB factors for a %d-channel latent (add "
                        "\"preview_factors\" to the model's t2v.json)", g.C);
    /* --dump and --trace directories: created (one level) after every check */
    int new_dump = 0, new_trace = 0;
    if (o->dump && (rc = check_option_dir("--dump", o->dump, &new_dump, err))) return rc;
    if (o->trace && (rc = check_option_dir("--trace", o->trace, &new_trace, err))) return rc;
    double need = run_cost(m, o), have = (double)platform_total_memory();
    if (have > 0 && need > 0.9 * have)
        return t2v_fail(err, T2V_ERESOURCE,
                        "%dx%d with %d frames needs about %.1f GiB, this machine has %.1f GiB: choose a smaller size",
                        o->width, o->height, o->frames, need / 1073741824.0, have / 1073741824.0);
    if (o->dist && o->dist->rank != 0) return rc; /* rank 0 warns and plans the outputs */
    /* warnings, not refusals: a prompt cut to text_len, a size far from the model's */
    const SamplingSettings *ss = &o->sampling.settings;
    if ((rc = warn_prompt_cut(m, "prompt", o->prompt, err))) return rc;
    if (ss->cfg > 1 && (rc = warn_prompt_cut(m, "negative prompt", o->negative, err))) return rc;
    if (!o->quiet) long_video_note(ss, g.T);
    /* in context windows the DiT sees the trained length however long the clip */
    warn_size(m, o->width, o->height, window_active(&ss->window, g.T) ? m->defaults.frames : o->frames);
    if (!o->no_sign && c2pa_available()) o->formats |= FMT_C2PA; /* a Y4M's manifest goes to OUT.c2pa */
    if (new_dump && (rc = make_option_dir("--dump", o->dump, o->quiet, err))) return rc;
    if (new_trace && (rc = make_option_dir("--trace", o->trace, o->quiet, err))) return rc;
    /* the whole set, checked in the directories that now exist; a refusal
     * removes the directories this run made (empty) */
    rc = plan_outputs(op, o, &g, err);
    /* last, the signing key (made now in the config directory when there is none) */
    if (!rc) rc = sign_resolve(&o->signer, &o->sign_on, o->sign_cert, o->sign_key, o->no_sign, o->quiet, err);
    if (rc) {
        if (new_dump) remove(o->dump);
        if (new_trace) remove(o->trace);
    }
    return rc;
}

/* The files, all or none: written under temporary names (the video's while
 * it decodes, FrameOut), renamed together. On failure the caller removes
 * them (frames_abort, tempfiles_discard). */
static int write_set(const GenerateArgs *o, const Model *m, const GenResult *r, const TensorSet *ops, Trace *trace,
                     FrameOut *fo, T2vError *err) {
    const SamplingSettings *ss = &o->sampling.settings;
    int rc = fo->opened ? T2V_OK : frames_open(fo, err);
    if (!rc) rc = write_outputs(fo, err);
    if (!rc && trace) {
        TraceInfo ti = {o->prompt, sampler_kind_name(ss->sampler), o->width, o->height, o->frames, ss->cfg,
                        ss->shift, o->seed, ss->precision};
        rc = trace_write(trace, m, &ti, fo->temps, err);
    }
    if (!rc && o->dump) rc = write_dump(o, r, ops, fo->temps, err);
    if (!rc) rc = tempfiles_commit(fo->temps, err);
    if (!rc) outputs_remove_old(fo->op);
    if (!rc && !o->quiet) report_outputs(fo->op);
    return rc;
}

/* What runs, before it runs: model, sampler, steps, guidance, cache, size. */
static void report_plan(const GenerateArgs *o, const Model *m) {
    const SamplingSettings *ss = &o->sampling.settings;
    fprintf(stderr, "t2v: model %s (DiT dim %d, %d layers): %s, %d steps%s%s, cfg %g (%d DiT pass%s per step), "
            "shift %g, cache %s, %dx%d, %d frames, seed %llu\n", m->paths.dir, m->dit.dim, m->dit.num_layers,
            sampler_kind_name(ss->sampler), ss->steps, o->timesteps_text ? " at timesteps " : "",
            o->timesteps_text ? o->timesteps_text : "", ss->cfg, ss->cfg > 1 ? 2 : 1, ss->cfg > 1 ? "es" : "",
            ss->shift, o->cache_text ? o->cache_text : "none", o->width, o->height, o->frames, o->seed);
    for (int i = 0; i < m->n_lora; i++)
        fprintf(stderr, "t2v: LoRA %s at strength %g on the DiT\n", m->lora[i].path, m->lora[i].scale);
    if (o->dist) /* the granule the ranks cut the tokens on (docs/SCALING.md, What is split) */
        fprintf(stderr, "t2v: %d MPI ranks, GEMM row granule %d (T2V_GEMM_ROWS; one process with it set gives "
                "these bits)\n", o->dist->size, gemm_row_granule());
}

/* The step cache's work saved, after the run. */
static void report_cache(const GenerateArgs *o, const GenResult *r) {
    int computed = 0, reused = 0;
    for (int k = 0; r->computed && k < 2 * o->sampling.settings.steps; k++)
        computed += r->computed[k] == 1, reused += r->computed[k] == 0;
    if (r->computed)
        fprintf(stderr, "t2v: cache %s: %d of %d DiT passes computed, %d reused\n", o->cache_text, computed,
                computed + reused, reused);
}

/* --cache magcache-calibrate:FILE: the measured ratios, after the run (rank 0). */
static int write_calibration(const GenerateArgs *o, const GenResult *r, T2vError *err) {
    const CacheSettings *cs = &o->sampling.settings.cache;
    if (cs->kind != CACHE_MAGCACHE_CAL || !r->cache_metric) return T2V_OK;
    int rc = cache_ratios_write(cs->path, r->cache_metric, o->sampling.settings.steps, err);
    if (!rc && !o->quiet) fprintf(stderr, "t2v: magcache ratios of %d steps written to %s\n",
                                  o->sampling.settings.steps, cs->path);
    return rc;
}

/* --dump-level block|op: the sampler's first DiT forward (noise, the first
 * timestep, the prompt's context) run once more with the op-level tap; the
 * same inputs give the same bits as in the run. */
static int dump_first_forward(const GenerateArgs *o, const Model *m, const GenResult *r, TensorSet *ops,
                              T2vError *err) {
    Checkpoint ck;
    DiT dit;
    int rc = model_load_dit(m, &ck, &dit, err);
    if (rc) return rc;
    const LatentGrid *g = &r->grid;
    unsigned char *mask = (unsigned char *)t2v_malloc((size_t)dit.c.num_layers + 1, "block mask", err);
    float *v = mask ? (float *)t2v_malloc((size_t)g->n * sizeof(float), "velocity", err) : NULL;
    rc = v ? dump_blocks_parse(o->dump_blocks, mask, dit.c.num_layers, err) : T2V_ERESOURCE;
    DumpTap dt;
    memset(&dt, 0, sizeof dt);
    dt.set = ops, dt.level = o->dump_level, dt.diffusers = o->diffusers, dt.blocks = mask;
    dt.num_layers = dit.c.num_layers;
    int64_t ls[4] = {g->C, g->T, g->h, g->w};
    int64_t one[1] = {1};
    if (!rc && o->dump_level == DUMP_OP) rc = dump_tap_add(&dt, "timestep", &r->timesteps[0], 1, one);
    if (!rc && o->dump_level == DUMP_OP) rc = dump_tap_add(&dt, "patch_embedding.in", r->noise, 4, ls);
    dit.tap = dump_tap_fn, dit.tap_user = &dt;
    dit.riflex_k = o->sampling.settings.riflex_k, dit.riflex_frames = g->T; /* as the run's DiT */
    dit.precision = o->sampling.settings.precision;
    if (!rc) rc = dit_forward(&dit, r->noise, g->T, g->h, g->w, &r->timesteps[0], 1, r->context, r->L, v, err);
    if (!rc && dt.rc) *err = dt.err, rc = dt.rc;
    free(v);
    free(mask);
    dit_free(&dit);
    ckpt_close(&ck);
    return rc;
}

/* The run: pipeline (watched: progress, preview, trace), then the files. */
static int generate(GenerateArgs *o, const Model *m, const OutputPlan *op, TempFiles *temps, T2vError *err) {
    const SamplingSettings *ss = &o->sampling.settings;
    Provenance p;
    GenResult r;
    Trace trace;
    memset(&p, 0, sizeof p), memset(&r, 0, sizeof r), memset(&trace, 0, sizeof trace);
    GenerateWatch gw = {o, m, {0}, NULL, temps, getenv("T2V_FAULT_PHASE")};
    progress_init(&gw.progress, o->quiet);
    gw.progress.plan = o->plan;
    PipelineWatch watch = {&gw, on_progress, on_step};
    FrameOut fo = {op, o, &p, temps, {NULL}, 0, 0, 0, NULL, 0};
    VaeFrameSink sink = {&fo, frames_emit}; /* --dump: the video is kept whole for the dump file */
    GenSettings s = {o->prompt, o->negative, o->width, o->height, o->frames, *ss, o->seed, o->dump != NULL,
                     o->pixels, o->dist, o->dump ? NULL : &sink};
    TensorSet ops; /* --dump-level block|op: the DiT's taps of its first forward */
    memset(&ops, 0, sizeof ops);
    int rank0 = !o->dist || o->dist->rank == 0;
    int rc = make_provenance(&p, &m->paths, o, o->negative, err);
    if (!rc && o->trace && !(rc = trace_init(&trace, o->trace, ss->steps, o->force, err))) gw.trace = &trace;
    if (!rc && !o->quiet) report_plan(o, m);
    if (!rc) rc = pipeline_generate(m, &s, &watch, &r, err);
    if (!rc && !o->quiet) report_cache(o, &r);
    if (!rc && rank0) rc = write_calibration(o, &r, err);
    if (!rc && rank0 && o->dump_level != DUMP_STAGE) rc = dump_first_forward(o, m, &r, &ops, err);
    if (!rc && rank0 && !s.sink) rc = frames_emit(&fo, r.video, 0, o->frames, o->height, o->width, err);
    if (!rc && rank0) rc = write_set(o, m, &r, o->dump_level != DUMP_STAGE ? &ops : NULL, gw.trace, &fo, err);
    if (rc) {
        frames_abort(&fo);
        tempfiles_discard(temps);
    }
    free(fo.rgb);
    tset_free(&ops);
    prov_free(&p);
    trace_free(&trace);
    gen_result_free(&r);
    return rc;
}

int cmd_generate(int argc, char **argv, App *app) {
    TempFiles *temps = &app->temps;
    GenerateArgs o;
    int rc = parse_gen_opts(&o, argc, argv, app->default_model);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if ((o.dist = app_dist(app)) && o.dist->rank != 0) /* rank 0 alone checks, writes and prints */
        o.quiet = 1, o.dump = o.trace = o.preview = NULL;
    T2vError e = {0, {0}};
    Model m;
    OutputPlan op;
    memset(&op, 0, sizeof op);
    platform_set_threads(o.sampling.threads);
    double t0 = platform_now();
    rc = prepare(&o, &m, &op, &e);
    if (!rc) rc = generate(&o, &m, &op, temps, &e);
    if (!rc && !o.quiet)
        fprintf(stderr, "done in %.1f s (peak RSS %.0f MB)\n", platform_now() - t0, platform_peak_rss() / 1e6);
    if (!rc && !o.quiet) app_report_dist(o.dist);
    outputs_free(&op);
    model_close(&m);
    free(o.pixels);
    c2pa_signer_free(&o.signer);
    return rc ? die(&e) : 0;
}
