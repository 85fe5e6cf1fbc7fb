"""Flow-matching sampler of Wan2.1, independent PyTorch reference (float64).

Written from docs/MODEL.md section 3 (3.1 schedule, 3.2 UniPC, 3.3
Euler) and the structure of the official FlowUniPCMultistepScheduler
(set_timesteps, convert_model_output, multistep_uni_p_bh_update,
multistep_uni_c_bh_update, step), never from ref/. UniPC is written for the
general order with the linear solve of docs/MODEL.md 3.2; Wan uses order 2.

Every tensor op runs in `dtype` (float64 for the goldens). The scheduler's
sigma array is float32 (docs/MODEL.md 3.1 step 5); its values are used as given.
"""

import numpy as np
import torch

# docs/MODEL.md 1.3: the official default negative prompt (137 characters, 403 bytes).
DEFAULT_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，"
    "最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，"
    "画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走")

NUM_TRAIN_TIMESTEPS = 1000


# --- schedule (docs/MODEL.md 3.1) --------------------------------------------------

def schedule(steps, shift):
    """Returns (sigmas float32 numpy [steps+1] with final 0, timesteps int64
    numpy [steps]) as FlowUniPCMultistepScheduler(shift=1).set_timesteps(
    steps, shift=shift) builds them."""
    # Training grid: alphas = linspace(1, 1/1000, 1000)[::-1], sigmas = 1 - alphas, float32.
    alphas = np.linspace(1, 1 / NUM_TRAIN_TIMESTEPS, NUM_TRAIN_TIMESTEPS)[::-1].copy()
    train_sigmas = torch.from_numpy(1.0 - alphas).to(torch.float32)
    sigma_max = train_sigmas[0].item()   # float32(0.999) as a Python float
    sigma_min = train_sigmas[-1].item()  # 0.0
    s = np.linspace(sigma_max, sigma_min, steps + 1).copy()[:-1]
    s = shift * s / (1 + (shift - 1) * s)
    timesteps = (s * NUM_TRAIN_TIMESTEPS).astype(np.int64)  # truncation toward zero
    sigmas = np.concatenate([s, [0.0]]).astype(np.float32)
    return sigmas, timesteps


# --- UniPC (docs/MODEL.md 3.2) -----------------------------------------------------

