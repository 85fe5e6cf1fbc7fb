"""Procedural captioned clips for the embedded demo model (models/demo).

Grammar (every caption is one of):
    a COLOR SHAPE moving to the right on a BG background
    a COLOR SHAPE moving to the left on a BG background
    a COLOR SHAPE moving up on a BG background
    a COLOR SHAPE moving down on a BG background
    a COLOR SHAPE staying still on a BG background
COLOR, BG: red green blue yellow purple orange cyan black white gray brown
           (any of the eleven in either role, never the same twice)
SHAPE:     circle square triangle

This is grammar 2. Grammar 1 (the committed demo DiT was trained on it) had
the first seven words as objects only and the last four as backgrounds only,
smaller, faster objects (radius 7-11 px, 1-2 px per frame) and a smaller
square (half side 0.85 r), and objects that stayed inside a frame that
did not wrap;
its prompts are a subset of these.

Clips are 64x64 pixels, 17 frames (a 16x5x8x8 latent, 80 DiT tokens), RGB
in [-1, 1], layout [3, F, H, W] as the VAE takes them. Objects are filled
shapes of radius 11-15 px (3-4 latent cells across), moving 0.6-1.2 px per
frame (RADIUS, SPEED). The frame wraps (a torus): an object leaving one
edge comes back at the opposite one, so a motion can go on for as long as a
clip lasts (a minute, in context windows); a moving object starts anywhere
along its direction, and lies inside the frame across it. Held out
of training, to measure generalisation: three colour/shape pairs (HELD_OUT)
and six object/background pairs that swap the grammar-1 roles
(HELD_OUT_ROLES).
"""
import math

import numpy as np

PALETTE = {
    "red": (220, 30, 30), "green": (30, 190, 40), "blue": (40, 70, 230), "yellow": (235, 220, 40),
    "purple": (150, 40, 200), "orange": (245, 140, 20), "cyan": (40, 210, 220),
    "black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "brown": (110, 70, 30),
}
COLORS = PALETTE          # object colours (grammar 2: all eleven)
BACKGROUNDS = PALETTE     # background colours (grammar 2: all eleven)
# grammar 1's roles: the committed model's test (tests/test_demo.c) keeps them
COLORS_V1 = {k: PALETTE[k] for k in ("red", "green", "blue", "yellow", "purple", "orange", "cyan")}
BACKGROUNDS_V1 = {k: PALETTE[k] for k in ("black", "white", "gray", "brown")}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"moving to the right": (1, 0), "moving to the left": (-1, 0), "moving up": (0, -1),
              "moving down": (0, 1), "staying still": (0, 0)}
HELD_OUT = {("orange", "triangle"), ("cyan", "circle"), ("yellow", "square")}
HELD_OUT_ROLES_ORDER = (("white", "blue"), ("black", "yellow"), ("gray", "red"), ("brown", "cyan"),
                        ("green", "purple"), ("blue", "orange"))
HELD_OUT_ROLES = set(HELD_OUT_ROLES_ORDER)
# Words the demo model was never trained on, for the LoRA of tools/train_lora.py
# only (models/demo/lora/lime.safetensors): a new object colour. Lime, because
# the demo's VAE reproduces it (decoded object mean about (155, 207, 54));
# pink (255, 105, 180) comes back as about (185, 70, 160), nearer purple than
# pink, so no DiT or LoRA could draw it on this VAE.
EXTRA_COLORS = {"lime": (160, 240, 60)}
SIZE, FRAMES = 64, 17
# Uniform ranges of the object's radius (px) and speed (px per frame). Grammar
# 1 drew 7-11 px at 1-2 px per frame; at that size and speed the narrow VAE
# decoded most squares and triangles as round blobs (the corners go, and a
# moving object is drawn at 4 places from one latent frame). Decoded by the
# VAEs trained for each (models/demo-next/README.md): 18 of 48 clips kept
# their shape at 7-11 px, 30 at 9-13 px, 44 at these ranges. The motion
# check needs 4 px between the first and last 4 frames: 0.6 px per frame
# gives 7.8.
RADIUS, SPEED = (11.0, 15.0), (0.6, 1.2)
# Template areas in units of r^2 (shape_mask): circle pi, square (2r)^2,
# triangle base 2r x height 1.8r / 2. The triangle's centroid lies 0.2 r below
# its centre (cx, cy).
SHAPE_AREA = {"circle": math.pi, "square": 4.0, "triangle": 1.8}
TRIANGLE_DROP = 0.2


