#!/usr/bin/python3
"""`make bench`: t2v against the PyTorch reference, on the same machine in the
same run, and the results in bench/results.{md,json,png}.

  tools/bench.py [--quick] [--cases a,b] [--reps N] [--threads 2,1] [--no-none]
                 [--nice N] [--out DIR]

Each case runs bench/bench_t2v.c (built here for BLAS=openblas and BLAS=none)
and tools/bench_torch.py (tools/reference/ in float32) as child processes
with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = the thread count; each child
loads, makes its weights resident, runs warm-up and timed repetitions and
reports the times; the peak RSS is the child's ru_maxrss from wait4.
  speedup   = PyTorch median / t2v median          (> 1: t2v is faster)
  rss_ratio = t2v peak RSS / PyTorch peak RSS       (< 1: t2v is leaner)
  efficiency = t2v GFLOP/s / raw fp32 sgemm GFLOP/s (OpenBLAS, the best of
               the DiT's GEMM shapes, same thread count, measured in this run)
The synthetic checkpoints are written by tools/write_synthetic_checkpoints.py
into bench/cache/ (git-ignored) the first time. --quick runs the small cases
(GEMM, one DiT block at 1,560 tokens) in a few minutes. Two long VAE cases
run only when named in --cases: vae-480x832x17 (both sides) and
vae-256x256x81 (t2v only: its peak RSS against vae-256x256x17's shows that
chunked decoding does not grow with the frame count).

bf16: every GEMM, DiT, umT5 and VAE decode case also runs with `--precision
bf16` (bench_t2v -p bf16; rows CASE-bf16, t2v only; the VAE's convolutions
then take the direct bf16 path instead of fp32 Winograd, docs/ARCHITECTURE.md,
Numerics, "bf16"), and the case `peak` measures
the arithmetic peaks on all threads at once: a loop of independent fp32
FMAs (the widest the CPU has) and one of independent vdpbf16ps (AVX512-BF16),
the best of 9 alternating runs, as GFLOP/s per CPU second of each thread
(summed over the threads). The section "bf16 against fp32" of
results.md puts each bf16 row next to its fp32 row (time, GFLOP/s, the ratio
fp32 time / bf16 time) with its efficiency against the vdpbf16ps peak.

--sdcpp SD_CLI (make bench SDCPP=...) adds stable-diffusion.cpp side by side:
an sd-cli built outside the repository (tools/build_sdcpp.sh) runs one
256x256x17 generation per DiT weight type (--sdcpp-types, default
bf16,f16,f32) on the same synthetic checkpoints: its T5 (prompt padded to 512
tokens), one DiT forward (1 step, cfg 1) and the VAE decode, each timed by its
own log, against t2v's t5-xxl-30, dit-1280 and vae-256x256x17 rows. With
--cases sdcpp (and --append) only those runs are made.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
PY = "/usr/bin/python3"
CACHE = os.path.join(root, "bench", "cache")
GiB = float(1 << 30)

# T2V-1.3B and umT5-XXL sizes for the FLOP counts (docs/MODEL.md 1.2, 5.1)
D, FFN, TEXT_LEN, TEXT_DIM, FREQ = 1536, 8960, 512, 4096, 256
T5_DIM, T5_FFN, T5_LAYERS = 4096, 10240, 24


def dit_flops(N, L, layers):
    """2 x multiply-adds of every matmul of dit_forward (t2v computes
    text_embedding.0 on the L real rows; the rest is its bias)."""
    text = 2 * L * TEXT_DIM * D + 2 * TEXT_LEN * D * D
    emb = 2 * N * D * 64 * 2 + 2 * (FREQ * D + D * D + D * 6 * D)
    block = (4 * 2 * N * D * D + 2 * 2 * N * N * D            # self q,k,v,o; QK^T, PV
             + 2 * 2 * N * D * D + 2 * 2 * TEXT_LEN * D * D    # cross q,o; k,v
             + 2 * 2 * N * TEXT_LEN * D + 2 * 2 * N * D * FFN)  # cross attn; ffn
    return text + emb + layers * block


def t5_flops(L):
    return T5_LAYERS * (4 * 2 * L * T5_DIM * T5_DIM + 2 * 2 * L * L * T5_DIM
                        + 3 * 2 * L * T5_DIM * T5_FFN)


# name, kind, arguments (after the checkpoint), reps, warm-up, quick, checkpoint writer
CASES = [
    dict(name="gemm-1560x1536x1536", kind="gemm", args=[1560, 1536, 1536], reps=15, quick=True,
         what="GEMM M x K x N (self/cross q,k,v,o), bf16 weights"),
    dict(name="gemm-1560x1536x8960", kind="gemm", args=[1560, 1536, 8960], reps=15, quick=True,
         what="GEMM M x K x N (ffn.0), bf16 weights"),
    dict(name="gemm-1560x8960x1536", kind="gemm", args=[1560, 8960, 1536], reps=15, quick=True,
         what="GEMM M x K x N (ffn.2), bf16 weights"),
    dict(name="dit-block-1560", kind="dit", ckpt="block", args=[1, 60, 104, 30], reps=3, warmup=1,
         quick=True, flops=dit_flops(1560, 30, 1),
         what="1.3B: one full-width block + embeddings + head, 1,560 tokens (480x832, 1 frame)"),
    dict(name="dit-block-6240", kind="dit", ckpt="block", args=[4, 60, 104, 30], reps=2, warmup=1,
         quick=False, flops=dit_flops(6240, 30, 1),
         what="1.3B: one full-width block + embeddings + head, 6,240 tokens (480x832, 13 frames)"),
    dict(name="dit-1280", kind="dit", ckpt="dit", args=[5, 32, 32, 30], reps=2, warmup=0,
         quick=False, flops=dit_flops(1280, 30, 30),
         what="1.3B: whole 30-layer forward, 1,280 tokens (256x256, 17 frames)"),
    dict(name="t5-xxl-30", kind="t5", ckpt="t5", args=[], reps=2, warmup=1, quick=False,
         flops=t5_flops(30), what="umT5-XXL encoder, 30-token prompt"),
    dict(name="vae-256x256x17", kind="vae", ckpt="vae", args=[5, 32, 32], reps=1, warmup=0,
         quick=False, what="VAE decode, full width, 256x256x17 (latent 16x5x32x32)"),
    dict(name="vae-128x128x5", kind="vae", ckpt="vae", args=[2, 16, 16], reps=1, warmup=0, quick=True,
         torch=False, what="VAE decode, full width, 128x128x5 (latent 16x2x16x16): the quick VAE row"),
    # GGUF: quantized weights computed in place (t2v only: the PyTorch side reads no GGUF); the
    # ratios against dit-block-1560 (the bf16 file) and the 14B projection are in gguf_table.
    dict(name="dit-block-1560-q8_0", kind="dit", ckpt="gguf-block-q8_0", args=[1, 60, 104, 30], reps=3,
         warmup=1, quick=True, torch=False, flops=dit_flops(1560, 30, 1),
         what="dit-block-1560 with the block's matrices in Q8_0 (GGUF; embeddings, head BF16)"),
    dict(name="dit-block-1560-q4_k", kind="dit", ckpt="gguf-block-q4_k", args=[1, 60, 104, 30], reps=3,
         warmup=1, quick=True, torch=False, flops=dit_flops(1560, 30, 1),
         what="dit-block-1560 with the block's matrices in Q4_K (GGUF; embeddings, head BF16)"),
    dict(name="dit14b-1layer-1280-q4_k", kind="dit", ckpt="gguf-14b-1layer-q4_k", args=[5, 32, 32, 30], reps=1,
         warmup=0, quick=False, torch=False,
         what="T2V-14B width, 1 layer in Q4_K (GGUF), one forward at 256x256x17 (1,280 tokens)"),
    dict(name="dit14b-2layer-1280-q4_k", kind="dit", ckpt="gguf-14b-2layer-q4_k", args=[5, 32, 32, 30], reps=1,
         warmup=0, quick=False, torch=False,
         what="the same with 2 layers: the per-layer RSS step for the 40-layer projection"),
    dict(name="dit14b-4layer-1280-q4_k", kind="dit", ckpt="gguf-14b-4layer-q4_k", args=[5, 32, 32, 30], reps=1,
         warmup=0, quick=False, torch=False,
         what="the same with 4 layers: checks the projection made from 1 and 2 layers"),
    dict(name="lora-r64-load", kind="lora", ckpt="dit", lora="lora-r64-30", args=[5, 32, 32, 30], reps=1, warmup=0,
         quick=False, torch=False,
         what="1.3B + rank-64 LoRA on every block linear: load (t2v_s; base_load_s without), then one "
              "256x256x17 forward (fwd_s; fwd_base_s without)"),
    dict(name="lora-r64-block-1560", kind="lora", ckpt="block", lora="lora-r64-1", args=[1, 60, 104, 30], reps=2,
         warmup=0, quick=True, torch=False,
         what="1.3B one-layer block + rank-64 LoRA on its 10 linears: load (t2v_s; base_load_s without), then "
              "one forward at 1,560 tokens (fwd_s; fwd_base_s without)"),
    # Opt-in (run only when named in --cases): the VAE issue's memory figures.
    dict(name="vae-480x832x17", kind="vae", ckpt="vae", args=[5, 60, 104], reps=1, warmup=0, quick=False,
         optin=True, what="VAE decode, full width, 480x832x17 (latent 16x5x60x104)"),
    dict(name="vae-256x256x81", kind="vae", ckpt="vae", args=[21, 32, 32], reps=1, warmup=0, quick=False,
         optin=True, torch=False,
         what="VAE decode, full width, 256x256x81 (latent 16x21x32x32): peak RSS flat in the frame count"),
    # Opt-in: Wan2.2 TI2V-5B at sizes this machine can time; 720p (27,280 tokens a block, 704x1280x121
    # for the VAE) is ~17 TFLOP a block and ~2 PFLOP a decode (t2v info --config).
    dict(name="dit-ti2v-block-880", kind="dit", ckpt="ti2v-block", args=[1, 44, 80, 30], reps=1, warmup=0,
         quick=False, optin=True,
         what="TI2V-5B: one full-width block + embeddings + head, 880 tokens (704x1280, 1 frame)"),
    dict(name="vae22-128x128x5", kind="vae", ckpt="vae22", args=[2, 8, 8], reps=1, warmup=0, quick=False,
         optin=True,
         what="Wan2.2 VAE decode, full width, 128x128x5 (latent 48x2x8x8)"),
]

# --precision bf16 twins of these cases (t2v only: the PyTorch side has none)
BF16_CASES = ("gemm-1560x1536x1536", "gemm-1560x1536x8960", "gemm-1560x8960x1536", "dit-block-1560",
              "dit-block-6240", "dit-1280", "t5-xxl-30", "vae-128x128x5", "vae-256x256x17", "vae-480x832x17")
CASES += [dict(c, name=c["name"] + "-bf16", precision="bf16", torch=False, base=c["name"],
               what=c["what"] + "; --precision bf16")
          for c in CASES if c["name"] in BF16_CASES]
CASES.append(dict(name="peak", kind="peak", args=[], reps=1, warmup=0, quick=True, torch=False,
                  what="arithmetic peaks, all threads at once: independent fp32 FMAs and independent vdpbf16ps"))


GGUF_DIRS = {"gguf-block-q8_0": "dit-1.3b-1layer-q8_0", "gguf-block-q4_k": "dit-1.3b-1layer-q4_k",
             "gguf-14b-1layer-q4_k": "dit-14b-1layer-q4_k", "gguf-14b-2layer-q4_k": "dit-14b-2layer-q4_k",
             "gguf-14b-4layer-q4_k": "dit-14b-4layer-q4_k"}


def ckpt_path(c):
    if c["ckpt"] in GGUF_DIRS:
        return os.path.join(CACHE, GGUF_DIRS[c["ckpt"]])
    return {"block": os.path.join(CACHE, "dit-1.3b-1layer"),
            "dit": os.path.join(CACHE, "dit-1.3b"),
            "t5": os.path.join(CACHE, "t5xxl", "models_t5_umt5-xxl-enc-bf16.safetensors"),
            "vae": os.path.join(CACHE, "vae", "Wan2.1_VAE.safetensors"),
            "ti2v-block": os.path.join(CACHE, "dit-ti2v-1layer"),
            "vae22": os.path.join(CACHE, "vae22", "Wan2.2_VAE.safetensors")}[c["ckpt"]]


def case_args(c, reps, warmup):
    """Command-line arguments after the case name (same for both sides)."""
    if c["kind"] == "gemm":
        return [str(a) for a in c["args"]] + [str(reps)]
    if c["kind"] == "peak":
        return []
    if c["kind"] == "lora":
        return ([ckpt_path(c), os.path.join(CACHE, "lora", c["lora"] + ".safetensors")] + [str(a) for a in c["args"]]
                + [str(reps), str(warmup)])
    extra = [os.path.join(CACHE, "t5xxl", "tokens.safetensors")] if c["kind"] == "t5" else []
    return [ckpt_path(c)] + extra + [str(a) for a in c["args"]] + [str(reps), str(warmup)]


# --- progress line ----------------------------------------------------------------

class Progress:
    def __init__(self, total):
        self.total, self.k, self.label, self.t0 = total, 0, "", time.time()
        self.run_t0 = self.t0
        self.tty = sys.stderr.isatty()
        self.stop = threading.Event()
        if self.tty:
            threading.Thread(target=self._tick, daemon=True).start()

    def _line(self):
        el = time.time() - self.t0
        return "[%2d/%d] %-48s %5.0f s this run, %6.0f s total, load %.1f" % (
            self.k, self.total, self.label, time.time() - self.run_t0, el, os.getloadavg()[0])

    def _tick(self):
        while not self.stop.wait(1.0):
            sys.stderr.write("\r" + self._line() + "\033[K")
            sys.stderr.flush()

    def start(self, label):
        self.k += 1
        self.label, self.run_t0 = label, time.time()
        if not self.tty:
            sys.stderr.write(self._line() + "\n")
        else:
            sys.stderr.write("\r" + self._line() + "\033[K")
        sys.stderr.flush()

    def note(self, msg):
        sys.stderr.write(("\r\033[K" if self.tty else "") + msg + "\n")
        sys.stderr.flush()

    def done(self):
        self.stop.set()
        if self.tty:
            sys.stderr.write("\r\033[K")
        sys.stderr.write("bench: %d runs in %.0f s\n" % (self.total, time.time() - self.t0))


# --- running one side -------------------------------------------------------------

def run_child(cmd, threads, nice, coretype=None, parse=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    load0 = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=root)
    out, err = [], []
    tout = threading.Thread(target=lambda: out.append(p.stdout.read()))
    terr = threading.Thread(target=lambda: err.append(p.stderr.read()))
    tout.start(); terr.start()
    _, status, ru = os.wait4(p.pid, 0)
    tout.join(); terr.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    text = out[0].decode(errors="replace")
    res = None
    if parse:
        res = parse(text + err[0].decode(errors="replace"))
    else:
        for line in text.splitlines():
            if line.startswith("{"):
                res = json.loads(line)
    if p.returncode != 0 or res is None:
        return {"error": "exit %d: %s" % (p.returncode, (err[0].decode(errors="replace") or text)[-600:]),
                "cmd": " ".join(cmd)}
    res["rusage_maxrss"] = ru.ru_maxrss * 1024
    res["wall_s"] = time.time() - t0
    res["loadavg"] = [load0, os.getloadavg()[0]]
    res["cmd"] = " ".join(cmd)
    return res


# --- stable-diffusion.cpp, side by side ---------------------------------------------

SDCPP_T5 = os.path.join(CACHE, "sdcpp", "umt5_xxl_bf16.safetensors")
SDCPP_PROMPT = "a red circle moving to the right on a black background"
SDCPP_LOG = {"t5_s": r"get_learned_condition completed, taking ([0-9.]+)s",
             "dit_s": r"sampling completed, taking ([0-9.]+)s",
             "vae_s": r"decode_first_stage completed, taking ([0-9.]+)s",
             "dit_types": r"Diffusion model weight type stat:\s*(.*)",
             "version": r"stable-diffusion.cpp version (\S+, commit \w+)"}


def parse_sdcpp(text):
    """sd-cli's own timings; None (an error) unless all three stages ran."""
    res = {}
    for k, pat in SDCPP_LOG.items():
        m = re.findall(pat, text)
        if m:
            res[k] = float(m[-1]) if k.endswith("_s") else m[-1].strip()
    return res if all(k in res for k in ("t5_s", "dit_s", "vae_s")) else None


