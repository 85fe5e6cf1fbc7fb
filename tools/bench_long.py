#!/usr/bin/python3
"""`make bench-long`: long clips on the demo model, in context windows
(docs/ARCHITECTURE.md 10b): wall time per frame and peak RSS for each frame
count, written to bench/long.md and bench/long.json.

  tools/bench_long.py [--frames 81,241,481,961] [--steps 4] [--threads 2]
                      [--schedule uniform] [--out bench]

Each run is `ref/t2v generate` on models/demo (64x64, the demo's context
window of 17 frames overlapping by 8) writing a Y4M; the peak RSS is the
child's ru_maxrss from wait4. Targets (issue "A minute of video"): time per
frame flat within 20% across the frame counts, peak RSS within 1.5x.
Timings on a shared machine move with its load: the load average before and
after each run is recorded.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def run(frames, steps, threads, schedule, tmp):
    cmd = [os.path.join(root, "ref", "t2v"), "generate", "--model", os.path.join(root, "models", "demo"),
           "-p", "a red circle moving to the right", "-f", str(frames), "--steps", str(steps),
           "--threads", str(threads), "--context-schedule", schedule, "-o", os.path.join(tmp, "v%d" % frames),
           "--format", "y4m", "-q", "--force"]
    load0 = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.time() - t0
    err = p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("bench_long: %s failed: %s" % (" ".join(cmd), err[-400:]))
    return {"frames": frames, "wall_s": wall, "s_per_frame": wall / frames, "rss_bytes": ru.ru_maxrss * 1024,
            "load": [load0, os.getloadavg()[0]], "cmd": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", default="81,241,481,961")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--schedule", default="uniform", choices=["uniform", "static"])
    ap.add_argument("--out", default=os.path.join(root, "bench"))
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in [int(x) for x in a.frames.split(",")]:
            r = run(f, a.steps, a.threads, a.schedule, tmp)
            print("  %4d frames: %7.1f s, %.3f s/frame, peak RSS %.0f MB (load %.1f -> %.1f)" % (
                f, r["wall_s"], r["s_per_frame"], r["rss_bytes"] / 1e6, r["load"][0], r["load"][1]), flush=True)
            rows.append(r)
    spf = [r["s_per_frame"] for r in rows]
    rss = [r["rss_bytes"] for r in rows]
    flat_t, flat_m = max(spf) / min(spf), max(rss) / min(rss)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "long.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "steps": a.steps,
                   "threads": a.threads, "schedule": a.schedule, "runs": rows}, f, indent=1)
    lines = ["# Long clips on the demo model (context windows of 17 frames, overlap 8, %s)" % a.schedule, "",
             "%d steps, %d threads; `tools/bench_long.py`, %s." % (a.steps, a.threads,
                                                                   time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
             "", "| frames | wall s | s per frame | peak RSS MB | load before / after |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append("| %d | %.1f | %.3f | %.0f | %.1f / %.1f |" % (r["frames"], r["wall_s"], r["s_per_frame"],
                                                                     r["rss_bytes"] / 1e6, r["load"][0], r["load"][1]))
    lines += ["", "time per frame max/min %.2f (target <= 1.2); peak RSS max/min %.2f (target <= 1.5)" % (
        flat_t, flat_m), ""]
    with open(os.path.join(a.out, "long.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[-2:]))


if __name__ == "__main__":
    main()
