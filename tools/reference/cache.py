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

- MagCache (Ma et al. 2025, MagCache4Wan2.1/magcache_generate.py,
  Zehong-Ma/MagCache): precalibrated magnitude ratios gamma[step, branch]
  of the blocks' residual (mean over tokens of the ratio of the residual's
  L2 norms at consecutive steps). From step int(RET * steps) on, each pass
  multiplies the running ratio by gamma, counts one more pass and adds
  |1 - ratio| to the running error; error < thresh and passes <= K: x +=
  the cached residual; else run the blocks and reset (ratio 1, error 0,
  passes 0). A table of another length is resampled per branch to the
  nearest step (numpy round of k (S0 - 1) / (S - 1); S = 1: the last).
  "magcache-calibrate" runs every pass and measures gamma.
- EasyCache (Zhou et al. 2025, EasyCache4Wan2.1/easycache_generate.py,
  H-EmbodVis/EasyCache): around the whole model (latent in, velocity
  out). The conditional pass of a step decides for both passes: in the
  first W steps and the last one run; else, once a rate k is known, add
  k * mean|x - x_prev_pass| / mean|v_last_run| to an accumulated error and
  reuse while it is < thresh (v = x + the branch's cached v - x), else run
  and zero the error. After a conditional run, k = mean|v - v_last_run| /
  mean|x - x_last_run|.

One state per guidance branch (cond, uncond), as TeaCache's even/odd passes.
"""
import re

import numpy as np
import torch

from . import dit

COEFFICIENTS = {
    ("teacache", 1536): [2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01],
    ("teacache", 5120): [-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404],
    ("teacache-ret", 1536): [-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02],
    ("teacache-ret", 5120): [-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01],
}


# MagCache4Wan2.1's published ratios for Wan2.1 T2V (50 UniPC steps), steps
# 1..49 with the conditional and unconditional pass interleaved.
MAG_RATIOS = {
    1536: [1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762, 0.99634, 0.99685, 0.99567,
           0.99586, 0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563, 0.99511, 0.99506, 0.99535, 0.99531,
           0.99552, 0.99549, 0.99541, 0.99539, 0.9954, 0.99536, 0.99489, 0.99485, 0.99518, 0.99514, 0.99484,
           0.99478, 0.99481, 0.99479, 0.99415, 0.99413, 0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386,
           0.99349, 0.99349, 0.99309, 0.99304, 0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137,
           0.99135, 0.99068, 0.99063, 0.99005, 0.99003, 0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757,
           0.98644, 0.98643, 0.98504, 0.98503, 0.9836, 0.98359, 0.98202, 0.98201, 0.97977, 0.97978, 0.97717,
           0.97718, 0.9741, 0.97411, 0.97003, 0.97002, 0.96538, 0.96541, 0.9593, 0.95933, 0.95086, 0.95089,
           0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868, 0.81838, 0.81939],
    5120: [1.02504, 1.03017, 1.00025, 1.00251, 0.9985, 0.99962, 0.99779, 0.99771, 0.9966, 0.99658, 0.99482,
           0.99476, 0.99467, 0.99451, 0.99664, 0.99656, 0.99434, 0.99431, 0.99533, 0.99545, 0.99468, 0.99465,
           0.99438, 0.99434, 0.99516, 0.99517, 0.99384, 0.9938, 0.99404, 0.99401, 0.99517, 0.99516, 0.99409,
           0.99408, 0.99428, 0.99426, 0.99347, 0.99343, 0.99418, 0.99416, 0.99271, 0.99269, 0.99313, 0.99311,
           0.99215, 0.99215, 0.99218, 0.99215, 0.99216, 0.99217, 0.99163, 0.99161, 0.99138, 0.99135, 0.98982,
           0.9898, 0.98996, 0.98995, 0.9887, 0.98866, 0.98772, 0.9877, 0.98767, 0.98765, 0.98573, 0.9857,
           0.98501, 0.98498, 0.9838, 0.98376, 0.98177, 0.98173, 0.98037, 0.98035, 0.97678, 0.97677, 0.97546,
           0.97543, 0.97184, 0.97183, 0.96711, 0.96708, 0.96349, 0.96345, 0.95629, 0.95625, 0.94926, 0.94929,
           0.93964, 0.93961, 0.92511, 0.92504, 0.90693, 0.90678, 0.8796, 0.87945, 0.86111, 0.86189],
}


def nearest_interp(src, n):
    """src resampled to n entries by the nearest index (numpy's round)."""
    src = np.asarray(src, dtype=np.float64)
    if n == 1:
        return src[-1:]
    idx = np.round(np.arange(n) * ((len(src) - 1) / (n - 1))).astype(int)
    return src[idx]


def mag_table(steps, dim=None, ratios=None):
    """[steps, 2] ratios for a run: from `ratios` (flat, 2 per step) or the
    published table of the width, each branch resampled when the length differs."""
    flat = np.array(list(ratios) if ratios is not None else [1.0, 1.0] + MAG_RATIOS[dim], dtype=np.float64)
    if len(flat) != 2 * steps:
        flat = np.stack([nearest_interp(flat[0::2], steps), nearest_interp(flat[1::2], steps)], 1).reshape(-1)
    return torch.tensor(flat.reshape(steps, 2), dtype=torch.float64)


def read_ratios(path):
    """A magnitude-ratio file (docs/MODEL.md 3.6): numbers separated by white
    space, commas or brackets, '#' comment lines; 2 per step."""
    text = "\n".join(line for line in open(path) if not line.lstrip().startswith("#"))
    return [float(v) for v in re.split(r"[\s,\[\]]+", text) if v]


def parse_spec(spec):
    """--cache's text -> (kind, thresh, options) for Cache (None for "none")."""
    if not spec or spec == "none":
        return None
    kind, _, params = spec.partition(":")
    if kind == "magcache-calibrate":
        return kind, 0.0, {}
    params, _, path = params.partition("@")
    p = params.split(",")
    opts = {}
    if kind == "magcache":
        opts = dict(max_skips=int(p[1]) if len(p) > 1 else 2, retention=float(p[2]) if len(p) > 2 else 0.2,
                    ratios=read_ratios(path) if path else None)
    if kind == "easycache" and len(p) > 1:
        opts = dict(warmup=int(p[1]))
    return kind, float(p[0]), opts


class Cache:
    def __init__(self, kind, thresh, steps, dim, max_skips=2, retention=0.2, warmup=10, ratios=None):
        self.kind, self.thresh, self.steps = kind, thresh, steps
        self.poly = np.poly1d(COEFFICIENTS.get((kind, dim), [1.0, 0.0]))
        self.ret_steps = 5 if kind == "teacache-ret" else 1
        self.cutoff = steps if kind == "teacache-ret" else steps - 1
        if kind == "magcache":
            self.K, self.mag = max_skips, mag_table(steps, dim, ratios)
            self.ret_steps, self.cutoff = int(steps * retention), steps
        if kind == "easycache":
            self.ret_steps, self.cutoff, self.calc = warmup, steps - 1, True
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
    """dit.forward with the cache consulted around the blocks (or, for
    easycache, around the whole model)."""
    if cache.kind == "easycache":
        return easy_forward(sd, cfg, latent, t, context, cache)
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
    elif cache.kind == "magcache":
        skip, metric = False, float("nan")
        if cache.step >= cache.ret_steps:
            if "residual" in st:
                st["ratio"] = st.get("ratio", 1.0) * cache.mag[cache.step, cache.branch].item()
                st["n"] = st.get("n", 0) + 1
                st["err"] = st.get("err", 0.0) + abs(1.0 - st["ratio"])
                metric = st["err"]
                skip = st["err"] < cache.thresh and st["n"] <= cache.K
            if not skip:
                st["ratio"], st["n"], st["err"] = 1.0, 0, 0.0
        cache._record(not skip, metric)
        if skip:
            x = x + st["residual"]
        else:
            x_in = x
            x = blocks(x, 0, L)
            st["residual"] = x - x_in
    elif cache.kind == "magcache-calibrate":
        x_in = x
        x = blocks(x, 0, L)
        r = x - x_in
        ratio = float("nan")
        if "residual" in st:  # mean over tokens of |r| / |r_prev| (L2 over channels)
            ratio = (r.norm(dim=-1) / st["residual"].norm(dim=-1)).mean().item()
        cache._record(True, ratio)
        st["residual"] = r
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


def easy_forward(sd, cfg, latent, t, context, cache):
    """EasyCache around dit.forward: the conditional pass (branch 0) decides
    for the step; each branch reuses its own cached v - x."""
    st = cache.state[cache.branch]
    metric = float("nan")
    if cache.branch == 0:
        cond = cache.state[0]
        calc = True
        if cache.step < cache.ret_steps or cache.step >= cache.cutoff:
            cond["err"] = 0.0
        elif "x_prev" in cond and "v_run" in cond and "k" in cond:
            pred = cond["k"] * (latent - cond["x_prev"]).abs().mean().item() / cond["v_run"].abs().mean().item()
            cond["err"] = cond.get("err", 0.0) + pred
            metric = cond["err"]
            calc = not cond["err"] < cache.thresh
            if calc:
                cond["err"] = 0.0
        cond["x_prev"] = latent.clone()
        cache.calc = calc
    skip = not cache.calc and "delta" in st
    cache._record(not skip, metric)
    if skip:
        return latent + st["delta"]
    v = dit.forward(sd, cfg, latent, t, context)
    if cache.branch == 0:
        if "v_run" in st and "x_run" in st:
            st["k"] = (v - st["v_run"]).abs().mean().item() / (latent - st["x_run"]).abs().mean().item()
        st["x_run"], st["v_run"] = latent.clone(), v
    st["delta"] = v - latent
    return v
