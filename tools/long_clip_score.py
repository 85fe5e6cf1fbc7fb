#!/usr/bin/python3
"""Scores a long demo clip segment by segment, as tests/test_demo_long.c does:

  tools/long_clip_score.py DUMP.safetensors "a red circle moving up on a gray background"
      [--window 17 --overlap 8] [--chain]

DUMP is `t2v generate --dump DIR`'s DIR/dump.safetensors (its `video`
[3, F, 64, 64] in [-1, 1]), the prompt one of the demo grammar's
(tools/demo_data.py). The clip is cut into segments of 17 frames (the demo's
trained length), each measured like a short clip (demo_data.measure: colour,
motion, background and shape; the frame wraps). Seams: the largest mean
absolute frame-to-frame difference over the places where the static
schedule's windows of --window frames overlapping by --overlap share latent
frames, against the clip's median difference (the test allows 2x; the
uniform schedule moves its seams every step, so this is only meaningful for
`--context-schedule static`). With --chain (`--context-schedule chain`), a
window holds the frames it shares as the window before left them, and the
two meet where its sampling starts: the step into its first sampled latent
frame's pixel frames and the steps among them. Prints a table and a summary
line.
"""
import argparse
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import demo_data as dd  # noqa: E402
import st  # noqa: E402
from reference import context  # noqa: E402  (the static schedule, as window.c)


def seam_ratio(video, window, overlap, stride=4, chain=False):
    """Largest frame-to-frame difference over the static windows' overlaps
    (the pixel frames of the shared latent frames, the step into them and
    the step out of them; chain: the step into the first latent frame after
    them and the steps among its pixel frames) over the median difference."""
    d = np.abs(np.diff(video.astype(np.float64), axis=1)).mean(axis=(0, 2, 3))  # [F - 1]
    T, lw, lo = (video.shape[1] - 1) // stride + 1, (window - 1) // stride + 1, overlap // stride
    starts, worst = [w[0] for w in context.windows("static", 0, T, lw, lo)], 0.0
    for prev, nxt in zip(starts, starts[1:]):
        f_lo = 0 if nxt == 0 else stride * (nxt - 1) + 1
        f_hi = stride * (prev + lw - 1)
        if chain:
            f_lo, f_hi = f_hi + 1, f_hi + stride - 1
        for f in range(max(f_lo - 1, 0), min(f_hi, len(d) - 1) + 1):
            worst = max(worst, d[f])
    med = float(np.sort(d)[(len(d) - 1) // 2])
    return (worst / med if med else 0.0), len(starts) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump")
    ap.add_argument("prompt")
    ap.add_argument("--window", type=int, default=17)
    ap.add_argument("--overlap", type=int, default=8)
    ap.add_argument("--chain", action="store_true", help="the clip was sampled with --context-schedule chain")
    a = ap.parse_args()
    case = dd.parse_caption(a.prompt)
    if case is None:
        sys.exit("long_clip_score: not a prompt of the demo grammar: %r" % a.prompt)
    tensors = st.load(a.dump)[0]
    if "video" not in tensors:
        sys.exit("long_clip_score: %s has no tensor 'video' (run t2v generate with --dump)" % a.dump)
    video = np.asarray(tensors["video"], np.float32)
    if video.ndim != 4 or video.shape[0] != 3 or video.shape[2:] != (dd.SIZE, dd.SIZE):
        sys.exit("long_clip_score: video %s, expected [3, F, %d, %d]" % (list(video.shape), dd.SIZE, dd.SIZE))
    color, shape, direction, bg = case
    n, passed = video.shape[1] // dd.FRAMES, 0
    print("segment  frames    colour motion background shape     dx     dy")
    for k in range(n):
        seg = video[:, k * dd.FRAMES:(k + 1) * dd.FRAMES]
        c, m, b, s, dx, dy = dd.measure(seg, color, direction, bg, shape)
        passed += bool(c and m and b and s)
        print("%7d  %3d-%-3d  %6s %6s %10s %5s %6.1f %6.1f" % (k, k * dd.FRAMES, (k + 1) * dd.FRAMES - 1,
                                                             *("ok" if v else "NO" for v in (c, m, b, s)), dx, dy))
    ratio, nseams = seam_ratio(video, a.window, a.overlap, chain=a.chain)
    print("%d of %d segments pass all four checks; seams (%s windows, %d overlaps): the largest "
          "frame-to-frame difference is %.2fx the median" % (passed, n, "chained" if a.chain else "static", nseams,
                                                             ratio))


if __name__ == "__main__":
    main()
