/* pipeline.c: see pipeline.h. The generation reads top to bottom in
 * pipeline_generate; the loop over sampling steps is pipeline_sample. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "platform.h"

const char *pipeline_phase_name(PipelinePhase p) {
    static const char *const names[PHASE_COUNT] = {"text encoder", "sampling", "VAE decode"};
    return p >= 0 && p < PHASE_COUNT ? names[p] : "?";
}

static void report(const PipelineWatch *w, PipelinePhase phase, int k, int n) {
    if (w && w->progress) w->progress(w->user, phase, k, n);
}

int latent_grid(LatentGrid *g, const Model *m, int F, int H, int W, T2vError *err) {
    memset(g, 0, sizeof *g);
    if (!m->has_vae || !m->has_dit) return t2v_fail(err, T2V_EINPUT, "%s: the latent needs the VAE and config.json",
                                                   m->paths.dir);
    const VaeConfig *v = &m->vae;
    int sh = v->scale_s * m->dit.patch_h, sw = v->scale_s * m->dit.patch_w;
    if (F < 1 || (F - 1) % v->scale_t || H < sh || W < sw || H % sh || W % sw)
        return t2v_fail(err, T2V_EUSAGE, "size %dx%d, %d frames: width must be a multiple of %d, height of %d, "
                        "and frames %dk+1", W, H, F, sw, sh, v->scale_t);
    g->C = v->z_dim, g->T = 1 + (F - 1) / v->scale_t, g->h = H / v->scale_s, g->w = W / v->scale_s;
    g->n = (int64_t)g->C * g->T * g->h * g->w;
    if (g->T % m->dit.patch_t)
        return t2v_fail(err, T2V_EUSAGE, "%d latent frames do not split into patches of %d", g->T, m->dit.patch_t);
    return T2V_OK;
}

void latent_frames_copy(float *dst, int dst_T, int dst_s, const float *src, int src_T, int src_s, int F,
                        const LatentGrid *g) {
    size_t plane = (size_t)g->h * g->w;
    for (int c = 0; c < g->C; c++)
        memcpy(dst + ((size_t)c * dst_T + dst_s) * plane, src + ((size_t)c * src_T + src_s) * plane,
               (size_t)F * plane * sizeof(float));
}

/* ----------------------------------------------------------------------------
 * Stage 1: tokenizer + umT5, for the prompt and (with CFG) the negative. */

/* The contexts of the prompt and (with CFG) the negative prompt. Every
 * rank tokenizes both; with a partner rank (dist.h) each encodes one and
 * they swap the results. */
static int encode_prompts(const Model *m, const GenSettings *s, const PipelineWatch *w, GenResult *r,
                          T2vError *err) {
    Tokenizer tk;
    int rc = model_load_tokenizer(m, &tk, err);
    if (rc) return rc;
    Checkpoint ck;
    T5 t5;
    if ((rc = model_load_t5(m, &ck, &t5, err))) { tokenizer_free(&tk); return rc; }
    t5.precision = s->sampling.precision;
    int guided = s->sampling.cfg > 1, n = guided ? 2 : 1, text_len = m->dit.text_len, dim = t5_dim(&t5);
    if (s->dist && (rc = dist_plan(s->dist, guided, err))) goto done;
    int cond = !s->dist || dist_computes(s->dist, 1), uncond = guided && (!s->dist || dist_computes(s->dist, 0));
    report(w, PHASE_TEXT, 0, n);
    rc = tokenizer_encode_wan(&tk, s->prompt, text_len, &r->ids, &r->L, err);
    if (!rc && guided) rc = tokenizer_encode_wan(&tk, s->negative, text_len, &r->ids_neg, &r->L_neg, err);
    r->context = rc ? NULL : (float *)t2v_malloc((size_t)r->L * dim * sizeof(float), "text context", err);
    if (!rc && guided) r->context_neg = (float *)t2v_malloc((size_t)r->L_neg * dim * sizeof(float), "text context", err);
    if (!rc && (!r->context || (guided && !r->context_neg))) rc = T2V_ERESOURCE;
    if (!rc && cond && !(rc = t5_encode(&t5, r->ids, r->L, r->context, err))) report(w, PHASE_TEXT, 1, n);
    if (!rc && uncond && !(rc = t5_encode(&t5, r->ids_neg, r->L_neg, r->context_neg, err))) report(w, PHASE_TEXT, 2, n);
    if (guided && s->dist && !(cond && uncond)) { /* the partner has the other context */
        int64_t nc = (int64_t)r->L * dim, nn = (int64_t)r->L_neg * dim, got = 0;
        rc = cond ? dist_swap(s->dist, rc, r->context, nc, r->context_neg, nn, &got, err)
                  : dist_swap(s->dist, rc, r->context_neg, nn, r->context, nc, &got, err);
        if (!rc && got != (cond ? nn : nc))
            rc = t2v_fail(err, T2V_ERESOURCE, "rank %d: the partner's context has %lld values, not %lld",
                          s->dist->rank, (long long)got, (long long)(cond ? nn : nc));
        if (!rc) report(w, PHASE_TEXT, n, n);
    }
done:
    r->text_dim = dim;
    t5_free(&t5);
    ckpt_close(&ck);
    tokenizer_free(&tk);
    return rc;
}

