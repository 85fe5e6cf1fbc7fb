#!/usr/bin/python3
"""GGUF (ggml's single-file format) with numpy only: a writer, random valid
quantized blocks, and a dequantizer written from the format's description
(docs/GGUF.md). Used by tools/golden_gguf.py and tools/make_hostile.py.

File: b"GGUF", u32 version 3, u64 tensor count, u64 metadata count; metadata
(key string, u32 value type, value); tensor infos (name, u32 n_dims, u64
dims fastest first, u32 ggml type, u64 offset); zero padding to the alignment
(general.alignment, default 32); the data section, each tensor at an aligned
offset. Strings are u64 length + UTF-8 bytes; everything little-endian.

Block types (element e of a block; d, dmin, m are fp16; all arithmetic of a
value is float32, in the order written, which is the format's definition):

  Q8_0  32: d, int8 q[32]                         y = q d
  Q4_0  32: d, 16 bytes; q = nibble - 8           y = q d
  Q4_1  32: d, m, 16 bytes; q = nibble            y = q d + m
  Q5_0  32: d, u32 qh, 16 bytes; q = (nibble | bit e of qh << 4) - 16   y = q d
  Q5_1  32: d, m, u32 qh, 16 bytes; q = nibble | bit e of qh << 4       y = q d + m
        (nibble of element e: byte e % 16, low half for e < 16, high otherwise)
  Q2_K 256: scales[16], qs[64], d, dmin. Sub-block s = e // 16 has scale byte
        b: y = (d (b & 15)) q - dmin (b >> 4), q = 2 bits of qs[32 (e // 128)
        + e % 32] at shift 2 ((e % 128) // 32)
  Q3_K 256: hmask[32], qs[64], scales[12], d. q as Q2_K minus 4 when bit
        (e // 32) of hmask[e % 32] is clear; scale i (6 bits, minus 32): low 4
        bits = low nibble of scales[i] (i < 8) or high nibble of scales[i - 8],
        high 2 bits = bits 2 (i // 4) of scales[8 + i % 4]; y = (d s) q
  Q4_K 256: d, dmin, scales[12], qs[128]. Sub-block j = e // 32, scale sc
        and min mn of 6 bits: j < 4: scales[j] & 63, scales[j + 4] & 63;
        else (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4 and
        (scales[j + 4] >> 4) | (scales[j] >> 6) << 4. q = nibble of
        qs[32 (j // 2) + e % 32] (low for even j). y = (d sc) q - (dmin mn)
  Q5_K 256: d, dmin, scales[12], qh[32], qs[128]: Q4_K with q + 16 when bit j
        of qh[e % 32] is set
  Q6_K 256: ql[128], qh[64], int8 scales[16], d. n = e // 128, k = (e % 128)
        // 32, l = e % 32: nibble of ql[64 n + l + 32 (k % 2)] (low for k < 2),
        2 high bits = qh[32 n + l] >> 2k; q = that 6-bit value - 32;
        y = (d scales[8 n + l // 16 + 2 k]) q
"""
import struct

import numpy as np

F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 = 0, 1, 2, 3, 6, 7, 8
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16 = 10, 11, 12, 13, 14, 30
NAMES = {F32: "F32", F16: "F16", BF16: "BF16", Q8_0: "Q8_0", Q4_0: "Q4_0", Q4_1: "Q4_1", Q5_0: "Q5_0",
         Q5_1: "Q5_1", Q2_K: "Q2_K", Q3_K: "Q3_K", Q4_K: "Q4_K", Q5_K: "Q5_K", Q6_K: "Q6_K"}
BY_NAME = {v: k for k, v in NAMES.items()}
# (elements per block, bytes per block)
BLOCK = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q8_0: (32, 34), Q4_0: (32, 18), Q4_1: (32, 20),
         Q5_0: (32, 22), Q5_1: (32, 24), Q2_K: (256, 84), Q3_K: (256, 110), Q4_K: (256, 144),
         Q5_K: (256, 176), Q6_K: (256, 210)}
# fp16 fields of a block: (byte offset of d, of the second scale or None)
HALVES = {Q8_0: (0, None), Q4_0: (0, None), Q4_1: (0, 2), Q5_0: (0, None), Q5_1: (0, 2),
          Q2_K: (80, 82), Q3_K: (108, None), Q4_K: (0, 2), Q5_K: (0, 2), Q6_K: (208, None)}

# metadata value types
U8, I8, U16, I16, U32, I32, F32V, BOOL, STRING, ARRAY, U64, I64, F64V = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32V: "<f", BOOL: "<?",
           U64: "<Q", I64: "<q", F64V: "<d"}


def nbytes(gtype, n):
    bs, bb = BLOCK[gtype]
    assert n % bs == 0, (NAMES[gtype], n)
    return n // bs * bb


# --- writer ---------------------------------------------------------------------

def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == STRING:
        return _str(v)
    if vtype == ARRAY:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(_value(et, x) for x in items)
    return struct.pack(_SCALAR[vtype], v)


