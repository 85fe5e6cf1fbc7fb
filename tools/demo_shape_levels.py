#!/usr/bin/python3
"""At which noise level does a demo DiT lose the object's shape?

Takes n training clips of grammar 2 (drawn and encoded by train_demo's
make_latents with the model's own VAE), noises each latent to level s0
(x = (1 - s0) x0 + s0 eps, the flow-matching interpolation the DiT is
trained on), denoises from there to 0 with the model (Euler, 10 steps,
the model's guidance scale), decodes, and scores the clips with the demo
test's checks (demo_data.measure). A level from which the shapes come back
is one the model can finish; the first level from which they do not is
where it has to decide the shape itself and fails. Level 0 is the VAE
alone (the clips decoded as encoded, no DiT): the most any DiT on this VAE
can reach.

  tools/demo_shape_levels.py --model models/demo-next --n 24 --levels 0,0.3,0.6,0.8,0.95

Needs Debian's python3-torch, python3-numpy and python3-sentencepiece."""
import argparse
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_data  # noqa: E402
import train_demo as td  # noqa: E402
from reference import vae as rvae  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/demo-next", help="an exported grammar-2 demo model folder")
    ap.add_argument("--n", type=int, default=24, help="clips to score at each level")
    ap.add_argument("--levels", default="0.3,0.6,0.8,0.95", help="noise levels s0 to start from")
    ap.add_argument("--work", default=None, help="where the encoded clips are cached (default: a temporary folder)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    sp, vsd = td.load_tokenizer(a.model), td.load_vae(a.model)
    dsd, tsd = td.load_exported_dit(a.model)
    guidance = td.model_settings(a.model)["cfg"]
    work = a.work or tempfile.mkdtemp(prefix="t2v-shape-levels-")
    data = td.make_latents(vsd, work, a.n, seed=4)  # seed 4: not a training or validation seed
    caps, x0 = data["captions"], data["latents"].float()
    ctx, ctx0 = td.prompt_contexts(tsd, sp, caps)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(11))
    cfg = td.dit_config(dsd)
    for s0 in [float(x) for x in a.levels.split(",")]:
        with torch.no_grad():
            x = td.finish_from(dsd, cfg, x0, ctx, ctx0, eps, s0, guidance)
            res, shapes = [], []
            for i, c in enumerate(caps):
                colour, shape, direction, bg = demo_data.parse_caption(c)
                res.append(demo_data.measure(rvae.decode_whole(vsd, x[i]).numpy(), colour, direction, bg,
                                             shape)[:4])
                shapes.append(shape)
        r = np.array(res, dtype=int)
        kept = ", ".join("%ss %d of %d" % (k, sum(r[i, 3] for i in range(len(caps)) if shapes[i] == k),
                                          shapes.count(k)) for k in demo_data.SHAPES)
        print("from s0 = %.2f: colour %d, motion %d, background %d, shape %d, all four %d of %d (shape: %s)" % (
            (s0,) + tuple(r.sum(axis=0)) + (int(r.all(axis=1).sum()), len(caps), kept)), flush=True)


if __name__ == "__main__":
    main()
