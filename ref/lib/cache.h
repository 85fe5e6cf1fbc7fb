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

typedef enum { CACHE_NONE, CACHE_TEACACHE, CACHE_TEACACHE_RET, CACHE_FBCACHE } CacheKind;

typedef struct {
    CacheKind kind;
    double thresh; /* > 0 */
} CacheSettings;

/* "none", "teacache", "teacache-ret", "fbcache" */
const char *cache_kind_name(CacheKind k);
/* "KIND:THRESH" (or "none") -> settings; T2V_EUSAGE naming what is wrong. */
int cache_parse(const char *spec, CacheSettings *out, T2vError *err);
/* Which TeaCache polynomial a model of width `dim` gets: "Wan2.1 T2V-1.3B",
 * "Wan2.1 T2V-14B", or "none (identity)" for other widths. */
const char *cache_coefficients_name(const CacheSettings *s, int dim);
/* Whether the decisions depend only on the schedule (TeaCache: e and e0
 * are functions of t alone), so that they can be known before the run. */
int cache_schedule_only(const CacheSettings *s);

/* The state of one guidance branch. */
typedef struct {
    int have;           /* prev holds a value                            */
    int have_residual;  /* residual holds a value                        */
    double acc;         /* TeaCache: accumulated rescaled distance       */
    float *prev;        /* TeaCache: e or e0 of the last pass; fbcache:
                         * block 0's residual of the last computed pass */
    float *residual;    /* what the skipped blocks added last time       */
} CacheBranch;

typedef struct StepCache_ {
    CacheSettings set;
    int steps, dim, tokens;  /* residuals hold tokens x dim floats         */
    int mod_len;             /* TeaCache: floats of e (dim) or e0 (6 dim)   */
    const double *coef;      /* TeaCache polynomial, highest degree first   */
    int ncoef;
    int ret_steps, cutoff;   /* TeaCache: steps < ret_steps or >= cutoff are computed */
    int step, branch;        /* the pass the DiT runs next                  */
    float *x_in;             /* (tokens, dim) scratch: x before the skippable blocks */
    CacheBranch b[2];
    int8_t *computed;        /* (steps, 2): 1 computed, 0 reused, -1 not run */
    double *metric;          /* (steps, 2): TeaCache acc / fbcache distance before deciding (NaN: none) */
} StepCache;

/* The bytes cache_init allocates for tokens x dim (the memory check):
 * x_in and per branch the residual, plus fbcache's r1 per branch. */
double cache_bytes(const CacheSettings *s, int tokens, int dim);
/* For `steps` steps of a DiT of width dim on `tokens` tokens. A kind of
 * CACHE_NONE allocates nothing (and the DiT is not given the cache). */
int cache_init(StepCache *c, const CacheSettings *s, int steps, int dim, int tokens, T2vError *err);
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
int cache_after_first_block(StepCache *c, float *x, int N);
void cache_after_blocks(StepCache *c, const float *x, int N);

#endif
