#!/usr/bin/python3
"""`make bench-long`: long clips in context windows (docs/ARCHITECTURE.md
10b): time per frame, split into the DiT (sampling, all windows) and the VAE
decode, and peak RSS for each frame count, on two models, written to
bench/long.md and bench/long.json (--schedule static or chain: long-static.md,
long-chain.md and their .json, so that each schedule keeps its own tables).

  tools/bench_long.py [--demo-frames 81,241,481,961] [--demo-steps 4]
                      [--synth-frames 17,81,161] [--synth-steps 1] [--synth-size 256]
                      [--threads 1] [--schedule uniform] [--only demo|synth] [--out bench]
                      [--t2v ref/t2v] [--note TEXT] [--rewrite]

demo:  `ref/t2v generate` on models/demo at its own settings (64x64, 4 steps,
       cfg 4: two DiT passes per step, context windows of 17 frames
       overlapping by 8, from its t2v.json).
synth: the same command on a synthetic Wan2.1 T2V-1.3B (random weights at
       full width, umT5-XXL and VAE as well: tools/write_synthetic_checkpoints.py
       dit t5 vae, the files `make bench` uses in bench/cache/) at 256x256,
       1 step, cfg 1 (one DiT pass per step), Wan2.1's default windows of 81
       frames overlapping by 16. The model directory bench/cache/long-1.3b/
       is made of symbolic links to those files and the demo's tokenizer.
       Random weights make noise, not video: these rows are costs only.

Every run writes a Y4M (--no-sign: no C2PA manifest). Times come from the
progress lines (stderr is a pipe, so t2v prints one line per step or
chunk): a phase lasts from its start (after its weights are loaded) to its
last line, i.e. the time between its first and last lines plus the first
item's own time, which the first line prints. What is neither DiT nor VAE
(loading and hashing the model files for the provenance sidecar, the text
encoder, writing the video) is a per-clip constant, reported apart and left
out of the per-frame figures. Beside each phase's wall time, its CPU time:
the child's user + system time (/proc/PID/stat, sampled every 10 ms) over
the same span; with 1 thread that is the time on a core of its own, which
a shared machine's load does not stretch. Memory: the whole run's peak RSS (the child's
ru_maxrss from wait4), and the sampling phase's, the largest VmRSS read from
/proc/PID/status every 10 ms between the text encoder's last line and the
sampling's last line, after the text encoder is freed (Linux only). FLOPs
per frame are `t2v info`'s counts. Targets (issue "A minute of video"): time
per frame flat within 20% across the frame counts, peak RSS within 1.5x.
Timings on a shared machine move with its load: the load average before
and after each run is recorded. --note adds a paragraph to long.md (kept in
long.json); --rewrite only rewrites long.md from long.json (with --note).
--only demo|synth runs one table and keeps the other's rows from the
existing long.json, each table saying which run (date, commit) it is from.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
CACHE = os.path.join(root, "bench", "cache")
PROMPT = "a red circle moving to the right"
T2V = [os.path.join(root, "ref", "t2v")]  # --t2v
LINE = re.compile(r"^t2v: (text encoder|sampling|VAE decode) \w+ (\d+)/(\d+)\s+([0-9.]+) s/")

# the synthetic 1.3B's directory: name -> the file in bench/cache it links to
SYNTH_FILES = {"config.json": "dit-1.3b/config.json",
               "diffusion_pytorch_model.safetensors": "dit-1.3b/diffusion_pytorch_model.safetensors",
               "models_t5_umt5-xxl-enc-bf16.safetensors": "t5xxl/models_t5_umt5-xxl-enc-bf16.safetensors",
               "Wan2.1_VAE.safetensors": "vae/Wan2.1_VAE.safetensors"}


def synth_model():
    """bench/cache/long-1.3b/: links to the cached synthetic checkpoints
    (written once by write_synthetic_checkpoints.py) and the demo's tokenizer."""
    need = sorted({{"dit-1.3b": "dit", "t5xxl": "t5", "vae": "vae"}[src.split("/")[0]]
                   for src in SYNTH_FILES.values() if not os.path.exists(os.path.join(CACHE, src))})
    if need:
        sys.stderr.write("bench_long: writing synthetic checkpoints %s into %s (once)\n" % (need, CACHE))
        if subprocess.run([sys.executable, os.path.join(here, "write_synthetic_checkpoints.py")] + need,
                          cwd=root).returncode:
            sys.exit("bench_long: writing checkpoints failed")
    d = os.path.join(CACHE, "long-1.3b")
    os.makedirs(os.path.join(d, "google", "umt5-xxl"), exist_ok=True)
    links = dict((name, os.path.join(CACHE, src)) for name, src in SYNTH_FILES.items())
    links["google/umt5-xxl/spiece.model"] = os.path.join(root, "models", "demo", "google", "umt5-xxl", "spiece.model")
    for name, target in links.items():
        p = os.path.join(d, name)
        if os.path.islink(p) and os.readlink(p) != target:
            os.remove(p)
        if not os.path.lexists(p):
            os.symlink(target, p)
    return d


