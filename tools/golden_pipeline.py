#!/usr/bin/python3
"""End-to-end goldens: the whole pipeline (tools/reference/pipeline.py, float64)
on the tiny model directory golden/models/tiny (written first by
tools/write_tiny_model.py), for tests/test_pipeline.c and tests/test_cli.c.

golden/pipeline/case_<name>.safetensors holds tokens, tokens_neg, context,
context_neg (when cfg > 1), noise, timesteps, latent.step{k}, latent.final,
video (docs/MODEL.md section 9), F32 (ids I32), with the settings in __metadata__:
  a: unipc, 4 steps, cfg 4, 32x32x5 (the model's defaults)
  b: euler, 3 steps, cfg 1 (no negative pass), 48x32x9, a prompt that needs cleaning
  c: unipc, 20 steps, cfg 5, 32x32x5
  d: distill, --timesteps 1000,750,500,250 --shift 5, cfg 1 (Self-Forcing's
     schedule; fresh noise from the seed's stream)
  e: euler on a listed schedule 999,800,500,200, shift 3, cfg 4
  f, g, h: unipc 20 steps cfg 5 (case c's settings) with the step caches
     teacache, teacache-ret and fbcache; they also hold cache.computed
     [steps, 2] (I32: 1 computed, 0 reused) and cache.metric (the distance
     each decision compared with the threshold, NaN where none)
  i: the same with magcache (MagCache) on magnitude ratios calibrated by
     the reference on case c's uncached run (magcache-calibrate), held as
     cache.ratios [steps, 2] (F64; step 0: 1); also mag.published.<dim>.<S>
     [S, 2] (F64): the published Wan2.1 tables resampled to S steps
  j: the same with easycache (EasyCache)
Case a also holds `velocity`: the DiT alone on (noise, timesteps[0], context),
the expected output of `t2v stage dit` (tests/test_cli.c).
"""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402
import write_tiny_model  # noqa: E402
from reference import cache as step_cache  # noqa: E402
from reference import dit, pipeline  # noqa: E402

ROOT = os.path.dirname(here)
OUT = os.path.join(ROOT, "golden", "pipeline")

MAG_SPEC, EASY_SPEC = "magcache:0.25,3,0.2", "easycache:0.6,4"
CASES = [
    dict(name="a", prompt="a red circle moving to the right", negative="a blurry picture",
         width=32, height=32, frames=5, steps=4, cfg=4.0, shift=3.0, sampler="unipc", seed=42),
    dict(name="b", prompt="  The small&amp;amp;dog\tis  jumping\n over the \u201chill\u201d  ",
         negative="", width=48, height=32, frames=9, steps=3, cfg=1.0, shift=5.0, sampler="euler",
         seed=7),
    dict(name="c", prompt="a green bird flying over the bridge", negative="a dark blurry picture",
         width=32, height=32, frames=5, steps=20, cfg=5.0, shift=3.0, sampler="unipc", seed=1234),
    dict(name="d", prompt="a red circle moving to the right", negative="", width=32, height=32, frames=5,
         steps=4, cfg=1.0, shift=5.0, sampler="distill", seed=42, timesteps="1000,750,500,250"),
    dict(name="e", prompt="a green bird flying over the bridge", negative="a blurry picture", width=32,
         height=32, frames=5, steps=4, cfg=4.0, shift=3.0, sampler="euler", seed=5, timesteps="999,800,500,200"),
]
for _name, _kind, _thresh in (("f", "teacache", 1.2), ("g", "teacache-ret", 1.0), ("h", "fbcache", 0.3)):
    CASES.append(dict(name=_name, prompt="a green bird flying over the bridge", negative="a dark blurry picture",
                      width=32, height=32, frames=5, steps=20, cfg=5.0, shift=3.0, sampler="unipc", seed=1234,
                      cache="%s:%g" % (_kind, _thresh)))
for _name, _spec in (("i", MAG_SPEC), ("j", EASY_SPEC)):
    CASES.append(dict(CASES[2], name=_name, cache=_spec))
PUBLISHED_STEPS = (50, 20, 7, 1)


def cache_setting(spec, ratios=None):
    """--cache's text -> (kind, T, options) for reference/cache.py; magcache
    gets `ratios` (the reference's calibration)."""
    kind, thresh, opts = step_cache.parse_spec(spec)
    if kind == "magcache":
        opts["ratios"] = ratios
    return kind, thresh, opts


def calibrate(m, c):
    """magcache-calibrate on case c's settings: [steps, 2] ratios, step 0 = 1."""
    out = pipeline.generate(m, c["prompt"], c["negative"], c["width"], c["height"], c["frames"], c["steps"],
                            c["cfg"], c["shift"], c["sampler"], c["seed"], None, ("magcache-calibrate", 0.0))
    r = out["cache.metric"].clone()
    r[0, :] = 1.0
    return r


def main():
    torch.set_num_threads(1)
    write_tiny_model.main()
    m = pipeline.Model(write_tiny_model.OUT)
    os.makedirs(OUT, exist_ok=True)
    ratios = None
    for c in CASES:
        ts = [float(v) for v in c["timesteps"].split(",")] if "timesteps" in c else None
        if c["name"] == "i":
            ratios = calibrate(m, c)
        cache = cache_setting(c["cache"], ratios.reshape(-1).tolist() if ratios is not None else None) \
            if "cache" in c else None
        out = pipeline.generate(m, c["prompt"], c["negative"], c["width"], c["height"], c["frames"],
                                c["steps"], c["cfg"], c["shift"], c["sampler"], c["seed"], ts, cache)
        if c["name"] == "i":
            out["cache.ratios"] = ratios
            for dim in (1536, 5120):
                for n in PUBLISHED_STEPS:
                    out["mag.published.%d.%d" % (dim, n)] = step_cache.mag_table(n, dim)
        if c["name"] == "a":
            out["velocity"] = dit.forward(m.dit, m.cfg, out["noise"], int(out["timesteps"][0]), out["context"])
        tensors = {}
        for k, v in out.items():
            int_valued = k.startswith("tokens") or k == "cache.computed"
            f64 = k == "cache.ratios" or k.startswith("mag.")
            tensors[k] = v.to(torch.int32) if int_valued else v if f64 else v.to(torch.float32)
        meta = {k: ("%g" % v if isinstance(v, float) else v) for k, v in c.items() if k != "name"}
        meta.update({"model": "golden/models/tiny", "compute": "float64",
                     "made_by": "tools/golden_pipeline.py"})
        path = os.path.join(OUT, "case_%s.safetensors" % c["name"])
        st.save(path, tensors, meta)
        v = out["video"]
        print("  case_%s: tokens %s, latent rms %.3f, video rms %.3f, clamped %.1f%%, %d bytes" % (
            c["name"], out["tokens"].tolist(), out["latent.final"].pow(2).mean().sqrt().item(),
            v.pow(2).mean().sqrt().item(), 100.0 * (v.abs() >= 1).double().mean().item(),
            os.path.getsize(path)))
        if "cache.computed" in out:
            print("    %s computed %s\n    metric %s" % (c["cache"], out["cache.computed"].t().tolist(),
                                                        [["%.4f" % v for v in r] for r in out["cache.metric"].t().tolist()]))


if __name__ == "__main__":
    main()
