#!/usr/bin/python3
"""Trains the 4-step student of the demo model (models/demo/lora/student4.safetensors)
by knowledge distillation of the teacher's guided 20-step sampler onto the
distill sampler (docs/MODEL.md 3.5), on the CPU.

Method (output-regression distillation, Luhman & Luhman 2021, on the
distill sampler's own parametrisation):
  1. teacher: for N (caption, seed) pairs of the training grammar
     (tools/demo_data.py, held-out pairs excluded), the teacher's sample
     x0_T = the reference pipeline in float32 with the demo's defaults (20
     UniPC steps, guidance 4 with the empty negative prompt, shift 3) from
     the seed's noise n (tools/reference/pipeline.py noise()).
  2. student: a LoRA (rank --rank on every block linear and the time
     embedding/projection and head linears, full deltas on the modulation
     tensors) on a frozen copy of the teacher DiT; the text encoder is the
     teacher's, frozen and shared. Steps k = 0..3 of the listed schedule
     (--timesteps, --shift; sigma_k as the C sampler computes it): the input
     x_k is, for k = 0, the pair's own noise n (so step 0 learns the
     teacher's deterministic noise -> sample map), else either
     (1 - sigma_k) x0_T + sigma_k eps (fresh eps), or, with probability
     --self, what the distill sampler itself would feed the student: its
     own earlier x0 (no gradient) renoised to sigma_k. The loss is
     |x_k - sigma_k v(x_k, 1000 sigma_k, caption) - x0_T|^2: the student's
     x0 regressed onto the teacher's sample. Guidance is baked in: the
     student runs at cfg 1, one DiT pass per step.
  Why: it needs no discriminator, critic or second model (DMD, adversarial
  distillation), no teacher passes during training (the teacher runs once,
  up front), and the loss is exactly the sampler's x0 at the 4 timesteps
  it will be used at, which is what a tiny CPU budget can afford; the
  self-rollout inputs are what make the few-step chain robust to its own
  errors (as Self-Forcing's and CausVid's students are trained on their own
  rollouts).
  3. validation: the 40 validation prompts of tools/train_demo.py (seeds
     7000..) sampled with the distill sampler at 4 steps (noise and renoise
     stream of docs/NOISE.md) and scored with demo_data.measure.

Everything is seeded; phases are time-boxed (--teacher-minutes, --minutes)
and cached in --work.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_data  # noqa: E402
import demo_lora  # noqa: E402
import st  # noqa: E402
import train_demo as td  # noqa: E402  (also switches the reference VAE to its fast conv)
from reference import pipeline as rpipe  # noqa: E402
from reference import sampler as rsampler  # noqa: E402
from reference import t5 as rt5  # noqa: E402
from reference import vae as rvae  # noqa: E402

ROOT = td.ROOT
SHAPE = td.LATENT_SHAPE
TIME_LINEARS = ("time_embedding.0", "time_embedding.2", "time_projection.1", "head.head")


def log(*a):
    td.log(*a)


def load_teacher(model_dir):
    dsd, tsd = td.load_exported_dit(model_dir)
    return dsd, tsd, td.load_vae(model_dir), td.load_tokenizer(model_dir)


class Contexts:
    """The frozen text encoder's output per caption, computed once."""

    def __init__(self, tsd, sp):
        self.tsd, self.sp, self.cfg, self.cache = tsd, sp, rt5.Config(tsd), {}

    def __call__(self, text):
        if text not in self.cache:
            with torch.no_grad():
                self.cache[text] = rt5.encode(self.tsd, self.cfg, torch.tensor(td.tokenize(self.sp, text)))
        return self.cache[text]


# --- 1. teacher samples -------------------------------------------------------------

def teacher_pairs(n, grammar, seed0=20000):
    """n (caption, seed) of the training combinations of the teacher's
    grammar, seeded."""
    rng = np.random.default_rng(11)
    if grammar >= 2:
        return [(demo_data.caption(*demo_data.draw(rng)), seed0 + i) for i in range(n)]
    combos, bgs = demo_data.all_combinations(), list(demo_data.BACKGROUNDS_V1)
    out = []
    for i in range(n):
        c, s, d = combos[rng.integers(len(combos))]
        out.append((demo_data.caption(c, s, d, bgs[rng.integers(len(bgs))]), seed0 + i))
    return out


