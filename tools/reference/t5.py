"""umT5 encoder (the Wan2.1 text encoder), independent PyTorch reference.

Written from docs/MODEL.md section 5 and the structure of the official
wan/modules/t5.py (T5LayerNorm, T5Attention, T5FeedForward, T5SelfAttention,
T5RelativeEmbedding._relative_position_bucket, T5Encoder.forward), never from
ref/lib/t5.c. Functional: every function takes the state dict `sd` (official
tensor names -> tensors) and a Config derived from the weights. No batch
dimension. The goldens run it in float64 (weights as stored, widened).

Two forms of the encoder:
- encode(sd, cfg, ids): only the real tokens (what t2v computes);
- encode_padded(sd, cfg, ids, text_len): the official form, ids padded with
  PAD (0) to text_len and a key mask whose masked entries get their bias
  *set* to the most negative finite value (T5Attention.forward).

cfg.precision = "bf16" rounds the operands of every linear layer and of the
attention products to bf16 where t2v's `--precision bf16` rounds them
(reference/bf16.py); norms, softmax and residuals stay float64.
"""
import math

import torch

from . import bf16 as bf

EPS = 1e-6          # T5LayerNorm eps (docs/MODEL.md 5.1)
MAX_DISTANCE = 128  # T5RelativeEmbedding max_dist (docs/MODEL.md 5.2)


class Config:
    """Hyper-parameters read off the tensor shapes (docs/MODEL.md 5.1, 5.4)."""

    def __init__(self, sd):
        self.vocab, self.dim = sd["token_embedding.weight"].shape
        n = 0
        while "blocks.%d.norm1.weight" % n in sd:
            n += 1
        self.num_layers = n
        self.dim_attn = sd["blocks.0.attn.q.weight"].shape[0]
        self.dim_ffn = sd["blocks.0.ffn.fc1.weight"].shape[0]
        self.num_buckets, self.num_heads = sd["blocks.0.pos_embedding.embedding.weight"].shape
        self.head_dim = self.dim_attn // self.num_heads

    def __repr__(self):
        return str(self.__dict__)


def tensor_shapes(cfg):
    """name -> shape of every tensor of the official checkpoint (docs/MODEL.md 5.4)."""
    d, a, f = cfg.dim, cfg.dim_attn, cfg.dim_ffn
    out = {"token_embedding.weight": (cfg.vocab, d)}
    for i in range(cfg.num_layers):
        p = "blocks.%d." % i
        out[p + "norm1.weight"] = (d,)
        out[p + "attn.q.weight"] = (a, d)
        out[p + "attn.k.weight"] = (a, d)
        out[p + "attn.v.weight"] = (a, d)
        out[p + "attn.o.weight"] = (d, a)
        out[p + "norm2.weight"] = (d,)
        out[p + "ffn.gate.0.weight"] = (f, d)
        out[p + "ffn.fc1.weight"] = (f, d)
        out[p + "ffn.fc2.weight"] = (d, f)
        out[p + "pos_embedding.embedding.weight"] = (cfg.num_buckets, cfg.num_heads)
    out["norm.weight"] = (d,)
    return out


# --- components (docs/MODEL.md 5.2) ------------------------------------------------

def t5_layer_norm(x, weight):
    """T5LayerNorm: RMS norm, no mean subtraction, no bias."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def relative_position_bucket(rel_pos, num_buckets, max_dist=MAX_DISTANCE):
    """T5RelativeEmbedding._relative_position_bucket, bidirectional, as the
    official code computes it: the log term in float32, truncated by .long()."""
    num_buckets //= 2
    rel_buckets = (rel_pos > 0).long() * num_buckets
    rel_pos = torch.abs(rel_pos)
    max_exact = num_buckets // 2
    rel_pos_large = max_exact + (torch.log(rel_pos.float() / max_exact) /
                                 math.log(max_dist / max_exact) *
                                 (num_buckets - max_exact)).long()
    rel_pos_large = torch.min(rel_pos_large, torch.full_like(rel_pos_large, num_buckets - 1))
    return rel_buckets + torch.where(rel_pos < max_exact, rel_pos, rel_pos_large)


def position_bias(emb, lq, lk):
    """T5RelativeEmbedding.forward: [n_heads, lq, lk], bias[h, i, j] = E[bucket(j - i), h]."""
    rel_pos = torch.arange(lk).unsqueeze(0) - torch.arange(lq).unsqueeze(1)
    buckets = relative_position_bucket(rel_pos, emb.shape[0])
    return emb[buckets].permute(2, 0, 1).contiguous()


def mm(cfg, x, W):
    """x @ W^T (a bias-free linear), in cfg's precision."""
    return bf.linear(x, W) if is_bf16(cfg) else x @ W.t()


