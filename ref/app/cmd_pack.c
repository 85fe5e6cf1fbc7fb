/* cmd_pack.c: `t2v golden-pack --model DIR -W -H -f --steps --seed -o PACK/`
 * (docs/VERIFY.md). One generation at the size a port author asks for,
 * written as one file per stage with that stage's inputs and outputs under
 * the names `t2v stage` reads and writes:
 *   PACK/t5.safetensors          tokens[, tokens_neg] -> context[, context_neg]
 *   PACK/dit.safetensors         latent, timestep, context -> velocity (step 0, conditional)
 *   PACK/sampler.safetensors     noise, context[, context_neg] -> timesteps, latent.step{k}, latent.final
 *   PACK/vae-decode.safetensors  latent -> video
 *   PACK/tolerances.json         the profiles (a copy of golden/tolerances.json)
 *   PACK/manifest.json           settings, tool version, sha256 of the model files,
 *                                of every tensor (its bytes as stored) and of the profiles
 * tools/check_pack.py (NumPy only) checks a port's outputs against a pack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "sha256.h"
#include "t2v.h"
#include "verify.h"

#define PACK_DEFAULT_PROMPT "a red circle moving to the right"

typedef struct {
    const char *model, *out, *prompt, *negative, *profiles;
    int width, height, frames, force, quiet, have_w, have_h, have_f;
    unsigned long long seed;
    SamplingOpts sampling;
} PackArgs;

/* Step 0's DiT input and conditional output, from the pipeline's watch. */
typedef struct {
    Progress *progress;
    float *x, *v, t;
    int64_t n;
} FirstStep;

static int first_step(void *user, const StepView *s, T2vError *err) {
    FirstStep *f = (FirstStep *)user;
    if (s->step != 0 || s->window != 0) return T2V_OK; /* the chain schedule: its first window */
    f->n = s->grid.n;
    f->x = (float *)t2v_malloc((size_t)f->n * sizeof(float), "step 0 latent", err);
    f->v = f->x ? (float *)t2v_malloc((size_t)f->n * sizeof(float), "step 0 velocity", err) : NULL;
    if (!f->v) return T2V_ERESOURCE;
    memcpy(f->x, s->x, (size_t)f->n * sizeof(float));
    memcpy(f->v, s->v_cond, (size_t)f->n * sizeof(float));
    f->t = s->t;
    return T2V_OK;
}

static void pack_progress(void *user, PipelinePhase phase, int k, int n) {
    progress_watch(((FirstStep *)user)->progress, phase, k, n);
}

/* Writes set to PACK/name and lists its tensors (sha256 of their bytes) in
 * the manifest's "files". */
