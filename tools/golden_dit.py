#!/usr/bin/python3
"""Goldens for the DiT (WanModel, docs/MODEL.md section 2), from the float64
PyTorch reference tools/reference/dit.py. Writes:

  golden/dit/tiny_config.json, tiny_weights.safetensors   2-layer tiny model
  golden/dit/tiny_a.safetensors, tiny_b.safetensors       two cases (b: odd sizes)
      inputs latent, timestep, context; every intermediate: patch, e, e0,
      context_emb, block.N, head, velocity
  golden/dit/tiny_a_precision_bf16.safetensors, tiny_b_precision_bf16...
      the same cases through `--precision bf16`'s rounding points
      (reference/bf16.py): context_emb, block.N, head, velocity
  golden/dit/tiny_t_frac.safetensors     the tiny model at t = 737.25
  golden/dit/tiny_t_frames.safetensors   one t per token: latent frame 0 at
      t = 0, the others 812.5 (Wan2.2 TI2V's form); e [N, dim], e0 [N, 6, dim]
  golden/dit/tiny_t_tokens.safetensors   one t per token, all distinct
  golden/dit/full_block.safetensors   one block at full 1.3B width; weights
      from the shared PRNG (tools/prng.py = tests/harness.h), see full_weights()
  golden/models/dit-1layer*/          official-layout one-layer checkpoints
  golden/dit/model1.safetensors       their inputs and reference velocities
      (velocity: F32 weights; velocity_bf16: the bf16-rounded weights)
"""
import json
import math
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import st  # noqa: E402
import write_dit_checkpoint  # noqa: E402
from prng import prng_fill  # noqa: E402
from reference import dit  # noqa: E402

OUT = os.path.join(root, "golden", "dit")

TINY = {"_class_name": "WanModel", "dim": 64, "eps": 1e-06, "ffn_dim": 128, "freq_dim": 256,
        "in_dim": 16, "model_type": "t2v", "num_heads": 4, "num_layers": 2, "out_dim": 16,
        "text_dim": 32, "text_len": 16}

FULL = {"dim": 1536, "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "num_heads": 12,
        "num_layers": 1, "out_dim": 16, "text_dim": 4096, "text_len": 512, "eps": 1e-6}
FULL_SEED0 = 1000  # tensor i (param_shapes order) uses seed FULL_SEED0 + i


def f64(sd):
    return {k: v.to(torch.float64) for k, v in sd.items()}


def run_case(sd, cfg, latent, t, context):
    """t: a number, or a float32 tensor [N] (one per token; the reference
    sees its float32 values, as the C code reads them)."""
    trace = {}
    tt = t.double() if torch.is_tensor(t) else t
    vel = dit.forward(f64(sd), cfg, latent.double(), tt, context.double(), trace)
    ts = t.float() if torch.is_tensor(t) else torch.tensor([float(t)], dtype=torch.float32)
    out = {"latent": latent.float(), "timestep": ts, "context": context.float()}
    for k, v in trace.items():
        out[k] = v.float()
    out["velocity"] = vel.float()
    return out


