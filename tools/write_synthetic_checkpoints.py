#!/usr/bin/python3
"""Synthetic full-size checkpoints for `make bench` (tools/bench.py), in the
official layouts, with random values. Nothing here is committed: they go
under bench/cache/ (git-ignored) and are written once.

  write_synthetic_checkpoints.py [--cache DIR] WHAT...
    dit      DIR/dit-1.3b/          config.json + diffusion_pytorch_model.safetensors,
                                    T2V-1.3B (docs/MODEL.md 1.2, 2.1), BF16, ~2.8 GB
    block    DIR/dit-1.3b-1layer/   the same width with num_layers = 1 (~0.2 GB):
                                    one full-width block + embeddings + head
    t5       DIR/t5xxl/             umT5-XXL encoder (docs/MODEL.md 5.4), BF16, ~11.4 GB,
                                    + tokens.safetensors (30 ids); tools/t5_xxl.py
    vae      DIR/vae/               Wan2.1_VAE.safetensors, dim 96 (docs/MODEL.md 4.1, 4.3),
                                    F32 like the shipped file, ~0.5 GB
    lora     DIR/lora/lora-r64-30.safetensors, lora-r64-1.safetensors: rank-64
                                    LoRAs (ComfyUI keys, BF16, alpha 64) on every
                                    linear of every block of the 1.3B (30 layers,
                                    ~0.18 GB) and of the 1-layer block (~6 MB)
    ti2v-block DIR/dit-ti2v-1layer/ Wan2.2 TI2V-5B's width (dim 3072, ffn 14336, 24 heads,
                                    48 channels) with num_layers = 1, BF16 (~0.4 GB)
    vae22    DIR/vae22/             Wan2.2_VAE.safetensors (dim 160, decoder 256, z_dim 48),
                                    F32 like the shipped file, ~2.8 GB
    t5-hf    DIR/sdcpp/             umt5_xxl_bf16.safetensors: the t5 file's bytes
                                    under the Hugging Face transformers names that
                                    stable-diffusion.cpp's T5 loader reads (for
                                    `make bench SDCPP=...`), ~11.4 GB

    gguf-block-q8_0  DIR/dit-1.3b-1layer-q8_0/  `block` as GGUF (config.json +
    gguf-block-q4_k  DIR/dit-1.3b-1layer-q4_k/  diffusion_pytorch_model.gguf): the
                                    block's matrices Q8_0 / Q4_K (random valid blocks,
                                    tools/gguf.py), embeddings and head BF16, vectors F32
    gguf-14b-{1,2,4}layer-q4_k  DIR/dit-14b-Nlayer-q4_k/: T2V-14B width (dim 5120,
                                    ffn 13824, 40 heads) with 1, 2 or 4 layers in Q4_K,
                                    the same way (~0.7 / ~0.9 / ~1.3 GB)

Files are streamed tensor by tensor (memory stays ~0.2 GB) and written to a
temporary name, renamed when complete; an existing complete file is kept.
Values: random slices of a pool of 2^22 normal draws per family (drawing
billions of fresh normals would take most of an hour on 2 cores; a timing
run needs no more randomness), scaled so activations stay finite over all
layers (linear weights 1/sqrt(fan_in), gains 1 + small noise, small biases).
"""
import json
import os
import re
import shutil
import struct
import sys
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from reference import dit, vae, vae22  # noqa: E402

POOL = 1 << 22
CHUNK = 1 << 22

# T2V-1.3B config.json as shipped (docs/MODEL.md 1.2, 6.1)
DIT_13B = {"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 1536, "eps": 1e-06,
           "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 12,
           "num_layers": 30, "out_dim": 16, "text_len": 512}


def to_bf16_bits(x):
    """float32 numpy -> uint16 bf16 bits, round to nearest even (finite input)."""
    u = x.view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


