#!/usr/bin/python3
"""Replays a `t2v generate --dump DIR` file with the PyTorch reference
(float64) and prints the error of every stage.

    /usr/bin/python3 tools/replay_dump.py DIR/dump.safetensors [--model DIR]

The dump is read with tools/st.py, a plain safetensors reader (any other
implementation could use its own): tokens, tokens_neg, context, context_neg,
noise, timesteps, latent.step{k}, latent.final, video and the settings in
__metadata__ (docs/MODEL.md section 9). Each stage is replayed from the dump's
own inputs, so the errors are per stage, not accumulated:

  tokens    SentencePiece on the cleaned prompt (exact)
  context   umT5 on the dumped tokens
  noise     torch.manual_seed(seed); torch.randn (exact)
  sampler   DiT + sampler with CFG from the dumped noise and contexts
            (every latent.step{k} and latent.final)
  video     VAE decode of the dumped latent.final
Error columns: max |a - r|, max |a - r| / rms(r), cosine.
"""
import argparse
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402
from reference import cache as step_cache  # noqa: E402
from reference import dit, pipeline, sampler, t5, vae  # noqa: E402


def err(a, r):
    a = torch.as_tensor(np.asarray(a)).double().reshape(-1)
    r = torch.as_tensor(np.asarray(r)).double().reshape(-1)
    d = (a - r).abs().max().item()
    rms = r.pow(2).mean().sqrt().item()
    cos = (a @ r / (a.norm() * r.norm())).item() if a.norm() > 0 and r.norm() > 0 else float("nan")
    return d, d / rms if rms > 0 else float("inf"), cos


def row(name, a, r):
    d, rel, cos = err(a, r)
    print("%-16s %-18s %12.4e %11.3e %14.10f" % (name, list(np.asarray(r).shape), d, rel, cos))
    return rel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dump")
    ap.add_argument("--model", default=None, help="model directory (default: the dump's model)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    d, meta = st.load(a.dump)
    W, H, F = (int(x) for x in meta["size"].split("x"))
    steps, cfg, shift = int(meta["steps"]), float(meta["cfg"]), float(meta["shift"])
    solver, seed = meta["sampler"], int(meta["seed"])
    model_dir = a.model or meta.get("model") or "models/demo"
    print("%s: %s, %d steps, cfg %g, shift %g, %dx%dx%d, seed %d; model %s" % (
        a.dump, solver, steps, cfg, shift, W, H, F, seed, model_dir))
    m = pipeline.Model(model_dir)
    print("%-16s %-18s %12s %11s %14s" % ("stage/tensor", "shape", "max|a-r|", "rel", "cosine"))
    L = m.cfg["text_len"]
    ctx = {1: torch.from_numpy(d["context"]).double()}
    row("tokens", d["tokens"], pipeline.tokenize(m.sp, meta["prompt"], L).numpy())
    row("context", d["context"], t5.encode(m.t5, m.t5_cfg, torch.from_numpy(d["tokens"]).long()))
    if cfg > 1:
        ctx[0] = torch.from_numpy(d["context_neg"]).double()
        row("tokens_neg", d["tokens_neg"], pipeline.tokenize(m.sp, meta["negative_prompt"], L).numpy())
        row("context_neg", d["context_neg"], t5.encode(m.t5, m.t5_cfg, torch.from_numpy(d["tokens_neg"]).long()))
    noise = torch.from_numpy(d["noise"]).double()
    row("noise", d["noise"], pipeline.noise(seed, tuple(noise.shape)))
    listed = [float(v) for v in meta["timesteps"].split(",")] if meta.get("timesteps") else None
    if listed:
        _, ts = sampler.listed_schedule(listed, shift)
    else:
        _, ts = sampler.schedule(steps, shift)
    row("timesteps", d["timesteps"], ts.astype(np.float64))
    spec = step_cache.parse_spec(meta.get("cache"))
    sc = step_cache.Cache(spec[0], spec[1], steps, m.cfg["dim"], **spec[2]) if spec else None
    step = [-1]

    def model(x, t, cond):
        if sc is None:
            return dit.forward(m.dit, m.cfg, x, t, ctx[cond])
        step[0] += cond  # the conditional pass opens each step
        sc.select(step[0], 1 - cond)
        return step_cache.forward(m.dit, m.cfg, x, t, ctx[cond], sc)

    trace = []
    if listed:
        eps = sampler.renoise_stream(seed, tuple(noise.shape), steps - 1) if solver == "distill" else None
        final = sampler.sample_listed(noise, listed, shift, cfg, solver, model, eps, trace=trace)
    else:
        final = sampler.sample(noise, steps, shift, cfg, solver, model, trace=trace)
    if sc is not None:
        row("cache.computed", d["cache.computed"], sc.computed.numpy())
    for k, x in enumerate(trace):
        row("latent.step%d" % k, d["latent.step%d" % k], x)
    row("latent.final", d["latent.final"], final)
    row("video", d["video"], vae.decode_chunked(m.vae, torch.from_numpy(d["latent.final"]).double()))


if __name__ == "__main__":
    main()
