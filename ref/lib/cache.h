/*
 * cache.h: step caching, which skips the DiT's blocks on a pass whose input
 * barely changed since the last computed pass and reuses that pass's
 * residual instead (docs/MODEL.md section 3.6):
 *
 *   teacache      TeaCache for Wan2.1 (TeaCache4Wan2.1, Liu et al. 2024):
 *                 acc += poly(mean|e - e_prev| / mean|e_prev|) over the time
 *                 embedding e; acc < thresh: x += residual of all blocks;
 *                 else run them, acc = 0. The first step and the last are
 *                 always computed.
 *   teacache-ret  its "retention steps" variant: e0 (the time projection)
 *                 in place of e, the first 5 steps computed, no cutoff.
 *   fbcache       First-Block-Cache (ParaAttention, diffusers, ComfyUI-
 *                 WaveSpeed): run block 0; r1 = its residual; if
 *                 mean|r1 - r1_prev| / mean|r1_prev| < thresh, x += the
 *                 residual of blocks 1.. of the last computed pass, else run
 *                 them (r1_prev = r1).
 *   magcache      MagCache (Ma et al. 2025, MagCache4Wan2.1): from precalibrated
 *                 per-step magnitude ratios g_i of the blocks' residual,
 *                 R *= g_i, err += |1 - R|, n += 1; err < thresh and n <= K:
 *                 x += the last computed residual; else run the blocks and
 *                 reset (R = 1, err = 0, n = 0). The first floor(RET steps)
 *                 steps are computed.
 *   magcache-calibrate  runs every pass and measures g_i = mean over tokens
 *                 of |r_i| / |r_{i-1}| (L2 over the channels) per branch.
 *   easycache     EasyCache (Zhou et al. 2025, EasyCache4Wan2.1): around the
 *                 whole DiT (latent in, velocity out). After W warm-up steps,
 *                 on the conditional pass: err += k mean|x - x_prev| /
 *                 mean|v_last|, with k = mean|v - v'| / mean|x - x'| over
 *                 the last two computed passes; err < thresh: v = x + (v -
 *                 x) of the last computed pass (the unconditional pass of
 *                 the step follows the conditional one's decision); else
 *                 run the DiT, err = 0. The last step is computed.
 *
 * Each guidance branch (conditional, unconditional) has its own state, as in
 * TeaCache's even/odd passes. The means are taken in double in a fixed
 * serial order over fp32 values that do not depend on the thread count, so
 * the decisions and the reused residual are the same for any thread count.
 * The DiT consults the cache through its `cache` pointer (dit.h); the loop
 * (pipeline_sample) says which step and branch each pass is.
 */
#ifndef T2V_CACHE_H
#define T2V_CACHE_H

#include <stdint.h>

#include "tensor.h"

typedef enum {
    CACHE_NONE, CACHE_TEACACHE, CACHE_TEACACHE_RET, CACHE_FBCACHE, CACHE_MAGCACHE, CACHE_MAGCACHE_CAL,
    CACHE_EASYCACHE
} CacheKind;

#define CACHE_MAX_STEPS 1000 /* magnitude-ratio tables: at most this many steps */

typedef struct {
    CacheKind kind;
    double thresh;       /* > 0 (not magcache-calibrate)                          */
    int max_skips;       /* magcache: K, the most consecutive reused passes         */
    double retention;    /* magcache: RET, the fraction of first steps computed     */
    int warmup;          /* easycache: W, the first steps computed                  */
    /* magcache: the magnitude ratios (n_ratios = 2 x steps, conditional and
     * unconditional interleaved, step 0 first) from @FILE, or n_ratios 0: the
     * published ones for the DiT's width (cache_init). */
    int n_ratios;
    double ratios[2 * CACHE_MAX_STEPS];
    const char *path;    /* magcache-calibrate: the file to write (the spec's text) */
} CacheSettings;

/* "none", "teacache", "teacache-ret", "fbcache", "magcache",
 * "magcache-calibrate", "easycache" */
const char *cache_kind_name(CacheKind k);
/* "teacache:T", "teacache-ret:T", "fbcache:T", "magcache:T[,K[,RET]][@FILE]",
 * "magcache-calibrate:FILE", "easycache:T[,W]" or "none" -> settings (reads
 * magcache's FILE; `path` points into spec); T2V_EUSAGE naming what is wrong. */
int cache_parse(const char *spec, CacheSettings *out, T2vError *err);
/* Magnitude ratios from text (cache_parse's FILE): 2 x S numbers > 0,
 * conditional and unconditional interleaved, separated by white space,
 * commas or brackets; '#' starts a comment line. */
int cache_ratios_parse(const char *text, const char *what, CacheSettings *s, T2vError *err);
/* Writes magcache-calibrate's measurements (metric, [steps, 2]) as such a
 * file; step 0 and a branch that never ran (cfg <= 1: the unconditional)
 * get 1 and the conditional value. */
int cache_ratios_write(const char *path, const double *metric, int steps, T2vError *err);
/* The published MagCache ratios for a DiT of width dim: "Wan2.1 T2V-1.3B"
 * (1536), "Wan2.1 T2V-14B" (5120), else NULL. */
