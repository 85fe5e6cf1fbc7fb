/* cmd_generate.c: `t2v generate`. The library's pipeline_generate runs the
 * model (ref/lib/pipeline.c); this file is everything around it:
 *
 *   options + the model's defaults -> checks of sizes, outputs and memory
 *   pipeline_generate, watched: progress, --preview and --trace after each step
 *   frames -> PNG / APNG / Y4M / MP4 / contact sheet + provenance; --dump
 *
 * Everything is validated before any work; outputs go to temporary names and
 * are renamed when complete; existing files are kept unless --force. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cost.h"
#include "t2v.h"
#include "trace.h"

enum { FMT_PNG = 1, FMT_APNG = 2, FMT_Y4M = 4, FMT_MP4 = 8, FMT_SHEET = 16 };

typedef struct {
    const char *prompt, *negative, *model, *output, *dump, *preview, *trace;
    int width, height, frames, fps, formats, force, quiet;
    unsigned long long seed;
    SamplingOpts sampling; /* --steps --cfg --shift --sampler --threads */
    /* which were given on the command line (else the model's defaults) */
    int have_w, have_h, have_f, have_fps;
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

/* The options of generate that take a value (the flags: --force, -q,
 * --quiet, -h, --help). */
static const char *const GEN_VALUE_OPTS[] = {
    "-p", "--prompt", "-n", "--negative", "--model", "-o", "--output", "--dump", "--preview", "--trace", "-W",
    "--width", "-H", "--height", "-f", "--frames", "--seed", "--fps", "--format", "--steps", "--cfg", "--shift",
    "--sampler", "--threads", NULL};

/* T2V_OK; CLI_HELP_SHOWN after --help (exit 0); else a usage error's code. */
enum { CLI_HELP_SHOWN = -1 };

static int parse_gen_opts(GenerateArgs *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->model = default_model_dir();
    o->output = "out/t2v";
    o->seed = 42;
    o->formats = FMT_PNG | FMT_APNG | FMT_SHEET;
    o->sampling.threads = platform_default_threads();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long iv;
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (is_help_opt(a)) { command_help("generate"); return CLI_HELP_SHOWN; }
        if (a[0] != '-') return usage_error("generate: unexpected argument '%s' (the prompt goes after -p)", a);
        if (!v || !opt_in(a, GEN_VALUE_OPTS)) return bad_option("generate", a, GEN_VALUE_OPTS);
        i++;
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--negative")) o->negative = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->output = v;
        else if (!strcmp(a, "--dump")) o->dump = v;
        else if (!strcmp(a, "--preview")) o->preview = v;
        else if (!strcmp(a, "--trace")) o->trace = v;
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
        } else {
            int k = parse_sampling_opt(&o->sampling, a, v);
            if (k < 0) return T2V_EUSAGE;
            if (k == 0) return bad_option("generate", a, GEN_VALUE_OPTS); /* listed above, not parsed: a bug */
        }
    }
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
 * Output names. -o OUT: OUT.png (APNG), OUT_%04d.png (frames), OUT_sheet.png,
 * OUT.y4m, OUT.mp4, OUT.json (sidecar). A frame pattern (containing '%')
 * names the frames and its prefix (before the conversion, without a trailing
 * '_' or '-') the other files. */
typedef struct {
    char base[1024], frames[1100], apng[1100], sheet[1100], y4m[1100], mp4[1100], sidecar[1100];
} OutNames;

