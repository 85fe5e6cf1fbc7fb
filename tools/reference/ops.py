"""Float64 PyTorch reference for ref/lib/ops.c (same names as ops.h). Written
from the definitions in ops.h and docs/MODEL.md, independent of the C code.
Every function takes and returns torch.float64 tensors."""
import math

import torch
import torch.nn.functional as F


def gemm(transA, transB, alpha, A, B, beta, C):
    """C = alpha * op(A) @ op(B) + beta * C (cblas semantics; beta == 0 ignores C)."""
    a = A.t() if transA else A
    b = B.t() if transB else B
    out = alpha * (a @ b)
    if beta != 0.0:
        out = out + beta * C
    return out


def linear_forward(x, W, b=None):
    """PyTorch Linear: x[M,K] W[N,K]^T + b[N]."""
    y = x @ W.t()
    return y + b if b is not None else y


def layernorm_forward(x, weight, bias, eps):
    """LayerNorm over the last dim, biased variance; weight/bias may be None."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rmsnorm_forward(x, weight, eps):
    """x / sqrt(mean(x^2) + eps) * weight (docs/MODEL.md 2.4)."""
    y = x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps)
    return y * weight if weight is not None else y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def silu(x):
    return x * torch.sigmoid(x)


def softmax(x):
    return torch.softmax(x, dim=-1)


def rope_apply(x, cos_t, sin_t):
    """x[N, H, d], interleaved pairs (x[2j], x[2j+1]) as complex numbers
    multiplied by cos + i sin (docs/MODEL.md 2.5); cos/sin [N, d/2]."""
    N, H, d = x.shape
    xc = torch.view_as_complex(x.reshape(N, H, d // 2, 2).contiguous())
    f = torch.complex(cos_t, sin_t).unsqueeze(1)  # [N, 1, d/2]
    return torch.view_as_real(xc * f).reshape(N, H, d)


def attention(q, k, v, H, scale, relbias=None):
    """q[Nq, H*d], k/v[Nk, H*d]; softmax(scale q k^T + bias) v per head.
    relbias[H, Nq+Nk-1]: logit (i, j) gets relbias[h, (j - i) + Nq - 1]."""
    Nq, Nk = q.shape[0], k.shape[0]
    d = q.shape[1] // H
    qh = q.reshape(Nq, H, d).transpose(0, 1)  # [H, Nq, d]
    kh = k.reshape(Nk, H, d).transpose(0, 1)
    vh = v.reshape(Nk, H, d).transpose(0, 1)
    logits = scale * (qh @ kh.transpose(1, 2))  # [H, Nq, Nk]
    if relbias is not None:
        i = torch.arange(Nq).unsqueeze(1)
        j = torch.arange(Nk).unsqueeze(0)
        logits = logits + relbias[:, (j - i) + Nq - 1]
    p = torch.softmax(logits, dim=-1)
    return (p @ vh).transpose(0, 1).reshape(Nq, H * d)


def conv3d(x, w, b, kt, kh, kw, st, sh, sw, pt0, pt1, ph0, ph1, pw0, pw1):
    """x[Cin, T, H, W], w[Cout, Cin, kt, kh, kw]: explicit zero padding per
    side, then a valid strided Conv3d."""
    assert tuple(w.shape[2:]) == (kt, kh, kw)
    xp = F.pad(x.unsqueeze(0), (pw0, pw1, ph0, ph1, pt0, pt1))
    return F.conv3d(xp, w, b, stride=(st, sh, sw))[0]
