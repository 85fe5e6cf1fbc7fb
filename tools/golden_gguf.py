#!/usr/bin/python3
"""Goldens for GGUF files and quantized weights computed in place
(tests/test_gguf.c), from tools/gguf.py (writer, random valid blocks,
dequantizer) and the float64 reference DiT (tools/reference/dit.py). Writes
golden/gguf/:

  blocks.gguf             one [4, 512] tensor per type (F32, F16, BF16, Q8_0,
                          Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)
                          named by its type, random valid blocks, the first
                          four with special scales (0, negative, subnormal,
                          65504); general.alignment 64; metadata of each kind
  blocks.safetensors      their values as the format defines them (F32)
  tiny_config.json        one-layer DiT (dim 32, ffn 288) for the 32-block types
  tiny_TYPE.gguf          it with every matrix in TYPE (Q8_0, Q4_0, Q4_1, Q5_0,
                          Q5_1); patch_embedding 5-D F32, vectors and the
                          3-D modulations F32 (as city96's files)
  kq_config.json          one-layer DiT (dim 256, ffn 256) for the K types
  kq_mixed.gguf           its matrices in Q2_K..Q6_K in turn (time_projection,
                          the largest, Q2_K), text_embedding.0 F16, head BF16
  NAME.safetensors        latent, timestep, context and the velocity of the
                          float64 reference run on the file's dequantized weights
  tiny_model_f32.gguf     golden/models/tiny's DiT as F32 GGUF (the same values)
"""
import json
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import gguf  # noqa: E402
import st  # noqa: E402
import write_dit_checkpoint  # noqa: E402
from reference import dit  # noqa: E402

OUT = os.path.join(root, "golden", "gguf")
TINY = {"_class_name": "WanModel", "dim": 32, "eps": 1e-06, "ffn_dim": 288, "freq_dim": 256, "in_dim": 16,
        "model_type": "t2v", "num_heads": 2, "num_layers": 1, "out_dim": 16, "text_dim": 32, "text_len": 16}
KQ = dict(TINY, dim=256, ffn_dim=256)
SMALL_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
K_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
ALL = ["F32", "F16", "BF16"] + SMALL_TYPES + K_TYPES


def check_f64(gt, raw, n):
    """The float32 evaluation within float32 rounding of the exact one."""
    a = gguf.dequantize(gt, raw, n)
    b = gguf.dequantize(gt, raw, n, np.float64)
    bs = gguf.BLOCK[gt][0]
    scale = np.abs(b).reshape(-1, bs).max(axis=1).repeat(bs) + 1e-30
    assert np.all(np.abs(a - b) <= 4 * 2.0 ** -24 * scale + 1e-45), gguf.NAMES[gt]
    return a


def blocks():
    rng = np.random.default_rng(2023)
    tensors, expected = [], {}
    for name in ALL:
        gt = gguf.BY_NAME[name]
        n = 4 * 512
        if gguf.BLOCK[gt][0] == 1:
            x = rng.standard_normal(n).astype(np.float32) * 0.5
            x[:4] = [0.0, -0.0, 6.1e-5, 3.0e-8]  # zero, negative zero, fp16 min normal, subnormal
            raw = gguf.encode_plain(gt, x)
        else:
            raw = gguf.random_blocks(gt, n, rng, specials=True)
        tensors.append((name, gt, (4, 512), raw))
        expected[name] = check_f64(gt, raw, n).reshape(4, 512)
    meta = [("general.architecture", gguf.STRING, "t2v-blocks"), ("general.name", gguf.STRING, "blocks"),
            ("t2v.u8", gguf.U8, 200), ("t2v.i8", gguf.I8, -5), ("t2v.u16", gguf.U16, 60000),
            ("t2v.i16", gguf.I16, -3000), ("t2v.i32", gguf.I32, -123456), ("t2v.f32", gguf.F32V, 0.25),
            ("t2v.bool", gguf.BOOL, True), ("t2v.u64", gguf.U64, 2 ** 40), ("t2v.i64", gguf.I64, -2 ** 40),
            ("t2v.f64", gguf.F64V, -1.5), ("t2v.strings", gguf.ARRAY, (gguf.STRING, ["a", "bc", ""])),
            ("t2v.nested", gguf.ARRAY, (gguf.ARRAY, [(gguf.U32, [1, 2]), (gguf.I8, [3])]))]
    gguf.write(os.path.join(OUT, "blocks.gguf"), tensors, meta, alignment=64)
    st.save(os.path.join(OUT, "blocks.safetensors"), expected)