static int plan_outputs(OutNames *on, const char *output, T2vError *err) {
    if (strlen(output) >= sizeof on->base - 16) return t2v_fail(err, T2V_EUSAGE, "-o: path too long");
    const char *pct = strchr(output, '%');
    if (pct) {
        size_t k = (size_t)(pct - output);
        memcpy(on->base, output, k);
        on->base[k] = 0;
        while (k && (on->base[k - 1] == '_' || on->base[k - 1] == '-')) on->base[--k] = 0;
        if (!k) strcpy(on->base, "t2v");
        snprintf(on->frames, sizeof on->frames, "%s", output);
    } else {
        snprintf(on->base, sizeof on->base, "%s", output);
        size_t k = strlen(on->base);
        if (k > 4 && !strcmp(on->base + k - 4, ".png")) on->base[k - 4] = 0;
        snprintf(on->frames, sizeof on->frames, "%s_%%04d.png", on->base);
    }
    snprintf(on->apng, sizeof on->apng, "%s.png", on->base);
    snprintf(on->sheet, sizeof on->sheet, "%s_sheet.png", on->base);
    snprintf(on->y4m, sizeof on->y4m, "%s.y4m", on->base);
    snprintf(on->mp4, sizeof on->mp4, "%s.mp4", on->base);
    snprintf(on->sidecar, sizeof on->sidecar, "%s.json", on->base);
    return T2V_OK;
}

/* Refuses before any work when an output exists (without --force) or its
 * directory does not. */
static int check_outputs(const OutNames *on, const GenerateArgs *o, T2vError *err) {
    const char *single[] = {o->formats & FMT_APNG ? on->apng : NULL, o->formats & FMT_SHEET ? on->sheet : NULL,
                            o->formats & FMT_Y4M ? on->y4m : NULL, o->formats & FMT_MP4 ? on->mp4 : NULL,
                            on->sidecar};
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", on->base);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        if (*dir && !platform_is_dir(dir))
            return t2v_fail(err, T2V_ERESOURCE, "output directory %s does not exist (create it, or choose -o)", dir);
    }
    for (int i = 0; i < 5; i++)
        if (single[i] && !o->force && platform_file_exists(single[i]))
            return t2v_fail(err, T2V_EUSAGE, "%s exists; pass --force to overwrite it", single[i]);
    /* A trial write, so an unwritable directory is refused now, not after
     * the whole generation. */
    char probe[1200];
    snprintf(probe, sizeof probe, "%s.t2v-probe", on->base);
    FILE *f = fopen(probe, "wb");
    if (!f) return t2v_fail(err, T2V_ERESOURCE, "cannot write %s: the output location is not writable", probe);
    fclose(f);
    remove(probe);
    if (o->formats & FMT_PNG)
        for (int f = 0; f < o->frames; f++) {
            char name[1200];
            int rc = video_frame_name(on->frames, f, name, sizeof name, err);
            if (rc) return rc;
            if (!o->force && platform_file_exists(name))
                return t2v_fail(err, T2V_EUSAGE, "%s exists; pass --force to overwrite it", name);
        }
    return T2V_OK;
}

/* ----------------------------------------------------------------------------
 * Memory estimate (bytes): cost_memory (ref/app/cost.c), the numbers `t2v
 * info` prints. The text encoder is released before the DiT is loaded and the
 * DiT before the VAE, so the peak is the largest phase. 0 when the
 * checkpoints cannot be read (the loaders then say why). */
static double estimate_memory(const Model *m, const GenerateArgs *o) {
    ModelDesc md;
    T2vError e = {0, {0}};
    if (model_desc_from_dir(&md, &m->paths, &e)) return 0;
    GenSize s;
    MemEstimate me;
    gen_size(&s, &m->dit, o->width, o->height, o->frames, m->dit.text_len);
    cost_memory(&md, &s, &me);
    model_desc_free(&md);
    return me.peak;
}

/* ----------------------------------------------------------------------------
 * Watching the pipeline: progress, --preview and --trace after each step */

typedef struct {
    const GenerateArgs *o;
    Progress progress;
    LatentRgbFactors factors;
    Trace *trace;     /* --trace, or NULL */
    TempFiles *temps;
} GenerateWatch;

static void on_progress(void *user, PipelinePhase phase, int k, int n) {
    progress_watch(&((GenerateWatch *)user)->progress, phase, k, n);
}