static int pack_file(const PackArgs *o, StrBuf *man, const char *name, const char *stage, const TensorSet *set,
                     int ninputs, int first, T2vError *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", o->out, name);
    const char *mk[] = {"stage", "t2v_version", "made_by"}, *mv[] = {stage, T2V_VERSION, "t2v golden-pack"};
    int rc = tset_write(set, path, mk, mv, 3, err);
    if (rc) return rc;
    sb_printf(man, "%s\n  {\"file\": ", first ? "" : ",");
    sb_json_str(man, name);
    sb_str(man, ", \"stage\": ");
    sb_json_str(man, stage);
    sb_str(man, ", \"tensors\": [");
    for (int i = 0; i < set->n; i++) {
        const Tensor *t = &set->t[i];
        char hex[65];
        sha256_buf_hex(t->data, tensor_nbytes(t), hex);
        sb_printf(man, "%s\n    {\"name\": ", i ? "," : "");
        sb_json_str(man, set->names[i]);
        sb_printf(man, ", \"role\": \"%s\", \"dtype\": \"%s\", \"shape\": [", i < ninputs ? "input" : "output",
                  dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) sb_printf(man, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        sb_printf(man, "], \"sha256\": \"%s\"}", hex);
    }
    sb_str(man, "]}");
    return T2V_OK;
}

/* "path": sha256 of each model file (the DiT of a sharded model: its index). */
static int hash_model(const Model *m, StrBuf *man, int quiet, T2vError *err) {
    const char *files[] = {m->paths.config, m->paths.dit, m->paths.t5, m->paths.vae, m->paths.tokenizer,
                           m->paths.defaults};
    int first = 1;
    for (int i = 0; i < 6; i++) {
        if (!files[i]) continue;
        char hex[65];
        if (!quiet) fprintf(stderr, "t2v: sha256 of %s\n", files[i]);
        int rc = sha256_file_hex(files[i], hex, err);
        if (rc) return rc;
        sb_printf(man, "%s\n    ", first ? "" : ",");
        sb_json_str(man, files[i]);
        sb_printf(man, ": \"%s\"", hex);
        first = 0;
    }
    return T2V_OK;
}

static int copy_file(const char *src, const char *dst, char hex[65], T2vError *err) {
    FILE *f = fopen(src, "rb");
    if (!f) return t2v_fail(err, T2V_EINPUT, "%s: cannot open the tolerance profiles (--profiles FILE)", src);
    StrBuf b = {0};
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) sb_add(&b, buf, k);
    fclose(f);
    size_t n = b.n;
    char *text = sb_take(&b);
    if (!text) return t2v_fail(err, T2V_ERESOURCE, "out of memory reading %s", src);
    sha256_buf_hex(text, n, hex);
    FILE *g = fopen(dst, "wb");
    int ok = g && fwrite(text, 1, n, g) == n;
    if (g && fclose(g)) ok = 0;
    free(text);
    return ok ? T2V_OK : t2v_fail(err, T2V_ERESOURCE, "%s: cannot write", dst);
}

