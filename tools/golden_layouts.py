#!/usr/bin/python3
"""Writes golden/layouts/: the tiny model (golden/models/tiny) in every
layout and naming convention t2v reads besides the official one (README,
"Layouts and flags"), LoRA files in each key convention, and the goldens:
the float64 reference (tools/reference) run on each file's exactly decoded
weights (LoRA deltas merged in float64 here). tests/test_layouts.c and
tests/test_lora.c load each file and compare. Also tests/hostile/layouts/
(bad LoRAs, fp8 NaNs, a .pt asking for a global outside the allow-list),
listed in its MANIFEST.

  diffusers/                   model_index.json; transformer/ (2 shards + index,
                               diffusers names, F32); text_encoder/ (Hugging Face
                               names, BF16, only encoder.embed_tokens.weight);
                               vae/ (diffusers names, BF16); tokenizer/spiece.model
  dit_comfy_fp16.safetensors   "model.diffusion_model." + official names, F16
  dit_comfy_fp8.safetensors    matrices F8_E4M3, the rest F32 (no scales)
  dit_comfy_fp8_scaled.safetensors  F8_E4M3 + "X.scale_weight" 0-d F32 + "scaled_fp8"
  dit_causvid.pt               torch.save({"generator": {...}, "generator_ema":
                               {"model." + name: F32}}): the ema entry is the model
  dit_selfforcing.pt           torch.save({"generator": {"model." + name: BF16}})
  dit_rcm.pth                  {"net." + name: BF16}, patch_embedding as Linear [32, 64]
  t5_comfy_fp8_scaled.safetensors  umT5 under HF names, matrices F8_E4M3 + scales
  lora_*.safetensors           LoRAs (see lora_files)
  golden.safetensors           inputs (latent, timestep, context, tokens) and
                               velocity.<variant> / context.<variant>

Deterministic: re-running writes the same bytes (torch.save of the same
dicts; seeded generators).
"""
import collections
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402
from reference import dit, t5  # noqa: E402

ROOT = os.path.dirname(here)
TINY = os.path.join(ROOT, "golden", "models", "tiny")
OUT = os.path.join(ROOT, "golden", "layouts")
HOSTILE = os.path.join(ROOT, "tests", "hostile", "layouts")

# ---------------------------------------------------------------------------
# fp8 e4m3fn: 1 sign, 4 exponent bits (bias 7), 3 mantissa bits, no infinities,
# 0x7f / 0xff NaN; largest finite 448.


