#!/usr/bin/python3
"""The demo DiT's own samples that pass the demo test's checks, to train on.

Draws n prompts of grammar 2's training set (demo_data.draw, the shape
then redrawn in the shares --shapes), samples each with the model as
validation does (train_demo.sample_batch: the reference pipeline's noise
for seed S * 100000 + i, UniPC with train_demo's DEFAULTS, which its
export writes into t2v.json),
decodes it with the model's VAE and scores it with the demo test's checks
(demo_data.measure). The latents of the samples that pass all four are
written as train_demo's latents phase caches them, for `train_demo.py
--add-latents FILE`: fine-tuning on a model's own successful samples
(rejection sampling, as RAFT and ReST do for language and image models)
moves it toward the samples it already draws right. The prompts are
drawn from the training set with their own seed, so they overlap the
validation's captions (the grammar is small) but never its noise.

  tools/demo_self_samples.py --model models/demo-next --n 2400 --seed 31 --out W/self_2400_s31.pt

Needs Debian's python3-torch, python3-numpy and python3-sentencepiece."""
import argparse
import collections
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_data  # noqa: E402
import train_demo as td  # noqa: E402
from reference import vae as rvae  # noqa: E402


def draw_cases(n, seed, shares):
    """n (caption, colour, direction, bg, shape) of the training set."""
    rng, cases = np.random.default_rng(seed), []
    while len(cases) < n:
        color, _, d, bg = demo_data.draw(rng)
        shape = demo_data.SHAPES[rng.choice(3, p=shares)]
        if demo_data.trained(color, shape, bg):
            cases.append((demo_data.caption(color, shape, d, bg), color, d, bg, shape))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/demo-next", help="an exported grammar-2 demo model folder")
    ap.add_argument("--n", type=int, default=2400, help="prompts to sample")
    ap.add_argument("--seed", type=int, default=31, help="draws the prompts; sample i has noise seed SEED*100000+i")
    ap.add_argument("--shapes", default=[0.2, 0.3, 0.5], type=td.shape_shares, metavar="C,S,T",
                    help="shares of circles, squares and triangles among the prompts")
    ap.add_argument("--batch", type=int, default=32, help="prompts sampled together")
    ap.add_argument("--out", required=True, help="the latents file to write")
    a = ap.parse_args()
    if a.n < 1 or a.batch < 1:
        ap.error("--n and --batch: at least 1")
    if td.model_grammar(a.model) < 2:
        ap.error("%s: not a grammar-2 demo model (t2v.json's demo_grammar)" % a.model)
    torch.set_num_threads(1)
    sp, vsd = td.load_tokenizer(a.model), td.load_vae(a.model)
    dsd, tsd = td.load_exported_dit(a.model)
    cases = draw_cases(a.n, a.seed, np.asarray(a.shapes) / sum(a.shapes))
    caps, lats, tot, ok = [], [], collections.Counter(), collections.Counter()
    t0 = time.time()
    with torch.no_grad():
        for b in range(0, a.n, a.batch):
            cs = cases[b:b + a.batch]
            z = td.sample_batch(dsd, tsd, sp, [c[0] for c in cs], [a.seed * 100000 + b + i for i in range(len(cs))])
            for c, zi in zip(cs, z):
                passed = all(demo_data.measure(rvae.decode_whole(vsd, zi).numpy(), *c[1:])[:4])
                tot[c[4]] += 1
                ok[c[4]] += passed
                if passed:
                    caps.append(c[0])
                    lats.append(zi.clone())
            td.log("%d/%d sampled, %d kept (%s), %.2f s a sample" % (
                b + len(cs), a.n, len(caps), ", ".join("%s %d/%d" % (s, ok[s], tot[s]) for s in demo_data.SHAPES),
                (time.time() - t0) / (b + len(cs))))
    if not caps:
        raise SystemExit("no sample passed: nothing to write")
    torch.save({"captions": caps, "latents": torch.stack(lats)}, a.out)
    td.log("wrote %s: %d latents" % (a.out, len(caps)))


if __name__ == "__main__":
    main()
