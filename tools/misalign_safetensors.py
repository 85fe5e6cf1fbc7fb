#!/usr/bin/python3
"""Writes a copy of a safetensors file whose tensors sit at misaligned
absolute offsets, to check that a reader does not assume alignment.

    tools/misalign_safetensors.py IN.safetensors OUT.safetensors --shift K [--dtype D]

The header's JSON is padded with spaces (legal: the format allows trailing
whitespace in the header) so that the data section starts at an offset
that is K mod 8 (K = 1, 2 or 3; 0 gives the 8-aligned layout). Every
tensor's data_offsets, which are relative to the data section, stay as they
were, so the file is legal and holds the same bytes, but a tensor at a
4-aligned relative offset is now at an absolute offset that is K mod 4 in
the file and in its memory mapping: F32 tensors are misaligned for 4-byte
loads by every K, BF16/F16 ones for 2-byte loads by K = 1 and 3.

--dtype F32|BF16|F16 first converts every float tensor to that dtype
(round to nearest even; integer tensors are kept), so one source file gives
a misaligned copy for each dtype the readers support. Without --dtype the
tensors keep their dtype and bytes. __metadata__ is kept.

numpy only (no torch). tests/test_misaligned.c builds the same files from C
at test time; this tool is for checking other readers and files by hand.
"""
import argparse
import json
import struct
import sys

import numpy as np

_NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
       "I8": "i1", "U8": "u1", "BOOL": "u1"}
_FLOAT = ("F64", "F32", "F16", "BF16")


def read(path):
    """(header dict in file order, data section bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    return header, raw[8 + n:]


def to_f32(dtype, b):
    if dtype == "BF16":
        return (np.frombuffer(b, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(b, dtype=_NP[dtype]).astype(np.float32)


def from_f32(dtype, x):
    """fp32 values -> little-endian bytes of dtype, round to nearest even."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "BF16":
        u = x.view(np.uint32)
        nan = np.isnan(x)
        r = ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
        r[nan] = ((u[nan] >> 16) | np.uint32(0x40)).astype(np.uint16)  # quiet NaN stays NaN
        return r.astype("<u2").tobytes()
    return x.astype(_NP[dtype]).tobytes()


def convert(header, data, dtype):
    """Every float tensor converted to dtype; offsets recomputed, no padding."""
    out_h, blobs, off = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_h[name] = info
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        if info["dtype"] in _FLOAT and info["dtype"] != dtype:
            raw = from_f32(dtype, to_f32(info["dtype"], raw))
            info = dict(info, dtype=dtype)
        out_h[name] = dict(info, data_offsets=[off, off + len(raw)])
        blobs.append(raw)
        off += len(raw)
    return out_h, b"".join(blobs)


def write(path, header, data, shift):
    """The header JSON padded with spaces so the data section starts at
    shift mod 8 (absolute offset in the file)."""
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * ((shift - 8 - len(h)) % 8)
    assert (8 + len(h)) % 8 == shift
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.write(data)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--shift", type=int, required=True, choices=(0, 1, 2, 3, 4, 5, 6, 7),
                    help="the data section's offset mod 8 (1, 2, 3: misaligned)")
    ap.add_argument("--dtype", choices=("F32", "BF16", "F16"),
                    help="convert every float tensor to this dtype first")
    a = ap.parse_args(argv)
    header, data = read(a.inp)
    if a.dtype:
        header, data = convert(header, data, a.dtype)
    write(a.out, header, data, a.shift)
    mis = sum(1 for k, v in header.items() if k != "__metadata__" and
              (a.shift + v["data_offsets"][0]) % 4)
    print("%s: %d tensors, data section at offset %% 8 = %d, %d tensors not 4-byte aligned"
          % (a.out, len(header) - ("__metadata__" in header), a.shift, mis))


if __name__ == "__main__":
    main(sys.argv[1:])
