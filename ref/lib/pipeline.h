/*
 * pipeline.h: one generation, top to bottom (docs/ARCHITECTURE.md):
 *
 *   prompt -> tokenizer -> umT5 -> context            (and the negative prompt)
 *   seed -> noise x [C, T, h, w]        (C and the strides from the VAE config)
 *   for each step i: t_i; v_cond = DiT(x, t_i, context);
 *                    v_uncond = DiT(x, t_i, context_neg), v = CFG(v_cond, v_uncond)
 *                    x = sampler_step(x, v)
 *   VAE decode -> video [3, F, H, W] in [-1, 1]
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

/* How to sample: the schedule and the guidance. */
typedef struct {
    SamplerKind sampler;
    int steps;
    double shift;
    double cfg; /* <= 1: no unconditional pass, v = v_cond */
    /* Long video (docs/ARCHITECTURE.md): each DiT pass on context windows of
     * latent frames (window.frames 0: one pass over the clip), and RIFLEx on
     * the time axis (riflex_k 0: off; L_test = the clip's latent frames). */
    WindowSettings window;
    int riflex_k;
} SamplingSettings;

typedef struct {
    const char *prompt, *negative; /* negative used only when cfg > 1 */
    int width, height, frames;
    SamplingSettings sampling;
    uint64_t seed;
    int keep_steps;                /* keep every step's latent (for --dump) */
    Dist *dist;                    /* MPI ranks sharing the run (dist.h); NULL: one process.
                                      Only rank 0 decodes the video. */
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
    WindowSettings window;         /* context windows (window.h)                 */
    int *win_starts;               /* (window_max_count) the step's windows      */
    float *win_x, *win_v;          /* (C frames h w) one window's latent, velocity */
    float *win_plain;              /* (n) unweighted sums (frames of weight 0)   */
    float *win_tot, *win_cnt;      /* (T) summed weights, windows per frame      */
    Dist *dist;                    /* guidance-parallel ranks (dist.h); NULL: one
                                      process. Set after denoiser_init.           */
} Denoiser;

/* context [L, text_dim]; context_neg [L_neg, text_dim] (used when cfg > 1). */
int denoiser_init(Denoiser *d, DiT *dit, const SamplingSettings *s, const LatentGrid *g, const float *context,
                  int L, const float *context_neg, int L_neg, T2vError *err);
void denoiser_free(Denoiser *d);

/* The loop: x holds the noise and becomes the final latent. steps_out
 * (NULL, or steps x n floats) receives x_{i+1} after every step. */
int pipeline_sample(Denoiser *d, float *x, float *steps_out, const PipelineWatch *w, T2vError *err);

/* The VAE decode of a latent [C, T, h, w] to video [3, F, H, W] in [-1, 1],
 * with progress (one latent frame at a time). */
int pipeline_decode(Vae *vae, const LatentGrid *g, const float *latent, float *video, const PipelineWatch *w,
                    T2vError *err);

typedef struct {
    int32_t *ids, *ids_neg;       /* [L], [L_neg] (ids_neg NULL when cfg <= 1) */
    int L, L_neg, text_dim;
    float *context, *context_neg; /* [L, text_dim], [L_neg, text_dim]          */
    LatentGrid grid;
    float *noise, *latent;        /* [C, T, h, w]                               */
    float *steps;                 /* [steps][C, T, h, w] when keep_steps        */
    float *timesteps;             /* [steps]                                    */
    float *video;                 /* [3, F, H, W]                               */
} GenResult;

/* Runs the whole pipeline on the model (all files needed). */
int pipeline_generate(const Model *m, const GenSettings *s, const PipelineWatch *w, GenResult *r, T2vError *err);
void gen_result_free(GenResult *r);

#endif