def run_sdcpp(sd_cli, weights, threads, nice):
    """One stable-diffusion.cpp generation at 256x256x17 (latent 16x5x32x32: the
    shapes of dit-1280 and vae-256x256x17): T5 (the prompt padded to 512 tokens),
    one DiT forward (1 Euler step; cfg 1 skips the unconditional pass) and the VAE
    decode. weights: the DiT's type in memory (bf16: as in the file; f16, f32:
    converted at load, which is not timed)."""
    dit = os.path.join(ckpt_path({"ckpt": "dit"}), "diffusion_pytorch_model.safetensors")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sd_cli, "-M", "vid_gen", "--diffusion-model", dit, "--vae", ckpt_path({"ckpt": "vae"}),
               "--t5xxl", SDCPP_T5, "-p", SDCPP_PROMPT, "--cfg-scale", "1.0", "--sampling-method", "euler",
               "--steps", "1", "--flow-shift", "3.0", "-W", "256", "-H", "256", "--video-frames", "17",
               "-t", str(threads), "-v", "-o", os.path.join(tmp, "out.webm")]
        if weights != "bf16":
            cmd += ["--tensor-type-rules", r"^model\.diffusion_model\.=" + weights]
        res = run_child(cmd, threads, nice, parse=parse_sdcpp)
    res.update(weights=weights, threads=threads)
    return res