def write(path, tensors, metadata=(), alignment=None, version=3):
    """tensors: list of (name, ggml type, PyTorch shape, raw bytes);
    metadata: list of (key, value type, value); alignment: written as
    general.alignment when given (else the default 32 is used)."""
    meta = list(metadata)
    align = 32
    if alignment is not None:
        meta.append(("general.alignment", U32, alignment))
        align = alignment
    out = [b"GGUF", struct.pack("<IQQ", version, len(tensors), len(meta))]
    for key, vt, v in meta:
        out += [_str(key), struct.pack("<I", vt), _value(vt, v)]
    off, offsets = 0, []
    for name, gt, shape, raw in tensors:
        n = int(np.prod(shape)) if len(shape) else 1
        assert len(raw) == nbytes(gt, n), name
        offsets.append(off)
        dims = list(reversed(shape))  # ggml order: fastest first
        out += [_str(name), struct.pack("<I", len(dims)), struct.pack("<%dQ" % len(dims), *dims),
                struct.pack("<IQ", gt, off)]
        off += (len(raw) + align - 1) // align * align
    head = b"".join(out)
    head += b"\0" * ((-len(head)) % align)
    with open(path, "wb") as f:
        f.write(head)
        for (_, _, _, raw), o in zip(tensors, offsets):
            f.write(raw)
            f.write(b"\0" * ((-len(raw)) % align))


# --- plain types ------------------------------------------------------------------

def encode_plain(gtype, x):
    x = np.asarray(x, dtype=np.float32)
    if gtype == F32:
        return x.astype("<f4").tobytes()
    if gtype == F16:
        return x.astype("<f2").tobytes()
    u = x.view(np.uint32).astype(np.uint64)  # BF16: round to nearest even
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()


# --- dequantizer ------------------------------------------------------------------

def _half(b, off, ft):
    return b[:, off:off + 2].copy().view("<f2")[:, 0].astype(ft)


def _nibbles32(qs):
    """Q4/Q5 32-element blocks: [nb, 16] bytes -> [nb, 32] nibbles."""
    return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int64)


def _k4_scales(p):
    """Q4_K/Q5_K: [nb, 12] bytes -> scales, mins [nb, 8]."""
    p = p.astype(np.int64)
    sc, mn = np.zeros((p.shape[0], 8), np.int64), np.zeros((p.shape[0], 8), np.int64)
    for j in range(8):
        if j < 4:
            sc[:, j], mn[:, j] = p[:, j] & 63, p[:, j + 4] & 63
        else:
            sc[:, j] = (p[:, j + 4] & 15) | ((p[:, j - 4] >> 6) << 4)
            mn[:, j] = (p[:, j + 4] >> 4) | ((p[:, j] >> 6) << 4)
    return sc, mn


