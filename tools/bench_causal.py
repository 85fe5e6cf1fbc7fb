#!/usr/bin/python3
"""`make bench-causal`: causal chunk-by-chunk generation on the demo model
(docs/ARCHITECTURE.md 10c): peak RSS and wall time for growing frame counts,
with the rolling key/value cache (--causal-window W) and without it (off),
written to bench/causal.md and bench/causal.json.

  tools/bench_causal.py [--frames 21,93,189,381] [--size 128] [--window 5] [--threads 1]

Each run is `ref/t2v generate` on models/demo at SIZE x SIZE, --causal-block 3,
Self-Forcing's list 1000,750,500,250 with shift 5, writing a Y4M. Two
memory figures: the whole run's peak RSS (the child's ru_maxrss from wait4)
and the sampling phase's, the largest VmRSS read from /proc/PID/status every
5 ms while the child's progress lines say "sampling" (Linux only). The
decoded video ([3, F, H, W] floats and the 8-bit frames) is held whole, so
the whole run's peak grows with the frames either way; the sampling phase
holds the weights, the latent and the key/value cache, whose size is
computed: 2 (keys, values) x layers x frames kept x tokens per latent frame
x dim x 4 bytes. The demo DiT is bidirectional (not a causal student):
these are costs, not quality.
Timings on a shared machine move with its load: the load average is recorded.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def cache_bytes(frames_kept, size, cfg):
    tokens = (size // 8 // 2) ** 2  # VAE stride 8, patch 2x2
    return 2 * cfg["num_layers"] * frames_kept * tokens * cfg["dim"] * 4


def vm_rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(frames, size, window, threads, tmp):
    cmd = [os.path.join(root, "ref", "t2v"), "generate", "--model", os.path.join(root, "models", "demo"),
           "-p", "a red circle moving to the right", "-f", str(frames), "-W", str(size), "-H", str(size),
           "--causal-block", "3", "--causal-window", str(window), "--timesteps", "1000,750,500,250", "--shift", "5",
           "--threads", str(threads), "-o", os.path.join(tmp, "v%d_%s" % (frames, window)), "--format", "y4m",
           "--force"]
    load0 = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    state = {"phase": "", "sampling_rss": 0, "log": []}

    def read_stderr():  # progress lines (stderr is not a terminal): "t2v: sampling step k/n ..."
        for line in p.stderr:
            state["log"].append(line)
            if line.startswith("t2v: "):
                state["phase"] = line[5:].split(" step")[0].split(" chunk")[0].split(" prompt")[0]

    reader = threading.Thread(target=read_stderr)
    reader.start()
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        rss = vm_rss(p.pid)
        if state["phase"] == "sampling" and rss > state["sampling_rss"]:
            state["sampling_rss"] = rss
        time.sleep(0.005)
    reader.join()
    wall = time.time() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("bench_causal: %s failed: %s" % (" ".join(cmd), "".join(state["log"])[-400:]))
    return {"frames": frames, "window": window, "wall_s": wall, "rss_bytes": ru.ru_maxrss * 1024,
            "sampling_rss_bytes": state["sampling_rss"], "load": [load0, os.getloadavg()[0]], "cmd": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", default="21,93,189,381")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(root, "bench"))
    a = ap.parse_args()
    with open(os.path.join(root, "models", "demo", "config.json")) as f:
        cfg = json.load(f)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fr in [int(x) for x in a.frames.split(",")]:
            T = 1 + (fr - 1) // 4
            for w in (str(a.window), "off"):
                r = run(fr, a.size, w, a.threads, tmp)
                r["cache_bytes"] = cache_bytes(min(T, a.window) if w != "off" else T, a.size, cfg)
                print("  %4d frames, window %3s: %6.1f s, sampling RSS %6.1f MB, run peak %6.1f MB, cache %6.2f MB "
                      "(load %.1f)" % (fr, w, r["wall_s"], r["sampling_rss_bytes"] / 1e6, r["rss_bytes"] / 1e6,
                                       r["cache_bytes"] / 1e6, r["load"][0]), flush=True)
                rows.append(r)
    os.makedirs(a.out, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(os.path.join(a.out, "causal.json"), "w") as f:
        json.dump({"date": stamp, "size": a.size, "threads": a.threads, "runs": rows}, f, indent=1)
    lines = ["# Causal generation on the demo model (%dx%d, blocks of 3 latent frames)" % (a.size, a.size), "",
             "4 steps per block, %d thread(s); `tools/bench_causal.py`, %s. The demo DiT is bidirectional: costs only."
             % (a.threads, stamp), "",
             "| frames | latent frames | cache window | cache MB (computed) | sampling RSS MB | run peak RSS MB | wall s "
             "| load |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append("| %d | %d | %s | %.2f | %.1f | %.1f | %.1f | %.1f |" % (
            r["frames"], 1 + (r["frames"] - 1) // 4, r["window"], r["cache_bytes"] / 1e6,
            r["sampling_rss_bytes"] / 1e6, r["rss_bytes"] / 1e6, r["wall_s"], r["load"][0]))
    lines.append("")
    with open(os.path.join(a.out, "causal.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
