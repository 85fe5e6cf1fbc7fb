#!/usr/bin/python3
"""Op-level dump of a Wan DiT forward, for `t2v bisect` (docs/VERIFY.md).

Wraps the forward of the modules of a PyTorch WanModel (the official
wan/modules/model.py) or a diffusers WanTransformer3DModel, chosen by their
module paths only (no import of either package), runs one forward, and
writes every op's input and output to a safetensors file under the
model's own names:

  official:  blocks.3.in, blocks.3.e, blocks.3.norm1, blocks.3.self_attn.in,
             blocks.3.self_attn.{q,k,v,norm_q,norm_k}, blocks.3.self_attn.rope_{q,k}
             (when the module of the attention has a function rope_apply),
             blocks.3.self_attn.o.in (the attention output), blocks.3.self_attn.o,
             blocks.3.norm3.in, blocks.3.norm3, blocks.3.cross_attn.context,
             blocks.3.cross_attn.{q,k,v,norm_q,norm_k,o.in,o}, blocks.3.norm2.in,
             blocks.3.norm2, blocks.3.ffn.in, blocks.3.ffn.{0,1,2}, blocks.3;
             timestep, patch_embedding.in (the latent), patch_embedding
             (tokens x dim), time_embedding.in (the sinusoid), time_embedding
             (e), time_projection (e0), text_embedding.in (the padded
             context), text_embedding, head.in, head.head.in, head.head
  diffusers: the same under diffusers' paths (attn1.to_q, attn2.to_out.0,
             ffn.net.0.proj, temb, ...; its norm2 is the official norm3 and
             its norm3 the official norm2); diffusers applies RoPE inside its
             attention processor, so no rope_q/rope_k: bisect then replays
             RoPE and attention as one op.

A leading batch dimension of 1 is dropped; [B, L, heads, head_dim] becomes
[L, dim]; the patch embedding's [dim, f, h, w] becomes [f*h*w, dim]. Values
are stored as float32 (bf16 values exactly).

As a library:
    from dump_hooks import DumpHooks
    with DumpHooks(model, blocks={0, 1, 29}) as d:
        model(x, t=t, context=context, seq_len=seq_len)   # one forward, batch 1
    d.save("theirs.safetensors")
From the command line it runs tools/reference's module model (the official
tree) on the tiny model in golden/models/tiny, with planted bugs if asked:
    tools/dump_hooks.py OUT.safetensors [--mode fp64|fp32|tf32|bf16|fp16]
        [--bug rope+1|eps|mod_swap|no_residual] [--blocks 0,1]
"""
import functools
import os
import re
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402

# module path (after "blocks.N.", or top level) -> what to record:
# "out" its output, "in" its first input as NAME.in, "context" its second
# input (or context= / encoder_hidden_states=) as NAME.context, "e" the
# block's e= / temb= as NAME.e / NAME.temb, "attn" marks the attention
# module whose rope_apply calls are recorded.
BLOCK_RULES = [
    (r"", ("in", "out", "e")),
    (r"norm1", ("out",)),
    (r"norm2|norm3", ("in", "out")),
    (r"self_attn|attn1", ("in", "attn")),
    (r"cross_attn|attn2", ("in", "context")),
    (r"(self_attn|cross_attn)\.(q|k|v|norm_q|norm_k)", ("out",)),
    (r"(attn1|attn2)\.(to_q|to_k|to_v|norm_q|norm_k)", ("out",)),
    (r"(self_attn|cross_attn)\.o|(attn1|attn2)\.to_out\.0", ("in", "out")),
    (r"ffn", ("in",)),
    (r"ffn\.(0|1|2)|ffn\.net\.(0|0\.proj|2)", ("out",)),
]
TOP_RULES = [
    (r"patch_embedding", ("in", "out")),
    (r"time_embedding|condition_embedder\.time_embedder", ("in", "out")),
    (r"time_projection|condition_embedder\.time_proj", ("out",)),
    (r"text_embedding|condition_embedder\.text_embedder", ("in", "out")),
    (r"head", ("in",)),
    (r"head\.head|proj_out", ("in", "out")),
]


def _plain(x):
    """Drop a batch of one; [f, h, w] grids flattened to tokens."""
    x = x.detach()
    if x.dim() >= 2 and x.size(0) == 1:
        x = x[0]
    return x.to(torch.float32).contiguous()


def _rules(path):
    m = re.match(r"blocks\.(\d+)(?:\.(.*))?$", path)
    rules, rest = (BLOCK_RULES, m.group(2) or "") if m else (TOP_RULES, path)
    for pat, what in rules:
        if re.fullmatch(pat, rest):
            return (int(m.group(1)) if m else None), what
    return None, ()