def tiny_cases():
    cfg = TINY
    sd = write_dit_checkpoint.random_weights(cfg, seed=7)
    with open(os.path.join(OUT, "tiny_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    st.save(os.path.join(OUT, "tiny_weights.safetensors"), sd)
    g = torch.Generator().manual_seed(11)
    cases = {"tiny_a": ((16, 3, 8, 8), 937, 7), "tiny_b": ((16, 5, 6, 10), 421, 16)}
    for name, (shape, t, L) in cases.items():
        latent = torch.randn(shape, generator=g, dtype=torch.float64).float()
        context = torch.randn((L, cfg["text_dim"]), generator=g, dtype=torch.float64).float()
        st.save(os.path.join(OUT, name + ".safetensors"), run_case(sd, cfg, latent, t, context))
        out = run_case(sd, dict(cfg, precision="bf16"), latent, t, context)
        keep = ["context_emb", "head", "velocity"] + ["block.%d" % i for i in range(cfg["num_layers"])]
        st.save(os.path.join(OUT, name + "_precision_bf16.safetensors"), {k: out[k] for k in keep})


def tiny_time_cases():
    """The tiny model (tiny_cases' weights) at a fractional t and with one t
    per token: the same function of t as the integer cases, t a float."""
    cfg = TINY
    sd = write_dit_checkpoint.random_weights(cfg, seed=7)
    g = torch.Generator().manual_seed(17)
    pt, ph, pw = dit.DEFAULTS["patch_size"]

    def inputs(shape, L):
        latent = torch.randn(shape, generator=g, dtype=torch.float64).float()
        context = torch.randn((L, cfg["text_dim"]), generator=g, dtype=torch.float64).float()
        return latent, context

    def tokens(shape):
        return (shape[1] // pt) * (shape[2] // ph) * (shape[3] // pw)

    latent, context = inputs((16, 3, 8, 8), 7)
    st.save(os.path.join(OUT, "tiny_t_frac.safetensors"), run_case(sd, cfg, latent, 737.25, context))
    # Wan2.2 TI2V: the conditioning (first) latent frame's tokens at t = 0
    shape = (16, 4, 6, 8)
    latent, context = inputs(shape, 9)
    per_frame = tokens(shape) // (shape[1] // pt)
    t = torch.full((tokens(shape),), 812.5, dtype=torch.float32)
    t[:per_frame] = 0.0
    st.save(os.path.join(OUT, "tiny_t_frames.safetensors"), run_case(sd, cfg, latent, t, context))
    # every token its own t (fractional, in [0, 1000), random order)
    shape = (16, 2, 6, 10)
    latent, context = inputs(shape, 16)
    t = (torch.rand(tokens(shape), generator=g, dtype=torch.float64) * 1000).float()
    assert len(set(t.tolist())) == t.numel()
    st.save(os.path.join(OUT, "tiny_t_tokens.safetensors"), run_case(sd, cfg, latent, t, context))


def full_spec(name, shape):
    """(scale, offset) of the PRNG fill for one tensor; mirrored in tests/test_dit.c."""
    if name.endswith("modulation"):
        return 0.5, 0.0
    if "norm" in name and name.endswith(".weight"):
        return 0.25, 1.0
    if name.endswith(".bias"):
        return 0.0625, 0.0
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    return 2.0 ** -math.floor(math.log2(math.sqrt(fan_in))), 0.0


def full_weights(cfg):
    sd = {}
    for i, (name, shape) in enumerate(dit.param_shapes(cfg).items()):
        scale, offset = full_spec(name, shape)
        n = int(np.prod(shape))
        w = torch.from_numpy(prng_fill(FULL_SEED0 + i, n, scale).reshape(shape))
        sd[name] = (w + offset).float()  # fp32 rounding, as the C test's 1.0f + x
    return sd


def full_block():
    cfg = FULL
    sd = full_weights(cfg)
    latent = torch.from_numpy(prng_fill(1, 16 * 2 * 16 * 20, 1.0).reshape(16, 2, 16, 20)).float()
    context = torch.from_numpy(prng_fill(2, 8 * 4096, 1.0).reshape(8, 4096)).float()
    out = run_case(sd, cfg, latent, 823, context)
    keep = ("latent", "timestep", "context", "e0", "block.0", "velocity")
    st.save(os.path.join(OUT, "full_block.safetensors"), {k: out[k] for k in keep})


def model_case():
    sd = write_dit_checkpoint.write_models(os.path.join(root, "golden", "models"))
    cfg = write_dit_checkpoint.CONFIG
    g = torch.Generator().manual_seed(13)
    latent = torch.randn((16, 2, 6, 4), generator=g, dtype=torch.float64).float()
    context = torch.randn((5, cfg["text_dim"]), generator=g, dtype=torch.float64).float()
    out = run_case(sd, cfg, latent, 999, context)
    sd16 = {k: v.to(torch.bfloat16).float() for k, v in sd.items()}
    out16 = run_case(sd16, cfg, latent, 999, context)
    st.save(os.path.join(OUT, "model1.safetensors"),
            {"latent": out["latent"], "timestep": out["timestep"], "context": out["context"],
             "velocity": out["velocity"], "velocity_bf16": out16["velocity"]})


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]  # names of the functions below, e.g. tiny_time_cases; none: all
    for f in (tiny_cases, tiny_time_cases, model_case, full_block):
        if not only or f.__name__ in only:
            f()
