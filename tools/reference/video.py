"""PyTorch reference for the numeric parts of ref/app/video.c, written from
docs/MODEL.md section 0 step 8, the Wan2.1 saving code (cache_video with
torchvision make_grid normalize=True, value_range=(-1, 1)), ComfyUI's
Latent2RGB previewer, and ITU-R BT.601.
"""
import torch

# ComfyUI comfy/latent_formats.py, class Wan21: latent_rgb_factors [16][3] and
# latent_rgb_factors_bias [3]. Stored as float32 on both sides.
WAN21_LATENT_RGB_FACTORS = [
    [-0.1299, -0.1692, 0.2932], [0.0671, 0.0406, 0.0442], [0.3568, 0.2548, 0.1747],
    [0.0372, 0.2344, 0.1420], [0.0313, 0.0189, -0.0328], [0.0296, -0.0956, -0.0665],
    [-0.3477, -0.4059, -0.2925], [0.0166, 0.1902, 0.1975], [-0.0412, 0.0267, -0.1364],
    [-0.1293, 0.0740, 0.1636], [0.0680, 0.3019, 0.1128], [0.0032, 0.0581, 0.0639],
    [-0.1251, 0.0927, 0.1699], [0.0060, -0.0633, 0.0005], [0.3477, 0.2275, 0.2950],
    [0.1984, 0.0913, 0.1861],
]
WAN21_LATENT_RGB_BIAS = [-0.1835, -0.0868, -0.3360]


def video_to_u8(video):
    """video [3, F, H, W] float32 -> uint8 [F, H, W, 3], as the official code:
    clamp to [-1, 1], sub(-1).div(2) (make_grid), mul(255), cast (truncation).
    Done in float32 on purpose: the official code rounds in fp32 here (docs/MODEL.md 0.8)."""
    x = video.to(torch.float32).clamp(-1.0, 1.0)
    x = x.sub(-1.0).div(2.0)
    return (x * 255).type(torch.uint8).permute(1, 2, 3, 0).contiguous()


def latent_preview_f64(latent, frame):
    """latent [16, T, h, w] -> [h, w, 3] before clamping, float64, with the
    float32-rounded factors the C code uses."""
    f = torch.tensor(WAN21_LATENT_RGB_FACTORS, dtype=torch.float32).double()
    b = torch.tensor(WAN21_LATENT_RGB_BIAS, dtype=torch.float32).double()
    x = latent[:, frame].double().permute(1, 2, 0)  # [h, w, 16]
    return x @ f + b


def rgb_to_ycbcr_bt601_limited(rgb):
    """rgb [..., 3] integers 0..255 -> Y, Cb, Cr [..., 3] (int64), BT.601 matrix,
    limited range (Y 16..235, C 16..240), round half up."""
    r, g, b = (rgb[..., i].double() / 255.0 for i in range(3))
    y = 16.0 + 219.0 * (0.299 * r + 0.587 * g + 0.114 * b)
    cb = 128.0 + 224.0 * (-0.168736 * r - 0.331264 * g + 0.5 * b)
    cr = 128.0 + 224.0 * (0.5 * r - 0.418688 * g - 0.081312 * b)
    out = torch.stack([y, cb, cr], dim=-1)
    return torch.floor(out + 0.5).clamp(0, 255).to(torch.int64)
