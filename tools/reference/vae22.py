"""Wan2.2 VAE (WanVAE_ of the official wan/modules/vae2_2.py), independent
PyTorch reference, float64. No batch dimension: tensors are [C, T, H, W].

Written from the official design (docs/ARCHITECTURE.md, Wan2.2 section):
the Wan2.1 building blocks (causal conv, RMS_norm, residual block,
attention, resamples, the 2-frame feature cache) reused from vae.py, with:
- patchify: pixels folded 2x2 into channels before the encoder (3 -> 12),
  unfolded after the decoder; channel = c*4 + r*2 + q for the pixel
  (2i+q, 2j+r): the width offset r before the height offset q;
- the residual blocks of a stage grouped (Down_ResidualBlock /
  Up_ResidualBlock) with a parameter-free shortcut over the whole group:
  AvgDown3D (average of channel groups over the folded 2x(2x2) neighbourhood,
  the time axis zero-padded in front to a multiple of its factor) in every
  encoder group, DupUp3D (repeat, unfold; the first chunk drops its first
  factor_t-1 frames) in the decoder groups that upsample;
- upsamples keep their channels (Wan2.1 halves them);
- the decoder has its own base width (dec_dim 256 vs dim 160);
- a 48-channel latent with its own hard-coded mean/std.

decode_chunked / encode_chunked follow the official chunk loop (1 frame,
then 4 per chunk for the encoder; 1 latent frame per chunk for the decoder);
decode_whole / encode_whole run the whole sequence at once.
tools/golden_vae22.py asserts the two agree.
"""
import torch
import torch.nn.functional as F

from .vae import (Cache, attention_block, cached_conv, causal_conv3d, downsample, head_c, middle_c,
                  res_block, res_block_c, resample_down_c, resample_up_c, rms_norm, upsample)

PATCH = 2

# official Wan2_2_VAE.__init__, z_dim 48
MEAN = [-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813,
        0.0891, 0.1570, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108,
        -0.2158, 0.2502, -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230, -0.0313,
        -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944,
        0.3573, -0.0548, -0.1681, -0.0667]
STD = [0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
       0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
       0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
       0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744]
Z_DIM = 48


def scale_pair():
    """(mean, 1/std) computed in float32 (as the official code keeps them), widened."""
    mean = torch.tensor(MEAN, dtype=torch.float32)
    inv_std = 1.0 / torch.tensor(STD, dtype=torch.float32)
    return mean.double(), inv_std.double()


# --- pixel folding ----------------------------------------------------------

