"""WanModel as torch.nn.Module objects under the official module paths, for
the verification kit (tools/dump_hooks.py, tools/verify_numerics.py,
tools/golden_verify.py).

The official wan/modules/model.py builds the DiT from modules (WanModel ->
blocks.N (WanAttentionBlock) -> norm1, self_attn.{q,k,v,o,norm_q,norm_k},
norm3, cross_attn.*, norm2, ffn.{0,1,2}; head.{norm,head}) and calls each
block as block(x, e=e0, seq_lens=..., grid_sizes=..., freqs=...,
context=..., context_lens=...). This file builds the same tree, with the
same call signatures, on the math of tools/reference/dit.py (rope_apply,
rope_params, sinusoidal_embedding_1d), so a forward-hook script written for
the official model runs on it unchanged. No batch dimension is dropped here:
inputs are [1, ...] as in the official code.

Numerics (`Numerics`): how a GPU run rounds, emulated on the CPU:
  "fp64"  everything float64 (the reference);
  "fp32"  everything float32 (CPU or CUDA with TF32 off);
  "tf32"  float32, but the operands of every matrix product (linear, conv,
          the two attention products) rounded to TF32 (10 mantissa bits),
          as cuBLAS/cuDNN do with allow_tf32;
  "bf16"  float32 residual stream, norms and modulation (the official
          autocast(float32) regions), but every linear/conv/attention takes
          bf16 operands and returns bf16 (torch.autocast(bfloat16) on a GPU);
          q/k RMSNorm outputs .type_as(x) (bf16) before the weight, as
          WanRMSNorm does;
  "fp16"  as bf16 with float16 (autocast(float16)).
Planted bugs (`bugs`, a set) for the tests of `t2v bisect` and the profiles:
  "rope+1"     RoPE frequency index off by one (theta^(-2(j+1)/d));
  "eps"        q/k RMSNorm eps 1e-5 instead of the config's 1e-6;
  "mod_swap"   modulation chunks 0 and 1 (shift, scale) swapped in self_attn;
  "no_residual" the self-attention residual dropped (x = y * gate);
  "head_silu"  the head modulated by SiLU(e) instead of e;
  "sin_first"  the timestep sinusoid with the sines first.
"""
import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import dit as ref


def round_bf16(x):
    return x.to(torch.bfloat16).to(x.dtype)


def round_half(x, mode):
    return x.to(torch.bfloat16 if mode == "bf16" else torch.float16).to(x.dtype)


def round_tf32(x):
    """Round-to-nearest (ties away) of a float32 tensor to 10 mantissa bits."""
    if x.dtype != torch.float32:
        x32 = x.float()
    else:
        x32 = x
    i = x32.contiguous().view(torch.int32)
    i = (i + 0x1000) & ~0x1FFF
    return i.view(torch.float32).to(x.dtype)


class Numerics:
    def __init__(self, mode="fp64", bugs=()):
        assert mode in ("fp64", "fp32", "tf32", "bf16", "fp16"), mode
        self.mode = mode
        self.bugs = set(bugs)
        self.dtype = torch.float64 if mode == "fp64" else torch.float32

    def operand(self, x):
        """An operand of a matrix product."""
        if self.mode in ("bf16", "fp16"):
            return round_half(x, self.mode)
        if self.mode == "tf32":
            return round_tf32(x)
        return x

    def product(self, y):
        """The output of a matrix product."""
        return round_half(y, self.mode) if self.mode in ("bf16", "fp16") else y

    @contextlib.contextmanager
    def autocast_fp32(self):
        """The official code's `amp.autocast(dtype=torch.float32)` regions:
        under bf16 autocast, their products run in float32."""
        saved = self.mode
        if saved in ("bf16", "fp16"):
            self.mode = "fp32"
        try:
            yield
        finally:
            self.mode = saved


class Linear(nn.Linear):
    def __init__(self, i, o, num):
        super().__init__(i, o)
        self.num = num

    def forward(self, x):
        n = self.num
        b = self.bias if n.mode == "tf32" else n.operand(self.bias)  # TF32 rounds the product's operands only
        return n.product(F.linear(n.operand(x), n.operand(self.weight), b))


class RMSNorm(nn.Module):
    """WanRMSNorm: _norm(x.float()).type_as(x) * weight."""

    def __init__(self, dim, eps, num):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps, self.num = eps, num

    def forward(self, x):
        eps = 1e-5 if "eps" in self.num.bugs else self.eps
        xf = x.to(self.num.dtype)
        y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
        return self.num.product(y) * self.weight