def info_numbers(model_args):
    """`t2v info`'s FLOP counts and windows for these settings."""
    out = subprocess.run([T2V[0], "info"] + model_args, capture_output=True, text=True)
    if out.returncode:
        sys.exit("bench_long: t2v info failed: %s" % out.stderr[-400:])
    got = {}
    for line in out.stdout.splitlines():
        m = re.match(r"\s+(.+?)\s{2,}([\d,.]+)", line)
        if m:
            got[m.group(1)] = float(m.group(2).replace(",", ""))
    dit = got.get("DiT FLOPs, all steps, windowed", got.get("DiT FLOPs, all steps"))
    wins = re.search(r"windows per guidance branch\s+\d+ over \d+ steps \(([\d.]+) per step\)", out.stdout)
    return {"dit_flops": dit, "vae_flops": got.get("VAE decode FLOPs"), "windows_per_step": float(wins.group(1))
            if wins else 1.0, "latent_frames": int(re.search(r"latent \[C, T, h, w\]\s+\[\d+, (\d+),", out.stdout)
                                                     .group(1))}


TICK = os.sysconf("SC_CLK_TCK")


def proc_sample(pid):
    """(VmRSS bytes, CPU seconds so far: user + system) of a running child."""
    rss = cpu = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14, 15 of stat(5)
    except (OSError, IndexError, ValueError):
        pass
    return rss, cpu


def cpu_at(samples, t):
    """The child's CPU seconds at time t: the last sample at or before t."""
    got = 0.0
    for ts, _, cpu in samples:
        if ts > t:
            break
        got = cpu
    return got


def phase_times(events):
    """Seconds per phase from the timed progress lines: last - first + the
    first item's time (the first line's s/item is that item's own time)."""
    ph = {}
    for t, name, k, n, per in events:
        p = ph.setdefault(name, {"t_first": t, "per_first": per * k, "t_last": t, "k": k, "n": n})
        p["t_last"], p["k"], p["n"] = t, k, n
    for p in ph.values():
        p["t_start"] = p["t_first"] - p["per_first"]
    return dict((name, p["t_last"] - p["t_start"]) for name, p in ph.items()), ph


def peak_after_trough(samples, t0, t1):
    """The largest RSS sampled in (t0, t1] after the lowest one there: the
    previous phase's weights are freed at t0, then this phase loads its own."""
    xs = [r for t, r, _ in samples if t0 < t <= t1]
    if not xs:
        return 0
    low = xs.index(min(xs))
    return max(xs[low:])


