/*
 * pipeline.h: one generation, top to bottom (docs/ARCHITECTURE.md):
 *
 *   prompt -> tokenizer -> umT5 -> context            (and the negative prompt)
 *   seed -> noise x [C, T, h, w]        (C and the strides from the VAE config)
 *   for each step i: t_i; v_cond = DiT(x, t_i, context);
 *                    v_uncond = DiT(x, t_i, context_neg), v = CFG(v_cond, v_uncond)
 *                    x = sampler_step(x, v)
 *   VAE decode -> video [3, F, H, W] in [-1, 1]  (whole, or streamed to a sink)
 *
 * pipeline_generate runs it all; pipeline_sample is the loop over steps that
 * both `generate` and `t2v stage sampler` run. The caller watches through a
 * PipelineWatch: progress of each phase, and after every step a StepView of
 * what the step computed (for --trace, --preview, --dump). Each stage's
 * checkpoint is opened, used and closed in turn, so the peak memory is that
 * of the largest stage, not their sum.
 */
#ifndef T2V_PIPELINE_H
#define T2V_PIPELINE_H

#include <stdint.h>

#include "cache.h"
#include "causal.h"
#include "dist.h"
#include "dit.h"
#include "model.h"
#include "sampler.h"
#include "tensor.h"
#include "window.h"

/* The latent grid [C, T, h, w] of a clip of F frames of H x W pixels. */
typedef struct {
    int C, T, h, w;
    int64_t n; /* C T h w */
} LatentGrid;
/* T2V_EUSAGE naming the rule when F, H, W do not fit the VAE's strides and
 * the DiT's patches (H and W multiples of stride x patch; F = 1 + 4k). */
int latent_grid(LatentGrid *g, const Model *m, int F, int H, int W, T2vError *err);
/* Copies F latent frames: frames [src_s, src_s + F) of src [C, src_T, h, w]
 * to frames [dst_s, dst_s + F) of dst [C, dst_T, h, w] (C, h, w from g):
 * a window or block cut from a clip, or written back into it. */
void latent_frames_copy(float *dst, int dst_T, int dst_s, const float *src, int src_T, int src_s, int F,
                        const LatentGrid *g);

/* How to sample: the schedule, the guidance, the step cache and the arithmetic. */
typedef struct {
    SamplerKind sampler;
    int steps;
    double shift;
    double cfg; /* <= 1: no unconditional pass, v = v_cond; A14B: the high-noise expert's */
    const double *timesteps; /* NULL, or `steps` listed values (sampler.h, docs/MODEL.md 3.5) */
    CacheSettings cache;     /* kind CACHE_NONE: every pass computed */
    Precision precision; /* of the umT5 and DiT products (gemm_bf16.h); 0: fp32 */
    /* Long video (docs/ARCHITECTURE.md): each DiT pass on context windows of
     * latent frames (window.frames 0: one pass over the clip), and RIFLEx on
     * the time axis (riflex_k 0: off; L_test = the clip's latent frames). */
    WindowSettings window;
    int riflex_k;
    double cfg_low, boundary; /* Wan2.2 A14B only: the low-noise expert's guidance; the switch */
    CausalSettings causal;    /* block 0: the whole clip at once; else block by block (causal.h) */
} SamplingSettings;

typedef struct {
    const char *prompt, *negative; /* negative used only when cfg > 1 */
    int width, height, frames;
    SamplingSettings sampling;
    uint64_t seed;
    int keep_steps;                /* keep every step's latent (for --dump) */
    const float *image;            /* TI2V image-to-video: [3, height, width] in [-1, 1], or NULL */
    Dist *dist;                    /* MPI ranks sharing the run (dist.h); NULL: one process.
                                      Only rank 0 decodes the video. */
    const VaeFrameSink *sink;      /* NULL: the video is kept whole in GenResult.video; else
                                      each latent frame's decoded frames go to the sink as
                                      they are made and GenResult.video stays NULL */
} GenSettings;

typedef enum { PHASE_TEXT, PHASE_SAMPLING, PHASE_DECODE, PHASE_COUNT } PipelinePhase;
/* "text encoder", "sampling", "VAE decode" */
const char *pipeline_phase_name(PipelinePhase p);

/* What step i computed, handed to PipelineWatch.step after the step. */
typedef struct {
    int step, steps;           /* i of N                                      */
    double sigma;              /* sigma_i                                     */
    float t;                   /* the timestep the DiT saw                     */
    LatentGrid grid;
    const float *x;            /* x_i, the sample the DiT saw                  */
    const float *v_cond;       /* DiT(x_i, t_i, context)                       */
    const float *v_uncond;     /* DiT(x_i, t_i, context_neg); NULL without CFG */
    const float *v;            /* the guided velocity the sampler used         */
    const float *x_next;       /* x_{i+1}; after the last step the x0 estimate */
    int window, windows;       /* the chain schedule: window `window` of `windows`,
                                  grid and x its own; else 0 of 1 */
} StepView;