def matrix_type(name, shape, kind):
    """The ggml type of a weight in a test file of `kind` (a type name, or
    'mixed' for the K types in turn)."""
    if len(shape) != 2:
        return gguf.F32  # vectors, 3-D modulations, the 5-D patch embedding
    if kind != "mixed":
        return gguf.BY_NAME[kind]
    if name == "text_embedding.0.weight":
        return gguf.F16
    if name == "head.head.weight":
        return gguf.BF16
    if name == "time_projection.1.weight":  # the largest matrix: the smallest type
        return gguf.Q2_K
    matrix_type.k = getattr(matrix_type, "k", -1) + 1
    return gguf.BY_NAME[K_TYPES[matrix_type.k % len(K_TYPES)]]


def dit_file(tag, cfg, kind, seed):
    sd = write_dit_checkpoint.random_weights(cfg, seed=seed)
    rng = np.random.default_rng(seed)
    tensors, deq = [], {}
    for name, w in sd.items():
        shape = tuple(w.shape)
        gt = matrix_type(name, shape, kind)
        n = int(np.prod(shape))
        if gguf.BLOCK[gt][0] == 1:
            raw = gguf.encode_plain(gt, w.numpy())
        else:
            raw = gguf.random_blocks(gt, n, rng, std=float(w.double().std()))
        tensors.append((name, gt, shape, raw))
        deq[name] = torch.from_numpy(check_f64(gt, raw, n).reshape(shape).astype(np.float64))
    meta = [("general.architecture", gguf.STRING, "wan"), ("general.name", gguf.STRING, "t2v test " + tag),
            ("general.quantization_version", gguf.U32, 2)]
    gguf.write(os.path.join(OUT, tag + ".gguf"), tensors, meta)
    g = torch.Generator().manual_seed(seed + 1)
    latent = torch.randn((16, 2, 4, 6), generator=g, dtype=torch.float64).float()
    context = torch.randn((5, cfg["text_dim"]), generator=g, dtype=torch.float64).float()
    t = 937
    vel = dit.forward(deq, cfg, latent.double(), t, context.double())
    st.save(os.path.join(OUT, tag + ".safetensors"),
            {"latent": latent, "timestep": torch.tensor([float(t)]), "context": context, "velocity": vel.float()})


def tiny_model_copy():
    """golden/models/tiny's DiT, tensor for tensor, as an F32 GGUF file: a
    model directory holding it must generate the same bits (tests/test_cli.c)."""
    sd, _ = st.load(os.path.join(root, "golden", "models", "tiny", "diffusion_pytorch_model.safetensors"))
    tensors = [(k, gguf.F32, tuple(v.shape), gguf.encode_plain(gguf.F32, v)) for k, v in sd.items()]
    gguf.write(os.path.join(OUT, "tiny_model_f32.gguf"), tensors, [("general.architecture", gguf.STRING, "wan")])


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    blocks()
    for cfg, name in ((TINY, "tiny_config.json"), (KQ, "kq_config.json")):
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
    for i, t in enumerate(SMALL_TYPES):
        dit_file("tiny_" + t.lower(), TINY, t, 300 + i)
    dit_file("kq_mixed", KQ, "mixed", 400)
    tiny_model_copy()


if __name__ == "__main__":
    main()
