/*
 * sampler.c: flow-matching schedule, UniPC and Euler steps, classifier-free
 * guidance, PyTorch-compatible seeded noise (docs/MODEL.md section 3,
 * docs/NOISE.md). See sampler.h for the contracts.
 */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================
 * Names */

const char *sampler_kind_name(SamplerKind k) {
    return k == SAMPLER_EULER ? "euler" : k == SAMPLER_DISTILL ? "distill" : "unipc";
}

int sampler_kind_from_name(const char *name, SamplerKind *out) {
    if (!name) return -1;
    if (strcmp(name, "unipc") == 0) { *out = SAMPLER_UNIPC; return 0; }
    if (strcmp(name, "euler") == 0) { *out = SAMPLER_EULER; return 0; }
    if (strcmp(name, "distill") == 0) { *out = SAMPLER_DISTILL; return 0; }
    return -1;
}

/* ============================================================================
 * Schedule (docs/MODEL.md 3.1). The training grid of FlowUniPCMultistepScheduler is
 * float32, so sigma_max = float32(0.999) and sigma_min = 0. The sampling grid
 * is numpy.linspace in float64 (start + i*step), shifted in float64; the DiT
 * gets int64(1000 sigma) truncated, the scheduler keeps float32 sigmas. */

int sampler_schedule(int steps, double shift, double *sigmas, int *timesteps) {
    if (steps < 1 || !(shift > 0.0) || !isfinite(shift)) return T2V_EUSAGE;
    const double sigma_max = (double)0.999f, sigma_min = 0.0;
    const double step = (sigma_min - sigma_max) / (double)steps;
    for (int i = 0; i < steps; i++) {
        double s = (double)i * step + sigma_max;
        double sig = shift * s / (1.0 + (shift - 1.0) * s);
        if (timesteps) timesteps[i] = (int)(sig * 1000.0); /* truncation toward zero */
        sigmas[i] = (double)(float)sig;
    }
    sigmas[steps] = 0.0; /* final_sigmas_type "zero" */
    return T2V_OK;
}

/* docs/MODEL.md 3.5: the listed schedule, shifted as 3.1 shifts, kept in double. */
int sampler_schedule_listed(SamplerKind kind, const double *t, int steps, double shift, double *sigmas,
                            float *timesteps, T2vError *err) {
    if (steps < 1 || !(shift > 0.0) || !isfinite(shift))
        return t2v_fail(err, T2V_EUSAGE, "sampler: %d listed timesteps, shift %g (need >= 1, shift > 0)", steps,
                        shift);
    for (int k = 0; k < steps; k++) {
        if (!(t[k] > 0.0 && t[k] <= 1000.0))
            return t2v_fail(err, T2V_EUSAGE, "timesteps: value %d is %g, expected a number in (0, 1000]", k + 1, t[k]);
        if (k > 0 && !(t[k] < t[k - 1]))
            return t2v_fail(err, T2V_EUSAGE, "timesteps: must decrease strictly, but value %d (%g) follows %g", k + 1,
                            t[k], t[k - 1]);
        double sv = t[k] / 1000.0;
        sigmas[k] = shift * sv / (1.0 + (shift - 1.0) * sv);
        timesteps[k] = (float)(1000.0 * sigmas[k]);
    }
    sigmas[steps] = 0.0;
    if (kind == SAMPLER_UNIPC && !(sigmas[0] < 1.0))
        return t2v_fail(err, T2V_EUSAGE, "timesteps: UniPC needs sigma < 1, and %g gives sigma %g (list values "
                        "below 1000, or use euler or distill)", t[0], sigmas[0]);
    return T2V_OK;
}

/* ============================================================================
 * Sampler state */

