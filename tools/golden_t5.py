#!/usr/bin/python3
"""Goldens for the umT5 encoder (ref/lib/t5.c) from tools/reference/t5.py, in float64.

Writes
  golden/t5/tiny_bf16.safetensors, golden/t5/tiny_f32.safetensors
      a tiny encoder (dim 32, dim_attn 48 = 4 heads x 12, ffn 80, 3 layers,
      vocab 128, 32 buckets) with seeded random weights (non-trivial norm
      gains) stored as BF16 / F32 under the official names; `tokens` (100 real
      tokens, so relative distances reach the saturated bucket), every layer's
      output `layer.{l}`, `context` (unpadded run) and `context.padded` (the
      official padded form, text_len 128, all 128 rows); and a short prompt
      `tokens.short` (7 tokens) with `context.short.padded` (text_len 16).
  golden/t5/tiny_precision_bf16.safetensors
      the bf16-weight encoder on `tokens` through `--precision bf16`'s
      rounding points (reference/bf16.py): layer.{l}, context; and
      context.short (`tokens.short`, unpadded)
  golden/t5/full_layer.safetensors
      one full-width layer (dim 4096, 64 heads, ffn 10240, vocab 64) whose
      weights are NOT stored: they come from tools/prng.py with the seeds
      below, rounded to bf16, exactly as tests/test_t5.c makes them with
      harness.h prng_fill. Only `tokens`, `layer.0` and `context` are stored.
  golden/models/t5-tiny/models_t5_umt5-xxl-enc-bf16.pth
      the bf16 tiny encoder written by torch.save in the official layout
      (an OrderedDict of the official names, BFloat16 storages).

"bf16" means weights stored as bf16; the reference widens those exact values
to float64 and computes in float64 (not bf16 activations, unlike the
official code; t2v computes in fp32, the numerics contract).
"""
import collections
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from prng import prng_fill  # noqa: E402
from reference import t5  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "golden", "t5")
PTH_DIR = os.path.join(ROOT, "golden", "models", "t5-tiny")

TINY = dict(vocab=128, dim=32, dim_attn=48, num_heads=4, dim_ffn=80, num_layers=3, num_buckets=32)
FULL = dict(vocab=64, dim=4096, dim_attn=4096, num_heads=64, dim_ffn=10240, num_layers=1,
            num_buckets=32)
FULL_SEED = 0x7535000   # tensor k of full_layer_specs() uses seed FULL_SEED + k
FULL_LEN = 16


class _Shapes:
    def __init__(self, c):
        self.__dict__.update(c)


def tiny_weights(seed):
    """float64 draws; the callers round them to the stored dtype."""
    g = torch.Generator().manual_seed(seed)
    c = _Shapes(TINY)
    sd = collections.OrderedDict()
    for name, shape in t5.tensor_shapes(c).items():
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
            w = 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)         # gains in [0.5, 1.5)
        elif name.endswith("pos_embedding.embedding.weight"):
            w = 1.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif name == "token_embedding.weight":
            w = torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            w = torch.randn(shape, generator=g, dtype=torch.float64) / (shape[1] ** 0.5)
            if name.endswith("attn.q.weight") or name.endswith("attn.k.weight"):
                w = 0.6 * w   # logits (no 1/sqrt(d) in T5) of std ~2, max ~10
        sd[name] = w
    return sd


def check_padded(ctx, ctx_padded, what):
    """The padded (official) form equals the unpadded one on the real rows."""
    L = ctx.shape[0]
    d = (ctx - ctx_padded[:L]).abs().max().item()
    rms = ctx.pow(2).mean().sqrt().item()
    print("  %s: max|unpadded - padded[:L]| = %.3e (rms %.3f)" % (what, d, rms))
    assert d <= 1e-13 * rms, what