typedef struct {
    void *user;
    /* k of n done in a phase (k = 0 when it starts); may be NULL */
    void (*progress)(void *user, PipelinePhase phase, int k, int n);
    /* after each sampling step; may be NULL; a non-zero return stops the
     * run with that code (the watcher sets err's message itself) */
    int (*step)(void *user, const StepView *s, T2vError *err);
} PipelineWatch;

/* The sampling loop's state: the DiT with both contexts embedded once, the
 * sampler, and the buffers of one step. */
typedef struct {
    DiT *dit;
    Sampler smp;
    LatentGrid grid;
    float cfg;
    float *ctx_emb, *ctx_neg_emb;  /* [text_len, dim] each (neg: NULL without CFG) */
    float *x_seen;                 /* (n) x_i, kept for the StepView             */
    float *v_cond, *v_uncond, *v;  /* (n) each                                   */
    StepCache cache;               /* the DiT's step cache (kind none: unused)   */
    /* Wan2.2 (docs/ARCHITECTURE.md, Wan2.2); all zero/NULL for Wan2.1: */
    DiT *low;                      /* A14B: the low-noise expert (dit is the high-noise one) */
    double boundary;               /* A14B: dit while int(t) >= boundary * 1000, then low */
    float cfg_low;                 /* A14B: the low-noise expert's guidance (cfg: the high's) */
    float *low_ctx_emb, *low_ctx_neg_emb; /* the contexts embedded by the low-noise expert */
    const float *held;             /* [C, held_frames, h, w] held as the first latent frames,
                                      their tokens at t = 0: TI2V's image, or the chain
                                      schedule's frames from the window before */
    int held_frames;
    float *tok_t;                  /* with held frames: [tokens] per-token times */
    int chain_window, chain_windows; /* the chain schedule's window (StepView); else 0, 0 */
    int *experts;                  /* optional [steps]: the expert of each step (0 high, 1 low) */
    WindowSettings window;         /* context windows (window.h)                 */
    int *win_starts;               /* (window_max_count) the step's windows      */
    float *win_x, *win_v;          /* (C frames h w) one window's latent, velocity */
    float *win_plain;              /* (n) unweighted sums (frames of weight 0)   */
    float *win_tot, *win_cnt;      /* (T) summed weights, windows per frame      */
    Dist *dist;                    /* guidance-parallel ranks (dist.h); NULL: one
                                      process. Set after denoiser_init.           */
} Denoiser;

/* context [L, text_dim]; context_neg [L_neg, text_dim] (used when cfg > 1).
 * The distill sampler's fresh noise comes from seed 0 until the caller sets
 * it (sampler_renoise_from_seed / sampler_renoise_given on d->smp). Sets
 * dit->precision to s->precision. */
int denoiser_init(Denoiser *d, DiT *dit, const SamplingSettings *s, const LatentGrid *g, const float *context,
                  int L, const float *context_neg, int L_neg, T2vError *err);
void denoiser_free(Denoiser *d);
/* A14B: adds the low-noise expert (its own embedded contexts; the same
 * context and context_neg as denoiser_init), the boundary (0.875 for T2V)
 * and its guidance; d->cfg stays the high-noise expert's. */
int denoiser_set_low_expert(Denoiser *d, DiT *low, double boundary, float cfg_low, const float *context, int L,
                            const float *context_neg, int L_neg, T2vError *err);
/* Holds z [C, frames, h, w] as the first `frames` latent frames: set into x
 * before the first step and after every step, their tokens at t = 0
 * (pipeline_sample; the mask of Wan2.2's textimage2video.py, on more than
 * one frame). Needs a temporal patch of 1; z must outlive d. */
int denoiser_set_held(Denoiser *d, const float *z, int frames, T2vError *err);
/* TI2V image-to-video: z [C, 1, h, w] (the encoded image, normalised) held
 * as latent frame 0 (denoiser_set_held); not with context windows. */
int denoiser_set_image(Denoiser *d, const float *z, T2vError *err);
/* The expert for timestep t: 0 (dit) or 1 (low), by the official rule
 * int(t) >= boundary * 1000 -> the high-noise expert. */
int denoiser_expert(const Denoiser *d, float t);
/* Sets the first held_frames latent frames of x [C, T, h, w] to the held
 * ones (a no-op without any). */
void denoiser_hold(const Denoiser *d, float *x);

/* The loop: x holds the noise and becomes the final latent. steps_out
 * (NULL, or steps x n floats) receives x_{i+1} after every step. */