def run(model_args, frames, threads, schedule, tmp, tag):
    cmd = [T2V[0], "generate"] + model_args + ["-p", PROMPT, "--threads", str(threads), "--context-schedule", schedule,
                                            "-o", os.path.join(tmp, "%s%d" % (tag, frames)), "--format", "y4m",
                                            "--force", "--no-sign"]
    load0 = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    events, log, samples = [], [], []

    def read_stderr():
        for line in p.stderr:
            now = time.time()
            log.append(line)
            m = LINE.match(line)
            if m:
                events.append((now, m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4))))

    reader = threading.Thread(target=read_stderr)
    reader.start()
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        samples.append((time.time(),) + proc_sample(p.pid))
        time.sleep(0.01)
    reader.join()
    wall = time.time() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("bench_long: %s failed: %s" % (" ".join(cmd), "".join(log)[-600:]))
    secs, ph = phase_times(events)
    if "sampling" not in ph or "VAE decode" not in ph:
        sys.exit("bench_long: no progress lines from %s" % " ".join(cmd))
    t_text = ph["text encoder"]["t_last"] if "text encoder" in ph else t0
    dit_s, vae_s = secs["sampling"], secs["VAE decode"]
    cpu = dict((name, cpu_at(samples, q["t_last"]) - cpu_at(samples, q["t_start"])) for name, q in ph.items())
    return {"frames": frames, "wall_s": wall, "dit_s": dit_s, "vae_s": vae_s, "text_s": secs.get("text encoder", 0.0),
            "per_clip_s": wall - dit_s - vae_s, "cpu_s": ru.ru_utime + ru.ru_stime, "dit_cpu_s": cpu["sampling"],
            "vae_cpu_s": cpu["VAE decode"], "rss_bytes": ru.ru_maxrss * 1024,
            "sampling_rss_bytes": peak_after_trough(samples, t_text, ph["sampling"]["t_last"]),
            "load": [load0, os.getloadavg()[0]], "cmd": " ".join(cmd)}


def ratio(xs):
    return max(xs) / min(xs) if xs and min(xs) > 0 else float("nan")


def verdict(r, limit):
    return "%.2f (%s)" % (r, "holds" if r <= limit else "fails")


def div(a, b):
    return a / b if b else float("nan")  # CPU times are 0 where /proc is missing