/* ----------------------------------------------------------------------------
 * Stage 2: the sampling loop */

/* Buffers of the context windows (none when the clip fits one pass). */
static int windows_init(Denoiser *d, const SamplingSettings *s, const LatentGrid *g, T2vError *err) {
    const WindowSettings *ws = &s->window;
    if (!window_active(ws, g->T)) return T2V_OK;
    if (ws->overlap < 0 || ws->overlap >= ws->frames)
        return t2v_fail(err, T2V_EUSAGE, "context window of %d latent frames with an overlap of %d: the overlap "
                        "must be in 0..%d", ws->frames, ws->overlap, ws->frames - 1);
    if (ws->frames % d->dit->c.patch_t)
        return t2v_fail(err, T2V_EUSAGE, "context window of %d latent frames: not a multiple of the DiT's time "
                        "patch %d", ws->frames, d->dit->c.patch_t);
    size_t win = (size_t)g->C * ws->frames * g->h * g->w;
    d->window = *ws;
    d->win_starts = (int *)t2v_malloc(sizeof(int) * (size_t)window_max_count(ws, g->T), "context windows", err);
    d->win_x = (float *)t2v_malloc(sizeof(float) * win, "context windows", err);
    d->win_v = (float *)t2v_malloc(sizeof(float) * win, "context windows", err);
    d->win_plain = (float *)t2v_malloc(sizeof(float) * (size_t)g->n, "context windows", err);
    d->win_tot = (float *)t2v_malloc(sizeof(float) * 2 * (size_t)g->T, "context windows", err);
    if (!d->win_starts || !d->win_x || !d->win_v || !d->win_plain || !d->win_tot) return T2V_ERESOURCE;
    d->win_cnt = d->win_tot + g->T;
    return T2V_OK;
}

int denoiser_init(Denoiser *d, DiT *dit, const SamplingSettings *s, const LatentGrid *g, const float *context,
                  int L, const float *context_neg, int L_neg, T2vError *err) {
    memset(d, 0, sizeof *d);
    d->dit = dit, d->grid = *g, d->cfg = (float)s->cfg;
    dit->precision = s->precision;
    const DiTConfig *c = &dit->c;
    if (g->C != c->in_dim || g->C != c->out_dim)
        return t2v_fail(err, T2V_EINPUT, "the latent has %d channels; the DiT takes %d and gives %d", g->C, c->in_dim,
                        c->out_dim);
    int guided = d->cfg > 1.0f;
    if (guided && !context_neg) return t2v_fail(err, T2V_EUSAGE, "cfg %g > 1 needs a negative context", s->cfg);
    size_t emb = (size_t)c->text_len * c->dim, n = (size_t)g->n;
    d->ctx_emb = (float *)t2v_malloc(emb * sizeof(float), "embedded context", err);
    d->ctx_neg_emb = guided ? (float *)t2v_malloc(emb * sizeof(float), "embedded negative context", err) : NULL;
    d->x_seen = (float *)t2v_malloc(n * sizeof(float), "sampler buffers", err);
    d->v_cond = (float *)t2v_malloc(n * sizeof(float), "sampler buffers", err);
    d->v_uncond = guided ? (float *)t2v_malloc(n * sizeof(float), "sampler buffers", err) : NULL;
    d->v = (float *)t2v_malloc(n * sizeof(float), "sampler buffers", err);
    int rc = (!d->ctx_emb || (guided && (!d->ctx_neg_emb || !d->v_uncond)) || !d->x_seen || !d->v_cond || !d->v)
                 ? T2V_ERESOURCE : T2V_OK;
    int tokens = (g->T / c->patch_t) * (g->h / c->patch_h) * (g->w / c->patch_w);
    if (!rc) rc = sampler_init_listed(&d->smp, s->sampler, s->timesteps, s->steps, s->shift, g->n, err);
    if (!rc) rc = windows_init(d, s, g, err);
    dit->riflex_k = s->riflex_k, dit->riflex_frames = g->T;
    /* the token buffers hold one pass: with context windows, one window (velocity) */
    int pass_frames = window_active(&d->window, g->T) ? d->window.frames : g->T;
    if (!rc) rc = dit_reserve(dit, (pass_frames / c->patch_t) * (g->h / c->patch_h) * (g->w / c->patch_w), err);
    if (!rc) rc = cache_init(&d->cache, &s->cache, s->steps, c->dim, tokens, g->n, err);
    if (!rc && s->cache.kind != CACHE_NONE) dit->cache = &d->cache;
    if (!rc) rc = dit_embed_context(dit, context, L, d->ctx_emb, err);
    if (!rc && guided) rc = dit_embed_context(dit, context_neg, L_neg, d->ctx_neg_emb, err);
    if (rc) denoiser_free(d);
    return rc;
}