def f8_decode_table():
    v = np.zeros(256, dtype=np.float64)
    for b in range(256):
        e, m = (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            v[b] = np.nan
        elif e == 0:
            v[b] = m * 2.0 ** -9
        else:
            v[b] = (1 + m / 8.0) * 2.0 ** (e - 7)
        if b & 0x80:
            v[b] = -v[b]
    return v


F8 = f8_decode_table()


def f8_encode(x):
    """float array -> uint8 codes, round to nearest (ties to the even code), saturating at 448."""
    a = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    pos = F8[:127]  # codes 0x00..0x7e, increasing
    idx = np.clip(np.searchsorted(pos, a), 1, 126)
    lo, hi = pos[idx - 1], pos[idx]
    pick = np.where((a - lo) < (hi - a), idx - 1, np.where((a - lo) > (hi - a), idx, np.where(idx % 2 == 0, idx, idx - 1)))
    pick = np.where(a >= pos[126], 126, pick)
    code = pick.astype(np.uint8) | np.where(np.asarray(x).ravel() < 0, 0x80, 0).astype(np.uint8)
    return code.reshape(np.shape(x))


# ---------------------------------------------------------------------------
# A safetensors writer that also takes raw (bytes, dtype, shape) entries.


def st_save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, x in tensors.items():
        if isinstance(x, tuple):
            raw, dt, shape = x
        else:
            if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16:
                raw, dt = x.contiguous().view(torch.int16).numpy().tobytes(), "BF16"
            else:
                arr = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
                raw, dt = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes(), st._DT[arr.dtype]
            shape = list(x.shape)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def f8_entry(w64):
    codes = f8_encode(w64)
    return (codes.tobytes(), "F8_E4M3", list(codes.shape)), torch.from_numpy(F8[codes.astype(np.int64)])


# ---------------------------------------------------------------------------
# Inputs and the reference


def load_tiny():
    d, _ = st.load(os.path.join(TINY, "diffusion_pytorch_model.safetensors"))
    sd = collections.OrderedDict((k, torch.from_numpy(v).double()) for k, v in d.items())
    with open(os.path.join(TINY, "config.json")) as f:
        cfg = json.load(f)
    return sd, cfg


def inputs():
    g = torch.Generator().manual_seed(2301)
    latent = torch.randn((16, 1, 4, 4), generator=g, dtype=torch.float64).float()
    context = torch.randn((5, 32), generator=g, dtype=torch.float64).float()
    return latent, 700.0, context


def velocity(sd64, cfg, inp):
    latent, t, context = inp
    return dit.forward(sd64, cfg, latent.double(), t, context.double()).float()


DIFFUSERS_DIT = [  # official -> diffusers, inside blocks.N. (names.c's table, the other way)
    ("self_attn.q", "attn1.to_q"), ("self_attn.k", "attn1.to_k"), ("self_attn.v", "attn1.to_v"),
    ("self_attn.o", "attn1.to_out.0"), ("self_attn.norm_q", "attn1.norm_q"), ("self_attn.norm_k", "attn1.norm_k"),
    ("cross_attn.q", "attn2.to_q"), ("cross_attn.k", "attn2.to_k"), ("cross_attn.v", "attn2.to_v"),
    ("cross_attn.o", "attn2.to_out.0"), ("cross_attn.norm_q", "attn2.norm_q"), ("cross_attn.norm_k", "attn2.norm_k"),
    ("norm3", "norm2"), ("ffn.0", "ffn.net.0.proj"), ("ffn.2", "ffn.net.2"), ("modulation", "scale_shift_table"),
]
DIFFUSERS_TOP = [
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("head.modulation", "scale_shift_table"), ("head.head", "proj_out"),
]


def to_diffusers_dit(name):
    """Written from diffusers' scripts/convert_wan_to_diffusers.py renames."""
    if name.startswith("blocks."):
        p = name.split(".")
        head, rest = ".".join(p[:2]) + ".", ".".join(p[2:])
        for a, b in DIFFUSERS_DIT:
            if rest == a or rest.startswith(a + "."):
                return head + b + rest[len(a):]
        return name
    for a, b in DIFFUSERS_TOP:
        if name == a or name.startswith(a + "."):
            return b + name[len(a):]
    return name


def to_hf_t5(name):
    """Official umT5 names -> Hugging Face UMT5EncoderModel names."""
    if name == "token_embedding.weight":
        return "encoder.embed_tokens.weight"
    if name == "norm.weight":
        return "encoder.final_layer_norm.weight"
    p = name.split(".")
    n, rest = p[1], ".".join(p[2:])
    table = {"attn.q.weight": "0.SelfAttention.q.weight", "attn.k.weight": "0.SelfAttention.k.weight",
             "attn.v.weight": "0.SelfAttention.v.weight", "attn.o.weight": "0.SelfAttention.o.weight",
             "pos_embedding.embedding.weight": "0.SelfAttention.relative_attention_bias.weight",
             "norm1.weight": "0.layer_norm.weight", "norm2.weight": "1.layer_norm.weight",
             "ffn.gate.0.weight": "1.DenseReluDense.wi_0.weight", "ffn.fc1.weight": "1.DenseReluDense.wi_1.weight",
             "ffn.fc2.weight": "1.DenseReluDense.wo.weight"}
    return "encoder.block.%s.layer.%s" % (n, table[rest])


def to_diffusers_vae(name, nres=3):
    """Official VAE names -> diffusers AutoencoderKLWan (convert_vae's rules)."""
    res = [("residual.0.", "norm1."), ("residual.2.", "conv1."), ("residual.3.", "norm2."),
           ("residual.6.", "conv2."), ("shortcut.", "conv_shortcut.")]

    def inner(rest):
        for a, b in res:
            if rest.startswith(a):
                return b + rest[len(a):]
        return rest
    if name.startswith("conv1."):
        return "quant_conv." + name[6:]
    if name.startswith("conv2."):
        return "post_quant_conv." + name[6:]
    part, rest = name.split(".", 1)
    if rest.startswith("conv1."):
        return part + ".conv_in." + rest[6:]
    if rest.startswith("head.0."):
        return part + ".norm_out." + rest[7:]
    if rest.startswith("head.2."):
        return part + ".conv_out." + rest[7:]
    for k, d in (("middle.0.", "mid_block.resnets.0."), ("middle.2.", "mid_block.resnets.1.")):
        if rest.startswith(k):
            return part + "." + d + inner(rest[len(k):])
    if rest.startswith("middle.1."):
        return part + ".mid_block.attentions.0." + rest[9:]
    if rest.startswith("downsamples."):
        k, r = rest[12:].split(".", 1)
        return "encoder.down_blocks.%s.%s" % (k, inner(r))
    if rest.startswith("upsamples."):
        k, r = rest[10:].split(".", 1)
        k = int(k)
        s, j = divmod(k, nres + 1)
        if j == nres:
            return "decoder.up_blocks.%d.upsamplers.0.%s" % (s, r)
        return "decoder.up_blocks.%d.resnets.%d.%s" % (s, j, inner(r))
    return name


# ---------------------------------------------------------------------------
# Writers


def write_diffusers(sd, cfg):
    d = os.path.join(OUT, "diffusers")
    for sub in ("transformer", "text_encoder", "vae", "tokenizer"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "model_index.json"), "w") as f:
        json.dump({"_class_name": "WanPipeline", "_diffusers_version": "0.33.0",
                   "transformer": ["diffusers", "WanTransformer3DModel"],
                   "text_encoder": ["transformers", "UMT5EncoderModel"],
                   "vae": ["diffusers", "AutoencoderKLWan"], "tokenizer": ["transformers", "T5TokenizerFast"],
                   "scheduler": ["diffusers", "UniPCMultistepScheduler"]}, f, indent=2, sort_keys=True)
        f.write("\n")
    tc = {"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.33.0", "added_kv_proj_dim": None,
          "attention_head_dim": cfg["dim"] // cfg["num_heads"], "cross_attn_norm": True, "eps": cfg["eps"],
          "ffn_dim": cfg["ffn_dim"], "freq_dim": cfg["freq_dim"], "image_dim": None, "in_channels": cfg["in_dim"],
          "num_attention_heads": cfg["num_heads"], "num_layers": cfg["num_layers"], "out_channels": cfg["out_dim"],
          "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024,
          "text_dim": cfg["text_dim"], "text_len": cfg["text_len"]}
    with open(os.path.join(d, "transformer", "config.json"), "w") as f:
        json.dump(tc, f, indent=2, sort_keys=True)
        f.write("\n")
    names = list(sd.keys())
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    wmap = {}
    for i, part in enumerate(shards):
        fn = "diffusion_pytorch_model-%05d-of-00002.safetensors" % (i + 1)
        st_save(os.path.join(d, "transformer", fn),
                collections.OrderedDict((to_diffusers_dit(k), sd[k].float()) for k in part))
        for k in part:
            wmap[to_diffusers_dit(k)] = fn
    with open(os.path.join(d, "transformer", "diffusion_pytorch_model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": dict(sorted(wmap.items()))}, f, indent=2)
        f.write("\n")
    t5sd = torch.load(os.path.join(TINY, "models_t5_umt5-xxl-enc-bf16.pth"))
    st_save(os.path.join(d, "text_encoder", "model.safetensors"),
            collections.OrderedDict((to_hf_t5(k), v) for k, v in t5sd.items()))
    with open(os.path.join(d, "text_encoder", "config.json"), "w") as f:
        json.dump({"architectures": ["UMT5EncoderModel"], "model_type": "umt5", "d_model": 32}, f, indent=2)
        f.write("\n")
    vsd = torch.load(os.path.join(TINY, "Wan2.1_VAE.pth"))
    st_save(os.path.join(d, "vae", "diffusion_pytorch_model.safetensors"),
            collections.OrderedDict((to_diffusers_vae(k), v.to(torch.bfloat16)) for k, v in vsd.items()))
    with open(os.path.join(d, "vae", "config.json"), "w") as f:
        json.dump({"_class_name": "AutoencoderKLWan", "base_dim": 4, "z_dim": 16}, f, indent=2)
        f.write("\n")
    shutil.copy(os.path.join(TINY, "google", "umt5-xxl", "spiece.model"), os.path.join(d, "tokenizer", "spiece.model"))
    shutil.copy(os.path.join(TINY, "t2v.json"), os.path.join(d, "t2v.json"))


