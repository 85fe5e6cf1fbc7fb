#!/usr/bin/python3
"""Long-video goldens (tools/reference/context.py, float64) for tests/test_long.c:

golden/long/schedules.safetensors
  `<schedule>.T<T>.w<frames>.o<overlap>.s<step>`: I32, the first latent frame
  of each context window of that sampling step, in the schedule's order.
golden/long/windowed_<name>.safetensors
  The tiny model (golden/models/tiny) sampled with context windows from
  explicit inputs: noise, context, context_neg (cfg > 1), timesteps,
  latent.step{k}, latent.final; the settings in __metadata__ (window and
  overlap in frames and latent frames, schedule, sampler, steps, cfg, shift).
  `zero_weight_steps` in the metadata lists the steps where some frame's
  weights summed to 0 (the plain-mean rule).
golden/long/chain_<name>.safetensors
  The same for the chain schedule (context.chained): latent.step{k} is the
  clip with every window's x_{k+1} written over its frames, in window order;
  `held` in the metadata lists the frames each window holds.
golden/long/riflex.safetensors
  The tiny DiT's velocity on `latent` [16, 9, 4, 4] at `t` with RIFLEx
  component k over L_test = 9 latent frames (`velocity.k<k>`), and without
  (`velocity.off`); `riflex_default_k.h<head>.L<L>` (I32 [1]): the component
  nearest the trained length for head sizes 16, 64, 128.
"""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402
import write_tiny_model  # noqa: E402
from reference import context, dit, pipeline, sampler, t5  # noqa: E402

ROOT = os.path.dirname(here)
OUT = os.path.join(ROOT, "golden", "long")

SCHEDULE_CASES = [(T, w, o) for T in (6, 9, 21, 41, 121, 241)
                  for (w, o) in ((3, 1), (3, 2), (5, 0), (5, 2), (5, 4), (21, 4), (21, 0))
                  if w < T]
SCHEDULE_STEPS = 12

WINDOWED = [
    # 29 frames = 8 latent frames; windows of 13 frames = 4 latent, overlap 8 = 2
    dict(name="uniform", frames=29, window=13, overlap=8, schedule="uniform", sampler="unipc", steps=4,
         cfg=4.0, shift=3.0, seed=5, prompt="a red circle moving to the right", negative="a blurry picture"),
    dict(name="static", frames=37, window=13, overlap=4, schedule="static", sampler="euler", steps=3,
         cfg=1.0, shift=5.0, seed=11, prompt="a blue square", negative=""),
    # 21 frames = 6 latent; windows of 9 frames = 3 latent, overlap 8 = 2: at
    # step 1 two windows meet edge to edge (weights summing to 0)
    dict(name="edges", frames=21, window=9, overlap=8, schedule="uniform", sampler="unipc", steps=3,
         cfg=3.0, shift=3.0, seed=3, prompt="a green bird", negative="a dark picture"),
]

CHAINED = [
    # 33 frames = 9 latent; windows of 13 frames = 4 latent, overlap 8 = 2:
    # windows at 0, 2, 4 and 5 (the last moved back, holding 3 frames)
    dict(name="unipc", frames=33, window=13, overlap=8, sampler="unipc", steps=3, cfg=4.0, shift=3.0, seed=17,
         prompt="a red circle moving to the right", negative="a blurry picture"),
    # 29 frames = 8 latent; windows of 13 = 4 latent, overlap 4 = 1: 0, 3, 4
    dict(name="euler", frames=29, window=13, overlap=4, sampler="euler", steps=2, cfg=1.0, shift=5.0, seed=23,
         prompt="a blue square", negative=""),
]


def schedules():
    out = {}
    for sched in ("static", "uniform"):
        for T, w, o in SCHEDULE_CASES:
            for step in range(SCHEDULE_STEPS):
                wins = context.windows(sched, step, T, w, o)
                for win in wins:
                    assert win == list(range(win[0], win[0] + w)), (sched, T, w, o, step, win)
                name = "%s.T%d.w%d.o%d.s%d" % (sched, T, w, o, step)
                out[name] = torch.tensor([win[0] for win in wins], dtype=torch.int32)
    st.save(os.path.join(OUT, "schedules.safetensors"), out,
            {"made_by": "tools/golden_long.py", "compute": "python"})
    return len(out)


def zero_weight_steps(T, w, o, sched, steps):
    bad = []
    for step in range(steps):
        tot = torch.zeros(T, dtype=torch.float64)
        for win in context.windows(sched, step, T, w, o):
            tot[win] += context.weights(win, T, o)
        if (tot <= 0).any():
            bad.append(step)
    return bad


def case_inputs(m, c):
    """A case's contexts {1: prompt, 0: negative when cfg > 1}, the tensors
    they go into the golden as, its latent sizes (T, window, overlap) and
    its noise."""
    text_len = m.cfg["text_len"]
    ctx = {1: t5.encode(m.t5, m.t5_cfg, pipeline.tokenize(m.sp, c["prompt"], text_len))}
    out = {"context": ctx[1]}
    if c["cfg"] > 1:
        ctx[0] = t5.encode(m.t5, m.t5_cfg, pipeline.tokenize(m.sp, c["negative"], text_len))
        out["context_neg"] = ctx[0]
    T, lw, lo = 1 + (c["frames"] - 1) // 4, 1 + (c["window"] - 1) // 4, c["overlap"] // 4
    return ctx, out, (T, lw, lo), pipeline.noise(c["seed"], (16, T, 4, 4))


