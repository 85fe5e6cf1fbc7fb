#!/usr/bin/python3
"""Few-step sampling and step caching, in numbers: bench/fewsteps.{md,json}.

  tools/bench_fewsteps.py [--measure] [--threads N] [--out DIR]

1. Time to a clip at Wan2.1 T2V-1.3B shapes, 256x256x17 (synthetic weights):
   UniPC 50 steps with guidance 5 (2 DiT passes per step, 2 prompts through
   umT5) against the distill sampler, 4 steps, cfg 1 (1 pass per step, 1
   prompt). A whole clip is far too slow to run on a shared 2-core machine,
   so the clip time is composed from measured parts:
       clip = prompts x T5(30 tokens) + passes x DiT forward(1,280 tokens) + VAE decode
   The parts are the dit-1280, t5-xxl-30 and vae-256x256x17 rows of
   bench/results.json (tools/bench.py, its date and load are printed). With
   --measure, one DiT forward is also measured now: the 1-layer 1.3B
   checkpoint (one full-width block + embeddings + head, bench/cache/, written
   by tools/write_synthetic_checkpoints.py block) at 1,280 tokens, times 30
   (an over-estimate by 29 embeddings + heads, < 1% of a block).
   MagCache's plan at the published threshold is exact without weights
   (`t2v info --cache magcache:0.12`), so its clip time is composed too.
2. Step caching on the demo model (models/demo, its defaults: 20 UniPC steps,
   cfg 4, 64x64x17, seed 42), at thresholds around the published ones: DiT
   passes computed and reused (from --dump's cache.computed), wall time of
   `t2v generate` (1 thread, median of 3), and max|d| / rms of the final
   latent against the uncached run. The demo's width (128) has no published
   TeaCache polynomial, so TeaCache uses p(x) = x there (docs/MODEL.md 3.6),
   and no published MagCache ratios: they are measured first by a
   `--cache magcache-calibrate:FILE` run (bench/cache/fewsteps/demo_ratios.txt)
   and the magcache rows use them (magcache:T,K,RET@FILE). EasyCache needs
   no calibration; its default warm-up (10 steps) is half of the demo's 20.

Timings on this machine are taken under whatever load other users put on
it; the load average is recorded next to each.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import st  # noqa: E402

PY = "/usr/bin/python3"
T2V = os.path.join(root, "ref", "t2v")
PROMPT = "a red circle moving to the right on a black background"
CACHES = ["teacache:0.05", "teacache:0.08", "teacache:0.2", "teacache-ret:0.1", "teacache-ret:0.2",
          "fbcache:0.05", "fbcache:0.08", "fbcache:0.12",
          "magcache:0.06", "magcache:0.12", "magcache:0.25", "magcache:0.12,3,0.1",
          "easycache:0.05", "easycache:0.1", "easycache:0.1,4", "easycache:0.2,4"]


def committed_parts(threads):
    path = os.path.join(root, "bench", "results.json")
    d = json.load(open(path))
    parts = {}
    for r in d["rows"]:
        if r["threads"] == threads and r["blas"] == "openblas" and r["case"] in (
                "dit-1280", "t5-xxl-30", "vae-256x256x17"):
            parts[r["case"]] = (r["t2v_s"], r.get("loadavg"))
    return parts, d["machine"].get("date", "?")


def measure_dit(threads):
    cache = os.path.join(root, "bench", "cache")
    ck = os.path.join(cache, "dit-1.3b-1layer")
    if not os.path.exists(os.path.join(ck, "diffusion_pytorch_model.safetensors")):
        subprocess.run([PY, os.path.join(here, "write_synthetic_checkpoints.py"), "block"], cwd=root, check=True)
    o = "build/bench-openblas"
    subprocess.run(["make", "-s", "-j2", "BLAS=openblas", "O=" + o, o + "/bench/bench_t2v"], cwd=root, check=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    load = os.getloadavg()[0]
    out = subprocess.run([os.path.join(root, o, "bench", "bench_t2v"), "-t", str(threads), "dit", ck, "5", "32",
                          "32", "30", "2", "1"], cwd=root, env=env, check=True, capture_output=True, text=True).stdout
    res = [json.loads(line) for line in out.splitlines() if line.startswith("{")][0]
    times = res.get("times") or res.get("t2v_times") or [res.get("median_s") or res.get("seconds")]
    t = statistics.median([x for x in times if x is not None])
    return 30 * t, t, load


def magcache_plan(thresh="0.12"):
    """MagCache's exact plan at 1.3B shapes, 256x256x17, UniPC 50 steps, cfg 5
    (published ratios; it decides from them alone): (computed, passes)."""
    out = subprocess.run([T2V, "info", "--config", os.path.join(root, "golden", "configs", "wan2.1-t2v-1.3b.json"),
                          "-W", "256", "-H", "256", "-f", "17", "--steps", "50", "--cfg", "5", "--cache",
                          "magcache:" + thresh], check=True, capture_output=True, text=True).stdout
    m = re.search(r"\((\d+) of (\d+) passes computed", out)
    return int(m.group(1)), int(m.group(2))


def clip_rows(dit_s, t5_s, vae_s):
    rows = []
    for name, steps, passes, prompts in (("UniPC 50 steps, cfg 5", 50, 2, 2), ("distill 4 steps, cfg 1", 4, 1, 1)):
        dit = steps * passes * dit_s
        total = prompts * t5_s + dit + vae_s
        rows.append(dict(schedule=name, dit_passes=steps * passes, t5_s=prompts * t5_s, dit_s=dit, vae_s=vae_s,
                         total_s=total, vae_share=vae_s / total))
    return rows


def generate(cache, outdir, threads):
    tag = re.sub(r"[^A-Za-z0-9_.,-]", "_", cache.split("@")[0])
    if cache.startswith("magcache-calibrate"):
        tag = "calibrate"
    d = os.path.join(outdir, tag)
    os.makedirs(d, exist_ok=True)
    cmd = [T2V, "generate", "--model", os.path.join(root, "models", "demo"), "-p", PROMPT, "-o",
           os.path.join(d, "x"), "--format", "png", "--dump", d, "--force", "-q", "--threads", str(threads)]
    if cache != "none":
        cmd += ["--cache", cache]
    times = []
    for _ in range(3):
        t0 = time.time()
        subprocess.run(cmd, check=True)
        times.append(time.time() - t0)
    t, _ = st.load(os.path.join(d, "dump.safetensors"))
    return t, statistics.median(times)


def cache_rows(threads, tmp):
    ratios = os.path.join(tmp, "demo_ratios.txt")
    generate("magcache-calibrate:" + ratios, tmp, threads)  # the demo's magnitude ratios
    ref, t_ref = generate("none", tmp, threads)
    x0 = ref["latent.final"].astype(np.float64)
    rms = float(np.sqrt(np.mean(x0 ** 2)))
    rows = [dict(cache="none", computed=40, reused=0, wall_s=t_ref, rel=0.0, load=os.getloadavg()[0])]
    for c in CACHES:
        t, wall = generate(c + "@" + ratios if c.startswith("magcache") else c, tmp, threads)
        dec = t["cache.computed"]
        x = t["latent.final"].astype(np.float64)
        rows.append(dict(cache=c, computed=int((dec == 1).sum()), reused=int((dec == 0).sum()), wall_s=wall,
                         rel=float(np.max(np.abs(x - x0)) / rms), load=os.getloadavg()[0]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--measure", action="store_true", help="also measure one DiT forward now (1-layer x 30)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(root, "bench"))
    a = ap.parse_args()
    parts, date = committed_parts(2)
    parts1, _ = committed_parts(1)
    md = ["# Few steps: distilled sampling and step caching", "",
          "Made by `tools/bench_fewsteps.py`%s on %s. This machine is shared: timings move with the others' "
          "load (the load average is given beside each).\n" % (" --measure" if a.measure else "",
                                                                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
          "## Time to a 1.3B clip, 256x256x17 (composed)", "",
          "clip = prompts x T5 + DiT passes x one DiT forward + VAE decode; the parts from bench/results.json "
          "(tools/bench.py, %s; dit-1280 = one whole 30-layer forward at 1,280 tokens, t5-xxl-30, "
          "vae-256x256x17)." % date, ""]
    out = {"clip": {}, "cache": None}
    sources = []
    for th, p in ((2, parts), (1, parts1)):
        if all(k in p for k in ("dit-1280", "t5-xxl-30", "vae-256x256x17")):
            sources.append(("bench/results.json, %d thread%s (load %.1f)" % (th, "s" if th > 1 else "",
                                                                            p["dit-1280"][1] or 0),
                            p["dit-1280"][0], p["t5-xxl-30"][0], p["vae-256x256x17"][0]))
    if a.measure:
        dit_s, block_s, load = measure_dit(a.threads)
        src = "now: 30 x the 1-layer forward (%.2f s), %d thread(s), load %.1f; T5, VAE as the %d-thread row" % (
            block_s, a.threads, load, a.threads)
        p = parts if a.threads != 1 else parts1
        sources.append((src, dit_s, p["t5-xxl-30"][0], p["vae-256x256x17"][0]))
    md += ["| DiT forward from | schedule | DiT passes | T5 s | DiT s | VAE s | clip s | VAE share |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for src, dit_s, t5_s, vae_s in sources:
        rows = clip_rows(dit_s, t5_s, vae_s)
        out["clip"][src] = rows
        for r in rows:
            md.append("| %s | %s | %d | %.1f | %.0f | %.1f | %.0f (%.1f min) | %.0f%% |" % (
                src, r["schedule"], r["dit_passes"], r["t5_s"], r["dit_s"], r["vae_s"], r["total_s"],
                r["total_s"] / 60, 100 * r["vae_share"]))
        md.append("| | DiT time ratio | %.0fx | | | | clip %.1fx | |" % (
            rows[0]["dit_s"] / rows[1]["dit_s"], rows[0]["total_s"] / rows[1]["total_s"]))
    md += ["", "The composition assumes every DiT pass costs the same (true: the shapes do not change) and leaves "
           "out the sampler's element-wise work (< 0.1%% of a pass). With 4 passes instead of 100 the DiT time "
           "drops 25x and the VAE decode, unchanged, grows from about 1%% of the clip to about a quarter "
           "(a whole clip: 18x less time at the committed rows' speed).", ""]
    computed, passes = magcache_plan()
    md += ["### MagCache at its published threshold, 1.3B shapes (composed)", "",
           "`--cache magcache:0.12` (K 2, RET 0.2, the published Wan2.1 T2V-1.3B ratios) decides from its ratios "
           "alone, so its plan for UniPC 50 steps, cfg 5 is exact without weights (`t2v info --cache "
           "magcache:0.12`): %d of %d DiT passes computed. A reused pass still runs the patch embedding, time "
           "embedding and head (< 0.1%% of a forward, left out). The quality cost cannot be measured on random "
           "weights." % (computed, passes), "",
           "| DiT forward from | DiT passes | DiT s | clip s | saved |", "| --- | --- | --- | --- | --- |"]
    out["magcache_1.3b"] = {"computed": computed, "passes": passes}
    for src, dit_s, t5_s, vae_s in sources:
        full = 2 * t5_s + passes * dit_s + vae_s
        mag = 2 * t5_s + computed * dit_s + vae_s
        md.append("| %s | %d (of %d) | %.0f | %.0f (%.1f min) | %.0f%% of the clip |" % (
            src, computed, passes, computed * dit_s, mag, mag / 60, 100 * (1 - mag / full)))
    md.append("")
    tmp = os.path.join(root, "bench", "cache", "fewsteps")
    os.makedirs(tmp, exist_ok=True)
    rows = cache_rows(a.threads, tmp)
    out["cache"] = rows
    md += ["## Step caching on the demo model", "",
           "models/demo defaults (20 UniPC steps, cfg 4: 40 DiT passes, 64x64x17, seed 42), `t2v generate` with "
           "%d thread(s), wall time the median of 3 whole runs (T5 and VAE included; the demo's DiT is small, so "
           "the saving is a fraction of the run). rel = max|d| / rms of latent.final against the uncached run."
           % a.threads, "",
           "| --cache | passes computed | reused | wall s | rel | load |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        md.append("| %s | %d | %d | %.2f | %.2e | %.1f |" % (r["cache"], r["computed"], r["reused"], r["wall_s"],
                                                           r["rel"], r["load"]))
    md += ["", "magcache rows: the demo's own ratios, measured by a magcache-calibrate run of the same settings "
           "(bench/cache/fewsteps/demo_ratios.txt), as `magcache:T[,K,RET]@FILE` (K 2, RET 0.2 unless given). "
           "easycache rows: `easycache:T[,W]` (W warm-up steps, default 10).", "",
           "On the demo (TeaCache without a fitted polynomial) the published 1.3B thresholds skip 0-8 of 40 "
           "passes; larger thresholds skip more and move the final latent by a large fraction of its rms: a "
           "tiny model trained for 20 steps changes a lot from step to step. The demo's magnitude ratios move "
           "2-6% per step (the published 1.3B ones 0.2-1% until the last steps), so MagCache's predicted error "
           "grows fast and K (at most 2 reused passes in a row) bounds the skips; its error estimate does not "
           "order the damage on this toy (which steps are skipped matters more than how many). EasyCache's "
           "default warm-up of 10 steps keeps half of the demo's 20 steps computed; with W = 4 it reuses about "
           "half the passes.", "",
           "Not measured: whole cached runs on the synthetic 1.3B (random weights make the decisions of "
           "TeaCache, First-Block-Cache and EasyCache meaningless, and a 50-step run takes hours here); "
           "MagCache's plan there needs no weights and is composed above."]
    with open(os.path.join(a.out, "fewsteps.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(a.out, "fewsteps.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main()
