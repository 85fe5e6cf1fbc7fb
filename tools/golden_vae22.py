#!/usr/bin/python3
"""Goldens for the Wan2.2 VAE (ref/lib/vae.c), from tools/reference/vae22.py
in float64, on a tiny seeded configuration: encoder width 8, decoder width
12 (the two widths differ, as 160 and 256 do in Wan2.2_VAE.pth), the shipped
z_dim 48 (its mean/std are hard-coded), dim_mult 1,2,4,4.

Weights are generated at test time from the PRNG shared with tests/harness.h
(the plan "name shape e offset" is in the metadata, as golden/vae/).

golden/vae22/tiny.safetensors:
  latent.t1 [48,1,2,3] -> video.t1 [3,1,32,48]   decode, one latent frame
  latent.t3 [48,3,2,3] -> video.t3 [3,9,32,48]   decode, three (chunked)
  stage.decoder.middle, stage.decoder.upsamples.0, stage.decoder.head (T=3)
  clip [3,9,32,48] -> mu.clip [48,3,2,3]         encode
  stage.encoder.downsamples.N, stage.encoder.head (the clip)
  image [3,1,32,32] -> mu.image [48,1,2,2]       a 1-frame video, 1 latent frame
The chunked (official) loop is asserted equal to the whole-sequence one.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from golden_vae import check_equal, f32, make_weights, plan_meta, randn  # noqa: E402
from reference import vae22  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "vae22")
SEED = 0x7661653232000001
DIM, DEC_DIM = 8, 12


def weight_plan(dim, dec_dim):
    plan = []
    for name, shape in vae22.param_shapes(dim, dec_dim):
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


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20261204)
    plan = weight_plan(DIM, DEC_DIM)
    sd = make_weights(plan, SEED)
    out = {}
    for t in (1, 3):
        z = randn(gen, (48, t, 2, 3))
        stages = {}
        whole = vae22.decode_whole(sd, z.double(), stages)
        check_equal(vae22.decode_chunked(sd, z.double()), whole, "decode T=%d" % t)
        out["latent.t%d" % t] = z
        out["video.t%d" % t] = f32(whole)
        print("  T=%d video %s clamped %.3f rms %.3f" % (t, list(whole.shape), (whole.abs() >= 1).double().mean(),
                                                        whole.pow(2).mean().sqrt()))
        if t == 3:
            for k, v in stages.items():
                if k not in ("decoder.upsamples.1", "decoder.upsamples.2", "decoder.upsamples.3"):  # size
                    out["stage." + k] = f32(v)
    clip = randn(gen, (3, 9, 32, 48), 0.5).clamp(-1, 1).float()
    stages = {}
    mu = vae22.encode_whole(sd, clip.double(), stages)
    check_equal(vae22.encode_chunked(sd, clip.double()), mu, "encode clip")
    out["clip"] = clip
    out["mu.clip"] = f32(mu)
    for k, v in stages.items():
        out["stage." + k] = f32(v)
    image = randn(gen, (3, 1, 32, 32), 0.5).clamp(-1, 1).float()
    mu = vae22.encode_chunked(sd, image.double())
    check_equal(vae22.encode_whole(sd, image.double()), mu, "encode image")
    out["image"] = image
    out["mu.image"] = f32(mu)
    print("  mu.clip %s rms %.3f, mu.image %s" % (list(out["mu.clip"].shape), out["mu.clip"].pow(2).mean().sqrt(),
                                                 list(mu.shape)))
    st.save(os.path.join(OUT, "tiny.safetensors"), out, plan_meta(plan, SEED))


if __name__ == "__main__":
    main()
