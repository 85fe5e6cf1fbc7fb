"""Step caching around the DiT's blocks, independent PyTorch reference (float64).

Written from the published algorithms (docs/MODEL.md 3.6), never from ref/:

- TeaCache for Wan2.1 (TeaCache4Wan2.1/teacache_generate.py,
  ali-vilab/TeaCache): on each pass, unless it is one of the first
  `ret_steps` steps or at/after `cutoff`, acc += poly(mean|m - m_prev| /
  mean|m_prev|) with m the time embedding e (or e0, the time projection, in
  its use_ret_steps mode); acc < thresh: x += the residual the blocks added
  on the last computed pass; else run the blocks and reset acc. m_prev is
  updated on every pass. The coefficients are np.poly1d's (highest first).
- First-Block-Cache (ParaAttention's first_block_cache, as in diffusers and
  ComfyUI-WaveSpeed): run block 0; r1 = its output - its input; if a
  previous r1 exists and mean|r1 - r1_prev| / mean|r1_prev| < thresh, x +=
  the residual of blocks 1.. of the last computed pass; else run them and
  keep r1 as r1_prev.

One state per guidance branch (cond, uncond), as TeaCache's even/odd passes.
"""
import numpy as np
import torch

from . import dit

COEFFICIENTS = {
    ("teacache", 1536): [2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01],
    ("teacache", 5120): [-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404],
    ("teacache-ret", 1536): [-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02],
    ("teacache-ret", 5120): [-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01],
}


class Cache:
    def __init__(self, kind, thresh, steps, dim):
        self.kind, self.thresh, self.steps = kind, thresh, steps
        self.poly = np.poly1d(COEFFICIENTS.get((kind, dim), [1.0, 0.0]))
        self.ret_steps = 5 if kind == "teacache-ret" else 1
        self.cutoff = steps if kind == "teacache-ret" else steps - 1
        self.state = [{}, {}]
        self.computed = torch.full((steps, 2), -1, dtype=torch.int32)
        self.metric = torch.full((steps, 2), float("nan"), dtype=torch.float64)
        self.step, self.branch = 0, 0

    def select(self, step, branch):
        self.step, self.branch = step, branch

    def _record(self, computed, metric=float("nan")):
        self.computed[self.step, self.branch] = int(computed)
        self.metric[self.step, self.branch] = metric


def rel_l1(a, b):
    return ((a - b).abs().mean() / b.abs().mean()).item()


def forward(sd, cfg, latent, t, context, cache):
    """dit.forward with the cache consulted around the blocks."""
    cfg = dit.full_config(cfg)
    x, grid = dit.patch_embed(sd, cfg, latent)
    e, e0 = dit.time_embed(sd, cfg, t)
    ctx = dit.embed_context(sd, cfg, context)
    freqs = dit.rope_freqs(cfg["dim"] // cfg["num_heads"])
    st = cache.state[cache.branch]

    def blocks(x, first, last):
        for i in range(first, last):
            x = dit.block_forward(sd, i, cfg, x, e0, grid, freqs, ctx)
        return x

    L = cfg["num_layers"]
    if cache.kind in ("teacache", "teacache-ret"):
        m = e0 if cache.kind == "teacache-ret" else e
        if cache.step < cache.ret_steps or cache.step >= cache.cutoff or "prev" not in st:
            skip, st["acc"], metric = False, 0.0, float("nan")
        else:
            st["acc"] += float(cache.poly(rel_l1(m, st["prev"])))
            metric = st["acc"]
            skip = st["acc"] < cache.thresh
            if not skip:
                st["acc"] = 0.0
        st["prev"] = m.clone()
        cache._record(not skip, metric)
        if skip:
            x = x + st["residual"]
        else:
            x_in = x
            x = blocks(x, 0, L)
            st["residual"] = x - x_in
    else:  # fbcache
        x_in = x
        x = blocks(x, 0, 1)
        r1 = x - x_in
        metric = rel_l1(r1, st["r1"]) if "r1" in st else float("nan")
        if metric < cache.thresh:
            cache._record(False, metric)
            x = x + st["residual"]
        else:
            cache._record(True, metric)
            st["r1"] = r1
            x_1 = x
            x = blocks(x, 1, L)
            st["residual"] = x - x_1
    out = dit.head_forward(sd, cfg, x, e)
    return dit.unpatchify(out, grid, cfg)
