#!/usr/bin/python3
"""A synthetic full-size umT5-XXL encoder checkpoint, and PyTorch on it, for
the memory/time measurement of the t5 stage (not for goldens; nothing here is
committed).

  t5_xxl.py write DIR
      DIR/models_t5_umt5-xxl-enc-bf16.safetensors: the 242 tensors of docs/MODEL.md 5.4
      (official names and shapes, BF16, random), written tensor by tensor in
      chunks, so memory stays ~0.2 GB; plus DIR/tokens.safetensors (30 ids
      ending with EOS).
  t5_xxl.py pth DIR
      DIR/models_t5_umt5-xxl-enc-bf16.pth: the same tensors through torch.save
      (the official .pth layout), read from a copy-on-write memmap of the
      safetensors file (no 11 GB in anonymous memory).
  t5_xxl.py torch DIR [--fp32] [--out FILE]
      PyTorch as the official code uses it: torch.load of the .pth into memory,
      the encoder of tools/reference/t5.py in bf16 (or, with --fp32, the weights
      converted to float32 first), on DIR/tokens.safetensors. Prints wall time
      of load and encode and the peak RSS.
  t5_xxl.py reference64 DIR OUT
      tools/reference/t5.py in float64 on the safetensors file, each weight
      widened when used (a full-size correctness check of ref/lib/t5.c; compare
      OUT with `t2v compare`).
"""
import json
import os
import resource
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from reference import t5  # noqa: E402

XXL = dict(vocab=256384, dim=4096, dim_attn=4096, num_heads=64, dim_ffn=10240, num_layers=24,
           num_buckets=32)
NAME = "models_t5_umt5-xxl-enc-bf16"
CHUNK = 1 << 22
POOL = 1 << 23


class _Shapes:
    def __init__(self, c):
        self.__dict__.update(c)


def to_bf16_bits(x):
    """float32 numpy -> uint16 bf16 bits, round to nearest even (no NaNs here)."""
    u = x.view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


def kind(name, shape):
    """Value family of a tensor: (key, sampler) with its scale."""
    if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
        return "gain", lambda rng, n: rng.random(n, dtype=np.float32) + np.float32(0.5)
    if name == "token_embedding.weight" or name.endswith("pos_embedding.embedding.weight"):
        return "unit", lambda rng, n: rng.standard_normal(n, dtype=np.float32)
    scale = 1.0 / np.sqrt(shape[1])
    if name.endswith("attn.q.weight") or name.endswith("attn.k.weight"):
        scale *= 0.5
    key = "lin%d_%g" % (shape[1], scale)
    return key, lambda rng, n: rng.standard_normal(n, dtype=np.float32) * np.float32(scale)


def chunks(rng, pools, name, shape):
    """The tensor's bf16 bits in chunks: random slices of a pool of 2^23 draws
    per value family (drawing 5.7e9 fresh normals would take most of an hour
    on a busy 2-core machine; a timing run needs no more randomness)."""
    key, sampler = kind(name, shape)
    if key not in pools:
        pools[key] = to_bf16_bits(sampler(rng, POOL))
    n = int(np.prod(shape))
    for s in range(0, n, CHUNK):
        m = min(CHUNK, n - s)
        o = int(rng.integers(0, POOL - m + 1))
        yield pools[key][o:o + m]


def write(d):
    os.makedirs(d, exist_ok=True)
    shapes = t5.tensor_shapes(_Shapes(XXL))
    header, off = {"__metadata__": {"made_by": "tools/t5_xxl.py (synthetic)"}}, 0
    for name, shape in shapes.items():
        nbytes = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path = os.path.join(d, NAME + ".safetensors")
    rng = np.random.default_rng(2024)
    t0 = time.time()
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        pools = {}
        for name, shape in shapes.items():
            for c in chunks(rng, pools, name, shape):
                f.write(c.tobytes())
    os.rename(path + ".tmp", path)
    g = np.random.default_rng(7)
    ids = np.concatenate([g.integers(2, XXL["vocab"], 29), [1]]).astype(np.int32)
    st.save(os.path.join(d, "tokens.safetensors"), {"tokens": ids})
    print("%s: %.2f GB in %.0f s" % (path, os.path.getsize(path) / 1e9, time.time() - t0))


def memmap_tensors(path):
    """name -> bf16 torch tensor viewing a copy-on-write memmap of a safetensors file."""
    import torch
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    mm = np.memmap(path, dtype=np.int16, mode="c", offset=8 + n)
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(mm[b // 2:e // 2]).view(torch.bfloat16).view(*info["shape"])
    return out


def write_pth(d):
    import collections
    import torch
    sd = memmap_tensors(os.path.join(d, NAME + ".safetensors"))
    order = list(t5.tensor_shapes(_Shapes(XXL)))
    t0 = time.time()
    path = os.path.join(d, NAME + ".pth")
    torch.save(collections.OrderedDict((k, sd[k]) for k in order), path + ".tmp")
    os.rename(path + ".tmp", path)
    print("%s: %.2f GB in %.0f s" % (path, os.path.getsize(path) / 1e9, time.time() - t0))


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30


class Widening(dict):
    """name -> float64 tensor, widened from the memmapped bf16 file on each
    access (one matrix at a time in memory), for a float64 check at full size."""

    def __getitem__(self, k):
        import torch
        t = dict.__getitem__(self, k)
        if k == "token_embedding.weight":
            return _Rows(t)   # 8.4 GB in float64: widen only the rows looked up
        return t.to(torch.float64)


class _Rows:
    def __init__(self, t):
        self.t, self.shape = t, t.shape

    def __getitem__(self, ids):
        import torch
        return self.t[ids].to(torch.float64)


def run_reference64(d, out):
    """tools/reference/t5.py in float64 on the XXL file, weights widened on use."""
    import torch
    torch.set_grad_enabled(False)
    ids = torch.from_numpy(st.load(os.path.join(d, "tokens.safetensors"))[0]["tokens"]).long()
    t0 = time.time()
    sd = Widening(memmap_tensors(os.path.join(d, NAME + ".safetensors")))
    cfg = t5.Config(sd)
    ctx = t5.encode(sd, cfg, ids)
    print("float64 reference, %d tokens: %.1f s, peak RSS %.2f GiB"
          % (ids.numel(), time.time() - t0, peak_rss_gb()))
    st.save(out, {"context": ctx.to(torch.float32)})


def run_torch(d, fp32, out):
    import torch
    torch.set_grad_enabled(False)
    ids = torch.from_numpy(st.load(os.path.join(d, "tokens.safetensors"))[0]["tokens"]).long()
    t0 = time.time()
    sd = torch.load(os.path.join(d, NAME + ".pth"), map_location="cpu")
    if fp32:
        for k in list(sd):
            sd[k] = sd[k].float()
    t1 = time.time()
    print("load%s: %.1f s, peak RSS %.2f GiB" % (" + fp32" if fp32 else "", t1 - t0, peak_rss_gb()),
          flush=True)
    cfg = t5.Config(sd)
    ctx = t5.encode(sd, cfg, ids)
    t2 = time.time()
    print("encode %d tokens (%s, %d threads): %.1f s; total %.1f s, peak RSS %.2f GiB"
          % (ids.numel(), "fp32" if fp32 else "bf16", torch.get_num_threads(), t2 - t1, t2 - t0,
             peak_rss_gb()))
    if out:
        st.save(out, {"context": ctx.float()})


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "pth":
        write_pth(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "reference64":
        run_reference64(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "torch":
        out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
        run_torch(sys.argv[2], "--fp32" in sys.argv, out)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
