/* cli_generate.c: `t2v generate`, the whole pipeline (DESIGN.md section 1):
 *
 *   prompt -> tokenizer -> umT5 -> context      (and the negative prompt)
 *   seed -> noise; for each step: DiT (cond, uncond) -> CFG -> sampler step
 *   VAE decode -> frames -> PNG / APNG / Y4M / MP4 / contact sheet + provenance
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

enum { FMT_PNG = 1, FMT_APNG = 2, FMT_Y4M = 4, FMT_MP4 = 8, FMT_SHEET = 16 };

typedef struct {
    const char *prompt, *negative, *model, *output, *dump, *preview, *trace;
    int width, height, frames, fps, formats, force, quiet;
    unsigned long long seed;
    SamplingOpts s; /* --steps --cfg --shift --sampler --threads */
    /* which were given on the command line (else the model's defaults) */
    int have_w, have_h, have_f, have_fps;
} GenOpts;

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

static int parse_gen_opts(GenOpts *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->model = "models/demo";
    o->output = "out/t2v";
    o->seed = 42;
    o->formats = FMT_PNG | FMT_APNG | FMT_SHEET;
    o->s.threads = platform_default_threads();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long iv;
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage_error("%s", "generate: see `t2v --help`");
        if (a[0] != '-') return usage_error("generate: unexpected argument '%s' (the prompt goes after -p)", a);
        if (!v) return usage_error("generate: option '%s' needs a value (or is unknown)", a);
        i++;
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--negative")) o->negative = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->output = v;
        else if (!strcmp(a, "--dump")) o->dump = v;
        else if (!strcmp(a, "--preview")) o->preview = v;
        else if (!strcmp(a, "--trace")) o->trace = v;
        else if (!strcmp(a, "-W") || !strcmp(a, "--width")) {
            if (parse_int(v, 16, 16384, &iv) || iv % 16)
                return usage_error("--width must be a multiple of 16 in 16..16384, not '%s'", v);
            o->width = (int)iv, o->have_w = 1;
        } else if (!strcmp(a, "-H") || !strcmp(a, "--height")) {
            if (parse_int(v, 16, 16384, &iv) || iv % 16)
                return usage_error("--height must be a multiple of 16 in 16..16384, not '%s'", v);
            o->height = (int)iv, o->have_h = 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--frames")) {
            if (parse_int(v, 1, 4097, &iv) || (iv - 1) % 4)
                return usage_error("--frames must be 4k+1 (1, 5, 9, ..., 81, ...), not '%s'", v);
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
            int k = parse_sampling_opt(&o->s, a, v);
            if (k < 0) return T2V_EUSAGE;
            if (k == 0) return usage_error("generate: unknown option '%s'", a);
        }
    }
    if (!o->prompt) return usage_error("%s", "generate: a prompt is required (-p \"a red circle moving to the right\")");
    if (!*o->prompt) return usage_error("%s", "generate: the prompt is empty");
    return T2V_OK;
}