class FlowUniPC:
    """solver_order 2, bh2, predict_x0, lower_order_final, corrector on every
    step but the first, final_sigmas_type "zero"."""

    def __init__(self, sigmas, dtype=torch.float64, solver_order=2):
        self.sigmas = torch.as_tensor(np.asarray(sigmas), dtype=dtype)
        self.steps = len(sigmas) - 1
        self.order = solver_order
        self.dtype = dtype
        self.model_outputs = [None] * solver_order
        self.last_sample = None
        self.this_order = None
        self.lower_order_nums = 0

    def _alpha_sigma_lambda(self, i):
        sigma = self.sigmas[i]
        alpha = 1 - sigma
        return alpha, sigma, torch.log(alpha) - torch.log(sigma)

    def _uni_p(self, m_list, x, i, order):
        """Predictor: x_i -> x_{i+1} from the x0 predictions m_list (last = m_i)."""
        m0 = m_list[-1]
        alpha_t, sigma_t, lambda_t = self._alpha_sigma_lambda(i + 1)
        alpha_s0, sigma_s0, lambda_s0 = self._alpha_sigma_lambda(i)
        h = lambda_t - lambda_s0
        rks, d1s = [], []
        for k in range(1, order):
            mi = m_list[-(k + 1)]
            lambda_si = self._alpha_sigma_lambda(i - k)[2]
            rk = (lambda_si - lambda_s0) / h
            rks.append(rk)
            d1s.append((mi - m0) / rk)
        hh = -h
        h_phi_1 = torch.expm1(hh)
        b_h = h_phi_1  # bh2
        x_t_ = sigma_t / sigma_s0 * x - alpha_t * h_phi_1 * m0
        if order == 1:
            return x_t_
        if order == 2:
            rhos = torch.tensor([0.5], dtype=self.dtype)  # hard-coded in the official code
        else:
            R, b = self._rb(rks, hh, h_phi_1, b_h, order)
            rhos = torch.linalg.solve(R[:-1, :-1], b[:-1])
        pred_res = sum(r * d for r, d in zip(rhos, d1s))
        return x_t_ - alpha_t * b_h * pred_res

    def _rb(self, rks, hh, h_phi_1, b_h, order):
        """R[j] = (r_1^j, ..., r_{p-1}^j, 1^j), b_j = g_j j!/B (docs/MODEL.md 3.2)."""
        rks = torch.stack([torch.as_tensor(r, dtype=self.dtype) for r in rks] +
                          [torch.tensor(1.0, dtype=self.dtype)])
        R, b = [], []
        h_phi_k = h_phi_1 / hh - 1
        factorial = 1
        for j in range(1, order + 1):
            R.append(torch.pow(rks, j - 1))
            b.append(h_phi_k * factorial / b_h)
            factorial *= j + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        return torch.stack(R), torch.stack(b)

    def _uni_c(self, m_t, last_sample, x_t, i, order):
        """Corrector at step i: history still holds m_{i-1} (last), m_{i-2}."""
        m_list = self.model_outputs
        m0 = m_list[-1]
        alpha_t, sigma_t, lambda_t = self._alpha_sigma_lambda(i)
        alpha_s0, sigma_s0, lambda_s0 = self._alpha_sigma_lambda(i - 1)
        h = lambda_t - lambda_s0
        rks, d1s = [], []
        for k in range(1, order):
            mi = m_list[-(k + 1)]
            lambda_si = self._alpha_sigma_lambda(i - 1 - k)[2]
            rk = (lambda_si - lambda_s0) / h
            rks.append(rk)
            d1s.append((mi - m0) / rk)
        hh = -h
        h_phi_1 = torch.expm1(hh)
        b_h = h_phi_1
        if order == 1:
            rhos = torch.tensor([0.5], dtype=self.dtype)
        else:
            R, b = self._rb(rks, hh, h_phi_1, b_h, order)
            rhos = torch.linalg.solve(R, b)
        x_t_ = sigma_t / sigma_s0 * last_sample - alpha_t * h_phi_1 * m0
        corr_res = sum(r * d for r, d in zip(rhos[:-1], d1s)) if d1s else 0
        d1_t = m_t - m0
        return x_t_ - alpha_t * b_h * (corr_res + rhos[-1] * d1_t)

    def step(self, v, i, x):
        """x_i (uncorrected) and the model output v at x_i -> x_{i+1}."""
        m = x - self.sigmas[i] * v  # convert_model_output: x0 prediction
        if i > 0 and self.last_sample is not None:
            x = self._uni_c(m, self.last_sample, x, i, self.this_order)
        self.model_outputs = self.model_outputs[1:] + [m]
        order = min(self.order, self.steps - i)  # lower_order_final
        self.this_order = min(order, self.lower_order_nums + 1)  # warm-up
        self.last_sample = x
        # At the last step sigma_N = 0: lambda = +inf, expm1(-inf) = -1, so
        # x_N = 0 x + m_{N-1} (docs/MODEL.md 3.2 step 7), computed here as written.
        x_next = self._uni_p(self.model_outputs, x, i, self.this_order)
        if self.lower_order_nums < self.order:
            self.lower_order_nums += 1
        return x_next


# --- Euler (docs/MODEL.md 3.3) -----------------------------------------------------

def euler_step(sigmas, v, i, x):
    return x + (float(sigmas[i + 1]) - float(sigmas[i])) * v


# --- guidance and the loop (docs/MODEL.md 0.6) -------------------------------------

def cfg_combine(v_cond, v_uncond, g):
    return v_uncond + g * (v_cond - v_uncond)