void denoiser_free(Denoiser *d) {
    if (d->dit && d->dit->cache == &d->cache) d->dit->cache = NULL;
    cache_free(&d->cache);
    sampler_free(&d->smp);
    free(d->ctx_emb);
    free(d->ctx_neg_emb);
    free(d->low_ctx_emb);
    free(d->low_ctx_neg_emb);
    free(d->tok_t);
    free(d->x_seen);
    free(d->v_cond);
    free(d->v_uncond);
    free(d->v);
    free(d->win_starts);
    free(d->win_x);
    free(d->win_v);
    free(d->win_plain);
    free(d->win_tot);
    memset(d, 0, sizeof *d);
}

/* ----------------------------------------------------------------------------
 * Wan2.2 (docs/ARCHITECTURE.md, Wan2.2): the A14B experts, TI2V's image */

/* What one step runs (step_model). */
typedef struct {
    int expert;                  /* 0: d->dit (A14B: high-noise), 1: d->low */
    DiT *dit;
    const float *t;              /* nt times: 1, or one per token */
    int nt;
    const float *ctx, *ctx_neg;  /* that DiT's embedded contexts */
    float cfg;
} StepModel;

int denoiser_set_low_expert(Denoiser *d, DiT *low, double boundary, float cfg_low, const float *context, int L,
                            const float *context_neg, int L_neg, T2vError *err) {
    const DiTConfig *a = &d->dit->c, *b = &low->c;
    if (a->dim != b->dim || a->in_dim != b->in_dim || a->out_dim != b->out_dim || a->text_len != b->text_len ||
        a->text_dim != b->text_dim || a->patch_t != b->patch_t || a->patch_h != b->patch_h || a->patch_w != b->patch_w)
        return t2v_fail(err, T2V_EINPUT, "the two experts differ in dim, channels, patch or text sizes");
    if (!(boundary >= 0 && boundary <= 1)) return t2v_fail(err, T2V_EUSAGE, "boundary %g: expected 0..1", boundary);
    if (d->cache.set.kind != CACHE_NONE) /* its residuals and rules belong to one network */
        return t2v_fail(err, T2V_EUSAGE, "--cache %s with the two A14B experts: not supported (a step cache "
                        "reuses one network's residual)", cache_kind_name(d->cache.set.kind));
    if (cfg_low > 1.0f && !context_neg) return t2v_fail(err, T2V_EUSAGE, "cfg %g > 1 needs a negative context",
                                                        (double)cfg_low);
    if (cfg_low > 1.0f && !d->v_uncond)
        return t2v_fail(err, T2V_EUSAGE, "the low-noise expert's cfg %g > 1 needs guidance set up by denoiser_init "
                        "(a high-noise cfg > 1)", (double)cfg_low);
    size_t emb = (size_t)b->text_len * b->dim * sizeof(float);
    d->low = low, d->boundary = boundary, d->cfg_low = cfg_low;
    d->low_ctx_emb = (float *)t2v_malloc(emb, "embedded context", err);
    d->low_ctx_neg_emb = d->v_uncond ? (float *)t2v_malloc(emb, "embedded negative context", err) : NULL;
    if (!d->low_ctx_emb || (d->v_uncond && !d->low_ctx_neg_emb)) return T2V_ERESOURCE;
    low->riflex_k = d->dit->riflex_k, low->riflex_frames = d->dit->riflex_frames;
    int rc = dit_reserve(low, (d->grid.T / b->patch_t) * (d->grid.h / b->patch_h) * (d->grid.w / b->patch_w), err);
    if (!rc) rc = dit_embed_context(low, context, L, d->low_ctx_emb, err);
    if (!rc && d->v_uncond) rc = dit_embed_context(low, context_neg, L_neg, d->low_ctx_neg_emb, err);
    return rc;
}

int denoiser_set_held(Denoiser *d, const float *z, int frames, T2vError *err) {
    const DiTConfig *c = &d->dit->c;
    const LatentGrid *g = &d->grid;
    int n = (g->T / c->patch_t) * (g->h / c->patch_h) * (g->w / c->patch_w);
    if (c->patch_t != 1) return t2v_fail(err, T2V_EINPUT, "holding latent frames needs a temporal patch of 1, not %d",
                                         c->patch_t);
    if (frames < 1 || frames >= g->T)
        return t2v_fail(err, T2V_EUSAGE, "%d held latent frames of %d: expected 1..%d", frames, g->T, g->T - 1);
    if (!d->tok_t && !(d->tok_t = (float *)t2v_malloc((size_t)n * sizeof(float), "per-token times", err)))
        return T2V_ERESOURCE;
    d->held = z, d->held_frames = frames;
    return T2V_OK;
}