def table(rows):
    lines = ["| frames | latent frames | windows per step | DiT s/frame | VAE s/frame | DiT+VAE s/frame | "
             "DiT GFLOP/frame | DiT GFLOP/s | VAE GFLOP/s | per-clip s | wall s | CPU share | sampling RSS MB | "
             "peak RSS MB | load before / after |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        f = r["frames"]
        lines.append("| %d | %d | %.2f | %.4f (%.4f) | %.4f (%.4f) | %.4f (%.4f) | %.3g | %.1f (%.1f) | %.1f (%.1f) | "
                     "%.1f | %.1f | %.2f | %.1f | %.1f | %.1f / %.1f |" % (
                         f, r["latent_frames"], r["windows_per_step"], r["dit_s"] / f, r["dit_cpu_s"] / f,
                         r["vae_s"] / f, r["vae_cpu_s"] / f, (r["dit_s"] + r["vae_s"]) / f,
                         (r["dit_cpu_s"] + r["vae_cpu_s"]) / f, r["dit_flops"] / f / 1e9,
                         div(r["dit_flops"], r["dit_s"]) / 1e9, div(r["dit_flops"], r["dit_cpu_s"]) / 1e9,
                         div(r["vae_flops"], r["vae_s"]) / 1e9, div(r["vae_flops"], r["vae_cpu_s"]) / 1e9, r["per_clip_s"],
                         r["wall_s"], div(r["cpu_s"], r["wall_s"]), r["sampling_rss_bytes"] / 1e6, r["rss_bytes"] / 1e6,
                         r["load"][0], r["load"][1]))
    return lines


def verdicts(rows):
    def per(*keys):
        return ratio([sum(r[k] for k in keys) / r["frames"] for r in rows])
    v = {"time": per("dit_s", "vae_s"), "time_cpu": per("dit_cpu_s", "vae_cpu_s"), "dit": per("dit_s"),
         "dit_cpu": per("dit_cpu_s"), "vae": per("vae_s"), "vae_cpu": per("vae_cpu_s"), "wall": per("wall_s"),
         "dit_flops": per("dit_flops"), "rss": ratio([r["rss_bytes"] for r in rows]),
         "sampling_rss": ratio([r["sampling_rss_bytes"] for r in rows])}
    lines = ["- time per frame (DiT + VAE), max/min: %s wall, %s CPU; target <= 1.2" % (
                 verdict(v["time"], 1.2), verdict(v["time_cpu"], 1.2)),
             "- DiT alone %.2f wall, %.2f CPU (its FLOPs per frame: %.2f); VAE alone %.2f wall, %.2f CPU; the whole "
             "wall time per frame (with the per-clip constants) %.2f" % (v["dit"], v["dit_cpu"], v["dit_flops"],
                                                                          v["vae"], v["vae_cpu"], v["wall"]),
             "- whole-run peak RSS, max/min: %s; target <= 1.5" % verdict(v["rss"], 1.5),
             "- sampling-phase RSS, max/min: %s" % verdict(v["sampling_rss"], 1.5)]
    return v, lines


def machine():
    info = {"platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(l for l in f if l.startswith("model name")).split(":", 1)[1].strip()
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / (1 << 20), 1)
    except (OSError, StopIteration):
        pass
    return info


def bench(name, model_args, frame_list, a, tmp):
    rows = []
    for fr in frame_list:
        args = model_args + ["-f", str(fr)]
        r = run(args, fr, a.threads, a.schedule, tmp, name)
        r.update(info_numbers(args))
        print("  %s %4d frames: DiT %7.1f s, VAE %7.1f s, per-clip %6.1f s, wall %7.1f s; sampling RSS %.0f MB, "
              "peak %.0f MB (load %.1f -> %.1f)" % (name, fr, r["dit_s"], r["vae_s"], r["per_clip_s"], r["wall_s"],
                                                   r["sampling_rss_bytes"] / 1e6, r["rss_bytes"] / 1e6, r["load"][0],
                                                   r["load"][1]), flush=True)
        rows.append(r)
    return rows


def git_commit():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True)
        return head.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")
    except OSError:
        return "?"


def stem(schedule):
    """The files' name: long for the default schedule, long-SCHEDULE for the others."""
    return "long" if schedule == "uniform" else "long-" + schedule


def write_md(out, doc):
    m = doc["machine"]
    lines = ["# Long clips in context windows", "",
             "`tools/bench_long.py` (`make bench-long`), %s, t2v %s: %d thread(s), %s schedule, prompt \"%s\", "
             "Y4M output, no C2PA signing. %s, %d CPUs, %s GiB; %s." % (
                 doc["date"], doc["commit"], doc["threads"], doc["schedule"], PROMPT, m.get("cpu", "?"), m["cpus"],
                 m.get("mem_gib", "?"), m["platform"]), ""]
    if doc.get("note"):
        lines += [doc["note"], ""]
    titles = {"demo": "Demo model (64x64, %d steps, cfg 4, windows of 17 frames overlapping by 8)" % doc["demo_steps"],
              "synth": "Synthetic Wan2.1 T2V-1.3B (%dx%d, %d step(s), cfg 1, windows of 81 frames overlapping by 16)"
                       % (doc["synth_size"], doc["synth_size"], doc["synth_steps"])}
    runs = doc.get("runs", {})
    for name in ("demo", "synth"):
        if name not in doc["models"]:
            continue
        _, vl = verdicts(doc["models"][name])
        lines += ["## " + titles[name], ""]
        if name in runs and len(set(r["date"] for r in runs.values())) > 1:
            lines += ["Rows from the run of %s, t2v %s." % (runs[name]["date"], runs[name]["commit"]), ""]
        lines += table(doc["models"][name]) + [""] + vl + [""]
    lines += ["Columns: DiT = the sampling phase (all steps, all windows), VAE = the decode, each from its start "
              "(weights loaded) to its last progress line, wall time and in brackets the child's CPU time (user + "
              "system from /proc/PID/stat, sampled every 10 ms; with 1 thread it is the time on an unshared core); "
              "CPU share = the whole run's CPU time / wall time; per-clip s = the wall time less both (loading and "
              "hashing the model files, the text encoder, writing the video); GFLOP from `t2v info`. Sampling RSS: "
              "the largest VmRSS polled while the DiT samples; peak RSS: the whole run's ru_maxrss. "
              "What the figures mean: bench/README.md, \"Long clips\".", ""]
    with open(os.path.join(out, stem(doc["schedule"]) + ".md"), "w") as f:
        f.write("\n".join(lines))
    return lines


