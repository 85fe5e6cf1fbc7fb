#!/usr/bin/python3
"""Goldens for the Wan-VAE (ref/lib/vae.c), from tools/reference/vae.py in float64.

Weights are not committed: every tensor is generated at test time from the
tiny PRNG shared with tests/harness.h, seeded per tensor by name:
    seed = base_seed XOR fnv1a64(name),  value = offset + 2**e * u  (rounded to fp32)
The list "name shape e offset" is stored in each file's metadata ("weights"),
so the C test regenerates exactly the same fp32 weights.

Files (golden/vae/):
  tiny_decode.safetensors  dim 8: latents of 1, 2 and 5 frames at 6x10 -> videos
  tiny_stages.safetensors  dim 8: a 2-frame 2x3 latent, every decoder module's output
  tiny_encode.safetensors  dim 8: a 9-frame 16x24 clip -> every encoder stage, mu
  full_decode.safetensors  dim 96 (the shipped width): a 16x2x4x4 latent -> video
  tiny_precision_bf16.safetensors  `--precision bf16` (reference/vae.py bf16_products):
                           the 2x3 decode's and the 16x24 encode's smaller stages,
                           their video / mu, and the full-width video; inputs and
                           weights are those of the files above
The chunked (feature-cache) decoder/encoder is asserted equal to the
whole-sequence formulation here (the "chunked equals whole" test).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from prng import prng_fill  # noqa: E402
from reference import vae  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "vae")
TINY_SEED, FULL_SEED = 0x7661650000000001, 0x7661650000000060


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & ((1 << 64) - 1)
    return h


def weight_plan(dim):
    """[(name, shape, e, offset)]: gammas 1 + u/4 (non-trivial), biases u/8,
    conv weights 2**e u with 2**e ~ sqrt(3/fan_in) (the decoder head smaller,
    so that little of the video is clamped)."""
    plan = []
    for name, shape in vae.param_shapes(dim):
        if name.endswith("gamma"):
            plan.append((name, shape, -2, 1))
        elif name.endswith("bias"):
            plan.append((name, shape, -3, 0))
        else:
            fan_in = int(np.prod(shape[1:]))
            e = int(round(np.log2(np.sqrt(3.0 / fan_in))))
            if name == "decoder.head.2.weight":
                e -= 1
            plan.append((name, shape, e, 0))
    return plan


def make_weights(plan, base_seed):
    sd = {}
    for name, shape, e, off in plan:
        n = int(np.prod(shape))
        u = prng_fill(base_seed ^ fnv1a64(name), n, 2.0 ** e)
        w = (np.float64(off) + u).astype(np.float32).astype(np.float64)  # fp32, as C
        sd[name] = torch.from_numpy(w.reshape(shape))
    return sd


def plan_meta(plan, base_seed):
    lines = ["%s %s %d %d" % (n, ",".join(str(d) for d in s), e, o) for n, s, e, o in plan]
    return {"seed": "%d" % base_seed, "weights": ";".join(lines)}


def randn(gen, shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).float()


def f32(x):
    return x.detach().to(torch.float32).contiguous()


def check_equal(a, b, what, tol=1e-10):
    d = (a - b).abs().max().item()
    ref = b.abs().max().item()
    print("  %-34s chunked vs whole: max|d| %.3e (max|ref| %.3e)" % (what, d, ref))
    assert d <= tol * max(ref, 1.0), what


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20260501)

    plan = weight_plan(8)
    sd = make_weights(plan, TINY_SEED)
    meta = plan_meta(plan, TINY_SEED)

    # tiny decoder at 6x10 with 1, 2, 5 latent frames
    out = {}
    for t in (1, 2, 5):
        z = randn(gen, (16, t, 6, 10))
        whole = vae.decode_whole(sd, z.double())
        check_equal(vae.decode_chunked(sd, z.double()), whole, "tiny decode T=%d" % t)
        out["latent.t%d" % t] = z
        out["video.t%d" % t] = f32(whole)
        frac = (whole.abs() >= 1).double().mean().item()
        print("  T=%d video %s clamped %.3f" % (t, list(whole.shape), frac))
    st.save(os.path.join(OUT, "tiny_decode.safetensors"), out, meta)

    # every decoder stage, 2 frames at 2x3
    z = randn(gen, (16, 2, 2, 3))
    stages = {}
    whole = vae.decode_whole(sd, z.double(), stages)
    check_equal(vae.decode_chunked(sd, z.double()), whole, "tiny decode stages")
    out = {"latent": z}
    for k, v in stages.items():
        out[k] = f32(v)
    out["video"] = f32(whole)
    st.save(os.path.join(OUT, "tiny_stages.safetensors"), out, meta)
    tiny_sd, z_stages = sd, z

    # encoder on a 9-frame clip, 16x24
    video = randn(gen, (3, 9, 16, 24), 0.5).clamp(-1, 1).float()
    stages = {}
    mu = vae.encode_whole(sd, video.double(), stages)
    check_equal(vae.encode_chunked(sd, video.double()), mu, "tiny encode")
    out = {"video": video}
    for k, v in stages.items():
        if k not in ("encoder.downsamples.0", "encoder.downsamples.1"):  # size; .2 covers them
            out[k] = f32(v)
    out["latent"] = f32(mu)
    st.save(os.path.join(OUT, "tiny_encode.safetensors"), out, meta)

    # full-width decoder (dim 96), weights from the PRNG at test time
    plan = [p for p in weight_plan(96) if not p[0].startswith("encoder.") and
            not p[0].startswith("conv1.")]
    sd = make_weights(plan, FULL_SEED)
    z = randn(gen, (16, 2, 4, 4))  # -> [3, 5, 32, 32]: small enough for the test budget
    whole = vae.decode_whole(sd, z.double())
    frac = (whole.abs() >= 1).double().mean().item()
    print("  full video %s clamped %.3f rms %.3f" % (list(whole.shape), frac, whole.pow(2).mean().sqrt()))
    st.save(os.path.join(OUT, "full_decode.safetensors"), {"latent": z, "video": f32(whole)},
            plan_meta(plan, FULL_SEED))
    bf16_goldens(tiny_sd, z_stages, video, sd, z, meta)


SMALL_STAGE = 4000  # values: the bf16 file keeps the stages up to this size (its budget)

# Single convolutions (name, Cin, Cout, T, H, W, kernel, stride, padding as
# (t front, h, w)): their inputs are fp32 values on both sides, so t2v and
# the reference round the same operands and only the fp32 sums differ.
CONV_CASES = [("causal", 8, 12, 3, 4, 6, (3, 3, 3), (1, 1, 1), (2, 1, 1)),
              ("down2d", 8, 8, 1, 6, 8, (1, 3, 3), (1, 2, 2), (0, 0, 0)),
              ("time2", 6, 6, 3, 4, 5, (3, 1, 1), (2, 1, 1), (0, 0, 0))]


def conv_goldens(gen, out):
    """op.NAME.{x,w,b,out}: a conv with bf16 operands, float64 sums."""
    for name, ci, co, t, h, w, k, s, p in CONV_CASES:
        x, wt, b = randn(gen, (ci, t, h, w)), randn(gen, (co, ci) + k, 0.2), randn(gen, (co,), 0.1)
        xp = torch.nn.functional.pad(x.double(), (p[2], p[2], p[1], p[1], p[0], 0))
        with vae.bf16_products():
            y = vae.conv3d(xp.unsqueeze(0), wt.double(), b.double(), stride=s).squeeze(0)
        out.update({"op.%s.x" % name: x, "op.%s.w" % name: wt, "op.%s.b" % name: b, "op.%s.out" % name: f32(y)})


def bf16_goldens(tiny_sd, z_stages, video, full_sd, z_full, meta):
    """tiny_precision_bf16.safetensors: the bf16 path (operands rounded as t2v's
    --precision bf16 rounds them) on the inputs of tiny_stages, tiny_encode
    and full_decode."""
    out = {}
    conv_goldens(torch.Generator().manual_seed(20261204), out)
    with vae.bf16_products():
        stages = {}
        whole = vae.decode_whole(tiny_sd, z_stages.double(), stages)
        check_equal(vae.decode_chunked(tiny_sd, z_stages.double()), whole, "bf16 tiny decode stages")
        for k, v in stages.items():
            if v.numel() <= SMALL_STAGE or k == "decoder.head":
                out[k] = f32(v)
        out["video"] = f32(whole)
        stages = {}
        mu = vae.encode_whole(tiny_sd, video.double(), stages)
        check_equal(vae.encode_chunked(tiny_sd, video.double()), mu, "bf16 tiny encode")
        for k, v in stages.items():
            if v.numel() <= SMALL_STAGE:
                out[k] = f32(v)
        out["latent"] = f32(mu)
        out["full.video"] = f32(vae.decode_whole(full_sd, z_full.double()))
    print("  bf16: %d tensors, %d values" % (len(out), sum(v.numel() for v in out.values())))
    st.save(os.path.join(OUT, "tiny_precision_bf16.safetensors"), out, dict(meta, precision="bf16"))


if __name__ == "__main__":
    main()