class LayerNorm(nn.LayerNorm):
    """WanLayerNorm: computed in float32 (or float64), .type_as(x)."""

    def forward(self, x):
        return super().forward(x)


def rope_freqs(head_dim, bugs):
    d = head_dim
    k = 1 if "rope+1" in bugs else 0

    def params(dim):
        j = torch.arange(0, dim, 2).to(torch.float64) + 2 * k
        fr = torch.outer(torch.arange(1024, dtype=torch.float64), 1.0 / torch.pow(10000, j.div(dim)))
        return torch.polar(torch.ones_like(fr), fr)
    return torch.cat([params(d - 4 * (d // 6)), params(2 * (d // 6)), params(2 * (d // 6))], dim=1)


def rope_apply(x, grid_sizes, freqs):
    """Official signature: x [B, L, n, d], grid_sizes [B, 3]; returns float."""
    f, h, w = (int(v) for v in grid_sizes[0])
    y = ref.rope_apply(x[0], (f, h, w), freqs)
    return y.unsqueeze(0)


def attention(q, k, v, num):
    """q [B, Lq, n, d], k/v [B, Lk, n, d] -> [B, Lq, n, d]."""
    qq, kk, vv = num.operand(q[0]), num.operand(k[0]), num.operand(v[0])
    d = q.size(-1)
    s = torch.einsum("qnd,knd->nqk", qq, kk) / d ** 0.5
    p = torch.softmax(s, dim=-1)
    return num.product(torch.einsum("nqk,knd->qnd", num.operand(p), vv)).unsqueeze(0)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, eps, num):
        super().__init__()
        self.n, self.d, self.num = heads, dim // heads, num
        self.q, self.k, self.v, self.o = (Linear(dim, dim, num) for _ in range(4))
        self.norm_q, self.norm_k = RMSNorm(dim, eps, num), RMSNorm(dim, eps, num)

    def forward(self, x, seq_lens, grid_sizes, freqs):
        b, s = x.shape[:2]
        q = self.norm_q(self.q(x)).view(b, s, self.n, self.d)
        k = self.norm_k(self.k(x)).view(b, s, self.n, self.d)
        v = self.v(x).view(b, s, self.n, self.d)
        g = globals()["rope_apply"]  # looked up at call time, as a hook may wrap it
        y = attention(g(q, grid_sizes, freqs).to(x.dtype), g(k, grid_sizes, freqs).to(x.dtype), v, self.num)
        return self.o(y.flatten(2))


class CrossAttention(SelfAttention):
    def forward(self, x, context, context_lens):
        b = x.size(0)
        q = self.norm_q(self.q(x)).view(b, -1, self.n, self.d)
        k = self.norm_k(self.k(context)).view(b, -1, self.n, self.d)
        v = self.v(context).view(b, -1, self.n, self.d)
        return self.o(attention(q, k, v, self.num).flatten(2))


class AttentionBlock(nn.Module):
    def __init__(self, dim, ffn_dim, heads, eps, num):
        super().__init__()
        self.num = num
        self.norm1 = LayerNorm(dim, eps, elementwise_affine=False)
        self.self_attn = SelfAttention(dim, heads, eps, num)
        self.norm3 = LayerNorm(dim, eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(dim, heads, eps, num)
        self.norm2 = LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(Linear(dim, ffn_dim, num), nn.GELU(approximate="tanh"), Linear(ffn_dim, dim, num))
        self.modulation = nn.Parameter(torch.zeros(1, 6, dim))

    def forward(self, x, e, seq_lens, grid_sizes, freqs, context, context_lens):
        dt, bugs = self.num.dtype, self.num.bugs
        e = (self.modulation + e).chunk(6, dim=1)
        shift, scale = (e[1], e[0]) if "mod_swap" in bugs else (e[0], e[1])
        y = self.self_attn(self.norm1(x).to(dt) * (1 + scale) + shift, seq_lens, grid_sizes, freqs)
        x = (y.to(dt) * e[2]) if "no_residual" in bugs else x + y.to(dt) * e[2]
        x = x + self.cross_attn(self.norm3(x), context, context_lens).to(dt)
        y = self.ffn(self.norm2(x).to(dt) * (1 + e[4]) + e[3])
        return x + y.to(dt) * e[5]


class Head(nn.Module):
    def __init__(self, dim, out_dim, patch_size, eps, num):
        super().__init__()
        self.norm = LayerNorm(dim, eps, elementwise_affine=False)
        self.head = Linear(dim, out_dim * patch_size[0] * patch_size[1] * patch_size[2], num)
        self.modulation = nn.Parameter(torch.zeros(1, 2, dim))

    def forward(self, x, e):
        with self.head.num.autocast_fp32():
            if "head_silu" in self.head.num.bugs:
                e = F.silu(e)
            e = (self.modulation + e.unsqueeze(1)).chunk(2, dim=1)
            return self.head(self.norm(x) * (1 + e[1]) + e[0])


class Conv3d(nn.Conv3d):
    def __init__(self, i, o, k, num):
        super().__init__(i, o, kernel_size=k, stride=k)
        self.num = num

    def forward(self, x):
        n = self.num
        return n.product(F.conv3d(n.operand(x), n.operand(self.weight), n.operand(self.bias), stride=self.stride))


class WanModel(nn.Module):
    """Official constructor arguments (a subset) and forward(x, t, context, seq_len)."""

    def __init__(self, cfg, num=None):
        super().__init__()
        c = ref.full_config(cfg)
        self.num = num or Numerics()
        self.cfg, self.dim, self.freq_dim = c, c["dim"], c["freq_dim"]
        self.patch_size, self.text_len, self.out_dim = tuple(c["patch_size"]), c["text_len"], c["out_dim"]
        D, n = c["dim"], self.num
        self.patch_embedding = Conv3d(c["in_dim"], D, self.patch_size, n)
        self.text_embedding = nn.Sequential(Linear(c["text_dim"], D, n), nn.GELU(approximate="tanh"),
                                            Linear(D, D, n))
        self.time_embedding = nn.Sequential(Linear(c["freq_dim"], D, n), nn.SiLU(), Linear(D, D, n))
        self.time_projection = nn.Sequential(nn.SiLU(), Linear(D, 6 * D, n))
        self.blocks = nn.ModuleList(AttentionBlock(D, c["ffn_dim"], c["num_heads"], c["eps"], n)
                                    for _ in range(c["num_layers"]))
        self.head = Head(D, c["out_dim"], self.patch_size, c["eps"], n)
        self.freqs = rope_freqs(D // c["num_heads"], self.num.bugs)
        self.to(self.num.dtype)

    def load(self, sd):
        """sd: official names -> tensors (any float dtype)."""
        own = self.state_dict()
        missing = set(own) - set(sd)
        if missing:
            raise KeyError("missing tensors: %s" % sorted(missing)[:4])
        self.load_state_dict({k: sd[k].to(self.num.dtype) for k in own})
        return self

    def forward(self, x, t, context, seq_len=None):
        """x: list of one latent [C, F, H, W]; t: [1]; context: list of one [L, text_dim]."""
        dt, n = self.num.dtype, self.num
        x = [self.patch_embedding(u.unsqueeze(0).to(dt)) for u in x]
        grid_sizes = torch.stack([torch.tensor(u.shape[2:], dtype=torch.long) for u in x])
        x = [u.flatten(2).transpose(1, 2) for u in x]
        seq_lens = torch.tensor([u.size(1) for u in x], dtype=torch.long)
        x = torch.cat(x)
        emb = ref.sinusoidal_embedding_1d(self.freq_dim, t.to(torch.float64)).to(dt)
        if "sin_first" in n.bugs:
            emb = emb.roll(self.freq_dim // 2, dims=1)
        with n.autocast_fp32():
            e = self.time_embedding(emb)
            e0 = self.time_projection(e).unflatten(1, (6, self.dim))
        ctx = torch.stack([torch.cat([u.to(dt), u.new_zeros(self.text_len - u.size(0), u.size(1)).to(dt)])
                           for u in context])
        context = self.text_embedding(ctx).to(dt)
        kwargs = dict(e=e0, seq_lens=seq_lens, grid_sizes=grid_sizes, freqs=self.freqs, context=context,
                      context_lens=None)
        for block in self.blocks:
            x = block(x, **kwargs)
        x = self.head(x, e).to(dt)
        g = [int(v) for v in grid_sizes[0]]
        return [ref.unpatchify(x[0], g, dict(self.cfg, patch_size=self.patch_size))]