def teacher_samples(work, dsd, tsd, sp, n, batch, time_limit, grammar):
    """x0_T of up to n pairs, in chunks of `batch` saved as they finish (a
    rerun resumes; the time box stops between chunks; time_limit 0: only
    the chunks already in `work`)."""
    pairs = teacher_pairs(n, grammar)
    t0, X, caps, seeds = time.time(), [], [], []
    for b0 in range(0, n, batch):
        path = os.path.join(work, "teacher_%05d.safetensors" % b0)
        chunk = pairs[b0:b0 + batch]
        if not os.path.exists(path):
            if time_limit is not None and time.time() - t0 > time_limit:
                if time_limit > 0:
                    log("teacher: time limit reached after %d samples" % b0)
                break
            with torch.no_grad():
                z = td.sample_batch(dsd, tsd, sp, [c for c, _ in chunk], [s for _, s in chunk])
            st.save(path, {"x0": z.float()}, {"captions": json.dumps([c for c, _ in chunk]),
                                               "seeds": json.dumps([s for _, s in chunk])})
            log("teacher: %d samples (%.1f s/sample)" % (b0 + len(chunk), (time.time() - t0) / (b0 + len(chunk))))
        t, meta = st.load(path)
        if json.loads(meta["captions"]) != [c for c, _ in chunk]:
            raise SystemExit("train_student: %s holds samples of other captions (another grammar's teacher); "
                             "use a fresh --work" % path)
        X.append(torch.from_numpy(t["x0"].copy()))
        caps += json.loads(meta["captions"])
        seeds += json.loads(meta["seeds"])
    noise = torch.stack([rpipe.noise(s, SHAPE).float() for s in seeds])
    return {"x0": torch.cat(X), "noise": noise, "captions": caps, "seeds": seeds}


# --- the distill sampler on a batch (the C sampler's math, float32) -----------------

def sigmas_of(timesteps, shift):
    sig, model_t = rsampler.listed_schedule(timesteps, shift)
    return [float(s) for s in sig], [float(np.float32(t)) for t in model_t]


def distill_sample(sd, ctxs, noise, eps, timesteps, shift, upto=None):
    """x0 after the distill sampler's steps 0..upto-1 (all: the sample), with
    eps[k] [B, ...] the renoise of step k; returns (x0, x_upto) where x_upto
    is the renoised input of step `upto`."""
    sig, mt = sigmas_of(timesteps, shift)
    K = len(timesteps) if upto is None else upto
    x, x0 = noise, None
    for k in range(K):
        v = td.dit_forward_batch(sd, td.dit_config(sd), x, torch.full((x.shape[0],), mt[k]), ctxs)
        x0 = x - sig[k] * v
        if k + 1 < len(timesteps):
            x = (1 - sig[k + 1]) * x0 + sig[k + 1] * eps[k]
    return x0, x


def validate(sd, vsd, ctx, timesteps, shift, grammar, cases=None, seed0=td.VAL_SEED):
    """td.score_cases of the validation prompts of the teacher's grammar
    sampled with the distill sampler at cfg 1 (noise and renoise: the seed's
    stream): (colour, motion, background, shape or None, all)."""
    cases = cases or td.val_cases(40, grammar)
    seeds = [seed0 + i for i in range(len(cases))]
    K = len(timesteps)
    streams = [rsampler.renoise_stream(s, SHAPE, K - 1) for s in seeds]
    noise = torch.stack([rpipe.noise(s, SHAPE).float() for s in seeds])
    eps = [torch.stack([streams[b][k] for b in range(len(seeds))]) for k in range(K - 1)]
    with torch.no_grad():
        z, _ = distill_sample(sd, [ctx(c[0]) for c in cases], noise, eps, timesteps, shift)
        return td.score_cases(cases, [rvae.decode_whole(vsd, z[i]).numpy() for i in range(len(cases))], grammar)


# --- 2. student ---------------------------------------------------------------------