def _q3_scales(p):
    p = p.astype(np.int64)
    s = np.zeros((p.shape[0], 16), np.int64)
    for i in range(16):
        lo = p[:, i] & 15 if i < 8 else p[:, i - 8] >> 4
        hi = (p[:, 8 + i % 4] >> (2 * (i // 4))) & 3
        s[:, i] = (lo | (hi << 4)) - 32
    return s


def dequantize(gtype, raw, n, ft=np.float32):
    """n values of type gtype from raw bytes. ft=float32 evaluates each value
    as the format defines it (float32 operations in the documented order);
    ft=float64 evaluates the same expressions exactly (for a sanity check)."""
    if gtype in (F32, F16):
        return np.frombuffer(raw, "<f4" if gtype == F32 else "<f2", n).astype(ft)
    if gtype == BF16:
        u = np.frombuffer(raw, "<u2", n).astype(np.uint32) << 16
        return u.view(np.float32).astype(ft)
    bs, bb = BLOCK[gtype]
    b = np.frombuffer(raw, np.uint8, n // bs * bb).reshape(-1, bb)
    e = np.arange(bs)
    f = lambda a: np.asarray(a).astype(ft)  # noqa: E731
    if gtype == Q8_0:
        return (f(b[:, 2:].view(np.int8)) * _half(b, 0, ft)[:, None]).reshape(-1)
    if gtype in (Q4_0, Q4_1, Q5_0, Q5_1):
        qs_at = {Q4_0: 2, Q4_1: 4, Q5_0: 6, Q5_1: 8}[gtype]
        q = _nibbles32(b[:, qs_at:qs_at + 16])
        if gtype in (Q5_0, Q5_1):
            qh = b[:, qs_at - 4:qs_at].copy().view("<u4")[:, 0].astype(np.int64)
            q = q | (((qh[:, None] >> e[None, :]) & 1) << 4)
        d = _half(b, 0, ft)[:, None]
        if gtype == Q4_0:
            return (f(q - 8) * d).reshape(-1)
        if gtype == Q5_0:
            return (f(q - 16) * d).reshape(-1)
        return (f(q) * d + _half(b, 2, ft)[:, None]).reshape(-1)
    if gtype in (Q2_K, Q3_K):
        qs = b[:, 16:80] if gtype == Q2_K else b[:, 32:96]
        q = (qs[:, 32 * (e // 128) + e % 32].astype(np.int64) >> (2 * ((e % 128) // 32))) & 3
        if gtype == Q2_K:
            sc = b[:, e // 16].astype(np.int64)
            dl = _half(b, 80, ft)[:, None] * f(sc & 15)
            ml = _half(b, 82, ft)[:, None] * f(sc >> 4)
            return (dl * f(q) - ml).reshape(-1)
        hm = (b[:, e % 32].astype(np.int64) >> (e // 32)) & 1
        q = q - np.where(hm == 1, 0, 4)
        s = _q3_scales(b[:, 96:108])[:, e // 16]
        return (_half(b, 108, ft)[:, None] * f(s) * f(q)).reshape(-1)
    if gtype in (Q4_K, Q5_K):
        qs = b[:, 16:144] if gtype == Q4_K else b[:, 48:176]
        j = e // 32
        byte = qs[:, 32 * (j // 2) + e % 32].astype(np.int64)
        q = np.where(j % 2 == 0, byte & 15, byte >> 4)
        if gtype == Q5_K:
            q = q + 16 * ((b[:, 16 + e % 32].astype(np.int64) >> j) & 1)
        sc, mn = _k4_scales(b[:, 4:16])
        d1 = _half(b, 0, ft)[:, None] * f(sc[:, j])
        m1 = _half(b, 2, ft)[:, None] * f(mn[:, j])
        return (d1 * f(q) - m1).reshape(-1)
    if gtype == Q6_K:
        nn, k, l = e // 128, (e % 128) // 32, e % 32
        lo = b[:, 64 * nn + l + 32 * (k % 2)].astype(np.int64)
        nib = np.where(k < 2, lo & 15, lo >> 4)
        hi = (b[:, 128 + 32 * nn + l].astype(np.int64) >> (2 * k)) & 3
        q = (nib | (hi << 4)) - 32
        sc = b[:, 192:208].view(np.int8).astype(np.int64)[:, 8 * nn + l // 16 + 2 * k]
        return (_half(b, 208, ft)[:, None] * f(sc) * f(q)).reshape(-1)
    raise ValueError("unsupported type %d" % gtype)


# --- random valid blocks ----------------------------------------------------------

def _set_half(b, off, vals):
    b[:, off:off + 2] = np.asarray(vals, "<f2").reshape(-1, 1).view(np.uint8).reshape(-1, 2)


def random_blocks(gtype, n, rng, std=0.05, specials=False):
    """Bytes of n values of quantized type gtype: random quants and scale
    bytes, fp16 scales drawn so the values have about the given std and mean
    about 0. specials: the first blocks get d = 0, a negative d, a subnormal
    fp16 d and the largest fp16 d."""
    bs, bb = BLOCK[gtype]
    nb = n // bs
    b = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
    doff, moff = HALVES[gtype]
    if nb > 4096:  # scales fitted on a sample, then drawn for every block
        head = np.frombuffer(random_blocks(gtype, 4096 * bs, rng, std), np.uint8).reshape(4096, bb)
        d = np.asarray(head[:, doff:doff + 2]).copy().view("<f2")[:, 0]
        _set_half(b, doff, d[rng.integers(0, 4096, nb)])
        if moff is not None:
            m = np.asarray(head[:, moff:moff + 2]).copy().view("<f2")[:, 0]
            _set_half(b, moff, m[rng.integers(0, 4096, nb)])
        return b.tobytes()
    u1 = rng.uniform(0.5, 1.5, nb)
    u2 = rng.uniform(0.5, 1.5, nb)
    sign = np.where(rng.integers(0, 2, nb) == 1, 1.0, -1.0)
    if gtype in (Q8_0, Q4_0, Q5_0, Q6_K, Q3_K):  # symmetric: d alone
        _set_half(b, doff, np.ones(nb))
        a = dequantize(gtype, b.tobytes(), n, np.float64).reshape(nb, bs)
        c = std / a.std()
        _set_half(b, doff, c * u1 * (sign if bs == 32 else 1.0))
    else:  # y = d A + m B: B is a constant for Q4_1/Q5_1, a min for the K types
        _set_half(b, doff, np.ones(nb))
        _set_half(b, moff, np.zeros(nb))
        a = dequantize(gtype, b.tobytes(), n, np.float64).reshape(nb, bs)
        if bs == 32:
            c = std / a.std()
            _set_half(b, doff, c * u1 * sign)
            _set_half(b, moff, -c * u2 * sign * a.mean(axis=1) * 0.9)
        else:
            _set_half(b, doff, np.zeros(nb))
            _set_half(b, moff, np.ones(nb))
            m = dequantize(gtype, b.tobytes(), n, np.float64).reshape(nb, bs)  # -min terms
            r = a.mean() / -m.mean() if m.mean() != 0 else 0.0
            c = std / (a - r * m).std()
            _set_half(b, doff, c * u1)
            _set_half(b, moff, c * r * u2)
    if specials and nb >= 4:
        _set_half(b[0:1], doff, [0.0])
        _set_half(b[1:2], doff, [-abs(float(np.asarray(b[1, doff:doff + 2]).view("<f2")[0])) or -0.01])
        b[2, doff:doff + 2] = [3, 0]  # fp16 0x0003: a subnormal
        _set_half(b[3:4], doff, [65504.0])
    return b.tobytes()
