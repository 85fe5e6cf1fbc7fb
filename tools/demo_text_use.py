#!/usr/bin/python3
"""How much does a demo DiT read each word of its caption?

Two measurements on an exported grammar-2 demo model, both on clips drawn
by tools/demo_data.py and encoded by the model's own VAE:

1. Following a word. n pairs of clips that differ in one word of the
   caption and in nothing else (the same path, size, speed; kind "colour":
   another object colour; kind "shape": circle <-> triangle, square ->
   circle). Clip A is noised to level s (x = (1 - s) x0_A + s eps, the
   flow-matching interpolation), and the model predicts x0 from it twice,
   once with A's caption and once with B's: x0_hat = x - s v. The share
   of the true difference that the caption alone moves the prediction,

       follow = <x0_hat(B) - x0_hat(A), x0_B - x0_A> / |x0_B - x0_A|^2,

   is 0 for a model that ignores the word and 1 for one that draws B
   exactly from A's noisy clip. Near s = 1 the object's place is not yet
   known and no model can reach 1; compare the kinds at the same level.

2. Looking at a word. The cross-attention probability each block gives
   the object's colour word, the shape word, the background's colour word
   and the padding (all positions after the caption's end-of-sequence),
   averaged over heads, video tokens and clips, at level 0.9.

  tools/demo_text_use.py --model models/demo-next --n 32
  tools/demo_text_use.py --model models/demo-next --weights W/dit_..._at2000.safetensors

Needs Debian's python3-torch, python3-numpy and python3-sentencepiece."""
import argparse
import contextlib
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_data  # noqa: E402
import train_demo as td  # noqa: E402
from reference import vae as rvae  # noqa: E402


def other(kind, c, s, d, bg, rng):
    """Clip A's caption parts with one word changed (None: not a trained combination)."""
    if kind == "colour":
        b = (list(demo_data.PALETTE)[rng.integers(len(demo_data.PALETTE))], s, d, bg)
    else:
        b = (c, "triangle" if s == "circle" else "circle", d, bg)
    return b if b != (c, s, d, bg) and demo_data.trained(b[0], b[1], b[3]) else None


def clip_pairs(vsd, kind, n, seed=21):
    """n (caption A, caption B, latent A, latent B) that differ in one word."""
    rng = np.random.default_rng(seed)
    caps, lats = [], []
    with torch.no_grad():
        while len(caps) < n:
            a = demo_data.draw(rng)
            b = other(kind, *a, rng)
            if b is None:
                continue
            p = demo_data.render_params(a[2], rng)
            caps.append((demo_data.caption(*a), demo_data.caption(*b)))
            lats.append([rvae.encode_whole(vsd, torch.from_numpy(demo_data.render_at(*m, *p))).float()
                         for m in (a, b)])
    return caps, torch.stack([x for x, _ in lats]), torch.stack([y for _, y in lats])


def follow(dsd, cfg, ctx_a, ctx_b, x0_a, x0_b, s, eps):
    """The share of x0_b - x0_a that changing the caption moves the prediction."""
    x = (1 - s) * x0_a + s * eps
    t = torch.full((x.shape[0],), s * 1000.0)
    pa = x - s * td.dit_forward_batch(dsd, cfg, x, t, ctx_a)
    pb = x - s * td.dit_forward_batch(dsd, cfg, x, t, ctx_b)
    moved, true = (pb - pa).flatten().double(), (x0_b - x0_a).flatten().double()
    return float(moved @ true / (true @ true))


@contextlib.contextmanager
def cross_attention_probabilities(text_len, out):
    """Appends each cross-attention's probabilities, averaged over heads and
    video tokens ([B, text_len]), to out while the block is open."""
    plain = td._attention_b

    def recording(q, k, v):
        if k.shape[1] == text_len:
            p = torch.softmax(torch.einsum("bqnd,bknd->bnqk", q, k) / math.sqrt(q.size(-1)), dim=-1)
            out.append(p.mean(dim=(1, 2)))
        return plain(q, k, v)
    td._attention_b = recording
    try:
        yield out
    finally:
        td._attention_b = plain


def word_attention(dsd, cfg, sp, caps, ctx, x0, s, eps):
    """Per block: the mean probability on the object colour, shape and background words and on the padding."""
    probs = []
    x = (1 - s) * x0 + s * eps
    with torch.no_grad(), cross_attention_probabilities(td.DIT_CFG["text_len"], probs):
        td.dit_forward_batch(dsd, cfg, x, torch.full((x.shape[0],), s * 1000.0), ctx)
    rows = []
    for p in probs:
        share = np.zeros(4)
        for i, c in enumerate(caps):
            pieces = [sp.id_to_piece(t) for t in sp.encode(c)]
            words = c.split()  # a COLOR SHAPE ... on a BG background
            at = [pieces.index(w) for w in (words[1], words[2], words[-2])]
            share += [float(p[i, j]) for j in at] + [float(p[i, len(pieces) + 1:].sum())]
        rows.append(share / len(caps))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/demo-next", help="an exported grammar-2 demo model folder")
    ap.add_argument("--n", type=int, default=32, help="pairs of clips of each kind")
    ap.add_argument("--weights", default=None,
                    help="a weights file train_demo.py saved (*.safetensors) to measure instead of the model's DiT")
    ap.add_argument("--levels", default="0.7,0.8,0.9,0.95,0.98", help="noise levels s")
    a = ap.parse_args()
    torch.set_num_threads(1)
    sp, vsd = td.load_tokenizer(a.model), td.load_vae(a.model)
    dsd, tsd = td.load_exported_dit(a.weights or a.model)
    cfg = td.dit_config(dsd)
    levels = [float(x) for x in a.levels.split(",")]
    for kind in ("colour", "shape"):
        caps, x0_a, x0_b = clip_pairs(vsd, kind, a.n)
        ctx_a, _ = td.prompt_contexts(tsd, sp, [c for c, _ in caps])
        ctx_b, _ = td.prompt_contexts(tsd, sp, [c for _, c in caps])
        eps = torch.randn(x0_a.shape, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            shares = [follow(dsd, cfg, list(ctx_a), list(ctx_b), x0_a, x0_b, s, eps) for s in levels]
        print("follows the %-6s word: %s" % (kind, ", ".join("%.2f at s %.2f" % (f, s)
                                                             for f, s in zip(shares, levels))), flush=True)
        if kind == "shape":
            rows = word_attention(dsd, cfg, sp, [c for c, _ in caps], list(ctx_a), x0_a, 0.9, eps)
            for b, r in enumerate(rows):
                print("block %d cross-attention at s 0.90: object colour %.3f, shape %.3f, background %.3f, "
                      "padding %.3f" % (b, *r))


if __name__ == "__main__":
    main()