def is_matrix(name, t):
    return t.dim() == 2


def write_dit_files(sd, cfg, inp, gold):
    """Single DiT files; each variant's velocity from its decoded weights."""
    pre = "model.diffusion_model."
    f16 = collections.OrderedDict((pre + k, v.to(torch.float16)) for k, v in sd.items())
    st_save(os.path.join(OUT, "dit_comfy_fp16.safetensors"), f16)
    gold["velocity.fp16"] = velocity({k: v.to(torch.float16).double() for k, v in sd.items()}, cfg, inp)
    plain, scaled, dec_plain, dec_scaled = collections.OrderedDict(), collections.OrderedDict(), {}, {}
    for k, v in sd.items():
        if is_matrix(k, v):
            e, dv = f8_entry(v.numpy())
            plain[pre + k], dec_plain[k] = e, dv
            s = float(np.float32(np.abs(v.numpy()).max() / 448.0))
            e2, dv2 = f8_entry(v.numpy() / s)
            scaled[pre + k] = e2
            scaled[pre + k[:-len("weight")] + "scale_weight"] = torch.tensor(s, dtype=torch.float32)
            dec_scaled[k] = (dv2.float() * torch.tensor(s, dtype=torch.float32)).double()  # fp32 multiply, as t2v
        else:
            plain[pre + k] = v.float()
            scaled[pre + k] = v.float()
            dec_plain[k] = dec_scaled[k] = v.float().double()
    scaled["scaled_fp8"] = (b"", "F8_E4M3", [0])
    st_save(os.path.join(OUT, "dit_comfy_fp8.safetensors"), plain)
    st_save(os.path.join(OUT, "dit_comfy_fp8_scaled.safetensors"), scaled)
    gold["velocity.fp8"] = velocity(dec_plain, cfg, inp)
    gold["velocity.fp8_scaled"] = velocity(dec_scaled, cfg, inp)
    gold["velocity.f32"] = velocity({k: v.float().double() for k, v in sd.items()}, cfg, inp)
    ema = collections.OrderedDict(("model." + k, v.float()) for k, v in sd.items())
    gen = collections.OrderedDict([("model.head.head.bias", torch.zeros(64))])
    torch.save({"generator": gen, "generator_ema": ema, "step": 1000}, os.path.join(OUT, "dit_causvid.pt"))
    bf = collections.OrderedDict(("model." + k, v.to(torch.bfloat16)) for k, v in sd.items())
    torch.save({"generator": bf}, os.path.join(OUT, "dit_selfforcing.pt"))
    gold["velocity.bf16"] = velocity({k: v.to(torch.bfloat16).double() for k, v in sd.items()}, cfg, inp)
    rcm = collections.OrderedDict()
    for k, v in sd.items():
        w = v.to(torch.bfloat16)
        if k == "patch_embedding.weight":
            w = w.reshape(w.shape[0], -1).contiguous()
        rcm["net." + k] = w
    torch.save(rcm, os.path.join(OUT, "dit_rcm.pth"))
    return dec_plain


