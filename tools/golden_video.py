#!/usr/bin/python3
"""Goldens for ref/app/video.c from tools/reference/video.py. Writes golden/video/:

  to_u8.safetensors    video [3, 3, 4, 8] F32 (random values plus edge cases:
                       +-1, 0, out of range, each k/255 boundary and its fp32
                       neighbours), u8 [3, 4, 8, 3] I32 (the official fp32 result)
  preview.safetensors  latent [16, 2, 3, 5] F32, frame [1] I32,
                       rgb [3, 5, 3] F32 (float64 linear map, before clamping)
  ycbcr.safetensors    rgb [N, 3] I32 (a 16-level cube and the 100% colour
                       bars), ycc [N, 3] I32 (BT.601, limited range)
"""
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, here)
import st  # noqa: E402
from reference import video  # noqa: E402

OUT = os.path.join(root, "golden", "video")


def to_u8_case():
    g = torch.Generator().manual_seed(8001)
    x = (torch.randn(3 * 3 * 4 * 8, generator=g, dtype=torch.float64) * 0.7).to(torch.float32)
    edges = [-1.0, 1.0, 0.0, -1.5, 1.5, -100.0, 100.0, -0.0]
    for k in range(0, 256, 3):  # values whose exact result is an integer k
        b = np.float32(2.0 * k / 255.0 - 1.0)
        edges += [float(b), float(np.nextafter(b, np.float32(-2))), float(np.nextafter(b, np.float32(2)))]
    e = torch.tensor(edges, dtype=torch.float32)
    x[: e.numel()] = e
    v = x.reshape(3, 3, 4, 8)
    return {"video": v, "u8": video.video_to_u8(v).to(torch.int32)}


def preview_case():
    g = torch.Generator().manual_seed(8002)
    lat = (torch.randn(16, 2, 3, 5, generator=g, dtype=torch.float64) * 1.5).to(torch.float32)
    return {"latent": lat, "frame": torch.tensor([1], dtype=torch.int32),
            "rgb": video.latent_preview_f64(lat, 1).to(torch.float32)}


def ycbcr_case():
    lv = torch.arange(0, 256, 17)
    cube = torch.stack(torch.meshgrid(lv, lv, lv, indexing="ij"), dim=-1).reshape(-1, 3)
    bars = torch.tensor([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0],
                         [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]])
    rgb = torch.cat([bars, cube], dim=0)
    return {"rgb": rgb.to(torch.int32), "ycc": video.rgb_to_ycbcr_bt601_limited(rgb).to(torch.int32)}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    st.save(os.path.join(OUT, "to_u8.safetensors"), to_u8_case())
    st.save(os.path.join(OUT, "preview.safetensors"), preview_case())
    st.save(os.path.join(OUT, "ycbcr.safetensors"), ycbcr_case())
    print("wrote", OUT)


if __name__ == "__main__":
    main()
