#!/usr/bin/python3
"""`make bench-mpi`: MPI ranks against threads on one machine (docs/SCALING.md).

  tools/bench_mpi.py [--cases dit-block-1560,dit-1280] [--steps N] [--reps N]
                     [--nice N] [--model DIR]

For each case, `t2v stage sampler` (--cfg 1, --steps N: N DiT passes) on the
synthetic checkpoint of `make bench` (bench/cache/, written once by
tools/write_synthetic_checkpoints.py) and a latent of the case's size, run
  1 x 2: one process, --threads 2   (the MPI build, no mpirun)
  2 x 1: mpirun -np 2, --threads 1  (the DiT's tokens and heads split)
both with T2V_GEMM_ROWS=256 (so the two outputs are the same bytes; checked).
Prints the wall time of each (median of --reps), their ratio (target: 2 x 1
within 10% of 1 x 2), and rank 0's seconds inside the MPI exchanges and
bytes sent over the run (its "rank 0 of 2" line). Times include loading the model (mmap) and the text embedding:
use --steps to make the DiT passes dominate. The machine should be quiet.
--model DIR runs one case on a model of your own (its size: -W/-H/-f of the
case are ignored; the latent comes from the case's shape).
"""
import argparse
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import bench  # noqa: E402  (the cases' checkpoints and their writer)

MPI_BIN = os.path.join(root, "build", "mpicc-openblas", "t2v")
MPIRUN = ["mpirun", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none"]
# name -> (checkpoint, latent T, h, w of the DiT input, context rows)
CASES = {"dit-block-1560": ("block", 1, 60, 104, 30), "dit-block-6240": ("block", 4, 60, 104, 30),
         "dit-1280": ("dit", 5, 32, 32, 30)}


def write_safetensors(path, tensors):
    """name -> float32 array, as a safetensors file."""
    header, off, blobs = {}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def run(cmd, env):
    t0 = time.time()
    r = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("bench_mpi: %s failed:\n%s" % (" ".join(cmd), r.stderr.decode(errors="replace")[-2000:]))
    return time.time() - t0, r.stderr.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="dit-block-1560,dit-1280")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("--model", default=None)
    a = ap.parse_args()
    cases = [c for c in a.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            sys.exit("bench_mpi: unknown case %s (%s)" % (c, ", ".join(CASES)))
    if subprocess.run(["make", "-s", "-j2", "MPI=1", "build/mpicc-openblas/t2v"], cwd=root).returncode != 0:
        sys.exit("bench_mpi: building the MPI t2v failed (needs OpenMPI's mpicc)")
    if not a.model:
        bench.write_checkpoints([{"ckpt": CASES[c][0], "kind": "dit"} for c in cases])
    env = dict(os.environ, T2V_GEMM_ROWS="256")
    root_flag = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    nice = ["nice", "-n", str(a.nice)] if a.nice else []
    tmp = tempfile.mkdtemp(prefix="t2v_bench_mpi_")
    print("| case | tokens | 1 x 2 threads (s) | 2 ranks x 1 thread (s) | 2x1 / 1x2 | same bytes | "
          "rank 0 in MPI calls (s) | rank 0 sent, whole run |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in cases:
        ck, T, h, w, L = CASES[c]
        model = a.model or bench.ckpt_path({"ckpt": ck})
        with open(os.path.join(model, "config.json")) as f:
            cfg = json.load(f)
        rng = np.random.default_rng(7)
        inp = os.path.join(tmp, c + ".in.safetensors")
        write_safetensors(inp, {"noise": rng.standard_normal((cfg.get("in_dim", 16), T, h, w)).astype(np.float32),
                                "context": (0.1 * rng.standard_normal((min(L, cfg.get("text_len", 512)), cfg.get("text_dim", 4096)))).astype(np.float32)})
        args = ["stage", "sampler", "--model", model, "--in", inp, "--steps", str(a.steps), "--cfg", "1", "--force"]
        one, two, mpi_s, sent = [], [], [], 0
        for r in range(a.reps):  # alternating, so that load drifts hit both
            o1, o2 = os.path.join(tmp, c + ".1x2.safetensors"), os.path.join(tmp, c + ".2x1.safetensors")
            one.append(run(nice + [MPI_BIN] + args + ["-q", "--threads", "2", "--out", o1], env)[0])
            t, log = run(MPIRUN + root_flag + ["-x", "T2V_GEMM_ROWS", "-np", "2"] + nice + [MPI_BIN] + args +
                         ["--threads", "1", "--out", o2], env)
            two.append(t)
            m = re.search(r"rank 0 of 2: (\d+) bytes sent, ([0-9.]+) s in MPI exchanges", log)
            if m:
                sent = int(m.group(1))
                mpi_s.append(float(m.group(2)))
        same = open(o1, "rb").read() == open(o2, "rb").read()
        m1, m2 = statistics.median(one), statistics.median(two)
        print("| %s | %d | %.2f | %.2f | %.3f | %s | %s | %s |" % (
            c, T * h * w // 4, m1, m2, m2 / m1, "yes" if same else "NO", "%.2f" % statistics.median(mpi_s)
            if mpi_s else "–", "%.1f MB" % (sent / 1e6) if sent else "–"))
    print("\nload average %.1f (timings on a loaded machine mean little)" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