def caption(color, shape, direction, bg):
    return "a %s %s %s on a %s background" % (color, shape, direction, bg)


def parse_caption(text):
    """(color, shape, direction, bg) of a grammar caption (object colours
    include EXTRA_COLORS), or None."""
    words = text.split(" ")
    if len(words) < 8 or words[0] != "a" or words[-1] != "background" or words[-3:-2] != ["a"]:
        return None
    color, shape, direction, bg = words[1], words[2], " ".join(words[3:-4]), words[-2]
    if (color in PALETTE or color in EXTRA_COLORS) and shape in SHAPES and direction in DIRECTIONS \
            and words[-4] == "on" and bg in PALETTE:
        return color, shape, direction, bg
    return None


def trained(color, shape, bg):
    """Whether the training set draws this combination."""
    return color != bg and (color, shape) not in HELD_OUT and (color, bg) not in HELD_OUT_ROLES


def all_combinations(held_out=False, colors=COLORS_V1):
    """Every (color, shape, direction) of `colors` (default grammar 1's
    object colours); held_out selects the held-out colour/shape pairs."""
    return [(c, s, d) for c in colors for s in SHAPES for d in DIRECTIONS if ((c, s) in HELD_OUT) == held_out]


def shape_mask(shape, cx, cy, r):
    """[SIZE, SIZE] bool: the pixels (centres at +0.5) inside the shape of
    radius r centred at (cx, cy): a disc, a square of half side r, or a
    triangle pointing up with its apex r above the centre and its base 0.8 r
    below it, 2 r wide."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(x - cx) <= r) & (np.abs(y - cy) <= r)
    top, left, right = (cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)

    def side(a, b):
        return (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])
    s1, s2, s3 = side(top, right), side(right, left), side(left, top)
    return ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))


def colour_of(name):
    return PALETTE[name] if name in PALETTE else EXTRA_COLORS[name]


def render_params(direction, rng):
    """(r, speed, cx0, cy0) of a clip: radius and speed drawn from RADIUS and
    SPEED; along the direction of motion the start is anywhere (the frame
    wraps), across it (and for a still object) the object lies inside the
    frame."""
    r = rng.uniform(*RADIUS)
    speed = rng.uniform(*SPEED)
    dx, dy = DIRECTIONS[direction]
    lo, hi = r + 1, SIZE - r - 1
    cx0 = rng.uniform(0, SIZE) if dx else rng.uniform(lo, hi)
    cy0 = rng.uniform(0, SIZE) if dy else rng.uniform(lo, hi)
    return r, speed, cx0, cy0


def wrapped_mask(shape, cx, cy, r):
    """shape_mask on the torus: the shape centred at (cx, cy) modulo SIZE,
    with the parts that leave one edge coming back at the opposite one."""
    cx, cy = cx % SIZE, cy % SIZE
    m = np.zeros((SIZE, SIZE), bool)
    for oy in (-SIZE, 0, SIZE):
        for ox in (-SIZE, 0, SIZE):
            m |= shape_mask(shape, cx + ox, cy + oy, r)
    return m


def render_at(color, shape, direction, bg, r, speed, cx0, cy0, frames=FRAMES):
    """One clip [3, frames, SIZE, SIZE] float32 in [-1, 1]: frame f has the
    shape centred at (cx0, cy0) + f * speed * the direction, on the torus
    (wrapped_mask): a moving object leaves one edge and comes back at the
    opposite one, so it can move for ever (a long clip keeps moving)."""
    dx, dy = DIRECTIONS[direction]
    fg = np.array(colour_of(color), np.float64) / 127.5 - 1
    bgc = np.array(PALETTE[bg], np.float64) / 127.5 - 1
    clip = np.empty((3, frames, SIZE, SIZE), np.float32)
    for f in range(frames):
        m = wrapped_mask(shape, cx0 + dx * speed * f, cy0 + dy * speed * f, r)
        for c in range(3):
            clip[c, f] = np.where(m, fg[c], bgc[c])
    return clip


def render(color, shape, direction, bg, rng):
    """One clip [3, FRAMES, SIZE, SIZE] float32 in [-1, 1], placed by rng."""
    return render_at(color, shape, direction, bg, *render_params(direction, rng))


def draw(rng):
    """A random (color, shape, direction, bg) of the training set (trained())."""
    names = list(PALETTE)
    while True:
        color, bg = names[rng.integers(len(names))], names[rng.integers(len(names))]
        shape, d = SHAPES[rng.integers(len(SHAPES))], list(DIRECTIONS)[rng.integers(len(DIRECTIONS))]
        if trained(color, shape, bg):
            return color, shape, d, bg


def sample(rng):
    """A random (caption, clip) of the training set."""
    color, shape, d, bg = draw(rng)
    return caption(color, shape, d, bg), render(color, shape, d, bg, rng)


def wrap_shift(occupied):
    """The roll that makes an object on the torus contiguous: the index of
    the middle (start + length // 2, modulo the size) of the longest circular
    run of empty lines (the first such run from index 0 wins a tie); 0 when
    every line or none is occupied."""
    occ = [bool(v) for v in occupied]
    n, best_len, best = len(occ), 0, 0
    if all(occ) or not any(occ):
        return 0
    for i in range(n):
        if not occ[i] and occ[i - 1]:  # a run of empty lines starts at i
            k = 0
            while not occ[(i + k) % n]:
                k += 1
            if k > best_len:
                best_len, best = k, i
    return (best + best_len // 2) % n


def centred(mask):
    """(rolled mask, sx, sy): the mask rolled by wrap_shift on each axis, so
    that rolled[y, x] = mask[(y + sy) % SIZE, (x + sx) % SIZE] holds the
    object in one piece away from the edges."""
    sx, sy = wrap_shift(mask.any(axis=0)), wrap_shift(mask.any(axis=1))
    return np.roll(mask, (-sy, -sx), axis=(0, 1)), sx, sy


def unwrap(values, valid):
    """Positions on the torus made continuous: each valid value moved by a
    multiple of SIZE to lie within SIZE / 2 of the previous valid one."""
    out, prev = np.array(values, np.float64), None
    for f in range(len(out)):
        if not valid[f]:
            continue
        if prev is not None:
            out[f] = out[prev] + (out[f] - values[prev] + SIZE / 2) % SIZE - SIZE / 2
        prev = f
    return out


def classify_shape(mask):
    """The shape (index into SHAPES) whose template, sized to the mask's
    pixel count and placed on its centroid, overlaps the mask best
    (intersection over union; the first wins a tie); None for fewer than 12
    pixels."""
    n = int(mask.sum())
    if n < 12:
        return None
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    best, best_iou = None, -1.0
    for i, shape in enumerate(SHAPES):
        r = math.sqrt(n / SHAPE_AREA[shape])
        t = shape_mask(shape, cx, cy - (TRIANGLE_DROP * r if shape == "triangle" else 0.0), r)
        iou = (t & mask).sum() / float((t | mask).sum())
        if iou > best_iou:
            best, best_iou = i, iou
    return best


def measure(video, color, direction, bg, shape=None, palette=None, backgrounds=None, wrap=True):
    """tests/demo_check.h's checks on one clip [3, FRAMES, SIZE, SIZE] in
    [-1, 1] (same rules and thresholds; the C test is the authority, this copy
    scores samples while the demo model trains). Returns (colour_ok, move_ok,
    bg_ok, shape_ok, dx, dy); shape_ok is None when shape is None. palette /
    backgrounds: the colours to choose the nearest from (default: grammar
    2's eleven; the LoRA's checks add EXTRA_COLORS). wrap: grammar 2's
    wrapping frame (the object rolled into one piece, its centroids made
    continuous); grammar 1's frame does not wrap (its objects leave it)."""
    palette, backgrounds = palette or COLORS, backgrounds or BACKGROUNDS
    px = (np.asarray(video, np.float32) + 1) * 127.5                      # [3, F, S, S]
    bgc = np.array(PALETTE[bg], np.float32).reshape(3, 1, 1, 1)
    is_obj = ((px - bgc) ** 2).sum(axis=0) > 60.0 * 60.0                  # [F, S, S]
    n = is_obj.sum(axis=(1, 2))
    # each frame's object rolled into one piece (the frame wraps), its
    # centroid taken there and moved back, then made continuous over frames
    rolled, cx, cy = np.zeros_like(is_obj), np.full(FRAMES, np.nan), np.full(FRAMES, np.nan)
    for f in range(FRAMES):
        rolled[f], sx, sy = centred(is_obj[f]) if wrap else (is_obj[f], 0, 0)
        if n[f] > 0:
            ys, xs = np.nonzero(rolled[f])
            cx[f], cy[f] = (xs.mean() + sx) % SIZE, (ys.mean() + sy) % SIZE
    if wrap:
        cx, cy = unwrap(cx, n > 0), unwrap(cy, n > 0)
    obj, back = px[:, is_obj], px[:, ~is_obj]
    nearest = lambda c, pal: list(pal)[int(np.argmin([((c - np.array(v)) ** 2).sum() for v in pal.values()]))]  # noqa: E731
    oc = obj.mean(axis=1) if obj.shape[1] else np.zeros(3)
    bc = back.mean(axis=1) if back.shape[1] else np.zeros(3)
    bg_ok = back.shape[1] > SIZE * SIZE * FRAMES / 2 and nearest(bc, backgrounds) == bg
    colour_ok = int((n >= 12).sum()) >= FRAMES - 2 and nearest(oc, palette) == color
    shape_ok = None
    if shape is not None:  # (d) the most frequent per-frame shape, ahead of the others
        votes = [0] * len(SHAPES)
        for f in range(FRAMES):
            k = classify_shape(rolled[f])
            if k is not None:
                votes[k] += 1
        want = SHAPES.index(shape)
        shape_ok = all(votes[want] > v for i, v in enumerate(votes) if i != want)
    first, last = cx[:4][~np.isnan(cx[:4])], cx[-4:][~np.isnan(cx[-4:])]
    if len(first) == 0 or len(last) == 0:
        return colour_ok, False, bg_ok, shape_ok, 0.0, 0.0
    dx = float(last.mean() - first.mean())
    dy = float(np.nanmean(cy[-4:]) - np.nanmean(cy[:4]))
    ux, uy = DIRECTIONS[direction]
    if ux or uy:  # the prompted axis moves > 4 px that way, more than the other axis
        along, across = dx * ux + dy * uy, abs(dy if ux else dx)
        move_ok = along > 4 and across < along
    else:
        move_ok = math.hypot(dx, dy) < 3
    return colour_ok, move_ok, bg_ok, shape_ok, dx, dy


def cases2(n, a, b, k):
    """n (color, shape, direction, bg) of grammar 2's training set: colour i
    mod 11, shape (i + 2 (i // 11)) mod 3, background (a i + b + k (i // 11))
    mod 11, direction i mod 5; a held-out colour/shape pair takes the next
    shape, any other untrained pair the next background."""
    names, out = list(PALETTE), []
    for i in range(n):
        c, s, bg = i % 11, (i + 2 * (i // 11)) % 3, (a * i + b + k * (i // 11)) % 11
        while not trained(names[c], SHAPES[s], names[bg]):
            if (names[c], SHAPES[s]) in HELD_OUT:
                s = (s + 1) % 3
            else:
                bg = (bg + 1) % 11
        out.append((names[c], SHAPES[s], list(DIRECTIONS)[i % 5], names[bg]))
    return out


def test_cases2():
    """tests/demo_check.h's demo_cases2: 24 trained prompts (seeds 1000..),
    then the six held-out object/background pairs (seeds 2000..)."""
    held = [(c, SHAPES[h % 3], list(DIRECTIONS)[(h * 2) % 5], bg) for h, (c, bg) in enumerate(HELD_OUT_ROLES_ORDER)]
    return cases2(24, 3, 5, 2) + held


def all_captions():
    """Every caption of grammar 2 (the tokenizer's corpus)."""
    return [caption(c, s, d, b) for c in PALETTE for s in SHAPES for d in DIRECTIONS for b in PALETTE if c != b]


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    text, clip = sample(rng)
    print(text, clip.shape, clip.min(), clip.max(), len(all_captions()), "captions")