def train_student(work, base, data, ctx, vsd, a):
    gen = torch.Generator().manual_seed(5)
    rng = np.random.default_rng(5)
    layers = td.dit_config(base)["num_layers"]
    names = demo_lora.targets(base, layers, TIME_LINEARS)
    diffs = ["blocks.%d.modulation" % i for i in range(layers)] + ["head.modulation"]
    lora, full = demo_lora.init(base, names, a.rank, gen, diffs)
    params = demo_lora.parameters(lora, full)
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    ts = [float(t) for t in a.timesteps.split(",")]
    sig, mt = sigmas_of(ts, a.shift)
    K, N = len(ts), len(data["captions"])
    ctxs = [ctx(c) for c in data["captions"]]
    t0, step = time.time(), 0
    path = os.path.join(work, "student.safetensors")
    while True:
        frac = td.schedule_fraction(step, a.steps, t0, 60 * a.minutes if a.minutes else None)
        if frac >= 1:
            break
        if step and step % a.eval_every == 0:
            sd = {k: v.detach() for k, v in demo_lora.merged(base, lora, full).items()}
            score = validate(sd, vsd, ctx, ts, a.shift, a.grammar)
            log("student step %d validation (40 prompts, 4 steps): %s" % (step, td.score_text(score)))
            demo_lora.save(os.path.join(work, "student_at%d.safetensors" % step), lora, full)
        lr = a.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        js = rng.integers(N, size=a.batch)
        k = int(rng.integers(K))
        x0t, n = data["x0"][js], data["noise"][js]
        c = [ctxs[j] for j in js]
        if k == 0:
            x = n
        elif rng.random() < a.self:
            eps = [torch.randn(x0t.shape, generator=gen) for _ in range(k)]
            with torch.no_grad():
                sd = demo_lora.merged(base, lora, full)
                sd = {q: v.detach() for q, v in sd.items()}
                _, x = distill_sample(sd, c, n, eps, ts, a.shift, upto=k)
        else:
            x = (1 - sig[k]) * x0t + sig[k] * torch.randn(x0t.shape, generator=gen)
        sd = demo_lora.merged(base, lora, full)
        v = td.dit_forward_batch(sd, td.dit_config(sd), x, torch.full((a.batch,), mt[k]), c)
        loss = ((x - sig[k] * v - x0t) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0:
            log("student step %d  k %d  loss %.4f  lr %.1e  (%.2f s/step)" % (step, k, loss.item(), lr,
                                                                           (time.time() - t0) / (step + 1)))
        step += 1
    sd = {q: v.detach() for q, v in demo_lora.merged(base, lora, full).items()}
    score = validate(sd, vsd, ctx, ts, a.shift, a.grammar)
    log("student final (step %d) validation (40 prompts, 4 steps): %s" % (step, td.score_text(score)))
    demo_lora.save(path, lora, full, {"steps": str(step), "timesteps": a.timesteps, "shift": str(a.shift)})
    return lora, full, step, score


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/t2v-student-work")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "demo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "demo", "lora", "student4.safetensors"))
    ap.add_argument("--pairs", type=int, default=6000, help="teacher samples (caption, seed) to generate")
    ap.add_argument("--teacher-batch", type=int, default=100)
    ap.add_argument("--teacher-minutes", type=float, default=12.0, help="time box of the teacher phase; 0: none")
    ap.add_argument("--timesteps", default="1000,750,500,250")
    ap.add_argument("--shift", type=float, default=1.0)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--self", type=float, default=0.5, help="share of k > 0 inputs from the student's own rollout")
    ap.add_argument("--steps", type=int, default=5000, help="length of the lr schedule")
    ap.add_argument("--minutes", type=float, default=30.0, help="time box of the student phase; 0: none")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--teacher-only", action="store_true")
    ap.add_argument("--score-only", default=None, help="a student LoRA file: only score it on the validation prompts")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    os.makedirs(a.work, exist_ok=True)
    dsd, tsd, vsd, sp = load_teacher(a.model)
    a.grammar = td.model_grammar(a.model)
    log("teacher %s: grammar %d" % (a.model, a.grammar))
    ctx = Contexts(tsd, sp)
    ts = [float(t) for t in a.timesteps.split(",")]
    if a.score_only:
        lora, full = demo_lora.load(a.score_only)
        log("validation (40 prompts, 4 steps):",
            td.score_text(validate(demo_lora.merged(dsd, lora, full), vsd, ctx, ts, a.shift, a.grammar)))
        return
    data = teacher_samples(a.work, dsd, tsd, sp, a.pairs, a.teacher_batch,
                           60 * a.teacher_minutes if a.teacher_minutes else None, a.grammar)
    log("teacher samples:", len(data["captions"]))
    if a.teacher_only:
        return
    log("teacher itself at 4 distill steps (40 prompts):", td.score_text(validate(dsd, vsd, ctx, ts, a.shift,
                                                                                    a.grammar)))
    lora, full, steps, score = train_student(a.work, dsd, data, ctx, vsd, a)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    demo_lora.save(a.out, lora, full, {"method": "x0 regression onto 20-step cfg-4 teacher samples",
                                       "timesteps": a.timesteps, "shift": str(a.shift), "steps": str(steps),
                                       "pairs": str(len(data["captions"])), "validation": json.dumps(score)})
    log("wrote", a.out)


if __name__ == "__main__":
    main()