class DumpHooks:
    def __init__(self, model, blocks=None):
        self.model, self.blocks, self.out, self.saved = model, blocks, {}, []
        self._attn = None  # path of the self-attention running, for rope_apply
        self._rope = 0

    def _put(self, name, x):
        if torch.is_tensor(x) and name not in self.out:
            self.out[name] = _plain(x)

    def _wrap(self, path, mod, what):
        fwd = mod.forward

        @functools.wraps(fwd)
        def forward(*args, **kw):
            if "in" in what:  # the first input, positional or by diffusers' / the official keyword
                x = args[0] if args else kw.get("hidden_states", kw.get("x"))
                self._put(path + ".in", x)
            if "context" in what:
                c = kw.get("context", kw.get("encoder_hidden_states", args[1] if len(args) > 1 else None))
                self._put(path + ".context", c)
            if "e" in what:
                for k in ("e", "temb"):
                    if k in kw:
                        self._put(path + "." + k, kw[k])
            if "attn" in what:
                self._attn, self._rope = path, 0
            y = fwd(*args, **kw)
            if "attn" in what:
                self._attn = None
            if "out" in what:
                if path == "patch_embedding":  # [1, dim, f, h, w] -> tokens x dim
                    y2 = y.flatten(2).transpose(1, 2)
                    self._put(path, y2)
                else:
                    self._put(path, y)
            return y
        mod.forward = forward
        self.saved.append((mod, fwd))

    def _wrap_rope(self):
        """The official rope_apply(x, grid_sizes, freqs), looked up in the
        module that defines the self-attention's class."""
        for path, mod in self.model.named_modules():
            if re.fullmatch(r"blocks\.\d+\.self_attn", path):
                ns = sys.modules[type(mod).__module__]
                if hasattr(ns, "rope_apply"):
                    orig = ns.rope_apply

                    @functools.wraps(orig)
                    def rope(x, *a, **kw):
                        y = orig(x, *a, **kw)
                        if self._attn is not None and self._rope < 2:
                            name = self._attn + (".rope_q" if self._rope == 0 else ".rope_k")
                            self._put(name, y.flatten(-2))
                            self._rope += 1
                        return y
                    ns.rope_apply = rope
                    self.saved.append((ns, orig))
                return

    def _wrap_root(self):
        """The model's timestep: forward(x, t, ...) officially, (hidden_states,
        timestep, ...) in diffusers."""
        fwd = self.model.forward

        @functools.wraps(fwd)
        def forward(*args, **kw):
            t = args[1] if len(args) > 1 else kw.get("t", kw.get("timestep"))
            if torch.is_tensor(t):
                self._put("timestep", t.reshape(-1))
            return fwd(*args, **kw)
        self.model.forward = forward
        self.saved.append((self.model, fwd))

    def __enter__(self):
        self._wrap_root()
        for path, mod in self.model.named_modules():
            blk, what = _rules(path)
            if not what or not path:
                continue
            if blk is not None and self.blocks is not None and blk not in self.blocks:
                continue
            self._wrap(path, mod, what)
        self._wrap_rope()
        return self

    def __exit__(self, *exc):
        for obj, orig in reversed(self.saved):
            if isinstance(obj, torch.nn.Module):
                obj.forward = orig
            else:
                obj.rope_apply = orig
        self.saved = []

    def nbytes(self):
        return sum(t.numel() * 4 for t in self.out.values())

    def save(self, path, metadata=None):
        print("dump_hooks: %d tensors, %.2f MB -> %s" % (len(self.out), self.nbytes() / 1e6, path), file=sys.stderr)
        st.save(path, self.out, metadata)


def main():
    import argparse
    from reference import wan_module
    p = argparse.ArgumentParser(description="op-level dump of tools/reference's module WanModel")
    p.add_argument("out")
    p.add_argument("--model", default=os.path.join(os.path.dirname(here), "golden", "models", "tiny"))
    p.add_argument("--in", dest="inp", help="latent, timestep, context (default: a seeded tiny case)")
    p.add_argument("--mode", default="fp64", choices=("fp64", "fp32", "tf32", "bf16", "fp16"))
    p.add_argument("--bug", action="append", default=[])
    p.add_argument("--blocks")
    a = p.parse_args()
    import json
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    sd = {k: torch.from_numpy(v.astype("float32")) for k, v in
          st.load(os.path.join(a.model, "diffusion_pytorch_model.safetensors"))[0].items()}
    if a.inp:
        d = st.load(a.inp)[0]
        latent, t, ctx = (torch.from_numpy(d[k].astype("float32")) for k in ("latent", "timestep", "context"))
    else:
        latent, t, ctx = tiny_inputs(cfg)
    m = wan_module.WanModel(cfg, wan_module.Numerics(a.mode, a.bug)).load(sd)
    blocks = set(int(b) for b in a.blocks.split(",")) if a.blocks else None
    with DumpHooks(m, blocks) as d, torch.no_grad():
        v = m([latent], t, [ctx])[0]
    d.out["velocity"] = v.float()
    d.save(a.out, {"mode": a.mode, "bugs": ",".join(a.bug) or "none"})


def tiny_inputs(cfg):
    g = torch.Generator().manual_seed(28)
    latent = torch.randn((cfg["in_dim"], 2, 6, 4), generator=g, dtype=torch.float64).float()
    ctx = torch.randn((5, cfg["text_dim"]), generator=g, dtype=torch.float64).float()
    return latent, torch.tensor([937.0]), ctx


if __name__ == "__main__":
    main()
