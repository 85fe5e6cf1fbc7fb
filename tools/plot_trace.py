#!/usr/bin/python3
"""Turns a `t2v generate --trace DIR` directory into one picture.

    /usr/bin/python3 tools/plot_trace.py DIR [-o DIR/trace.png] [--rows 12]

Left: the denoising, one row per sampling step (every step when there are
at most --rows of them, else --rows steps evenly spaced, first and last
included), one column per strip frame (frames 0, 4, 8, ...). Each row is the
VAE decode of that step's x0 prediction x0_i = x_i - sigma_i v_i.
Right, top: the schedule, sigma_i and the integer timestep t_i fed to the DiT.
Right, bottom: the CFG difference RMS |v_cond - v_uncond| per step, with the
RMS of the guided velocity and of the change of x0 between steps.

Needs Debian's python3-matplotlib (and numpy). Reads only DIR.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def pick_rows(n, rows):
    if n <= rows:
        return list(range(n))
    idx = np.linspace(0, n - 1, rows)
    return sorted(set(int(round(x)) for x in idx))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("-o", "--output", help="output PNG (default DIR/trace.png)")
    ap.add_argument("--rows", type=int, default=12, help="at most this many step rows (default 12)")
    ap.add_argument("--dpi", type=int, default=100)
    a = ap.parse_args()
    with open(os.path.join(a.dir, "trace.json"), encoding="utf-8") as f:
        tr = json.load(f)
    n = len(tr["sigma"])
    if n == 0:
        sys.exit("plot_trace: the trace has no steps")
    rows = pick_rows(n, a.rows)
    strips = [plt.imread(os.path.join(a.dir, tr["images"][i])) for i in rows]

    h = max(s.shape[0] for s in strips)
    w = max(s.shape[1] for s in strips)
    gap = 4
    canvas = np.full((len(strips) * (h + gap) - gap, w, 3), 0.125, dtype=np.float32)
    for k, s in enumerate(strips):
        canvas[k * (h + gap): k * (h + gap) + s.shape[0], : s.shape[1]] = s[..., :3]
    # the strips keep their aspect: left panel width from the canvas, plots on the right
    fig_h = max(6.0, min(14.0, 0.45 * len(rows) + 2.0))
    left_w = max(2.5, (fig_h - 1.2) * canvas.shape[1] / canvas.shape[0]) + 1.6  # + room for the row labels
    fig = plt.figure(figsize=(left_w + 6.5, fig_h), dpi=a.dpi)
    gs = fig.add_gridspec(2, 2, width_ratios=[left_w - 1.6, 6.5], hspace=0.38, wspace=0.25)
    # denoising progress: one image, strips stacked
    ax = fig.add_subplot(gs[:, 0])
    ax.imshow(canvas, interpolation="nearest")
    ax.set_yticks([k * (h + gap) + h / 2 for k in range(len(rows))])
    ax.set_yticklabels(["step %d  t=%d  σ=%.3f" % (i, tr["timestep"][i], tr["sigma"][i]) for i in rows], fontsize=8)
    every = tr.get("strip_frames_every", 4)
    nframes = tr.get("strip_frames", (tr["frames"] - 1) // every + 1)
    tile = (w - gap * (nframes + 1)) / max(nframes, 1)
    ax.set_xticks([gap + k * (tile + gap) + tile / 2 for k in range(nframes)])
    ax.set_xticklabels([str(k * every) for k in range(nframes)], fontsize=8)
    ax.set_xlabel("frame", fontsize=9)
    ax.tick_params(length=0)
    ax.set_title("x0 prediction after each step,\ndecoded by the VAE", fontsize=10)
    for s in ax.spines.values():
        s.set_visible(False)

    # schedule
    steps = np.arange(n)
    ax1 = fig.add_subplot(gs[0, 1])
    sched = tr["schedule_sigmas"]
    ax1.plot(np.arange(len(sched)), sched, "o-", ms=3, color="tab:blue", label="σ (scheduler, float)")
    ax1.set_xlabel("step i")
    ax1.set_ylabel("σ_i", color="tab:blue")
    ax1.set_ylim(-0.03, 1.05)
    ax1.grid(alpha=0.3)
    ax1b = ax1.twinx()
    ax1b.step(steps, tr["timestep"], where="post", color="tab:orange", label="t_i = int(1000 σ_i) (DiT)")
    ax1b.set_ylabel("timestep t_i", color="tab:orange")
    ax1b.set_ylim(-30, 1050)
    ax1.set_title("schedule: %s, %d steps, shift %g" % (tr["sampler"], n, tr["shift"]), fontsize=10)
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax1b.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper right")

    # CFG difference
    ax2 = fig.add_subplot(gs[1, 1])
    ax2.plot(steps, tr["cfg_diff_rms"], "o-", ms=3, color="tab:red", label="RMS |v_cond − v_uncond|")
    ax2.plot(steps, tr["v_rms"], "s--", ms=3, color="tab:gray", label="RMS guided v")
    ax2.plot(steps[1:], tr["x0_change_rms"][1:], "^:", ms=3, color="tab:green", label="RMS x0_i − x0_{i−1}")
    ax2.set_xlabel("step i")
    ax2.set_title("classifier-free guidance, g = %g" % tr["cfg"], fontsize=10)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle('"%s"  (%dx%d, %d frames, seed %s)' % (tr["prompt"], tr["width"], tr["height"], tr["frames"],
                                                         tr["seed"]), fontsize=11)
    out = a.output or os.path.join(a.dir, "trace.png")
    fig.savefig(out, bbox_inches="tight")
    print("wrote", out)


if __name__ == "__main__":
    main()
