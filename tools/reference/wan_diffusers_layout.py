"""The module tree of diffusers' WanTransformer3DModel, built over the
modules of tools/reference/wan_module.py (shared, so the weights and the
emulated numerics are the same), for testing tools/dump_hooks.py on
diffusers' names without diffusers installed.

Per block (diffusers' WanTransformerBlock): norm1 (no affine), attn1
(to_q, to_k, to_v, to_out.0, norm_q, norm_k; RoPE applied inside the
attention, as diffusers' processor does, so no rope_apply function is
called), norm2 (affine: the official norm3, before cross-attention), attn2,
norm3 (no affine: the official norm2, before the FFN), ffn (net.0 = GELU
module whose .proj is the first linear, net.2 the second),
scale_shift_table (the official modulation). Called as
block(hidden_states, encoder_hidden_states, temb, rotary_emb). The
embeddings and the head are the official model's (not part of the tree:
bisect checks the blocks).
"""
import torch
import torch.nn as nn

from . import dit as ref
from .wan_module import attention


class Attention(nn.Module):
    def __init__(self, official, num):
        super().__init__()
        self.to_q, self.to_k, self.to_v = official.q, official.k, official.v
        self.to_out = nn.ModuleList([official.o])
        self.norm_q, self.norm_k = official.norm_q, official.norm_k
        self.n, self.d, self.num = official.n, official.d, num

    def forward(self, hidden_states, encoder_hidden_states=None, rotary_emb=None):
        ctx = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        b = hidden_states.size(0)
        q = self.norm_q(self.to_q(hidden_states)).view(b, -1, self.n, self.d)
        k = self.norm_k(self.to_k(ctx)).view(b, -1, self.n, self.d)
        v = self.to_v(ctx).view(b, -1, self.n, self.d)
        if rotary_emb is not None:
            grid, freqs = rotary_emb
            q = ref.rope_apply(q[0], grid, freqs).unsqueeze(0).to(hidden_states.dtype)
            k = ref.rope_apply(k[0], grid, freqs).unsqueeze(0).to(hidden_states.dtype)
        return self.to_out[0](attention(q, k, v, self.num).flatten(2))


class GELU(nn.Module):
    def __init__(self, proj):
        super().__init__()
        self.proj = proj

    def forward(self, x):
        return torch.nn.functional.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    def __init__(self, official_ffn):
        super().__init__()
        self.net = nn.ModuleList([GELU(official_ffn[0]), nn.Identity(), official_ffn[2]])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class WanTransformerBlock(nn.Module):
    def __init__(self, blk):
        super().__init__()
        self.num = blk.num
        self.norm1, self.norm2, self.norm3 = blk.norm1, blk.norm3, blk.norm2
        self.attn1 = Attention(blk.self_attn, blk.num)
        self.attn2 = Attention(blk.cross_attn, blk.num)
        self.ffn = FeedForward(blk.ffn)
        self.scale_shift_table = blk.modulation

    def forward(self, hidden_states, encoder_hidden_states, temb, rotary_emb):
        dt, bugs = self.num.dtype, self.num.bugs
        e = (self.scale_shift_table + temb).chunk(6, dim=1)
        shift, scale = (e[1], e[0]) if "mod_swap" in bugs else (e[0], e[1])
        x = hidden_states
        y = self.attn1(hidden_states=self.norm1(x).to(dt) * (1 + scale) + shift, rotary_emb=rotary_emb)
        x = (y.to(dt) * e[2]) if "no_residual" in bugs else x + y.to(dt) * e[2]
        x = x + self.attn2(hidden_states=self.norm2(x), encoder_hidden_states=encoder_hidden_states).to(dt)
        y = self.ffn(self.norm3(x).to(dt) * (1 + e[4]) + e[3])
        return x + y.to(dt) * e[5]


class WanTransformer3DModel(nn.Module):
    """Over an official wan_module.WanModel `m` (weights and numerics shared)."""

    def __init__(self, m):
        super().__init__()
        object.__setattr__(self, "official", m)  # not a submodule: its paths are not diffusers'
        self.patch_embedding = m.patch_embedding
        self.condition_embedder = nn.Module()
        self.condition_embedder.time_embedder = m.time_embedding
        self.condition_embedder.time_proj = m.time_projection  # the official SiLU + linear: the same output
        self.condition_embedder.text_embedder = m.text_embedding
        self.blocks = nn.ModuleList(WanTransformerBlock(b) for b in m.blocks)
        self.proj_out = m.head.head

    def forward(self, x, t, context):
        """The official forward with diffusers' blocks (same arguments)."""
        m, dt = self.official, self.official.num.dtype
        lat = self.patch_embedding(x[0].unsqueeze(0).to(dt))
        grid = tuple(int(v) for v in lat.shape[2:])
        h = lat.flatten(2).transpose(1, 2)
        emb = ref.sinusoidal_embedding_1d(m.freq_dim, t.to(torch.float64)).to(dt)
        if "sin_first" in m.num.bugs:
            emb = emb.roll(m.freq_dim // 2, dims=1)
        with m.num.autocast_fp32():
            e = self.condition_embedder.time_embedder(emb)
            e0 = self.condition_embedder.time_proj(e).unflatten(1, (6, m.dim))
        c = context[0].to(dt)
        c = torch.cat([c, c.new_zeros(m.text_len - c.size(0), c.size(1))]).unsqueeze(0)
        ctx = self.condition_embedder.text_embedder(c).to(dt)
        for block in self.blocks:
            h = block(h, encoder_hidden_states=ctx, temb=e0, rotary_emb=(grid, m.freqs))
        out = m.head(h, e).to(dt)
        return [ref.unpatchify(out[0], list(grid), dict(m.cfg, patch_size=m.patch_size))]
