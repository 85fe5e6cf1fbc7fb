#!/usr/bin/python3
"""Golden for the demo's objective checks (tests/demo_check.h): clips of the
demo grammar described by their parameters, with the verdicts of
tools/demo_data.measure on the clips demo_data renders. tests/test_demo_check.c
renders the same clips from the parameters, measures them with the C checks
and must reach the same verdicts (and the same per-frame object pixel counts,
which shows the two renderings agree).

Cases: every shape in every direction with colours in both roles (the true
case must pass all four checks), each measured again against a wrong shape,
a wrong colour, a wrong direction and a wrong background (which must fail
that check). Also the objective test's 30 grammar-2 prompts
(demo_data.test_cases2), which demo_cases2 must reproduce."""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import demo_data as dd  # noqa: E402
import st  # noqa: E402

NAMES, DIRS = list(dd.PALETTE), list(dd.DIRECTIONS)


def main():
    rng = np.random.default_rng(31)
    params, asked, verdicts, npix = [], [], [], []
    for i in range(30):
        shape, d = dd.SHAPES[i % 3], DIRS[(i // 3) % 5]
        while True:
            color, bg = NAMES[rng.integers(11)], NAMES[rng.integers(11)]
            if color != bg:
                break
        # float32 parameters, as the file stores them, so both sides render the same clip
        r, speed, cx0, cy0 = (float(np.float32(x)) for x in dd.render_params(d, rng))
        clip = dd.render_at(color, shape, d, bg, r, speed, cx0, cy0)
        px = (clip.astype(np.float32) + 1) * 127.5
        is_obj = ((px - np.array(dd.PALETTE[bg], np.float32).reshape(3, 1, 1, 1)) ** 2).sum(axis=0) > 3600
        true = (NAMES.index(color), dd.SHAPES.index(shape), DIRS.index(d), NAMES.index(bg))
        wrong_colour = NAMES[(true[0] + 1 + i % 9) % 11]
        if wrong_colour == bg:
            wrong_colour = NAMES[(NAMES.index(wrong_colour) + 1) % 11]
        others = [(color, shape, d, bg),
                  (color, dd.SHAPES[(true[1] + 1 + i % 2) % 3], d, bg),
                  (wrong_colour, shape, d, bg),
                  (color, shape, DIRS[(true[2] + 1 + i % 4) % 5], bg)]
        for (c, s, dd_, b) in others:
            v = dd.measure(clip, c, dd_, b, s)
            params.append([true[0], true[1], true[2], true[3], r, speed, cx0, cy0])
            asked.append([NAMES.index(c), dd.SHAPES.index(s), DIRS.index(dd_), NAMES.index(b)])
            verdicts.append([float(x) for x in v])
            npix.append(is_obj.sum(axis=(1, 2)))
        assert all(verdicts[-4][:4]), "a rendered clip fails its own case: %s" % (others[0],)
    os.makedirs(os.path.join(ROOT, "golden", "demo_check"), exist_ok=True)
    st.save(os.path.join(ROOT, "golden", "demo_check", "cases.safetensors"),
            {"params": np.array(params, np.float32), "asked": np.array(asked, np.float32),
             "verdicts": np.array(verdicts, np.float32), "npix": np.array(npix, np.float32),
             "cases2": np.array([[NAMES.index(c), dd.SHAPES.index(s), DIRS.index(d), NAMES.index(b)]
                                 for c, s, d, b in dd.test_cases2()], np.float32)},
            {"columns.params": "colour shape direction background r speed cx0 cy0 (indices: palette, SHAPES, DIRECTIONS)",
             "columns.verdicts": "colour_ok move_ok bg_ok shape_ok dx dy"})
    print("golden/demo_check/cases.safetensors written: %d measurements" % len(params))


if __name__ == "__main__":
    main()
