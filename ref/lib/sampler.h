/*
 * sampler.h: the Wan2.1 flow-matching sampler (docs/MODEL.md section 3).
 *
 *   schedule   sigmas with shift, integer timesteps int(1000*sigma)   (3.1)
 *   UniPC      FlowUniPCMultistepScheduler as Wan runs it: order 2, bh2,
 *              predict-x0, corrector (UniC), lower-order final steps  (3.2)
 *   Euler      x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v_i            (3.3)
 *   distill    few-step students (CausVid, Self-Forcing): x0 = x_k - sigma_k v_k,
 *              then x_{k+1} = (1 - sigma_{k+1}) x0 + sigma_{k+1} eps_k with
 *              fresh noise eps_k; the result is the last x0        (3.5)
 *   custom     a listed schedule t_k in (0, 1000]: sigma_k = shift s/(1 +
 *              (shift-1) s), s = t_k/1000; the DiT sees 1000 sigma_k  (3.5)
 *   CFG        v = v_uncond + g (v_cond - v_uncond); g <= 1 skips the
 *              unconditional pass (v = v_cond)
 *   noise      torch.manual_seed(seed); torch.randn(n) on CPU, bit-exact
 *              (docs/NOISE.md)
 *
 * The sampler never sees the DiT: it is a set of step functions that the
 * pipeline's loop (pipeline.c, pipeline_sample) calls after the model passes.
 * Scalar coefficients are computed in double from the float32 sigmas and
 * applied per element in double; latents and model outputs are fp32.
 */
#ifndef T2V_SAMPLER_H
#define T2V_SAMPLER_H

#include <stdint.h>

#include "tensor.h"

typedef enum { SAMPLER_UNIPC, SAMPLER_EULER, SAMPLER_DISTILL } SamplerKind;

/* "unipc" / "euler" / "distill" <-> kind. sampler_kind_from_name returns 0 ok, -1 unknown. */
const char *sampler_kind_name(SamplerKind k);
int sampler_kind_from_name(const char *name, SamplerKind *out);

/* The Wan UniPC schedule (docs/MODEL.md 3.1) for `steps` >= 1 and shift > 0:
 *   s_i = linspace(float32(0.999), 0, steps+1)[i]            (float64)
 *   sigma_i = shift s_i / (1 + (shift-1) s_i)                 (float64)
 *   timesteps[i] = int64(1000 sigma_i), truncated             (i < steps)
 *   sigmas[i] = float32(sigma_i) widened to double, sigmas[steps] = 0.
 * Returns T2V_OK or T2V_EUSAGE for bad arguments. */
int sampler_schedule(int steps, double shift, double *sigmas /* steps+1 */,
                     int *timesteps /* steps */);

/* A listed schedule (docs/MODEL.md 3.5): t[0..steps) strictly decreasing in
 * (0, 1000] -> sigmas[k] = shift s/(1 + (shift-1) s), s = t_k/1000, in
 * double (not rounded to float32), sigmas[steps] = 0; timesteps[k] =
 * float(1000 sigma_k), fractional. UniPC needs sigma_0 < 1 (its lambda =
 * log(1-sigma) - log(sigma)). Returns T2V_EUSAGE naming the rule. */
int sampler_schedule_listed(SamplerKind kind, const double *t, int steps, double shift, double *sigmas,
                            float *timesteps, T2vError *err);

/* torch's default CPU generator as a stream: torch.manual_seed(seed), then
 * torch.randn(n) calls one after another (docs/NOISE.md). */
typedef struct {
    uint32_t state[624];
    int next;
    int has_cached;  /* the scalar path's cached second Box-Muller value */
    double cached;
} TorchGen;
void torch_gen_seed(TorchGen *g, uint64_t seed);
/* The next torch.randn(n) of the stream (float32), bit-exact. */
void torch_gen_randn(TorchGen *g, float *out, int64_t n);

/* Sampler state: the schedule, the UniPC history (x0 predictions of the
 * last two steps and the sample fed to the last predictor), and the distill
 * sampler's noise source. */
typedef struct {
    SamplerKind kind;
    int steps;
    double shift;
    int64_t n;        /* latent elements */
    double *sigmas;   /* (steps+1) float32 values, last 0 */
    float *timesteps; /* (steps) fed to the DiT (integers for the UniPC schedule) */
    float *m_prev;    /* (n) m_{i-1}: x0 prediction of the previous step */
    float *m_prev2;   /* (n) m_{i-2} */
    float *m_cur;     /* (n) m_i */
    float *x_prev;    /* (n) corrected sample fed to the previous predictor */
    int last_order;   /* predictor order of the previous step, 0 before step 0 */
    /* distill: eps_k, k < steps-1, from renoise[k] when given, else drawn
     * from gen (sampler_renoise_from_seed) into eps */
    const float *const *renoise;
    uint64_t seed;    /* the stream's seed (0 until sampler_renoise_from_seed) */
    TorchGen gen;
    float *eps;       /* (n), distill only */
} Sampler;

/* The Wan schedule of `steps` (UniPC, Euler), or for distill the evenly
 * spaced list t_k = 1000 (1 - k/steps). */
int sampler_init(Sampler *s, SamplerKind kind, int steps, double shift, int64_t n, T2vError *err);
/* A listed schedule t[0..steps) (sampler_schedule_listed); t NULL: sampler_init. */
int sampler_init_listed(Sampler *s, SamplerKind kind, const double *t, int steps, double shift, int64_t n,
                        T2vError *err);
void sampler_free(Sampler *s);
/* distill: eps_k is the (k+2)-th torch.randn(n) after torch.manual_seed(seed)
 * (the first being the initial noise): docs/NOISE.md, "Renoising". The
 * stream restarts at every step 0. */
void sampler_renoise_from_seed(Sampler *s, uint64_t seed);
/* distill: eps_k = eps[k] (steps-1 arrays of n floats, owned by the caller),
 * in place of the seeded stream; NULL: back to the stream. */
void sampler_renoise_given(Sampler *s, const float *const *eps);

/* Timestep fed to the DiT at step i (0 <= i < steps): for the Wan schedule
 * the integer int(1000 sigma_i), as a float. */
float sampler_timestep(const Sampler *s, int i);
/* Predictor order UniPC uses at step i: min(2, steps - i, i + 1) (1 for Euler). */
int sampler_order(const Sampler *s, int i);

/* One step, in place: x holds x_i (the sample the model saw at step i) and
 * becomes x_{i+1}; v is the (guided) model output at x_i. Steps must be taken
 * in order. The last step returns the x0 prediction x_{N-1} - sigma_{N-1} v
 * (for every kind). */
void sampler_step(Sampler *s, int i, float *x, const float *v);

/* Classifier-free guidance: v = v_uncond + g (v_cond - v_uncond), per
 * element in double, rounded to fp32. v may alias v_cond. */
void cfg_combine(float *v, const float *v_cond, const float *v_uncond, float g, int64_t n);

/* torch.manual_seed(seed); torch.randn(n) (float32, CPU, x86-64 with AVX2 as
 * PyTorch 1.13-2.x dispatch it), bit-exact. See docs/NOISE.md. The official
 * Wan scripts draw their noise on the GPU, which gives other numbers. */
void randn_torch(uint64_t seed, float *out, int64_t n);

/* The official default negative prompt (docs/MODEL.md 1.3), UTF-8, 403 bytes. */
const char *wan_default_negative_prompt(void);

#endif
