#!/usr/bin/python3
"""Writes docs/img/pipeline.svg: the data flow of one t2v generation.

    /usr/bin/python3 tools/make_diagram.py [-o docs/img/pipeline.svg]

Each box is a stage with the function of ref/ that runs it and the shape of
what leaves it, for the demo model (64x64, 17 frames) and for Wan2.1
T2V-1.3B (832x480, 81 frames). The shapes are computed here from the sizes
and configs (the same arithmetic `t2v info` prints). Plain SVG, no
dependencies.
"""
import argparse
from xml.sax.saxutils import escape

MODELS = {  # name: (W, H, F, dim, ffn, heads, layers, text_len, text_dim, t5 layers)
    "demo": (64, 64, 17, 128, 384, 4, 4, 32, 64, 2),
    "1.3B": (832, 480, 81, 1536, 8960, 12, 30, 512, 4096, 24),
}


def shapes(m):
    W, H, F, D, ffn, heads, layers, tl, td, t5l = MODELS[m]
    T, h, w = 1 + (F - 1) // 4, H // 8, W // 8
    N = T * (h // 2) * (w // 2)
    return dict(W=W, H=H, F=F, D=D, ffn=ffn, heads=heads, layers=layers, tl=tl, td=td, t5l=t5l, T=T, h=h, w=w, N=N,
                f=T, hp=h // 2, wp=w // 2)


def boxes():
    d, b = shapes("demo"), shapes("1.3B")

    def two(fmt):
        return [fmt.format(**d) + "  (demo)", fmt.format(**b) + "  (1.3B)"]

    # id: (x, y, w, h, title, code, [lines], colour); columns x = 20, 270, 540, 840
    return {
        "prompt": (20, 45, 200, 80, "prompt", "", ['"a red circle moving', 'to the right on a', 'black background"'],
                   "#f4f4f4"),
        "tok": (270, 45, 220, 80, "tokenizer", "tokenizer.c: tokenizer_encode_wan",
                ["SentencePiece unigram + EOS", "ids [L], L <= text_len"], "#e8f0fe"),
        "t5": (540, 45, 250, 80, "umT5 encoder", "t5.c: t5_encode", two("{t5l} layers -> [L, {td}]"), "#e8f0fe"),
        "seed": (840, 45, 250, 80, "seed", "sampler.c: randn_torch", ["torch.manual_seed; torch.randn,", "bit-exact"],
                 "#f4f4f4"),
        "temb": (270, 175, 220, 80, "text_embedding (once)", "dit.c: dit_embed_context",
                 two("pad -> [{tl}, {D}]"), "#e8f0fe"),
        "patch": (540, 175, 250, 80, "patchify, Conv3d 1x2x2", "dit.c: patch_embedding_forward",
                  two("x [{N}, {D}]"), "#e6f4ea"),
        "noise": (840, 175, 250, 80, "latent z_i", "model.c: run_sampling", two("[16, {T}, {h}, {w}]"), "#fff4e5"),
        "time": (270, 295, 220, 95, "timestep embedding", "dit.c: time_embedding_forward",
                 ["t_i = int(1000 sigma_i)", "-> sinusoid [256] -> e [D]", "-> e0 [6, D] (modulation)"], "#e6f4ea"),
        "blocks": (540, 295, 250, 95, "DiT blocks", "dit.c: block_forward",
                   ["self-attn (3D RoPE), cross-attn,", "FFN; shift/scale/gate from e0"] + two("{layers} x [{N}, {D}]"),
                   "#e6f4ea"),
        "step": (840, 295, 250, 95, "sampler step (UniPC)", "sampler.c: sampler_step",
                 ["x0_i = z_i - sigma_i v", "z_{i+1} = predictor(x0_i, ...)", "(+ corrector)"], "#fce8e6"),
        "head": (540, 430, 250, 80, "head + unpatchify", "dit.c: head_forward, unpatchify",
                 two("v [16, {T}, {h}, {w}]"), "#e6f4ea"),
        "cfg": (840, 430, 250, 80, "classifier-free guidance", "sampler.c: cfg_combine",
                ["v = v_u + g (v_c - v_u)", "2 DiT passes: prompt, negative"], "#fce8e6"),
        "vae": (270, 430, 220, 80, "VAE decode", "vae.c: vae_decode",
                ["causal, 1 latent frame at a time"] + two("[3, {F}, {H}, {W}]"), "#f3e8fd"),
        "out": (20, 430, 200, 80, "frames", "video.c: video_to_u8",
                ["uint8 [F, H, W, 3] -> PNG,", "APNG, Y4M, MP4, sheet"], "#f4f4f4"),
    }


# (from, to, label, points): points None = a straight arrow between the
# facing sides; otherwise the polyline drawn as given.
EDGES = [("prompt", "tok", "", None), ("tok", "t5", "ids", None), ("seed", "noise", "noise z_0", None),
         ("t5", "temb", "context", [(600, 125), (600, 150), (380, 150), (380, 175)]),
         ("temb", "blocks", "k, v rows", [(490, 235), (515, 235), (515, 320), (540, 320)]),
         ("time", "blocks", "e0", [(490, 360), (540, 360)]),
         ("noise", "patch", "z_i", None), ("patch", "blocks", "", None), ("blocks", "head", "", None),
         ("head", "cfg", "v_c, v_u", None), ("cfg", "step", "v", None),
         ("step", "noise", "z_{i+1}", None),
         ("step", "vae", "final z (after the last step)",
          [(1090, 342), (1100, 342), (1100, 535), (380, 535), (380, 510)]),
         ("vae", "out", "video", None)]


def anchor(bx, to):
    x, y, w, h = bx[:4]
    cx, cy = x + w / 2, y + h / 2
    tx, ty = to
    dx, dy = tx - cx, ty - cy
    if abs(dx) * h > abs(dy) * w:
        return (x + w if dx > 0 else x, cy)
    return (cx, y + h if dy > 0 else y)


def svg(bxs):
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="1120" height="560" viewBox="0 0 1120 560" '
           'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
           '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           '<rect width="1120" height="560" fill="white"/>',
           '<polygon points="530,163 1105,163 1105,520 530,520 530,402 260,402 260,285 530,285" fill="none" '
           'stroke="#c33" stroke-dasharray="6 4"/>',
           '<text x="1100" y="553" text-anchor="end" font-size="12" fill="#c33">dashed: the sampling loop, once per '
           'step (model.c: run_sampling, sampler.c: sampler_run)</text>',
           '<text x="20" y="22" font-size="15" font-weight="bold">t2v: one generation, stage by stage '
           '(docs/ARCHITECTURE.md)</text>']
    for a, b, label, pts in EDGES:
        A, B = bxs[a], bxs[b]
        if pts is None:
            ca = (A[0] + A[2] / 2, A[1] + A[3] / 2)
            cb = (B[0] + B[2] / 2, B[1] + B[3] / 2)
            pts = [anchor(A, cb), anchor(B, ca)]
        colour = "#c33" if (a, b) in (("step", "noise"), ("step", "vae")) else "#555"
        d = "M " + " L ".join("%g %g" % p for p in pts)
        out.append('<path d="%s" fill="none" stroke="%s" stroke-width="1.6" marker-end="url(#arr)"/>' % (d, colour))
        if label:
            (x0, y0), (x1, y1) = pts[-2], pts[-1]
            if len(pts) > 2:  # the longest segment
                segs = list(zip(pts[:-1], pts[1:]))
                (x0, y0), (x1, y1) = max(segs, key=lambda q: abs(q[0][0] - q[1][0]) + abs(q[0][1] - q[1][1]))
            if x0 == x1:  # vertical: label to the right
                out.append('<text x="%g" y="%g" font-size="11" fill="%s">%s</text>'
                           % (x0 + 5, (y0 + y1) / 2 + 4, colour, escape(label)))
            else:
                out.append('<text x="%g" y="%g" font-size="11" fill="%s" text-anchor="middle">%s</text>'
                           % ((x0 + x1) / 2, min(y0, y1) - 5, colour, escape(label)))
    for x, y, w, h, title, code, lines, colour in bxs.values():
        out.append('<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="#444"/>'
                   % (x, y, w, h, colour))
        out.append('<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>' % (x + 8, y + 17, escape(title)))
        ty = y + 31
        if code:
            out.append('<text x="%d" y="%d" font-size="10" fill="#1a4f9c" font-family="DejaVu Sans Mono, monospace">'
                       '%s</text>' % (x + 8, ty, escape(code)))
            ty += 13
        for line in lines:
            out.append('<text x="%d" y="%d" font-size="11">%s</text>' % (x + 8, ty, escape(line)))
            ty += 13
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="docs/img/pipeline.svg")
    a = ap.parse_args()
    with open(a.output, "w", encoding="utf-8") as f:
        f.write(svg(boxes()))
    print("wrote", a.output)


if __name__ == "__main__":
    main()