const char *cache_published_ratios_name(int dim);
/* Whether the settings can run on a DiT of width dim (magcache: ratios from
 * FILE or published for the width), before any work; T2V_EUSAGE if not. */
int cache_check(const CacheSettings *s, int dim, T2vError *err);
/* Which TeaCache polynomial a model of width `dim` gets: "Wan2.1 T2V-1.3B",
 * "Wan2.1 T2V-14B", or "none (identity)" for other widths. */
const char *cache_coefficients_name(const CacheSettings *s, int dim);
/* Whether the decisions depend only on the schedule (TeaCache: e and e0
 * are functions of t alone), so that they can be known before the run. */
int cache_schedule_only(const CacheSettings *s);
/* Whether the decisions depend on nothing but the step (MagCache: its
 * ratios), so that they are known without the weights. */
int cache_step_only(const CacheSettings *s);
/* Where the cache acts: 0 around the blocks (teacache, fbcache, magcache),
 * 1 around the whole DiT (easycache; a reused pass runs nothing). */
int cache_whole_model(const CacheSettings *s);

/* The state of one guidance branch. */
typedef struct {
    int have;           /* prev holds a value                            */
    int have_residual;  /* residual holds a value                        */
    double acc;         /* TeaCache: accumulated rescaled distance;
                         * MagCache: accumulated error; EasyCache: accumulated
                         * predicted change (conditional branch)           */
    double mag_ratio;   /* MagCache: product of the ratios since the last computed pass */
    int skips;          /* MagCache: passes since the last computed one   */
    int have_k, have_out, have_in_computed;
    double k;           /* EasyCache: the transformation rate              */
    float *in_prev;     /* EasyCache (cond.): the latent of the last pass   */
    float *in_computed; /* EasyCache (cond.): the latent of the last computed pass */
    float *out;         /* EasyCache (cond.): the velocity of the last computed pass */
    float *prev;        /* TeaCache: e or e0 of the last pass; fbcache:
                         * block 0's residual of the last computed pass */
    float *residual;    /* what the skipped blocks added last time       */
} CacheBranch;

typedef struct StepCache_ {
    CacheSettings set;
    int steps, dim, tokens;  /* residuals hold tokens x dim floats         */
    int64_t latent_n;        /* EasyCache: floats of a latent (= of a velocity)  */
    double *ratio;           /* MagCache: (steps, 2) ratios for this run    */
    int easy_calc;           /* EasyCache: the conditional pass's decision (1 run) */
    int mod_len;             /* TeaCache: floats of e (dim) or e0 (6 dim)   */
    const double *coef;      /* TeaCache polynomial, highest degree first   */
    int ncoef;
    int ret_steps, cutoff;   /* TeaCache, MagCache, EasyCache: steps < ret_steps or >= cutoff computed */
    int step, branch;        /* the pass the DiT runs next                  */
    float *x_in;             /* (tokens, dim) scratch: x before the skippable blocks */
    CacheBranch b[2];
    int8_t *computed;        /* (steps, 2): 1 computed, 0 reused, -1 not run */
    double *metric;          /* (steps, 2): TeaCache/MagCache/EasyCache acc, fbcache distance before
                              * deciding; magcache-calibrate: the measured ratio (NaN: none) */
} StepCache;

/* The bytes cache_init allocates for tokens x dim (the memory check):
 * x_in and per branch the residual, plus fbcache's r1 per branch;
 * easycache: 5 latents of latent_n floats. */
double cache_bytes(const CacheSettings *s, int tokens, int dim, int64_t latent_n);
/* For `steps` steps of a DiT of width dim on `tokens` tokens (latents of
 * latent_n floats). A kind of CACHE_NONE allocates nothing (and the DiT is
 * not given the cache). magcache without ratios for the width: T2V_EUSAGE. */
int cache_init(StepCache *c, const CacheSettings *s, int steps, int dim, int tokens, int64_t latent_n,
               T2vError *err);
void cache_free(StepCache *c);
/* The loop, before each DiT pass: step i, branch 0 (conditional) or 1. */
void cache_select(StepCache *c, int step, int branch);
/* Passes computed and reused so far. */
void cache_counts(const StepCache *c, int *computed, int *reused);

/* The DiT's hooks (dit.c), on x (tokens, dim) after the patch embedding:
 * cache_before_blocks, with e (n_e rows of dim) and e0 (n_e rows of 6 dim),
 * returns 1 when the blocks are skipped (x updated). Else, after block 0,
 * cache_after_first_block returns 1 when blocks 1.. are skipped (x
 * updated). Else after the last block, cache_after_blocks stores the
 * residual. N other than the cache's tokens: every pass is computed. */
int cache_before_blocks(StepCache *c, float *x, const float *e, const float *e0, int n_e, int N);
/* EasyCache's hooks around the whole DiT (dit_forward_embedded), on the
 * latent x and the velocity v of n floats: cache_before_model returns 1
 * when the pass is skipped (v = x + the branch's cached transformation);
 * else, after the DiT, cache_after_model updates the state. */
int cache_before_model(StepCache *c, const float *x, int64_t n, float *v);
void cache_after_model(StepCache *c, const float *x, const float *v, int64_t n);
int cache_after_first_block(StepCache *c, float *x, int N);
void cache_after_blocks(StepCache *c, const float *x, int N);

#endif
