#!/usr/bin/python3
"""Goldens for Wan2.2's sampling loops (ref/lib/pipeline.c), from
tools/reference/wan22.py in float64 on tiny seeded models:

golden/wan22/ti2v_dit.safetensors   a TI2V DiT (in/out 48 channels, dim 32, 1 layer,
                                    text_dim 32); config.json in the metadata "config"
golden/wan22/a14b_high.safetensors  two A14B experts (16 channels, same shapes,
golden/wan22/a14b_low.safetensors   different weights)
golden/wan22/cases.safetensors:
  ti2v_t2v.*  noise [48,2,4,4] (5 frames at 64x64), context, context_neg ->
              latent.final, latent.step{k}: unipc 4 steps, cfg 4, shift 3
  ti2v_i2v.*  the same with image [3,64,64] in [-1,1]: image_latent [48,1,4,4]
              (the tiny Wan2.2 VAE of golden/vae22, its weights from that file's
              PRNG plan), frame 0 held, its tokens at t = 0
  a14b.*      noise [16,2,4,4], unipc 6 steps, shift 3, boundary 0.875, cfg 4.0
              (high) / 3.0 (low) -> latent.final, latent.step{k}, experts [6]
              (0 high, 1 low)
"""
import json
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import golden_vae22  # noqa: E402
import st  # noqa: E402
import write_dit_checkpoint  # noqa: E402
from golden_vae import make_weights  # noqa: E402
from reference import dit, vae22, wan22  # noqa: E402

OUT = os.path.join(os.path.dirname(here), "golden", "wan22")
BASE = {"_class_name": "WanModel", "dim": 32, "eps": 1e-06, "ffn_dim": 64, "freq_dim": 64, "num_heads": 2,
        "num_layers": 1, "text_dim": 32, "text_len": 16}
TI2V = dict(BASE, in_dim=48, out_dim=48, model_type="ti2v")
A14B = dict(BASE, in_dim=16, out_dim=16, model_type="t2v")


def f32(x):
    return x.detach().to(torch.float32).contiguous()


def save_weights(name, cfg, seed):
    sd = write_dit_checkpoint.random_weights(cfg, seed)
    st.save(os.path.join(OUT, name), {k: v.contiguous() for k, v in sd.items()},
            {"config": json.dumps(cfg, sort_keys=True), "made_by": "tools/golden_wan22.py"})
    return {k: v.double() for k, v in sd.items()}


def model_fn(sd, cfg, contexts):
    return lambda x, t, cond: dit.forward(sd, cfg, x, t, contexts[cond])


def run(out, key, noise, models, cfgs, steps, shift, boundary=None, image_latent=None):
    trace, experts = [], []
    x = wan22.sample(noise, steps, shift, "unipc", models, cfgs, boundary, image_latent, trace=trace,
                     experts=experts)
    out[key + ".latent.final"] = f32(x)
    for k, s in enumerate(trace):
        out[key + ".latent.step%d" % k] = f32(s)
    print("  %s: latent rms %.3f, experts %s" % (key, x.pow(2).mean().sqrt(), experts))
    return experts


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(2200)
    out = {}
    ctx = torch.randn(5, 32, generator=gen, dtype=torch.float64).float()
    ctx_neg = torch.randn(4, 32, generator=gen, dtype=torch.float64).float()
    out["context"], out["context_neg"] = ctx, ctx_neg
    contexts = {1: ctx.double(), 0: ctx_neg.double()}

    sd = save_weights("ti2v_dit.safetensors", TI2V, 5005)
    ti2v = [model_fn(sd, TI2V, contexts)]
    noise = torch.randn(48, 2, 4, 4, generator=gen, dtype=torch.float64).float()
    out["ti2v.noise"] = noise
    run(out, "ti2v_t2v", noise.double(), ti2v, [4.0], 4, 3.0)
    image = (torch.rand(3, 64, 64, generator=gen, dtype=torch.float64) * 2 - 1).float()
    vsd = make_weights(golden_vae22.weight_plan(golden_vae22.DIM, golden_vae22.DEC_DIM), golden_vae22.SEED)
    z = f32(vae22.encode_chunked(vsd, image.double()[:, None]))
    out["ti2v_i2v.image"] = image
    out["ti2v_i2v.image_latent"] = z
    run(out, "ti2v_i2v", noise.double(), ti2v, [4.0], 4, 3.0, image_latent=z.double())

    hi = save_weights("a14b_high.safetensors", A14B, 1401)
    lo = save_weights("a14b_low.safetensors", A14B, 1402)
    noise = torch.randn(16, 2, 4, 4, generator=gen, dtype=torch.float64).float()
    out["a14b.noise"] = noise
    experts = run(out, "a14b", noise.double(), [model_fn(hi, A14B, contexts), model_fn(lo, A14B, contexts)],
                  [4.0, 3.0], 6, 3.0, boundary=0.875)
    out["a14b.experts"] = torch.tensor(experts, dtype=torch.float32)
    assert 0 < sum(experts) < len(experts), "the case must switch experts"
    st.save(os.path.join(OUT, "cases.safetensors"), out,
            {"made_by": "tools/golden_wan22.py", "compute": "float64",
             "ti2v": "unipc steps 4 cfg 4 shift 3", "a14b": "unipc steps 6 shift 3 boundary 0.875 cfg 4,3"})


if __name__ == "__main__":
    main()
