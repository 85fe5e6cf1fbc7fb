#!/usr/bin/python3
"""Writes tiny one-layer WanModel checkpoints in the official Hugging Face
layout (docs/MODEL.md 6.1): config.json + diffusion_pytorch_model.safetensors,
with the official tensor names (docs/MODEL.md 2.1). Three variants, same weights:

  golden/models/dit-1layer/          F32, one file
  golden/models/dit-1layer-sharded/  F32, index.json + 2 shards (like the 14B)
  golden/models/dit-1layer-bf16/     BF16, one file, ComfyUI-style
                                     "model.diffusion_model." prefix

The config adds "text_dim" (not in the official config.json, whose value is
the constructor default 4096) so the files stay small. Deterministic: the
same bytes on every run. Used by tools/golden_dit.py, which also writes the
reference outputs for these models.
"""
import json
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402
from reference import dit  # noqa: E402

CONFIG = {"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 32, "eps": 1e-06,
          "ffn_dim": 64, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 2,
          "num_layers": 1, "out_dim": 16, "text_dim": 32, "text_len": 512}


def random_weights(cfg, seed):
    """Random float32 weights with non-trivial modulation and norm gains."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in dit.param_shapes(cfg).items():
        r = torch.randn(shape, generator=g, dtype=torch.float64)
        if name.endswith("modulation"):
            w = 0.5 * r
        elif "norm" in name and name.endswith(".weight"):
            w = 1.0 + 0.3 * r
        elif name.endswith(".bias"):
            w = 0.2 * r
        else:
            fan_in = 1
            for s in shape[1:]:
                fan_in *= s
            w = r / fan_in ** 0.5
        sd[name] = w.float()
    return sd


def write_config(d, cfg):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def write_models(root, seed=4242):
    """Writes the three variants under root; returns the fp32 state dict."""
    sd = random_weights(CONFIG, seed)
    d = os.path.join(root, "dit-1layer")
    write_config(d, CONFIG)
    st.save(os.path.join(d, "diffusion_pytorch_model.safetensors"), sd)

    d = os.path.join(root, "dit-1layer-sharded")
    write_config(d, CONFIG)
    names = list(sd)
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    weight_map, total = {}, 0
    for i, part in enumerate(shards):
        fn = "diffusion_pytorch_model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        st.save(os.path.join(d, fn), {n: sd[n] for n in part})
        for n in part:
            weight_map[n] = fn
            total += sd[n].numel() * 4
    with open(os.path.join(d, "diffusion_pytorch_model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2,
                  sort_keys=True)
        f.write("\n")

    d = os.path.join(root, "dit-1layer-bf16")
    write_config(d, CONFIG)
    st.save(os.path.join(d, "diffusion_pytorch_model.safetensors"),
            {"model.diffusion_model." + n: w.to(torch.bfloat16) for n, w in sd.items()})
    return sd


if __name__ == "__main__":
    torch.set_num_threads(1)
    write_models(os.path.join(os.path.dirname(here), "golden", "models"))