def write(a, results):
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": git_commit(), "machine": machine(),
           "threads": a.threads, "schedule": a.schedule, "demo_steps": a.demo_steps, "synth_steps": a.synth_steps,
           "synth_size": a.synth_size, "argv": sys.argv[1:], "note": a.note, "models": dict(results)}
    this = {"date": doc["date"], "commit": doc["commit"], "argv": doc["argv"]}
    doc["runs"] = {name: this for name in results}
    keep(a, doc)
    with open(os.path.join(a.out, stem(a.schedule) + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
    return write_md(a.out, doc)


def keep(a, doc):
    """--only: the other table's rows (and its run's date and commit) from the existing long.json."""
    path = os.path.join(a.out, stem(a.schedule) + ".json")
    if not a.only or not os.path.exists(path):
        return
    with open(path) as f:
        old = json.load(f)
    for name, rows in old.get("models", {}).items():
        if name in doc["models"]:
            continue
        doc["models"][name] = rows
        doc["runs"][name] = old.get("runs", {}).get(name) or {k: old[k] for k in ("date", "commit", "argv")}
    if a.note is None:
        doc["note"] = old.get("note")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-frames", default="81,241,481,961")
    ap.add_argument("--demo-steps", type=int, default=4)
    ap.add_argument("--synth-frames", default="17,81,161")
    ap.add_argument("--synth-steps", type=int, default=1)
    ap.add_argument("--synth-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--schedule", default="uniform", choices=["uniform", "static", "chain"],
                    help="the context-window schedule (generate's --context-schedule); its tables go to long.md "
                    "(uniform) or long-SCHEDULE.md")
    ap.add_argument("--only", choices=["demo", "synth"])
    ap.add_argument("--out", default=os.path.join(root, "bench"))
    ap.add_argument("--t2v", default=T2V[0], help="the binary to run (default ref/t2v)")
    ap.add_argument("--note", help="a paragraph for long.md (kept in long.json)")
    ap.add_argument("--rewrite", action="store_true", help="only rewrite long.md from OUT/long.json (with --note)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.rewrite:
        with open(os.path.join(a.out, stem(a.schedule) + ".json")) as f:
            doc = json.load(f)
        if a.note is not None:
            doc["note"] = a.note
            with open(os.path.join(a.out, stem(a.schedule) + ".json"), "w") as f:
                json.dump(doc, f, indent=1)
        print("\n".join(write_md(a.out, doc)))
        return
    T2V[0] = os.path.abspath(a.t2v)
    frames = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if a.only != "synth":
            demo = ["--model", os.path.join(root, "models", "demo"), "--steps", str(a.demo_steps)]
            results["demo"] = bench("demo", demo, frames(a.demo_frames), a, tmp)
            write(a, results)
        if a.only != "demo":
            s = str(a.synth_size)
            synth = ["--model", synth_model(), "-W", s, "-H", s, "--steps", str(a.synth_steps), "--cfg", "1"]
            results["synth"] = bench("synth", synth, frames(a.synth_frames), a, tmp)
    print("\n".join(write(a, results)))


if __name__ == "__main__":
    main()