static int write_pack(const PackArgs *o, const Model *m, const GenSettings *gs, const GenResult *r,
                      const FirstStep *fs, T2vError *err) {
    const SamplingSettings *ss = &gs->sampling;
    int cfg = ss->cfg > 1, rc = T2V_OK;
    const LatentGrid *g = &r->grid;
    int64_t ls[4] = {g->C, g->T, g->h, g->w}, one[1] = {1}, nst[1] = {ss->steps};
    int64_t ids[1] = {r->L}, idn[1] = {r->L_neg}, cs[2] = {r->L, r->text_dim}, cns[2] = {r->L_neg, r->text_dim};
    int64_t vs[4] = {3, gs->frames, gs->height, gs->width};
    StrBuf man = {0};
    sb_str(&man, "{\"format\": \"t2v golden pack 1\",\n \"tool\": \"t2v " T2V_VERSION "\",\n \"settings\": {\"prompt\": ");
    sb_json_str(&man, gs->prompt);
    sb_str(&man, ", \"negative\": ");
    sb_json_str(&man, cfg ? gs->negative : "");
    sb_printf(&man, ", \"width\": %d, \"height\": %d, \"frames\": %d, \"steps\": %d, \"cfg\": %.17g, \"shift\": %.17g, "
              "\"sampler\": \"%s\", \"seed\": %llu},\n \"model\": {\"dir\": ", gs->width, gs->height, gs->frames,
              ss->steps, ss->cfg, ss->shift, ss->sampler == SAMPLER_EULER ? "euler" : "unipc", o->seed);
    sb_json_str(&man, o->model);
    sb_str(&man, ", \"sha256\": {");
    rc = hash_model(m, &man, o->quiet, err);
    sb_str(&man, "}},\n \"files\": [");
    TensorSet s[4];
    memset(s, 0, sizeof s);
    /* t5 */
    if (!rc) rc = tset_add_i32(&s[0], "tokens", r->ids, 1, ids, err);
    if (!rc && cfg) rc = tset_add_i32(&s[0], "tokens_neg", r->ids_neg, 1, idn, err);
    if (!rc) rc = tset_add_f32(&s[0], "context", r->context, 2, cs, err);
    if (!rc && cfg) rc = tset_add_f32(&s[0], "context_neg", r->context_neg, 2, cns, err);
    if (!rc) rc = pack_file(o, &man, "t5.safetensors", "t5", &s[0], cfg ? 2 : 1, 1, err);
    /* dit: step 0, conditional */
    if (!rc) rc = tset_add_f32(&s[1], "latent", fs->x, 4, ls, err);
    if (!rc) rc = tset_add_f32(&s[1], "timestep", &fs->t, 1, one, err);
    if (!rc) rc = tset_add_f32(&s[1], "context", r->context, 2, cs, err);
    if (!rc) rc = tset_add_f32(&s[1], "velocity", fs->v, 4, ls, err);
    if (!rc) rc = pack_file(o, &man, "dit.safetensors", "dit", &s[1], 3, 0, err);
    /* sampler */
    if (!rc) rc = tset_add_f32(&s[2], "noise", r->noise, 4, ls, err);
    if (!rc) rc = tset_add_f32(&s[2], "context", r->context, 2, cs, err);
    if (!rc && cfg) rc = tset_add_f32(&s[2], "context_neg", r->context_neg, 2, cns, err);
    if (!rc) rc = tset_add_f32(&s[2], "timesteps", r->timesteps, 1, nst, err);
    for (int i = 0; i < ss->steps && !rc; i++) {
        char name[48];
        snprintf(name, sizeof name, "latent.step%d", i);
        rc = tset_add_f32(&s[2], name, r->steps + (size_t)i * g->n, 4, ls, err);
    }
    if (!rc) rc = tset_add_f32(&s[2], "latent.final", r->latent, 4, ls, err);
    if (!rc) rc = pack_file(o, &man, "sampler.safetensors", "sampler", &s[2], cfg ? 3 : 2, 0, err);
    /* vae-decode */
    if (!rc) rc = tset_add_f32(&s[3], "latent", r->latent, 4, ls, err);
    if (!rc) rc = tset_add_f32(&s[3], "video", r->video, 4, vs, err);
    if (!rc) rc = pack_file(o, &man, "vae-decode.safetensors", "vae-decode", &s[3], 1, 0, err);
    for (int i = 0; i < 4; i++) tset_free(&s[i]);
    char dst[4200], hex[65];
    snprintf(dst, sizeof dst, "%s/tolerances.json", o->out);
    if (!rc) rc = copy_file(o->profiles, dst, hex, err);
    if (!rc) sb_printf(&man, "],\n \"profiles\": {\"file\": \"tolerances.json\", \"sha256\": \"%s\", \"names\": "
                       "[\"fp32\", \"tf32\", \"bf16\", \"fp16\"]}\n}\n", hex);
    size_t n = man.n;
    char *text = sb_take(&man);
    if (!rc && !text) rc = t2v_fail(err, T2V_ERESOURCE, "out of memory for the manifest");
    snprintf(dst, sizeof dst, "%s/manifest.json", o->out);
    FILE *f = rc ? NULL : fopen(dst, "wb");
    if (!rc && (!f || fwrite(text, 1, n, f) != n)) rc = t2v_fail(err, T2V_ERESOURCE, "%s: cannot write", dst);
    if (f && fclose(f) && !rc) rc = t2v_fail(err, T2V_ERESOURCE, "%s: cannot write", dst);
    free(text);
    return rc;
}

static const char *const PACK_VALUE_OPTS[] = {"--model", "-o", "--output", "-p", "--prompt", "-n", "--negative",
                                              "-W", "--width", "-H", "--height", "-f", "--frames", "--seed",
                                              "--steps", "--cfg", "--shift", "--sampler", "--threads", "--profiles",
                                              NULL};

static int parse_pack(PackArgs *o, int argc, char **argv, const App *app) {
    memset(o, 0, sizeof *o);
    o->model = app->default_model, o->profiles = app->tolerances, o->prompt = PACK_DEFAULT_PROMPT, o->seed = 42;
    o->sampling.threads = platform_default_threads();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long iv;
        if (is_help_opt(a)) { command_help("golden-pack"); return -1; }
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (a[0] != '-') return usage_error("golden-pack: unexpected argument '%s'", a);
        if (!v || !opt_in(a, PACK_VALUE_OPTS)) return bad_option("golden-pack", a, PACK_VALUE_OPTS);
        i++;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->out = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--negative")) o->negative = v;
        else if (!strcmp(a, "--profiles")) o->profiles = v;
        else if (!strcmp(a, "-W") || !strcmp(a, "--width")) {
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
        } else {
            int k = parse_sampling_opt(&o->sampling, a, v);
            if (k < 0) return T2V_EUSAGE;
            if (k == 0) return bad_option("golden-pack", a, PACK_VALUE_OPTS);
        }
    }
    if (!o->out) return usage_error("%s", "golden-pack: -o PACK_DIR is required");
    if (!*o->prompt) return usage_error("%s", "golden-pack: the prompt is empty");
    return T2V_OK;
}