def median(xs):
    return statistics.median(xs) if xs else None


# --- building -----------------------------------------------------------------------

def build(blas):
    o = "build/bench-%s" % blas
    target = o + "/bench/bench_t2v"
    r = subprocess.run(["make", "-s", "-j2", "BLAS=" + blas, "O=" + o, target], cwd=root)
    if r.returncode != 0:
        sys.exit("bench: building %s failed" % target)
    return os.path.join(root, target)


def write_checkpoints(cases, sdcpp=False):
    need = sorted({c["ckpt"] for c in cases if "ckpt" in c} | ({"dit", "vae"} if sdcpp else set()))
    missing = ["t5-hf"] if sdcpp and not os.path.exists(SDCPP_T5) else []
    if any(c["kind"] == "lora" and not os.path.exists(os.path.join(CACHE, "lora", c["lora"] + ".safetensors"))
           for c in cases):
        missing.append("lora")
    for w in need:
        c = {"ckpt": w}
        p = ckpt_path(c)
        f = "diffusion_pytorch_model.gguf" if w in GGUF_DIRS else "diffusion_pytorch_model.safetensors"
        if not os.path.exists(p if w in ("t5", "vae", "vae22") else os.path.join(p, f)):
            missing.append(w)
    if missing:
        sys.stderr.write("bench: writing synthetic checkpoints %s into %s (once)\n" % (missing, CACHE))
        r = subprocess.run([PY, os.path.join(here, "write_synthetic_checkpoints.py")] + missing, cwd=root)
        if r.returncode != 0:
            sys.exit("bench: writing checkpoints failed")


# --- machine and versions -------------------------------------------------------------

def machine_info():
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "")
        info["simd"] = " ".join(x for x in ("avx2", "fma", "avx512f", "avx512_bf16") if " %s " % x in flags + " ")
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    try:
        cc = os.environ.get("CC", "cc")
        info["cc"] = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    for k in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if k in os.environ:
            info[k] = os.environ[k]
    return info


# --- results ------------------------------------------------------------------------------

def fmt(x, spec="%.3f", none="–"):
    return none if x is None else spec % x


