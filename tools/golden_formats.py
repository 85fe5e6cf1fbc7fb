#!/usr/bin/python3
"""Checkpoint-format goldens for tests/test_pth.c and tests/test_safetensors.c
(written by torch.save and tools/st.py, never by the C code):

golden/formats/
  pth_f32.pth, pth_bf16.pth, pth_f16.pth   OrderedDict state dicts (torch.save)
  pth_views.pth        storage_offset views, a transposed (non-contiguous)
                       tensor, tensors sharing one storage, a 0-dim and an
                       empty tensor, a plain dict
  pth_module.pth       nn.Module.state_dict() (OrderedDict with _metadata,
                       BUILD opcode), int64 buffer, nn.Parameter values
  pth_ints.pth         I64 I32 I16 I8 U8 BOOL F64 tensors
  pth_params.pth       nn.Parameter values (torch._utils._rebuild_parameter)
  pth_odd_strides.pth  hand-written pickle: huge strides on size-1 dims (legal)
  pth_proto4.pth       pickle protocol 4 (FRAME, STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE)
  pth_zip64.pth        pth_views.pth re-packed with every size and offset
                       escaped to ZIP64 records (what torch writes past 4 GB);
                       checked here to load identically with torch.load
  pth_zip64_miniz.pth  the same, local headers as miniz writes them past 4 GB
                       (descriptor flag, zero sizes, zip64 extra + FB padding)
  <name>.expected.safetensors   the same tensors (same dtype, contiguous)
  st_dtypes.safetensors every dtype, values by formula (test recomputes them),
                       a 0-dim and an empty tensor, __metadata__
  sharded/model.safetensors.index.json + model-0000{1,2}-of-00002.safetensors

Deterministic: re-running reproduces every byte.
"""
import collections
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pthzip  # noqa: E402
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden", "formats")


def rnd(g, shape, dtype):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * 0.75).to(dtype)


def save_pth(name, sd, protocol=2):
    path = os.path.join(OUT, name + ".pth")
    # torch.save names the zip folder after the file; writing through a file
    # object makes it "archive", as in torch >= 2 files.
    with open(path, "wb") as f:
        torch.save(sd, f, pickle_protocol=protocol)
    expected = collections.OrderedDict((k, v.detach().clone().contiguous()) for k, v in sd.items())
    st.save(os.path.join(OUT, name + ".expected.safetensors"), expected)
    back = torch.load(path)
    for k, v in sd.items():
        assert torch.equal(back[k], v), k
    return path


def pth_float(g, dtype):
    sd = collections.OrderedDict()
    sd["token_embedding.weight"] = rnd(g, (11, 8), dtype)
    sd["blocks.0.attn.q.weight"] = rnd(g, (8, 8), dtype)
    sd["blocks.0.norm1.weight"] = rnd(g, (8,), dtype) + 1
    sd["norm.weight"] = rnd(g, (8,), dtype)
    return sd


def pth_views(g):
    base = rnd(g, (6, 5), torch.float32)
    flat = rnd(g, (40,), torch.float32)
    sd = {}  # a plain dict, not an OrderedDict
    sd["slice.rows"] = base[2:5]                  # storage_offset 10, contiguous
    sd["slice.flat"] = flat[7:19].view(3, 4)      # storage_offset 7
    sd["transposed"] = base.t()                   # strides (1, 5)
    sd["column"] = base[:, 3]                     # offset 3, stride 5
    sd["shared.a"] = flat[0:20].view(4, 5)        # shares flat's storage
    sd["shared.b"] = flat[20:40]
    sd["scalar"] = torch.tensor(2.5, dtype=torch.float32)
    sd["empty"] = torch.zeros(0, 3, dtype=torch.float32)
    sd["step"] = base[::2, 1::2]                  # strides (10, 2)
    return sd


