/* causal.c: see causal.h. The key/value cache and its rolling rule, the
 * causal DiT pass, then the chunk-by-chunk sampling loop
 * (pipeline_sample_causal, declared in pipeline.h beside pipeline_sample). */
#include "causal.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "sampler.h"

int causal_check(const CausalSettings *cs, int T, T2vError *err) {
    if (cs->block < 1) return t2v_fail(err, T2V_EUSAGE, "causal: a block of %d latent frames (need >= 1)", cs->block);
    if (T % cs->block)
        return t2v_fail(err, T2V_EUSAGE, "causal: %d latent frames are not a whole number of blocks of %d (frames "
                        "must be 4 x block x n - 3, e.g. %d or %d)", T, cs->block,
                        4 * cs->block * (T / cs->block > 0 ? T / cs->block : 1) - 3,
                        4 * cs->block * (T / cs->block + 1) - 3);
    if (T > 1024) /* RoPE's table: rope_params(1024, ...) in the official code (dit.c) */
        return t2v_fail(err, T2V_EUSAGE, "causal: %d latent frames: the time axis's RoPE positions stop at 1024, "
                        "and a causal block sits at its global position", T);
    if (cs->window < 0 || cs->sink < 0)
        return t2v_fail(err, T2V_EUSAGE, "causal: window %d and sink %d frames must be >= 0", cs->window, cs->sink);
    if (cs->window == 0 && cs->sink > 0)
        return t2v_fail(err, T2V_EUSAGE, "causal: %d sink frames without a rolling window (set the window)",
                        cs->sink);
    if (cs->window > 0 && cs->window < cs->block + cs->sink)
        return t2v_fail(err, T2V_EUSAGE, "causal: a window of %d latent frames cannot hold the %d sink frames and a "
                        "block of %d", cs->window, cs->sink, cs->block);
    return T2V_OK;
}

int causal_window_frames(const CausalSettings *cs, int T) {
    return cs->window > 0 && cs->window < T ? cs->window : T;
}

/* ===========================================================================
 * The cache */

int causal_cache_init(CausalCache *c, const DiTConfig *dc, int frame_tokens, int window_frames, int sink_frames,
                      int bf16, T2vError *err) {
    memset(c, 0, sizeof *c);
    if (frame_tokens < 1 || window_frames < 1 || sink_frames < 0 || sink_frames >= window_frames ||
        (int64_t)frame_tokens * window_frames > (1 << 28))
        return t2v_fail(err, T2V_EINPUT, "causal cache: %d frames of %d tokens with %d sink frames", window_frames,
                        frame_tokens, sink_frames);
    c->layers = dc->num_layers, c->dim = dc->dim, c->frame_tokens = frame_tokens;
    c->cap = frame_tokens * window_frames, c->sink = frame_tokens * sink_frames;
    size_t n = (size_t)(c->layers > 0 ? c->layers : 1) * c->cap * c->dim, one = (size_t)c->cap * c->dim;
    if (bf16) {
        c->kb = (uint16_t *)t2v_malloc(sizeof(uint16_t) * n, "causal key cache", err);
        c->vb = c->kb ? (uint16_t *)t2v_malloc(sizeof(uint16_t) * n, "causal value cache", err) : NULL;
        c->ks = c->vb ? (float *)t2v_malloc(sizeof(float) * one, "causal key scratch", err) : NULL;
        c->vs = c->ks ? (float *)t2v_malloc(sizeof(float) * one, "causal value scratch", err) : NULL;
        if (!c->vs) { causal_cache_free(c); return T2V_ERESOURCE; }
        return T2V_OK;
    }
    c->k = (float *)t2v_malloc(sizeof(float) * n, "causal key cache", err);
    c->v = c->k ? (float *)t2v_malloc(sizeof(float) * n, "causal value cache", err) : NULL;
    if (!c->v) { causal_cache_free(c); return T2V_ERESOURCE; }
    return T2V_OK;
}

void causal_cache_free(CausalCache *c) {
    free(c->k);
    free(c->v);
    free(c->kb);
    free(c->vb);
    free(c->ks);
    free(c->vs);
    memset(c, 0, sizeof *c);
}

void causal_cache_reset(CausalCache *c) {
    c->global_end = 0, c->local_end = 0, c->n_new = 0, c->evict = 0, c->write_end = 0, c->pass_end = 0;
}