def is_bf16(cfg):
    return getattr(cfg, "precision", "fp32") == "bf16"


def attention(sd, p, cfg, x, pos_bias, mask):
    """T5Attention.forward: no 1/sqrt(d) scaling; masked keys' bias is set
    (masked_fill) to the most negative finite value of the dtype."""
    L, n, c = x.shape[0], cfg.num_heads, cfg.head_dim
    q = mm(cfg, x, sd[p + "attn.q.weight"]).view(L, n, c)
    k = mm(cfg, x, sd[p + "attn.k.weight"]).view(L, n, c)
    v = mm(cfg, x, sd[p + "attn.v.weight"]).view(L, n, c)
    attn_bias = x.new_zeros(n, L, L) + pos_bias
    if mask is not None:
        attn_bias.masked_fill_(mask.view(1, 1, L) == 0, torch.finfo(x.dtype).min)
    if is_bf16(cfg):
        out = bf.attention_heads(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), 1.0, attn_bias)
        return mm(cfg, out.transpose(0, 1).reshape(L, n * c), sd[p + "attn.o.weight"])
    attn = torch.einsum("inc,jnc->nij", q, k) + attn_bias
    attn = torch.softmax(attn, dim=-1)
    out = torch.einsum("nij,jnc->inc", attn, v).reshape(L, n * c)
    return out @ sd[p + "attn.o.weight"].t()


def feed_forward(sd, p, cfg, x):
    """T5FeedForward: fc2( fc1(x) * gelu_tanh(gate(x)) ), GELU on the gate branch."""
    h = mm(cfg, x, sd[p + "ffn.fc1.weight"]) * gelu_tanh(mm(cfg, x, sd[p + "ffn.gate.0.weight"]))
    return mm(cfg, h, sd[p + "ffn.fc2.weight"])


def block(sd, i, cfg, x, mask=None):
    """T5SelfAttention (one encoder layer) with its own relative position bias."""
    p = "blocks.%d." % i
    e = position_bias(sd[p + "pos_embedding.embedding.weight"], x.shape[0], x.shape[0])
    x = x + attention(sd, p, cfg, t5_layer_norm(x, sd[p + "norm1.weight"]), e, mask)
    x = x + feed_forward(sd, p, cfg, t5_layer_norm(x, sd[p + "norm2.weight"]))
    return x


# --- encoder (docs/MODEL.md 5.2, 5.3) ----------------------------------------------

def encode(sd, cfg, ids, mask=None, layers=None):
    """T5Encoder.forward on one sequence. ids: int64 [L]. Returns context
    [L, dim]; when `layers` is a list, appends every block's output."""
    x = sd["token_embedding.weight"][ids]
    for i in range(cfg.num_layers):
        x = block(sd, i, cfg, x, mask)
        if layers is not None:
            layers.append(x)
    return t5_layer_norm(x, sd["norm.weight"])


def encode_padded(sd, cfg, ids, text_len, layers=None):
    """The official form: pad with PAD = 0 to text_len, key mask 1 on the real
    tokens. Returns all text_len rows (the pipeline keeps the first len(ids))."""
    L = ids.shape[0]
    padded = torch.zeros(text_len, dtype=torch.int64)
    padded[:L] = ids
    mask = torch.zeros(text_len, dtype=torch.int64)
    mask[:L] = 1
    return encode(sd, cfg, padded, mask, layers)
