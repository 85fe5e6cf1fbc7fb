"""Minimal safetensors reader/writer with numpy only (Debian has no
python3-safetensors). Writes the same layout ref/lib/safetensors.c reads:
u64 LE header length, JSON header (keys sorted as given), data section.
Deterministic: the same tensors give the same bytes, so `make golden`
reproduces committed files bit for bit.
"""
import json
import struct

import numpy as np

_DT = {
    np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
    np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("int16"): "I16",
    np.dtype("int8"): "I8", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL",
}
_NP = {v: k for k, v in _DT.items()}


def _to_numpy(x):
    """Accepts numpy arrays and torch tensors. torch.bfloat16 becomes a
    (uint16 bits, 'BF16') pair."""
    try:
        import torch
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().contiguous()
            if x.dtype == torch.bfloat16:
                return x.view(torch.int16).numpy().view(np.uint16), "BF16"
            return x.numpy(), None
    except ImportError:
        pass
    a = np.asarray(x)
    return np.ascontiguousarray(a).reshape(a.shape), None  # keeps 0-dim arrays 0-dim


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array or torch tensor (order kept)."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, x in tensors.items():
        arr, forced = _to_numpy(x)
        dt = forced or _DT[arr.dtype]
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    """Returns (dict name -> numpy array, metadata dict). BF16 -> float32."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base, out = 8 + n, {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=_NP[info["dtype"]].newbyteorder("<"))
        out[name] = arr.reshape(info["shape"]).copy()
    return out, meta