int denoiser_set_image(Denoiser *d, const float *z, T2vError *err) {
    if (window_active(&d->window, d->grid.T))
        return t2v_fail(err, T2V_EUSAGE, "image-to-video runs on the whole clip: no context windows");
    return denoiser_set_held(d, z, 1, err);
}

int denoiser_expert(const Denoiser *d, float t) {
    /* text2video.py: t.item() >= boundary * num_train_timesteps, t the integer timestep */
    return d->low && !((double)(int64_t)t >= d->boundary * 1000.0);
}

void denoiser_hold(const Denoiser *d, float *x) {
    if (d->held) latent_frames_copy(x, d->grid.T, 0, d->held, d->held_frames, 0, d->held_frames, &d->grid);
}

/* What step time t runs: the DiT (A14B: the expert), its contexts and
 * guidance, and its times: one for every token, or with held frames the
 * mask of textimage2video.py taken on the patch grid: 0 for the tokens of
 * the held latent frames (TI2V: frame 0), t for the rest. sm->t points at
 * *t or at d->tok_t. */
static void step_model(Denoiser *d, const float *t, StepModel *sm) {
    const DiTConfig *c = &d->dit->c;
    int per = (d->grid.h / c->patch_h) * (d->grid.w / c->patch_w), n = (d->grid.T / c->patch_t) * per;
    int e = denoiser_expert(d, *t);
    sm->expert = e;
    sm->dit = e ? d->low : d->dit;
    sm->ctx = e ? d->low_ctx_emb : d->ctx_emb;
    sm->ctx_neg = e ? d->low_ctx_neg_emb : d->ctx_neg_emb;
    sm->cfg = e ? d->cfg_low : d->cfg;
    sm->t = t, sm->nt = 1;
    if (!d->held) return;
    for (int k = 0; k < n; k++) d->tok_t[k] = k < per * d->held_frames ? 0.0f : *t;
    sm->t = d->tok_t, sm->nt = n;
}

/* Adds one window's velocity into the sums: weighted into v, plain into
 * win_plain, the weights and counts per frame. */
static void window_accumulate(Denoiser *d, int start, const float *wt, float *v) {
    const LatentGrid *g = &d->grid;
    int F = d->window.frames;
    size_t plane = (size_t)g->h * g->w;
    for (int c = 0; c < g->C; c++)
        for (int f = 0; f < F; f++) {
            const float *src = d->win_v + ((size_t)c * F + f) * plane;
            float *dv = v + ((size_t)c * g->T + start + f) * plane, *dp = d->win_plain + (dv - v);
            for (size_t p = 0; p < plane; p++) dv[p] += wt[f] * src[p], dp[p] += src[p];
        }
    for (int f = 0; f < F; f++) d->win_tot[start + f] += wt[f], d->win_cnt[start + f] += 1.0f;
}

/* v = DiT(x, t, ctx) over the whole clip, or blended over the context
 * windows of step i (window.h): sum_w weight_w v_w / sum_w weight_w per
 * frame, the windows in the schedule's order; a frame of weight 0 takes the
 * plain mean. The DiT and its times are the step's (StepModel). */
static int velocity(Denoiser *d, const StepModel *sm, const float *x, const float *ctx, int i, float *v,
                    T2vError *err) {
    const LatentGrid *g = &d->grid;
    cache_select(&d->cache, i, ctx == d->ctx_neg_emb); /* one cache state per branch (docs/MODEL.md 3.6) */
    if (!window_active(&d->window, g->T))
        return dit_forward_embedded(sm->dit, x, g->T, g->h, g->w, sm->t, sm->nt, ctx, v, err);
    int F = d->window.frames, n = window_starts(&d->window, g->T, i, d->win_starts);
    size_t plane = (size_t)g->h * g->w;
    float wt[1024];
    memset(v, 0, sizeof(float) * (size_t)g->n);
    memset(d->win_plain, 0, sizeof(float) * (size_t)g->n);
    memset(d->win_tot, 0, sizeof(float) * 2 * (size_t)g->T);
    for (int k = 0; k < n; k++) {
        int s = d->win_starts[k];
        latent_frames_copy(d->win_x, F, 0, x, g->T, s, F, g);
        int rc = dit_forward_embedded(sm->dit, d->win_x, F, g->h, g->w, sm->t, 1, ctx, d->win_v, err);
        if (rc) return rc;
        window_weights(&d->window, g->T, s, wt);
        window_accumulate(d, s, wt, v);
    }
    for (int c = 0; c < g->C; c++)
        for (int f = 0; f < g->T; f++) {
            float *dv = v + ((size_t)c * g->T + f) * plane, *dp = d->win_plain + (dv - v);
            for (size_t p = 0; p < plane; p++)
                dv[p] = d->win_tot[f] > 0.0f ? dv[p] / d->win_tot[f] : dp[p] / d->win_cnt[f];
        }
    return T2V_OK;
}

