"""Procedural captioned clips for the embedded demo model (models/demo).

Grammar (every caption is one of):
    a COLOR SHAPE moving to the right on a BG background
    a COLOR SHAPE moving to the left on a BG background
    a COLOR SHAPE moving up on a BG background
    a COLOR SHAPE moving down on a BG background
    a COLOR SHAPE staying still on a BG background
COLOR: red green blue yellow purple orange cyan
SHAPE: circle square triangle
BG:    black white gray brown

Clips are 64x64 pixels, 17 frames (a 16x5x8x8 latent, 80 DiT tokens), RGB
in [-1, 1], layout [3, F, H, W] as the VAE takes them. Objects are filled
shapes of radius 7-11 px, moving 1-2 px per frame, starting where they stay
inside the frame. A few colour/shape pairs are held out of training
(HELD_OUT) to measure generalisation.
"""
import math

import numpy as np

COLORS = {
    "red": (220, 30, 30), "green": (30, 190, 40), "blue": (40, 70, 230), "yellow": (235, 220, 40),
    "purple": (150, 40, 200), "orange": (245, 140, 20), "cyan": (40, 210, 220),
}
BACKGROUNDS = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "brown": (110, 70, 30)}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"moving to the right": (1, 0), "moving to the left": (-1, 0), "moving up": (0, -1),
              "moving down": (0, 1), "staying still": (0, 0)}
HELD_OUT = {("orange", "triangle"), ("cyan", "circle"), ("yellow", "square")}
# Words the demo model was never trained on, for the LoRA of tools/train_lora.py
# only (models/demo/lora/lime.safetensors): a new object colour. Lime, because
# the demo's VAE reproduces it (decoded object mean about (155, 207, 54));
# pink (255, 105, 180) comes back as about (185, 70, 160), nearer purple than
# pink, so no DiT or LoRA could draw it on this VAE.
EXTRA_COLORS = {"lime": (160, 240, 60)}
SIZE, FRAMES = 64, 17


def caption(color, shape, direction, bg):
    return "a %s %s %s on a %s background" % (color, shape, direction, bg)


def parse_caption(text):
    """(color, shape, direction, bg) of a grammar caption, or None."""
    for color in COLORS:
        for shape in SHAPES:
            for d in DIRECTIONS:
                for bg in BACKGROUNDS:
                    if caption(color, shape, d, bg) == text:
                        return color, shape, d, bg
    return None


def all_combinations(held_out=False):
    """Every (color, shape, direction, bg); held_out selects the held-out pairs."""
    out = []
    for color in COLORS:
        for shape in SHAPES:
            if ((color, shape) in HELD_OUT) != held_out:
                continue
            for d in DIRECTIONS:
                out.append((color, shape, d))
    return out


def shape_mask(shape, cx, cy, r):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(x - cx) <= r * 0.85) & (np.abs(y - cy) <= r * 0.85)
    # triangle pointing up: inside three half-planes
    top, left, right = (cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)

    def side(a, b):
        return (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])
    s1, s2, s3 = side(top, right), side(right, left), side(left, top)
    return ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))


def render(color, shape, direction, bg, rng):
    """One clip [3, FRAMES, SIZE, SIZE] float32 in [-1, 1]."""
    r = rng.uniform(7, 11)
    speed = rng.uniform(1.0, 2.0)
    dx, dy = DIRECTIONS[direction]
    travel = speed * (FRAMES - 1)
    lo, hi = r + 1, SIZE - r - 1
    cx0 = rng.uniform(lo - min(dx, 0) * travel, hi - max(dx, 0) * travel)
    cy0 = rng.uniform(lo - min(dy, 0) * travel, hi - max(dy, 0) * travel)
    fg = np.array(COLORS[color] if color in COLORS else EXTRA_COLORS[color], np.float64) / 127.5 - 1
    bgc = np.array(BACKGROUNDS[bg], np.float64) / 127.5 - 1
    clip = np.empty((3, FRAMES, SIZE, SIZE), np.float32)
    for f in range(FRAMES):
        m = shape_mask(shape, cx0 + dx * speed * f, cy0 + dy * speed * f, r)
        for c in range(3):
            clip[c, f] = np.where(m, fg[c], bgc[c])
    return clip


def sample(rng, held_out=False):
    """A random (caption, clip) from the training (or held-out) combinations."""
    combos = all_combinations(held_out)
    color, shape, d = combos[rng.integers(len(combos))]
    bg = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    return caption(color, shape, d, bg), render(color, shape, d, bg, rng)


def measure(video, color, direction, bg, palette=None):
    """tests/test_demo.c's three checks on one clip [3, FRAMES, SIZE, SIZE] in
    [-1, 1] (same rules and thresholds; the C test is the authority, this copy
    scores samples while the demo model trains). Returns (colour_ok, move_ok,
    bg_ok, dx, dy). palette: the object colours to choose the nearest from
    (default COLORS; the LoRA's checks add EXTRA_COLORS)."""
    palette = palette or COLORS
    px = (np.asarray(video, np.float32) + 1) * 127.5                      # [3, F, S, S]
    bgc = np.array(BACKGROUNDS[bg], np.float32).reshape(3, 1, 1, 1)
    is_obj = ((px - bgc) ** 2).sum(axis=0) > 60.0 * 60.0                  # [F, S, S]
    n = is_obj.sum(axis=(1, 2))
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.where(n > 0, (is_obj * xs).sum(axis=(1, 2)) / n, np.nan)
        cy = np.where(n > 0, (is_obj * ys).sum(axis=(1, 2)) / n, np.nan)
    obj, back = px[:, is_obj], px[:, ~is_obj]
    nearest = lambda c, pal: list(pal)[int(np.argmin([((c - np.array(v)) ** 2).sum() for v in pal.values()]))]  # noqa: E731
    oc = obj.mean(axis=1) if obj.shape[1] else np.zeros(3)
    bc = back.mean(axis=1) if back.shape[1] else np.zeros(3)
    bg_ok = back.shape[1] > SIZE * SIZE * FRAMES / 2 and nearest(bc, BACKGROUNDS) == bg
    colour_ok = int((n >= 12).sum()) >= FRAMES - 2 and nearest(oc, palette) == color
    first, last = cx[:4][~np.isnan(cx[:4])], cx[-4:][~np.isnan(cx[-4:])]
    if len(first) == 0 or len(last) == 0:
        return colour_ok, False, bg_ok, 0.0, 0.0
    dx = float(last.mean() - first.mean())
    dy = float(np.nanmean(cy[-4:]) - np.nanmean(cy[:4]))
    ux, uy = DIRECTIONS[direction]
    if ux or uy:  # the prompted axis moves > 4 px that way, more than the other axis
        along, across = dx * ux + dy * uy, abs(dy if ux else dx)
        move_ok = along > 4 and across < along
    else:
        move_ok = math.hypot(dx, dy) < 3
    return colour_ok, move_ok, bg_ok, dx, dy


def all_captions():
    return [caption(c, s, d, b) for c in COLORS for s in SHAPES for d in DIRECTIONS for b in BACKGROUNDS]


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    text, clip = sample(rng)
    print(text, clip.shape, clip.min(), clip.max(), len(all_captions()), "captions")
