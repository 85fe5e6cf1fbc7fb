"""Wan-VAE (WanVAE_ of Wan2.1), independent PyTorch reference, float64.

Written from docs/MODEL.md section 4 and the structure of the official
wan/modules/vae.py (CausalConv3d, RMS_norm, Resample, ResidualBlock,
AttentionBlock, Encoder3d, Decoder3d, WanVAE_.encode/decode). Functional:
every function takes the state dict `sd` (official tensor names -> float64
tensors). No batch dimension: tensors are [C, T, H, W].

Two formulations of the same model:
- decode_chunked / encode_chunked: the official algorithm, one chunk at a
  time with the feature cache (2 frames per causal conv, the 'Rep' marker of
  upsample3d, the 1-frame cache of downsample3d);
- decode_whole / encode_whole: the whole-sequence description of docs/MODEL.md 4.4
  (every causal conv over the full sequence; upsample3d's time_conv on the
  frames after frame 0; downsample3d = [f0, conv(f0,f1,f2), conv(f2,f3,f4)..]).
tools/golden_vae.py asserts the two agree.

Within `with bf16_products():` every convolution and the middle attention's
products take bf16 operands, where t2v's `--precision bf16` rounds them
(docs/ARCHITECTURE.md, Numerics, "bf16", VAE): the input of each
convolution (after its zero padding) and its weight are rounded to bf16
(reference/bf16.py), the sum and the bias are float64; the attention's
to_qkv and proj as bf16 linears, its QK^T and PV as bf16.attention_heads.
Norms, SiLU, upsampling, residual adds and the softmax stay float64 here
(fp32 in t2v).
"""
import contextlib

import torch
import torch.nn.functional as F

from . import bf16 as bf

CACHE_T = 2

# docs/MODEL.md 4.5, z_dim 16
MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715,
        0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652,
       1.5579, 1.6382, 1.1253, 2.8251, 1.9160]


def scale_pair():
    """(mean, 1/std) as float32 tensors, as WanVAE keeps them, widened."""
    mean = torch.tensor(MEAN, dtype=torch.float32)
    inv_std = 1.0 / torch.tensor(STD, dtype=torch.float32)
    return mean.double(), inv_std.double()


_BF16 = [False]  # inside bf16_products()


@contextlib.contextmanager
def bf16_products():
    """The convolutions and attention products of the code inside take bf16 operands."""
    _BF16[0] = True
    try:
        yield
    finally:
        _BF16[0] = False


def _ops(x, w):
    """A product's operands: as they are, or rounded to bf16 inside bf16_products()."""
    return (bf.round_bf16(x), bf.round_bf16(w)) if _BF16[0] else (x, w)


def conv3d(x, w, b, **kw):
    x, w = _ops(x, w)
    return F.conv3d(x, w, b, **kw)


def conv2d(x, w, b, **kw):
    x, w = _ops(x, w)
    return F.conv2d(x, w, b, **kw)


# --- structure (official Encoder3d / Decoder3d __init__) ---------------------

