"""WanModel (the Wan2.1 DiT), independent PyTorch reference, float64.

Written from docs/MODEL.md section 2 and the structure of the official
wan/modules/model.py (sinusoidal_embedding_1d, rope_params, rope_apply,
WanRMSNorm, WanLayerNorm, WanSelfAttention, WanT2VCrossAttention,
WanAttentionBlock, Head, WanModel.forward, unpatchify). Functional: every
function takes the state dict `sd` (official tensor names -> float64
tensors) and a config dict `cfg` (config.json keys plus text_dim, text_len,
patch_size). No batch dimension, as in docs/MODEL.md section 9.
"""
import math

import torch
import torch.nn.functional as F

DEFAULTS = dict(patch_size=(1, 2, 2), text_dim=4096, text_len=512, freq_dim=256, eps=1e-6,
                in_dim=16, out_dim=16)


def full_config(cfg):
    c = dict(DEFAULTS)
    c.update(cfg)
    return c


# --- embeddings (docs/MODEL.md 2.2 b, c) -------------------------------------------

def sinusoidal_embedding_1d(dim, position):
    """Cosines first, then sines; float64 (docs/MODEL.md 2.2 b)."""
    half = dim // 2
    position = position.to(torch.float64)
    sinusoid = torch.outer(position, torch.pow(10000, -torch.arange(half).to(position).div(half)))
    return torch.cat([torch.cos(sinusoid), torch.sin(sinusoid)], dim=1)


def rope_params(max_seq_len, dim, theta=10000):
    freqs = torch.outer(torch.arange(max_seq_len, dtype=torch.float64),
                        1.0 / torch.pow(theta, torch.arange(0, dim, 2).to(torch.float64).div(dim)))
    return torch.polar(torch.ones_like(freqs), freqs)


