#!/usr/bin/python3
"""Plots Wan2.1's 3D RoPE (docs/MODEL.md 2.5) for one attention head.

    /usr/bin/python3 tools/plot_rope.py [-o docs/img/rope.png] [--head-dim 128]
                                        [--grid 21 30 52]

A head of d = 128 features is 64 complex pairs (adjacent features 2j, 2j+1).
Pairs 0..21 turn with the token's frame index f, pairs 22..42 with its row h,
pairs 43..63 with its column w. Pair k of an axis turns by
    angle = position * 10000^(-2k / dim_axis),  dim_axis = 44 (t) or 42 (h, w)
so every axis has its own fast-to-slow ladder of frequencies.
Left: the frequency (radians per position) of each pair, per axis.
Right: cos(angle) for every pair (x) and position (y) along each axis, up to
the grid of the 1.3B example (21 x 30 x 52 tokens at 832x480, 81 frames).
Written from docs/MODEL.md 2.5 alone (not from ref/), in float64.
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def rope_split(d):
    c = d // 2
    ch = c // 3
    return c - 2 * ch, ch, ch  # temporal, height, width pairs


def axis_freqs(d):
    """Per pair j = 0..d/2-1: (axis, frequency)."""
    dim_t = d - 4 * (d // 6)
    dim_s = 2 * (d // 6)
    ct, ch, cw = rope_split(d)
    out = []
    for k in range(ct):
        out.append(("t", 10000.0 ** (-2.0 * k / dim_t)))
    for k in range(ch):
        out.append(("h", 10000.0 ** (-2.0 * k / dim_s)))
    for k in range(cw):
        out.append(("w", 10000.0 ** (-2.0 * k / dim_s)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="docs/img/rope.png")
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--grid", type=int, nargs=3, default=[21, 30, 52], metavar=("F", "H", "W"))
    ap.add_argument("--dpi", type=int, default=100)
    a = ap.parse_args()
    d = a.head_dim
    fr = axis_freqs(d)
    ct, ch, cw = rope_split(d)
    colors = {"t": "tab:blue", "h": "tab:orange", "w": "tab:green"}
    names = {"t": "frame f (%d pairs, base 10000^(-2k/%d))" % (ct, d - 4 * (d // 6)),
             "h": "row h (%d pairs, base 10000^(-2k/%d))" % (ch, 2 * (d // 6)),
             "w": "column w (%d pairs, base 10000^(-2k/%d))" % (cw, 2 * (d // 6))}

    fig = plt.figure(figsize=(13, 5.2), dpi=a.dpi)
    gs = fig.add_gridspec(1, 4, width_ratios=[1.5, 1, 1, 1], wspace=0.35)
    ax = fig.add_subplot(gs[0, 0])
    for axis in "thw":
        js = [j for j, (x, _) in enumerate(fr) if x == axis]
        ax.semilogy(js, [fr[j][1] for j in js], "o", ms=3.5, color=colors[axis], label=names[axis])
    ax.set_xlabel("complex pair j (features 2j, 2j+1 of each head)")
    ax.set_ylabel("frequency ω (radians per position)")
    ax.set_title("3D RoPE, head_dim %d: pairs %d / %d / %d" % (d, ct, ch, cw), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7.5, loc="lower left")

    pos = {"t": a.grid[0], "h": a.grid[1], "w": a.grid[2]}
    for col, axis in enumerate("thw"):
        axh = fig.add_subplot(gs[0, col + 1])
        js = [j for j, (x, _) in enumerate(fr) if x == axis]
        om = np.array([fr[j][1] for j in js])
        p = np.arange(pos[axis])[:, None]
        axh.imshow(np.cos(p * om[None, :]), aspect="auto", cmap="RdBu", vmin=-1, vmax=1,
                   extent=[js[0] - 0.5, js[-1] + 0.5, pos[axis] - 0.5, -0.5], interpolation="nearest")
        axh.set_xlabel("pair j")
        axh.set_ylabel("position along %s" % {"t": "f", "h": "h", "w": "w"}[axis])
        axh.set_title("cos(%s · ω_j)" % {"t": "f", "h": "h", "w": "w"}[axis], fontsize=10, color=colors[axis])
    fig.suptitle("Each token (f, h, w) rotates q and k pair by pair; q·k then depends on the offsets "
                 "(Δf, Δh, Δw) only", fontsize=10)
    fig.savefig(a.output, bbox_inches="tight")
    print("wrote", a.output)


if __name__ == "__main__":
    main()