def tiny_case(stored_dtype, fname, seed):
    sd_stored = collections.OrderedDict(
        (k, v.to(stored_dtype)) for k, v in tiny_weights(seed).items())
    sd = {k: v.to(torch.float64) for k, v in sd_stored.items()}
    cfg = t5.Config(sd)
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.cat([torch.randint(2, cfg.vocab, (99,), generator=g), torch.tensor([1])])
    ids_short = torch.cat([torch.randint(2, cfg.vocab, (6,), generator=g), torch.tensor([1])])
    layers = []
    ctx = t5.encode(sd, cfg, ids, layers=layers)
    ctx_padded = t5.encode_padded(sd, cfg, ids, 128)
    check_padded(ctx, ctx_padded, fname + " tokens")
    ctx_short = t5.encode(sd, cfg, ids_short)
    ctx_short_padded = t5.encode_padded(sd, cfg, ids_short, 16)
    check_padded(ctx_short, ctx_short_padded, fname + " tokens.short")

    out = collections.OrderedDict(sd_stored)
    out["tokens"] = ids.to(torch.int32).numpy()
    for i, x in enumerate(layers):
        out["layer.%d" % i] = x.to(torch.float32)
    out["context"] = ctx.to(torch.float32)
    out["context.padded"] = ctx_padded.to(torch.float32)
    out["tokens.short"] = ids_short.to(torch.int32).numpy()
    out["context.short.padded"] = ctx_short_padded.to(torch.float32)
    st.save(os.path.join(OUT, fname), out,
            {"config": repr(cfg), "weights": str(stored_dtype), "compute": "float64",
             "made_by": "tools/golden_t5.py"})
    if stored_dtype == torch.bfloat16:
        cfg.precision = "bf16"
        layers = []
        ctx = t5.encode(sd, cfg, ids, layers=layers)
        pb = collections.OrderedDict(("layer.%d" % i, x.to(torch.float32)) for i, x in enumerate(layers))
        pb["context"] = ctx.to(torch.float32)
        pb["context.short"] = t5.encode(sd, cfg, ids_short).to(torch.float32)
        st.save(os.path.join(OUT, "tiny_precision_bf16.safetensors"), pb,
                {"weights": str(stored_dtype), "compute": "float64, bf16 operands (--precision bf16)",
                 "made_by": "tools/golden_t5.py"})
    return sd_stored


# --- full-width layer, weights from the shared PRNG ------------------------------

def full_layer_specs():
    """(name, shape, kind, scale) in seed order; tests/test_t5.c has the same list.
    kind 'u': bf16(scale*u); kind 'g' (norm gains): bf16(float32(1 + 0.5*u))."""
    c = _Shapes(FULL)
    specs = []
    for name, shape in t5.tensor_shapes(c).items():
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
            specs.append((name, shape, "g", 0.5))
        elif name.endswith("pos_embedding.embedding.weight"):
            specs.append((name, shape, "u", 2.0))
        elif name == "token_embedding.weight":
            specs.append((name, shape, "u", 1.0))
        elif name.endswith("ffn.fc2.weight"):
            specs.append((name, shape, "u", 1.0 / 128))
        else:
            specs.append((name, shape, "u", 1.0 / 64))
    return specs


def full_layer_weights():
    sd = {}
    for k, (name, shape, kind, scale) in enumerate(full_layer_specs()):
        n = int(np.prod(shape))
        u = torch.from_numpy(prng_fill(FULL_SEED + k, n, scale)).to(torch.float32)  # exact
        if kind == "g":
            u = 1.0 + u   # rounded in float32, as the C test does
        sd[name] = u.to(torch.bfloat16).to(torch.float64).reshape(shape)
        del u
    return sd


def full_case():
    sd = full_layer_weights()
    cfg = t5.Config(sd)
    g = torch.Generator().manual_seed(5)
    ids = torch.cat([torch.randint(2, cfg.vocab, (FULL_LEN - 1,), generator=g), torch.tensor([1])])
    layers = []
    ctx = t5.encode(sd, cfg, ids, layers=layers)
    out = collections.OrderedDict()
    out["tokens"] = ids.to(torch.int32).numpy()
    out["layer.0"] = layers[0].to(torch.float32)
    out["context"] = ctx.to(torch.float32)
    st.save(os.path.join(OUT, "full_layer.safetensors"), out,
            {"config": repr(cfg), "weights": "bf16 from tools/prng.py, seed %d + k" % FULL_SEED,
             "compute": "float64", "made_by": "tools/golden_t5.py"})
    print("  full_layer: context rms %.4f" % ctx.pow(2).mean().sqrt().item())


def write_pth(sd_bf16):
    os.makedirs(PTH_DIR, exist_ok=True)
    path = os.path.join(PTH_DIR, "models_t5_umt5-xxl-enc-bf16.pth")
    torch.save(collections.OrderedDict((k, v.clone()) for k, v in sd_bf16.items()), path)
    print("  %s: %d bytes" % (os.path.relpath(path, ROOT), os.path.getsize(path)))


def main():
    os.makedirs(OUT, exist_ok=True)
    # The relative-position buckets as the official code computes them (float32
    # log) equal the explicit table of docs/MODEL.md 5.2.
    table = [(0, 7, None), (8, 11, 8), (12, 15, 9), (16, 22, 10), (23, 31, 11), (32, 45, 12),
             (46, 63, 13), (64, 90, 14), (91, 2000, 15)]
    n = torch.arange(0, 2001)
    b_after, b_before = t5.relative_position_bucket(n, 32), t5.relative_position_bucket(-n, 32)
    for lo, hi, v in table:
        for m in range(lo, hi + 1):
            want = m if v is None else v
            assert b_before[m].item() == want and b_after[m].item() == (want + 16 if m else 0), m
    sd_bf16 = tiny_case(torch.bfloat16, "tiny_bf16.safetensors", 1234)
    tiny_case(torch.float32, "tiny_f32.safetensors", 1234)
    write_pth(sd_bf16)
    full_case()


if __name__ == "__main__":
    main()