/* v_cond and v_uncond of a guided step: both here, or one here and the
 * other from the partner rank (dist.h). */
static int branches(Denoiser *d, const StepModel *sm, const float *x, int i, T2vError *err) {
    int cond = !d->dist || dist_computes(d->dist, 1), uncond = !d->dist || dist_computes(d->dist, 0);
    int rc = cond ? velocity(d, sm, x, sm->ctx, i, d->v_cond, err) : T2V_OK;
    if (!rc && uncond) rc = velocity(d, sm, x, sm->ctx_neg, i, d->v_uncond, err);
    if (cond && uncond) return rc;
    int64_t n = d->grid.n, got = 0;
    rc = cond ? dist_swap(d->dist, rc, d->v_cond, n, d->v_uncond, n, &got, err)
              : dist_swap(d->dist, rc, d->v_uncond, n, d->v_cond, n, &got, err);
    if (!rc && got != n)
        rc = t2v_fail(err, T2V_ERESOURCE, "rank %d: the partner's velocity has %lld values, not %lld", d->dist->rank,
                      (long long)got, (long long)n);
    return rc;
}

/* With MPI ranks: the split of this run (dist.h) and, when several ranks
 * compute each branch, the DiT's tokens and self-attention heads shared
 * among them (dist_split). */
static int plan_ranks(Denoiser *d, T2vError *err) {
    memset(&d->dit->split, 0, sizeof d->dit->split);
    if (!d->dist) return T2V_OK;
    int rc = dist_plan(d->dist, d->v_uncond != NULL, err);
    if (!rc && d->dist->paired && cache_whole_model(&d->cache.set)) /* MODEL.md 3.6 */
        return t2v_fail(err, T2V_EUSAGE, "--cache easycache with MPI guidance pairs: not supported (its conditional "
                        "pass decides for both branches, which the pairs compute on different ranks); use an odd "
                        "number of ranks");
    if (rc || d->dist->group_size < 2) return rc;
    /* FBCache decides from the residual of every token: one rank's tokens
     * would decide differently (docs/SCALING.md) */
    if (d->cache.set.kind == CACHE_FBCACHE) return T2V_OK;
    return dist_split(d->dist, &d->dit->split, err);
}

int pipeline_sample(Denoiser *d, float *x, float *steps_out, const PipelineWatch *w, T2vError *err) {
    const LatentGrid *g = &d->grid;
    const size_t bytes = (size_t)g->n * sizeof(float);
    const int steps = d->smp.steps;
    int prc = plan_ranks(d, err);
    if (prc) return prc;
    if (d->low) d->low->split = d->dit->split; /* A14B: both experts split alike */
    report(w, PHASE_SAMPLING, 0, steps);
    denoiser_hold(d, x); /* the held frames' noise is drawn and discarded */
    for (int i = 0; i < steps; i++) {
        float t = sampler_timestep(&d->smp, i);
        StepModel sm;
        step_model(d, &t, &sm);
        if (d->experts) d->experts[i] = sm.expert;
        memcpy(d->x_seen, x, bytes);
        /* the conditional pass first, then the unconditional (docs/MODEL.md 0.6) */
        int rc = d->v_uncond && sm.cfg > 1.0f ? branches(d, &sm, x, i, err)
                                              : velocity(d, &sm, x, sm.ctx, i, d->v_cond, err);
        if (rc) return rc;
        if (d->v_uncond && sm.cfg > 1.0f) cfg_combine(d->v, d->v_cond, d->v_uncond, sm.cfg, g->n);
        else memcpy(d->v, d->v_cond, bytes);
        sampler_step(&d->smp, i, x, d->v);
        denoiser_hold(d, x);
        if (steps_out) memcpy(steps_out + (size_t)i * g->n, x, bytes);
        StepView view = {i, steps, d->smp.sigmas[i], t, *g, d->x_seen, d->v_cond,
                         sm.cfg > 1.0f ? d->v_uncond : NULL, d->v, x,
                         d->chain_window, d->chain_windows ? d->chain_windows : 1};
        if (w && w->step && (rc = w->step(w->user, &view, err))) return rc;
        report(w, PHASE_SAMPLING, i + 1, steps);
    }
    return T2V_OK;
}

/* ----------------------------------------------------------------------------
 * The chain schedule (window.h): window after window, each continuing the last */