def pth_module(g):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.LayerNorm(3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(rnd(g, p.shape, torch.float32))
        m[1].running_mean.copy_(rnd(g, (3,), torch.float32))
        m[1].num_batches_tracked.fill_(7)
    return m.state_dict()


def pth_params(g):
    # nn.Parameter values go through torch._utils._rebuild_parameter
    return collections.OrderedDict(
        [("w", torch.nn.Parameter(rnd(g, (2, 3), torch.float32))),
         ("b", torch.nn.Parameter(rnd(g, (3,), torch.bfloat16), requires_grad=False))])


def pth_ints():
    sd = collections.OrderedDict()
    i = torch.arange(6)
    sd["i64"] = (i * (1 << 40) - 5).reshape(2, 3)
    sd["i32"] = (i * 100000 - 5).to(torch.int32)
    sd["i16"] = (i * 1000 - 5).to(torch.int16)
    sd["i8"] = (i * 10 - 50).to(torch.int8)
    sd["u8"] = (i * 40).to(torch.uint8)
    sd["bool"] = (i % 3 == 0)
    sd["f64"] = i.to(torch.float64) / 3.0
    return sd


def repack_zip64(src, dst, miniz64=False):
    data = pthzip.write_zip(pthzip.entries_of(src), zip64=True, miniz64=miniz64)
    with open(dst, "wb") as f:
        f.write(data)
    a, b = torch.load(src), torch.load(dst)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def pth_odd_strides():
    """Hand-written pickle (tools/make_hostile.py helpers): a [2, 1, 3] view
    whose size-1 dim has stride 2^63 - 1 (legal: never stepped) and whose other
    dims are transposed (strides 1, 2), so the reader must copy it. torch.load
    accepts it; the expected values come from torch.load."""
    import make_hostile as mh
    pkl = mh.state_dict(("odd", mh.tensor(size=(2, 1, 3), stride=(1, (1 << 63) - 1, 2))),
                        ("col", mh.tensor(offset=2, size=(2, 1), stride=(3, 1 << 40))))
    data = mh.pth(pkl)
    path = os.path.join(OUT, "pth_odd_strides.pth")
    with open(path, "wb") as f:
        f.write(data)
    sd = torch.load(path)
    st.save(os.path.join(OUT, "pth_odd_strides.expected.safetensors"),
            collections.OrderedDict((k, v.contiguous()) for k, v in sd.items()))


def st_dtypes():
    """Values by formula, recomputed by tests/test_safetensors.c."""
    i = np.arange(6)
    t = collections.OrderedDict()
    f = (i - 5) * 0.25
    t["f64"] = f.astype(np.float64).reshape(2, 3)
    t["f32"] = f.astype(np.float32).reshape(2, 3)
    t["f16"] = f.astype(np.float16).reshape(2, 3)
    t["bf16"] = torch.from_numpy(f).to(torch.bfloat16).reshape(2, 3)
    t["i64"] = (i * (1 << 40) - 5).astype(np.int64)
    t["i32"] = (i * 100000 - 5).astype(np.int32)
    t["i16"] = (i * 1000 - 5).astype(np.int16)
    t["i8"] = (i * 10 - 50).astype(np.int8)
    t["u8"] = (i * 40).astype(np.uint8)
    t["bool"] = (i % 3 == 0)
    t["scalar"] = np.array(1.5, dtype=np.float32)
    t["empty"] = np.zeros((0, 4), dtype=np.float32)
    st.save(os.path.join(OUT, "st_dtypes.safetensors"), t,
            metadata={"format": "pt", "producer": "tools/golden_formats.py", "note": "caf\u00e9 \"q\""})


def sharded():
    d = os.path.join(OUT, "sharded")
    os.makedirs(d, exist_ok=True)
    # blocks.{k}.w = k + 0.5 * arange(6), shape [2, 3]
    t = {"blocks.%d.w" % k: (k + 0.5 * np.arange(6, dtype=np.float32)).reshape(2, 3) for k in range(4)}
    shards = [("model-00001-of-00002.safetensors", ["blocks.0.w", "blocks.1.w"]),
              ("model-00002-of-00002.safetensors", ["blocks.2.w", "blocks.3.w"])]
    weight_map = {}
    for fname, names in shards:
        st.save(os.path.join(d, fname), collections.OrderedDict((n, t[n]) for n in names))
        weight_map.update({n: fname for n in names})
    import json
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 4 * 24}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20240521)
    save_pth("pth_f32", pth_float(g, torch.float32))
    save_pth("pth_bf16", pth_float(g, torch.bfloat16))
    save_pth("pth_f16", pth_float(g, torch.float16))
    views = save_pth("pth_views", pth_views(g))
    save_pth("pth_module", pth_module(g))
    save_pth("pth_params", pth_params(g))
    save_pth("pth_ints", pth_ints())
    save_pth("pth_proto4", pth_float(g, torch.float32), protocol=4)  # FRAME, STACK_GLOBAL, MEMOIZE
    pth_odd_strides()
    repack_zip64(views, os.path.join(OUT, "pth_zip64.pth"))
    repack_zip64(views, os.path.join(OUT, "pth_zip64_miniz.pth"), miniz64=True)
    st_dtypes()
    sharded()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print("golden/formats: %d bytes" % total)


if __name__ == "__main__":
    main()
