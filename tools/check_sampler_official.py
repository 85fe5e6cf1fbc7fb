#!/usr/bin/python3
"""Developer check, not part of `make golden` or `make test`: runs the official
Wan2.1 FlowUniPCMultistepScheduler (wan/utils/fm_solvers_unipc.py of a Wan2.1
checkout, given as argument) next to tools/reference/sampler.py on the toy
runs of tools/golden_sampler.py, with a minimal stand-in for the few diffusers
names it imports (Debian has no python3-diffusers). Prints, per case, the
largest difference over all steps: in float32 the reference must reproduce the
official scheduler bit for bit; in float64 the difference is the official
float32 scalar coefficients (golden/README.md, section sampler).

    /usr/bin/python3 tools/check_sampler_official.py /path/to/Wan2.1
"""
import dataclasses
import enum
import functools
import importlib.util
import inspect
import os
import sys
import types

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import golden_sampler as G  # noqa: E402
from reference import sampler as S  # noqa: E402


def install_diffusers_stub():
    def register_to_config(init):
        @functools.wraps(init)
        def wrapper(self, *args, **kwargs):
            bound = inspect.signature(init).bind(self, *args, **kwargs)
            bound.apply_defaults()
            cfg = dict(bound.arguments)
            cfg.pop("self")
            self.config = types.SimpleNamespace(**cfg)
            init(self, *args, **kwargs)
        return wrapper

    class ConfigMixin:
        def register_to_config(self, **kw):
            for k, v in kw.items():
                setattr(self.config, k, v)

    @dataclasses.dataclass
    class SchedulerOutput:
        prev_sample: torch.Tensor

    mods = {name: types.ModuleType(name) for name in
            ("diffusers", "diffusers.configuration_utils", "diffusers.schedulers",
             "diffusers.schedulers.scheduling_utils", "diffusers.utils")}
    mods["diffusers.configuration_utils"].ConfigMixin = ConfigMixin
    mods["diffusers.configuration_utils"].register_to_config = register_to_config
    su = mods["diffusers.schedulers.scheduling_utils"]
    su.KarrasDiffusionSchedulers = enum.Enum("KarrasDiffusionSchedulers", "A")
    su.SchedulerMixin = type("SchedulerMixin", (), {})
    su.SchedulerOutput = SchedulerOutput
    mods["diffusers.utils"].deprecate = lambda *a, **k: None
    mods["diffusers.utils"].is_scipy_available = lambda: False
    sys.modules.update(mods)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    install_diffusers_stub()
    path = os.path.join(sys.argv[1], "wan", "utils", "fm_solvers_unipc.py")
    spec = importlib.util.spec_from_file_location("fm_solvers_unipc", path)
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    torch.set_num_threads(1)
    model = G.toy()
    torch.manual_seed(G.RUN_SEED)
    noise = torch.randn(G.RUN_SHAPE)
    bad = 0
    for steps, shift, cfg in [(2, 5.0, 5.0), (5, 5.0, 1.0), (20, 5.0, 5.0), (50, 3.0, 6.0),
                              (50, 5.0, 5.0)]:
        for dt in (torch.float32, torch.float64):
            sch = official.FlowUniPCMultistepScheduler(num_train_timesteps=1000, shift=1,
                                                       use_dynamic_shifting=False)
            sch.set_timesteps(steps, device="cpu", shift=shift)
            sig, ts = S.schedule(steps, shift)
            same_sched = (sch.timesteps.numpy() == ts).all() and (sch.sigmas.numpy() == sig).all()
            x, trace_o = noise.to(dt), []
            for t in sch.timesteps:
                v = model(x, int(t), 1)
                if cfg > 1:
                    v = S.cfg_combine(v, model(x, int(t), 0), cfg)
                x = sch.step(v, t, x, return_dict=False)[0]
                trace_o.append(x)
            trace_r = []
            S.sample(noise, steps, shift, cfg, "unipc", model, dt, trace_r)
            d = max((a.double() - b.double()).abs().max().item() for a, b in zip(trace_o, trace_r))
            ok = same_sched and (d == 0 or dt == torch.float64)
            bad += not ok
            print("%-3s steps %2d shift %g cfg %g %s: schedule %s, max|d| over all steps %.3e" %
                  ("ok" if ok else "BAD", steps, shift, cfg, str(dt)[6:],
                   "identical" if same_sched else "DIFFERS", d))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
