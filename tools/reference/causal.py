"""Causal chunk-by-chunk generation (Self-Forcing, CausVid), float64 reference.

Written from the published design (Self-Forcing's CausalWanModel inference
path and CausalInferencePipeline; CausVid, Algorithm 2), not from ref/:

- the latent is generated in blocks of `block` latent frames; all frames
  of a block share one timestep;
- a block's tokens attend to themselves and to the keys/values that the
  clean pass of each earlier block left behind (block-causal attention);
  keys are stored after RoPE, with RoPE at the frames' global positions;
- with a rolling window of `window` frames and `sink` sink frames, the
  frames attended are the first `sink` frames of the clip and the most
  recent `window - sink` frames up to the block's end (which includes the
  block itself); without a window, every earlier frame;
- each block: the listed distill steps (x0 = x - sigma v, renoise with fresh
  noise to the next sigma; the last step keeps x0), then one more pass on
  the clean block at `context_t` (0) that writes its keys/values.

The cache here is a plain dict {layer: {frame: (k, v)}} that keeps every
frame and chooses the attended ones by rule; memory is not its concern.
Everything else (embeddings, cross-attention, FFN, head) is dit.py's.
"""
import torch

from . import dit, sampler


def attended_frames(end, window, sink):
    """Global latent frames a block ending at frame `end` attends to."""
    if not window or end <= window:
        return list(range(end))
    return list(range(sink)) + list(range(end - (window - sink), end))


def _freqs_from(freqs, head_dim, frame0):
    """The RoPE table with the time axis starting at frame0 (spatial axes unchanged)."""
    c = head_dim // 2
    t, h, w = freqs.split([c - 2 * (c // 3), c // 3, c // 3], dim=1)
    rows = freqs.size(0) - frame0
    return torch.cat([t[frame0:], h[:rows], w[:rows]], dim=1)


def _self_attn(sd, p, cfg, x, grid, freqs, layer, frame0, cache, window, sink, write):
    n = cfg["num_heads"]
    L, D = x.shape
    d, eps = D // n, cfg["eps"]
    f = grid[0]
    q = dit.rms_norm(dit.linear(sd, p + "self_attn.q", x), sd[p + "self_attn.norm_q.weight"], eps).view(L, n, d)
    k = dit.rms_norm(dit.linear(sd, p + "self_attn.k", x), sd[p + "self_attn.norm_k.weight"], eps).view(L, n, d)
    v = dit.linear(sd, p + "self_attn.v", x).view(L, n, d)
    q, k = dit.rope_apply(q, grid, freqs), dit.rope_apply(k, grid, freqs)
    per = L // f
    mine = {frame0 + j: (k[j * per:(j + 1) * per], v[j * per:(j + 1) * per]) for j in range(f)}
    store = cache.setdefault(layer, {})
    seen = [mine[fr] if fr in mine else store[fr] for fr in attended_frames(frame0 + f, window, sink)]
    y = dit.attention(q, torch.cat([s[0] for s in seen]), torch.cat([s[1] for s in seen]))
    if write:
        store.update(mine)
    return dit.linear(sd, p + "self_attn.o", y)


def _block(sd, i, cfg, x, e0, grid, freqs, ctx, frame0, cache, window, sink, write):
    """WanAttentionBlock with the causal self-attention (one t: e0 [6, D])."""
    p = "blocks.%d." % i
    D, eps = x.size(1), cfg["eps"]
    e = (sd[p + "modulation"].reshape(6, D) + e0).unbind(dim=-2)
    y = _self_attn(sd, p, cfg, dit.layer_norm(x, None, None, eps) * (1 + e[1]) + e[0], grid, freqs, i, frame0,
                   cache, window, sink, write)
    x = x + y * e[2]
    x = x + dit.cross_attn(sd, p, cfg, dit.layer_norm(x, sd[p + "norm3.weight"], sd[p + "norm3.bias"], eps), ctx)
    h = dit.gelu_tanh(dit.linear(sd, p + "ffn.0", dit.layer_norm(x, None, None, eps) * (1 + e[4]) + e[3]))
    return x + dit.linear(sd, p + "ffn.2", h) * e[5]


def forward(sd, cfg, latent, t, frame0, context, cache, window=None, sink=0, write=False):
    """One causal pass: latent [in_dim, F, H, W] = frames [frame0, frame0+F)
    of the clip at timestep t -> velocity. `write`: this is the clean pass,
    whose keys/values later blocks see."""
    cfg = dit.full_config(cfg)
    x, grid = dit.patch_embed(sd, cfg, latent)
    e, e0 = dit.time_embed(sd, cfg, t)
    ctx = dit.embed_context(sd, cfg, context)
    freqs = _freqs_from(dit.rope_freqs(cfg["dim"] // cfg["num_heads"]), cfg["dim"] // cfg["num_heads"], frame0)
    for i in range(cfg["num_layers"]):
        x = _block(sd, i, cfg, x, e0, grid, freqs, ctx, frame0, cache, window, sink, write)
    return dit.unpatchify(dit.head_forward(sd, cfg, x, e), grid, cfg)


def generate(sd, cfg, noise, context, ts, shift, block, renoise, window=None, sink=0, context_t=0.0, trace=None):
    """noise [C, T, H, W] -> the latent, block by block. renoise[b][k]: the
    fresh noise [C, block, H, W] of block b's step k (k < len(ts) - 1).
    trace (a list) receives each block's latent after each step."""
    sigmas, model_t = sampler.listed_schedule(ts, shift)
    K, T = len(ts), noise.size(1)
    assert T % block == 0
    out = noise.clone()
    cache = {}
    for b in range(T // block):
        f0 = b * block
        x = noise[:, f0:f0 + block].clone()
        for k in range(K):
            v = forward(sd, cfg, x, float(model_t[k]), f0, context, cache, window, sink)
            x0 = x - float(sigmas[k]) * v
            x = x0 if k == K - 1 else (1 - float(sigmas[k + 1])) * x0 + float(sigmas[k + 1]) * renoise[b][k]
            if trace is not None:
                trace.append(x.clone())
        out[:, f0:f0 + block] = x
        forward(sd, cfg, x, context_t, f0, context, cache, window, sink, write=True)
    return out
