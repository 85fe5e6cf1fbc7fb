#!/usr/bin/python3
"""Goldens for the still of `generate -i` (ref/app/image.c): what the official
wan/textimage2video.py does to an image, done here with PIL itself:

golden/wan22/still.png              a 61x37 seeded RGB image (PNG)
golden/wan22/image.safetensors:
  resize.WxH    uint8-valued F32 [H, W, 3]: PIL Image.resize((W, H), Image.LANCZOS)
                of still.png, for sizes that shrink, grow and keep each axis
  best.AREA     F32 [2]: best_output_size(61, 37, 32, 32, AREA) (wan/utils/utils.py)
  i2v.AREA      F32 [3, H, W]: the whole preparation (best size, resize by the
                larger ratio, center crop, to_tensor, (x - 0.5) / 0.5)
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(here), "golden", "wan22")
SIZES = [(30, 18), (64, 40), (61, 20), (80, 37)]
AREAS = [64 * 64, 96 * 64]


def best_output_size(w, h, dw, dh, expected_area):
    ratio = w / h
    ow = (expected_area * ratio) ** 0.5
    oh = expected_area / ow
    ow1 = int(ow // dw * dw)
    oh1 = int(expected_area / ow1 // dh * dh)
    ratio1 = ow1 / oh1
    oh2 = int(oh // dh * dh)
    ow2 = int(expected_area / oh2 // dw * dw)
    ratio2 = ow2 / oh2
    if max(ratio / ratio1, ratio1 / ratio) < max(ratio / ratio2, ratio2 / ratio):
        return ow1, oh1
    return ow2, oh2


def prepare(img, area):
    ow, oh = best_output_size(img.width, img.height, 32, 32, area)
    scale = max(ow / img.width, oh / img.height)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    x1, y1 = (img.width - ow) // 2, (img.height - oh) // 2
    img = img.crop((x1, y1, x1 + ow, y1 + oh))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - 0.5) / 0.5, (ow, oh)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(61)
    # smooth structure plus noise: a resize has something to do
    yy, xx = np.mgrid[0:37, 0:61]
    base = np.stack([128 + 100 * np.sin(xx / 5.0), 128 + 100 * np.cos(yy / 4.0), (xx * 4 + yy * 3) % 256], -1)
    arr = np.clip(base + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8)
    path = os.path.join(OUT, "still.png")
    Image.fromarray(arr, "RGB").save(path)
    img = Image.open(path).convert("RGB")
    out = {}
    for w, h in SIZES:
        out["resize.%dx%d" % (w, h)] = torch.from_numpy(np.asarray(img.resize((w, h), Image.LANCZOS),
                                                                   dtype=np.float32).copy())
    for a in AREAS:
        x, (ow, oh) = prepare(img, a)
        out["best.%d" % a] = torch.tensor([ow, oh], dtype=torch.float32)
        out["i2v.%d" % a] = x.contiguous()
        print("  area %d -> %dx%d" % (a, ow, oh))
    st.save(os.path.join(OUT, "image.safetensors"), out, {"made_by": "tools/golden_image.py", "pil": Image.__version__})


if __name__ == "__main__":
    main()