static int on_step(void *user, const StepView *s, T2vError *err) {
    GenerateWatch *gw = (GenerateWatch *)user;
    const GenerateArgs *o = gw->o;
    const LatentGrid *g = &s->grid;
    int rc = gw->trace ? trace_step(gw->trace, s, err) : T2V_OK;
    T2vError pe = {0, {0}};
    if (!rc && o->preview && /* the last latent frame of x_{i+1}, each latent pixel 8x8 */
        video_write_preview(o->preview, s->x_next, g->T, g->h, g->w, g->T - 1, &gw->factors, 8,
                            s->step == 0 ? o->force : 1, gw->temps, &pe))
        rc = t2v_fail(err, pe.code, "--preview: %s", pe.msg);
    return rc;
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
    if (!rc) rc = prov_set_number(p, err, "width", "%d", o->width);
    if (!rc) rc = prov_set_number(p, err, "height", "%d", o->height);
    if (!rc) rc = prov_set_number(p, err, "frames", "%d", o->frames);
    if (!rc) rc = prov_set_number(p, err, "fps", "%d", o->fps);
    if (!rc) rc = prov_set(p, "model", mp->dir, err);
    const char *files[] = {mp->config, mp->dit, mp->t5, mp->vae, mp->tokenizer};
    for (int i = 0; i < 5 && !rc; i++) rc = prov_add_model_file(p, files[i], err);
    return rc;
}

static int write_outputs(const OutNames *on, const GenerateArgs *o, const Provenance *p, const uint8_t *rgb,
                         TempFiles *temps, T2vError *err) {
    int F = o->frames, H = o->height, W = o->width, rc = T2V_OK, n = 0;
    /* every file written, for the sidecar's hashes: 4 singles + the frames */
    char(*written)[1200] = calloc((size_t)F + 4, sizeof *written);
    if (!written) return t2v_fail(err, T2V_ERESOURCE, "out of memory");
    if (o->formats & FMT_APNG && !rc && !(rc = video_write_apng(on->apng, rgb, F, H, W, o->fps, p, o->force, temps, err)))
        snprintf(written[n++], 1200, "%s", on->apng);
    if (o->formats & FMT_SHEET && !rc &&
        !(rc = video_write_sheet(on->sheet, rgb, F, H, W, F < 8 ? F : 8, 0, p, o->force, temps, err)))
        snprintf(written[n++], 1200, "%s", on->sheet);
    if (o->formats & FMT_Y4M && !rc && !(rc = video_write_y4m(on->y4m, rgb, F, H, W, o->fps, o->force, temps, err)))
        snprintf(written[n++], 1200, "%s", on->y4m);
    if (o->formats & FMT_MP4 && !rc && !(rc = video_write_mp4(on->mp4, rgb, F, H, W, o->fps, p, o->force, temps, err)))
        snprintf(written[n++], 1200, "%s", on->mp4);
    int singles = n;
    if (o->formats & FMT_PNG && !rc && !(rc = video_write_png_frames(on->frames, rgb, F, H, W, p, o->force, temps, err)))
        for (int f = 0; f < F && !rc; f++) rc = video_frame_name(on->frames, f, written[n++], 1200, err);
    const char **names = (const char **)malloc(((size_t)n + 1) * sizeof *names);
    for (int i = 0; names && i < n; i++) names[i] = written[i];
    if (!rc) rc = names ? provenance_sidecar(on->sidecar, p, names, n, o->force, temps, err)
                        : t2v_fail(err, T2V_ERESOURCE, "out of memory");
    if (!rc && !o->quiet) {
        for (int i = 0; i < singles; i++) fprintf(stderr, "wrote %s\n", written[i]);
        if (n > singles) fprintf(stderr, "wrote %s .. %s (%d frames)\n", written[singles], written[n - 1], n - singles);
        fprintf(stderr, "wrote %s\n", on->sidecar);
    }
    free(names);
    free(written);
    return rc;
}

/* --dump DIR: every stage's tensors in one safetensors file (names:
 * docs/MODEL.md, stage tensors). */