/* Plans a pass of n tokens from token `start` of the clip (the published
 * rule, in tokens): a pass past the cached end that does not fit evicts
 * local_end + n - cap tokens after the sink; the pass's tokens are written
 * to end at local_end + (end - global_end) - evicted, which for a repeat of
 * the last block is its own slots. */
static int cache_begin(CausalCache *c, int64_t start, int n, T2vError *err) {
    int64_t end = start + n;
    if (n > c->cap)
        return t2v_fail(err, T2V_EINPUT, "causal: a pass of %d tokens does not fit the cache of %d", n, c->cap);
    if (start != c->global_end && end != c->global_end)
        return t2v_fail(err, T2V_EINPUT, "causal: a pass of tokens [%lld, %lld) neither starts at the cached end "
                        "%lld nor repeats the last block", (long long)start, (long long)end,
                        (long long)c->global_end);
    int evict = end > c->global_end && c->local_end + n > c->cap ? c->local_end + n - c->cap : 0;
    if (evict && n > c->cap - c->sink)
        return t2v_fail(err, T2V_EINPUT, "causal: a pass of %d tokens does not fit beside the %d sink tokens of the "
                        "cache of %d", n, c->sink, c->cap);
    c->n_new = n, c->evict = evict, c->pass_end = end;
    c->write_end = c->local_end + (int)(end - c->global_end) - evict;
    return T2V_OK;
}

static void cache_end(CausalCache *c) {
    c->global_end = c->pass_end, c->local_end = c->write_end, c->evict = 0;
}

/* causal_cache_layer on a bf16 cache: the same moves on 16-bit entries; the
 * new keys/values rounded to bf16 (nearest even), the layer's held ones
 * widened into the scratch for the attention. */
static int cache_layer_bf16(CausalCache *c, int layer, const float *k, const float *v, const float **K,
                            const float **V) {
    size_t D = (size_t)c->dim, at = (size_t)(c->write_end - c->n_new) * D, n = (size_t)c->n_new * D;
    uint16_t *ck = c->kb + (size_t)layer * c->cap * D, *cv = c->vb + (size_t)layer * c->cap * D;
    if (c->evict) {
        size_t rolled = (size_t)(c->local_end - c->evict - c->sink) * D;
        memmove(ck + c->sink * D, ck + (size_t)(c->sink + c->evict) * D, sizeof(uint16_t) * rolled);
        memmove(cv + c->sink * D, cv + (size_t)(c->sink + c->evict) * D, sizeof(uint16_t) * rolled);
    }
    int64_t held = (int64_t)c->write_end * (int64_t)D;
    for (size_t i = 0; i < n; i++) ck[at + i] = f32_to_bf16(k[i]), cv[at + i] = f32_to_bf16(v[i]);
#pragma omp parallel for schedule(static) if (held > 65536)
    for (int64_t i = 0; i < held; i++) c->ks[i] = bf16_to_f32(ck[i]), c->vs[i] = bf16_to_f32(cv[i]);
    *K = c->ks, *V = c->vs;
    return c->write_end;
}

int causal_cache_layer(CausalCache *c, int layer, const float *k, const float *v, const float **K, const float **V) {
    if (c->kb) return cache_layer_bf16(c, layer, k, v, K, V);
    size_t D = (size_t)c->dim;
    float *ck = c->k + (size_t)layer * c->cap * D, *cv = c->v + (size_t)layer * c->cap * D;
    if (c->evict) { /* roll: drop `evict` tokens after the sink, move the rest down */
        size_t rolled = (size_t)(c->local_end - c->evict - c->sink) * D;
        memmove(ck + c->sink * D, ck + (size_t)(c->sink + c->evict) * D, sizeof(float) * rolled);
        memmove(cv + c->sink * D, cv + (size_t)(c->sink + c->evict) * D, sizeof(float) * rolled);
    }
    size_t at = (size_t)(c->write_end - c->n_new) * D;
    memcpy(ck + at, k, sizeof(float) * (size_t)c->n_new * D);
    memcpy(cv + at, v, sizeof(float) * (size_t)c->n_new * D);
    *K = ck, *V = cv;
    return c->write_end; /* attention over the whole cache: [0, write_end) */
}