/* Checks and allocations shared by both inits; the schedule is filled by them. */
static int sampler_alloc(Sampler *s, SamplerKind kind, int steps, double shift, int64_t n, T2vError *err) {
    memset(s, 0, sizeof(*s));
    if (kind != SAMPLER_UNIPC && kind != SAMPLER_EULER && kind != SAMPLER_DISTILL)
        return t2v_fail(err, T2V_EUSAGE, "sampler: unknown kind %d", (int)kind);
    if (steps < 1 || steps > 100000)
        return t2v_fail(err, T2V_EUSAGE, "sampler: steps must be in 1..100000, found %d", steps);
    if (!(shift > 0.0) || !isfinite(shift))
        return t2v_fail(err, T2V_EUSAGE, "sampler: shift must be > 0, found %g", shift);
    if (n < 1) return t2v_fail(err, T2V_EUSAGE, "sampler: latent size must be >= 1, found %lld",
                               (long long)n);
    s->kind = kind;
    s->steps = steps;
    s->shift = shift;
    s->n = n;
    s->sigmas = t2v_malloc(sizeof(double) * (size_t)(steps + 1), "sampler sigmas", err);
    s->timesteps = s->sigmas ? t2v_malloc(sizeof(float) * (size_t)steps, "sampler timesteps", err) : NULL;
    if (!s->timesteps) { sampler_free(s); return T2V_ERESOURCE; }
    float **bufs[4] = {&s->m_prev, &s->m_prev2, &s->m_cur, &s->x_prev};
    for (int b = 0; kind == SAMPLER_UNIPC && b < 4; b++) {
        *bufs[b] = t2v_malloc(sizeof(float) * (size_t)n, "sampler UniPC history", err);
        if (!*bufs[b]) { sampler_free(s); return T2V_ERESOURCE; }
    }
    if (kind == SAMPLER_DISTILL && !(s->eps = t2v_malloc(sizeof(float) * (size_t)n, "sampler noise", err))) {
        sampler_free(s);
        return T2V_ERESOURCE;
    }
    return T2V_OK;
}

int sampler_init(Sampler *s, SamplerKind kind, int steps, double shift, int64_t n, T2vError *err) {
    if (kind == SAMPLER_DISTILL) { /* t_k = 1000 (1 - k/steps) */
        double *t = t2v_malloc(sizeof(double) * (size_t)(steps > 0 ? steps : 1), "sampler timesteps", err);
        if (!t) return T2V_ERESOURCE;
        for (int k = 0; k < steps; k++) t[k] = 1000.0 * (1.0 - (double)k / steps);
        int rc = sampler_init_listed(s, kind, t, steps, shift, n, err);
        free(t);
        return rc;
    }
    int rc = sampler_alloc(s, kind, steps, shift, n, err);
    if (rc) return rc;
    int *ts = t2v_malloc(sizeof(int) * (size_t)steps, "sampler timesteps", err);
    if (!ts) { sampler_free(s); return T2V_ERESOURCE; }
    sampler_schedule(steps, shift, s->sigmas, ts);
    for (int i = 0; i < steps; i++) s->timesteps[i] = (float)ts[i];
    free(ts);
    return T2V_OK;
}

int sampler_init_listed(Sampler *s, SamplerKind kind, const double *t, int steps, double shift, int64_t n,
                        T2vError *err) {
    if (!t) return sampler_init(s, kind, steps, shift, n, err);
    int rc = sampler_alloc(s, kind, steps, shift, n, err);
    if (!rc && (rc = sampler_schedule_listed(kind, t, steps, shift, s->sigmas, s->timesteps, err)))
        sampler_free(s);
    return rc;
}

void sampler_renoise_from_seed(Sampler *s, uint64_t seed) {
    s->seed = seed;
    s->renoise = NULL;
}

void sampler_renoise_given(Sampler *s, const float *const *eps) { s->renoise = eps; }

void sampler_free(Sampler *s) {
    free(s->sigmas);
    free(s->timesteps);
    free(s->m_prev);
    free(s->m_prev2);
    free(s->m_cur);
    free(s->x_prev);
    free(s->eps);
    memset(s, 0, sizeof(*s));
}

float sampler_timestep(const Sampler *s, int i) { return s->timesteps[i]; }

int sampler_order(const Sampler *s, int i) {
    if (s->kind != SAMPLER_UNIPC) return 1;
    int p = 2; /* solver_order 2, lower_order_final, warm-up (docs/MODEL.md 3.2 step 4) */
    if (s->steps - i < p) p = s->steps - i;
    if (i + 1 < p) p = i + 1;
    return p;
}

/* ============================================================================
 * UniPC (docs/MODEL.md 3.2): bh2, predict x0. lambda = log(alpha) - log(sigma) with
 * alpha = 1 - sigma. Coefficients in double; elementwise updates in double,
 * rounded to fp32 once. */

