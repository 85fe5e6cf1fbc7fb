#!/usr/bin/python3
"""Goldens for the sampler (docs/MODEL.md section 3) from the float64 PyTorch
reference tools/reference/sampler.py, and for the seeded noise from
torch.randn itself. Writes:

  golden/sampler/schedule.safetensors
      sched.J.params [2] (steps, shift), sched.J.sigmas [steps+1] (float32
      scheduler sigmas, last 0), sched.J.timesteps [steps] (I32) for SCHEDULES
  golden/sampler/noise.safetensors
      noise.J = torch.manual_seed(seed); torch.randn(shape), for NOISE
  golden/sampler/runs.safetensors
      noise [16, 2, 3, 5] (seed 2025) and, for each case of RUNS,
      CASE.stepK = latent after step K (x_{K+1}) and CASE.final, where CASE is
      "{solver}.n{steps}.shift{shift:g}.cfg{cfg:g}". The velocity model is
      reference.sampler.toy_model with A, b, ctx from tools/prng.py (seeds
      11..14, the same draws as tests/test_sampler.c).
  golden/sampler/listed.safetensors
      listed schedules (docs/MODEL.md 3.5) on the same toy model and noise:
      for each case of LISTED, CASE.sigmas (float64 values stored F32 for
      reading only), CASE.stepK, CASE.final, CASE = "{solver}.L{j}.cfg{cfg:g}"
      (j: index into LISTS); the distill cases renoise with
      eps = reference.sampler.renoise_stream(RUN_SEED, ...), stored as
      eps.K; stream.J.K: the K-th torch.randn(shape) after
      torch.manual_seed(seed) for STREAMS (torch itself).

The tables below are repeated in tests/test_sampler.c.
"""
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import st  # noqa: E402
from prng import prng_tensor  # noqa: E402
from reference import sampler  # noqa: E402

OUT = os.path.join(root, "golden", "sampler")

SCHEDULES = [(50, 5.0), (50, 3.0), (40, 5.0), (20, 8.0), (30, 12.0), (5, 1.0), (2, 5.0),
             (1, 5.0), (10, 0.5), (25, 7.5), (1000, 5.0)]

# (seed, shape): sizes below and above 16, not multiples of 16, large seeds.
NOISE = [(0, (1,)), (1, (2,)), (2, (3,)), (3, (7,)), (4, (15,)), (5, (16,)), (6, (17,)),
         (7, (31,)), (8, (32,)), (9, (33,)), (42, (100,)), (0, (16, 5, 8, 8)),
         (1234, (16, 3, 6, 10)), (2025, (16, 2, 3, 5)), (99, (1000,)), (7, (4097,)),
         (4294967295, (40,)), (4294967296 + 7, (24,)), (18446744073709551615, (9,)),
         (123456789, (16, 1, 6, 10))]

C = 16
RUN_SHAPE = (C, 2, 3, 5)
RUN_SEED = 2025
RUNS = [(solver, steps, 5.0, cfg) for solver in ("unipc", "euler") for steps in (2, 5, 20)
        for cfg in (1.0, 5.0)] + [("unipc", 50, 3.0, 6.0)]


# (timesteps, shift): CausVid 1.3B's (already shifted), Self-Forcing's, a
# custom Euler/UniPC schedule, one step.
LISTS = [([1000.0, 757.0, 522.0], 1.0), ([1000.0, 750.0, 500.0, 250.0], 5.0),
         ([999.0, 900.0, 700.0, 400.0, 100.0], 3.0), ([500.5], 2.0)]
LISTED = [("distill", 0, 1.0), ("distill", 1, 1.0), ("distill", 1, 3.0), ("distill", 3, 1.0),
          ("euler", 2, 1.0), ("euler", 2, 5.0), ("unipc", 2, 1.0), ("unipc", 2, 5.0),
          ("euler", 1, 1.0)]
# (seed, shape, draws): the generator continued across torch.randn calls.
STREAMS = [(3, (5,), 4), (4, (16,), 3), (5, (17,), 3), (6, (40,), 3), (7, (3,), 5)]


def toy():
    A = prng_tensor(11, (C, C), 0.25)
    b = prng_tensor(12, (C,), 1.0)
    ctx_cond = prng_tensor(13, (C,), 0.5)
    ctx_uncond = prng_tensor(14, (C,), 0.5)
    return sampler.toy_model(A, b, ctx_cond, ctx_uncond)


def case_name(solver, steps, shift, cfg):
    return "%s.n%d.shift%g.cfg%g" % (solver, steps, shift, cfg)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)

    out = {}
    for j, (steps, shift) in enumerate(SCHEDULES):
        sig, ts = sampler.schedule(steps, shift)
        out["sched.%d.params" % j] = torch.tensor([steps, shift], dtype=torch.float32)
        out["sched.%d.sigmas" % j] = torch.from_numpy(sig)
        out["sched.%d.timesteps" % j] = torch.from_numpy(ts.astype("int32"))
    out["negative_prompt"] = np.frombuffer(sampler.DEFAULT_NEGATIVE_PROMPT.encode("utf-8"),
                                           dtype=np.uint8).copy()
    st.save(os.path.join(OUT, "schedule.safetensors"), out)

    out = {}
    for j, (seed, shape) in enumerate(NOISE):
        torch.manual_seed(seed)
        out["noise.%d" % j] = torch.randn(shape)
    st.save(os.path.join(OUT, "noise.safetensors"), out)

    torch.manual_seed(RUN_SEED)
    noise = torch.randn(RUN_SHAPE)
    model = toy()
    out = {"noise": noise}
    for solver, steps, shift, cfg in RUNS:
        trace = []
        final = sampler.sample(noise, steps, shift, cfg, solver, model, torch.float64, trace)
        name = case_name(solver, steps, shift, cfg)
        for k, x in enumerate(trace):
            out["%s.step%d" % (name, k)] = x.float()
        out[name + ".final"] = final.float()
    st.save(os.path.join(OUT, "runs.safetensors"), out)

    out = {}
    eps = sampler.renoise_stream(RUN_SEED, RUN_SHAPE, 3)
    torch.manual_seed(RUN_SEED)  # n % 16 == 0: one draw of 4 equals 4 draws (docs/NOISE.md)
    assert torch.equal(torch.randn((4,) + RUN_SHAPE)[1:], torch.stack(eps))
    for k, e in enumerate(eps):
        out["eps.%d" % k] = e
    for solver, j, cfg in LISTED:
        ts, shift = LISTS[j]
        trace = []
        final = sampler.sample_listed(noise, ts, shift, cfg, solver, model, eps, torch.float64, trace)
        name = "%s.L%d.cfg%g" % (solver, j, cfg)
        for k, x in enumerate(trace):
            out["%s.step%d" % (name, k)] = x.float()
        out[name + ".final"] = final.float()
    for j, (seed, shape, draws) in enumerate(STREAMS):
        torch.manual_seed(seed)
        for k in range(draws):
            out["stream.%d.%d" % (j, k)] = torch.randn(shape)
    st.save(os.path.join(OUT, "listed.safetensors"), out)


if __name__ == "__main__":
    main()
