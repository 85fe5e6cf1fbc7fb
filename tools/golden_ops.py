#!/usr/bin/python3
"""Goldens for the kernels of ref/lib/ops.c, from the float64 PyTorch reference
tools/reference/ops.py. Inputs are drawn in float64 with fixed seeds and
rounded to float32 (or bf16/f16 for weights) first; the expected outputs are
computed in float64 from those rounded values and stored as F32. Sizes are odd
on purpose. Writes golden/ops/:

  gemm.safetensors       A [M*K] and B [K*N] flat (read as [M,K]/[K,M] and
                         [K,N]/[N,K] for the four transpose cases), C0 [M,N],
                         alpha, beta [1]; out.nn/.nt/.tn/.tt [M,N] (alpha, beta)
                         and out.nn_beta0 (beta = 0)
  linear.safetensors     x [M,K], b [N], W.f32/.bf16/.f16 [N,K], out.<dtype>
  norms.safetensors      layernorm (affine / none), rmsnorm (weight / none)
  act.safetensors        gelu_tanh, gelu_erf, silu on x; softmax on xs [N,C]
  rope.safetensors       x [N, ld] (first H*d columns are [N,H,d]), cos/sin
  attention.safetensors  cases a1..a4: q, k, v, [relbias], heads, scale, out
  conv3d.safetensors     cases c1..c5: x, w (F32/BF16/F16), [b], params, out
                         params = kt kh kw st sh sw pt0 pt1 ph0 ph1 pw0 pw1
  bf16.safetensors       `--precision bf16` (reference/bf16.py) on the inputs
                         of gemm, linear and attention above: gemm.nt
                         (A [M,K] . B [N,K]^T, no alpha/beta), linear.out.<dtype>,
                         <attention case>.out
"""
import math
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import st  # noqa: E402
from reference import bf16, ops  # noqa: E402

OUT = os.path.join(root, "golden", "ops")