class Pools:
    """Random slices of one pool of normal draws, scaled per tensor."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.normal = self.rng.standard_normal(POOL, dtype=np.float32)

    def chunks(self, n, scale, offset):
        for s in range(0, n, CHUNK):
            m = min(CHUNK, n - s)
            o = int(self.rng.integers(0, POOL - m + 1))
            yield self.normal[o:o + m] * np.float32(scale) + np.float32(offset)


def write_safetensors(path, tensors, dtype, pools, meta):
    """tensors: list of (name, shape, scale, offset); values offset + scale * N(0,1)."""
    if os.path.exists(path):
        print("%s: exists, kept" % path)
        return
    esize = {"BF16": 2, "F32": 4}[dtype]
    header, off = {"__metadata__": meta}, 0
    for name, shape, _, _ in tensors:
        nbytes = esize * int(np.prod(shape))
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    t0 = time.time()
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, shape, scale, offset in tensors:
            for c in pools.chunks(int(np.prod(shape)), scale, offset):
                f.write(to_bf16_bits(c).tobytes() if dtype == "BF16" else c.astype("<f4").tobytes())
    os.rename(path + ".tmp", path)
    print("%s: %.2f GB in %.0f s" % (path, os.path.getsize(path) / 1e9, time.time() - t0))


def dit_values(name, shape):
    """(scale, offset) of a DiT tensor (docs/MODEL.md 2.1 names)."""
    if name.endswith("modulation"):
        return 0.1, 0.0
    if "norm" in name and name.endswith(".weight"):
        return 0.1, 1.0
    if name.endswith(".bias"):
        return 0.02, 0.0
    fan_in = int(np.prod(shape[1:]))
    return 1.0 / fan_in ** 0.5, 0.0


DIT_TI2V_5B = dict(DIT_13B, dim=3072, ffn_dim=14336, num_heads=24, num_layers=30, in_dim=48, out_dim=48,
                   model_type="ti2v")


def write_dit(d, num_layers, base=None):
    os.makedirs(d, exist_ok=True)
    cfg = dict(base or DIT_13B, num_layers=num_layers)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    tensors = [(n, s) + dit_values(n, s) for n, s in dit.param_shapes(cfg).items()]
    write_safetensors(os.path.join(d, "diffusion_pytorch_model.safetensors"), tensors, "BF16",
                      Pools(1300 + num_layers), {"made_by": "tools/write_synthetic_checkpoints.py"})


DIT_14B = dict(DIT_13B, dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)


def write_dit_gguf(d, cfg, qtype):
    """cfg's DiT as a GGUF file: block matrices in qtype (random valid blocks
    with the 1/sqrt(fan_in) spread), the other matrices BF16, vectors F32."""
    import gguf
    path = os.path.join(d, "diffusion_pytorch_model.gguf")
    if os.path.exists(path):
        print("%s: exists, kept" % path)
        return
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    t0, pools, rng = time.time(), Pools(1400 + cfg["num_layers"]), np.random.default_rng(1500)
    tensors = []
    for name, shape in dit.param_shapes(cfg).items():
        scale, offset = dit_values(name, shape)
        n = int(np.prod(shape))
        if len(shape) == 2 and name.startswith("blocks."):
            tensors.append((name, qtype, shape, gguf.random_blocks(qtype, n, rng, std=scale)))
        else:
            x = np.concatenate(list(pools.chunks(n, scale, offset)))
            gt = gguf.BF16 if len(shape) == 2 else gguf.F32
            tensors.append((name, gt, shape, gguf.encode_plain(gt, x)))
    gguf.write(path + ".tmp", tensors, [("general.architecture", gguf.STRING, "wan"),
                                        ("general.name", gguf.STRING, "t2v synthetic benchmark weights")])
    os.rename(path + ".tmp", path)
    print("%s: %.2f GB in %.0f s" % (path, os.path.getsize(path) / 1e9, time.time() - t0))


def write_lora(d, num_layers, rank=64):
    """lora_down [rank, in] ~ N(0, 1/in), lora_up [out, rank] ~ N(0, 1e-4/rank),
    alpha = rank, on self/cross q,k,v,o and ffn.0, ffn.2 of every block."""
    os.makedirs(d, exist_ok=True)
    D, F = DIT_13B["dim"], DIT_13B["ffn_dim"]
    mods = [(m, D, D) for m in ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
                                "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o")]
    mods += [("ffn.0", F, D), ("ffn.2", D, F)]
    tensors, alphas = [], []
    for b in range(num_layers):
        for m, o, i in mods:
            key = "diffusion_model.blocks.%d.%s" % (b, m)
            tensors.append((key + ".lora_down.weight", (rank, i), 1.0 / i ** 0.5, 0.0))
            tensors.append((key + ".lora_up.weight", (o, rank), 0.01 / rank ** 0.5, 0.0))
            alphas.append((key + ".alpha", (), 0.0, float(rank)))
    write_safetensors(os.path.join(d, "lora-r%d-%d.safetensors" % (rank, num_layers)), tensors + alphas, "BF16",
                      Pools(1400 + num_layers), {"made_by": "tools/write_synthetic_checkpoints.py"})


def vae_values(name, shape):
    if name.endswith("gamma"):
        return 0.1, 1.0
    if name.endswith(".bias"):
        return 0.02, 0.0
    fan_in = int(np.prod(shape[1:]))
    return 1.0 / fan_in ** 0.5, 0.0


def write_vae(d):
    os.makedirs(d, exist_ok=True)
    tensors = [(n, tuple(s)) + vae_values(n, s) for n, s in vae.param_shapes(96, 16)]
    write_safetensors(os.path.join(d, "Wan2.1_VAE.safetensors"), tensors, "F32", Pools(96),
                      {"made_by": "tools/write_synthetic_checkpoints.py"})


def write_vae22(d):
    os.makedirs(d, exist_ok=True)
    tensors = [(n, tuple(s)) + vae_values(n, s) for n, s in vae22.param_shapes(160, 256)]
    write_safetensors(os.path.join(d, "Wan2.2_VAE.safetensors"), tensors, "F32", Pools(160),
                      {"made_by": "tools/write_synthetic_checkpoints.py"})


def write_t5(d):
    import t5_xxl
    path = os.path.join(d, t5_xxl.NAME + ".safetensors")
    if os.path.exists(path) and os.path.exists(os.path.join(d, "tokens.safetensors")):
        print("%s: exists, kept" % path)
        return
    t5_xxl.write(d)


# official umT5 names (docs/MODEL.md 5.4) -> Hugging Face transformers UMT5EncoderModel names
T5_HF_NAMES = [
    (r"token_embedding\.weight", "shared.weight"),
    (r"norm\.weight", "encoder.final_layer_norm.weight"),
    (r"blocks\.(\d+)\.norm1\.weight", r"encoder.block.\1.layer.0.layer_norm.weight"),
    (r"blocks\.(\d+)\.attn\.([qkvo])\.weight", r"encoder.block.\1.layer.0.SelfAttention.\2.weight"),
    (r"blocks\.(\d+)\.pos_embedding\.embedding\.weight",
     r"encoder.block.\1.layer.0.SelfAttention.relative_attention_bias.weight"),
    (r"blocks\.(\d+)\.norm2\.weight", r"encoder.block.\1.layer.1.layer_norm.weight"),
    (r"blocks\.(\d+)\.ffn\.gate\.0\.weight", r"encoder.block.\1.layer.1.DenseReluDense.wi_0.weight"),
    (r"blocks\.(\d+)\.ffn\.fc1\.weight", r"encoder.block.\1.layer.1.DenseReluDense.wi_1.weight"),
    (r"blocks\.(\d+)\.ffn\.fc2\.weight", r"encoder.block.\1.layer.1.DenseReluDense.wo.weight"),
]


def write_t5_hf(src, d):
    """Copy src (official names) to d/umt5_xxl_bf16.safetensors under T5_HF_NAMES; the
    data section is copied byte for byte (offsets are relative to it, so they stay valid)."""
    path = os.path.join(d, "umt5_xxl_bf16.safetensors")
    if os.path.exists(path):
        print("%s: exists, kept" % path)
        return
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    with open(src, "rb") as f, open(path + ".tmp", "wb") as g:
        n = struct.unpack("<Q", f.read(8))[0]
        header, out = json.loads(f.read(n)), {}
        for k, v in header.items():
            new = k if k == "__metadata__" else None
            for pat, rep in T5_HF_NAMES:
                if new is None and re.fullmatch(pat, k):
                    new = re.sub(pat, rep, k)
            if new is None:
                sys.exit("%s: tensor %s has no Hugging Face name in T5_HF_NAMES" % (src, k))
            out[new] = v
        hb = json.dumps(out).encode()
        hb += b" " * (-len(hb) % 8)
        g.write(struct.pack("<Q", len(hb)) + hb)
        shutil.copyfileobj(f, g, CHUNK)
    os.replace(path + ".tmp", path)
    print("%s: %.2f GB in %.0f s" % (path, os.path.getsize(path) / 1e9, time.time() - t0))


def main():
    args = sys.argv[1:]
    cache = os.path.join(os.path.dirname(here), "bench", "cache")
    if args[:1] == ["--cache"]:
        cache, args = args[1], args[2:]
    ggufs = {"gguf-block-q8_0": ("dit-1.3b-1layer-q8_0", dict(DIT_13B, num_layers=1), 8),
             "gguf-block-q4_k": ("dit-1.3b-1layer-q4_k", dict(DIT_13B, num_layers=1), 12),
             "gguf-14b-1layer-q4_k": ("dit-14b-1layer-q4_k", dict(DIT_14B, num_layers=1), 12),
             "gguf-14b-2layer-q4_k": ("dit-14b-2layer-q4_k", dict(DIT_14B, num_layers=2), 12),
             "gguf-14b-4layer-q4_k": ("dit-14b-4layer-q4_k", dict(DIT_14B, num_layers=4), 12)}
    if not args or any(a not in ("dit", "block", "t5", "vae", "t5-hf", "lora", "ti2v-block", "vae22") and a not in ggufs for a in args):
        sys.exit(__doc__)
    for a in args:
        if a == "dit":
            write_dit(os.path.join(cache, "dit-1.3b"), 30)
        elif a in ggufs:
            sub, cfg, qtype = ggufs[a]
            write_dit_gguf(os.path.join(cache, sub), cfg, qtype)
        elif a == "block":
            write_dit(os.path.join(cache, "dit-1.3b-1layer"), 1)
        elif a == "t5":
            write_t5(os.path.join(cache, "t5xxl"))
        elif a == "vae":
            write_vae(os.path.join(cache, "vae"))
        elif a == "lora":
            write_lora(os.path.join(cache, "lora"), 30)
            write_lora(os.path.join(cache, "lora"), 1)
        elif a == "ti2v-block":
            write_dit(os.path.join(cache, "dit-ti2v-1layer"), 1, DIT_TI2V_5B)
        elif a == "vae22":
            write_vae22(os.path.join(cache, "vae22"))
        elif a == "t5-hf":
            import t5_xxl
            write_t5(os.path.join(cache, "t5xxl"))
            write_t5_hf(os.path.join(cache, "t5xxl", t5_xxl.NAME + ".safetensors"), os.path.join(cache, "sdcpp"))


if __name__ == "__main__":
    main()
