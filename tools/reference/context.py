"""Long video: sliding context windows and RIFLEx (docs/ARCHITECTURE.md,
"Long video"), written from the published descriptions, in float64.

Context windows. Each DiT pass runs on windows of `size` latent frames; the
velocities are blended over the overlaps with linear ramps and divided by
the summed weights. Two schedules, as the ComfyUI/AnimateDiff context
options define them (stride 1, open ends):
  static  windows start at 0, size - overlap, ...; the last one is moved back
          to end at the last frame. The same every step.
  uniform the start is offset by round(T * ordered_halving(step)) (the step's
          bits reversed, as a binary fraction; Python's round, half to even)
          and the windows wrap around the clip's end; a window that wraps is
          moved to end at the last frame and, when the next window does not
          hold the frame it wrapped to, a window starting there is inserted;
          repeated windows are dropped.
Weights: 1 inside; linspace(0, 1, overlap) over the first `overlap` frames
unless the window starts at frame 0; linspace(1, 0, overlap) over the last
`overlap` unless it ends at the last frame (the right ramp is written last).
A frame whose weights sum to 0 (the uniform schedule can make two windows
meet edge to edge, each with weight 0 there) takes the plain mean of the
windows holding it; the published code would divide by zero.

The chain schedule does not blend: the static windows are sampled one
after another, each through every step. The frames a window shares with
the windows before it (a prefix of it) are held as they came out: set into
the window before its first step and after each, clean, their tokens at
t = 0 (Wan2.2 TI2V's mask, over several frames); the rest of the window
starts from the clip's noise. So each window continues the clip so far.

RIFLEx (Zhao et al. 2025, Eq. 8): the intrinsic temporal RoPE frequency
(component k, 1-based, of the time axis) is replaced by 0.9 * 2 pi / L_test,
L_test the number of latent frames, so that one period spans the clip.
"""
import math

import torch


def ordered_halving(step):
    """The 64 bits of step reversed, as a fraction of 2^64."""
    v = 0
    for b in range(64):
        if (step >> b) & 1:
            v += 1 << (63 - b)
    return v / float(1 << 64)


def _static(T, size, overlap):
    out, start = [], 0
    while start < T:
        if start + size >= T:
            out.append(list(range(T - size, T)))
            break
        out.append(list(range(start, start + size)))
        start += size - overlap
    return out


def _rolls(win):
    """Index where the values drop (the window wrapped), or -1."""
    for i in range(1, len(win)):
        if win[i] < win[i - 1]:
            return i
    return -1


def _uniform(step, T, size, overlap):
    pad = int(round(T * ordered_halving(step)))
    wins = [[e % T for e in range(j, j + size)]
            for j in range(pad, T + pad - overlap, size - overlap)]
    keep, i = [], 0
    while i < len(wins):
        r = _rolls(wins[i])
        if r >= 0:
            wrapped_to = wins[i][r]
            wins[i] = list(range(T - size, T))
            if wrapped_to not in wins[(i + 1) % len(wins)]:
                wins.insert(i + 1, list(range(wrapped_to, wrapped_to + size)))
        if all(wins[i] != wins[p] for p in range(i)):
            keep.append(i)
        i += 1
    return [wins[i] for i in keep]


def windows(schedule, step, T, size, overlap):
    """Lists of latent frame indices, one per window, for one sampling step."""
    if size <= 0 or T <= size:
        return [list(range(T))]
    if schedule == "static":
        return _static(T, size, overlap)
    if schedule == "uniform":
        return _uniform(step, T, size, overlap)
    raise ValueError(schedule)


def weights(win, T, overlap):
    """Blend weight of each frame of one window (float64)."""
    w = torch.ones(len(win), dtype=torch.float64)
    if overlap > 0 and len(win) < T:
        if min(win) > 0:
            w[:overlap] = torch.linspace(0, 1, overlap, dtype=torch.float64)
        if max(win) < T - 1:
            w[len(win) - overlap:] = torch.linspace(1, 0, overlap, dtype=torch.float64)
    return w


def blended(model, schedule, size, overlap):
    """Wraps model(x, t, cond) -> v [C, T, h, w] into run(x, t, cond, step)
    that runs it on the step's windows and blends. A frame whose weights sum
    to 0 takes the plain mean of the windows holding it."""
    def run(x, t, cond, step):
        T = x.size(1)
        acc, plain = torch.zeros_like(x), torch.zeros_like(x)
        tot = torch.zeros(T, dtype=x.dtype)
        cnt = torch.zeros(T, dtype=x.dtype)
        for win in windows(schedule, step, T, size, overlap):
            w = weights(win, T, overlap)
            v = model(x[:, win], t, cond)
            acc[:, win] += v * w.view(1, -1, 1, 1)
            plain[:, win] += v
            tot[win] += w
            cnt[win] += 1
        if (cnt == 0).any():
            raise ValueError("a frame is in no window")
        weighted = tot > 0
        out = plain / cnt.view(1, -1, 1, 1)
        out[:, weighted] = acc[:, weighted] / tot[weighted].view(1, -1, 1, 1)
        return out
    return run


def chained(noise, size, overlap, steps, shift, solver, model, cfg, patch_hw, trace=None):
    """The chain schedule: noise [C, T, h, w] -> the final latent. model(x,
    t, cond) -> v, t a number or one per token ((f, h, w) order); patch_hw
    the DiT's (ph, pw). trace, when a list, gets after each step i the clip
    with every window's x_{i+1} written over its frames, in window order."""
    from . import sampler
    sigmas, timesteps = sampler.schedule(steps, shift)
    sig = torch.as_tensor(sigmas, dtype=noise.dtype)
    C, T, h, w = noise.shape
    out, done = noise.clone(), set()
    if trace is not None:
        trace.extend(noise.clone() for _ in range(steps))
    for win in _static(T, size, overlap):
        held = [f for f in win if f in done]
        assert held == win[:len(held)] and len(held) < len(win)
        x = out[:, win].clone()
        unipc = sampler.FlowUniPC(sigmas, noise.dtype) if solver == "unipc" else None
        for i in range(steps):
            t = int(timesteps[i])
            tt = t
            if held:
                tt = torch.full((size, h // patch_hw[0], w // patch_hw[1]), float(t), dtype=torch.float64)
                tt[:len(held)] = 0.0
                tt = tt.reshape(-1)
            v = model(x, tt, 1)
            if cfg > 1:
                v = sampler.cfg_combine(v, model(x, tt, 0), cfg)
            x = unipc.step(v, i, x) if unipc else sampler.euler_step(sig, v, i, x)
            x[:, :len(held)] = out[:, held]
            if trace is not None:
                trace[i][:, win] = x
        out[:, win] = x
        done.update(win)
    return out


def riflex_default_k(head_dim, trained_frames):
    """The time-axis RoPE component whose period is nearest the trained
    length in latent frames (1-based; the lower one on a tie)."""
    d = head_dim
    dim_t = d - 4 * (d // 6)
    best, best_k = None, 1
    for j in range(dim_t // 2):
        period = 2 * math.pi * 10000.0 ** (2 * j / dim_t)
        if best is None or abs(period - trained_frames) < best:
            best, best_k = abs(period - trained_frames), j + 1
    return best_k


def riflex_time_freqs(head_dim, k, L_test):
    """The time axis's frequencies with component k replaced (Eq. 8)."""
    d = head_dim
    dim_t = d - 4 * (d // 6)
    f = 1.0 / torch.pow(10000.0, torch.arange(0, dim_t, 2, dtype=torch.float64) / dim_t)
    if k:
        f[k - 1] = 0.9 * 2 * math.pi / L_test
    return f