def sample_windowed(m, c):
    ctx, out, (T, lw, lo), noise = case_inputs(m, c)
    sigmas, timesteps = sampler.schedule(c["steps"], c["shift"])
    run = context.blended(lambda x, t, cond: dit.forward(m.dit, m.cfg, x, t, ctx[cond]), c["schedule"], lw, lo)
    # the loop of sampler.sample, with the step index the schedule needs
    x = noise.clone()
    unipc = sampler.FlowUniPC(sigmas) if c["sampler"] == "unipc" else None
    sig = torch.as_tensor(sigmas, dtype=torch.float64)
    for i in range(c["steps"]):
        t = int(timesteps[i])
        v = run(x, t, 1, i)
        if c["cfg"] > 1:
            v = sampler.cfg_combine(v, run(x, t, 0, i), c["cfg"])
        x = unipc.step(v, i, x) if unipc else sampler.euler_step(sig, v, i, x)
        out["latent.step%d" % i] = x
    out.update({"noise": noise, "timesteps": torch.tensor(timesteps, dtype=torch.float64), "latent.final": x})
    zero = zero_weight_steps(T, lw, lo, c["schedule"], c["steps"])
    meta = {k: ("%g" % v if isinstance(v, float) else str(v)) for k, v in c.items() if k != "name"}
    meta.update({"latent_frames": str(T), "window_latent": str(lw), "overlap_latent": str(lo),
                 "zero_weight_steps": ",".join(str(s) for s in zero), "model": "golden/models/tiny",
                 "compute": "float64", "made_by": "tools/golden_long.py"})
    st.save(os.path.join(OUT, "windowed_%s.safetensors" % c["name"]),
            {k: v.to(torch.float32) for k, v in out.items()}, meta)
    return zero


def sample_chained(m, c):
    ctx, out, (T, lw, lo), noise = case_inputs(m, c)
    sigmas, timesteps = sampler.schedule(c["steps"], c["shift"])
    trace = []
    x = context.chained(noise, lw, lo, c["steps"], c["shift"], c["sampler"],
                        lambda x, t, cond: dit.forward(m.dit, m.cfg, x, t, ctx[cond]), c["cfg"],
                        tuple(m.cfg["patch_size"][1:]), trace)
    out.update({"latent.step%d" % i: v for i, v in enumerate(trace)})
    out.update({"noise": noise, "timesteps": torch.tensor(timesteps, dtype=torch.float64), "latent.final": x})
    wins = context.windows("static", 0, T, lw, lo)
    held = [len([f for f in w if any(f in p for p in wins[:k])]) for k, w in enumerate(wins)]
    meta = {k: ("%g" % v if isinstance(v, float) else str(v)) for k, v in c.items() if k != "name"}
    meta.update({"schedule": "chain", "latent_frames": str(T), "window_latent": str(lw), "overlap_latent": str(lo),
                 "starts": ",".join(str(w[0]) for w in wins), "held": ",".join(str(k) for k in held),
                 "model": "golden/models/tiny", "compute": "float64", "made_by": "tools/golden_long.py"})
    st.save(os.path.join(OUT, "chain_%s.safetensors" % c["name"]),
            {k: v.to(torch.float32) for k, v in out.items()}, meta)
    return held


def riflex(m):
    g = torch.Generator().manual_seed(99)
    latent = torch.randn(16, 9, 4, 4, generator=g, dtype=torch.float64).float().double()
    ctx = t5.encode(m.t5, m.t5_cfg, pipeline.tokenize(m.sp, "a yellow triangle", m.cfg["text_len"]))
    t = 731.0
    out = {"latent": latent, "context": ctx, "t": torch.tensor([t], dtype=torch.float64),
           "velocity.off": dit.forward(m.dit, m.cfg, latent, t, ctx)}
    head = m.cfg["dim"] // m.cfg["num_heads"]
    for k in range(1, (head - 4 * (head // 6)) // 2 + 1):
        out["velocity.k%d" % k] = dit.forward(m.dit, m.cfg, latent, t, ctx, riflex=(k, 9))
    tensors = {k: v.to(torch.float32) for k, v in out.items()}
    for h in (16, 64, 128):
        for L in (2, 5, 21, 31):
            tensors["riflex_default_k.h%d.L%d" % (h, L)] = torch.tensor(
                [context.riflex_default_k(h, L)], dtype=torch.int32)
    st.save(os.path.join(OUT, "riflex.safetensors"), tensors,
            {"L_test": "9", "model": "golden/models/tiny", "compute": "float64", "made_by": "tools/golden_long.py"})


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    print("  schedules: %d window lists" % schedules())
    if not os.path.exists(os.path.join(write_tiny_model.OUT, "config.json")):
        write_tiny_model.main()
    m = pipeline.Model(write_tiny_model.OUT)
    for c in WINDOWED:
        zero = sample_windowed(m, c)
        print("  windowed_%s: zero-weight steps %s" % (c["name"], zero))
    if not zero_weight_steps(6, 3, 2, "uniform", 3):
        raise SystemExit("the 'edges' case no longer meets the plain-mean rule")
    for c in CHAINED:
        print("  chain_%s: frames held per window %s" % (c["name"], sample_chained(m, c)))
    riflex(m)
    print("  riflex: done")


if __name__ == "__main__":
    main()
