#!/usr/bin/python3
"""Trains a LoRA that teaches the demo model (models/demo) a colour it has
never seen: lime (tools/demo_data.py EXTRA_COLORS), shipped as
models/demo/lora/lime.safetensors in the original/ComfyUI key convention
(`t2v generate --lora FILE`; tools/demo_lora.py).

  1. data: clips of the grammar with "lime" as the object colour (every
     shape, direction and background), encoded by the demo's VAE; and, so
     that the old words keep working (prior preservation, as in DreamBooth),
     the teacher's own samples of old captions that tools/train_student.py
     generated (its --work), with their captions.
  2. LoRA: rank --rank on the attention and FFN linears of every block
     (tools/demo_lora.py), the base DiT and text encoder frozen. The word
     "lime" is not in the tokenizer's vocabulary: it reaches the frozen text
     encoder spelled out (l, i, m, e), and the adapted cross-attention learns
     what those rows mean. Objective: train_demo's flow matching (x_s =
     (1 - s) x0 + s eps, target eps - x0, s logit-normal shifted by 3), 10% of
     captions dropped to "" (the demo samples with guidance 4), half of each
     batch lime clips, half preservation samples.
  3. scores: the demo's sampler (20 UniPC steps, guidance 4) with the LoRA on
     20 lime prompts (the object's colour must be nearest lime among the
     demo's colours and lime) and on the 40 validation prompts of
     train_demo.py (the old words), with demo_data.measure.

Seeded and time-boxed (--minutes); the encoded clips are cached in --work.
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
import train_demo as td  # noqa: E402
import train_student as ts  # noqa: E402
from reference import vae as rvae  # noqa: E402

WORD = "lime"


def roles(grammar):
    """(object palette with lime, backgrounds) of the teacher's grammar: lime
    is named among the grammar's object colours and lime, on any of its
    backgrounds."""
    if grammar >= 2:
        return dict(demo_data.PALETTE, **demo_data.EXTRA_COLORS), demo_data.PALETTE
    return dict(demo_data.COLORS_V1, **demo_data.EXTRA_COLORS), demo_data.BACKGROUNDS_V1


def lime_latents(work, vsd, n, grammar):
    path = os.path.join(work, "lime_latents_%d%s.pt" % (n, "" if grammar < 2 else "_g%d" % grammar))
    if os.path.exists(path):
        return torch.load(path)
    rng = np.random.default_rng(21)
    bgs, caps, lats, t0 = list(roles(grammar)[1]), [], [], time.time()
    with torch.no_grad():
        for i in range(n):
            shape = demo_data.SHAPES[rng.integers(3)]
            d = list(demo_data.DIRECTIONS)[rng.integers(5)]
            bg = bgs[rng.integers(len(bgs))]
            caps.append(demo_data.caption(WORD, shape, d, bg))
            clip = demo_data.render(WORD, shape, d, bg, rng)
            lats.append(rvae.encode_whole(vsd, torch.from_numpy(clip)).float())
            if i % 100 == 0:
                td.log("lime latents %d/%d (%.2f s each)" % (i, n, (time.time() - t0) / (i + 1)))
    data = {"captions": caps, "latents": torch.stack(lats)}
    torch.save(data, path)
    return data


def lime_cases(grammar, n=20):
    """(caption, colour, direction, bg, shape) of n lime prompts."""
    bgs, dirs = list(roles(grammar)[1]), list(demo_data.DIRECTIONS)
    return [(demo_data.caption(WORD, demo_data.SHAPES[i % 3], dirs[i % 5], bgs[(i // 5) % len(bgs)]), WORD,
             dirs[i % 5], bgs[(i // 5) % len(bgs)], demo_data.SHAPES[i % 3]) for i in range(n)]


LIME_SEED = 7100


def score_lime(sd, tsd, sp, vsd, grammar):
    """(colour, motion, background, shape or None, all) of the lime prompts
    with the demo's sampler, the colour named among roles(grammar); shape
    checked from grammar 2."""
    cases, (palette, bgs) = lime_cases(grammar), roles(grammar)
    with torch.no_grad():
        z = td.sample_batch(sd, tsd, sp, [c[0] for c in cases], [LIME_SEED + i for i in range(len(cases))])
        res = [demo_data.measure(rvae.decode_whole(vsd, z[i]).numpy(), *cases[i][1:4],
                                 shape=cases[i][4] if grammar >= 2 else None, palette=palette, backgrounds=bgs,
                                 wrap=grammar >= 2)
               for i in range(len(cases))]
    k = 4 if grammar >= 2 else 3
    shape = sum(r[3] for r in res) if grammar >= 2 else None
    return tuple(sum(r[j] for r in res) for j in range(3)) + (shape, sum(all(r[:k]) for r in res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/t2v-student-work", help="also where train_student.py's teacher samples are")
    ap.add_argument("--model", default=os.path.join(td.ROOT, "models", "demo"))
    ap.add_argument("--out", default=os.path.join(td.ROOT, "models", "demo", "lora", "lime.safetensors"))
    ap.add_argument("--clips", type=int, default=600)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3000, help="length of the lr schedule")
    ap.add_argument("--minutes", type=float, default=15.0, help="time box; 0: none")
    ap.add_argument("--lime-share", type=float, default=0.5, help="share of each batch that is lime clips")
    ap.add_argument("--from", dest="init", default=None, help="a LoRA file this tool wrote: train it further")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-only", action="store_true")
    ap.add_argument("--score-only", default=None, help="a LoRA file: only score it")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    os.makedirs(a.work, exist_ok=True)
    dsd, tsd, vsd, sp = ts.load_teacher(a.model)
    grammar = td.model_grammar(a.model)
    td.log("teacher %s: grammar %d" % (a.model, grammar))
    if a.score_only:
        lora, full = demo_lora.load(a.score_only)
        sd = demo_lora.merged(dsd, lora, full)
        td.log("base: lime", td.score_text(score_lime(dsd, tsd, sp, vsd, grammar)))
        td.log("lora: lime", td.score_text(score_lime(sd, tsd, sp, vsd, grammar)),
               "old words", td.score_text(td.validate(vsd, sd, tsd, sp, grammar=grammar)))
        return
    new = lime_latents(a.work, vsd, a.clips, grammar)
    if a.data_only:
        return
    old = ts.teacher_samples(a.work, dsd, tsd, sp, 100000, 100, 0, grammar)  # the chunks already there
    td.log("lime clips %d, preservation samples %d" % (len(new["captions"]), len(old["captions"])))
    ctx = ts.Contexts(tsd, sp)
    gen, rng = torch.Generator().manual_seed(8), np.random.default_rng(8)
    cfg = td.dit_config(dsd)
    lora, full = demo_lora.init(dsd, demo_lora.targets(dsd, cfg["num_layers"]), a.rank, gen)
    if a.init:
        lora = {n: (d.requires_grad_(True), u.requires_grad_(True)) for n, (d, u) in demo_lora.load(a.init)[0].items()}
        td.log("lora: starting from", a.init)
    params = demo_lora.parameters(lora, full)
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    t0, step, half = time.time(), 0, int(round(a.batch * a.lime_share))
    while True:
        frac = td.schedule_fraction(step, a.steps, t0, 60 * a.minutes if a.minutes else None)
        if frac >= 1:
            break
        lr = a.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        jn, jo = rng.integers(len(new["captions"]), size=half), rng.integers(len(old["captions"]), size=a.batch - half)
        x0 = torch.cat([new["latents"][jn], old["x0"][jo]])
        texts = [new["captions"][j] for j in jn] + [old["captions"][j] for j in jo]
        texts = ["" if rng.random() < 0.1 else t for t in texts]
        s = torch.sigmoid(torch.randn(a.batch, generator=gen))
        s = 3 * s / (1 + 2 * s)
        eps = torch.randn(x0.shape, generator=gen)
        sv = s.view(-1, 1, 1, 1, 1)
        v = td.dit_forward_batch(demo_lora.merged(dsd, lora, {}), cfg, (1 - sv) * x0 + sv * eps, s * 1000.0,
                                 [ctx(t) for t in texts])
        loss = ((v - (eps - x0)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0:
            td.log("lora step %d  loss %.4f  lr %.1e  (%.2f s/step)" % (step, loss.item(), lr,
                                                                     (time.time() - t0) / (step + 1)))
        step += 1
    sd = {k: v.detach() for k, v in demo_lora.merged(dsd, lora, full).items()}
    lime, oldw = score_lime(sd, tsd, sp, vsd, grammar), td.validate(vsd, sd, tsd, sp, grammar=grammar)
    td.log("lora (step %d): lime prompts: %s; old words: %s" % (step, td.score_text(lime), td.score_text(oldw)))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    total = step + (int(st.load(a.init)[1].get("steps", 0)) if a.init else 0)
    demo_lora.save(a.out, lora, full, {"word": WORD, "rgb": json.dumps(demo_data.EXTRA_COLORS[WORD]),
                                       "steps": str(total), "lime_score": json.dumps(lime),
                                       "old_words_score": json.dumps(oldw)})
    td.log("wrote", a.out)


if __name__ == "__main__":
    main()
