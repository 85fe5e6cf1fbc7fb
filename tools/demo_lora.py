"""Low-rank adapters on the demo DiT, for tools/train_student.py and
tools/train_lora.py: creation, the merged weights the batched forward of
tools/train_demo.py runs on, and export in the original/ComfyUI key
convention that `t2v generate --lora FILE` loads (docs/MODEL.md 6.4):

    diffusion_model.<module>.lora_down.weight  D [r, in]
    diffusion_model.<module>.lora_up.weight    U [out, r]
    diffusion_model.<module>.alpha             0-d, = r (so the scale is 1)
    diffusion_model.<param>.diff               a full delta (the small
                                               modulation tensors)

W' = W + (alpha / r) U D; U starts at zero, so training starts at the base
model exactly (as in the LoRA paper).
"""
import math

import torch

import st

BLOCK_LINEARS = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
                 "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2")


def targets(base, num_layers, extra=()):
    """The module names adapted: every block linear (attention and FFN) and
    `extra` (e.g. the time embedding/projection and the head)."""
    names = ["blocks.%d.%s" % (i, n) for i in range(num_layers) for n in BLOCK_LINEARS] + list(extra)
    for n in names:
        assert n + ".weight" in base, "no weight for LoRA target " + n
    return names


def init(base, names, rank, gen, diffs=()):
    """{module: (down, up)} with down ~ N(0, 1/in), up = 0, and {param: delta}
    zero full deltas for `diffs`; all requiring grad."""
    lora = {}
    for n in names:
        out_f, in_f = base[n + ".weight"].shape
        down = (torch.randn(rank, in_f, generator=gen) / math.sqrt(in_f)).requires_grad_(True)
        up = torch.zeros(out_f, rank).requires_grad_(True)
        lora[n] = (down, up)
    full = {p: torch.zeros_like(base[p]).requires_grad_(True) for p in diffs}
    return lora, full


def parameters(lora, full):
    return [t for pair in lora.values() for t in pair] + list(full.values())


def merged(base, lora, full, scale=1.0):
    """The state dict the forward runs on: W + scale U D (alpha = rank)."""
    sd = dict(base)
    for n, (down, up) in lora.items():
        sd[n + ".weight"] = base[n + ".weight"] + scale * (up @ down)
    for p, d in full.items():
        sd[p] = base[p] + scale * d
    return sd


def save(path, lora, full, metadata=None):
    out = {}
    for n, (down, up) in lora.items():
        out["diffusion_model.%s.lora_down.weight" % n] = down.detach().float().contiguous()
        out["diffusion_model.%s.lora_up.weight" % n] = up.detach().float().contiguous()
        out["diffusion_model.%s.alpha" % n] = torch.tensor(float(down.shape[0]))
    for p, d in full.items():
        out["diffusion_model.%s.diff" % p] = d.detach().float().contiguous()
    st.save(path, out, metadata)


def load(path):
    """(lora, full) of a file save() wrote (alpha = rank is checked)."""
    t, _ = st.load(path)
    lora, full = {}, {}
    for k in t:
        if k.endswith(".lora_down.weight"):
            n = k[len("diffusion_model."):-len(".lora_down.weight")]
            down = torch.from_numpy(t[k].copy())
            up = torch.from_numpy(t["diffusion_model.%s.lora_up.weight" % n].copy())
            assert float(t["diffusion_model.%s.alpha" % n]) == down.shape[0], "alpha != rank in " + path
            lora[n] = (down, up)
        elif k.endswith(".diff"):
            full[k[len("diffusion_model."):-len(".diff")]] = torch.from_numpy(t[k].copy())
    return lora, full