def make_rows(runs, peak):
    rows = []
    for r in runs:
        t, p, c = r.get("t2v"), r.get("torch"), r["case"]
        row = {"case": c["name"], "threads": r["threads"], "blas": r["blas"], "what": c["what"]}
        if c.get("precision"):
            row["precision"], row["base"] = c["precision"], c["base"]
        if c["kind"] == "peak":
            if t and "error" not in t:
                # per CPU second of each thread: holds on a shared machine too
                row["fma_gflops"], row["bf16_gflops"] = t["fma_gflops_cpu"], t["bf16_gflops_cpu"]
                row["fma_gflops_wall"], row["bf16_gflops_wall"] = t["fma_gflops"], t["bf16_gflops"]
                row["t2v_rss"] = t["rusage_maxrss"]
            elif t:
                row["t2v_error"] = t["error"]
            row["loadavg"] = max((t or {}).get("loadavg", [0, 0]))
            rows.append(row)
            continue
        if t and "error" not in t:
            tt = t["path_s"] if c["kind"] == "gemm" else t["times"]
            row["t2v_s"] = median(tt)
            row["t2v_rss"] = t["rusage_maxrss"]
            row["t2v_cpu_s"] = median(t.get("cpu_s", []))
            row["t2v_load_s"] = t.get("load_s")
            if "base_s" in t:  # lora: the load and a forward without the LoRA, a forward with it
                row["base_load_s"] = median(t["base_s"])
                row["fwd_s"], row["fwd_base_s"] = median(t["fwd_s"]), median(t["fwd_base_s"])
            row["core"] = t.get("openblas_core")
            row["t2v_bits"] = t.get("bits")
            if c["kind"] == "gemm":
                row["raw_sgemm_s"] = median(t["raw_s"])
                row["builtin_s"] = median(t["builtin_s"])
                row["flops"] = t["flops"]
                row["path_vs_raw"] = row["raw_sgemm_s"] / row["t2v_s"]
                row["raw_gflops"] = t["flops"] / row["raw_sgemm_s"] / 1e9
            elif "flops" in c:
                row["flops"] = c["flops"]
            if "flops" in row:
                row["gflops"] = row["flops"] / row["t2v_s"] / 1e9
                pk = peak.get((r["blas"], r["threads"])) or peak.get(("openblas", r["threads"]))
                if pk and not c.get("precision"):
                    row["efficiency"] = row["gflops"] / pk
        elif t:
            row["t2v_error"] = t["error"]
        if p and "error" not in p:
            row["torch_s"] = median(p["times"])
            row["torch_rss"] = p["rusage_maxrss"]
            row["torch_cpu_s"] = median(p.get("cpu_s", []))
            row["torch_load_s"] = p.get("load_s")
        elif p:
            row["torch_error"] = p["error"]
        if row.get("t2v_s") and row.get("torch_s"):
            row["speedup"] = row["torch_s"] / row["t2v_s"]
        if row.get("t2v_rss") and row.get("torch_rss"):
            row["rss_ratio"] = row["t2v_rss"] / row["torch_rss"]
        if t and p and "checksum" in t and "checksum" in p and p["checksum"]:
            row["checksum_rel"] = abs(t["checksum"] - p["checksum"]) / abs(p["checksum"])
        row["loadavg"] = max((t or {}).get("loadavg", [0, 0]) + (p or {}).get("loadavg", [0, 0]))
        rows.append(row)
    return rows


def bf16_rows(rows):
    """Each bf16 row next to its fp32 row (same case, threads, BLAS), with its
    efficiency against the vdpbf16ps peak of the same thread count."""
    pk = {(r["blas"], r["threads"]): r for r in rows if r["case"] == "peak" and r.get("bf16_gflops")}
    out = []
    for b in rows:
        if b.get("precision") != "bf16":
            continue
        f = next((r for r in rows if r["case"] == b["base"] and r["threads"] == b["threads"]
                  and r["blas"] == b["blas"]), None)
        x = {"case": b["base"], "threads": b["threads"], "blas": b["blas"], "bf16_s": b.get("t2v_s"),
             "bf16_gflops": b.get("gflops"), "fp32_s": f and f.get("t2v_s"), "fp32_gflops": f and f.get("gflops"),
             "loadavg": max(b.get("loadavg", 0), (f or {}).get("loadavg", 0))}
        if x["bf16_s"] and x["fp32_s"]:
            x["ratio"] = x["fp32_s"] / x["bf16_s"]
        p = pk.get((b["blas"], b["threads"]))
        if p and x["bf16_gflops"]:
            x["bf16_efficiency"] = x["bf16_gflops"] / p["bf16_gflops"]
        out.append(x)
    return out


def bf16_section(rows):
    pk = [r for r in rows if r["case"] == "peak" and r.get("fma_gflops") is not None]
    md = ["## bf16 against fp32", "",
          "`--precision bf16` (docs/ARCHITECTURE.md, Numerics) next to t2v's own fp32, same run. ratio ="
          " fp32 time / bf16 time (> 1: bf16 faster); bf16 efficiency = bf16 GFLOP/s / the vdpbf16ps peak"
          " of the same thread count. Arithmetic peaks (independent instructions, all threads at once, best of 9,"
          " GFLOP/s per CPU second of each thread, summed: the figure holds on a shared machine): " +
          ("; ".join("fp32 FMA %.0f GFLOP/s, vdpbf16ps %.0f GFLOP/s (%d thr, %s, load %.1f)"
                     % (r["fma_gflops"], r["bf16_gflops"], r["threads"], r["blas"], r["loadavg"]) for r in pk)
           or "not measured") + ".", "",
          "| case | thr | BLAS | fp32 s | bf16 s | ratio | fp32 GFLOP/s | bf16 GFLOP/s | bf16 efficiency | load |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for x in bf16_rows(rows):
        md.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %.1f |" % (
            x["case"], x["threads"], x["blas"], fmt(x["fp32_s"]), fmt(x["bf16_s"]), fmt(x.get("ratio"), "%.2fx"),
            fmt(x["fp32_gflops"], "%.0f"), fmt(x["bf16_gflops"], "%.0f"), fmt(x.get("bf16_efficiency"), "%.2f"),
            x["loadavg"]))
    return md + [""]


def raw_peak(runs):
    """Raw OpenBLAS sgemm GFLOP/s per (blas, thread count): best of the DiT
    shapes. blas is "openblas" (the environment's kernels) or
    "openblas-CORE" (runs with --coretype CORE)."""
    peak = {}
    for r in runs:
        t = r.get("t2v")
        if r["case"]["kind"] == "gemm" and r["blas"].startswith("openblas") and t and "error" not in t:
            g = t["flops"] / median(t["raw_s"]) / 1e9
            k = (r["blas"], r["threads"])
            peak[k] = max(peak.get(k, 0), g)
    return peak


# stable-diffusion.cpp's figures in the issue (2 threads, the issue's own machine)
SDCPP_ISSUE = {"dit_bf16_s": 29.7, "t5_s": 56.0}


def sdcpp_find(sdcpp, weights, threads=2):
    return next((r for r in sdcpp if r["weights"] == weights and r["threads"] == threads and "error" not in r), None)


def find_row(rows, case, threads=2, blas="openblas"):
    return next((r for r in rows if r["case"] == case and r["threads"] == threads and r["blas"] == blas), None)