/* ===========================================================================
 * The causal pass */

int causal_forward(DiT *m, CausalCache *c, const float *latent, int F, int H, int W, int frame0, float t,
                   const float *context_emb, float *velocity, T2vError *err) {
    const DiTConfig *dc = &m->c;
    if (dc->patch_t != 1) return t2v_fail(err, T2V_EINPUT, "causal: needs a DiT time patch of 1 (found %d)", dc->patch_t);
    if (H < 1 || W < 1 || H % dc->patch_h || W % dc->patch_w || (H / dc->patch_h) * (W / dc->patch_w) != c->frame_tokens)
        return t2v_fail(err, T2V_EINPUT, "causal: a %dx%d latent frame does not give the cache's %d tokens", W, H,
                        c->frame_tokens);
    if (m->cache || m->split.parts > 1)
        return t2v_fail(err, T2V_EUSAGE, "causal: no step cache and no MPI split of the DiT with the key/value cache");
    if (F < 1 || frame0 < 0) return t2v_fail(err, T2V_EINPUT, "causal: %d frames from frame %d", F, frame0);
    int rc = cache_begin(c, (int64_t)frame0 * c->frame_tokens, F * c->frame_tokens, err);
    if (rc) return rc;
    m->kv = c, m->frame0 = frame0;
    rc = dit_forward_embedded(m, latent, F, H, W, &t, 1, context_emb, velocity, err);
    m->kv = NULL, m->frame0 = 0;
    if (!rc) cache_end(c);
    return rc;
}

/* ===========================================================================
 * The loop (pipeline.h) */

static void report(const PipelineWatch *w, int k, int n) {
    if (w && w->progress) w->progress(w->user, PHASE_SAMPLING, k, n);
}

int pipeline_causal_check(const SamplingSettings *ss, int T, T2vError *err) {
    int rc = causal_check(&ss->causal, T, err);
    if (rc) return rc;
    if (ss->sampler != SAMPLER_DISTILL)
        return t2v_fail(err, T2V_EUSAGE, "causal: needs the distill sampler (a few-step x0 student), not %s",
                        sampler_kind_name(ss->sampler));
    if (ss->cfg > 1) return t2v_fail(err, T2V_EUSAGE, "causal: cfg %g: the causal students run without guidance "
                                     "(cfg 1)", ss->cfg);
    if (ss->cache.kind != CACHE_NONE) return t2v_fail(err, T2V_EUSAGE, "causal: no step cache (--cache)");
    if (window_active(&ss->window, T) || ss->riflex_k)
        return t2v_fail(err, T2V_EUSAGE, "causal: no context windows and no RIFLEx (the cache window rolls instead)");
    return T2V_OK;
}

/* The loop's state: the DiT with its cache, the block's sampler and buffers,
 * and the source of the fresh noise. */
typedef struct {
    DiT *dit;
    const CausalSettings *cs;
    const LatentGrid *g;
    CausalCache cache;
    Sampler smp;            /* the distill steps on one block (nblk elements)       */
    size_t nblk;            /* C x block x h x w                                    */
    float *ctx;             /* (text_len, dim) the embedded context                 */
    float *xb, *v, *fresh;  /* (nblk) the block, its velocity; ((steps-1) nblk) noise */
    const float **eps;      /* (steps) the fresh noise of each step                 */
    TorchGen *gen;          /* the seed's stream, or NULL with explicit renoise     */
    const float *renoise;
} CausalRun;

static void run_free(CausalRun *r) {
    free(r->gen);
    free(r->eps);
    free(r->xb);
    free(r->ctx);
    causal_cache_free(&r->cache);
    sampler_free(&r->smp);
}

