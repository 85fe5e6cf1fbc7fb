#!/usr/bin/python3
"""Measures what GPU numerics do to the DiT, emulated on the CPU, for the
tolerance profiles of golden/tolerances.json (golden/README.md, "Tolerance
profiles").

Runs tools/reference/wan_module.py (the official module tree on the
reference math) in the modes fp32, tf32 and bf16 (Numerics) and with the
planted bugs, against its own float64 run, on
  tiny:  golden/dit's 2-layer dim-64 model, case tiny_a's inputs;
  full:  2 blocks at full T2V-1.3B width (dim 1536, 12 heads, ffn 8960,
         text_dim 4096, text_len 512), weights of tools/golden_dit.py's
         full_weights (the shared PRNG), 160 tokens, t = 823.
and prints max|d|/rms and 1-cos of the velocity (and of each block's output
for the tiny model). First it checks that the float64 module equals
tools/reference/dit.py's functional forward. Prints a table; writes nothing.
    tools/verify_numerics.py [--quick]   (--quick: tiny only)
"""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import golden_dit  # noqa: E402
from prng import prng_fill  # noqa: E402
from reference import dit  # noqa: E402
from reference.wan_module import Numerics, WanModel  # noqa: E402

torch.set_num_threads(1)


def stats(a, r):
    a, r = a.double().flatten(), r.double().flatten()
    rms = r.pow(2).mean().sqrt()
    rel = ((a - r).abs().max() / rms).item()
    cos = (a @ r / (a.norm() * r.norm())).item()
    return rel, 1.0 - cos


KINDS = {"block": lambda n: n.startswith("blocks.") and n.count(".") == 1,
         "attention": lambda n: n.endswith("self_attn") or n.endswith("cross_attn")}


def run(sd, cfg, latent, t, context, mode="fp64", bugs=(), outs=None):
    """outs (a dict) receives the output of every block and attention module."""
    m = WanModel(cfg, Numerics(mode, bugs)).load(sd)
    if outs is not None:
        for name, mod in m.named_modules():
            if any(k(name) for k in KINDS.values()):
                mod.register_forward_hook(lambda mod, i, o, name=name: outs.__setitem__(name, o.detach()))
    with torch.no_grad():
        return m([latent], torch.tensor([float(t)]), [context])[0]


def case(name, sd, cfg, latent, t, context):
    o64 = {}
    ref64 = run(sd, cfg, latent, t, context, outs=o64)
    func = dit.forward({k: v.double() for k, v in sd.items()}, cfg, latent.double(), t, context.double())
    d = (ref64 - func).abs().max().item()
    print("%s: module float64 vs functional reference: max|d| = %.1e" % (name, d))
    assert d < 1e-12, d
    for mode in ("fp32", "tf32", "bf16", "fp16"):
        o = {}
        rel, omc = stats(run(sd, cfg, latent, t, context, mode, outs=o), ref64)
        print("  %-5s %-12s velocity  max|d|/rms %.2e  1-cos %.1e" % (mode, "correct", rel, omc))
        for kind, f in KINDS.items():
            s = [stats(o[n], o64[n]) for n in o64 if f(n)]
            print("  %-5s %-12s %-9s max|d|/rms %.2e  1-cos %.1e (worst of %d)" % (
                mode, "correct", kind, max(r for r, _ in s), max(c for _, c in s), len(s)))
    rows = [("bf16", ("rope+1",)), ("bf16", ("mod_swap",)),
            ("bf16", ("eps",)), ("fp32", ("eps",)), ("bf16", ("no_residual",))]
    for mode, bugs in rows:
        rel, omc = stats(run(sd, cfg, latent, t, context, mode, bugs), ref64)
        print("  %-5s %-12s velocity  max|d|/rms %.2e  1-cos %.1e" % (mode, "+".join(bugs) or "correct", rel, omc))


def main():
    g = torch.Generator().manual_seed(11)
    sd = golden_dit.write_dit_checkpoint.random_weights(golden_dit.TINY, seed=7)
    latent = torch.randn((16, 3, 8, 8), generator=g, dtype=torch.float64).float()
    context = torch.randn((7, golden_dit.TINY["text_dim"]), generator=g, dtype=torch.float64).float()
    case("tiny (dim 64, 2 layers, 48 tokens)", sd, golden_dit.TINY, latent, 937, context)
    if "--quick" in sys.argv:
        return
    cfg = dict(golden_dit.FULL, num_layers=2)
    sd = golden_dit.full_weights(cfg)
    latent = torch.from_numpy(prng_fill(1, 16 * 2 * 16 * 20, 1.0).reshape(16, 2, 16, 20)).float()
    context = torch.from_numpy(prng_fill(2, 8 * 4096, 1.0).reshape(8, 4096)).float()
    case("full width (dim 1536, 2 layers, 160 tokens)", sd, cfg, latent, 823, context)


if __name__ == "__main__":
    main()
