#!/usr/bin/python3
"""Causal generation goldens (tools/reference/causal.py, float64) for tests/test_causal.c.

golden/causal/forward.safetensors
  The tiny model (golden/models/tiny): clean passes (t = 0, writing the
  cache) of `clean.0` (frames 0-2) and `clean.1` (frames 3-5), then a pass of
  `latent` (frames 6-8) at `t`: `velocity` with every frame kept,
  `velocity.w5s1` with a window of 5 frames and 1 sink frame (frames 1, 2,
  3 and 4 evicted by then).
golden/causal/gen_<name>.safetensors
  A whole chunked generation from explicit inputs: `noise` [16, T, 4, 4],
  `context`, `renoise.b<b>.k<k>` [16, block, 4, 4] and the result
  `latent.final`, plus `latent.b<b>.k<k>` (the block after each step); the
  settings in __metadata__. Case `stream` draws its noise as t2v's seeded
  stream does (docs/NOISE.md): randn(n) after manual_seed(seed), then one
  randn(16 block 4 4) per block and step.
"""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402
import write_tiny_model  # noqa: E402
from reference import causal, dit, pipeline  # noqa: E402

ROOT = os.path.dirname(here)
OUT = os.path.join(ROOT, "golden", "causal")

GEN = [
    # Self-Forcing's list; three blocks, every frame kept; the seeded stream's noise
    dict(name="stream", T=9, block=3, window=0, sink=0, ts=[1000, 750, 500, 250], shift=5.0, seed=7),
    # four blocks through a window of 6 frames: blocks 2 and 3 evict whole blocks
    dict(name="rolling", T=12, block=3, window=6, sink=0, ts=[1000, 750, 500, 250], shift=5.0, seed=8),
    # CausVid's list; window 7 with 1 sink frame: evictions of 2 and 3 frames after the sink
    dict(name="sink", T=12, block=3, window=7, sink=1, ts=[1000, 757, 522], shift=1.0, seed=9),
]


def official_rolling(T, block, window, sink):
    """The published cache rule simulated on frame labels (a buffer of
    `window` slots; a block that does not fit evicts the oldest frames after
    the sink): the frames each block attends to. Checks attended_frames."""
    buf, seen = [], []
    for f0 in range(0, T, block):
        new = list(range(f0, f0 + block))
        if window and len(buf) + block > window:
            evict = len(buf) + block - window
            buf = buf[:sink] + buf[sink + evict:]
        buf = buf + new
        seen.append(list(buf))
    return seen


def check_rule():
    for T, block, window, sink in [(12, 3, 6, 0), (12, 3, 7, 1), (30, 3, 9, 3), (21, 3, 21, 0), (24, 4, 10, 2),
                                   (15, 1, 4, 1)]:
        sim = official_rolling(T, block, window, sink)
        for b, f0 in enumerate(range(0, T, block)):
            got = causal.attended_frames(f0 + block, window, sink)
            assert sorted(got) == sorted(sim[b]), (T, block, window, sink, b, got, sim[b])


def rand(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64).float().double()


def forward_case(m):
    g = torch.Generator().manual_seed(2024)
    clean = [rand(g, 16, 3, 4, 4) for _ in range(2)]
    latent, ctx = rand(g, 16, 3, 4, 4), rand(g, 5, m.cfg["text_dim"])
    t = 937.5
    out = {"clean.0": clean[0], "clean.1": clean[1], "latent": latent, "context": ctx,
           "t": torch.tensor([t], dtype=torch.float64)}
    # the first block sees only itself: the bidirectional forward of dit.py on its frames
    first = causal.forward(m.dit, m.cfg, latent, t, 0, ctx, {})
    assert torch.allclose(first, dit.forward(m.dit, m.cfg, latent, t, ctx), rtol=0, atol=1e-12)
    for name, window, sink in (("velocity", None, 0), ("velocity.w5s1", 5, 1)):
        cache = {}
        for b in range(2):
            causal.forward(m.dit, m.cfg, clean[b], 0.0, 3 * b, ctx, cache, window, sink, write=True)
        out[name] = causal.forward(m.dit, m.cfg, latent, t, 6, ctx, cache, window, sink)
    st.save(os.path.join(OUT, "forward.safetensors"), {k: v.to(torch.float32) for k, v in out.items()},
            {"model": "golden/models/tiny", "compute": "float64", "made_by": "tools/golden_causal.py"})


def gen_case(m, c):
    T, B, K = c["T"], c["block"], len(c["ts"])
    n, nb = 16 * T * 16, 16 * B * 16
    torch.manual_seed(c["seed"])
    noise = torch.randn(n).double().reshape(16, T, 4, 4)
    renoise = [[torch.randn(nb).double().reshape(16, B, 4, 4) for _ in range(K - 1)] for _ in range(T // B)]
    g = torch.Generator().manual_seed(c["seed"] + 100)
    ctx = rand(g, 6, m.cfg["text_dim"])
    trace = []
    final = causal.generate(m.dit, m.cfg, noise, ctx, c["ts"], c["shift"], B, renoise, c["window"] or None,
                            c["sink"], trace=trace)
    out = {"noise": noise, "context": ctx, "latent.final": final}
    for b in range(T // B):
        for k in range(K):
            out["latent.b%d.k%d" % (b, k)] = trace[b * K + k]
            if k < K - 1:
                out["renoise.b%d.k%d" % (b, k)] = renoise[b][k]
    meta = {"latent_frames": str(T), "block": str(B), "window": str(c["window"]), "sink": str(c["sink"]),
            "timesteps": ",".join("%g" % t for t in c["ts"]), "shift": "%g" % c["shift"], "seed": str(c["seed"]),
            "model": "golden/models/tiny", "compute": "float64", "made_by": "tools/golden_causal.py"}
    st.save(os.path.join(OUT, "gen_%s.safetensors" % c["name"]), {k: v.to(torch.float32) for k, v in out.items()},
            meta)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    check_rule()
    print("  causal: the attended-frames rule agrees with the published rolling cache")
    if not os.path.exists(os.path.join(write_tiny_model.OUT, "config.json")):
        write_tiny_model.main()
    m = pipeline.Model(write_tiny_model.OUT)
    forward_case(m)
    print("  causal: forward")
    for c in GEN:
        gen_case(m, c)
        print("  causal: gen_%s" % c["name"])


if __name__ == "__main__":
    main()
