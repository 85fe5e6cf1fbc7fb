#!/usr/bin/python3
"""The PyTorch side of `make bench` (tools/bench.py runs it; the t2v side is
bench/bench_t2v.c). Runs the independent reference of tools/reference/ in
float32 with torch.set_num_threads(THREADS), on the same synthetic
checkpoints, and prints one JSON line: times in seconds, load time, peak RSS
(getrusage; tools/bench.py also takes the child's rusage from wait4).

  bench_torch.py [-t THREADS] gemm M K N REPS
      F.linear(x[M,K], W[N,K]) in float32 (W holds bf16 values, as t2v's).
  bench_torch.py [-t THREADS] dit MODEL_DIR T H W L REPS WARMUP
      reference.dit.forward (context embedding, embeddings, blocks, head) on a
      latent [16, T, H, W] and context [L, text_dim] (tools/prng.py, the same
      values as bench_t2v's, so the checksums agree); weights read from
      the BF16 file and converted to float32 at load.
  bench_torch.py [-t THREADS] t5 CHECKPOINT TOKENS REPS WARMUP
      reference.t5.encode: the bf16 weights are loaded into memory (11.4 GB;
      in float32 they would be 22.7 GB, more than this machine has) and each
      matrix is widened to float32 when used, so all arithmetic is float32.
  bench_torch.py [-t THREADS] vae CHECKPOINT T h w REPS WARMUP
      reference.vae.decode_chunked (the official chunked algorithm) in float32.

Two changes to how the reference runs, neither to its arithmetic: attention
is evaluated one head at a time when the score matrix would be large (torch
1.13 has no fused attention; the full [heads, N, N] scores would need
1.9 GB per copy at 6,240 tokens), and the VAE's normalisation constants are
float32 (the float64 goldens use float64).
"""
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from prng import prng_tensor  # noqa: E402
from reference import dit, t5, vae, vae22  # noqa: E402


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def load_safetensors(path, convert):
    """name -> tensor, read tensor by tensor (no second copy of the file);
    convert(bf16 or f32 tensor) -> the stored tensor."""
    header, base = read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            b, e = info["data_offsets"]
            f.seek(base + b)
            if info["dtype"] == "BF16":
                a = np.fromfile(f, dtype="<i2", count=(e - b) // 2)
                t = torch.from_numpy(a).view(torch.bfloat16)
            elif info["dtype"] == "F32":
                t = torch.from_numpy(np.fromfile(f, dtype="<f4", count=(e - b) // 4))
            else:
                raise SystemExit("%s: %s: dtype %s not supported" % (path, name, info["dtype"]))
            out[name] = convert(t.view(*info["shape"]))
    return out


def head_chunked_attention(q, k, v, cfg=None):
    """reference.dit.attention (fp32: cfg is not bf16 here), one head at a
    time when [n, Lq, Lk] is large."""
    if q.size(0) * k.size(0) * q.size(1) <= (1 << 24):
        return _attention(q, k, v, cfg)
    d = q.size(-1)
    out = torch.empty(q.size(0), q.size(1), d, dtype=q.dtype)
    for h in range(q.size(1)):
        s = (q[:, h] @ k[:, h].t()) / math.sqrt(d)
        out[:, h] = torch.softmax(s, dim=-1) @ v[:, h]
    return out.flatten(1)


_attention = dit.attention
dit.attention = head_chunked_attention


CPU = []  # CPU seconds (all threads) of each timed repetition


def timed(fn, reps, warmup):
    times = []
    for r in range(warmup + reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if r >= warmup:
            times.append(time.perf_counter() - t0)
            CPU.append(time.process_time() - c0)
    return times


def case_gemm(M, K, N, reps):
    x = prng_tensor(14, (M, K), 1.0).float()
    w = prng_tensor(15, (N, K), 0.03125).float().bfloat16().float()
    times = timed(lambda: torch.nn.functional.linear(x, w), reps, 1)
    return {"case": "gemm", "M": M, "K": K, "N": N, "times": times}


def case_dit(d, T, H, W, L, reps, warmup):
    t0 = time.perf_counter()
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    sd = load_safetensors(os.path.join(d, "diffusion_pytorch_model.safetensors"), lambda t: t.float())
    load_s = time.perf_counter() - t0
    c = dit.full_config(cfg)
    latent = prng_tensor(11, (c["in_dim"], T, H, W), 1.0).float()
    context = prng_tensor(12, (L, c["text_dim"]), 0.25).float()
    out = {}
    times = timed(lambda: out.update(v=dit.forward(sd, cfg, latent, 500, context)), reps, warmup)
    return {"case": "dit", "tokens": T * H * W // 4, "layers": cfg["num_layers"],
            "checksum": float((out["v"].double() ** 2).sum()), "times": times, "load_s": load_s}


class Widening(dict):
    """name -> float32 tensor, widened from the bf16 tensor in memory when
    used: one matrix at a time in float32."""

    def __getitem__(self, k):
        t = dict.__getitem__(self, k)
        if k == "token_embedding.weight":
            return _Rows(t)
        return t.float()


class _Rows:
    """The embedding table: only the rows looked up are widened."""

    def __init__(self, t):
        self.t, self.shape = t, t.shape

    def __getitem__(self, ids):
        return self.t[ids].float()


def case_t5(path, tokens, reps, warmup):
    t0 = time.perf_counter()
    sd = Widening(load_safetensors(path, lambda t: t))
    load_s = time.perf_counter() - t0
    header, base = read_header(tokens)
    with open(tokens, "rb") as f:
        b, e = header["tokens"]["data_offsets"]
        f.seek(base + b)
        ids = torch.from_numpy(np.fromfile(f, dtype="<i4", count=(e - b) // 4).astype(np.int64))
    cfg = t5.Config(sd)
    out = {}
    times = timed(lambda: out.update(c=t5.encode(sd, cfg, ids)), reps, warmup)
    return {"case": "t5", "tokens": int(ids.numel()),
            "checksum": float((out["c"].double() ** 2).sum()), "times": times, "load_s": load_s}


def case_vae(path, T, h, w, reps, warmup):
    vae.scale_pair = lambda: (torch.tensor(vae.MEAN, dtype=torch.float32),
                              1.0 / torch.tensor(vae.STD, dtype=torch.float32))
    t0 = time.perf_counter()
    sd = load_safetensors(path, lambda t: t)
    load_s = time.perf_counter() - t0
    ref = vae22 if "decoder.upsamples.0.upsamples.0.residual.2.weight" in sd else vae  # Wan2.2's layout
    vae22.scale_pair = lambda: (torch.tensor(vae22.MEAN, dtype=torch.float32),
                                1.0 / torch.tensor(vae22.STD, dtype=torch.float32))
    z = prng_tensor(13, (len(ref.MEAN), T, h, w), 1.0).float()
    out = {}
    times = timed(lambda: out.update(v=ref.decode_chunked(sd, z)), reps, warmup)
    return {"case": "vae", "frames": int(out["v"].shape[1]),
            "checksum": float((out["v"].double() ** 2).sum()), "times": times, "load_s": load_s}


def main():
    a = sys.argv[1:]
    threads = os.cpu_count()
    if a[:1] == ["-t"]:
        threads, a = int(a[1]), a[2:]
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    if not a:
        sys.exit(__doc__)
    cmd, v = a[0], a[1:]
    if cmd == "gemm" and len(v) == 4:
        r = case_gemm(*map(int, v))
    elif cmd == "dit" and len(v) == 7:
        r = case_dit(v[0], *map(int, v[1:]))
    elif cmd == "t5" and len(v) == 4:
        r = case_t5(v[0], v[1], int(v[2]), int(v[3]))
    elif cmd == "vae" and len(v) == 6:
        r = case_vae(v[0], *map(int, v[1:]))
    else:
        sys.exit(__doc__)
    r.update(cpu_s=CPU, threads=torch.get_num_threads(), torch=torch.__version__, numpy=np.__version__,
             peak_rss=peak_rss())
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
