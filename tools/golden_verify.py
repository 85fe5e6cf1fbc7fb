#!/usr/bin/python3
"""Goldens for the verification kit (docs/VERIFY.md, golden/README.md
"verify"), from tools/reference/wan_module.py (the official module tree on
the float64 reference math, with the CPU emulation of GPU numerics and the
planted bugs) and tools/dump_hooks.py. Writes golden/verify/:

  velocity.<run>.safetensors   `velocity` of the tiny DiT (golden/dit's
      2-layer dim-64 model, case tiny_a's inputs) for run = fp64 (the
      reference), fp32, tf32, bf16, fp16 and the planted bugs bf16_rope,
      bf16_modswap, bf16_eps, fp32_eps, bf16_noresid: `t2v compare --profile`
      must pass the correct runs and fail the bugs (tests/test_verify.c)
  in.safetensors                latent, timestep, context for golden/models/tiny
  dump.<run>.safetensors       op-level dumps of block 1 of golden/models/tiny
      on in.safetensors (tools/dump_hooks.py, official names) for run =
      bf16, fp32 (correct), fp32_rope, fp32_eps, fp32_modswap, fp32_noresid,
      bf16_rope, bf16_modswap, bf16_noresid, bf16_eps, fp32_headsilu (the
      head modulated by SiLU(e)), fp32_sinfirst (the sinusoid's sines first);
  dump.diffusers.<run>.safetensors  bf16, bf16_rope, bf16_modswap through the same
      modules arranged as diffusers' WanTransformer3DModel
      (tools/reference/wan_diffusers_layout.py), dumped by the same hooks:
      diffusers' names, no RoPE outputs (diffusers rotates inside its
      attention processor)
"""
import json
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import st  # noqa: E402
import golden_dit  # noqa: E402
from dump_hooks import DumpHooks  # noqa: E402
from reference.wan_diffusers_layout import WanTransformer3DModel  # noqa: E402
from reference.wan_module import Numerics, WanModel  # noqa: E402

OUT = os.path.join(root, "golden", "verify")
RUNS = {"fp64": ("fp64", ()), "fp32": ("fp32", ()), "tf32": ("tf32", ()), "bf16": ("bf16", ()),
        "fp16": ("fp16", ()), "bf16_rope": ("bf16", ("rope+1",)), "bf16_modswap": ("bf16", ("mod_swap",)),
        "bf16_eps": ("bf16", ("eps",)), "fp32_eps": ("fp32", ("eps",)), "bf16_noresid": ("bf16", ("no_residual",)),
        "fp32_rope": ("fp32", ("rope+1",)), "fp32_modswap": ("fp32", ("mod_swap",)),
        "fp32_noresid": ("fp32", ("no_residual",)), "fp32_headsilu": ("fp32", ("head_silu",)),
        "fp32_sinfirst": ("fp32", ("sin_first",))}

def velocity_runs():
    g = torch.Generator().manual_seed(11)
    sd = golden_dit.write_dit_checkpoint.random_weights(golden_dit.TINY, seed=7)
    latent = torch.randn((16, 3, 8, 8), generator=g, dtype=torch.float64).float()
    context = torch.randn((7, golden_dit.TINY["text_dim"]), generator=g, dtype=torch.float64).float()
    for run, (mode, bugs) in RUNS.items():
        if run.startswith("fp32_") and run != "fp32_eps":
            continue
        m = WanModel(golden_dit.TINY, Numerics(mode, bugs)).load(sd)
        with torch.no_grad():
            v = m([latent], torch.tensor([937.0]), [context])[0]
        st.save(os.path.join(OUT, "velocity.%s.safetensors" % run), {"velocity": v.float()},
                {"mode": mode, "bugs": ",".join(bugs) or "none"})


def dumps():
    model = os.path.join(root, "golden", "models", "tiny")
    cfg = json.load(open(os.path.join(model, "config.json")))
    sd = {k: torch.from_numpy(v.astype("float32"))
          for k, v in st.load(os.path.join(model, "diffusion_pytorch_model.safetensors"))[0].items()}
    g = torch.Generator().manual_seed(28)
    latent = torch.randn((cfg["in_dim"], 2, 4, 4), generator=g, dtype=torch.float64).float()
    context = torch.randn((5, cfg["text_dim"]), generator=g, dtype=torch.float64).float()
    st.save(os.path.join(OUT, "in.safetensors"),
            {"latent": latent, "timestep": torch.tensor([937.0]), "context": context})
    for run in ("bf16", "fp32", "fp32_rope", "fp32_eps", "fp32_modswap", "fp32_noresid", "bf16_rope",
                "bf16_modswap", "bf16_noresid", "bf16_eps", "fp32_headsilu", "fp32_sinfirst"):
        mode, bugs = RUNS[run]
        m = WanModel(cfg, Numerics(mode, bugs)).load(sd)
        with DumpHooks(m, blocks={1}) as d, torch.no_grad():
            v = m([latent], torch.tensor([937.0]), [context])[0]
        meta = {"mode": mode, "bugs": ",".join(bugs) or "none", "made_by": "tools/golden_verify.py"}
        st.save(os.path.join(OUT, "dump.%s.safetensors" % run), d.out, meta)
        if run in ("bf16", "bf16_rope", "bf16_modswap"):  # the same model under diffusers' module tree
            dm = WanTransformer3DModel(m)
            with DumpHooks(dm, blocks={1}) as d, torch.no_grad():
                v2 = dm([latent], torch.tensor([937.0]), [context])[0]
            assert torch.equal(v, v2), "the diffusers layout computes what the official one does"
            st.save(os.path.join(OUT, "dump.diffusers.%s.safetensors" % run), d.out, meta)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    velocity_runs()
    dumps()


if __name__ == "__main__":
    main()