def write_t5_fp8(gold, tokens):
    sd = torch.load(os.path.join(TINY, "models_t5_umt5-xxl-enc-bf16.pth"))
    out, dec = collections.OrderedDict(), {}
    out["scaled_fp8"] = (b"", "F8_E4M3", [0])
    for k, v in sd.items():
        hf = to_hf_t5(k)
        if hf == "encoder.embed_tokens.weight":
            hf = "shared.weight"
        v64 = v.double()
        if v.dim() == 2 and "relative_attention_bias" not in hf and hf != "shared.weight":
            s = float(np.float32(np.abs(v64.numpy()).max() / 448.0))
            e, dv = f8_entry(v64.numpy() / s)
            out[hf] = e
            out[hf[:-len("weight")] + "scale_weight"] = torch.tensor(s, dtype=torch.float32)
            dec[k] = (dv.float() * torch.tensor(s, dtype=torch.float32)).double()
        else:
            out[hf] = v
            dec[k] = v64
    st_save(os.path.join(OUT, "t5_comfy_fp8_scaled.safetensors"), out)
    cfg = t5.Config(dec)
    gold["context.t5_fp8_scaled"] = t5.encode(dec, cfg, torch.tensor(tokens)).float()


# ---------------------------------------------------------------------------
# LoRA