int cmd_golden_pack(int argc, char **argv, App *app) {
    PackArgs o;
    int rc = parse_pack(&o, argc, argv, app);
    if (rc) return rc < 0 ? 0 : rc;
    if (o.sampling.settings.steps > T2V_MAX_KEPT_STEPS && o.sampling.have_steps) {
        char msg[96];
        snprintf(msg, sizeof msg, "golden-pack: at most %d steps (one latent per step is stored)", T2V_MAX_KEPT_STEPS);
        return usage_error("%s", msg);
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/manifest.json", o.out);
    if (!o.force && platform_file_exists(probe))
        return usage_error("golden-pack: %s holds a pack; pass --force to overwrite it", o.out);
    T2vError e = {0, {0}};
    TolRule rules[64];
    int nrules;
    if (profile_load(o.profiles, "fp32", rules, 64, &nrules, NULL, 0, NULL, &e)) return die(&e); /* before any work */
    Model m;
    if (model_open(&m, o.model, MODEL_NEED_ALL, &e)) return die(&e);
    if (!o.have_w) o.width = m.defaults.width;
    if (!o.have_h) o.height = m.defaults.height;
    if (!o.have_f) o.frames = m.defaults.frames;
    if ((rc = sampling_defaults(&o.sampling, &m.defaults, &e))) { model_close(&m); return die(&e); }
    if (o.sampling.causal_block) {
        model_close(&m);
        return usage_error("%s", "golden-pack: causal generation (--causal-block, t2v.json causal_block) is not packed");
    }
    int newdir = 0;
    if ((rc = check_option_dir("-o", o.out, &newdir, &e)) || (newdir && (rc = make_option_dir("-o", o.out, o.quiet, &e)))) {
        model_close(&m);
        return die(&e);
    }
    platform_set_threads(o.sampling.threads);
    const char *neg = o.negative ? o.negative : m.defaults.negative_prompt ? m.defaults.negative_prompt
                                                                           : wan_default_negative_prompt();
    GenSettings gs; /* field by field: the struct grows */
    memset(&gs, 0, sizeof gs);
    gs.prompt = o.prompt, gs.negative = neg, gs.width = o.width, gs.height = o.height, gs.frames = o.frames;
    gs.sampling = o.sampling.settings, gs.seed = o.seed, gs.keep_steps = 1;
    Progress pr;
    progress_init(&pr, o.quiet);
    FirstStep fs = {&pr, NULL, NULL, 0, 0};
    PipelineWatch w = {&fs, pack_progress, first_step};
    GenResult r;
    memset(&r, 0, sizeof r);
    rc = pipeline_generate(&m, &gs, &w, &r, &e);
    if (!rc && !fs.x) rc = t2v_fail(&e, T2V_EINPUT, "golden-pack: the sampler ran no step");
    if (!rc) rc = write_pack(&o, &m, &gs, &r, &fs, &e);
    if (rc) { /* all or nothing: a failed pack leaves none of its files */
        static const char *const files[] = {"t5.safetensors", "dit.safetensors", "sampler.safetensors",
                                            "vae-decode.safetensors", "tolerances.json", "manifest.json"};
        for (int i = 0; i < 6; i++) {
            snprintf(probe, sizeof probe, "%s/%s", o.out, files[i]);
            remove(probe);
        }
        if (newdir) remove(o.out);
    }
    if (!rc && !o.quiet) fprintf(stderr, "t2v: golden pack written to %s (manifest.json)\n", o.out);
    gen_result_free(&r);
    free(fs.x);
    free(fs.v);
    model_close(&m);
    return rc ? die(&e) : 0;
}
