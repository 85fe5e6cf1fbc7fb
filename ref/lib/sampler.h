/*
 * sampler.h: the Wan2.1 flow-matching sampler (docs/MODEL.md section 3).
 *
 *   schedule   sigmas with shift, integer timesteps int(1000*sigma)   (3.1)
 *   UniPC      FlowUniPCMultistepScheduler as Wan runs it: order 2, bh2,
 *              predict-x0, corrector (UniC), lower-order final steps  (3.2)
 *   Euler      x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v_i            (3.3)
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

typedef enum { SAMPLER_UNIPC, SAMPLER_EULER } SamplerKind;

/* "unipc" / "euler" <-> kind. sampler_kind_from_name returns 0 ok, -1 unknown. */
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

/* Sampler state: the schedule and the UniPC history (x0 predictions of the
 * last two steps and the sample fed to the last predictor). */
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
} Sampler;

int sampler_init(Sampler *s, SamplerKind kind, int steps, double shift, int64_t n, T2vError *err);
void sampler_free(Sampler *s);

/* Timestep fed to the DiT at step i (0 <= i < steps): for the Wan schedule
 * the integer int(1000 sigma_i), as a float. */
float sampler_timestep(const Sampler *s, int i);
/* Predictor order UniPC uses at step i: min(2, steps - i, i + 1) (1 for Euler). */
int sampler_order(const Sampler *s, int i);

/* One step, in place: x holds x_i (the sample the model saw at step i) and
 * becomes x_{i+1}; v is the (guided) model output at x_i. Steps must be taken
 * in order. The last step returns the x0 prediction x_{N-1} - sigma_{N-1} v. */
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