def lora_pairs(g, out_dim, in_dim, rank):
    down = torch.randn((rank, in_dim), generator=g, dtype=torch.float64) / in_dim ** 0.5
    up = 0.3 * torch.randn((out_dim, rank), generator=g, dtype=torch.float64) / rank ** 0.5
    return up.float(), down.float()


def merge(base, deltas):
    """base: official name -> float64; deltas: (name, float64 delta)."""
    m = {k: v.clone() for k, v in base.items()}
    for name, d in deltas:
        m[name] = m[name] + d.reshape(m[name].shape)
    return m


def lora_files(sd, dec_fp8, cfg, inp, gold):
    g = torch.Generator().manual_seed(2302)
    f64 = {k: v.float().double() for k, v in sd.items()}
    D, F = cfg["dim"], cfg["ffn_dim"]
    shapes = {"self_attn.q": (D, D), "self_attn.k": (D, D), "self_attn.v": (D, D), "self_attn.o": (D, D),
              "cross_attn.q": (D, D), "cross_attn.k": (D, D), "cross_attn.v": (D, D), "cross_attn.o": (D, D),
              "ffn.0": (F, D), "ffn.2": (D, F)}

    # original / ComfyUI: down/up + alpha, A/B on one module, .diff, .diff_b
    comfy, deltas = collections.OrderedDict(), []
    for b in range(cfg["num_layers"]):
        for i, (m, (o, n)) in enumerate(shapes.items()):
            up, down = lora_pairs(g, o, n, 4)
            key = "diffusion_model.blocks.%d.%s" % (b, m)
            if m == "cross_attn.k":
                comfy[key + ".lora_A.weight"], comfy[key + ".lora_B.weight"] = down, up
                factor = 1.0
            else:
                comfy[key + ".lora_down.weight"], comfy[key + ".lora_up.weight"] = down, up
                comfy[key + ".alpha"] = torch.tensor(2.0)
                factor = 2.0 / 4
            deltas.append(("blocks.%d.%s.weight" % (b, m), factor * up.double() @ down.double()))
    nd = 0.1 * torch.randn((D,), generator=g, dtype=torch.float64)
    comfy["diffusion_model.blocks.0.norm3.diff"] = nd.float()
    deltas.append(("blocks.0.norm3.weight", nd.float().double()))
    hb = 0.1 * torch.randn((64,), generator=g, dtype=torch.float64)
    comfy["diffusion_model.head.head.diff_b"] = hb.float()
    deltas.append(("head.head.bias", hb.float().double()))
    td = 0.05 * torch.randn((D, cfg["text_dim"]), generator=g, dtype=torch.float64)
    comfy["diffusion_model.text_embedding.0.diff"] = td.float()
    deltas.append(("text_embedding.0.weight", td.float().double()))
    md = 0.1 * torch.randn((1, 6, D), generator=g, dtype=torch.float64)
    comfy["diffusion_model.blocks.1.modulation.diff"] = md.float()
    deltas.append(("blocks.1.modulation", md.float().double()))
    st_save(os.path.join(OUT, "lora_comfy.safetensors"), comfy)
    gold["velocity.lora_comfy"] = velocity(merge(f64, deltas), cfg, inp)
    gold["velocity.lora_comfy_fp8"] = velocity(merge(dec_fp8, deltas), cfg, inp)
    s = 0.5
    gold["velocity.lora_comfy_half"] = velocity(merge(f64, [(k, s * d) for k, d in deltas]), cfg, inp)

    # diffusers / PEFT (no alpha: alpha = rank), lora_B.bias, proj_out
    peft, pd = collections.OrderedDict(), []
    mods = [("blocks.0.attn1.to_q", "blocks.0.self_attn.q", D, D), ("blocks.1.attn2.to_k", "blocks.1.cross_attn.k", D, D),
            ("blocks.0.ffn.net.0.proj", "blocks.0.ffn.0", F, D), ("blocks.1.ffn.net.2", "blocks.1.ffn.2", D, F),
            ("blocks.1.attn1.to_out.0", "blocks.1.self_attn.o", D, D), ("proj_out", "head.head", 64, D)]
    for dname, oname, o, n in mods:
        up, down = lora_pairs(g, o, n, 8)
        peft["transformer." + dname + ".lora_A.weight"] = down
        peft["transformer." + dname + ".lora_B.weight"] = up
        pd.append((oname + ".weight", up.double() @ down.double()))
        if dname == "proj_out":
            bb = 0.1 * torch.randn((o,), generator=g, dtype=torch.float64)
            peft["transformer.proj_out.lora_B.bias"] = bb.float()
            pd.append(("head.head.bias", bb.float().double()))
    st_save(os.path.join(OUT, "lora_peft.safetensors"), peft)

    # kohya: underscores, alpha
    kohya, kd = collections.OrderedDict(), []
    kmods = [("blocks_0_self_attn_q", "blocks.0.self_attn.q", D, D), ("blocks_1_cross_attn_v", "blocks.1.cross_attn.v", D, D),
             ("blocks_0_ffn_2", "blocks.0.ffn.2", D, F), ("time_projection_1", "time_projection.1", 6 * D, D)]
    for kname, oname, o, n in kmods:
        up, down = lora_pairs(g, o, n, 4)
        kohya["lora_unet_" + kname + ".lora_down.weight"] = down
        kohya["lora_unet_" + kname + ".lora_up.weight"] = up
        kohya["lora_unet_" + kname + ".alpha"] = torch.tensor(8.0)
        kd.append((oname + ".weight", 2.0 * up.double() @ down.double()))
    st_save(os.path.join(OUT, "lora_kohya.safetensors"), kohya)
    gold["velocity.lora_peft_kohya"] = velocity(merge(f64, [(k, 0.7 * d) for k, d in pd] + kd), cfg, inp)

    # lightx2v-style: I2V keys a T2V model lacks, beside valid ones
    i2v = collections.OrderedDict()
    up, down = lora_pairs(g, D, D, 4)
    i2v["diffusion_model.blocks.0.self_attn.v.lora_down.weight"] = down
    i2v["diffusion_model.blocks.0.self_attn.v.lora_up.weight"] = up
    i2v["diffusion_model.blocks.0.cross_attn.norm_k_img.diff"] = torch.zeros(D)
    i2v["diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight"] = down
    i2v["diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight"] = up
    st_save(os.path.join(OUT, "lora_i2v.safetensors"), i2v)
    gold["velocity.lora_i2v_ignored"] = velocity(merge(f64, [("blocks.0.self_attn.v.weight", up.double() @ down.double())]),
                                                 cfg, inp)