def decoder_layers(dim, dim_mult=(1, 2, 4, 4), num_res_blocks=2,
                   temperal_upsample=(True, True, False)):
    """[(kind, in, out)] of decoder.upsamples, kind in res/up2d/up3d."""
    dims = [dim * u for u in [dim_mult[-1]] + list(dim_mult[::-1])]
    out = []
    for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
        if i in (1, 2, 3):
            in_dim = in_dim // 2
        for _ in range(num_res_blocks + 1):
            out.append(("res", in_dim, out_dim))
            in_dim = out_dim
        if i != len(dim_mult) - 1:
            out.append(("up3d" if temperal_upsample[i] else "up2d", out_dim, out_dim // 2))
    return dims, out


def encoder_layers(dim, dim_mult=(1, 2, 4, 4), num_res_blocks=2,
                   temperal_downsample=(False, True, True)):
    dims = [dim * u for u in [1] + list(dim_mult)]
    out = []
    for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
        for _ in range(num_res_blocks):
            out.append(("res", in_dim, out_dim))
            in_dim = out_dim
        if i != len(dim_mult) - 1:
            out.append(("down3d" if temperal_downsample[i] else "down2d", out_dim, out_dim))
    return dims, out


def param_shapes(dim, z_dim=16):
    """Official names and shapes of WanVAE_(dim, z_dim), in state-dict order."""
    p = []

    def res(pre, i, o):
        p.extend([(pre + "residual.0.gamma", [i, 1, 1, 1]),
                  (pre + "residual.2.weight", [o, i, 3, 3, 3]), (pre + "residual.2.bias", [o]),
                  (pre + "residual.3.gamma", [o, 1, 1, 1]),
                  (pre + "residual.6.weight", [o, o, 3, 3, 3]), (pre + "residual.6.bias", [o])])
        if i != o:
            p.extend([(pre + "shortcut.weight", [o, i, 1, 1, 1]), (pre + "shortcut.bias", [o])])

    def attn(pre, c):
        p.extend([(pre + "norm.gamma", [c, 1, 1]), (pre + "to_qkv.weight", [3 * c, c, 1, 1]),
                  (pre + "to_qkv.bias", [3 * c]), (pre + "proj.weight", [c, c, 1, 1]),
                  (pre + "proj.bias", [c])])

    def middle(pre, c):
        res(pre + "middle.0.", c, c)
        attn(pre + "middle.1.", c)
        res(pre + "middle.2.", c, c)

    edims, elayers = encoder_layers(dim)
    p.extend([("encoder.conv1.weight", [edims[0], 3, 3, 3, 3]), ("encoder.conv1.bias", [edims[0]])])
    for k, (kind, i, o) in enumerate(elayers):
        pre = "encoder.downsamples.%d." % k
        if kind == "res":
            res(pre, i, o)
        else:
            p.extend([(pre + "resample.1.weight", [o, i, 3, 3]), (pre + "resample.1.bias", [o])])
            if kind == "down3d":
                p.extend([(pre + "time_conv.weight", [o, o, 3, 1, 1]), (pre + "time_conv.bias", [o])])
    c = edims[-1]
    middle("encoder.", c)
    p.extend([("encoder.head.0.gamma", [c, 1, 1, 1]), ("encoder.head.2.weight", [2 * z_dim, c, 3, 3, 3]),
              ("encoder.head.2.bias", [2 * z_dim])])
    p.extend([("conv1.weight", [2 * z_dim, 2 * z_dim, 1, 1, 1]), ("conv1.bias", [2 * z_dim])])
    p.extend([("conv2.weight", [z_dim, z_dim, 1, 1, 1]), ("conv2.bias", [z_dim])])
    ddims, dlayers = decoder_layers(dim)
    p.extend([("decoder.conv1.weight", [ddims[0], z_dim, 3, 3, 3]), ("decoder.conv1.bias", [ddims[0]])])
    middle("decoder.", ddims[0])
    for k, (kind, i, o) in enumerate(dlayers):
        pre = "decoder.upsamples.%d." % k
        if kind == "res":
            res(pre, i, o)
        else:
            if kind == "up3d":
                p.extend([(pre + "time_conv.weight", [2 * i, i, 3, 1, 1]), (pre + "time_conv.bias", [2 * i])])
            p.extend([(pre + "resample.1.weight", [o, i, 3, 3]), (pre + "resample.1.bias", [o])])
    c = ddims[-1]
    p.extend([("decoder.head.0.gamma", [c, 1, 1, 1]), ("decoder.head.2.weight", [3, c, 3, 3, 3]),
              ("decoder.head.2.bias", [3])])
    return p


# --- building blocks (docs/MODEL.md 4.2) -------------------------------------------

def causal_conv3d(x, w, b, cache=None):
    """x [C,T,H,W]; w [O,C,kt,kh,kw]; padding (kt//2, kh//2, kw//2) made causal:
    T padded 2*pt in front (less the cached frames), H/W symmetric."""
    pt, ph, pw = w.shape[2] // 2, w.shape[3] // 2, w.shape[4] // 2
    front = 2 * pt
    if cache is not None and front > 0:
        x = torch.cat([cache, x], dim=1)
        front -= cache.shape[1]
    x = F.pad(x, (pw, pw, ph, ph, front, 0))
    return conv3d(x.unsqueeze(0), w, b).squeeze(0)


def rms_norm(x, gamma):
    """F.normalize over channels (eps 1e-12 on the L2 norm) * sqrt(C) * gamma."""
    c = x.shape[0]
    return F.normalize(x, dim=0, eps=1e-12) * (c ** 0.5) * gamma.reshape(c, *([1] * (x.dim() - 1)))


def attention_block(sd, pre, x):
    """Per-frame single-head self-attention over the H*W positions."""
    c, t, h, w = x.shape
    xn = rms_norm(x, sd[pre + "norm.gamma"]).permute(1, 0, 2, 3)  # [T,C,H,W]
    qkv = conv2d(xn, sd[pre + "to_qkv.weight"], sd[pre + "to_qkv.bias"])  # [T,3C,H,W]
    qkv = qkv.reshape(t, 3 * c, h * w).permute(0, 2, 1)  # [T,HW,3C]
    q, k, v = qkv.chunk(3, dim=-1)
    if _BF16[0]:
        a = bf.attention_heads(q, k, v, 1.0 / c ** 0.5)
    else:
        a = torch.softmax(q @ k.transpose(1, 2) / (c ** 0.5), dim=-1) @ v  # [T,HW,C]
    a = a.permute(0, 2, 1).reshape(t, c, h, w)
    y = conv2d(a, sd[pre + "proj.weight"], sd[pre + "proj.bias"])
    return y.permute(1, 0, 2, 3) + x


def spatial_up(sd, pre, x):
    """nearest x2 in H and W, Conv2d 3x3 pad 1, per frame. x [C,T,H,W]."""
    x = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3).permute(1, 0, 2, 3)
    y = conv2d(x, sd[pre + "resample.1.weight"], sd[pre + "resample.1.bias"], padding=1)
    return y.permute(1, 0, 2, 3)


def spatial_down(sd, pre, x):
    """zero pad right/bottom by 1, Conv2d 3x3 stride 2, per frame."""
    x = F.pad(x.permute(1, 0, 2, 3), (0, 1, 0, 1))
    y = conv2d(x, sd[pre + "resample.1.weight"], sd[pre + "resample.1.bias"], stride=2)
    return y.permute(1, 0, 2, 3)


def interleave_time(x):
    """[2C,T,H,W] -> [C,2T,H,W]: channel half 0 -> frame 2t, half 1 -> 2t+1."""
    c2, t, h, w = x.shape
    x = x.reshape(2, c2 // 2, t, h, w)
    return torch.stack((x[0], x[1]), dim=2).reshape(c2 // 2, 2 * t, h, w)


# --- the official chunked algorithm (feature cache) --------------------------

class Cache:
    """feat_cache list + feat_idx, as WanVAE_ keeps them."""

    def __init__(self):
        self.maps = {}
        self.idx = 0

    def get(self):
        return self.maps.get(self.idx)

    def put(self, v):
        self.maps[self.idx] = v
        self.idx += 1


def cached_conv(x, w, b, cache):
    """The pattern repeated in the official code around every causal conv."""
    prev = cache.get()
    cache_x = x[:, -CACHE_T:].clone()
    if cache_x.shape[1] < 2 and prev is not None:
        cache_x = torch.cat([prev[:, -1:], cache_x], dim=1)
    y = causal_conv3d(x, w, b, prev)
    cache.put(cache_x)
    return y


def res_block_c(sd, pre, x, cache):
    h = x
    if pre + "shortcut.weight" in sd:
        h = causal_conv3d(x, sd[pre + "shortcut.weight"], sd[pre + "shortcut.bias"])
    x = F.silu(rms_norm(x, sd[pre + "residual.0.gamma"]))
    x = cached_conv(x, sd[pre + "residual.2.weight"], sd[pre + "residual.2.bias"], cache)
    x = F.silu(rms_norm(x, sd[pre + "residual.3.gamma"]))
    x = cached_conv(x, sd[pre + "residual.6.weight"], sd[pre + "residual.6.bias"], cache)
    return x + h


def resample_up_c(sd, pre, kind, x, cache):
    """Resample.forward for upsample2d/3d with the feature cache: on the first
    chunk upsample3d only marks its cache 'Rep' and skips time_conv."""
    if kind == "up3d":
        prev = cache.get()
        if prev is None:
            cache.put("Rep")
        else:
            cache_x = x[:, -CACHE_T:].clone()
            if cache_x.shape[1] < 2 and not isinstance(prev, str):
                cache_x = torch.cat([prev[:, -1:], cache_x], dim=1)
            if cache_x.shape[1] < 2 and isinstance(prev, str):
                cache_x = torch.cat([torch.zeros_like(cache_x), cache_x], dim=1)
            w, b = sd[pre + "time_conv.weight"], sd[pre + "time_conv.bias"]
            x = causal_conv3d(x, w, b) if isinstance(prev, str) else causal_conv3d(x, w, b, prev)
            cache.put(cache_x)
            x = interleave_time(x)
    return spatial_up(sd, pre, x)


def _time_conv_stride2(x, w, b):
    """downsample3d's time_conv: kernel (3,1,1), stride (2,1,1), no padding."""
    return conv3d(x.unsqueeze(0), w, b, stride=(2, 1, 1)).squeeze(0)


def middle_c(sd, pre, x, cache):
    x = res_block_c(sd, pre + "middle.0.", x, cache)
    x = attention_block(sd, pre + "middle.1.", x)
    return res_block_c(sd, pre + "middle.2.", x, cache)


def head_c(sd, pre, x, cache):
    x = F.silu(rms_norm(x, sd[pre + "head.0.gamma"]))
    return cached_conv(x, sd[pre + "head.2.weight"], sd[pre + "head.2.bias"], cache)


def layer_kinds(sd, pre):
    """Kinds of decoder.upsamples.* / encoder.downsamples.*, from the names."""
    kinds, k = [], 0
    while True:
        p = "%s.%d." % (pre, k)
        if p + "residual.0.gamma" in sd:
            kinds.append("res")
        elif p + "resample.1.weight" in sd:
            t = "3d" if p + "time_conv.weight" in sd else "2d"
            kinds.append(("up" if pre.endswith("upsamples") else "down") + t)
        else:
            return kinds
        k += 1


def decoder_chunk(sd, x, cache):
    """Decoder3d.forward on one chunk with the feature cache."""
    x = cached_conv(x, sd["decoder.conv1.weight"], sd["decoder.conv1.bias"], cache)
    x = middle_c(sd, "decoder.", x, cache)
    for k, kind in enumerate(layer_kinds(sd, "decoder.upsamples")):
        pre = "decoder.upsamples.%d." % k
        x = res_block_c(sd, pre, x, cache) if kind == "res" else resample_up_c(sd, pre, kind, x, cache)
    return head_c(sd, "decoder.", x, cache)


def encoder_chunk(sd, x, cache):
    x = cached_conv(x, sd["encoder.conv1.weight"], sd["encoder.conv1.bias"], cache)
    for k, kind in enumerate(layer_kinds(sd, "encoder.downsamples")):
        pre = "encoder.downsamples.%d." % k
        if kind == "res":
            x = res_block_c(sd, pre, x, cache)
        else:
            x = resample_down_c(sd, pre, kind, x, cache)
    x = middle_c(sd, "encoder.", x, cache)
    return head_c(sd, "encoder.", x, cache)


def resample_down_c(sd, pre, kind, x, cache):
    x = spatial_down(sd, pre, x)
    if kind == "down3d":
        prev = cache.get()
        if prev is None:
            cache.put(x.clone())
        else:
            cache_x = x[:, -1:].clone()
            x = _time_conv_stride2(torch.cat([prev[:, -1:], x], dim=1), sd[pre + "time_conv.weight"],
                                   sd[pre + "time_conv.bias"])
            cache.put(cache_x)
    return x


def denormalize(z):
    """WanVAE_.decode: z / (1/std) + mean (docs/MODEL.md 4.5)."""
    mean, inv_std = scale_pair()
    c = z.shape[0]
    return z / inv_std.reshape(c, 1, 1, 1) + mean.reshape(c, 1, 1, 1)


def decode_chunked(sd, z):
    """z [16,T,h,w] normalised -> video [3,1+4(T-1),8h,8w] clamped (WanVAE.decode)."""
    x = causal_conv3d(denormalize(z), sd["conv2.weight"], sd["conv2.bias"])
    cache, outs = Cache(), []
    for i in range(z.shape[1]):
        cache.idx = 0
        outs.append(decoder_chunk(sd, x[:, i:i + 1], cache))
    return torch.cat(outs, dim=1).clamp(-1, 1)


def encode_chunked(sd, video):
    """video [3,F,H,W] -> normalised mu [16,1+(F-1)//4,H/8,W/8] (WanVAE.encode)."""
    cache, outs = Cache(), []
    n = 1 + (video.shape[1] - 1) // 4
    for i in range(n):
        cache.idx = 0
        chunk = video[:, :1] if i == 0 else video[:, 1 + 4 * (i - 1):1 + 4 * i]
        outs.append(encoder_chunk(sd, chunk, cache))
    out = causal_conv3d(torch.cat(outs, dim=1), sd["conv1.weight"], sd["conv1.bias"])
    mu = out[:out.shape[0] // 2]
    mean, inv_std = scale_pair()
    c = mu.shape[0]
    return (mu - mean.reshape(c, 1, 1, 1)) * inv_std.reshape(c, 1, 1, 1)


# --- the whole-sequence formulation (docs/MODEL.md 4.4) ----------------------------

def res_block(sd, pre, x):
    h = x
    if pre + "shortcut.weight" in sd:
        h = causal_conv3d(x, sd[pre + "shortcut.weight"], sd[pre + "shortcut.bias"])
    x = F.silu(rms_norm(x, sd[pre + "residual.0.gamma"]))
    x = causal_conv3d(x, sd[pre + "residual.2.weight"], sd[pre + "residual.2.bias"])
    x = F.silu(rms_norm(x, sd[pre + "residual.3.gamma"]))
    x = causal_conv3d(x, sd[pre + "residual.6.weight"], sd[pre + "residual.6.bias"])
    return x + h


def upsample(sd, pre, kind, x):
    if kind == "up3d" and x.shape[1] > 1:
        rest = causal_conv3d(x[:, 1:], sd[pre + "time_conv.weight"], sd[pre + "time_conv.bias"])
        x = torch.cat([x[:, :1], interleave_time(rest)], dim=1)
    return spatial_up(sd, pre, x)


def downsample(sd, pre, kind, x):
    x = spatial_down(sd, pre, x)
    if kind == "down3d" and x.shape[1] > 1:
        rest = _time_conv_stride2(x, sd[pre + "time_conv.weight"], sd[pre + "time_conv.bias"])
        x = torch.cat([x[:, :1], rest], dim=1)
    return x


def middle(sd, pre, x, stages):
    x = res_block(sd, pre + "middle.0.", x)
    stages[pre + "middle.0"] = x
    x = attention_block(sd, pre + "middle.1.", x)
    stages[pre + "middle.1"] = x
    x = res_block(sd, pre + "middle.2.", x)
    stages[pre + "middle.2"] = x
    return x


def decode_whole(sd, z, stages=None):
    """Same result as decode_chunked; fills `stages` with every module's output."""
    stages = {} if stages is None else stages
    x = causal_conv3d(denormalize(z), sd["conv2.weight"], sd["conv2.bias"])
    stages["conv2"] = x
    x = causal_conv3d(x, sd["decoder.conv1.weight"], sd["decoder.conv1.bias"])
    stages["decoder.conv1"] = x
    x = middle(sd, "decoder.", x, stages)
    for k, kind in enumerate(layer_kinds(sd, "decoder.upsamples")):
        pre = "decoder.upsamples.%d." % k
        x = res_block(sd, pre, x) if kind == "res" else upsample(sd, pre, kind, x)
        stages["decoder.upsamples.%d" % k] = x
    x = F.silu(rms_norm(x, sd["decoder.head.0.gamma"]))
    x = causal_conv3d(x, sd["decoder.head.2.weight"], sd["decoder.head.2.bias"])
    stages["decoder.head"] = x
    return x.clamp(-1, 1)


def encode_whole(sd, video, stages=None):
    stages = {} if stages is None else stages
    n = 1 + (video.shape[1] - 1) // 4
    x = video[:, :1 + 4 * (n - 1)]
    x = causal_conv3d(x, sd["encoder.conv1.weight"], sd["encoder.conv1.bias"])
    stages["encoder.conv1"] = x
    for k, kind in enumerate(layer_kinds(sd, "encoder.downsamples")):
        pre = "encoder.downsamples.%d." % k
        x = res_block(sd, pre, x) if kind == "res" else downsample(sd, pre, kind, x)
        stages["encoder.downsamples.%d" % k] = x
    x = middle(sd, "encoder.", x, stages)
    x = F.silu(rms_norm(x, sd["encoder.head.0.gamma"]))
    x = causal_conv3d(x, sd["encoder.head.2.weight"], sd["encoder.head.2.bias"])
    stages["encoder.head"] = x
    out = causal_conv3d(x, sd["conv1.weight"], sd["conv1.bias"])
    stages["conv1"] = out
    mu = out[:out.shape[0] // 2]
    mean, inv_std = scale_pair()
    c = mu.shape[0]
    return (mu - mean.reshape(c, 1, 1, 1)) * inv_std.reshape(c, 1, 1, 1)