def targets(rows, peak, t5_file, sdcpp=()):
    """(target, met / not met / not measured, detail)."""
    out = []

    def find(case, threads=2):
        return find_row(rows, case, threads)

    def add(name, ok, detail):
        out.append((name, "not measured" if ok is None else ("met" if ok else "NOT met"), detail))

    for c in ("gemm-1560x1536x1536", "gemm-1560x1536x8960", "gemm-1560x8960x1536"):
        r = find(c)
        v = r and r.get("path_vs_raw")
        add("%s: t2v path >= 90%% of raw sgemm" % c, None if v is None else v >= 0.9, fmt(v, "%.2f"))
    for c in ("dit-block-1560", "dit-block-6240", "dit-1280"):
        r = find(c)
        e, s = r and r.get("efficiency"), r and r.get("speedup")
        add("%s: efficiency >= 0.65" % c, None if e is None else e >= 0.65, fmt(e, "%.2f"))
        add("%s: >= 2x faster than PyTorch" % c, None if s is None else s >= 2.0, fmt(s, "%.2fx"))
    r = find("t5-xxl-30")
    s = r and r.get("speedup")
    add("t5-xxl-30: >= 1.5x faster than PyTorch", None if s is None else s >= 1.5, fmt(s, "%.2fx"))
    rss = r and r.get("t2v_rss")
    lim = (os.path.getsize(t5_file) + GiB) if os.path.exists(t5_file) else None
    add("t5-xxl-30: peak RSS <= file size + 1 GiB", None if not (rss and lim) else rss <= lim,
        "%s GiB vs %s GiB" % (fmt(rss and rss / GiB, "%.2f"), fmt(lim and lim / GiB, "%.2f")))
    r = find("vae-256x256x17")
    s = r and r.get("speedup")
    add("vae-256x256x17: >= 1.3x faster than PyTorch", None if s is None else s >= 1.3, fmt(s, "%.2fx"))
    d, t = find("dit-1280"), find("t5-xxl-30")
    d, t = d and d.get("t2v_s"), t and t.get("t2v_s")
    sb = sdcpp_find(sdcpp, "bf16")
    add("dit-1280 (fp32): no slower than stable-diffusion.cpp's bf16 step, measured in this run",
        None if not (d and sb) else d <= sb["dit_s"],
        "t2v %s s vs %s s" % (fmt(d, "%.1f"), fmt(sb and sb["dit_s"], "%.1f")))
    add("t5-xxl-30: >= 10x faster than stable-diffusion.cpp's padded encoding, measured in this run",
        None if not (t and sb) else sb["t5_s"] / t >= 10,
        "%s (t2v %s s vs %s s)" % (fmt(t and sb and sb["t5_s"] / t, "%.1fx"), fmt(t, "%.1f"),
                                   fmt(sb and sb["t5_s"], "%.1f")))
    add("dit-1280 (fp32): no slower than the issue's stable-diffusion.cpp bf16 step (29.7 s, its machine)",
        None if not d else d <= SDCPP_ISSUE["dit_bf16_s"], "t2v %s s" % fmt(d, "%.1f"))
    add("t5-xxl-30: >= 10x faster than the issue's stable-diffusion.cpp encoding (56 s, its machine)",
        None if not t else SDCPP_ISSUE["t5_s"] / t >= 10, fmt(t and SDCPP_ISSUE["t5_s"] / t, "%.1fx"))
    for x in bf16_rows(rows):
        if x["case"].startswith("dit") and x["blas"] == "openblas":
            v = x.get("ratio")
            add("%s, %d thr: bf16 >= 1.8x t2v's fp32 (same run)" % (x["case"], x["threads"]),
                None if v is None else v >= 1.8, fmt(v, "%.2fx"))
        if x["case"].startswith("vae") and x["blas"] == "openblas":
            v = x.get("ratio")
            add("%s, %d thr: bf16 faster than t2v's fp32 (same run)" % (x["case"], x["threads"]),
                None if v is None else v > 1.0, fmt(v, "%.2fx"))
    ratios = [(r["case"], r["threads"], r["rss_ratio"]) for r in rows if r.get("rss_ratio")]
    bad = [x for x in ratios if x[2] >= 1.0]
    add("lower peak RSS than PyTorch in every case", None if not ratios else not bad,
        "; ".join("%s/%d thr %.2f" % x for x in bad) or "all rss_ratio < 1")
    r2, r1 = find("dit-block-1560", 2), find("dit-block-1560", 1)
    v = r2 and r1 and r2.get("t2v_s") and r1.get("t2v_s") and r1["t2v_s"] / r2["t2v_s"]
    busy = r2 and r1 and max(r2["loadavg"], r1["loadavg"]) > 2.5
    if v and busy:
        out.append(("dit-block-1560: 2 threads >= 1.8x 1 thread", "not measurable",
                    "%.2fx at load %.1f / %.1f: needs an idle machine" % (v, r2["loadavg"], r1["loadavg"])))
    else:
        add("dit-block-1560: 2 threads >= 1.8x 1 thread", None if not v else v >= 1.8, fmt(v or None, "%.2fx"))
    r16 = find("dit-block-1560", 16)
    v = r16 and r1 and r16.get("t2v_s") and r1.get("t2v_s") and r1["t2v_s"] / r16["t2v_s"]
    add("dit-block-1560: 16 threads >= 12x 1 thread", None if not v else v >= 12, fmt(v or None, "%.2fx"))
    for c in sorted({r["case"] for r in rows if r.get("t2v_bits")}):
        bits = {(r["blas"], r["threads"]): r["t2v_bits"] for r in rows if r["case"] == c and r.get("t2v_bits")}
        counts = sorted(t for b, t in bits if b == "openblas")
        if len(counts) >= 2:
            same = len({bits[("openblas", t)] for t in counts}) == 1
            add("%s: the same output bits at every thread count" % c, same,
                "%s threads" % ",".join(str(t) for t in counts))
    # every status is at the load of its rows (column "load" above)
    return out


