"""Wan2.2's sampling loops, independent PyTorch reference, float64, written
from the official wan/textimage2video.py (TI2V-5B) and wan/text2video.py
(T2V-A14B):

- TI2V: the DiT takes one timestep per token. Text-to-video: every token
  gets t. Image-to-video: the encoded image z [48,1,h,w] is latent frame 0;
  the mask (0 on frame 0, 1 elsewhere) taken on the 2x2 patch grid gives
  the per-token times (0 for frame 0's tokens); the starting latent is
  (1-mask) z + mask noise (frame 0's noise drawn and discarded) and after
  every sampler step frame 0 is reset to z.
- A14B: two experts; the high-noise one while the integer timestep
  t >= boundary * 1000, the low-noise one after, each with its own guidance
  scale; one sampler (one UniPC history) through the switch.
"""
import torch

from . import sampler


def token_times(t, T, hp, wp, image):
    """[T*hp*wp] float times in token order (f, h, w): 0 on frame 0 with an image."""
    tt = torch.full((T, hp, wp), float(t), dtype=torch.float64)
    if image:
        tt[0] = 0.0
    return tt.reshape(-1)


def hold(x, z):
    x = x.clone()
    x[:, :1] = z
    return x


def sample(noise, steps, shift, solver, models, cfgs, boundary=None, image_latent=None, patch=(1, 2, 2),
           trace=None, experts=None):
    """models: [model] (TI2V) or [high, low] (A14B), each model(x, t, cond) with
    t a number or a per-token tensor; cfgs: the guidance per model (<= 1: no
    unconditional pass). experts, when a list, receives the expert of each step."""
    sigmas, timesteps = sampler.schedule(steps, shift)
    x = noise.clone()
    if image_latent is not None:
        x = hold(x, image_latent)
    unipc = sampler.FlowUniPC(sigmas, torch.float64) if solver == "unipc" else None
    sig = torch.as_tensor(sigmas, dtype=torch.float64)
    C, T, h, w = x.shape
    for i in range(steps):
        t = int(timesteps[i])
        e = 0 if len(models) == 1 or t >= boundary * 1000 else 1
        if experts is not None:
            experts.append(e)
        tt = token_times(t, T // patch[0], h // patch[1], w // patch[2], image_latent is not None) \
            if len(models) == 1 else t
        v = models[e](x, tt, 1)
        if cfgs[e] > 1:
            v = sampler.cfg_combine(v, models[e](x, tt, 0), cfgs[e])
        x = unipc.step(v, i, x) if unipc else sampler.euler_step(sig, v, i, x)
        if image_latent is not None:
            x = hold(x, image_latent)
        if trace is not None:
            trace.append(x)
    return x
