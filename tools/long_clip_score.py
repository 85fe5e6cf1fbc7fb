#!/usr/bin/python3
"""Scores a long demo clip segment by segment (docs/ARCHITECTURE.md 10b):

  tools/long_clip_score.py DUMP.safetensors COLOUR [--segment 17] [--window 17 --overlap 8]

DUMP is `t2v generate --dump DIR`'s DIR/dump.safetensors (its `video`
[3, F, H, W] in [-1, 1]); COLOUR one of red, green, blue, yellow, cyan,
magenta, white, orange, purple. Per segment of --segment frames: the share of
frames where the object (pixels nearest COLOUR among the demo's colours and
the grey background) covers at least 12 pixels, and the displacement of its
centroid between the segment's first and last 4 frames. Seams: the mean
absolute frame-to-frame difference at the frames where static context
windows of --window frames overlapping by --overlap meet, against twice the
median difference (the uniform schedule moves its seams every step, so only
the static one has fixed places to look). Prints a table; no thresholds.
"""
import argparse
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402

COLOURS = {"red": (1, 0, 0), "green": (0, 0.8, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0), "cyan": (0, 1, 1),
           "magenta": (1, 0, 1), "white": (1, 1, 1), "orange": (1, 0.5, 0), "purple": (0.5, 0, 0.5),
           "grey": (0.5, 0.5, 0.5)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump")
    ap.add_argument("colour", choices=[c for c in COLOURS if c != "grey"])
    ap.add_argument("--segment", type=int, default=17)
    ap.add_argument("--window", type=int, default=17)
    ap.add_argument("--overlap", type=int, default=8)
    a = ap.parse_args()
    tensors = st.load(a.dump)
    tensors = tensors[0] if isinstance(tensors, tuple) else tensors
    v = (np.asarray(tensors["video"], dtype=np.float64) + 1) / 2  # [3, F, H, W] in [0, 1]
    rgb = np.moveaxis(v, 0, -1)  # [F, H, W, 3]
    names = list(COLOURS)
    pal = np.array([COLOURS[n] for n in names])
    d = ((rgb[..., None, :] - pal) ** 2).sum(-1)
    mask = d.argmin(-1) == names.index(a.colour)  # [F, H, W]
    F = mask.shape[0]
    ys, xs = np.mgrid[0:mask.shape[1], 0:mask.shape[2]]
    count = mask.sum((1, 2))
    cx = np.where(count > 0, (mask * xs).sum((1, 2)) / np.maximum(count, 1), np.nan)
    cy = np.where(count > 0, (mask * ys).sum((1, 2)) / np.maximum(count, 1), np.nan)
    print("segment  frames    object seen  displacement (px)")
    for s in range(0, F - a.segment + 1, a.segment - 1):
        sl = slice(s, s + a.segment)
        seen = (count[sl] >= 12).mean()
        c0 = np.array([np.nanmean(cx[s:s + 4]), np.nanmean(cy[s:s + 4])])
        c1 = np.array([np.nanmean(cx[s + a.segment - 4:s + a.segment]), np.nanmean(cy[s + a.segment - 4:s + a.segment])])
        print("%7d  %3d-%-3d  %10.0f%%  %12.1f" % (s // (a.segment - 1), s, s + a.segment - 1, 100 * seen,
                                                   np.linalg.norm(c1 - c0)))
    diff = np.abs(np.diff(rgb, axis=0)).mean((1, 2, 3))
    lw, lo = (a.window - 1) // 4 + 1, a.overlap // 4
    T = (F - 1) // 4 + 1
    seams = []
    start = 0
    while start + lw < T:
        start += lw - lo
        seams.append(1 + 4 * (start - 1) if start > 0 else 0)
    med = np.median(diff)
    worst = max((diff[f] for f in seams if 0 <= f < len(diff)), default=0.0)
    print("frame-to-frame difference: median %.4f; at static window seams (frames %s) max %.4f = %.2f x median"
          % (med, seams, worst, worst / med if med else 0))


if __name__ == "__main__":
    main()