def sdcpp_table(rows, sdcpp):
    """results.md's stable-diffusion.cpp section (empty when it was not run)."""
    if not sdcpp:
        return []

    def t2v(case, thr):
        return (find_row(rows, case, thr) or {}).get("t2v_s")

    ver = next((r["version"] for r in sdcpp if r.get("version")), "?")
    md = ["## stable-diffusion.cpp, side by side", "",
          "stable-diffusion.cpp %s, built by tools/build_sdcpp.sh (CPU backend, -march=native, Release)"
          " and run by this driver on the same machine, after the cases above, on the same synthetic"
          " checkpoints (its T5 reads bench/cache/sdcpp/umt5_xxl_bf16.safetensors: the same bytes under"
          " Hugging Face names). One `sd-cli -M vid_gen` run per DiT weight type (bf16 as in the file;"
          " f16, f32 converted at load) at 256x256x17: T5 encoding (the prompt padded to 512 tokens),"
          " one DiT forward (1 step, cfg 1) and the VAE decode, times from its own log (load not timed);"
          " peak RSS is the whole process (T5, DiT and VAE resident together). x = its time / t2v's time"
          " at the same thread count (> 1: t2v faster; t2v rows t5-xxl-30, dit-1280, vae-256x256x17)." % ver,
          "", "| DiT weights | thr | T5 s | vs t2v | DiT step s | vs t2v | VAE s | vs t2v | peak RSS GiB | load | notes |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sdcpp:
        if "error" in r:
            md.append("| %s | %d | – | – | – | – | – | – | – | %.1f | %s |" % (
                r["weights"], r["threads"], max(r.get("loadavg", [0])), r["error"][:160].replace("|", "/")
                .replace("\n", " ")))
            continue
        th = r["threads"]
        x = [fmt(t2v(c, th) and r[k] / t2v(c, th), "%.1fx")
             for c, k in (("t5-xxl-30", "t5_s"), ("dit-1280", "dit_s"), ("vae-256x256x17", "vae_s"))]
        # its "weight type stat" counts the file's types, before any --tensor-type-rules conversion
        conv = "" if r["weights"] == "bf16" else "; converted to %s at load" % r["weights"]
        md.append("| %s | %d | %.1f | %s | %.1f | %s | %.1f | %s | %.2f | %.1f | DiT tensors in the file: %s%s |" % (
            r["weights"], th, r["t5_s"], x[0], r["dit_s"], x[1], r["vae_s"], x[2], r["rusage_maxrss"] / GiB,
            max(r["loadavg"]), r.get("dit_types", "?"), conv))
    return md + [""]


def gguf_table(rows):
    """GGUF rows against the bf16 block (same threads and BLAS), and the 14B
    Q4_K projection: peak RSS(40 layers) = RSS(1) + 39 (RSS(2) - RSS(1))."""
    gib = lambda x: "%.2f" % (x / GiB) if x else "–"  # noqa: E731
    size = lambda c: os.path.getsize(os.path.join(ckpt_path({"ckpt": c}), "diffusion_pytorch_model.gguf"))  # noqa
    out = []
    for r in rows:
        if not r["case"].startswith("dit-block-1560-q") or not r.get("t2v_s"):
            continue
        base = find_row(rows, "dit-block-1560", r["threads"], r["blas"]) or {}
        bt, bc, br = base.get("t2v_s"), base.get("t2v_cpu_s"), base.get("t2v_rss")
        c = r.get("t2v_cpu_s")
        out.append("| %s | %d | %s | %.3f | %s | %s | %s | %s | %s | %s |" % (
            r["case"], r["threads"], r["blas"], r["t2v_s"], fmt(c), fmt(bt and r["t2v_s"] / bt, "%.2f"),
            fmt(bc and c and c / bc, "%.2f"), gib(r["t2v_rss"]), fmt(br and r["t2v_rss"] / br, "%.2f"),
            "%.3f" % (size("gguf-block-" + r["case"][-4:]) / 1e9)))
    md = []
    if out:
        md += ["## GGUF: quantized weights computed in place", "",
               "time ratio = GGUF median / bf16 (dit-block-1560) median, same threads (> 1: slower); CPU"
               " ratio the same with the process's CPU seconds (the figure to read when the machine is"
               " loaded: wall time then includes waiting for a core); RSS ratio likewise. The blocks are"
               " decoded into the fp32 scratch of the layer that uses them; the model is never held in"
               " fp32 or bf16.", "",
               "| case | thr | BLAS | t2v s | CPU s | time ratio vs bf16 | CPU ratio vs bf16 | RSS GiB"
               " | RSS ratio vs bf16 | file GB |",
               "|---|---|---|---|---|---|---|---|---|---|"] + out + [""]
    one = next((r for r in rows if r["case"] == "dit14b-1layer-1280-q4_k"), None)
    two = one and find_row(rows, "dit14b-2layer-1280-q4_k", one["threads"], one["blas"])
    if one and two and one.get("t2v_rss") and two.get("t2v_rss"):
        step = two["t2v_rss"] - one["t2v_rss"]
        proj = one["t2v_rss"] + 39 * step
        fstep = size("gguf-14b-2layer-q4_k") - size("gguf-14b-1layer-q4_k")
        md += ["14B in Q4_K, one forward at 256x256x17: 1 layer %s GiB peak RSS (%.0f s), 2 layers %s GiB (%.0f s);"
               " per layer +%.3f GiB (its Q4_K file bytes: %.3f GiB). Projected 40 layers: **%.2f GiB** peak RSS"
               " (target <= 12 GiB: %s); the 40-layer Q4_K file would be %.2f GB."
               % (gib(one["t2v_rss"]), one["t2v_s"], gib(two["t2v_rss"]), two["t2v_s"], step / GiB, fstep / GiB,
                  proj / GiB, "met" if proj <= 12 * GiB else "NOT met",
                  (size("gguf-14b-1layer-q4_k") + 39 * fstep) / 1e9)]
        four = find_row(rows, "dit14b-4layer-1280-q4_k", one["threads"], one["blas"])
        if four and four.get("t2v_rss"):
            md[-1] += (" Check: 4 layers measured %s GiB peak RSS (%.0f s), projected from 1 and 2 layers %.2f GiB."
                       % (gib(four["t2v_rss"]), four["t2v_s"], (one["t2v_rss"] + 3 * step) / GiB))
        md.append("")
    return md


def write_results(outdir, info, runs, quick, final, sdcpp=()):
    peak = raw_peak(runs)
    rows = make_rows(runs, peak)
    t5_file = ckpt_path({"ckpt": "t5"})
    tg = targets(rows, peak, t5_file, sdcpp)
    data = {"machine": info, "quick": quick, "complete": final, "sdcpp": list(sdcpp),
            "raw_sgemm_gflops": {"%s/%d" % k: v for k, v in peak.items()},
            "rows": rows, "targets": [{"target": a, "status": b, "value": c} for a, b, c in tg],
            "runs": [dict(r, case=r["case"]["name"]) for r in runs]}
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.json.tmp"), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(os.path.join(outdir, "results.json.tmp"), os.path.join(outdir, "results.json"))
    md = [
        "# t2v benchmark%s" % (" (quick)" if quick else ""),
        "",
        "Written by tools/bench.py (`make bench`%s) on %s%s. t2v (bench/bench_t2v.c) and"
        " the PyTorch reference (tools/bench_torch.py: tools/reference/ in float32) run one"
        " after the other on the same machine, same thread count, same inputs"
        " (the checksums agree), synthetic full-size checkpoints in bench/cache/."
        % (" QUICK=1" if quick else "", info.get("date", ""), "" if final else " (INCOMPLETE: interrupted)"),
        "",
        "Runs: " + ("; ".join("`%s` (%s)" % (c, d) for c, d in info.get("commands", [])) or "–"),
        "",
        info.get("note", ""),
        "",
        "- machine: %s, %s CPUs (%s), %s GiB; %s" % (info.get("cpu"), info.get("cpus"), info.get("simd"),
                                                    info.get("mem_gib"), info.get("platform")),
        "- t2v: %s, %s; OpenBLAS: %s (core %s); OPENBLAS_CORETYPE=%s" % (
            info.get("cc"), "-O2, OpenMP", info.get("openblas"), info.get("openblas_core"),
            info.get("OPENBLAS_CORETYPE", "(unset)")),
        "- PyTorch %s, numpy %s, Python %s (Debian python3-torch, float32)" % (
            info.get("torch"), info.get("numpy"), info.get("python")),
        "- load average (1 min) at start %.1f, at end %.1f; highest during a run: %.1f%s" % (
            info.get("load_start", 0), info.get("load_end", 0), max([r["loadavg"] for r in rows] or [0]),
            " — the machine was busy: timings are pessimistic and noisy" if max([r["loadavg"] for r in rows] or [0]) > 2.5 else ""),
        "- raw fp32 sgemm (OpenBLAS, one cblas_sgemm call) at the DiT's shapes: %s" % (", ".join(
            "%.0f GFLOP/s (%d thr%s)" % (v, k[1], "" if k[0] == "openblas" else ", " + k[0])
            for k, v in sorted(peak.items(), key=lambda kv: (kv[0][0], -kv[0][1]))) or "not measured"),
        "",
        "speedup = PyTorch median / t2v median (> 1: t2v faster); rss_ratio = t2v peak RSS /"
        " PyTorch peak RSS (< 1: t2v leaner); efficiency = t2v GFLOP/s / raw sgemm GFLOP/s"
        " (same thread count). Times are medians; load/setup is not timed (both sides read"
        " their weights into memory first). GEMM rows: t2v = linear_forward with bf16"
        " weights (widening included), PyTorch = F.linear in fp32. load: the highest 1-minute"
        " load average seen at the start or end of the row's two runs (2 cores).",
        "",
        "| case | thr | BLAS | t2v s | PyTorch s | speedup | t2v RSS GiB | PyTorch RSS GiB | rss_ratio"
        " | t2v GFLOP/s | efficiency | load | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        notes = []
        if "path_vs_raw" in r:
            notes.append("raw sgemm %.3f s (%.0f GFLOP/s), path/raw %.2f, built-in %.3f s"
                         % (r["raw_sgemm_s"], r["raw_gflops"], r["path_vs_raw"], r["builtin_s"]))
        if r["blas"].startswith("openblas-"):
            notes.append("OpenBLAS kernels: %s (both sides)" % r.get("core"))
        if r.get("t2v_cpu_s") and r.get("torch_cpu_s"):
            notes.append("CPU s t2v %.3f / PyTorch %.3f (ratio %.2f)"
                         % (r["t2v_cpu_s"], r["torch_cpu_s"], r["torch_cpu_s"] / r["t2v_cpu_s"]))
        if "checksum_rel" in r:
            notes.append("checksum rel diff %.1e" % r["checksum_rel"])
        for k in ("t2v_error", "torch_error"):
            if k in r:
                notes.append("%s: %s" % (k, r[k][:160].replace("|", "/").replace("\n", " ")))
        md.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s |" % (
            r["case"], r["threads"], r["blas"], fmt(r.get("t2v_s")), fmt(r.get("torch_s")),
            fmt(r.get("speedup"), "%.2f"), fmt(r.get("t2v_rss") and r["t2v_rss"] / GiB, "%.2f"),
            fmt(r.get("torch_rss") and r["torch_rss"] / GiB, "%.2f"), fmt(r.get("rss_ratio"), "%.2f"),
            fmt(r.get("gflops"), "%.0f"), fmt(r.get("efficiency"), "%.2f"), r.get("loadavg", 0), "; ".join(notes)))
    md += ["", "Cases:", ""]
    seen = set()
    for r in rows:
        if r["case"] not in seen:
            seen.add(r["case"])
            md.append("- `%s`: %s" % (r["case"], r["what"]))
    md += [""] + gguf_table(rows) + bf16_section(rows)
    md += sdcpp_table(rows, sdcpp)
    md += ["## Targets", "", "At 2 threads (the thread count of the targets), OpenBLAS build; each"
           " status holds at the load of its row (column `load` above).", "",
           "| target | status | value |", "|---|---|---|"]
    md += ["| %s | %s | %s |" % t for t in tg]
    md.append("")
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(md))
    plot(outdir, rows)