# ---------------------------------------------------------------------------
# Hostile files (tests/hostile/layouts/MANIFEST: FILE<TAB>LOADER<TAB>substring)


def hostile(sd):
    os.makedirs(HOSTILE, exist_ok=True)
    rows = []
    g = torch.Generator().manual_seed(2303)
    up, down = lora_pairs(g, 32, 32, 4)
    st_save(os.path.join(HOSTILE, "lora_rank_mismatch.safetensors"), collections.OrderedDict([
        ("diffusion_model.blocks.0.self_attn.q.lora_down.weight", down[:3].contiguous()),
        ("diffusion_model.blocks.0.self_attn.q.lora_up.weight", up)]))
    rows.append(("lora_rank_mismatch.safetensors", "lora", "must agree"))
    st_save(os.path.join(HOSTILE, "lora_unknown_tensor.safetensors"), collections.OrderedDict([
        ("diffusion_model.blocks.7.self_attn.q.lora_down.weight", down),
        ("diffusion_model.blocks.7.self_attn.q.lora_up.weight", up)]))
    rows.append(("lora_unknown_tensor.safetensors", "lora", "blocks.7.self_attn.q"))
    st_save(os.path.join(HOSTILE, "lora_shape_mismatch.safetensors"), collections.OrderedDict([
        ("diffusion_model.blocks.0.ffn.0.lora_down.weight", down),
        ("diffusion_model.blocks.0.ffn.0.lora_up.weight", up)]))
    rows.append(("lora_shape_mismatch.safetensors", "lora", "does not fit"))
    st_save(os.path.join(HOSTILE, "lora_up_only.safetensors"), collections.OrderedDict([
        ("diffusion_model.blocks.0.self_attn.q.lora_up.weight", up)]))
    rows.append(("lora_up_only.safetensors", "lora", "no lora_down"))
    pre = "model.diffusion_model."
    for code, nm in ((0x7f, "dit_fp8_nan.safetensors"), (0xff, "dit_fp8_negnan.safetensors")):
        out = collections.OrderedDict()
        for k, v in sd.items():
            if v.dim() == 2:
                e, _ = f8_entry(v.numpy())
                raw = bytearray(e[0])
                if k == "blocks.1.ffn.2.weight":
                    raw[5] = code
                out[pre + k] = (bytes(raw), e[1], e[2])
            else:
                out[pre + k] = v.float()
        st_save(os.path.join(HOSTILE, nm), out)
        rows.append((nm, "dit", "blocks.1.ffn.2.weight"))
    out = collections.OrderedDict()
    for k, v in sd.items():
        out[pre + k] = f8_entry(v.numpy())[0] if v.dim() == 2 else v.float()
    out[pre + "patch_embedding.scale_weight"] = torch.tensor(0.5)  # patch_embedding stays F32
    st_save(os.path.join(HOSTILE, "dit_scale_not_fp8.safetensors"), out)
    rows.append(("dit_scale_not_fp8.safetensors", "dit", "not F8_E4M3"))
    # A distilled .pt whose pickle names a global outside the allow-list.
    ema = collections.OrderedDict(("model." + k, v.float()) for k, v in list(sd.items())[:2])
    torch.save({"generator_ema": ema, "config": collections.Counter(a=1)},
               os.path.join(HOSTILE, "pt_counter_global.pt"))
    rows.append(("pt_counter_global.pt", "dit", "collections.Counter"))
    with open(os.path.join(HOSTILE, "MANIFEST"), "w") as f:
        f.write("# Written by tools/golden_layouts.py: FILE<TAB>LOADER<TAB>expected message substring.\n"
                "# lora: lora_apply on the tiny DiT; dit: ckpt_open_as(ROLE_DIT). Each must be refused\n"
                "# with T2V_EINPUT and a message naming the file and containing the substring.\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    sd64, cfg = load_tiny()
    sd = collections.OrderedDict((k, v.float()) for k, v in sd64.items())
    inp = inputs()
    tokens = [5, 17, 3, 42, 9, 1]
    gold = collections.OrderedDict()
    gold["latent"], gold["timestep"], gold["context"] = inp[0], torch.tensor([inp[1]], dtype=torch.float32), inp[2]
    gold["tokens"] = torch.tensor(tokens, dtype=torch.int32)
    write_diffusers(sd, cfg)
    dec_fp8 = write_dit_files(sd, cfg, inp, gold)
    write_t5_fp8(gold, tokens)
    lora_files(sd, dec_fp8, cfg, inp, gold)
    st_save(os.path.join(OUT, "golden.safetensors"), gold)
    hostile(sd)
    total = 0
    for dp, _, fs in os.walk(OUT):
        for fn in fs:
            total += os.path.getsize(os.path.join(dp, fn))
    print("  %s: %d bytes in all" % (os.path.relpath(OUT, ROOT), total))


if __name__ == "__main__":
    main()