int pipeline_sample(Denoiser *d, float *x, float *steps_out, const PipelineWatch *w, T2vError *err);

/* The chain schedule (window.h): x holds the noise [C, T, h, w] and becomes
 * the final latent, one window of ss->window after another (the static
 * schedule's starts). A window starts from the clip's noise on its frames;
 * the frames it shares with the windows before are held as they left them
 * (denoiser_set_held), and pipeline_sample runs every step on it. Settings
 * and contexts as denoiser_init. steps_out (NULL, or steps x n floats)
 * receives x_{i+1} of every window on its frames, in window order;
 * timesteps (NULL, or steps floats) the schedule's timesteps. The watch
 * sees the sampling progress over all windows' steps and each window's
 * StepViews (its own grid; StepView.window). Checked by
 * pipeline_chain_check first. */
int pipeline_sample_chain(DiT *dit, const SamplingSettings *ss, const LatentGrid *g, const float *context, int L,
                          const float *context_neg, int L_neg, Dist *dist, float *x, float *steps_out,
                          float *timesteps, const PipelineWatch *w, T2vError *err);
/* The chain schedule's rules for a clip of T latent frames: context windows
 * shorter than the clip, an overlap of 1..frames-1, a temporal patch of 1,
 * not the distill sampler (its fresh noise is one clip's stream), no step
 * cache, and one Wan2.1-style text-to-video DiT (two_experts: the A14B
 * pair; image: image-to-video): T2V_EUSAGE (T2V_EINPUT for the patch)
 * naming the rule. */
int pipeline_chain_check(const DiT *dit, const SamplingSettings *ss, int T, int two_experts, int image,
                         T2vError *err);

/* The settings' rules for causal generation of T latent frames (causal_check,
 * the distill sampler, cfg <= 1, no step cache, context windows or RIFLEx):
 * T2V_EUSAGE naming the rule. */
int pipeline_causal_check(const SamplingSettings *ss, int T, T2vError *err);
/* Causal generation (causal.h, docs/ARCHITECTURE.md 10c): x holds the noise
 * [C, T, h, w] and becomes the final latent, a block of ss->causal.block
 * latent frames at a time, each with the distill steps of ss (listed
 * timesteps, shift) through the key/value cache (bf16 under PREC_BF16). The
 * fresh noise of block b, step k < steps-1 is renoise + (b (steps-1) + k) x
 * (C block h w) when renoise is given, else the seed's torch stream continued
 * after the initial randn(C T h w): one randn(C block h w) per step, block by
 * block. The DiT's self-attention is causal only during the call. */
int pipeline_sample_causal(DiT *dit, const SamplingSettings *ss, const LatentGrid *g, const float *context, int L,
                           float *x, uint64_t seed, const float *renoise, const PipelineWatch *w, T2vError *err);

/* The VAE decode of a latent [C, T, h, w] to video [3, F, H, W] in [-1, 1],
 * with progress (one latent frame at a time). */
int pipeline_decode(Vae *vae, const LatentGrid *g, const float *latent, float *video, const PipelineWatch *w,
                    T2vError *err);
/* The same, each latent frame's frames handed to fs as they are made
 * (vae_decode_to): nothing of the size of the video is held. */
int pipeline_decode_to(Vae *vae, const LatentGrid *g, const float *latent, const VaeFrameSink *fs,
                       const PipelineWatch *w, T2vError *err);

typedef struct {
    int32_t *ids, *ids_neg;       /* [L], [L_neg] (ids_neg NULL when cfg <= 1) */
    int L, L_neg, text_dim;
    float *context, *context_neg; /* [L, text_dim], [L_neg, text_dim]          */
    LatentGrid grid;
    float *noise, *latent;        /* [C, T, h, w]                               */
    float *steps;                 /* [steps][C, T, h, w] when keep_steps        */
    float *timesteps;             /* [steps]                                    */
    int32_t *computed;            /* [steps, 2] with a step cache: 1 computed, 0
                                     reused, -1 no pass (cond, uncond); else NULL */
    double *cache_metric;         /* [steps, 2] with a step cache: what each decision
                                     compared (magcache-calibrate: the ratios; NaN none) */
    float *video;                 /* [3, F, H, W]; NULL with GenSettings.sink     */
    float *image_latent;          /* image-to-video: [C, 1, h, w]               */
    int *experts;                 /* [steps]: A14B's expert per step (0 high, 1 low) */
} GenResult;

/* Runs the whole pipeline on the model (all files needed). */
int pipeline_generate(const Model *m, const GenSettings *s, const PipelineWatch *w, GenResult *r, T2vError *err);
void gen_result_free(GenResult *r);

#endif