/* The watch of one chain window: progress over all windows' steps. */
typedef struct {
    const PipelineWatch *outer;
    int window, windows, steps;
} ChainWatch;

static void chain_progress(void *user, PipelinePhase phase, int k, int n) {
    const ChainWatch *cw = (const ChainWatch *)user;
    (void)n;
    if (cw->outer->progress && (k > 0 || cw->window == 0))
        cw->outer->progress(cw->outer->user, phase, cw->window * cw->steps + k, cw->windows * cw->steps);
}

static int chain_step(void *user, const StepView *v, T2vError *err) {
    const ChainWatch *cw = (const ChainWatch *)user;
    return cw->outer->step ? cw->outer->step(cw->outer->user, v, err) : T2V_OK;
}

int pipeline_chain_check(const DiT *dit, const SamplingSettings *ss, int T, int two_experts, int image,
                         T2vError *err) {
    const WindowSettings *ws = &ss->window;
    if (!window_chained(ws, T))
        return t2v_fail(err, T2V_EUSAGE, "the chain schedule needs context windows shorter than the clip's %d latent "
                        "frames", T);
    if (two_experts || image)
        return t2v_fail(err, T2V_EUSAGE, "the chain schedule: a Wan2.1-style text-to-video DiT only (not the A14B "
                        "experts, not image-to-video)");
    if (ws->overlap < 1 || ws->overlap >= ws->frames)
        return t2v_fail(err, T2V_EUSAGE, "the chain schedule holds the overlap: windows of %d latent frames need an "
                        "overlap of 1..%d latent frames, not %d", ws->frames, ws->frames - 1, ws->overlap);
    if (dit->c.patch_t != 1)
        return t2v_fail(err, T2V_EINPUT, "the chain schedule holds latent frames: it needs a temporal patch of 1, "
                        "not %d", dit->c.patch_t);
    if (ss->sampler == SAMPLER_DISTILL)
        return t2v_fail(err, T2V_EUSAGE, "the chain schedule with the distill sampler: not supported (its fresh "
                        "noise is one clip's stream); use static or uniform windows");
    if (ss->cache.kind != CACHE_NONE)
        return t2v_fail(err, T2V_EUSAGE, "--cache %s with the chain schedule: not supported",
                        cache_kind_name(ss->cache.kind));
    return T2V_OK;
}

int pipeline_sample_chain(DiT *dit, const SamplingSettings *ss, const LatentGrid *g, const float *context, int L,
                          const float *context_neg, int L_neg, Dist *dist, float *x, float *steps_out,
                          float *timesteps, const PipelineWatch *w, T2vError *err) {
    int rc = pipeline_chain_check(dit, ss, g->T, 0, 0, err);
    if (rc) return rc;
    const int F = ss->window.frames, steps = ss->steps;
    LatentGrid wg = {g->C, F, g->h, g->w, (int64_t)g->C * F * g->h * g->w};
    SamplingSettings one = *ss;
    one.window.frames = 0; /* each window is one pass */
    int *starts = (int *)t2v_malloc(sizeof(int) * (size_t)window_max_count(&ss->window, g->T), "chain windows", err);
    float *xw = (float *)t2v_malloc(sizeof(float) * (size_t)wg.n, "chain window", err);
    float *held = (float *)t2v_malloc(sizeof(float) * (size_t)wg.n, "chain window", err);
    float *ws = steps_out ? (float *)t2v_malloc(sizeof(float) * (size_t)wg.n * steps, "chain window steps", err) : NULL;
    rc = !starts || !xw || !held || (steps_out && !ws) ? T2V_ERESOURCE : T2V_OK;
    int n = rc ? 0 : window_starts(&ss->window, g->T, 0, starts);
    for (int k = 0; k < n && !rc; k++) {
        int s = starts[k], K = k ? starts[k - 1] + F - s : 0; /* frames the windows before sampled */
        latent_frames_copy(xw, F, 0, x, g->T, s, F, &wg);            /* noise after them */
        if (K) latent_frames_copy(held, K, 0, xw, F, 0, K, &wg);
        Denoiser d;
        ChainWatch cw = {w, k, n, steps};
        PipelineWatch pw = {&cw, chain_progress, chain_step};
        rc = denoiser_init(&d, dit, &one, &wg, context, L, context_neg, L_neg, err);
        if (rc) break;
        dit->riflex_frames = g->T; /* RIFLEx over the clip, as blended windows count it */
        if (K) rc = denoiser_set_held(&d, held, K, err);
        d.dist = dist, d.chain_window = k, d.chain_windows = n;
        if (!rc) rc = pipeline_sample(&d, xw, ws, w ? &pw : NULL, err);
        for (int i = 0; !rc && k == 0 && timesteps && i < steps; i++) timesteps[i] = sampler_timestep(&d.smp, i);
        denoiser_free(&d);
        if (rc) break;
        latent_frames_copy(x, g->T, s, xw, F, 0, F, &wg);
        for (int i = 0; ws && i < steps; i++)
            latent_frames_copy(steps_out + (size_t)i * g->n, g->T, s, ws + (size_t)i * wg.n, F, 0, F, &wg);
    }
    free(starts), free(xw), free(held), free(ws);
    return rc;
}