static double unipc_lambda(double sigma) { return log(1.0 - sigma) - log(sigma); }

/* Corrector UniC at step i > 0: x <- corrected x_i, from x_prev (the sample
 * fed to the step i-1 predictor), m_prev = m_{i-1}, m_prev2 = m_{i-2} (order
 * 2 only) and m_cur = m_i (from the uncorrected x_i). */
static void unipc_correct(Sampler *s, int i, float *x) {
    const double *sg = s->sigmas;
    const double lam_i = unipc_lambda(sg[i]), lam_p = unipc_lambda(sg[i - 1]);
    const double h = lam_i - lam_p, hh = -h, phi = expm1(hh), B = phi; /* bh2: B = phi */
    const double alpha = 1.0 - sg[i];
    const double cx = sg[i] / sg[i - 1], cm = alpha * phi;
    const float *xp = s->x_prev, *m1 = s->m_prev, *m2 = s->m_prev2, *mc = s->m_cur;
    const int64_t n = s->n;
    if (s->last_order == 1) {
        const double cd = alpha * B * 0.5; /* rho = 0.5 hard-coded for order 1 */
#pragma omp parallel for
        for (int64_t k = 0; k < n; k++)
            x[k] = (float)(cx * xp[k] - cm * m1[k] - cd * ((double)mc[k] - m1[k]));
    } else {
        const double r = (unipc_lambda(sg[i - 2]) - lam_p) / h; /* < 0 */
        const double g1 = phi / hh - 1.0, b1 = g1 / B;
        const double g2 = g1 / hh - 0.5, b2 = 2.0 * g2 / B;
        const double rho0 = (b1 - b2) / (1.0 - r), rho1 = b1 - rho0; /* [[1,1],[r,1]] rho = b */
        const double c0 = alpha * B * rho0 / r, c1 = alpha * B * rho1;
#pragma omp parallel for
        for (int64_t k = 0; k < n; k++)
            x[k] = (float)(cx * xp[k] - cm * m1[k] - c0 * ((double)m2[k] - m1[k]) -
                           c1 * ((double)mc[k] - m1[k]));
    }
}

/* Predictor UniP from sigma_i to sigma_{i+1} with order p; m_prev = m_i and
 * m_prev2 = m_{i-1} here (history already shifted). */
static void unipc_predict(Sampler *s, int i, int p, float *x) {
    const double *sg = s->sigmas;
    const float *m0 = s->m_prev, *m1 = s->m_prev2;
    const int64_t n = s->n;
    if (sg[i + 1] == 0.0) { /* lambda = +inf: phi = -1, alpha = 1, x_{i+1} = m_i */
        memcpy(x, m0, sizeof(float) * (size_t)n);
        return;
    }
    const double lam_i = unipc_lambda(sg[i]), lam_n = unipc_lambda(sg[i + 1]);
    const double h = lam_n - lam_i, phi = expm1(-h), B = phi;
    const double alpha = 1.0 - sg[i + 1];
    const double cx = sg[i + 1] / sg[i], cm = alpha * phi;
    if (p == 1) {
#pragma omp parallel for
        for (int64_t k = 0; k < n; k++) x[k] = (float)(cx * x[k] - cm * m0[k]);
    } else {
        const double r = (unipc_lambda(sg[i - 1]) - lam_i) / h;
        const double cd = alpha * B * 0.5 / r; /* rho_p = 0.5 hard-coded for order 2 */
#pragma omp parallel for
        for (int64_t k = 0; k < n; k++)
            x[k] = (float)(cx * x[k] - cm * m0[k] - cd * ((double)m1[k] - m0[k]));
    }
}

static void unipc_step(Sampler *s, int i, float *x, const float *v) {
    const int64_t n = s->n;
    const double sig = s->sigmas[i];
    if (i == 0) s->last_order = 0;
    float *mc = s->m_cur;
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) mc[k] = (float)((double)x[k] - sig * v[k]); /* x0 prediction */
    if (i > 0 && s->last_order > 0) unipc_correct(s, i, x);
    float *t = s->m_prev2; /* shift the history: m_{i-2} <- m_{i-1} <- m_i */
    s->m_prev2 = s->m_prev;
    s->m_prev = s->m_cur;
    s->m_cur = t;
    memcpy(s->x_prev, x, sizeof(float) * (size_t)n);
    int p = sampler_order(s, i);
    unipc_predict(s, i, p, x);
    s->last_order = p;
}