class Rand:
    """float64 normals from a fixed seed, rounded to float32 on request."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def f32(self, *shape, scale=1.0, shift=0.0):
        x = torch.randn(*shape, generator=self.g, dtype=torch.float64) * scale + shift
        return x.float().double()


def f32(x):
    return x.float()


def scalar(v):
    return torch.tensor([v], dtype=torch.float32)


def gemm_case():
    r = Rand(101)
    M, N, K = 37, 53, 203
    A, B, C0 = r.f32(M * K), r.f32(K * N), r.f32(M, N)
    alpha, beta = 0.75, -0.5
    out = {"A": f32(A), "B": f32(B), "C0": f32(C0), "alpha": scalar(alpha), "beta": scalar(beta)}
    for ta in (0, 1):
        for tb in (0, 1):
            a = A.reshape(K, M) if ta else A.reshape(M, K)
            b = B.reshape(N, K) if tb else B.reshape(K, N)
            key = "out." + ("t" if ta else "n") + ("t" if tb else "n")
            out[key] = f32(ops.gemm(ta, tb, alpha, a, b, beta, C0))
    out["out.nn_beta0"] = f32(ops.gemm(0, 0, alpha, A.reshape(M, K), B.reshape(K, N), 0.0, None))
    return out


def linear_case():
    r = Rand(202)
    M, K, N = 19, 97, 75
    x, W, b = r.f32(M, K), r.f32(N, K, scale=0.1), r.f32(N, scale=0.5)
    out = {"x": f32(x), "b": f32(b)}
    for name, w in (("f32", W.float()), ("bf16", W.to(torch.bfloat16)), ("f16", W.to(torch.float16))):
        out["W." + name] = w
        out["out." + name] = f32(ops.linear_forward(x, w.double(), b))
    return out


def norms_case():
    r = Rand(303)
    N, C = 13, 181
    x = r.f32(N, C, scale=2.0, shift=0.7)  # a mean far from 0
    w, b = r.f32(C, scale=0.3, shift=1.0), r.f32(C, scale=0.2)
    eps_ln, eps_rms = float(torch.tensor(1e-6, dtype=torch.float32)), float(torch.tensor(1e-5, dtype=torch.float32))
    return {
        "x": f32(x), "weight": f32(w), "bias": f32(b),
        "eps_ln": scalar(eps_ln), "eps_rms": scalar(eps_rms),
        "layernorm.affine": f32(ops.layernorm_forward(x, w, b, eps_ln)),
        "layernorm.plain": f32(ops.layernorm_forward(x, None, None, eps_ln)),
        "rmsnorm.weight": f32(ops.rmsnorm_forward(x, w, eps_rms)),
        "rmsnorm.plain": f32(ops.rmsnorm_forward(x, None, eps_rms)),
    }


def act_case():
    r = Rand(404)
    x = r.f32(1001, scale=3.0)
    x[:8] = torch.tensor([0.0, -0.0, 1e-8, -1e-8, 9.5, -9.5, 30.0, -30.0], dtype=torch.float64)
    xs = r.f32(7, 301, scale=4.0, shift=2.0)
    return {
        "x": f32(x), "gelu_tanh": f32(ops.gelu_tanh(x)), "gelu_erf": f32(ops.gelu_erf(x)),
        "silu": f32(ops.silu(x)), "xs": f32(xs), "softmax": f32(ops.softmax(xs)),
    }


def rope_case():
    r = Rand(505)
    N, H, d, pad = 11, 3, 18, 5
    ld = H * d + pad
    x = r.f32(N, ld)
    pos = torch.arange(N, dtype=torch.float64).unsqueeze(1) * 3.0 + 1.0
    freqs = 1.0 / torch.pow(10000.0, torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = pos * freqs  # [N, d/2]
    cos_t, sin_t = torch.cos(ang).float().double(), torch.sin(ang).float().double()
    y = x.clone()
    y[:, :H * d] = ops.rope_apply(x[:, :H * d].reshape(N, H, d), cos_t, sin_t).reshape(N, H * d)
    return {"x": f32(x), "cos": f32(cos_t), "sin": f32(sin_t),
            "heads": torch.tensor([H], dtype=torch.int32), "out": f32(y)}


def attention_case():
    # (name, Nq, Nk, H, d, relbias, q scale): a2 Nq > Nk with bias, a3 Nk over
    # two key blocks, a4 large logits (the online max must rescale correctly).
    cases = [("a1", 37, 37, 2, 24, False, 1.0), ("a2", 61, 19, 3, 16, True, 1.0),
             ("a3", 50, 601, 2, 16, True, 1.0), ("a4", 97, 533, 1, 40, False, 4.0)]
    out = {}
    for i, (name, Nq, Nk, H, d, bias, qs) in enumerate(cases):
        r = Rand(600 + i)
        q, k, v = r.f32(Nq, H * d, scale=qs), r.f32(Nk, H * d), r.f32(Nk, H * d)
        scale = float(torch.tensor(1.0 / math.sqrt(d), dtype=torch.float32))
        rb = r.f32(H, Nq + Nk - 1, scale=2.0) if bias else None
        out.update({name + ".q": f32(q), name + ".k": f32(k), name + ".v": f32(v),
                    name + ".heads": torch.tensor([H], dtype=torch.int32),
                    name + ".scale": scalar(scale)})
        if rb is not None:
            out[name + ".relbias"] = f32(rb)
        out[name + ".out"] = f32(ops.attention(q, k, v, H, scale, rb))
    return out


def conv3d_case():
    # (name, Cin, Cout, T, H, W, params, weight dtype, bias)
    # c1 causal 3x3x3 (pt0 = 2, pt1 = 0); c2 stride 2 spatial, pad right/bottom
    # only (the VAE downsample); c3 1x1x1; c4 (3,1,1) causal; c5 (3,1,1) stride 2 in time.
    cases = [
        ("c1", 3, 5, 4, 7, 9, (3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1), torch.float32, True),
        ("c2", 4, 6, 2, 9, 11, (1, 3, 3, 1, 2, 2, 0, 0, 0, 1, 0, 1), torch.float32, False),
        ("c3", 7, 5, 3, 5, 6, (1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0), torch.bfloat16, True),
        ("c4", 4, 3, 5, 4, 5, (3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 0), torch.float16, True),
        ("c5", 3, 4, 7, 3, 5, (3, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, 0), torch.float32, True),
    ]
    out = {}
    for i, (name, Cin, Cout, T, H, W, p, wdt, bias) in enumerate(cases):
        r = Rand(700 + i)
        kt, kh, kw = p[0:3]
        x = r.f32(Cin, T, H, W)
        w = r.f32(Cout, Cin, kt, kh, kw, scale=1.0 / math.sqrt(Cin * kt * kh * kw)).to(wdt)
        b = r.f32(Cout, scale=0.5) if bias else None
        out[name + ".x"] = f32(x)
        out[name + ".w"] = w
        if b is not None:
            out[name + ".b"] = f32(b)
        out[name + ".params"] = torch.tensor(p, dtype=torch.int32)
        out[name + ".out"] = f32(ops.conv3d(x, w.double(), b, *p))
    return out


def bf16_case():
    """The bf16 path on the inputs of gemm_case, linear_case, attention_case."""
    g, lin, att = gemm_case(), linear_case(), attention_case()
    M, N, K = 37, 53, 203
    A, B = g["A"].double().reshape(M, K), g["B"].double().reshape(N, K)
    out = {"gemm.nt": f32(bf16.linear(A, B))}
    for name in ("f32", "bf16", "f16"):
        out["linear.out." + name] = f32(bf16.linear(lin["x"].double(), lin["W." + name].double(), lin["b"].double()))
    for name in ("a1", "a2", "a3", "a4"):
        H, scale = int(att[name + ".heads"][0]), float(att[name + ".scale"][0])
        q, k, v = (att[name + x].double() for x in (".q", ".k", ".v"))
        Nq, Nk, d = q.shape[0], k.shape[0], q.shape[1] // H
        rb = att.get(name + ".relbias")
        bias = None
        if rb is not None:  # logit (i, j) gets relbias[h, (j - i) + Nq - 1]
            i, j = torch.arange(Nq).unsqueeze(1), torch.arange(Nk).unsqueeze(0)
            bias = rb.double()[:, (j - i) + Nq - 1]
        heads = [x.reshape(-1, H, d).transpose(0, 1) for x in (q, k, v)]
        o = bf16.attention_heads(*heads, scale, bias)
        out[name + ".out"] = f32(o.transpose(0, 1).reshape(Nq, H * d))
    return out


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for name, fn in (("gemm", gemm_case), ("linear", linear_case), ("norms", norms_case),
                     ("act", act_case), ("rope", rope_case), ("attention", attention_case),
                     ("conv3d", conv3d_case), ("bf16", bf16_case)):
        path = os.path.join(OUT, name + ".safetensors")
        st.save(path, fn(), metadata={"generator": "tools/golden_ops.py"})
        print("wrote", os.path.relpath(path, root), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