static int run_init(CausalRun *r, DiT *dit, const SamplingSettings *ss, const LatentGrid *g, const float *context,
                    int L, uint64_t seed, const float *renoise, T2vError *err) {
    const CausalSettings *cs = &ss->causal;
    int K = ss->steps, fpt = (g->h / dit->c.patch_h) * (g->w / dit->c.patch_w);
    memset(r, 0, sizeof *r);
    r->dit = dit, r->cs = cs, r->g = g, r->renoise = renoise;
    r->nblk = (size_t)g->C * cs->block * g->h * g->w;
    int rc = sampler_init_listed(&r->smp, SAMPLER_DISTILL, ss->timesteps, K, ss->shift, (int64_t)r->nblk, err);
    if (!rc) rc = causal_cache_init(&r->cache, &dit->c, fpt, causal_window_frames(cs, g->T), cs->window ? cs->sink : 0,
                                    ss->precision == PREC_BF16, err); /* bf16: the attention's own rounding */
    if (rc) return rc;
    r->ctx = (float *)t2v_malloc(sizeof(float) * (size_t)dit->c.text_len * dit->c.dim, "embedded context", err);
    r->xb = (float *)t2v_malloc(sizeof(float) * r->nblk * (K + 1), "causal block", err);
    r->eps = (const float **)t2v_calloc((size_t)K, sizeof(float *), "causal noise", err);
    r->gen = renoise ? NULL : (TorchGen *)t2v_malloc(sizeof(TorchGen), "noise stream", err);
    if (!r->ctx || !r->xb || !r->eps || (!renoise && !r->gen)) return T2V_ERESOURCE;
    r->v = r->xb + r->nblk, r->fresh = r->v + r->nblk;
    if ((rc = dit_embed_context(dit, context, L, r->ctx, err)) || !r->gen) return rc;
    /* the seed's stream after the initial noise: randn(n) was the noise, then randn(nblk) per step */
    float *skip = (float *)t2v_malloc(sizeof(float) * (size_t)g->n, "noise stream", err);
    if (!skip) return T2V_ERESOURCE;
    torch_gen_seed(r->gen, seed);
    torch_gen_randn(r->gen, skip, g->n);
    free(skip);
    return T2V_OK;
}

/* Block b: its fresh noise, the listed distill steps on its frames of x,
 * then (unless last) the clean pass that leaves its keys/values in the cache. */
static int run_block(CausalRun *r, float *x, int b, const PipelineWatch *w, T2vError *err) {
    const CausalSettings *cs = r->cs;
    const LatentGrid *g = r->g;
    int K = r->smp.steps, nb = g->T / cs->block, f0 = b * cs->block, rc = T2V_OK;
    for (int k = 0; k + 1 < K; k++) {
        if (r->gen) torch_gen_randn(r->gen, r->fresh + (size_t)k * r->nblk, (int64_t)r->nblk);
        r->eps[k] = r->gen ? r->fresh + (size_t)k * r->nblk : r->renoise + ((size_t)b * (K - 1) + k) * r->nblk;
    }
    sampler_renoise_given(&r->smp, r->eps);
    latent_frames_copy(r->xb, cs->block, 0, x, g->T, f0, cs->block, g); /* the block's frames of x */
    for (int k = 0; !rc && k < K; k++) {
        rc = causal_forward(r->dit, &r->cache, r->xb, cs->block, g->h, g->w, f0, sampler_timestep(&r->smp, k),
                            r->ctx, r->v, err);
        if (rc) break;
        sampler_step(&r->smp, k, r->xb, r->v); /* x0, then renoised to the next level; the last step: x0 */
        report(w, b * K + k + 1, nb * K);
    }
    if (!rc && b < nb - 1) /* the clean pass; after the last block no one reads the cache */
        rc = causal_forward(r->dit, &r->cache, r->xb, cs->block, g->h, g->w, f0, cs->context_t, r->ctx, r->v, err);
    latent_frames_copy(x, g->T, f0, r->xb, cs->block, 0, cs->block, g);
    return rc;
}

int pipeline_sample_causal(DiT *dit, const SamplingSettings *ss, const LatentGrid *g, const float *context, int L,
                           float *x, uint64_t seed, const float *renoise, const PipelineWatch *w, T2vError *err) {
    int rc = pipeline_causal_check(ss, g->T, err);
    if (rc) return rc;
    if (dit->c.patch_t != 1) return t2v_fail(err, T2V_EUSAGE, "causal: needs a DiT time patch of 1");
    dit->precision = ss->precision;
    CausalRun r;
    rc = run_init(&r, dit, ss, g, context, L, seed, renoise, err);
    int nb = g->T / ss->causal.block;
    report(w, 0, nb * ss->steps);
    for (int b = 0; !rc && b < nb; b++) rc = run_block(&r, x, b, w, err);
    run_free(&r);
    return rc;
}