/* ============================================================================
 * Euler (docs/MODEL.md 3.3) and the public step */

static void euler_step(const Sampler *s, int i, float *x, const float *v) {
    const double ds = s->sigmas[i + 1] - s->sigmas[i];
    const int64_t n = s->n;
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) x[k] = (float)((double)x[k] + ds * v[k]);
}

/* ============================================================================
 * Distill (docs/MODEL.md 3.5): x0 = x_k - sigma_k v_k; before the last step
 * x_{k+1} = (1 - sigma_{k+1}) x0 + sigma_{k+1} eps_k, in double from the
 * double x0, rounded once; the last step returns x0. */

static void distill_step(Sampler *s, int i, float *x, const float *v) {
    const int64_t n = s->n;
    const double sig = s->sigmas[i];
    if (i == s->steps - 1) {
#pragma omp parallel for
        for (int64_t k = 0; k < n; k++) x[k] = (float)((double)x[k] - sig * v[k]);
        return;
    }
    const float *eps = s->renoise ? s->renoise[i] : s->eps;
    if (!s->renoise) { /* the seeded stream: the initial noise first, then eps_0, eps_1, ... */
        if (i == 0) {
            torch_gen_seed(&s->gen, s->seed);
            torch_gen_randn(&s->gen, s->eps, n);
        }
        torch_gen_randn(&s->gen, s->eps, n);
    }
    const double sn = s->sigmas[i + 1], an = 1.0 - sn;
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++) {
        double x0 = (double)x[k] - sig * v[k];
        x[k] = (float)(an * x0 + sn * eps[k]);
    }
}

void sampler_step(Sampler *s, int i, float *x, const float *v) {
    if (s->kind == SAMPLER_EULER) euler_step(s, i, x, v);
    else if (s->kind == SAMPLER_DISTILL) distill_step(s, i, x, v);
    else unipc_step(s, i, x, v);
}

void cfg_combine(float *v, const float *v_cond, const float *v_uncond, float g, int64_t n) {
    const double gd = g;
#pragma omp parallel for
    for (int64_t k = 0; k < n; k++)
        v[k] = (float)((double)v_uncond[k] + gd * ((double)v_cond[k] - v_uncond[k]));
}


/* ============================================================================
 * Noise: torch.manual_seed(seed); torch.randn(n) on CPU (docs/NOISE.md).
 * mt19937 as at::mt19937 (state[0] = low 32 bits of the seed). */

void torch_gen_seed(TorchGen *m, uint64_t seed) {
    m->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (int j = 1; j < 624; j++)
        m->state[j] = 1812433253u * (m->state[j - 1] ^ (m->state[j - 1] >> 30)) + (uint32_t)j;
    m->next = 624;
    m->has_cached = 0; /* manual_seed clears the cached normal */
    m->cached = 0.0;
}