/* The step cache's decisions as int32 [steps, 2], and its metric. */
static int copy_decisions(const StepCache *c, int32_t **out, double **metric, T2vError *err) {
    *out = (int32_t *)t2v_malloc((size_t)c->steps * 2 * sizeof(int32_t), "cache decisions", err);
    *metric = (double *)t2v_malloc((size_t)c->steps * 2 * sizeof(double), "cache decisions", err);
    if (!*out || !*metric) return T2V_ERESOURCE;
    for (int k = 0; k < 2 * c->steps; k++) (*out)[k] = c->computed[k], (*metric)[k] = c->metric[k];
    return T2V_OK;
}

/* Noise, the DiT and the loop. */
static int sample(const Model *m, const GenSettings *s, const PipelineWatch *w, GenResult *r, T2vError *err) {
    const LatentGrid *g = &r->grid;
    const SamplingSettings *ss = &s->sampling;
    r->noise = (float *)t2v_malloc((size_t)g->n * sizeof(float), "noise", err);
    r->latent = (float *)t2v_malloc((size_t)g->n * sizeof(float), "latent", err);
    r->timesteps = (float *)t2v_malloc((size_t)ss->steps * sizeof(float), "timesteps", err);
    if (s->keep_steps) r->steps = (float *)t2v_malloc((size_t)g->n * ss->steps * sizeof(float), "step latents", err);
    if (!r->noise || !r->latent || !r->timesteps || (s->keep_steps && !r->steps)) return T2V_ERESOURCE;
    randn_torch(s->seed, r->noise, g->n);
    memcpy(r->latent, r->noise, (size_t)g->n * sizeof(float));
    Checkpoint ck, ck_low;
    DiT dit, low;
    Denoiser d;
    int moe = m->family == MODEL_WAN22_A14B, rc = model_load_dit(m, &ck, &dit, err);
    if (rc) return rc;
    if (moe && (rc = model_load_dit_low(m, &ck_low, &low, err))) { dit_free(&dit); ckpt_close(&ck); return rc; }
    if (r->text_dim != dit.c.text_dim)
        rc = t2v_fail(err, T2V_EINPUT, "%s: the text encoder gives %d-dim contexts, the DiT expects text_dim %d",
                      m->paths.dit, r->text_dim, dit.c.text_dim);
    int chain = window_chained(&ss->window, g->T);
    if (!rc && ss->causal.block && (moe || r->image_latent))
        rc = t2v_fail(err, T2V_EUSAGE, "causal generation: a Wan2.1-style text-to-video DiT only (not the A14B "
                      "experts, not image-to-video)");
    if (!rc && chain) rc = pipeline_chain_check(&dit, ss, g->T, moe, r->image_latent != NULL, err);
    if (!rc && (ss->causal.block || chain)) { /* window by window, or chunk by chunk (causal.c) */
        Sampler smp;
        if (chain)
            rc = pipeline_sample_chain(&dit, ss, g, r->context, r->L, r->context_neg, r->L_neg, s->dist, r->latent,
                                       r->steps, r->timesteps, w, err);
        else if (!(rc = sampler_init_listed(&smp, SAMPLER_DISTILL, ss->timesteps, ss->steps, ss->shift, 1, err))) {
            for (int i = 0; i < ss->steps; i++) r->timesteps[i] = sampler_timestep(&smp, i);
            sampler_free(&smp);
            rc = pipeline_sample_causal(&dit, ss, g, r->context, r->L, r->latent, s->seed, NULL, w, err);
        }
        if (moe) dit_free(&low), ckpt_close(&ck_low);
        dit_free(&dit);
        ckpt_close(&ck);
        return rc;
    }
    if (!rc) rc = denoiser_init(&d, &dit, ss, g, r->context, r->L, r->context_neg, r->L_neg, err);
    if (!rc) {
        if (moe) rc = denoiser_set_low_expert(&d, &low, ss->boundary, (float)ss->cfg_low, r->context, r->L,
                                              r->context_neg, r->L_neg, err);
        if (!rc && r->image_latent) rc = denoiser_set_image(&d, r->image_latent, err);
        if (!rc && moe && !(r->experts = (int *)t2v_malloc(sizeof(int) * (size_t)ss->steps, "experts", err)))
            rc = T2V_ERESOURCE;
        d.experts = r->experts;
        d.dist = s->dist;
        for (int i = 0; i < ss->steps; i++) r->timesteps[i] = sampler_timestep(&d.smp, i);
        sampler_renoise_from_seed(&d.smp, s->seed); /* distill: the noise's stream, continued */
        if (!rc) rc = pipeline_sample(&d, r->latent, r->steps, w, err);
        if (!rc && d.cache.computed) rc = copy_decisions(&d.cache, &r->computed, &r->cache_metric, err);
        denoiser_free(&d);
    }
    if (moe) dit_free(&low), ckpt_close(&ck_low);
    dit_free(&dit);
    ckpt_close(&ck);
    return rc;
}

