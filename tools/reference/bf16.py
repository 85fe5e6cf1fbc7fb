"""The rounding points of t2v's `--precision bf16` (docs/ARCHITECTURE.md,
Numerics, "bf16"), in float64. Written from that definition, not from the C
code: each operand of a linear layer or attention product is rounded to the
nearest bf16 (ties to even; a result below 2^-126 in magnitude counts as
zero, as the kernels' DAZ treats it), the products and sums are then exact
float64 (t2v sums in fp32: the difference is the tolerance).

  linear(x, W, b)  = round(x) @ round(W)^T + b
  attention        : s = scale (round(q) . round(k)) [+ bias], m = max s,
                     p = exp(s - m), l = sum p,
                     out = (round(p) @ round(v)) / l     (p rounded before
                     the division by l, as t2v rounds it)
"""
import torch

BF16_MIN_NORMAL = 2.0 ** -126


def round_bf16(x):
    """float64 -> the nearest bf16 value (round half to even), as float64."""
    m, e = torch.frexp(x)              # x = m 2^e, 0.5 <= |m| < 1
    r = torch.ldexp(torch.round(m * 256.0) / 256.0, e)  # 8 significant bits; torch.round: half to even
    return torch.where(r.abs() < BF16_MIN_NORMAL, torch.zeros_like(r), r)


def linear(x, W, b=None):
    y = round_bf16(x) @ round_bf16(W).t()
    return y + b if b is not None else y


def attention_heads(q, k, v, scale, bias=None):
    """q [n, Lq, d], k/v [n, Lk, d], bias [n, Lq, Lk] or None -> [n, Lq, d]."""
    s = scale * (round_bf16(q) @ round_bf16(k).transpose(1, 2))
    if bias is not None:
        s = s + bias
    p = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    return (round_bf16(p) @ round_bf16(v)) / p.sum(dim=-1, keepdim=True)