static uint32_t mt_next(TorchGen *m) {
    if (m->next >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->state[k] & 0x80000000u) | (m->state[(k + 1) % 624] & 0x7fffffffu);
            m->state[k] = m->state[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->next = 0;
    }
    uint32_t y = m->state[m->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* at::uniform_real_distribution<float>(0, 1): 24 random bits / 2^24 (exact). */
static float mt_uniform_f32(TorchGen *m) {
    return (float)(mt_next(m) & 0xffffffu) * (1.0f / 16777216.0f);
}

/* at::uniform_real_distribution<double>(0, 1): random64() = (first << 32) |
 * second, 53 bits / 2^53. */
static double mt_uniform_f64(TorchGen *m) {
    uint64_t hi = mt_next(m), lo = mt_next(m);
    return (double)(((hi << 32) | lo) & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

static float f32_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* fma_f32(x, y, z) with one rounding, on any libm: mingw-w64's fmaf rounds the
 * product first (a third of random inputs differ), which broke the bit-exact
 * noise on Windows. The product is exact in double; only a sum that lands
 * exactly halfway between two floats needs the error term (musl's fmaf). */
static float fma_f32(float x, float y, float z) {
    double xy = (double)x * y, r = xy + z;
    uint64_t u;
    memcpy(&u, &r, 8);
    if ((u & 0x1fffffffu) != 0x10000000u || (u >> 52 & 0x7ff) == 0x7ff || (r - xy == z && r - z == xy))
        return (float)r;
    int neg = (int)(u >> 63);
    double err = neg == (z > xy) ? xy - r + z : z - r + xy;
    if (neg == (err < 0)) u++;
    else u--;
    memcpy(&r, &u, 8);
    return (float)r;
}

/* log256_ps of avx_mathfun.h (cephes logf) for one lane, with the FMA
 * contractions GCC made in PyTorch's AVX2 build (fma_f32 marks each one).
 * x in (0, 1] here. */
static float avx_logf(float x) {
    if (x < f32_bits(0x00800000u)) x = f32_bits(0x00800000u); /* cut off denormals */
    float e = (float)((int32_t)(bits_f32(x) >> 23) - 0x7f);
    x = f32_bits((bits_f32(x) & ~0x7f800000u) | bits_f32(0.5f)); /* mantissa in [0.5, 1) */
    e = e + 1.0f;
    int below = x < 0.707106781186547524f; /* cephes_SQRTHF */
    float tmp = below ? x : 0.0f;
    x = x - 1.0f;
    e = e - (below ? 1.0f : 0.0f);
    x = tmp + x;
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = fma_f32(y, x, -1.1514610310E-1f);
    y = fma_f32(y, x, 1.1676998740E-1f);
    y = fma_f32(y, x, -1.2420140846E-1f);
    y = fma_f32(y, x, 1.4249322787E-1f);
    y = fma_f32(y, x, -1.6668057665E-1f);
    y = fma_f32(y, x, 2.0000714765E-1f);
    y = fma_f32(y, x, -2.4999993993E-1f);
    y = fma_f32(y, x, 3.3333331174E-1f);
    y = y * x;
    y = fma_f32(y, z, e * -2.12194440e-4f);
    y = fma_f32(-z, 0.5f, y);
    x = x + y;
    return fma_f32(e, 0.693359375f, x);
}

/* sincos256_ps of avx_mathfun.h (cephes sinf/cosf) for one lane, with the
 * FMA contractions of PyTorch's AVX2 build. x in [0, 2 pi) here. */
static void avx_sincosf(float x, float *s, float *c) {
    uint32_t sign_sin = bits_f32(x) & 0x80000000u;
    x = fabsf(x);
    int32_t j = (int32_t)(x * 1.27323954473516f); /* 4/pi, truncating conversion */
    j = (j + 1) & ~1;
    float y = (float)j;
    sign_sin ^= (uint32_t)(j & 4) << 29;
    int poly_sin = (j & 2) == 0; /* the sine polynomial gives sin, else cos */
    uint32_t sign_cos = (uint32_t)(~(j - 2) & 4) << 29;
    x = fma_f32(y, -0.78515625f, x); /* extended precision modular arithmetic */
    x = fma_f32(y, -2.4187564849853515625e-4f, x);
    x = fma_f32(y, -3.77489497744594108e-8f, x);
    float z = x * x;
    float yc = 2.443315711809948E-005f; /* cosine polynomial, 0 <= x <= pi/4 */
    yc = fma_f32(yc, z, -1.388731625493765E-003f);
    yc = fma_f32(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = fma_f32(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = -1.9515295891E-4f; /* sine polynomial */
    ys = fma_f32(ys, z, 8.3321608736E-3f);
    ys = fma_f32(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fma_f32(ys, x, x);
    float ysin2 = poly_sin ? ys : 0.0f, ysin1 = poly_sin ? 0.0f : yc;
    float sv = ysin1 + ysin2, cv = (yc - ysin1) + (ys - ysin2);
    *s = f32_bits(bits_f32(sv) ^ sign_sin);
    *c = f32_bits(bits_f32(cv) ^ sign_cos);
}

/* normal_fill_16_AVX2: Box-Muller on pairs (j, j+8) of 16 uniforms. */
static void normal_fill_16(float *d) {
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j], u2 = d[j + 8]; /* [0,1) -> (0,1] for the log */
        float radius = sqrtf(avx_logf(u1) * -2.0f);
        float s, c;
        avx_sincosf(two_pi * u2, &s, &c);
        d[j] = radius * c;     /* * std + mean with std 1, mean 0: exact */
        d[j + 8] = radius * s;
    }
}

void torch_gen_randn(TorchGen *m, float *out, int64_t n) {
    if (n >= 16) { /* normal_fill_AVX2 */
        for (int64_t i = 0; i < n; i++) out[i] = mt_uniform_f32(m);
        for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
        if (n % 16 != 0) { /* recompute the last 16 values from fresh uniforms */
            float *d = out + n - 16;
            for (int i = 0; i < 16; i++) d[i] = mt_uniform_f32(m);
            normal_fill_16(d);
        }
        return;
    }
    /* n < 16: at::normal_distribution<double>, one Box-Muller pair per two
     * values; the second is cached in the generator, across calls. */
    for (int64_t i = 0; i < n; i++) {
        if (m->has_cached) { out[i] = (float)m->cached; m->has_cached = 0; continue; }
        double u1 = mt_uniform_f64(m), u2 = mt_uniform_f64(m);
        double r = sqrt(-2.0 * log1p(-u2)), theta = 2.0 * 3.14159265358979323846 * u1;
        m->cached = r * sin(theta);
        m->has_cached = 1;
        out[i] = (float)(r * cos(theta));
    }
}

void randn_torch(uint64_t seed, float *out, int64_t n) {
    TorchGen m;
    torch_gen_seed(&m, seed);
    torch_gen_randn(&m, out, n);
}

/* ============================================================================
 * The default negative prompt (docs/MODEL.md 1.3), as octal escapes of its UTF-8:
 * 色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，
 * 最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，
 * 画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，
 * 杂乱的背景，三条腿，背景人很多，倒着走 */

const char *wan_default_negative_prompt(void) {
    return
        "\350\211\262\350\260\203\350\211\263\344\270\275\357\274\214\350\277\207"
        "\346\233\235\357\274\214\351\235\231\346\200\201\357\274\214\347\273\206"
        "\350\212\202\346\250\241\347\263\212\344\270\215\346\270\205\357\274\214"
        "\345\255\227\345\271\225\357\274\214\351\243\216\346\240\274\357\274\214"
        "\344\275\234\345\223\201\357\274\214\347\224\273\344\275\234\357\274\214"
        "\347\224\273\351\235\242\357\274\214\351\235\231\346\255\242\357\274\214"
        "\346\225\264\344\275\223\345\217\221\347\201\260\357\274\214\346\234\200"
        "\345\267\256\350\264\250\351\207\217\357\274\214\344\275\216\350\264\250"
        "\351\207\217\357\274\214\112\120\105\107\345\216\213\347\274\251\346\256"
        "\213\347\225\231\357\274\214\344\270\221\351\231\213\347\232\204\357\274"
        "\214\346\256\213\347\274\272\347\232\204\357\274\214\345\244\232\344\275"
        "\231\347\232\204\346\211\213\346\214\207\357\274\214\347\224\273\345\276"
        "\227\344\270\215\345\245\275\347\232\204\346\211\213\351\203\250\357\274"
        "\214\347\224\273\345\276\227\344\270\215\345\245\275\347\232\204\350\204"
        "\270\351\203\250\357\274\214\347\225\270\345\275\242\347\232\204\357\274"
        "\214\346\257\201\345\256\271\347\232\204\357\274\214\345\275\242\346\200"
        "\201\347\225\270\345\275\242\347\232\204\350\202\242\344\275\223\357\274"
        "\214\346\211\213\346\214\207\350\236\215\345\220\210\357\274\214\351\235"
        "\231\346\255\242\344\270\215\345\212\250\347\232\204\347\224\273\351\235"
        "\242\357\274\214\346\235\202\344\271\261\347\232\204\350\203\214\346\231"
        "\257\357\274\214\344\270\211\346\235\241\350\205\277\357\274\214\350\203"
        "\214\346\231\257\344\272\272\345\276\210\345\244\232\357\274\214\345\200"
        "\222\347\235\200\350\265\260";
}