/* ----------------------------------------------------------------------------
 * Stage 3: VAE decode to [3, F, H, W] in [-1, 1] */

static void decode_progress(void *user, int chunk, int nchunks) {
    report((const PipelineWatch *)user, PHASE_DECODE, chunk, nchunks);
}

int pipeline_decode(Vae *vae, const LatentGrid *g, const float *latent, float *video, const PipelineWatch *w,
                    T2vError *err) {
    report(w, PHASE_DECODE, 0, g->T);
    return vae_decode(vae, latent, g->T, g->h, g->w, video, decode_progress, (void *)w, err);
}

int pipeline_decode_to(Vae *vae, const LatentGrid *g, const float *latent, const VaeFrameSink *fs,
                       const PipelineWatch *w, T2vError *err) {
    report(w, PHASE_DECODE, 0, g->T);
    return vae_decode_to(vae, latent, g->T, g->h, g->w, fs, decode_progress, (void *)w, err);
}

/* TI2V image-to-video: the image [3, H, W] through the VAE encoder, as a
 * 1-frame video, to the latent frame the loop holds. */
static int encode_image(const Model *m, const GenSettings *s, GenResult *r, T2vError *err) {
    Checkpoint ck;
    Vae vae;
    const LatentGrid *g = &r->grid;
    if (m->family != MODEL_WAN22_TI2V)
        return t2v_fail(err, T2V_EUSAGE, "%s: image-to-video needs a Wan2.2 TI2V model (this is %s)", m->paths.dir,
                        model_family_name(m->family));
    int rc = model_load_vae(m, &ck, &vae, err);
    if (rc) return rc;
    vae.precision = s->sampling.precision;
    r->image_latent = (float *)t2v_malloc(sizeof(float) * (size_t)g->C * g->h * g->w, "image latent", err);
    rc = r->image_latent ? vae_encode(&vae, s->image, 1, s->height, s->width, r->image_latent, err) : T2V_ERESOURCE;
    vae_free(&vae);
    ckpt_close(&ck);
    return rc;
}

static int decode(const Model *m, const GenSettings *s, const PipelineWatch *w, GenResult *r, T2vError *err) {
    Checkpoint ck;
    Vae vae;
    int rc = model_load_vae(m, &ck, &vae, err);
    if (rc) return rc;
    vae.precision = s->sampling.precision;
    if (s->sink) { /* streamed: the video is never held whole */
        rc = pipeline_decode_to(&vae, &r->grid, r->latent, s->sink, w, err);
    } else {
        r->video = (float *)t2v_malloc((size_t)3 * s->frames * s->height * s->width * sizeof(float), "video", err);
        rc = r->video ? pipeline_decode(&vae, &r->grid, r->latent, r->video, w, err) : T2V_ERESOURCE;
    }
    vae_free(&vae);
    ckpt_close(&ck);
    return rc;
}

int pipeline_generate(const Model *m, const GenSettings *s, const PipelineWatch *w, GenResult *r, T2vError *err) {
    memset(r, 0, sizeof *r);
    const SamplingSettings *ss = &s->sampling;
    if (ss->steps < 1 || !(ss->shift > 0) || !s->prompt || (ss->cfg > 1 && !s->negative))
        return t2v_fail(err, T2V_EUSAGE, "generate: bad settings: %d steps, shift %g (steps >= 1; shift > 0; a "
                        "prompt, and a negative prompt when cfg > 1)", ss->steps, ss->shift);
    int rc = latent_grid(&r->grid, m, s->frames, s->height, s->width, err);
    if (!rc) rc = encode_prompts(m, s, w, r, err);
    if (!rc && s->image) rc = encode_image(m, s, r, err);
    if (!rc) rc = sample(m, s, w, r, err);
    if (!rc && (!s->dist || s->dist->rank == 0)) rc = decode(m, s, w, r, err);
    return rc;
}

void gen_result_free(GenResult *r) {
    free(r->ids);
    free(r->ids_neg);
    free(r->context);
    free(r->context_neg);
    free(r->noise);
    free(r->latent);
    free(r->steps);
    free(r->timesteps);
    free(r->computed);
    free(r->cache_metric);
    free(r->video);
    free(r->image_latent);
    free(r->experts);
    memset(r, 0, sizeof *r);
}