def rope_freqs(head_dim, riflex=None):
    """The concatenated complex table of WanModel.__init__ (docs/MODEL.md 2.5).
    riflex = (k, L_test): the time axis's component k (1-based) turns at
    0.9 * 2 pi / L_test (RIFLEx, Eq. 8; tools/reference/context.py)."""
    d = head_dim
    time = rope_params(1024, d - 4 * (d // 6))
    if riflex:
        k, L_test = riflex
        angle = torch.arange(1024, dtype=torch.float64) * (0.9 * 2 * math.pi / L_test)
        time[:, k - 1] = torch.polar(torch.ones_like(angle), angle)
    return torch.cat([time, rope_params(1024, 2 * (d // 6)), rope_params(1024, 2 * (d // 6))], dim=1)


def rope_apply(x, grid, freqs):
    """x [L, n, d]; interleaved pairs; split c - 2(c//3), c//3, c//3 (docs/MODEL.md 2.5)."""
    L, n, c = x.size(0), x.size(1), x.size(2) // 2
    parts = freqs.split([c - 2 * (c // 3), c // 3, c // 3], dim=1)
    f, h, w = grid
    xc = torch.view_as_complex(x.to(torch.float64).reshape(L, n, -1, 2))
    fr = torch.cat([parts[0][:f].view(f, 1, 1, -1).expand(f, h, w, -1),
                    parts[1][:h].view(1, h, 1, -1).expand(f, h, w, -1),
                    parts[2][:w].view(1, 1, w, -1).expand(f, h, w, -1)], dim=-1).reshape(L, 1, -1)
    return torch.view_as_real(xc * fr).flatten(2).to(x.dtype)  # official: .float()


# --- norms -----------------------------------------------------------------------

def rms_norm(x, weight, eps):
    """WanRMSNorm over the last dim (the whole model width for q/k, docs/MODEL.md 2.4)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def layer_norm(x, weight, bias, eps):
    return F.layer_norm(x, (x.size(-1),), weight, bias, eps)


def linear(sd, name, x):
    return F.linear(x, sd[name + ".weight"], sd[name + ".bias"])


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


# --- attention (docs/MODEL.md 2.4) -------------------------------------------------

def attention(q, k, v):
    """q [Lq, n, d], k/v [Lk, n, d] -> [Lq, n*d]; scale 1/sqrt(d), no mask."""
    d = q.size(-1)
    s = torch.einsum("qnd,knd->nqk", q, k) / math.sqrt(d)
    p = torch.softmax(s, dim=-1)
    return torch.einsum("nqk,knd->qnd", p, v).flatten(1)


def self_attn(sd, p, cfg, x, grid, freqs):
    n = cfg["num_heads"]
    L, D = x.shape
    d = D // n
    eps = cfg["eps"]
    q = rms_norm(linear(sd, p + "self_attn.q", x), sd[p + "self_attn.norm_q.weight"], eps).view(L, n, d)
    k = rms_norm(linear(sd, p + "self_attn.k", x), sd[p + "self_attn.norm_k.weight"], eps).view(L, n, d)
    v = linear(sd, p + "self_attn.v", x).view(L, n, d)
    y = attention(rope_apply(q, grid, freqs), rope_apply(k, grid, freqs), v)
    return linear(sd, p + "self_attn.o", y)


def cross_attn(sd, p, cfg, x, context):
    n = cfg["num_heads"]
    L, D = x.shape
    d = D // n
    eps = cfg["eps"]
    q = rms_norm(linear(sd, p + "cross_attn.q", x), sd[p + "cross_attn.norm_q.weight"], eps).view(L, n, d)
    k = rms_norm(linear(sd, p + "cross_attn.k", context), sd[p + "cross_attn.norm_k.weight"], eps)
    v = linear(sd, p + "cross_attn.v", context)
    y = attention(q, k.view(-1, n, d), v.view(-1, n, d))
    return linear(sd, p + "cross_attn.o", y)


# --- block and head (docs/MODEL.md 2.3, 2.2 f) -------------------------------------

def block_forward(sd, i, cfg, x, e0, grid, freqs, context):
    """WanAttentionBlock: x [L, D], e0 [6, D] (one t for every token) or
    [L, 6, D] (one per token), context [text_len, D] (embedded)."""
    p = "blocks.%d." % i
    D = x.size(1)
    eps = cfg["eps"]
    # [6, D] or [L, 6, D]: six [D] or [L, D] vectors, broadcast over the tokens
    e = (sd[p + "modulation"].reshape(6, D) + e0).unbind(dim=-2)
    y = self_attn(sd, p, cfg, layer_norm(x, None, None, eps) * (1 + e[1]) + e[0], grid, freqs)
    x = x + y * e[2]
    x = x + cross_attn(sd, p, cfg, layer_norm(x, sd[p + "norm3.weight"], sd[p + "norm3.bias"], eps),
                       context)
    h = gelu_tanh(linear(sd, p + "ffn.0", layer_norm(x, None, None, eps) * (1 + e[4]) + e[3]))
    x = x + linear(sd, p + "ffn.2", h) * e[5]
    return x


def head_forward(sd, cfg, x, e):
    """Head: modulation [1, 2, D] + e (not SiLU(e)); two chunks shift, scale.
    e [D] (one t for every token) or [L, D] (one per token)."""
    D = x.size(1)
    m = (sd["head.modulation"].reshape(2, D) + e.unsqueeze(-2)).unbind(dim=-2)
    return linear(sd, "head.head", layer_norm(x, None, None, cfg["eps"]) * (1 + m[1]) + m[0])


def unpatchify(x, grid, cfg):
    c = cfg["out_dim"]
    pt, ph, pw = cfg["patch_size"]
    f, h, w = grid
    u = x[:f * h * w].view(f, h, w, pt, ph, pw, c)
    u = torch.einsum("fhwpqrc->cfphqwr", u)
    return u.reshape(c, f * pt, h * ph, w * pw)


# --- WanModel.forward (docs/MODEL.md 2.2) ------------------------------------------

def embed_context(sd, cfg, context):
    """context [L, text_dim] -> zero-padded to text_len rows -> text_embedding."""
    L = context.size(0)
    pad = context.new_zeros(cfg["text_len"] - L, context.size(1))
    c = torch.cat([context, pad], dim=0)
    return linear(sd, "text_embedding.2", gelu_tanh(linear(sd, "text_embedding.0", c)))


def time_embed(sd, cfg, t):
    """Timestep -> e (time_embedding) and e0 (time_projection).
    t a number (integer or not), one t for every token: e [D], e0 [6, D].
    t a tensor [L], one per token (Wan2.2's t of shape [B, seq_len]: TI2V
    gives its conditioning frame's tokens t = 0): e [L, D], e0 [L, 6, D], each
    token's row from its own t, as the official forward computes them."""
    per_token = torch.is_tensor(t)
    pos = t.reshape(-1).to(torch.float64) if per_token else torch.tensor([t], dtype=torch.float64)
    emb = sinusoidal_embedding_1d(cfg["freq_dim"], pos)
    emb = emb.to(sd["time_embedding.0.weight"].dtype)  # official: .float()
    e = linear(sd, "time_embedding.2", F.silu(linear(sd, "time_embedding.0", emb)))
    e0 = linear(sd, "time_projection.1", F.silu(e))
    if per_token:
        return e, e0.unflatten(1, (6, -1))
    return e.reshape(-1), e0.reshape(6, -1)


def patch_embed(sd, cfg, latent):
    """Conv3d kernel = stride = patch_size; tokens in (f, h, w) order."""
    ps = tuple(cfg["patch_size"])
    y = F.conv3d(latent.unsqueeze(0), sd["patch_embedding.weight"], sd["patch_embedding.bias"],
                 stride=ps)[0]
    grid = tuple(y.shape[1:])
    return y.flatten(1).transpose(0, 1), grid


def forward(sd, cfg, latent, t, context, trace=None, riflex=None):
    """latent [in_dim, F, H, W], t, context [L, text_dim] -> velocity.
    t: a number (one timestep for every token) or a tensor with one per
    token of the patch grid, in token order (f, h, w).
    trace (a dict) receives the intermediates by name."""
    cfg = full_config(cfg)
    D = cfg["dim"]
    x, grid = patch_embed(sd, cfg, latent)
    if torch.is_tensor(t) and t.numel() != x.size(0):
        raise ValueError("%d timesteps for %d tokens" % (t.numel(), x.size(0)))
    e, e0 = time_embed(sd, cfg, t)
    ctx = embed_context(sd, cfg, context)
    freqs = rope_freqs(D // cfg["num_heads"], riflex)
    if trace is not None:
        trace.update({"patch": x.clone(), "e": e.clone(), "e0": e0.clone(), "context_emb": ctx.clone()})
    for i in range(cfg["num_layers"]):
        x = block_forward(sd, i, cfg, x, e0, grid, freqs, ctx)
        if trace is not None:
            trace["block.%d" % i] = x.clone()
    out = head_forward(sd, cfg, x, e)
    if trace is not None:
        trace["head"] = out.clone()
    return unpatchify(out, grid, cfg)


# --- parameter shapes (docs/MODEL.md 2.1) ------------------------------------------

def param_shapes(cfg):
    """Official names and shapes, in state-dict order."""
    cfg = full_config(cfg)
    D, Ff, pt, ph, pw = cfg["dim"], cfg["ffn_dim"], *cfg["patch_size"]
    s = {"patch_embedding.weight": (D, cfg["in_dim"], pt, ph, pw), "patch_embedding.bias": (D,),
         "text_embedding.0.weight": (D, cfg["text_dim"]), "text_embedding.0.bias": (D,),
         "text_embedding.2.weight": (D, D), "text_embedding.2.bias": (D,),
         "time_embedding.0.weight": (D, cfg["freq_dim"]), "time_embedding.0.bias": (D,),
         "time_embedding.2.weight": (D, D), "time_embedding.2.bias": (D,),
         "time_projection.1.weight": (6 * D, D), "time_projection.1.bias": (6 * D,)}
    for i in range(cfg["num_layers"]):
        p = "blocks.%d." % i
        s[p + "modulation"] = (1, 6, D)
        for a in ("self_attn", "cross_attn"):
            for l in "qkvo":
                s[p + a + "." + l + ".weight"] = (D, D)
                s[p + a + "." + l + ".bias"] = (D,)
            s[p + a + ".norm_q.weight"] = (D,)
            s[p + a + ".norm_k.weight"] = (D,)
        s[p + "norm3.weight"] = (D,)
        s[p + "norm3.bias"] = (D,)
        s[p + "ffn.0.weight"] = (Ff, D)
        s[p + "ffn.0.bias"] = (Ff,)
        s[p + "ffn.2.weight"] = (D, Ff)
        s[p + "ffn.2.bias"] = (D,)
    s["head.modulation"] = (1, 2, D)
    s["head.head.weight"] = (pt * ph * pw * cfg["out_dim"], D)
    s["head.head.bias"] = (pt * ph * pw * cfg["out_dim"],)
    return s