static int write_dump(const GenerateArgs *o, const GenResult *r, T2vError *err) {
    const SamplingSettings *ss = &o->sampling.settings;
    const LatentGrid *g = &r->grid;
    char path[1200];
    snprintf(path, sizeof path, "%s/dump.safetensors", o->dump);
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
    if (!rc) rc = tset_add_f32(&ts, "video", r->video, 4, vid, err);
    char seed[32], steps[16], cfg[32], shift[32], size[64];
    snprintf(seed, sizeof seed, "%llu", o->seed);
    snprintf(steps, sizeof steps, "%d", ss->steps);
    snprintf(cfg, sizeof cfg, "%g", ss->cfg);
    snprintf(shift, sizeof shift, "%g", ss->shift);
    snprintf(size, sizeof size, "%dx%dx%d", o->width, o->height, o->frames);
    const char *mk[] = {"prompt", "negative_prompt", "seed", "steps", "cfg", "shift", "sampler", "size",
                        "t2v_version"};
    const char *mv[] = {o->prompt, r->context_neg ? o->negative : "", seed, steps, cfg, shift,
                        sampler_kind_name(ss->sampler), size, T2V_VERSION};
    if (!rc) rc = tset_write(&ts, path, mk, mv, 9, err);
    tset_free(&ts);
    if (!rc && !o->quiet) fprintf(stderr, "wrote %s\n", path);
    return rc;
}

/* Refuses an existing file (without --force) or a missing directory for an
 * output named by an option, before any work. */
static int check_option_output(const char *opt, const char *path, int force, T2vError *err) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (slash && *dir && !platform_is_dir(dir))
        return t2v_fail(err, T2V_ERESOURCE, "%s: directory %s does not exist", opt, dir);
    if (!force && platform_file_exists(path))
        return t2v_fail(err, T2V_EUSAGE, "%s exists; pass --force to overwrite it", path);
    return T2V_OK;
}

/* Everything before the first heavy step: model, defaults, sizes, outputs, memory. */
static int prepare(GenerateArgs *o, Model *m, OutNames *on, T2vError *err) {
    int rc = model_open(m, o->model, MODEL_NEED_ALL, err);
    if (!rc) rc = apply_defaults(o, &m->defaults, err);
    if (rc) return rc;
    if ((o->formats & FMT_MP4) && !video_find_ffmpeg(NULL, 0)) {
        fprintf(stderr, "t2v: note: ffmpeg is not on PATH, so no MP4 is written; add y4m to --format and convert "
                        "it later with `ffmpeg -i OUT.y4m OUT.mp4`\n");
        o->formats &= ~FMT_MP4;
        if (!o->formats) o->formats = FMT_Y4M;
    }
    LatentGrid g;
    if ((rc = latent_grid(&g, m, o->frames, o->height, o->width, err))) return rc;
    if ((rc = plan_outputs(on, o->output, err))) return rc;
    if ((rc = check_outputs(on, o, err))) return rc;
    /* --dump and --trace directories: created (one level) after every check */
    int new_dump = 0, new_trace = 0;
    if (o->dump && (rc = check_option_dir("--dump", o->dump, &new_dump, err))) return rc;
    if (o->trace && (rc = check_option_dir("--trace", o->trace, &new_trace, err))) return rc;
    if (o->dump && !new_dump) {
        char path[1200];
        snprintf(path, sizeof path, "%s/dump.safetensors", o->dump);
        if ((rc = check_option_output("--dump", path, o->force, err))) return rc;
    }
    if (o->preview && (rc = check_option_output("--preview", o->preview, o->force, err))) return rc;
    double need = estimate_memory(m, o), have = (double)platform_total_memory();
    if (have > 0 && need > 0.9 * have)
        return t2v_fail(err, T2V_ERESOURCE,
                        "%dx%d with %d frames needs about %.1f GiB, this machine has %.1f GiB: choose a smaller size",
                        o->width, o->height, o->frames, need / 1073741824.0, have / 1073741824.0);
    /* warnings, not refusals: a prompt cut to text_len, a size far from the model's */
    const SamplingSettings *ss = &o->sampling.settings;
    if ((rc = warn_prompt_cut(m, "prompt", o->prompt, err))) return rc;
    const char *neg = o->negative ? o->negative
                  : m->defaults.negative_prompt ? m->defaults.negative_prompt : wan_default_negative_prompt();
    if (ss->cfg > 1 && (rc = warn_prompt_cut(m, "negative prompt", neg, err))) return rc;
    warn_size(m, o->width, o->height, o->frames);
    if (new_dump && (rc = make_option_dir("--dump", o->dump, o->quiet, err))) return rc;
    if (new_trace && (rc = make_option_dir("--trace", o->trace, o->quiet, err))) return rc;
    RunPlan plan; /* the whole run's work, for the progress lines' ETA */
    run_plan_for(&plan, m, o->width, o->height, o->frames, ss->steps, ss->cfg);
    progress_plan(&plan);
    return T2V_OK;
}

