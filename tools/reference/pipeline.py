"""The whole Wan2.1 text-to-video pipeline (docs/MODEL.md section 0), PyTorch
reference in float64, wired from the stage references of this directory:

  prompt --clean--> SentencePiece ids + EOS --> umT5 (t5.py) --> context
  negative prompt ---------- same path --------------------> context_neg
  seed --> noise = torch.manual_seed(seed); torch.randn(n) (float32, widened)
  sampler.sample (UniPC or Euler, CFG) over dit.forward (context zero-padded
  to text_len inside) --> latent.final
  vae.decode_chunked --> video [3, F, H, W] in [-1, 1]

Weights are read from a model directory in the official layout as stored
(bf16 / fp32 values) and widened to float64. The tokenizer is the
SentencePiece library itself. No batch dimension. Never uses ref/.
"""
import html
import json
import os

import torch

from . import cache as step_cache
from . import dit, sampler, t5, vae


# --- text (docs/MODEL.md 5.3, docs/TOKENIZER.md) ------------------------------

_QUOTES = {0x02BC: "'", 0x2018: "'", 0x2019: "'", 0x201A: "'", 0x201B: "'",
           0x201C: '"', 0x201D: '"', 0x201E: '"', 0x201F: '"'}


def clean_text(text):
    """Wan's clean='whitespace' without ftfy's mojibake repair: uncurl quotes,
    html.unescape twice, strip, whitespace runs -> ' ', strip."""
    text = text.translate(_QUOTES)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split())


def tokenize(sp, text, text_len):
    """ids of the cleaned text, at most text_len - 1 pieces, then EOS."""
    ids = sp.encode(clean_text(text))[:text_len - 1]
    return torch.tensor(ids + [sp.eos_id()], dtype=torch.int64)


# --- the model directory (README.md, "The model directory") -------------------

class Model:
    def __init__(self, model_dir):
        import sentencepiece as spm
        import st
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = dit.full_config(json.load(f))
        tensors, _ = st.load(os.path.join(model_dir, "diffusion_pytorch_model.safetensors"))
        self.dit = {k: torch.from_numpy(v).double() for k, v in tensors.items()}
        sd = torch.load(os.path.join(model_dir, "models_t5_umt5-xxl-enc-bf16.pth"), map_location="cpu",
                        weights_only=True)
        self.t5 = {k: v.double() for k, v in sd.items()}
        self.t5_cfg = t5.Config(self.t5)
        sd = torch.load(os.path.join(model_dir, "Wan2.1_VAE.pth"), map_location="cpu", weights_only=True)
        self.vae = {k: v.double() for k, v in sd.items()}
        self.sp = spm.SentencePieceProcessor(
            model_file=os.path.join(model_dir, "google", "umt5-xxl", "spiece.model"))


def noise(seed, shape):
    """torch.manual_seed(seed); torch.randn(n) in float32 (docs/NOISE.md), widened."""
    n = 1
    for d in shape:
        n *= d
    torch.manual_seed(seed)
    return torch.randn(n, dtype=torch.float32).double().reshape(shape)


def generate(m, prompt, negative, width, height, frames, steps, cfg, shift, solver, seed, timesteps=None,
             cache=None):
    """Returns a dict of every tensor of docs/MODEL.md section 9 (float64 / int64).
    timesteps: a listed schedule (docs/MODEL.md 3.5; steps = its length);
    solver "distill" renoises with sampler.renoise_stream(seed, ...). cache:
    (kind, thresh[, options]) of a step cache (reference/cache.py; options:
    a dict of Cache's keyword arguments); its decisions go to
    cache.computed [steps, 2] and cache.metric."""
    out = {}
    text_len = m.cfg["text_len"]
    out["tokens"] = tokenize(m.sp, prompt, text_len)
    out["context"] = t5.encode(m.t5, m.t5_cfg, out["tokens"])
    contexts = {1: out["context"]}
    if cfg > 1:
        out["tokens_neg"] = tokenize(m.sp, negative, text_len)
        out["context_neg"] = t5.encode(m.t5, m.t5_cfg, out["tokens_neg"])
        contexts[0] = out["context_neg"]
    T, h, w = 1 + (frames - 1) // 4, height // 8, width // 8
    out["noise"] = noise(seed, (16, T, h, w))
    if timesteps is None:
        _, model_t = sampler.schedule(steps, shift)
    else:
        steps = len(timesteps)
        _, model_t = sampler.listed_schedule(timesteps, shift)
    out["timesteps"] = torch.tensor(model_t, dtype=torch.float64)
    sc = step_cache.Cache(cache[0], cache[1], steps, m.cfg["dim"], **(cache[2] if len(cache) > 2 else {})) \
        if cache else None
    step = [-1]

    def model(x, t, cond):
        if sc is None:
            return dit.forward(m.dit, m.cfg, x, t, contexts[cond])
        step[0] += cond  # the conditional pass opens each step
        sc.select(step[0], 1 - cond)
        return step_cache.forward(m.dit, m.cfg, x, t, contexts[cond], sc)

    trace = []
    if timesteps is None:
        out["latent.final"] = sampler.sample(out["noise"], steps, shift, cfg, solver, model, trace=trace)
    else:
        eps = sampler.renoise_stream(seed, tuple(out["noise"].shape), steps - 1) if solver == "distill" else None
        out["latent.final"] = sampler.sample_listed(out["noise"], timesteps, shift, cfg, solver, model, eps,
                                                    trace=trace)
    if sc is not None:
        out["cache.computed"], out["cache.metric"] = sc.computed, sc.metric
    for k, x in enumerate(trace):
        out["latent.step%d" % k] = x
    out["video"] = vae.decode_chunked(m.vae, out["latent.final"])
    return out