def plot(outdir, rows):
    """results.png: speedup and RSS ratio bars per row; under them, when the
    run swept three or more thread counts (--threads 1,2,4,8,16), the
    scaling plot: each side's speedup over its own 1-thread time per case."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rs = [r for r in rows if r.get("speedup") or r.get("rss_ratio")]
    if not rs:
        return
    scal = scaling_series(rows)
    labels = ["%s %dt%s" % (r["case"], r["threads"], "" if r["blas"] == "openblas" else " " + r["blas"]) for r in rs]
    hbar = 0.45 * len(rs) + 1.5
    fig = plt.figure(figsize=(12, hbar + (5 if scal else 0)))
    gs = fig.add_gridspec(2 if scal else 1, 2, height_ratios=[hbar, 5] if scal else [1])
    axes = [fig.add_subplot(gs[0, 0])]
    axes.append(fig.add_subplot(gs[0, 1], sharey=axes[0]))
    for ax, key, title in ((axes[0], "speedup", "speedup = PyTorch time / t2v time"),
                           (axes[1], "rss_ratio", "rss_ratio = t2v peak RSS / PyTorch peak RSS")):
        vals = [r.get(key) or 0 for r in rs]
        good = [(v >= 1) if key == "speedup" else (0 < v < 1) for v in vals]
        ax.barh(range(len(rs)), vals, color=["tab:green" if g else "tab:red" for g in good])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_title(title, fontsize=9)
        for i, v in enumerate(vals):
            if v:
                ax.text(v, i, " %.2f" % v, va="center", fontsize=7)
    axes[0].set_yticks(range(len(rs)))
    axes[0].set_yticklabels(labels, fontsize=7)
    axes[0].invert_yaxis()
    if scal:
        ax = fig.add_subplot(gs[1, :])
        tmax = max(t for _, _, ts, _ in scal for t in ts)
        ax.plot([1, tmax], [1, tmax], color="0.7", lw=0.8, label="ideal")
        for i, (case, side, ts, sp) in enumerate(scal):
            ax.plot(ts, sp, marker="o", ls="-" if side == "t2v" else "--", color="C%d" % (i // 2 % 10),
                    label="%s %s" % (case, side))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("threads")
        ax.set_ylabel("speedup over 1 thread (same side)")
        ax.set_title("scaling (time at 1 thread / time at n threads)", fontsize=9)
        ax.legend(fontsize=6, ncol=3)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "results.png"), dpi=90)
    plt.close(fig)


def scaling_series(rows):
    """(case, side, thread counts, speedups over 1 thread) for every case and
    side (t2v with OpenBLAS, PyTorch) measured at 1 thread and at 2+ more
    counts; [] when the run did not sweep."""
    out = []
    for case in sorted({r["case"] for r in rows}):
        for side, key in (("t2v", "t2v_s"), ("PyTorch", "torch_s")):
            pts = sorted((r["threads"], r[key]) for r in rows
                         if r["case"] == case and r["blas"].startswith("openblas") and r.get(key))
            base = [s for t, s in pts if t == 1]
            if base and len(pts) >= 3:
                out.append((case, side, [t for t, _ in pts], [base[0] / s for _, s in pts]))
    return out


# --- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the small cases only (a few minutes)")
    ap.add_argument("--cases", help="comma-separated case names (default: all, or the quick ones)")
    ap.add_argument("--reps", type=int, help="timed repetitions per run (default: per case)")
    ap.add_argument("--warmup", type=int, help="untimed repetitions per run (default: per case)")
    ap.add_argument("--threads", default=None, help="thread counts, e.g. 2,1 (default: nproc,1)")
    ap.add_argument("--no-none", action="store_true", help="skip the BLAS=none runs")
    ap.add_argument("--no-torch-1t", action="store_true", help="skip PyTorch at 1 thread for the heavy cases")
    ap.add_argument("--nice", type=int, default=0, help="run the children under nice -n N")
    ap.add_argument("--coretype", help="OPENBLAS_CORETYPE for both sides' runs (e.g. SkylakeX: OpenBLAS's "
                    "AVX-512 kernels); its rows are BLAS openblas-CORE, kept apart from the environment's")
    ap.add_argument("--out", default=os.path.join(root, "bench"))
    ap.add_argument("--append", action="store_true",
                    help="keep the runs already in OUT/results.json (others than those re-run now)")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite results.md/png from OUT/results.json (with --note)")
    ap.add_argument("--note", help="a paragraph for results.md (kept in results.json)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, to check the harness itself (numbers meaningless)")
    ap.add_argument("--sdcpp", metavar="SD_CLI",
                    help="stable-diffusion.cpp's sd-cli (tools/build_sdcpp.sh): run it side by side")
    ap.add_argument("--sdcpp-types", default="bf16,f16,f32",
                    help="its DiT weight types, one run each (default: bf16,f16,f32)")
    a = ap.parse_args()
    if a.sdcpp and not os.access(a.sdcpp, os.X_OK):
        sys.exit("bench: --sdcpp %s: not an executable (build it with tools/build_sdcpp.sh)" % a.sdcpp)

    if a.render:
        with open(os.path.join(a.out, "results.json")) as f:
            old = json.load(f)
        by_name = {c["name"]: c for c in CASES}
        info = old["machine"]
        if a.note is not None:
            info["note"] = a.note
        runs = [dict(r, case=by_name[r["case"]]) for r in old["runs"] if r["case"] in by_name]
        write_results(a.out, info, runs, old.get("quick", False), old.get("complete", True), old.get("sdcpp", []))
        return
    cases = [c for c in CASES if (c["quick"] or not a.quick) and not c.get("optin")]
    sd_types = [w for w in a.sdcpp_types.split(",") if w] if a.sdcpp else []
    if a.cases:
        want = a.cases.split(",")
        unknown = [w for w in want if w not in [c["name"] for c in CASES] + ["sdcpp"]]
        if unknown:
            sys.exit("bench: unknown case(s) %s; known: %s, sdcpp" % (unknown, ", ".join(c["name"] for c in CASES)))
        cases = [c for c in CASES if c["name"] in want]
        if "sdcpp" not in want:
            sd_types = []
        elif not a.sdcpp:
            sys.exit("bench: --cases sdcpp needs --sdcpp SD_CLI (make bench SDCPP=...)")
    if a.smoke:
        tiny = {"gemm": [64, 128, 256], "dit": [1, 8, 8, 30], "vae": [1, 4, 4]}
        cases = [dict({k: v for k, v in c.items() if k != "flops"}, args=tiny.get(c["kind"], c["args"]),
                      reps=1) for c in cases]
    nproc = os.cpu_count() or 1
    threads = [int(x) for x in a.threads.split(",")] if a.threads else sorted({nproc, 1}, reverse=True)

    info = machine_info()
    info["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    info["commands"] = [[("tools/bench.py " + " ".join(sys.argv[1:])).strip(), info["date"]]]
    info["load_start"] = os.getloadavg()[0]
    if a.note:
        info["note"] = a.note
    bins = {"openblas": build("openblas")}
    if not a.no_none and not a.coretype:  # BLAS=none has no OpenBLAS kernels to pick
        bins["none"] = build("none")
    write_checkpoints(cases, bool(sd_types))

    plan = []  # (case, threads, blas, with_torch)
    for c in cases:
        for t in threads:
            heavy = c["kind"] in ("t5", "vae") or c["name"] == "dit-1280"
            plan.append((c, t, "openblas-" + a.coretype if a.coretype else "openblas", c.get("torch", True) and
                         not (a.no_torch_1t and heavy and t != threads[0])))
        if "none" in bins:
            plan.append((c, threads[0], "none", False))
    total = sum(1 + w for _, _, _, w in plan) + len(sd_types)
    prog = Progress(total)
    runs, sdcpp = [], []
    old_path = os.path.join(a.out, "results.json")
    if a.append and os.path.exists(old_path):
        with open(old_path) as f:
            old = json.load(f)
        by_name = {c["name"]: c for c in CASES}
        redo = {(c["name"], t, b) for c, t, b, _ in plan}
        for r in old.get("runs", []):
            if r["case"] in by_name and (r["case"], r["threads"], r["blas"]) not in redo:
                runs.append(dict(r, case=by_name[r["case"]]))
        sdcpp = [r for r in old.get("sdcpp", []) if not (r["weights"] in sd_types and r["threads"] == threads[0])]
        om = old.get("machine", {})
        info["load_start"] = min(info["load_start"], om.get("load_start", 99))
        for k in ("openblas", "openblas_core", "torch", "numpy"):  # a --coretype run records none
            if om.get(k) is not None:
                info.setdefault(k, om[k])
        info["commands"] = om.get("commands", []) + info["commands"]
        if a.note is None and om.get("note"):  # the earlier paragraph, unless replaced
            info["note"] = om["note"]
        a.quick = a.quick and old.get("quick", True)
    try:
        for c, t, blas, with_torch in plan:
            reps = a.reps or c["reps"]
            if t != threads[0] and c["kind"] != "gemm":
                reps = min(reps, 2 if c["name"].startswith("dit-block") else 1)
            warm = c.get("warmup", 1) if a.warmup is None else a.warmup
            args = case_args(c, reps, warm)
            run = {"case": c, "threads": t, "blas": blas}
            prog.start("%s t2v %d thr %s" % (c["name"], t, blas))
            prec = ["-p", c["precision"]] if c.get("precision") else []
            run["t2v"] = run_child([bins[blas.split("-")[0]], "-t", str(t)] + prec + [c["kind"]] + args, t, a.nice,
                                   a.coretype)
            if "error" in run["t2v"]:
                prog.note("bench: %s t2v: %s" % (c["name"], run["t2v"]["error"]))
            elif not a.coretype:
                for k in ("openblas", "openblas_core"):
                    if k in run["t2v"]:
                        info[k] = run["t2v"][k]
            if with_torch:
                prog.start("%s PyTorch %d thr" % (c["name"], t))
                run["torch"] = run_child([PY, os.path.join(here, "bench_torch.py"), "-t", str(t), c["kind"]] + args,
                                         t, a.nice, a.coretype)
                if "error" in run["torch"]:
                    prog.note("bench: %s PyTorch: %s" % (c["name"], run["torch"]["error"]))
                else:
                    info["torch"], info["numpy"] = run["torch"].get("torch"), run["torch"].get("numpy")
            runs.append(run)
            info["load_end"] = os.getloadavg()[0]
            write_results(a.out, info, runs, a.quick, False, sdcpp)
        for w in sd_types:
            prog.start("stable-diffusion.cpp %s DiT %d thr" % (w, threads[0]))
            r = run_sdcpp(a.sdcpp, w, threads[0], a.nice)
            if "error" in r:
                prog.note("bench: stable-diffusion.cpp %s: %s" % (w, r["error"]))
            sdcpp = [x for x in sdcpp if not (x["weights"] == w and x["threads"] == threads[0])] + [r]
            info["load_end"] = os.getloadavg()[0]
            write_results(a.out, info, runs, a.quick, False, sdcpp)
    except KeyboardInterrupt:
        prog.note("bench: interrupted; writing what was measured")
    prog.done()
    info["load_end"] = os.getloadavg()[0]
    write_results(a.out, info, runs, a.quick, prog.k == total, sdcpp)
    with open(os.path.join(a.out, "results.md")) as f:
        print(f.read())


if __name__ == "__main__":
    main()
