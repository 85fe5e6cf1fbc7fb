"""The tiny PRNG shared with tests/harness.h (prng_fill), for weights that are
generated at test time from a seed instead of being committed.

splitmix64; each draw maps its top 24 bits to u = ((x >> 40) - 2**23) / 2**23,
a float in [-1, 1) that is exact in fp32. prng_fill(seed, n, scale) returns
scale * u as a float64 numpy array (exact: scale should be a power of two).
"""
import numpy as np

MASK = (1 << 64) - 1


def prng_fill(seed, n, scale):
    # Vectorised splitmix64 in uint64 arithmetic (wraps mod 2**64 like C).
    with np.errstate(over="ignore"):
        s = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = s
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.int64) - (1 << 23)
    return float(scale) * (u.astype(np.float64) / 8388608.0)


def prng_tensor(seed, shape, scale):
    import torch
    n = 1
    for d in shape:
        n *= d
    return torch.from_numpy(prng_fill(seed, n, scale).reshape(shape))