def sample(noise, steps, shift, cfg, solver, model, dtype=torch.float64, trace=None):
    """model(x, t_int, cond) -> v. cfg <= 1 uses v_cond alone (one pass per
    step). trace, when a list, receives x_{i+1} after each step."""
    sigmas, timesteps = schedule(steps, shift)
    x = noise.to(dtype)
    unipc = FlowUniPC(sigmas, dtype) if solver == "unipc" else None
    sig = torch.as_tensor(sigmas, dtype=dtype)
    for i in range(steps):
        t = int(timesteps[i])
        v = model(x, t, 1)
        if cfg > 1:
            v = cfg_combine(v, model(x, t, 0), cfg)
        x = unipc.step(v, i, x) if unipc else euler_step(sig, v, i, x)
        if trace is not None:
            trace.append(x)
    return x


# --- the toy velocity model shared with tests/test_sampler.c ------------------

def toy_model(A, b, ctx_cond, ctx_uncond):
    """v[c, p] = x[c, p] - tanh(sum_k A[c, k] x[k, p] + b[c] t / 1000 + ctx[c]),
    a contractive flow whose x0 lies in [-1, 1]. x: [C, ...]."""
    def model(x, t, cond):
        C = x.shape[0]
        xf = x.reshape(C, -1)
        ctx = ctx_cond if cond else ctx_uncond
        pre = A.to(x.dtype) @ xf + (b.to(x.dtype) * (t / 1000.0) + ctx.to(x.dtype))[:, None]
        return (xf - torch.tanh(pre)).reshape(x.shape)
    return model


# --- listed schedules and the distill sampler (docs/MODEL.md 3.5) ---------------

def listed_schedule(ts, shift):
    """ts: the listed timesteps t_k in (0, 1000], decreasing. Returns (sigmas
    float64 numpy [K+1] with final 0, model timesteps 1000 sigma_k [K]):
    s = t_k / 1000, sigma_k = shift s / (1 + (shift - 1) s), not rounded.
    The model timesteps are rounded to float32: the DiT's timestep input is
    a float32 tensor in Wan's pipelines (the schedulers' timesteps)."""
    s = np.asarray(ts, dtype=np.float64) / NUM_TRAIN_TIMESTEPS
    sig = shift * s / (1 + (shift - 1) * s)
    return np.concatenate([sig, [0.0]]), (sig * NUM_TRAIN_TIMESTEPS).astype(np.float32).astype(np.float64)


def renoise_stream(seed, shape, count):
    """The distill sampler's fresh noise: after torch.manual_seed(seed) the
    first torch.randn(shape) is the initial noise, the next `count` are
    eps_0, eps_1, ... (float32, CPU; docs/NOISE.md)."""
    torch.manual_seed(seed)
    torch.randn(shape)
    return [torch.randn(shape) for _ in range(count)]


def sample_listed(noise, ts, shift, cfg, solver, model, eps=None, dtype=torch.float64, trace=None):
    """The loop of `sample` on a listed schedule; the model sees 1000 sigma_k
    (a fraction). solver "distill": x0 = x - sigma_k v; before the last step
    x = (1 - sigma_{k+1}) x0 + sigma_{k+1} eps[k]; returns the last x0."""
    sigmas, model_t = listed_schedule(ts, shift)
    x = noise.to(dtype)
    unipc = FlowUniPC(sigmas, dtype) if solver == "unipc" else None
    K = len(ts)
    for i in range(K):
        t = float(model_t[i])
        v = model(x, t, 1)
        if cfg > 1:
            v = cfg_combine(v, model(x, t, 0), cfg)
        if solver == "distill":
            x0 = x - float(sigmas[i]) * v
            s_next = float(sigmas[i + 1])
            x = x0 if i == K - 1 else (1 - s_next) * x0 + s_next * eps[i].to(dtype)
        elif unipc:
            x = unipc.step(v, i, x)
        else:
            x = euler_step(sigmas, v, i, x)
        if trace is not None:
            trace.append(x)
    return x