/* The latent preview's colours: the model's t2v.json, else Wan2.1's. */
static void preview_factors(LatentRgbFactors *f, const ModelDefaults *d) {
    *f = latent_rgb_factors_wan21;
    if (!d->has_preview_factors) return;
    for (int ch = 0; ch < 16; ch++)
        for (int k = 0; k < 3; k++) f->rgb[ch][k] = d->preview_factors[3 * ch + k];
    for (int k = 0; k < 3; k++) f->bias[k] = d->preview_factors[48 + k];
}

/* The run: pipeline, trace, frames, dump, files. */
static int generate(GenerateArgs *o, const Model *m, const OutNames *on, TempFiles *temps, T2vError *err) {
    const SamplingSettings *ss = &o->sampling.settings;
    Provenance p;
    GenResult r;
    Trace trace;
    memset(&p, 0, sizeof p), memset(&r, 0, sizeof r), memset(&trace, 0, sizeof trace);
    GenerateWatch gw = {o, {0}, {{{0}}, {0}}, NULL, temps};
    progress_init(&gw.progress, o->quiet);
    preview_factors(&gw.factors, &m->defaults);
    PipelineWatch watch = {&gw, on_progress, on_step};
    GenSettings s = {o->prompt, o->negative, o->width, o->height, o->frames, *ss, o->seed, o->dump != NULL};
    int rc = make_provenance(&p, &m->paths, o, o->negative, err);
    if (!rc && o->trace && !(rc = trace_init(&trace, o->trace, ss->steps, o->force, err))) gw.trace = &trace;
    if (!rc) rc = pipeline_generate(m, &s, &watch, &r, err);
    if (!rc && gw.trace) {
        TraceInfo ti = {o->prompt, sampler_kind_name(ss->sampler), o->width, o->height, o->frames, ss->cfg,
                        ss->shift, o->seed};
        rc = trace_write(&trace, m, &ti, temps, err);
        if (!rc && !o->quiet)
            fprintf(stderr, "wrote %s/step_000.png .. step_%03d.png and trace.json\n", o->trace, ss->steps - 1);
    }
    uint8_t *rgb = NULL;
    if (!rc) {
        rgb = (uint8_t *)t2v_malloc((size_t)o->frames * o->height * o->width * 3, "frames", err);
        if (!rgb) rc = T2V_ERESOURCE;
        else video_to_u8(r.video, o->frames, o->height, o->width, rgb);
    }
    if (!rc && o->dump) rc = write_dump(o, &r, err);
    if (!rc) rc = write_outputs(on, o, &p, rgb, temps, err);
    free(rgb);
    prov_free(&p);
    trace_free(&trace);
    gen_result_free(&r);
    return rc;
}

int cmd_generate(int argc, char **argv, TempFiles *temps) {
    GenerateArgs o;
    int rc = parse_gen_opts(&o, argc, argv);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    T2vError e = {0, {0}};
    Model m;
    OutNames on;
    platform_set_threads(o.sampling.threads);
    double t0 = platform_now();
    rc = prepare(&o, &m, &on, &e);
    if (!o.negative) o.negative = m.defaults.negative_prompt ? m.defaults.negative_prompt
                                                              : wan_default_negative_prompt();
    if (!rc) rc = generate(&o, &m, &on, temps, &e);
    if (!rc && !o.quiet)
        fprintf(stderr, "done in %.1f s (peak RSS %.0f MB)\n", platform_now() - t0, platform_peak_rss() / 1e6);
    model_close(&m);
    return rc ? die(&e) : 0;
}
