#!/usr/bin/python3
"""Writes golden/models/tiny/: a tiny random Wan2.1 model in the OFFICIAL
layout (README.md, "The model directory"), for the end-to-end tests of the pipeline
(tests/test_pipeline.c) and the CLI (tests/test_cli.c):

  config.json                            official keys + text_dim, text_len
  diffusion_pytorch_model.safetensors    DiT, F32 (dim 32, 2 layers, 2 heads, ffn 64)
  models_t5_umt5-xxl-enc-bf16.pth        umT5 encoder, torch.save of a bf16 OrderedDict
                                         (dim 32, 2 layers, 2 heads of 16, ffn 48)
  Wan2.1_VAE.pth                         WanVAE_(dim=4, z_dim=16), torch.save fp32,
                                         encoder and decoder (official structure)
  google/umt5-xxl/spiece.model           a unigram SentencePiece model trained here
                                         (pad 0, eos 1, unk 2, no bos; identity normalizer)
  t2v.json                               t2v's small defaults for this model

The VAE has base dim 4, so the whole directory is about 1.2 MB: with dim 2
(0.26 MB) the decoder's last layers have 2 channels and their RMS norms
(F.normalize over channels) meet near-zero vectors, which amplifies a 3e-6
change of the latent about 4000 times in the video (measured), too
ill-conditioned for an end-to-end test; dim 4 amplifies it about 30 times.
freq_dim is 64 (an official config key) to keep the DiT small.
Weights: seeded random, non-trivial norm gains and modulations. Deterministic:
re-running writes the same bytes.
"""
import collections
import io
import json
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402
import write_dit_checkpoint  # noqa: E402
from reference import t5, vae  # noqa: E402

ROOT = os.path.dirname(here)
OUT = os.path.join(ROOT, "golden", "models", "tiny")

CONFIG = {"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 32, "eps": 1e-06,
          "ffn_dim": 64, "freq_dim": 64, "in_dim": 16, "model_type": "t2v", "num_heads": 2,
          "num_layers": 2, "out_dim": 16, "text_dim": 32, "text_len": 16}
T5_SHAPE = dict(dim=32, dim_attn=32, dim_ffn=48, num_heads=2, num_layers=2, num_buckets=32)
VAE_DIM = 4
DEFAULTS = {"width": 32, "height": 32, "frames": 5, "steps": 4, "cfg": 4.0, "shift": 3.0,
            "sampler": "unipc", "negative_prompt": "a blurry picture", "fps": 8}


def corpus():
    """A few hundred deterministic English sentences."""
    adj = ["red", "blue", "green", "small", "large", "bright", "dark", "blurry", "yellow", "white"]
    noun = ["circle", "square", "cat", "dog", "car", "bird", "ball", "tree", "boat", "picture"]
    verb = ["moving", "jumping", "running", "flying", "rolling", "spinning", "sliding", "walking"]
    where = ["to the right", "to the left", "over the hill", "across the street", "in the park",
             "under the bridge", "on the water", "through the forest"]
    out = []
    for i in range(400):
        out.append("a %s %s %s %s." % (adj[i % 10], noun[(i * 7) % 10], verb[(i * 3) % 8],
                                       where[(i * 5 + i // 8) % 8]))
        if i % 4 == 0:
            out.append("The %s %s is %s quickly, slowly and smoothly!" % (
                noun[i % 10], adj[(i * 3) % 10], verb[i % 8]))
    return out


def train_tokenizer():
    import sentencepiece as spm
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=buf, model_type="unigram", vocab_size=80,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, normalization_rule_name="identity",
        num_threads=1, character_coverage=1.0, minloglevel=2)
    return buf.getvalue()


def dit_weights(seed):
    """The DiT's weights drawn like the one-layer checkpoints' (same scales)."""
    return collections.OrderedDict(write_dit_checkpoint.random_weights(CONFIG, seed))


class _Shapes:
    def __init__(self, c):
        self.__dict__.update(c)


def t5_weights(seed, vocab):
    g = torch.Generator().manual_seed(seed)
    c = _Shapes(dict(T5_SHAPE, vocab=vocab, head_dim=16))
    sd = collections.OrderedDict()
    for name, shape in t5.tensor_shapes(c).items():
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
            w = 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)
        elif name.endswith("pos_embedding.embedding.weight"):
            w = 1.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif name == "token_embedding.weight":
            w = torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            w = torch.randn(shape, generator=g, dtype=torch.float64) / (shape[1] ** 0.5)
            if name.endswith("attn.q.weight") or name.endswith("attn.k.weight"):
                w = 0.6 * w
        sd[name] = w.to(torch.bfloat16)
    return sd


def vae_weights(seed):
    """Gammas 1 + N(0, 1/4), biases N(0, 1/8^2), convs ~ sqrt(1/fan_in); the
    decoder head smaller so that little of the video is clamped."""
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for name, shape in vae.param_shapes(VAE_DIM):
        r = torch.randn(shape, generator=g, dtype=torch.float64)
        if name.endswith("gamma"):
            w = 1.0 + 0.25 * r
        elif name.endswith("bias"):
            w = 0.125 * r
        else:
            fan_in = 1
            for s in shape[1:]:
                fan_in *= s
            w = r * (1.0 / fan_in) ** 0.5
            if name == "decoder.head.2.weight":
                w = 0.5 * w
        sd[name] = w.float()
    return sd


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    torch.set_num_threads(1)
    os.makedirs(os.path.join(OUT, "google", "umt5-xxl"), exist_ok=True)
    model = train_tokenizer()
    with open(os.path.join(OUT, "google", "umt5-xxl", "spiece.model"), "wb") as f:
        f.write(model)
    import sentencepiece as spm
    vocab = spm.SentencePieceProcessor(model_proto=model).get_piece_size()
    write_json(os.path.join(OUT, "config.json"), CONFIG)
    write_json(os.path.join(OUT, "t2v.json"), DEFAULTS)
    st.save(os.path.join(OUT, "diffusion_pytorch_model.safetensors"), dit_weights(7001))
    torch.save(t5_weights(7002, vocab), os.path.join(OUT, "models_t5_umt5-xxl-enc-bf16.pth"))
    torch.save(vae_weights(7003), os.path.join(OUT, "Wan2.1_VAE.pth"))
    total = 0
    for dp, _, fs in os.walk(OUT):
        for fn in fs:
            total += os.path.getsize(os.path.join(dp, fn))
    print("  %s: %d bytes in all (vocab %d)" % (os.path.relpath(OUT, ROOT), total, vocab))


if __name__ == "__main__":
    main()