/* Fills the settings not given on the command line from the model. */
static int apply_defaults(GenOpts *o, const ModelDefaults *d, T2vError *err) {
    if (!o->have_w) o->width = d->width;
    if (!o->have_h) o->height = d->height;
    if (!o->have_f) o->frames = d->frames;
    if (!o->s.have_steps) o->s.steps = d->steps;
    if (!o->s.have_cfg) o->s.cfg = d->cfg;
    if (!o->s.have_shift) o->s.shift = d->shift;
    if (!o->have_fps) o->fps = d->fps;
    if (!o->s.have_sampler && sampler_kind_from_name(d->sampler, &o->s.sampler))
        return t2v_fail(err, T2V_EINPUT, "model defaults: unknown sampler '%s'", d->sampler);
    if (o->width % 16 || o->height % 16 || (o->frames - 1) % 4)
        return t2v_fail(err, T2V_EINPUT, "model defaults: size %dx%dx%d is not W,H multiples of 16 and 4k+1 frames",
                        o->width, o->height, o->frames);
    return T2V_OK;
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
static int check_outputs(const OutNames *on, const GenOpts *o, T2vError *err) {
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
 * Memory estimate (bytes): cost_memory (ref/cost.c), the numbers `t2v info`
 * prints. The text encoder is released before the DiT is loaded and the DiT
 * before the VAE, so the peak is the largest phase. 0 when the checkpoints
 * cannot be read (the loaders then say why). */
static double estimate_memory(const ModelPaths *mp, const DiTConfig *c, const GenOpts *o) {
    ModelDesc md;
    T2vError e = {0, {0}};
    if (model_desc_from_dir(&md, mp, &e)) return 0;
    GenSize s;
    MemEstimate me;
    gen_size(&s, c, o->width, o->height, o->frames, c->text_len);
    cost_memory(&md, &s, &me);
    model_desc_free(&md);
    return me.peak;
}

/* ----------------------------------------------------------------------------
 * Progress and preview, as pipeline hooks */

typedef struct {
    const GenOpts *o;
    Progress pr;
    const char *stage; /* stage of pr */
    LatentRgbFactors factors;
    int preview_rc;
    T2vError preview_err;
    Trace *trace; /* --trace, or NULL */
} GenUi;

static void ui_progress(void *user, const char *stage, int k, int n) {
    GenUi *ui = (GenUi *)user;
    if (ui->stage != stage) { /* stage names are string literals of model.c */
        progress_start(&ui->pr, stage, n, ui->o->quiet);
        ui->stage = stage;
    }
    ui->pr.n = n;
    if (k > 0) progress_update(&ui->pr, k);
}

static void ui_step(void *user, int i, const float *x, int T, int h, int w) {
    GenUi *ui = (GenUi *)user;
    if (ui->o->preview && !ui->preview_rc)
        ui->preview_rc = video_write_preview(ui->o->preview, x, T, h, w, T - 1, &ui->factors, 8,
                                             i == 0 ? ui->o->force : 1, &g_temps, &ui->preview_err);
}

static void ui_velocity(void *user, int i, double sigma, int timestep, const float *x, const float *v_cond,
                        const float *v_uncond, int T, int h, int w) {
    GenUi *ui = (GenUi *)user;
    if (ui->trace) trace_on_velocity(ui->trace, i, sigma, timestep, x, v_cond, v_uncond, T, h, w);
}

/* Provenance of this run. */
static int make_provenance(Provenance *p, const ModelPaths *mp, const GenOpts *o, const char *negative, T2vError *err) {
    int rc = prov_init(p, err);
    if (!rc) rc = prov_set(p, "prompt", o->prompt, err);
    if (!rc) rc = prov_set(p, "negative_prompt", negative, err);
    if (!rc) rc = prov_set_number(p, err, "seed", "%llu", o->seed);
    if (!rc) rc = prov_set_number(p, err, "steps", "%d", o->s.steps);
    if (!rc) rc = prov_set_number(p, err, "cfg", "%g", o->s.cfg);
    if (!rc) rc = prov_set_number(p, err, "shift", "%g", o->s.shift);
    if (!rc) rc = prov_set(p, "sampler", sampler_kind_name(o->s.sampler), err);
    if (!rc) rc = prov_set_number(p, err, "width", "%d", o->width);
    if (!rc) rc = prov_set_number(p, err, "height", "%d", o->height);
    if (!rc) rc = prov_set_number(p, err, "frames", "%d", o->frames);
    if (!rc) rc = prov_set_number(p, err, "fps", "%d", o->fps);
    if (!rc) rc = prov_set(p, "model", mp->dir, err);
    const char *files[] = {mp->config, mp->dit, mp->t5, mp->vae, mp->tokenizer};
    for (int i = 0; i < 5 && !rc; i++) rc = prov_add_model_file(p, files[i], err);
    return rc;
}

static int write_outputs(const OutNames *on, const GenOpts *o, const Provenance *p, const uint8_t *rgb,
                         T2vError *err) {
    int F = o->frames, H = o->height, W = o->width, rc = T2V_OK, n = 0;
    /* every file written, for the sidecar's hashes: 4 singles + the frames */
    char(*written)[1200] = calloc((size_t)F + 4, sizeof *written);
    if (!written) return t2v_fail(err, T2V_ERESOURCE, "out of memory");
    if (o->formats & FMT_APNG && !rc && !(rc = video_write_apng(on->apng, rgb, F, H, W, o->fps, p, o->force, &g_temps, err)))
        snprintf(written[n++], 1200, "%s", on->apng);
    if (o->formats & FMT_SHEET && !rc &&
        !(rc = video_write_sheet(on->sheet, rgb, F, H, W, F < 8 ? F : 8, 0, p, o->force, &g_temps, err)))
        snprintf(written[n++], 1200, "%s", on->sheet);
    if (o->formats & FMT_Y4M && !rc && !(rc = video_write_y4m(on->y4m, rgb, F, H, W, o->fps, o->force, &g_temps, err)))
        snprintf(written[n++], 1200, "%s", on->y4m);
    if (o->formats & FMT_MP4 && !rc && !(rc = video_write_mp4(on->mp4, rgb, F, H, W, o->fps, p, o->force, &g_temps, err)))
        snprintf(written[n++], 1200, "%s", on->mp4);
    int singles = n;
    if (o->formats & FMT_PNG && !rc && !(rc = video_write_png_frames(on->frames, rgb, F, H, W, p, o->force, &g_temps, err)))
        for (int f = 0; f < F && !rc; f++) rc = video_frame_name(on->frames, f, written[n++], 1200, err);
    const char **names = (const char **)malloc(((size_t)n + 1) * sizeof *names);
    for (int i = 0; names && i < n; i++) names[i] = written[i];
    if (!rc) rc = names ? provenance_sidecar(on->sidecar, p, names, n, o->force, &g_temps, err)
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

/* --dump DIR: every stage's tensors in one safetensors file (DESIGN.md 5). */
static int write_dump(const GenOpts *o, const GenResult *r, T2vError *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/dump.safetensors", o->dump);
    int nt = 9 + o->s.steps, k = 0, rc = T2V_OK;
    Tensor *ts = (Tensor *)calloc((size_t)nt, sizeof *ts);
    StItem *items = (StItem *)calloc((size_t)nt, sizeof *items);
    char(*names)[32] = calloc((size_t)nt, 32);
    if (!ts || !items || !names) rc = t2v_fail(err, T2V_ERESOURCE, "out of memory writing the dump");
    int64_t lat[4] = {16, r->T, r->h, r->w}, vid[4] = {3, o->frames, o->height, o->width};
    int64_t s_ids[1] = {r->L}, s_neg[1] = {r->L_neg}, s_ctx[2] = {r->L, r->text_dim};
    int64_t s_ctxn[2] = {r->L_neg, r->text_dim}, s_ts[1] = {o->s.steps}, n = 16 * lat[1] * lat[2] * lat[3];
#define ADD(kind, nm, x, nd, sh)                                                \
    if (!rc) {                                                                  \
        rc = tensor_from_##kind(&ts[k], x, nd, sh, err);                        \
        snprintf(names[k], 32, "%s", nm);                                       \
        items[k] = (StItem){names[k], &ts[k]};                                  \
        k++;                                                                    \
    }
    ADD(i32, "tokens", r->ids, 1, s_ids);
    ADD(f32, "context", r->context, 2, s_ctx);
    if (r->context_neg) {
        ADD(i32, "tokens_neg", r->ids_neg, 1, s_neg);
        ADD(f32, "context_neg", r->context_neg, 2, s_ctxn);
    }
    ADD(f32, "noise", r->noise, 4, lat);
    ADD(f32, "timesteps", r->timesteps, 1, s_ts);
    for (int i = 0; i < o->s.steps; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "latent.step%d", i);
        ADD(f32, nm, r->steps + (size_t)i * n, 4, lat);
    }
    ADD(f32, "latent.final", r->latent, 4, lat);
    ADD(f32, "video", r->video, 4, vid);
#undef ADD
    char seed[32], steps[16], cfg[32], shift[32], size[64];
    snprintf(seed, sizeof seed, "%llu", o->seed);
    snprintf(steps, sizeof steps, "%d", o->s.steps);
    snprintf(cfg, sizeof cfg, "%g", o->s.cfg);
    snprintf(shift, sizeof shift, "%g", o->s.shift);
    snprintf(size, sizeof size, "%dx%dx%d", o->width, o->height, o->frames);
    const char *mk[] = {"prompt", "negative_prompt", "seed", "steps", "cfg", "shift", "sampler", "size",
                        "t2v_version"};
    const char *mv[] = {o->prompt, r->context_neg ? o->negative : "", seed, steps, cfg, shift,
                        sampler_kind_name(o->s.sampler), size, T2V_VERSION};
    if (!rc) rc = st_write(path, items, k, mk, mv, 9, err);
    for (int i = 0; ts && i < k; i++) tensor_free(&ts[i]);
    free(ts);
    free(items);
    free(names);
    if (!rc && !o->quiet) fprintf(stderr, "wrote %s\n", path);
    return rc;
}

/* Everything before the first heavy step: model, defaults, sizes, outputs, memory. */
static int prepare(GenOpts *o, ModelPaths *mp, ModelDefaults *d, OutNames *on, DiTConfig *c, T2vError *err) {
    int rc = model_find(mp, o->model, MODEL_NEED_ALL, err);
    if (rc) return rc;
    if ((rc = model_defaults(d, mp, err))) return rc;
    if ((rc = apply_defaults(o, d, err))) return rc;
    if ((o->formats & FMT_MP4) && !video_find_ffmpeg(NULL, 0)) {
        fprintf(stderr, "t2v: note: ffmpeg is not on PATH, so no MP4 is written; add y4m to --format and convert "
                        "it later with `ffmpeg -i OUT.y4m OUT.mp4`\n");
        o->formats &= ~FMT_MP4;
        if (!o->formats) o->formats = FMT_Y4M;
    }
    if ((rc = plan_outputs(on, o->output, err))) return rc;
    if ((rc = check_outputs(on, o, err))) return rc;
    if (o->dump && !platform_is_dir(o->dump))
        return t2v_fail(err, T2V_ERESOURCE, "--dump: directory %s does not exist", o->dump);
    if (o->dump) {
        char path[1200];
        snprintf(path, sizeof path, "%s/dump.safetensors", o->dump);
        if (!o->force && platform_file_exists(path))
            return t2v_fail(err, T2V_EUSAGE, "%s exists; pass --force to overwrite it", path);
    }
    if (o->preview) { /* else these fail only after the whole run */
        char dir[1100];
        snprintf(dir, sizeof dir, "%s", o->preview);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        if (slash && *dir && !platform_is_dir(dir))
            return t2v_fail(err, T2V_ERESOURCE, "--preview: directory %s does not exist", dir);
        if (!o->force && platform_file_exists(o->preview))
            return t2v_fail(err, T2V_EUSAGE, "%s exists; pass --force to overwrite it", o->preview);
    }
    /* Size checks need the DiT config. */
    if ((rc = model_dit_config(mp, c, err))) return rc;
    if ((o->height / 8) % c->patch_h || (o->width / 8) % c->patch_w)
        return t2v_fail(err, T2V_EUSAGE, "size %dx%d: width and height must be multiples of %d", o->width, o->height,
                        8 * c->patch_w);
    double need = estimate_memory(mp, c, o), have = (double)platform_total_memory();
    if (have > 0 && need > 0.9 * have)
        return t2v_fail(err, T2V_ERESOURCE,
                        "%dx%d with %d frames needs about %.1f GiB, this machine has %.1f GiB: choose a smaller size",
                        o->width, o->height, o->frames, need / 1073741824.0, have / 1073741824.0);
    return T2V_OK;
}

int cmd_generate(int argc, char **argv) {
    GenOpts o;
    int rc = parse_gen_opts(&o, argc, argv);
    if (rc) return rc;
    T2vError e = {0, {0}};
    ModelPaths mp;
    ModelDefaults d;
    OutNames on;
    GenResult r;
    Provenance p;
    DiTConfig c;
    GenUi ui;
    Trace trace;
    memset(&trace, 0, sizeof trace);
    memset(&mp, 0, sizeof mp), memset(&d, 0, sizeof d), memset(&r, 0, sizeof r), memset(&p, 0, sizeof p);
    memset(&ui, 0, sizeof ui);
    platform_set_threads(o.s.threads);
    double t0 = platform_now();
    rc = prepare(&o, &mp, &d, &on, &c, &e);
    if (!o.negative) o.negative = d.negative_prompt ? d.negative_prompt : wan_default_negative_prompt();
    if (!rc) rc = make_provenance(&p, &mp, &o, o.negative, &e);
    if (!rc) {
        ui.o = &o;
        ui.factors = latent_rgb_factors_wan21;
        if (d.has_preview_factors) {
            for (int ch = 0; ch < 16; ch++)
                for (int k = 0; k < 3; k++) ui.factors.rgb[ch][k] = d.preview_factors[3 * ch + k];
            for (int k = 0; k < 3; k++) ui.factors.bias[k] = d.preview_factors[48 + k];
        }
        GenSettings s = {o.prompt, o.negative, o.width, o.height, o.frames, o.s.steps, o.s.cfg, o.s.shift,
                         (int)o.s.sampler, o.seed, o.dump != NULL};
        GenHooks hooks = {&ui, ui_progress, ui_step, ui_velocity};
        if (o.trace && (rc = trace_init(&trace, o.trace, o.s.steps, o.s.cfg, o.force, &e)) == T2V_OK) ui.trace = &trace;
        if (!rc) rc = pipeline_generate(&mp, &s, &hooks, &r, &e);
        if (!rc && ui.preview_rc) rc = t2v_fail(&e, ui.preview_rc, "--preview: %s", ui.preview_err.msg);
        if (!rc && ui.trace) {
            TraceInfo ti = {o.prompt, sampler_kind_name(o.s.sampler), o.width, o.height, o.frames, o.s.cfg, o.s.shift, o.seed};
            rc = trace_write(&trace, &mp, &ti, &e);
            if (!rc && !o.quiet) fprintf(stderr, "wrote %s/step_000.png .. step_%03d.png and trace.json\n", o.trace, o.s.steps - 1);
        }
    }
    uint8_t *rgb = NULL;
    if (!rc) {
        rgb = (uint8_t *)t2v_malloc((size_t)o.frames * o.height * o.width * 3, "frames", &e);
        if (!rgb) rc = T2V_ERESOURCE;
        else video_to_u8(r.video, o.frames, o.height, o.width, rgb);
    }
    if (!rc && o.dump) rc = write_dump(&o, &r, &e);
    if (!rc) rc = write_outputs(&on, &o, &p, rgb, &e);
    if (!rc && !o.quiet)
        fprintf(stderr, "done in %.1f s (peak RSS %.0f MB)\n", platform_now() - t0, platform_peak_rss() / 1e6);
    free(rgb);
    prov_free(&p);
    trace_free(&trace);
    gen_result_free(&r);
    model_defaults_free(&d);
    model_paths_free(&mp);
    return rc ? die(&e) : 0;
}