def patchify(x, p=PATCH):
    """[C,F,H,W] -> [C*p*p,F,H/p,W/p]; channel (c, r, q) = c*p*p + r*p + q
    holds pixel (i*p+q, j*p+r)."""
    c, f, hh, ww = x.shape
    x = x.reshape(c, f, hh // p, p, ww // p, p)        # c f i q j r
    return x.permute(0, 5, 3, 1, 2, 4).reshape(c * p * p, f, hh // p, ww // p)


def unpatchify(x, p=PATCH):
    cpp, f, h, w = x.shape
    x = x.reshape(cpp // (p * p), p, p, f, h, w)       # c r q f i j
    return x.permute(0, 3, 4, 2, 5, 1).reshape(cpp // (p * p), f, h * p, w * p)


# --- the group shortcuts ----------------------------------------------------

def avg_down(x, cout, ft, fs):
    """AvgDown3D: zero-pad time in front to a multiple of ft, fold each
    ft x fs x fs neighbourhood into channels (c, dt, dh, dw), average
    consecutive groups of C*ft*fs*fs/cout folded channels."""
    c, t, h, w = x.shape
    x = F.pad(x, (0, 0, 0, 0, (ft - t % ft) % ft, 0))
    t = x.shape[1]
    x = x.reshape(c, t // ft, ft, h // fs, fs, w // fs, fs).permute(0, 2, 4, 6, 1, 3, 5)
    x = x.reshape(cout, c * ft * fs * fs // cout, t // ft, h // fs, w // fs)
    return x.mean(dim=1)


def dup_up(x, cout, ft, fs, first_chunk):
    """DupUp3D: repeat each channel cout*ft*fs*fs/C times, unfold the folded
    channels (c, dt, dh, dw) into time and space; the first chunk keeps only
    its last frame per input frame (drops ft-1 frames)."""
    c, t, h, w = x.shape
    x = x.repeat_interleave(cout * ft * fs * fs // c, dim=0)
    x = x.reshape(cout, ft, fs, fs, t, h, w).permute(0, 4, 1, 5, 2, 6, 3)
    x = x.reshape(cout, t * ft, h * fs, w * fs)
    return x[:, ft - 1:] if first_chunk else x


# --- structure (official Encoder3d / Decoder3d) ------------------------------

def encoder_groups(dim, dim_mult=(1, 2, 4, 4), num_res_blocks=2, tdown=(False, True, True)):
    """[(in, out, ft, fs, resample kind or None)] of encoder.downsamples."""
    dims = [dim * u for u in [1] + list(dim_mult)]
    n, g = len(dim_mult), []
    for i in range(n):
        t = i < len(tdown) and tdown[i]
        kind = None if i == n - 1 else ("down3d" if t else "down2d")
        g.append((dims[i], dims[i + 1], 2 if t else 1, 2 if i != n - 1 else 1, kind, num_res_blocks))
    return dims, g


def decoder_groups(dec_dim, dim_mult=(1, 2, 4, 4), num_res_blocks=2, tup=(True, True, False)):
    dims = [dec_dim * u for u in [dim_mult[-1]] + list(dim_mult[::-1])]
    n, g = len(dim_mult), []
    for i in range(n):
        t = i < len(tup) and tup[i]
        kind = None if i == n - 1 else ("up3d" if t else "up2d")
        g.append((dims[i], dims[i + 1], 2 if t else 1, 2 if i != n - 1 else 1, kind, num_res_blocks + 1))
    return dims, g


def param_shapes(dim, dec_dim, z_dim=Z_DIM):
    """Official names and shapes of the Wan2.2 WanVAE_(dim, dec_dim, z_dim)."""
    p = []

    def res(pre, i, o):
        p.extend([(pre + "residual.0.gamma", [i, 1, 1, 1]),
                  (pre + "residual.2.weight", [o, i, 3, 3, 3]), (pre + "residual.2.bias", [o]),
                  (pre + "residual.3.gamma", [o, 1, 1, 1]),
                  (pre + "residual.6.weight", [o, o, 3, 3, 3]), (pre + "residual.6.bias", [o])])
        if i != o:
            p.extend([(pre + "shortcut.weight", [o, i, 1, 1, 1]), (pre + "shortcut.bias", [o])])

    def middle(pre, c):
        res(pre + "middle.0.", c, c)
        p.extend([(pre + "middle.1.norm.gamma", [c, 1, 1]), (pre + "middle.1.to_qkv.weight", [3 * c, c, 1, 1]),
                  (pre + "middle.1.to_qkv.bias", [3 * c]), (pre + "middle.1.proj.weight", [c, c, 1, 1]),
                  (pre + "middle.1.proj.bias", [c])])
        res(pre + "middle.2.", c, c)

    def groups(pre, gs):
        for i, (ci, co, ft, fs, kind, nres) in enumerate(gs):
            for j in range(nres):
                res("%s.%d.%s.%d." % (pre, i, pre.split(".")[1], j), ci if j == 0 else co, co)
            if kind:
                q = "%s.%d.%s.%d." % (pre, i, pre.split(".")[1], nres)
                p.extend([(q + "resample.1.weight", [co, co, 3, 3]), (q + "resample.1.bias", [co])])
                if kind == "down3d":
                    p.extend([(q + "time_conv.weight", [co, co, 3, 1, 1]), (q + "time_conv.bias", [co])])
                if kind == "up3d":
                    p.extend([(q + "time_conv.weight", [2 * co, co, 3, 1, 1]), (q + "time_conv.bias", [2 * co])])

    cp = 3 * PATCH * PATCH
    edims, eg = encoder_groups(dim)
    p.extend([("encoder.conv1.weight", [edims[0], cp, 3, 3, 3]), ("encoder.conv1.bias", [edims[0]])])
    groups("encoder.downsamples", eg)
    middle("encoder.", edims[-1])
    p.extend([("encoder.head.0.gamma", [edims[-1], 1, 1, 1]),
              ("encoder.head.2.weight", [2 * z_dim, edims[-1], 3, 3, 3]), ("encoder.head.2.bias", [2 * z_dim])])
    p.extend([("conv1.weight", [2 * z_dim, 2 * z_dim, 1, 1, 1]), ("conv1.bias", [2 * z_dim])])
    p.extend([("conv2.weight", [z_dim, z_dim, 1, 1, 1]), ("conv2.bias", [z_dim])])
    ddims, dg = decoder_groups(dec_dim)
    p.extend([("decoder.conv1.weight", [ddims[0], z_dim, 3, 3, 3]), ("decoder.conv1.bias", [ddims[0]])])
    middle("decoder.", ddims[0])
    groups("decoder.upsamples", dg)
    p.extend([("decoder.head.0.gamma", [ddims[-1], 1, 1, 1]),
              ("decoder.head.2.weight", [cp, ddims[-1], 3, 3, 3]), ("decoder.head.2.bias", [cp])])
    return p


def _groups_of(sd, half):
    """The groups of a half, read back from the state dict's names and shapes."""
    pre, sub = ("decoder.upsamples", "upsamples") if half == "dec" else ("encoder.downsamples", "downsamples")
    out, i = [], 0
    while "%s.%d.%s.0.residual.2.weight" % (pre, i, sub) in sd:
        j = 0
        while "%s.%d.%s.%d.residual.2.weight" % (pre, i, sub, j) in sd:
            j += 1
        q = "%s.%d.%s.%d." % (pre, i, sub, j)
        kind = None
        if q + "resample.1.weight" in sd:
            t = q + "time_conv.weight" in sd
            kind = ("up" if half == "dec" else "down") + ("3d" if t else "2d")
        ci = sd["%s.%d.%s.0.residual.2.weight" % (pre, i, sub)].shape[1]
        co = sd["%s.%d.%s.0.residual.2.weight" % (pre, i, sub)].shape[0]
        out.append(("%s.%d.%s." % (pre, i, sub), ci, co, j, kind))
        i += 1
    return out


def _factors(kind, last, dec):
    ft = 2 if kind in ("up3d", "down3d") else 1
    fs = 1 if last else 2
    return ft, fs


# --- the official chunked algorithm ------------------------------------------

def encoder_chunk(sd, x, cache):
    x = cached_conv(x, sd["encoder.conv1.weight"], sd["encoder.conv1.bias"], cache)
    gs = _groups_of(sd, "enc")
    for gi, (pre, ci, co, nres, kind) in enumerate(gs):
        ft, fs = _factors(kind, gi == len(gs) - 1, False)
        x_in = x
        for j in range(nres):
            x = res_block_c(sd, pre + "%d." % j, x, cache)
        if kind:
            x = resample_down_c(sd, pre + "%d." % nres, kind, x, cache)
        x = x + avg_down(x_in, co, ft, fs)
    x = middle_c(sd, "encoder.", x, cache)
    return head_c(sd, "encoder.", x, cache)


def decoder_chunk(sd, x, cache, first_chunk):
    x = cached_conv(x, sd["decoder.conv1.weight"], sd["decoder.conv1.bias"], cache)
    x = middle_c(sd, "decoder.", x, cache)
    for pre, ci, co, nres, kind in _groups_of(sd, "dec"):
        x_in = x
        for j in range(nres):
            x = res_block_c(sd, pre + "%d." % j, x, cache)
        if kind:
            x = resample_up_c(sd, pre + "%d." % nres, kind, x, cache)
            ft, fs = _factors(kind, False, True)
            x = x + dup_up(x_in, co, ft, fs, first_chunk)
    return head_c(sd, "decoder.", x, cache)


def denormalize(z):
    mean, inv_std = scale_pair()
    c = z.shape[0]
    return z / inv_std.reshape(c, 1, 1, 1) + mean.reshape(c, 1, 1, 1)


def normalize(mu):
    mean, inv_std = scale_pair()
    c = mu.shape[0]
    return (mu - mean.reshape(c, 1, 1, 1)) * inv_std.reshape(c, 1, 1, 1)


def decode_chunked(sd, z):
    """z [48,T,h,w] normalised -> video [3,1+4(T-1),16h,16w] clamped."""
    x = causal_conv3d(denormalize(z), sd["conv2.weight"], sd["conv2.bias"])
    cache, outs = Cache(), []
    for i in range(z.shape[1]):
        cache.idx = 0
        outs.append(decoder_chunk(sd, x[:, i:i + 1], cache, i == 0))
    return unpatchify(torch.cat(outs, dim=1)).clamp(-1, 1)


def encode_chunked(sd, video):
    """video [3,F,H,W] -> normalised mu [48,1+(F-1)//4,H/16,W/16]."""
    x = patchify(video)
    cache, outs = Cache(), []
    for i in range(1 + (x.shape[1] - 1) // 4):
        cache.idx = 0
        chunk = x[:, :1] if i == 0 else x[:, 1 + 4 * (i - 1):1 + 4 * i]
        outs.append(encoder_chunk(sd, chunk, cache))
    out = causal_conv3d(torch.cat(outs, dim=1), sd["conv1.weight"], sd["conv1.bias"])
    return normalize(out[:out.shape[0] // 2])


# --- the whole sequence at once ---------------------------------------------

def decode_whole(sd, z, stages=None):
    stages = {} if stages is None else stages
    x = causal_conv3d(denormalize(z), sd["conv2.weight"], sd["conv2.bias"])
    x = causal_conv3d(x, sd["decoder.conv1.weight"], sd["decoder.conv1.bias"])
    x = res_block(sd, "decoder.middle.0.", x)
    x = attention_block(sd, "decoder.middle.1.", x)
    x = res_block(sd, "decoder.middle.2.", x)
    stages["decoder.middle"] = x
    for gi, (pre, ci, co, nres, kind) in enumerate(_groups_of(sd, "dec")):
        x_in = x
        for j in range(nres):
            x = res_block(sd, pre + "%d." % j, x)
        if kind:
            x = upsample(sd, pre + "%d." % nres, kind, x)
            ft, fs = _factors(kind, False, True)
            x = x + dup_up(x_in, co, ft, fs, True)
        stages["decoder.upsamples.%d" % gi] = x
    x = F.silu(rms_norm(x, sd["decoder.head.0.gamma"]))
    x = causal_conv3d(x, sd["decoder.head.2.weight"], sd["decoder.head.2.bias"])
    stages["decoder.head"] = x
    return unpatchify(x).clamp(-1, 1)


def encode_whole(sd, video, stages=None):
    stages = {} if stages is None else stages
    x = patchify(video)
    x = x[:, :1 + 4 * ((x.shape[1] - 1) // 4)]
    x = causal_conv3d(x, sd["encoder.conv1.weight"], sd["encoder.conv1.bias"])
    gs = _groups_of(sd, "enc")
    for gi, (pre, ci, co, nres, kind) in enumerate(gs):
        ft, fs = _factors(kind, gi == len(gs) - 1, False)
        x_in = x
        for j in range(nres):
            x = res_block(sd, pre + "%d." % j, x)
        if kind:
            x = downsample(sd, pre + "%d." % nres, kind, x)
        x = x + avg_down(x_in, co, ft, fs)
        stages["encoder.downsamples.%d" % gi] = x
    x = res_block(sd, "encoder.middle.0.", x)
    x = attention_block(sd, "encoder.middle.1.", x)
    x = res_block(sd, "encoder.middle.2.", x)
    x = F.silu(rms_norm(x, sd["encoder.head.0.gamma"]))
    x = causal_conv3d(x, sd["encoder.head.2.weight"], sd["encoder.head.2.bias"])
    stages["encoder.head"] = x
    out = causal_conv3d(x, sd["conv1.weight"], sd["conv1.bias"])
    return normalize(out[:out.shape[0] // 2])
