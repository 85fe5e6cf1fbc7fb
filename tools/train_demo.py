#!/usr/bin/python3
"""Trains the embedded demo model (models/demo) on the procedural clips of
tools/demo_data.py, with the PyTorch reference modules of tools/reference/
(the same functions the goldens come from), on the CPU.

Phases (each cached under --work, so a rerun resumes):
  1. tokenizer: a SentencePiece unigram model on the caption grammar, with the
     umT5 special ids (pad 0, eos 1, unk 2, no bos).
  2. vae:      a narrow Wan-VAE (base dim 8, z_dim 16, the official structure)
               trained from scratch as an autoencoder on whole 17-frame clips
               cropped to 32x32 around the object (the object's pixels
               weighted 10x in the L1, + 1e-4 mu^2), with a linear colour
               probe on the latent trained alongside (train_vae: without it
               the encoder merges nearby hues). The log_var channels 16..31
               exist but are unused, as at inference. Afterwards an exact
               per-channel affine map is folded into conv1 (encoder side) and
               conv2 (decoder side) so that the *normalised* latents the DiT
               sees, (mu - MEAN)/STD with the official constants, have zero
               mean and unit variance.
               With --vae-from and --decoder-minutes, the loaded VAE's
               decoder is fine-tuned instead, its encoder frozen
               (train_decoder): the latents, and a DiT trained on them, stay
               valid; --vae-only stops there. With --decoder-dit DIR, part
               of its steps (--decoder-dit-share) draw latents the DiT of
               DIR finished from clips noised to --decoder-dit-levels
               (dit_latent_pool): the decoder learns to draw the clip a
               DiT-drawn latent came from.
  3. latents:  the normalised latents of fixed sets of clips (--clips each,
               one set per --latent-seeds seed; separate --latents-only runs
               can encode sets in parallel into the same --work).
  4. dit:      a tiny umT5 encoder and a tiny WanModel trained together with
               the flow-matching objective (x_s = (1-s) x0 + s eps, target
               eps - x0, s logit-normal, optionally shifted toward high noise
               by --train-shift as the sampler shifts its schedule), 10% of
               captions dropped to "" so that classifier-free guidance works;
               from scratch, or from an exported model (--dit-from). Every
               --eval-every steps, 40 validation prompts (seeds 7000..,
               never the C test's) are sampled and scored with the C test's
               checks (demo_data.measure) and the weights saved, so a run
               shows whether motion is still improving. With --shape-sets
               and --role-sets each step also trains the loss on the
               differences between clips that differ only in their shape,
               or only in which colour is the object's (paired_loss);
               with --role-probe a linear probe makes the text encoder tell
               the object's colour word from the background's
               (token_probe_loss), and validation logs how well it does
               (role_cosine); --shape-probe does the same for the shape
               word, whose encoding every token of the caption must carry
               (shape_labels, shape_cosine). --shape-follow W adds caption
               forcing on the shape sets (follow_loss): a clip noised as one
               shape (or, with --follow-mix, as a blend of the three) and
               captioned as another must be predicted as the caption's
               shape, at the levels --follow-levels where a sample's shape
               is settled; with --follow-guidance G, the guided prediction
               (the sampler's, empty caption as the unconditional one) must.
               --window-clips N adds the plain loss on windows cut from the
               middle of N long clips (flow_loss), the inputs a clip
               sampled in context windows hands the DiT; with
               --window-prefix K the first K latent frames of each such
               window are given clean at t = 0 and left out of the loss,
               so the DiT learns to continue frames it is shown, as the
               chain schedule holds them (the export's t2v.json then
               says "context_schedule": "chain"). --dit-patch 1,1,1
               gives the DiT one token per latent cell (320 tokens, 4x the
               cost) instead of Wan's 2x2 (80); from an exported model the
               weights are cut to the smaller patch first (repatch).
               --dit-ffn N gives every block's FFN N hidden units; from an
               exported model the new units start silent (widen_ffn).
               --add-latents FILE trains on latents made elsewhere too
               (load_latents; e.g. tools/demo_self_samples.py's: the
               model's own samples that pass the test's checks).
               --dit-train REGEX trains only the weights whose names match
               (e.g. every DiT weight but self-attention's), the rest stay
               as loaded; --dit-shapes C,S,T draws the training clips so
               that circles, squares and triangles come in those shares.
               --pixel-weight W adds pixel_loss: the DiT's prediction of the
               clean latent, drawn by the frozen decoder, against the clean
               latent drawn by it, the object weighted as in the VAE's loss.
               --object-weight W weighs the object's latent cells W times
               the rest in the flow loss; --temporal-weight W adds W times
               the error's change between latent frames (flow_loss);
               --train-levels uniform draws the noise levels uniform
               before the shift, as the sampler's steps fall;
               --level-span LO,HI trains on the levels LO..HI only (one
               expert of a Wan2.2-style pair).
  5. export:   models/demo in the official layout: config.json,
               diffusion_pytorch_model.safetensors (F32), models_t5_umt5-xxl-enc-bf16.pth
               (bf16, torch.save), Wan2.1_VAE.pth (F32, torch.save),
               google/umt5-xxl/spiece.model, and t2v.json (t2v's defaults and
               the fitted latent->RGB preview factors).

Seeds are fixed: `make demo-model` reproduces the model up to the float
non-associativity of multi-threaded PyTorch kernels and the time boxes: the
VAE and DiT phases stop after --vae-minutes and --dit-minutes (45 and 120 by
default; their lr schedules follow the clock), so their step counts depend
on the machine's speed. `--vae-minutes 0 --dit-minutes 0` runs exactly
--vae-steps and --dit-steps instead.
"""
import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_data  # noqa: E402
import st  # noqa: E402
from reference import dit as rdit  # noqa: E402
from reference import t5 as rt5  # noqa: E402
from reference import vae as rvae  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VAE_DIM = 8
T5_CFG = dict(dim=64, dim_attn=64, dim_ffn=128, num_heads=4, num_layers=2, num_buckets=32)
DIT_CFG = dict(dim=128, ffn_dim=384, num_heads=4, num_layers=4, freq_dim=256, in_dim=16, out_dim=16,
               text_dim=64, text_len=32, eps=1e-6, patch_size=(1, 2, 2), model_type="t2v")
DEFAULTS = dict(width=64, height=64, frames=17, context_window=17, context_overlap=8, steps=20, cfg=4.0, shift=3.0, fps=8, sampler="unipc",
                negative_prompt="")
# A demo clip's latent at those defaults: 16 channels; the Wan-VAE keeps the
# first frame and packs 4 frames into each later latent frame, 8x8 pixels
# into a cell.
LATENT_SHAPE = (16, 1 + (DEFAULTS["frames"] - 1) // 4, DEFAULTS["height"] // 8, DEFAULTS["width"] // 8)


def _scale_pair_f32():
    """rvae.scale_pair in float32: the reference widens to float64 for the
    goldens; training runs the same functions in float32."""
    mean = torch.tensor(rvae.MEAN, dtype=torch.float32)
    return mean, 1.0 / torch.tensor(rvae.STD, dtype=torch.float32)


rvae.scale_pair = _scale_pair_f32
_reference_causal_conv3d = rvae.causal_conv3d


def _causal_conv3d_2d(x, w, b, cache=None):
    """rvae.causal_conv3d computed as a sum over the temporal taps of 2D convs
    on the frames (PyTorch 1.13's CPU conv3d is 7-16x slower than conv2d here).
    check_fast_conv() asserts it equals the reference."""
    pt, ph, pw = w.shape[2] // 2, w.shape[3] // 2, w.shape[4] // 2
    front = 2 * pt
    if cache is not None and front > 0:
        x = torch.cat([cache, x], dim=1)
        front -= cache.shape[1]
    xp = F.pad(x, (pw, pw, ph, ph, front, 0)).transpose(0, 1)  # [T', C, H', W']
    T = xp.shape[0] - w.shape[2] + 1
    y = sum(F.conv2d(xp[dt:dt + T], w[:, :, dt]) for dt in range(w.shape[2]))
    return (y + b.view(1, -1, 1, 1)).transpose(0, 1)


def check_fast_conv():
    g = torch.Generator().manual_seed(5)
    for kt, k in ((3, 3), (1, 1), (3, 1)):
        x = torch.randn(3, 4, 6, 5, generator=g, dtype=torch.float64)
        w = torch.randn(2, 3, kt, k, k, generator=g, dtype=torch.float64)
        b = torch.randn(2, generator=g, dtype=torch.float64)
        err = (_causal_conv3d_2d(x, w, b) - _reference_causal_conv3d(x, w, b)).abs().max().item()
        assert err < 1e-12, "fast causal conv differs from the reference by %g" % err


rvae.causal_conv3d = _causal_conv3d_2d


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# --- 1. tokenizer -----------------------------------------------------------------

def train_tokenizer(work):
    import sentencepiece as spm
    path = os.path.join(work, "spiece.model")
    if os.path.exists(path):
        return path
    caps = sorted(demo_data.all_captions())
    # The grammar's words are user-defined symbols (one piece each); the
    # alphabet line gives every lowercase letter a piece, so words outside the
    # grammar are spelled out rather than mapped to <unk>.
    words = sorted(set(w for c in caps for w in c.split() if len(w) > 1))
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(caps + ["abcdefghijklmnopqrstuvwxyz"]), model_prefix=os.path.join(work, "spiece"),
        vocab_size=64, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
        normalization_rule_name="nmt_nfkc", num_threads=1, hard_vocab_limit=False, minloglevel=2,
        user_defined_symbols=words)
    log("tokenizer trained:", path)
    return path


def tokenize(sp, text):
    """The Wan convention on top of SentencePiece: pieces + EOS (1)."""
    return sp.encode(text) + [1]


# --- parameter initialisation ----------------------------------------------------

def init_params(shapes, gen, scale_fn):
    sd = {}
    for name, shape in shapes:
        sd[name] = scale_fn(name, tuple(shape), gen).requires_grad_(True)
    return sd


def vae_init(name, shape, gen):
    """Residual branches and the attention projection start at zero, so every
    residual block starts as the identity (as DiT's adaLN-zero): the narrow VAE
    then trains quickly and stably."""
    if name.endswith("residual.6.weight") or name.endswith("proj.weight"):
        return torch.zeros(shape)
    return default_init(name, shape, gen)


def default_init(name, shape, gen):
    if name.endswith("gamma") or "norm" in name and name.endswith("weight"):
        return torch.ones(shape)
    if name.endswith("bias") or name.endswith("modulation"):
        return torch.zeros(shape)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return torch.randn(shape, generator=gen) / math.sqrt(fan_in)


# --- 2. VAE -------------------------------------------------------------------------

def decode_raw(sd, z):
    """The decoder's output before the final clamp: a clamped output has no
    gradient, and a pixel stuck past the wrong bound would never recover."""
    stages = {}
    rvae.decode_whole(sd, z, stages)
    return stages["decoder.head"]


def vae_forward(sd, clip):
    """Encode (raw 32 channels; mu = the first 16, as WanVAE.encode returns),
    decode mu. Returns recon, mu. Trained as a plain autoencoder: the official
    log_var channels are unused at inference, and sampling with them made the
    tiny decoder learn to ignore its input."""
    stages = {}
    rvae.encode_whole(sd, clip, stages)
    mu = stages["conv1"][:16]
    mean, inv_std = rvae.scale_pair()
    zn = (mu - mean.view(16, 1, 1, 1)) * inv_std.view(16, 1, 1, 1)
    return decode_raw(sd, zn), mu


def schedule_fraction(step, steps, t0, time_limit):
    """How far through its learning-rate schedule a phase is: step/steps, or
    the share of time_limit (seconds since t0) used when that is further
    along (the schedule then follows the clock). >= 1: stop."""
    frac = step / steps
    if time_limit is not None:
        frac = max(frac, (time.time() - t0) / time_limit)
    return frac


def vae_schedule(opt, lr, steps, time_limit, name):
    """The VAE phases' steps: yields step = 0, 1, ... with opt's learning
    rate set for it, a cosine decay from lr to lr/10 over `steps` or over
    time_limit seconds when that comes first (schedule_fraction); stops
    there."""
    t0 = time.time()
    for step in range(steps):
        frac = schedule_fraction(step, steps, t0, time_limit)
        if frac >= 1:
            log("%s: time limit reached after %d steps" % (name, step))
            return
        for g in opt.param_groups:
            g["lr"] = lr / 10 + 0.5 * (lr - lr / 10) * (1 + math.cos(math.pi * frac))
        yield step


def recon_loss(recon, clip, weight, edge_weight):
    """The VAE phases' reconstruction loss: the L1 weighted per pixel (object_crop)
    + edge_weight * edge_loss."""
    loss = (weight * (recon - clip).abs()).sum() / (3 * weight.sum())
    return loss + edge_weight * edge_loss(recon, clip, weight) if edge_weight else loss


def cell_colours(clip):
    """[3, T', H/8, W/8]: the clip's mean colour over the pixels of each latent
    cell (frame 0 alone, then groups of 4 frames; 8x8 pixels), the target of
    the colour probe."""
    first = F.avg_pool2d(clip[:, :1], 8)
    rest = F.avg_pool3d(clip[:, 1:].unsqueeze(0), (4, 8, 8))[0]
    return torch.cat([first, rest], dim=1)


def train_vae(work, steps, time_limit=None, name="vae_probe", lr=1e-3, seed=1, probe_weight=3.0, init=None,
              edge_weight=0.0):
    """The VAE from scratch: Adam, cosine decay from lr to lr/10 over `steps`,
    or over time_limit seconds when that comes first (the schedule then
    follows the clock). Each step: one whole 17-frame clip cropped to 32x32
    around the object (object_crop), loss = L1 with the object's pixels
    weighted 10x + 1e-4 mu^2 + probe_weight * the colour probe's MSE.

    The colour probe is a linear map (3 x 16 weights and 3 biases, trained
    with the VAE and thrown away) from each latent cell's mu to the cell's
    mean colour (cell_colours). Without it the encoder keeps only what L1
    needs most and merges nearby hues (a linear probe told cyan from blue in
    62% of object cells, red from orange in 69%; the DiT then cannot make the
    prompted colour); with it, from step 0, in 92-95%.

    init: the unfolded weights of an earlier run (its vae_probe.safetensors)
    to train further (the probe starts again; it learns in a few steps).
    edge_weight > 0 adds that times edge_loss (the error in the images'
    horizontal and vertical differences), which a blurred or rounded edge
    pays for in full where the plain L1 pays a little."""
    path = os.path.join(work, name + ".safetensors")
    if os.path.exists(path):
        return {k: torch.from_numpy(v) for k, v in st.load(path)[0].items()}
    check_fast_conv()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    sd = init_params(rvae.param_shapes(VAE_DIM), gen, vae_init)  # drawn with init too (same probe init)
    if init:
        sd = {k: torch.from_numpy(v).float().requires_grad_(True) for k, v in st.load(init)[0].items()}
        log("vae: starting from", init)
    probe_w = (0.1 * torch.randn(3, 16, generator=gen)).requires_grad_(True)
    probe_b = torch.zeros(3).requires_grad_(True)
    opt = torch.optim.Adam(list(sd.values()) + [probe_w, probe_b], lr=lr)
    t0 = time.time()
    for step in vae_schedule(opt, lr, steps, time_limit, "vae"):
        clip, weight = object_crop(rng)
        recon, mu = vae_forward(sd, clip)
        rec = recon_loss(recon, clip, weight, edge_weight)
        kl = mu.pow(2).mean()  # a small L2 penalty keeps the latent scale bounded
        pred = torch.einsum("cz,zthw->cthw", probe_w, mu) + probe_b.view(3, 1, 1, 1)
        probe = (pred - cell_colours(clip)).pow(2).mean()
        loss = rec + 1e-4 * kl + probe_weight * probe
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            log("vae step %d/%d  L1 %.4f  mu^2 %.3f  probe %.4f  (%.2f s/step)" % (
                step, steps, rec.item(), kl.item(), probe.item(), (time.time() - t0) / (step + 1)))
        if step % 2000 == 1999:
            eval_vae({k: v.detach() for k, v in sd.items()})
            colour_probe_accuracy({k: v.detach() for k, v in sd.items()})
    out = {k: v.detach().clone() for k, v in sd.items()}
    st.save(path, {k: v.numpy() for k, v in out.items()})
    return out


def is_decoder(name):
    """Whether a VAE tensor belongs to the decoder side (conv2 and decoder.*)."""
    return name.startswith("decoder.") or name.startswith("conv2.")


def train_decoder(vsd, work, steps, time_limit=None, lr=3e-4, edge_weight=1.0, shape_p=(0.25, 0.25, 0.5),
                  seed=11, name="vae_decoder", pool=None, pool_share=0.0):
    """Fine-tunes the decoder of a trained, folded VAE (vsd) with its encoder
    frozen, so that the latents it encodes, and a DiT trained on them, stay
    as they are: only what is drawn from a latent changes. Adam, cosine decay
    from lr to lr/10 as train_vae; each step one object_crop clip whose shape
    is drawn with probabilities shape_p (circle, square, triangle: the
    triangle's apex is what the decoder loses), loss = recon_loss. With a
    pool (dit_latent_pool), a step takes, with probability pool_share, a
    latent the DiT finished instead (pool_crop), and the decoder learns to
    draw the clip that latent came from. Returns the whole VAE, folded, with
    the new decoder."""
    path = os.path.join(work, name + ".safetensors")
    if os.path.exists(path):
        return {k: torch.from_numpy(v) for k, v in st.load(path)[0].items()}
    check_fast_conv()
    rng = np.random.default_rng(seed)
    dec = {k: v.detach().clone().float().requires_grad_(True) for k, v in vsd.items() if is_decoder(k)}
    opt = torch.optim.Adam(list(dec.values()), lr=lr)
    t0 = time.time()
    for step in vae_schedule(opt, lr, steps, time_limit, "decoder"):
        if pool is not None and rng.random() < pool_share:
            z, clip, weight = pool_crop(pool, rng)
        else:
            clip, weight = object_crop(rng, shape_p=shape_p)
            with torch.no_grad():
                z = rvae.encode_whole(vsd, clip)
        loss = recon_loss(decode_raw(dec, z), clip, weight, edge_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            log("decoder step %d/%d  loss %.4f  (%.2f s/step)" % (step, steps, loss.item(),
                                                                 (time.time() - t0) / (step + 1)))
        if step % 2000 == 1999:
            eval_vae(dict(vsd, **{k: v.detach() for k, v in dec.items()}), n=48)
    out = dict(vsd, **{k: v.detach().clone() for k, v in dec.items()})
    st.save(path, {k: v.numpy() for k, v in out.items()})
    return out


def finish_from(dsd, cfg, x0, ctx, ctx0, eps, s0, guidance, steps=10):
    """Latents x0 [B, ...] noised to s0 (a level, or one per latent: x = (1 -
    s0) x0 + s0 eps, the flow-matching interpolation the DiT is trained on),
    then `steps` Euler steps of the guided velocity vu + guidance (vc - vu)
    down to 0 (ctx: the captions' encodings, ctx0: the negative prompt's).
    Where s0 = 0, x0 itself."""
    s0 = torch.as_tensor(s0, dtype=x0.dtype).expand(x0.shape[0])
    if not bool((s0 > 0).any()):
        return x0
    view = (-1,) + (1,) * (x0.dim() - 1)
    x = (1 - s0.view(view)) * x0 + s0.view(view) * eps
    frac = torch.linspace(1.0, 0.0, steps + 1)
    for k in range(steps):
        s, s_next = s0 * frac[k], s0 * frac[k + 1]
        vc, vu = dit_forward_batch(dsd, cfg, x, s * 1000.0, ctx), dit_forward_batch(dsd, cfg, x, s * 1000.0, ctx0)
        x = x + (s_next - s).view(view) * (vu + guidance * (vc - vu))
    return x


def dit_latent_pool(vsd, model_dir, work, n, levels, seed=12, batch=16):
    """n clips drawn as demo_data.sample draws them (seed), each encoded,
    noised to a level s0 uniform in `levels` and finished by the DiT of the
    exported model_dir (finish_from; its tokenizer and guidance scale): latents as
    the DiT draws them, of clips whose every pixel is known. Cached in work.
    Returns {"latents": [n, 16, T, h, w], "clips": [(caption, render_at
    arguments)], "levels": [n]}."""
    path = os.path.join(work, "dit_pool_%d_%g-%g_seed%d.pt" % (n, levels[0], levels[1], seed))
    if os.path.exists(path):
        return torch.load(path)
    sp = load_tokenizer(model_dir)
    dsd, tsd = load_exported_dit(model_dir)
    cfg, guidance = dit_config(dsd), model_settings(model_dir)["cfg"]
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    clips, latents, s0s = [], [], []
    with torch.no_grad():
        for b0 in range(0, n, batch):
            caps, x0 = [], []
            for _ in range(min(batch, n - b0)):
                color, shape, d, bg = demo_data.draw(rng)
                args = (color, shape, d, bg) + tuple(demo_data.render_params(d, rng))
                clips.append((demo_data.caption(color, shape, d, bg), args))
                caps.append(clips[-1][0])
                x0.append(rvae.encode_whole(vsd, torch.from_numpy(demo_data.render_at(*args))).float())
            x0 = torch.stack(x0)
            s0 = levels[0] + (levels[1] - levels[0]) * torch.rand(len(caps), generator=gen, dtype=torch.float64)
            eps = torch.randn(x0.shape, generator=gen)
            ctx, ctx0 = prompt_contexts(tsd, sp, caps)
            latents.append(finish_from(dsd, cfg, x0, ctx, ctx0, eps, s0.float(), guidance))
            s0s.append(s0)
            log("dit pool: %d of %d clips finished" % (len(clips), n))
    pool = {"latents": torch.cat(latents), "clips": clips, "levels": torch.cat(s0s)}
    torch.save(pool, path)
    return pool


def object_cells(mask, rng, cells=4):
    """A window of cells x cells latent cells (8 px each) around the object
    of a [F, H, W] mask in a random frame, jittered by up to a cell, on the
    torus (the frame wraps). Returns the latent rows and columns and the
    pixel rows and columns it covers."""
    f = int(rng.integers(0, mask.shape[0]))
    rolled, sx, sy = demo_data.centred(mask[f])
    ys, xs = np.nonzero(rolled)
    cy, cx = (ys.mean() + sy, xs.mean() + sx) if len(ys) else (32.0, 32.0)
    cell, n = 8, demo_data.SIZE // 8
    y0, x0 = (int(round((c + rng.uniform(-cell, cell)) / cell - cells / 2)) for c in (cy, cx))
    iy, ix = (np.arange(c0, c0 + cells) % n for c0 in (y0, x0))
    py, px = (np.arange(cell * c0, cell * (c0 + cells)) % demo_data.SIZE for c0 in (y0, x0))
    return iy, ix, py, px


def crop_cells(x, rows, cols):
    """x [..., H, W] cut to the given rows and columns."""
    return x[..., rows, :][..., cols]


def pool_crop(pool, rng, cells=4, object_weight=10.0, edge_px=3):
    """One pool latent and its clip, both cut to an object_cells window,
    with object_crop's loss weight. Returns z, clip, weight."""
    i = int(rng.integers(len(pool["clips"])))
    cap, args = pool["clips"][i]
    clip = demo_data.render_at(*args)
    mask = dilate(object_mask(cap, clip), edge_px)
    iy, ix, py, px = object_cells(mask, rng, cells)
    weight = 1.0 + (object_weight - 1.0) * crop_cells(mask[None], py, px).astype(np.float32)
    return (crop_cells(pool["latents"][i], iy, ix).contiguous(),
            torch.from_numpy(np.ascontiguousarray(crop_cells(clip, py, px))),
            torch.from_numpy(np.ascontiguousarray(weight)))


def edge_loss(recon, clip, weight):
    """Gradient-difference loss (Mathieu et al. 2016, "Deep multi-scale video
    prediction beyond mean square error", eq. 5 with alpha 1): the weighted
    L1 between the horizontal and vertical pixel differences of the output
    and of the target."""
    loss = 0
    for dim in (2, 3):
        d_rec, d_clip = recon.diff(dim=dim), clip.diff(dim=dim)
        w = weight.narrow(dim, 1, weight.shape[dim] - 1)
        loss = loss + (w * (d_rec - d_clip).abs()).sum() / (3 * w.sum())
    return loss


def object_mask(caption, clip, threshold=0.05):
    """[F, H, W] bool: the pixels of the object (those whose summed RGB
    difference from the caption's background colour exceeds threshold: a
    rendered clip's background is exact, a decoded one's needs more)."""
    bg = np.array(demo_data.PALETTE[demo_data.parse_caption(caption)[3]], np.float64) / 127.5 - 1
    return np.abs(clip - bg.reshape(3, 1, 1, 1).astype(np.float32)).sum(axis=0) > threshold


def dilate(mask, px):
    """[F, H, W] bool grown by px pixels in each frame (a square neighbourhood)."""
    m = torch.from_numpy(mask.astype(np.float32)).unsqueeze(1)
    return (F.max_pool2d(m, 2 * px + 1, stride=1, padding=px)[:, 0] > 0).numpy()


def draw_shape(rng, shape_p):
    """demo_data.sample, with the shape drawn first with probabilities
    shape_p (circle, square, triangle) and the rest as draw() draws it."""
    want = demo_data.SHAPES[int(rng.choice(3, p=shape_p))]
    while True:
        color, shape, d, bg = demo_data.draw(rng)
        if shape == want:
            return demo_data.caption(color, shape, d, bg), demo_data.render(color, shape, d, bg, rng)


def object_crop(rng, size=32, object_weight=10.0, edge_px=3, shape_p=None):
    """A whole 17-frame clip cropped to size x size around the object's
    position in a random frame, and the per-pixel loss weight: object_weight
    on the object and on the background within edge_px pixels of it, 1
    elsewhere. The object covers 3-7% of a frame, so an unweighted loss lets
    the VAE learn the background alone (the first VAE phases did exactly
    that); weighting the object alone left a 3-4 px halo of object colour
    around it, which rounds every shape (grammar 2 tells shapes apart).
    shape_p: draw the clip's shape with these probabilities (draw_shape)."""
    cap, clip = draw_shape(rng, shape_p) if shape_p else demo_data.sample(rng)
    mask = dilate(object_mask(cap, clip), edge_px) if edge_px else object_mask(cap, clip)
    f = int(rng.integers(0, clip.shape[1]))
    _, sx, sy = demo_data.centred(mask[f])  # the frame wraps: roll the object into one piece first
    clip, mask = np.roll(clip, (-sy, -sx), axis=(2, 3)), np.roll(mask, (-sy, -sx), axis=(1, 2))
    ys, xs = np.nonzero(mask[f])
    cy, cx = (ys.mean(), xs.mean()) if len(ys) else (32.0, 32.0)
    hi = demo_data.SIZE - size
    y0 = int(np.clip(round(cy - size / 2 + rng.uniform(-size / 4, size / 4)), 0, hi))
    x0 = int(np.clip(round(cx - size / 2 + rng.uniform(-size / 4, size / 4)), 0, hi))
    clip = np.ascontiguousarray(clip[:, :, y0:y0 + size, x0:x0 + size])
    weight = 1.0 + (object_weight - 1.0) * mask[None, :, y0:y0 + size, x0:x0 + size].astype(np.float32)
    return torch.from_numpy(clip), torch.from_numpy(np.ascontiguousarray(weight))


def eval_vae(sd, n=16):
    """L1 of encode + decode (as t2v runs them) on whole 17-frame clips: all
    pixels, the object's pixels, the last four frames (the last chunk); how
    many clips' object colour (mean over its true pixels) is nearest the true
    one, and how many pass the objective test's colour, background and shape
    checks (demo_data.measure) as decoded."""
    rng = np.random.default_rng(11)
    errs, objs, lasts, colours, checks = [], [], [], 0, np.zeros(3, int)
    palette = np.array(list(demo_data.COLORS.values()), np.float64)
    with torch.no_grad():
        for _ in range(n):
            cap, clip = demo_data.sample(rng)
            mask = torch.from_numpy(object_mask(cap, clip))
            clip = torch.from_numpy(clip)
            rec = rvae.decode_whole(sd, rvae.encode_whole(sd, clip))
            e = (rec - clip).abs()
            errs.append(e.mean().item())
            objs.append(e.mean(dim=0)[mask].mean().item())
            rgb = ((rec.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 3, 0)[mask].mean(dim=0).numpy()
            best = int(np.argmin(((palette - rgb) ** 2).sum(axis=1)))
            colour, shape, d, bg = demo_data.parse_caption(cap)
            colours += list(demo_data.COLORS)[best] == colour
            r = demo_data.measure(rec.clamp(-1, 1).numpy(), colour, d, bg, shape)
            checks += np.array([r[0], r[2], r[3]], int)
            lasts.append(e[:, -4:].mean().item())
    log("vae eval on %d whole clips: L1 mean %.4f (max %.4f), object pixels %.4f, last 4 frames %.4f, "
        "object colour nearest the true one in %d; checks as decoded: colour %d background %d shape %d" % (
            n, float(np.mean(errs)), float(np.max(errs)), float(np.mean(objs)), float(np.mean(lasts)), colours,
            *checks))
    return float(np.mean(errs))


def colour_probe_accuracy(sd, pairs=(("blue", "cyan"), ("red", "orange")), n=40):
    """For each pair of nearby colours: how often a least-squares linear probe
    on mu (fitted on 2/3 of the object cells of n clips, tested on the rest)
    tells the two apart. Object cells: latent cells at least half covered by
    the object. 0.5 is chance."""
    rng = np.random.default_rng(3)
    accs = []
    with torch.no_grad():
        for pair in pairs:
            X, Y = [], []
            for i in range(n):
                label = i % 2
                bg = list(demo_data.BACKGROUNDS_V1)[rng.integers(4)]
                clip = demo_data.render(pair[label], ("square", "triangle")[rng.integers(2)],
                                        list(demo_data.DIRECTIONS)[rng.integers(5)], bg, rng)
                mask = object_mask(demo_data.caption(pair[label], "square", "staying still", bg), clip)
                cover = cell_colours(torch.from_numpy(mask[None].astype(np.float32)))[0]
                z = rvae.encode_whole(sd, torch.from_numpy(clip)).permute(1, 2, 3, 0)
                X.append(z[cover > 0.5])
                Y += [label] * int((cover > 0.5).sum())
            X = torch.cat([torch.cat(X).double(), torch.ones(len(Y), 1, dtype=torch.float64)], dim=1)
            Y = torch.tensor(Y, dtype=torch.float64)
            idx = torch.randperm(len(Y), generator=torch.Generator().manual_seed(0))
            train, test = idx[:len(Y) * 2 // 3], idx[len(Y) * 2 // 3:]
            w = torch.linalg.lstsq(X[train], Y[train, None]).solution
            accs.append((((X[test] @ w)[:, 0] > 0.5).double() == Y[test]).double().mean().item())
    log("colour probe on object cells: " + ", ".join("%s/%s %.2f" % (p[0], p[1], a) for p, a in zip(pairs, accs)))
    return accs


def fold_latent_normalisation(sd, work, n=64):
    """Per-channel affine so that (mu - MEAN) / STD has mean 0 and std 1.
    mu' = MEAN + STD (mu - m) / s, folded into conv1's first 16 output rows;
    the decoder sees mu' after denormalisation and conv2 maps it back:
    conv2(mu) = W (m + s (mu' - MEAN) / STD) + b."""
    rng = np.random.default_rng(7)
    mus = []
    with torch.no_grad():
        for _ in range(n):
            stages = {}
            rvae.encode_whole(sd, torch.from_numpy(demo_data.sample(rng)[1]), stages)
            mus.append(stages["conv1"][:16].reshape(16, -1))
    mu = torch.cat(mus, dim=1).double()
    m, s = mu.mean(dim=1), mu.std(dim=1).clamp_min(1e-3)
    MEAN, STD = torch.tensor(rvae.MEAN, dtype=torch.float64), torch.tensor(rvae.STD, dtype=torch.float64)
    a = STD / s            # mu' = a mu + c
    c = MEAN - a * m
    out = {k: v.detach().double().clone() for k, v in sd.items()}
    w1, b1 = out["conv1.weight"], out["conv1.bias"]
    w1[:16] *= a.view(16, 1, 1, 1, 1)
    b1[:16] = a * b1[:16] + c
    # decoder: conv2 expects mu = (mu' - c) / a
    w2, b2 = out["conv2.weight"], out["conv2.bias"]
    b2 += -(w2[:, :, 0, 0, 0] * (c / a).view(1, 16)).sum(dim=1)
    w2 *= (1 / a).view(1, 16, 1, 1, 1)
    log("latent stats folded: mu mean %s, std %s" % (np.round(m.numpy(), 2), np.round(s.numpy(), 2)))
    return {k: v.float() for k, v in out.items()}


# --- 3. latents ---------------------------------------------------------------------

def make_latents(sd, work, n, time_limit=None, seed=2):
    """Latents of n clips drawn with `seed` (fewer if time_limit seconds run
    out first)."""
    path = os.path.join(work, "latents_%d.pt" % n if seed == 2 else "latents_%d_seed%d.pt" % (n, seed))
    if os.path.exists(path):
        return torch.load(path)

    def item(rng):
        cap, clip = demo_data.sample(rng)
        return cap, rvae.encode_whole(sd, torch.from_numpy(clip)).float()
    data = encode_sets(path, n, seed, item, "latents", 500, time_limit)
    z = data["latents"]
    log("latents: mean %.3f std %.3f" % (z.mean().item(), z.std().item()))
    return data


def load_latents(path, shape):
    """A latents file made elsewhere (--add-latents): {"captions": [n],
    "latents": [n, *shape]} of the demo grammar's captions, checked."""
    data = torch.load(path)
    if not isinstance(data, dict) or set(data) != {"captions", "latents"}:
        raise SystemExit("%s: expected a dict with \"captions\" and \"latents\"" % path)
    lat, caps = data["latents"], data["captions"]
    if tuple(lat.shape) != (len(caps),) + tuple(shape):
        raise SystemExit("%s: latents %s for %d captions; expected %s" % (
            path, tuple(lat.shape), len(caps), (len(caps),) + tuple(shape)))
    bad = [c for c in caps if demo_data.parse_caption(c) is None]
    if bad:
        raise SystemExit("%s: %r is not a caption of the demo grammar" % (path, bad[0]))
    log("latents: %d from %s" % (len(caps), path))
    return {"captions": list(caps), "latents": lat.float()}


def encode_sets(path, n, seed, item, what, every=100, time_limit=None):
    """n items drawn by item(rng) -> (caption(s), latent(s)) from a generator
    seeded with `seed`, without gradients, progress logged every `every`
    items (fewer items if time_limit seconds run out first) -> {"captions":
    [n], "latents": stacked}, saved to path (the cache the callers read)."""
    rng = np.random.default_rng(seed)
    caps, lats, t0 = [], [], time.time()
    with torch.no_grad():
        for i in range(n):
            if time_limit is not None and time.time() - t0 > time_limit:
                log("%s: time limit reached after %d clips" % (what, i))
                break
            cap, lat = item(rng)
            caps.append(cap)
            lats.append(lat)
            if i % every == 0:
                log("%s %d/%d (%.3f s each)" % (what, i, n, (time.time() - t0) / (i + 1)))
    data = {"captions": caps, "latents": torch.stack(lats)}
    torch.save(data, path)
    return data


# --- 4. DiT + text encoder ----------------------------------------------------------------

def t5_shapes(vocab):
    class C:
        pass
    c = C()
    c.vocab, c.dim, c.dim_attn, c.dim_ffn = vocab, T5_CFG["dim"], T5_CFG["dim_attn"], T5_CFG["dim_ffn"]
    c.num_layers, c.num_buckets, c.num_heads = T5_CFG["num_layers"], T5_CFG["num_buckets"], T5_CFG["num_heads"]
    return list(rt5.tensor_shapes(c).items())


def dit_init(name, shape, gen):
    if name.endswith("modulation"):
        return torch.randn(shape, generator=gen) * 0.02
    if name.startswith("head.head"):
        return torch.zeros(shape)
    return default_init(name, shape, gen)


# --- the DiT on a batch, for training speed ---------------------------------------
# The reference functions take one sample. Training a batch one sample at a
# time is dominated by Python overhead, so the loop below runs the same
# equations on a leading batch dimension, reusing the reference's pieces
# (linear, norms, GELU, RoPE table and rope_apply, embeddings, unpatchify).
# check_batched_dit() asserts it equals rdit.forward sample by sample.

def _attention_b(q, k, v):
    """q [B, Lq, n, d], k/v [B, Lk, n, d] -> [B, Lq, n*d]."""
    s = torch.einsum("bqnd,bknd->bnqk", q, k) / math.sqrt(q.size(-1))
    return torch.einsum("bnqk,bknd->bqnd", torch.softmax(s, dim=-1), v).flatten(2)


def _rope_b(x, grid, freqs):
    """rdit.rope_apply on [B, L, n, d]: the table broadcasts over dim 1."""
    B, L, n, d = x.shape
    y = rdit.rope_apply(x.permute(1, 0, 2, 3).reshape(L, B * n, d), grid, freqs)
    return y.reshape(L, B, n, d).permute(1, 0, 2, 3)


def _block_b(sd, i, cfg, x, e0, grid, freqs, ctx):
    p, (B, L, D), n, eps = "blocks.%d." % i, x.shape, cfg["num_heads"], cfg["eps"]
    d = D // n
    if e0.dim() == 4:  # one t per token: e0 [B, L, 6, D] (Wan2.2 TI2V's form)
        e = [c.squeeze(2) for c in (sd[p + "modulation"].reshape(1, 1, 6, D) + e0).chunk(6, dim=2)]
    else:
        e = (sd[p + "modulation"].reshape(1, 6, D) + e0).chunk(6, dim=1)
    h = rdit.layer_norm(x, None, None, eps) * (1 + e[1]) + e[0]
    q = rdit.rms_norm(rdit.linear(sd, p + "self_attn.q", h), sd[p + "self_attn.norm_q.weight"], eps)
    k = rdit.rms_norm(rdit.linear(sd, p + "self_attn.k", h), sd[p + "self_attn.norm_k.weight"], eps)
    v = rdit.linear(sd, p + "self_attn.v", h)
    y = _attention_b(_rope_b(q.view(B, L, n, d), grid, freqs), _rope_b(k.view(B, L, n, d), grid, freqs),
                     v.view(B, L, n, d))
    x = x + rdit.linear(sd, p + "self_attn.o", y) * e[2]
    h = rdit.layer_norm(x, sd[p + "norm3.weight"], sd[p + "norm3.bias"], eps)
    q = rdit.rms_norm(rdit.linear(sd, p + "cross_attn.q", h), sd[p + "cross_attn.norm_q.weight"], eps)
    k = rdit.rms_norm(rdit.linear(sd, p + "cross_attn.k", ctx), sd[p + "cross_attn.norm_k.weight"], eps)
    v = rdit.linear(sd, p + "cross_attn.v", ctx)
    y = _attention_b(q.view(B, L, n, d), k.view(B, -1, n, d), v.view(B, -1, n, d))
    x = x + rdit.linear(sd, p + "cross_attn.o", y)
    h = rdit.gelu_tanh(rdit.linear(sd, p + "ffn.0", rdit.layer_norm(x, None, None, eps) * (1 + e[4]) + e[3]))
    return x + rdit.linear(sd, p + "ffn.2", h) * e[5]


def dit_forward_batch(sd, cfg, latents, t, contexts):
    """latents [B, 16, T, H, W], t [B] (float timesteps) or [B, L] (one per
    patch token, in the patchified order (f, h, w), as Wan2.2 TI2V gives its
    conditioning frame's tokens t = 0), contexts: list of [L_b, text_dim] ->
    velocity [B, 16, T, H, W]."""
    cfg = rdit.full_config(cfg)
    D, B = cfg["dim"], latents.shape[0]
    y = F.conv3d(latents, sd["patch_embedding.weight"], sd["patch_embedding.bias"], stride=tuple(cfg["patch_size"]))
    grid = tuple(y.shape[2:])
    x = y.flatten(2).transpose(1, 2)
    per_token = t.dim() == 2
    emb = rdit.sinusoidal_embedding_1d(cfg["freq_dim"], t.reshape(-1)).to(latents.dtype)
    e = rdit.linear(sd, "time_embedding.2", F.silu(rdit.linear(sd, "time_embedding.0", emb)))
    e0 = rdit.linear(sd, "time_projection.1", F.silu(e)).view((B, -1, 6, D) if per_token else (B, 6, D))
    ctx = torch.stack([rdit.embed_context(sd, cfg, c) for c in contexts])
    freqs = rdit.rope_freqs(D // cfg["num_heads"])
    for i in range(cfg["num_layers"]):
        x = _block_b(sd, i, cfg, x, e0, grid, freqs, ctx)
    if per_token:
        m = [c.squeeze(2) for c in (sd["head.modulation"].reshape(1, 1, 2, D) + e.view(B, -1, 1, D)).chunk(2, dim=2)]
    else:
        m = (sd["head.modulation"].reshape(1, 2, D) + e.view(B, 1, D)).chunk(2, dim=1)
    out = rdit.linear(sd, "head.head", rdit.layer_norm(x, None, None, cfg["eps"]) * (1 + m[1]) + m[0])
    return torch.stack([rdit.unpatchify(out[b], grid, cfg) for b in range(B)])


def check_batched_dit(dsd, tsd, sp):
    """The batched forward equals the reference forward (float64, 2 samples)."""
    g = torch.Generator().manual_seed(9)
    sd = {k: v.detach().double() + 0.05 * torch.randn(v.shape, generator=g, dtype=torch.float64)
          for k, v in dsd.items()}
    ts = {k: v.detach().double() for k, v in tsd.items()}
    tc = rt5.Config(ts)
    ctxs = [rt5.encode(ts, tc, torch.tensor(tokenize(sp, c))) for c in ("a red circle moving up on a black background", "")]
    lat = torch.randn((2,) + LATENT_SHAPE, generator=g, dtype=torch.float64)
    tt = torch.tensor([999.0, 123.0], dtype=torch.float64)
    cfg = dit_config(sd)
    got = dit_forward_batch(sd, cfg, lat, tt, ctxs)
    for b in range(2):
        ref = rdit.forward(sd, cfg, lat[b], tt[b].item(), ctxs[b])
        err = (got[b] - ref).abs().max().item()
        assert err < 1e-9, "batched DiT differs from the reference by %g" % err
    log("batched DiT forward matches the reference (float64)")


# --- validation: the objective test's checks on samples, during training ---------

def val_cases(n=40, grammar=2):
    """n (caption, colour, direction, bg, shape) for seeds VAL_SEED.. (the C
    test uses 1000.. and 2000..): grammar 2's training set drawn by
    demo_data.cases2 with other coefficients than the C test's, or grammar
    1's combinations, the directions in turn."""
    if grammar >= 2:
        return [(demo_data.caption(c, s, d, b), c, d, b, s) for c, s, d, b in demo_data.cases2(n, 5, 2, 7)]
    combos = demo_data.all_combinations()
    bgs, dirs = list(demo_data.BACKGROUNDS_V1), list(demo_data.DIRECTIONS)
    out = []
    for i in range(n):
        d = dirs[i % len(dirs)]
        color, shape = [(c, s) for c, s, dd in combos if dd == d][(7 * i) % (len(combos) // len(dirs))]
        out.append((demo_data.caption(color, shape, d, bgs[(i // 5) % 4]), color, d, bgs[(i // 5) % 4], None))
    return out


VAL_SEED = 7000


def prompt_contexts(tsd, sp, captions):
    """The text encoder's output for each caption and, as many times, for
    the model's negative prompt (what classifier-free guidance contrasts)."""
    tcfg = rt5.Config(tsd)
    neg = rt5.encode(tsd, tcfg, torch.tensor(tokenize(sp, DEFAULTS["negative_prompt"])))
    return [rt5.encode(tsd, tcfg, torch.tensor(tokenize(sp, c))) for c in captions], [neg] * len(captions)


def sample_batch(dsd, tsd, sp, captions, seeds, cfg=DEFAULTS["cfg"]):
    """The pipeline of tools/reference/pipeline.py (its noise, schedule and
    UniPC, the model's defaults) on a batch, in float32 -> latents [B, *LATENT_SHAPE]."""
    from reference import pipeline as rpipe
    from reference import sampler as rsampler
    ctx = dict(zip((1, 0), prompt_contexts(tsd, sp, captions)))
    noise = torch.stack([rpipe.noise(s, LATENT_SHAPE).float() for s in seeds])
    cfg_model = dit_config(dsd)

    def model(x, t, cond):
        return dit_forward_batch(dsd, cfg_model, x, torch.full((x.shape[0],), float(t)), ctx[cond])
    return rsampler.sample(noise, DEFAULTS["steps"], DEFAULTS["shift"], cfg, DEFAULTS["sampler"], model,
                           dtype=torch.float32)


def score_cases(cases, videos, grammar):
    """demo_data.measure of each (caption, colour, direction, bg, shape) case
    on its decoded clip, with the grammar's colour roles; -> (colour, motion,
    background, shape or None, all) counts."""
    if grammar >= 2:
        res = [demo_data.measure(v, c[1], c[2], c[3], c[4]) for c, v in zip(cases, videos)]
        return tuple(sum(r[k] for r in res) for k in range(4)) + (sum(all(r[:4]) for r in res),)
    res = [demo_data.measure(v, c[1], c[2], c[3], palette=demo_data.COLORS_V1, backgrounds=demo_data.BACKGROUNDS_V1,
                             wrap=False) for c, v in zip(cases, videos)]
    return tuple(sum(r[k] for r in res) for k in range(3)) + (None, sum(all(r[:3]) for r in res))


def score_text(score):
    """score_cases' counts as a log line."""
    c, m, b, sh, a = score
    return "colour %d motion %d background %d%s, all %d" % (c, m, b, "" if sh is None else " shape %d" % sh, a)


def model_settings(model_dir):
    """An exported demo model's t2v.json: its defaults (the guidance scale
    "cfg", ...) and "demo_grammar"."""
    with open(os.path.join(model_dir, "t2v.json")) as f:
        return json.load(f)


def model_grammar(model_dir):
    """The grammar an exported demo model was trained on: t2v.json's
    "demo_grammar", 1 when absent (as tests/demo_check.h reads it)."""
    return int(model_settings(model_dir).get("demo_grammar", 1))


def load_tokenizer(model_dir):
    """An exported model's SentencePiece tokenizer, where the official
    layout keeps it."""
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "google", "umt5-xxl", "spiece.model"))


def load_vae(model_dir):
    """An exported model's VAE weights (Wan2.1_VAE.pth), in float32."""
    return {k: v.float() for k, v in torch.load(os.path.join(model_dir, "Wan2.1_VAE.pth")).items()}


def validate(vsd, dsd, tsd, sp, n=40, grammar=2):
    """Generates n validation prompts and scores them as tests/test_demo.c
    does: (colour, motion, background, shape, all) passes."""
    cases = val_cases(n, grammar)
    with torch.no_grad():
        z = sample_batch(dsd, tsd, sp, [c[0] for c in cases], [VAL_SEED + i for i in range(n)])
        videos = [rvae.decode_whole(vsd, z[i]).numpy() for i in range(n)]
    return score_cases(cases, videos, grammar)


def dit_config(dsd):
    """DIT_CFG with the number of blocks, the FFN's width and the patch size
    of these weights."""
    layers = 1 + max(int(k.split(".")[1]) for k in dsd if k.startswith("blocks."))
    return dict(DIT_CFG, num_layers=layers, ffn_dim=dsd["blocks.0.ffn.0.weight"].shape[0],
                patch_size=tuple(dsd["patch_embedding.weight"].shape[2:]))


def repatch(dsd, patch):
    """A trained DiT cut into smaller spacetime patches (each of `patch` must
    divide the weights' own): the patch embedding of a small patch is the
    big patch's applied to the small one tiled to fill it (its taps summed
    by their offset within the small patch), and the head's output for a
    small patch is the mean of its outputs for the positions the small patch
    tiles. Exact for latents constant over a big patch; the blocks carry
    over unchanged (RoPE then counts positions in the smaller patches)."""
    have = dit_config(dsd)["patch_size"]
    if tuple(patch) == have:
        return dsd
    if any(h % p for h, p in zip(have, patch)):
        raise SystemExit("--dit-patch %s: must divide the weights' patch size %s" % (patch, have))
    D, C = DIT_CFG["dim"], DIT_CFG["out_dim"]
    rep = [h // p for h, p in zip(have, patch)]  # how many small patches tile a big one, per axis
    tiles = [n for r, p in zip(rep, patch) for n in (r, p)]  # each big-patch axis as (tile, offset in it)
    w = dsd["patch_embedding.weight"].view(D, DIT_CFG["in_dim"], *tiles)
    hw = dsd["head.head.weight"].view(*tiles, C, D)
    hb = dsd["head.head.bias"].view(*tiles, C)
    out = dict(dsd)
    out["patch_embedding.weight"] = w.sum(dim=(2, 4, 6)).contiguous()
    out["head.head.weight"] = hw.mean(dim=(0, 2, 4)).reshape(-1, D).contiguous()
    out["head.head.bias"] = hb.mean(dim=(0, 2, 4)).reshape(-1).contiguous()
    x = torch.randn(1, DIT_CFG["in_dim"], *patch, generator=torch.Generator().manual_seed(0)).repeat(1, 1, *rep)
    big = F.conv3d(x, dsd["patch_embedding.weight"], dsd["patch_embedding.bias"], stride=have).flatten(2)
    small = F.conv3d(x, out["patch_embedding.weight"], out["patch_embedding.bias"], stride=tuple(patch)).flatten(2)
    assert torch.allclose(small, big.expand_as(small), atol=1e-4), "repatch: the embedding of a tiled patch changed"
    log("dit: patches of %s cut into %s" % (have, tuple(patch)))
    return out


def grow_blocks(dsd, layers):
    """Deepens a trained DiT to `layers` blocks without changing its output:
    block i is followed by a copy of itself whose residual outputs
    (self_attn.o, cross_attn.o, ffn.2) are zero, so the copy starts as the
    identity and learns from there (as DiT's adaLN-zero blocks do)."""
    have = dit_config(dsd)["num_layers"]
    if layers == have:
        return dsd
    if layers < have or layers > 2 * have:
        raise SystemExit("--dit-layers %d: the weights have %d blocks; growing goes up to %d" % (layers, have, 2 * have))
    out = {k: v for k, v in dsd.items() if not k.startswith("blocks.")}
    order = []
    for i in range(have):
        order.append((i, False))
        if len(order) + (have - i - 1) < layers:
            order.append((i, True))
    for j, (i, copy) in enumerate(order):
        for k, v in dsd.items():
            if k.startswith("blocks.%d." % i):
                name = "blocks.%d." % j + k[len("blocks.%d." % i):]
                zero = copy and any(p in name for p in (".self_attn.o.", ".cross_attn.o.", ".ffn.2."))
                out[name] = torch.zeros_like(v) if zero else v.detach().clone()
    log("dit: grown from %d to %d blocks (identity copies)" % (have, layers))
    return out


WIDEN_SEED = 10  # widen_ffn's draws in train_dit; average_demo widens a narrower input with the same


def widen_ffn(dsd, ffn, gen):
    """Widens every block's FFN to `ffn` hidden units without changing the
    DiT's output: the new units' input weights are drawn as a new model's
    (default_init, bias 0) and their output weights (ffn.2's new columns)
    are zero, so they start silent and learn from there (as grow_blocks'
    copies do)."""
    have = dit_config(dsd)["ffn_dim"]
    if ffn == have:
        return dsd
    if ffn < have:
        raise SystemExit("--dit-ffn %d: the weights' FFN has %d units; widening cannot drop any" % (ffn, have))
    out = dict(dsd)
    for k in sorted(dsd):
        if k.endswith(".ffn.0.weight"):
            new = default_init(k, (ffn - have, dsd[k].shape[1]), gen)
            out[k] = torch.cat([dsd[k], new]).contiguous()
        elif k.endswith(".ffn.0.bias"):
            out[k] = torch.cat([dsd[k], torch.zeros(ffn - have)])
        elif k.endswith(".ffn.2.weight"):
            out[k] = torch.cat([dsd[k], torch.zeros(dsd[k].shape[0], ffn - have)], dim=1).contiguous()
    log("dit: FFN widened from %d to %d units (the new ones silent)" % (have, ffn))
    return out


def load_exported_dit(model_dir, raw=False):
    """The DiT and umT5 weights of an exported demo model, or of a weights
    file this phase saved (*.safetensors), to train on. A saved file holds
    the weights validation scored (the average, with --ema) and, with
    --ema, the raw weights under "raw."; raw=True returns those when present."""
    if model_dir.endswith(".safetensors"):
        sd = {k: torch.from_numpy(v).float() for k, v in st.load(model_dir)[0].items()}
        pre = "raw." if raw and any(k.startswith("raw.") for k in sd) else ""
        return ({k[len(pre) + 4:]: v for k, v in sd.items() if k.startswith(pre + "dit.")},
                {k[len(pre) + 3:]: v for k, v in sd.items() if k.startswith(pre + "t5.")})
    dsd = {k: torch.from_numpy(v).float() for k, v in
           st.load(os.path.join(model_dir, "diffusion_pytorch_model.safetensors"))[0].items()}
    tsd = {k: v.float() for k, v in torch.load(os.path.join(model_dir, "models_t5_umt5-xxl-enc-bf16.pth"),
                                                weights_only=True).items()}
    return dsd, tsd


def make_pair_sets(sd, work, n, kind, seed):
    """n sets of clips that differ in one thing: one clip's colour,
    background, direction, size, speed and path rendered as each of the three
    shapes (kind "shape"), or with its object and background colours swapped
    (kind "role": a red circle on blue, a blue circle on red) -> {"captions":
    [n][k], "latents": [n, k, 16, 5, 8, 8]} (cached in work)."""
    path = os.path.join(work, "%s_sets_%d_seed%d.pt" % (kind, n, seed))
    if os.path.exists(path):
        return torch.load(path)

    def item(rng):
        while True:
            color, shape, d, bg = demo_data.draw(rng)
            members = ([(color, s, bg) for s in demo_data.SHAPES] if kind == "shape"
                       else [(color, shape, bg), (bg, shape, color)])
            if all(demo_data.trained(*m) for m in members):
                break
        p = demo_data.render_params(d, rng)
        return ([demo_data.caption(c, s, d, b) for c, s, b in members],
                torch.stack([rvae.encode_whole(sd, torch.from_numpy(demo_data.render_at(c, s, d, b, *p)))
                             for c, s, b in members]).float())
    return encode_sets(path, n, seed, item, "%s sets" % kind)


def make_window_clips(sd, work, n, frames, seed):
    """n long clips of `frames` frames each (drawn as the training clips are;
    the frame wraps, so the motion goes on) -> {"captions": [n], "latents":
    [n, 16, T, 8, 8]}, T = 1 + (frames - 1) / 4 (cached in work). A long
    clip sampled in context windows (ref/lib/window.h) hands the DiT windows
    that start in the middle of the causal latent, whose first frame
    encodes four video frames and an object already in motion, not the one
    first frame of a training clip: flow_loss on window_crops trains on such windows."""
    path = os.path.join(work, "window_clips_%d_f%d_seed%d.pt" % (n, frames, seed))
    if os.path.exists(path):
        return torch.load(path)

    def item(rng):
        color, shape, d, bg = demo_data.draw(rng)
        clip = demo_data.render_at(color, shape, d, bg, *demo_data.render_params(d, rng), frames=frames)
        return demo_data.caption(color, shape, d, bg), rvae.encode_whole(sd, torch.from_numpy(clip)).float()
    return encode_sets(path, n, seed, item, "window clips")


LEVEL_DISTS = ("logit-normal", "uniform")


def training_levels(n, gen, shift, dist="logit-normal", span=(0.0, 1.0)):
    """n noise levels s of the flow-matching loss: logit-normal (SD3's
    choice, which trains the middle levels most), or uniform, as the
    sampler's steps fall (its timesteps are evenly spaced before the shift:
    the lowest and highest levels, where a shape's outline is finished and
    where the object is placed, trained as often as it uses them); then
    shifted as the sampler shifts its schedule (s -> shift s / (1 + (shift -
    1) s)), and mapped linearly onto span (lo, hi): the levels one expert
    of a Wan2.2-style pair sees (the low-noise expert: 0..boundary; the
    default 0..1 is the identity, bit for bit). Both draw one normal per
    level from gen."""
    u = torch.randn(n, generator=gen)
    s = torch.sigmoid(u) if dist == "logit-normal" else 0.5 * (1 + torch.erf(u / math.sqrt(2)))
    return span[0] + (span[1] - span[0]) * (shift * s / (1 + (shift - 1) * s))


def uniform_levels(n, gen, levels):
    """n noise levels uniform in levels (lo, hi): the pair losses' draw where
    a range is asked for (--pair-levels, --follow-levels)."""
    return levels[0] + (levels[1] - levels[0]) * torch.rand(n, generator=gen)


def paired_loss(dsd, cfg, enc, sets, gen, shift, levels=None, dist="logit-normal", span=(0.0, 1.0)):
    """The flow-matching loss on the differences within pair sets
    (make_pair_sets: x0 of one clip in k versions whose captions differ in
    one thing), all k noised with the same eps and s: the error in the
    *difference* of each pair's velocities, (v_a - v_b) - (x0_b - x0_a). The
    plain loss hides this signal under the error of predicting eps (the
    three shapes of a set differ by a quarter to a half of what a colour
    change moves); here eps cancels, and the caption's one differing thing
    is all that tells a from b. levels (lo, hi): draw the noise levels
    uniformly from [lo, hi] instead of the plain loss's distribution.
    """
    x0, caps = sets["latents"], sets["captions"]      # [B, k, 16, 5, 8, 8], [B][k]
    B, k = x0.shape[:2]
    s = uniform_levels(B, gen, levels) if levels else training_levels(B, gen, shift, dist, span)
    eps = torch.randn((B,) + x0.shape[2:], generator=gen)
    sv = s.view(B, 1, 1, 1, 1, 1)
    xs = ((1 - sv) * x0 + sv * eps.unsqueeze(1)).flatten(0, 1)
    v = dit_forward_batch(dsd, cfg, xs, (s * 1000.0).repeat_interleave(k), [enc[c] for row in caps for c in row])
    v = v.view(x0.shape)
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    return sum(((v[:, a] - v[:, b]) - (x0[:, b] - x0[:, a])).pow(2).mean() for a, b in pairs) / len(pairs)


def follow_loss(dsd, cfg, enc, sets, gen, levels, mix=False, guide=0.0):
    """Caption forcing on shape sets: each member a, noised to a level s
    uniform in levels (lo, hi), is given the caption of another member b of
    its set (the same clip as another shape), and the DiT's x0 prediction
    x - s v must be x0_b. On the sampler's path caption and clip always
    agree, so the plain loss lets the DiT copy the shape its noisy input
    suggests; from s = 0.9 up that suggestion is mostly noise, and a DiT
    that copies it draws the shape the noise chose. This term rewards the
    caption's shape wherever the two disagree. mix: the noisy clip is a
    random blend of the set's shapes instead (the undecided blob a sample
    passes through), and member b's caption asks for b. guide > 0: the x0
    of the guided velocity v_u + guide (v - v_u) (v_u: the empty caption's,
    which enc must hold), as the sampler forms it, must be x0_b instead.
    Returns the mean squared x0 error."""
    x0, caps = sets["latents"], sets["captions"]      # [B, k, 16, 5, 8, 8], [B][k]
    B, k = x0.shape[:2]
    n = B * k
    row, a = torch.arange(n) // k, torch.arange(n) % k
    if mix:  # the clean clip: a random blend of the set's k shapes, weights uniform on the simplex
        w = -torch.log(torch.rand(n, k, generator=gen))
        clean = torch.einsum("nj,nj...->n...", w / w.sum(1, keepdim=True), x0[row])
        b = a
    else:
        b = (a + torch.randint(1, k, (n,), generator=gen)) % k
        clean = x0[row, a]
    s = uniform_levels(n, gen, levels)
    eps = torch.randn((n,) + x0.shape[2:], generator=gen)
    sv = s.view(n, 1, 1, 1, 1)
    xs = (1 - sv) * clean + sv * eps
    v = dit_forward_batch(dsd, cfg, xs, s * 1000.0, [enc[caps[r][j]] for r, j in zip(row.tolist(), b.tolist())])
    if guide:
        v_u = dit_forward_batch(dsd, cfg, xs, s * 1000.0, [enc[""]] * n)
        v = v_u + guide * (v - v_u)
    return ((xs - sv * v) - x0[row, b]).pow(2).mean()


def window_crops(clips, n, frames, rng):
    """n windows of `frames` latent frames cut from the long clips of
    make_window_clips, each starting at a frame in [1, T - frames] (a window
    that starts at 0 is an ordinary training clip) -> (latents [n, 16,
    frames, 8, 8], captions)."""
    lat = clips["latents"]
    js = rng.integers(len(clips["captions"]), size=n)
    ks = rng.integers(1, lat.shape[2] - frames + 1, size=n)
    return (torch.stack([lat[j, :, k:k + frames] for j, k in zip(js, ks)]),
            [clips["captions"][j] for j in js])


def prefix_times(t, prefix, latent_shape, patch):
    """Per-token timesteps [n, L] for latents of latent_shape (C, T, H, W):
    t [n] on every token but those of the first `prefix` latent frames, which
    get 0 (clean frames held as they are, Wan2.2 TI2V's form)."""
    f, hw = latent_shape[1] // patch[0], (latent_shape[2] // patch[1]) * (latent_shape[3] // patch[2])
    tt = t.view(-1, 1, 1).expand(-1, f, hw).clone()
    tt[:, :prefix // patch[0]] = 0
    return tt.reshape(t.shape[0], f * hw)


def object_cell_weights(x0, weight, frac=0.25):
    """[n, 1, T, H, W] loss weights for clean latents x0 [n, C, T, H, W]:
    `weight` on the latent cells of the object, 1 elsewhere, scaled to a
    mean of 1 in each clip. The object's cells are those whose latent vector
    is further from the frame's median (the background's) than frac of the
    frame's largest distance: on 40 training clips, about 36% of the cells,
    which take in all but 9% of the cells the decoded object covers (a
    tenth of a cell or more)."""
    n, _, T, H, W = x0.shape
    z = x0.flatten(3)
    d = (z - z.median(dim=3, keepdim=True).values).norm(dim=1)
    m = (d > frac * d.amax(dim=2, keepdim=True)).float().view(n, 1, T, H, W)
    w = 1.0 + (weight - 1.0) * m
    return w / w.mean(dim=(1, 2, 3, 4), keepdim=True)


def flow_loss(dsd, cfg, enc, x0, texts, gen, shift, prefix=0, object_weight=1.0, temporal=0.0,
              dist="logit-normal", span=(0.0, 1.0)):
    """The plain flow-matching loss on clean latents x0 [n, 16, T, 8, 8]
    captioned texts: x_s = (1 - s) x0 + s eps at training_levels, target
    eps - x0. On the training clips, and (as the window loss) on windows cut
    from the middle of long clips (window_crops), so that the DiT continues
    a motion from a window's first latent frame as context windows need
    (make_window_clips). prefix > 0: the first `prefix` latent frames are
    given clean, at t = 0 (prefix_times), and left out of the loss: the DiT
    learns to continue frames it is shown (the chained long-clip sampler).
    object_weight > 1 weighs the squared error on the object's latent cells
    (object_cell_weights) that much more: a shape is a few latent values
    among the background's many. temporal > 0 adds that times the squared
    difference of the error between neighbouring latent frames (same
    weights): an error that changes from one latent frame to the next moves
    the object unevenly. With a prefix, the step out of the last given frame
    counts too (the sampler keeps given frames exact: their error is 0), so
    the first frame the DiT samples must follow the frames it was shown (the
    chain's seam). Both leave the loss's minimiser, the conditional
    mean velocity, where it is; they change what a small model gets right
    first."""
    n = x0.shape[0]
    s = training_levels(n, gen, shift, dist, span)
    eps = torch.randn(x0.shape, generator=gen)
    sv = s.view(n, 1, 1, 1, 1)
    x, t = (1 - sv) * x0 + sv * eps, s * 1000.0
    if prefix:
        x[:, :, :prefix] = x0[:, :, :prefix]
        t = prefix_times(t, prefix, x0.shape[1:], cfg["patch_size"])
    v = dit_forward_batch(dsd, cfg, x, t, [enc[t_] for t_ in texts])
    err = (v - (eps - x0))[:, :, prefix:]
    if object_weight == 1.0 and not temporal:
        return (err ** 2).mean()
    w = object_cell_weights(x0[:, :, prefix:], object_weight) if object_weight != 1.0 else torch.ones_like(err[:, :1])
    loss = (w * err ** 2).mean()
    if temporal:
        steps = err.diff(dim=2, prepend=torch.zeros_like(err[:, :, :1])) if prefix else err.diff(dim=2)
        loss = loss + temporal * ((w if prefix else w[:, :, 1:]) * steps ** 2).mean()
    return loss


def pixel_loss(dsd, cfg, vsd, enc, x0, texts, captions, gen, rng, levels, cells=4, object_weight=10.0, edge_px=3):
    """The DiT's prediction of the clean latent, x0' = x_s - s v at s
    uniform in `levels`, drawn by the frozen VAE decoder and compared with
    the clean latent x0 drawn by it: the L1 weighted object_weight on the
    object and the edge_px pixels around it (object_crop's weighting), on an
    object_cells window of both. A shape is a few latent values, and the
    plain loss weighs them no more than the background's many (for a yellow
    triangle no more than for a black one, whose shape the DiT keeps); the
    decoder weighs them as the pixels they draw. captions: the clips' own
    (texts may drop them); the object is where the drawn clean clip differs
    from the caption's background colour."""
    n = x0.shape[0]
    s = uniform_levels(n, gen, levels)
    eps = torch.randn(x0.shape, generator=gen)
    sv = s.view(n, 1, 1, 1, 1)
    xs = (1 - sv) * x0 + sv * eps
    pred = xs - sv * dit_forward_batch(dsd, cfg, xs, s * 1000.0, [enc[t] for t in texts])
    loss = 0
    for i in range(n):
        with torch.no_grad():
            mask = dilate(object_mask(captions[i], rvae.decode_whole(vsd, x0[i]).numpy(), 0.3), edge_px)
            iy, ix, py, px = object_cells(mask, rng, cells)
            target = decode_raw(vsd, crop_cells(x0[i], iy, ix).contiguous())
            weight = 1.0 + (object_weight - 1.0) * torch.from_numpy(
                np.ascontiguousarray(crop_cells(mask[None], py, px)).astype(np.float32))
        drawn = decode_raw(vsd, crop_cells(pred[i], iy, ix).contiguous())
        loss = loss + (weight * (drawn - target).abs()).sum() / (3 * weight.sum())
    return loss / n


def role_labels(sp, text):
    """Per token of tokenize(sp, text): 1 on the object's colour word (the
    caption's first), 2 on the background's (its second), 0 elsewhere."""
    labels, colours = [], 0
    for i in tokenize(sp, text):
        is_colour = sp.id_to_piece(i).lstrip("\u2581") in demo_data.PALETTE
        colours += is_colour
        labels.append(min(colours, 2) if is_colour else 0)
    return torch.tensor(labels)


def shape_labels(sp, text):
    """Per token of tokenize(sp, text): the caption's shape (index into
    SHAPES) on every token, so that the shape is carried by the whole
    caption and not by one token of it."""
    return torch.full((len(tokenize(sp, text)),), demo_data.SHAPES.index(demo_data.parse_caption(text)[1]))


def token_probe_loss(probe, enc, labels):
    """A probe on the text encoder: a linear map (text_dim x 3, trained
    with it and thrown away) from each token's encoding to its labels,
    cross-entropy over the captions of a step.

    The role probe (labels: role_labels). Without it the encoder learns a
    lookup table: a colour word comes out the same whether it names the
    object or the background (cosine 1.000 between "red" in "a red circle
    ... on a blue background" and in "a blue circle ... on a red
    background"), and the DiT's cross-attention, which has no text
    positions, cannot tell the two prompts apart.

    The shape probe (labels: shape_labels). After the role probe the three
    shape words came out close (largest cosine 0.89, shape_cosine; the
    grammar-1 model, which draws its shapes, has 0.04 between circle and
    triangle). It takes that to 0.05, but the samples' shapes did not
    follow: what fails is the DiT (tools/demo_shape_levels.py)."""
    w, b = probe
    return sum(F.cross_entropy(enc[t] @ w + b, labels[t]) for t in labels) / max(1, len(labels))


def linear_probe(gen):
    """The weights of a token probe (token_probe_loss): text_dim x 3 and 3."""
    return [(0.1 * torch.randn(DIT_CFG["text_dim"], 3, generator=gen)).requires_grad_(True),
            torch.zeros(3).requires_grad_(True)]


def role_cosine(tsd, sp):
    """The cosine between the text encoder's output for "red" naming the
    object and "red" naming the background (a red circle on blue, a blue
    circle on red): 1 when the encoder cannot tell the roles apart."""
    cfg, out = rt5.Config(tsd), []
    for text, role in (("a red circle moving up on a blue background", 1),
                       ("a blue circle moving up on a red background", 2)):
        enc = rt5.encode(tsd, cfg, torch.tensor(tokenize(sp, text)))
        out.append(enc[role_labels(sp, text).tolist().index(role)])
    return float(F.cosine_similarity(out[0], out[1], dim=0))


def shape_cosine(tsd, sp):
    """The largest cosine between the text encoder's outputs for the shape
    word of one caption in its three shapes: 1 when two shapes look alike."""
    cfg, out = rt5.Config(tsd), []
    for shape in demo_data.SHAPES:
        text = demo_data.caption("red", shape, "moving up", "blue")
        ids = tokenize(sp, text)
        out.append(rt5.encode(tsd, cfg, torch.tensor(ids))[ids.index(sp.piece_to_id(shape))])
    return max(float(F.cosine_similarity(out[a], out[b], dim=0)) for a in range(3) for b in range(a + 1, 3))


def clip_weights(captions, shape_p):
    """The probability of drawing each clip so that the shapes its caption
    names come in the shares shape_p (circle, square, triangle)."""
    parsed = [demo_data.parse_caption(c) for c in captions]
    if None in parsed:
        raise ValueError("--dit-shapes: %r is not a grammar caption" % captions[parsed.index(None)])
    shapes = np.array([demo_data.SHAPES.index(c[1]) for c in parsed])
    count = np.bincount(shapes, minlength=len(demo_data.SHAPES))
    if (count == 0).any():
        raise ValueError("--dit-shapes: the training clips have no %s" % demo_data.SHAPES[int(np.argmin(count))])
    p = np.asarray(shape_p, np.float64)[shapes] / count[shapes]
    return p / p.sum()


def train_dit(work, data, sp, steps, batch, time_limit=None, shift=3.0, lr_max=1e-3, init=None,
              vsd=None, eval_every=2000, pairs=(), pair_batch=4, ema=0.0, layers=None, grammar=2, role_probe=0.0,
              shape_probe=0.0, pair_levels=None, patch=None, follow=None, windows=None, train_only=None,
              shape_p=None, pixel=None, ffn=None, object_weight=1.0, temporal=0.0, level_dist="logit-normal",
              level_span=(0.0, 1.0)):
    """AdamW, warm-up then cosine decay over `steps`, or over time_limit
    seconds when that comes first (the schedule then follows the clock).
    Noise levels: s = logit-normal shifted by `shift` as the sampler shifts its
    schedule (s -> shift s / (1 + (shift - 1) s)), so that the high noise
    levels, where the sampler spends half its steps deciding where the object
    goes, are trained as often as it uses them. pairs: (kind, sets, weight)
    of make_pair_sets; each step adds weight x paired_loss on pair_batch sets
    of each kind (noise levels from pair_levels when given). role_probe > 0
    adds that times token_probe_loss on role_labels, shape_probe > 0 that
    times the same loss on shape_labels. follow (weight, (lo, hi), mix,
    guide): add weight x follow_loss on the shape sets drawn for the step. windows
    (clips, weight, n, prefix): add weight x flow_loss on n windows of the long
    clips (make_window_clips) cut by window_crops, their first `prefix`
    latent frames given clean. ema > 0
    keeps an exponential moving average of the weights (decay ema), which is
    what validation scores and the export gets. layers: grow the DiT to this
    many blocks first (grow_blocks); ffn: widen the FFNs to this many units
    (widen_ffn). train_only: a regular expression; only
    the weights whose names ("dit." or "t5." and the tensor's name) it
    matches (re.search) are trained, the rest stay as loaded. shape_p: the
    share of circles, squares and triangles among the clips of each batch
    (clip_weights; default: clips drawn uniformly). pixel (weight, n,
    (lo, hi)): add weight x pixel_loss on n clips of the batch (needs vsd).
    object_weight, temporal: flow_loss's weighting of the object's cells and
    its term on the error's steps between latent frames, in the plain loss
    and the window loss. level_dist, level_span: training_levels'
    distribution and span (the plain, window and pair losses).
    Every eval_every steps
    the validation score (validate) is logged and the weights saved."""
    if windows and windows[0]["latents"].shape[2] <= data["latents"].shape[2]:
        raise ValueError("--window-frames: the long clips have %d latent frames, a window %d; a window that starts "
                         "in the middle needs longer clips (at least %d frames)" % (
                             windows[0]["latents"].shape[2], data["latents"].shape[2],
                             1 + 4 * data["latents"].shape[2]))
    extras = "".join("_%s%g" % (k, w) for k, _, w in pairs) + \
        ("_probe%g" % role_probe if role_probe else "") + ("_sprobe%g" % shape_probe if shape_probe else "") + \
        ("_levels%g-%g" % tuple(pair_levels) if pair_levels else "") + \
        ("_p%d%d%d" % tuple(patch) if patch else "") + \
        ("_%s%g-%g-%g" % (("mix" if follow[2] else "follow", follow[0]) + tuple(follow[1])) if follow else "") + \
        ("_g%g" % follow[3] if follow and follow[3] else "") + \
        ("_win%g-%d-%d" % (windows[1], windows[2], windows[0]["latents"].shape[2]) if windows else "") + \
        ("_prefix%d" % windows[3] if windows and windows[3] else "") + \
        ("_only-%s" % re.sub(r"\W+", "", train_only) if train_only else "") + \
        ("_shapes%g-%g-%g" % tuple(shape_p) if shape_p else "") + \
        ("_pixel%g-%d-%g-%g" % ((pixel[0], pixel[1]) + tuple(pixel[2])) if pixel else "") + \
        ("_ffn%d" % ffn if ffn else "") + ("_obj%g" % object_weight if object_weight != 1.0 else "") + \
        ("_temporal%g" % temporal if temporal else "") + ("_u%s" % level_dist if level_dist != "logit-normal" else "") + \
        ("_span%g-%g" % tuple(level_span) if tuple(level_span) != (0.0, 1.0) else "")
    tag = "dit_t5_%d_s%g_n%d%s%s%s" % (steps, shift, len(data["captions"]), "_cont" if init else "", extras,
                                       "_ema" if ema else "")
    path = os.path.join(work, tag + ".safetensors")
    if os.path.exists(path):
        return load_exported_dit(path)
    gen = torch.Generator().manual_seed(3)
    rng = np.random.default_rng(3)
    if init:
        dsd, tsd = load_exported_dit(init, raw=True)
        log("dit: starting from", init)
    else:
        shapes = rdit.param_shapes(dict(DIT_CFG, num_layers=layers or DIT_CFG["num_layers"],
                                        ffn_dim=ffn or DIT_CFG["ffn_dim"],
                                        patch_size=tuple(patch or DIT_CFG["patch_size"])))
        dsd = init_params(list(shapes.items()), gen, dit_init)
        tsd = init_params(t5_shapes(sp.get_piece_size()), gen, default_init)
        for k in tsd:
            if k.endswith("token_embedding.weight"):
                tsd[k].data.normal_(0, 1, generator=gen)
    if layers:
        dsd = grow_blocks(dsd, layers)
    if ffn:
        dsd = widen_ffn(dsd, ffn, torch.Generator().manual_seed(WIDEN_SEED))
    if patch:
        dsd = repatch(dsd, patch)
    names = ["dit." + k for k in dsd] + ["t5." + k for k in tsd]
    params = list(dsd.values()) + list(tsd.values())
    train = [train_only is None or re.search(train_only, n) is not None for n in names]
    if not any(train):
        raise ValueError("--dit-train %r: matches none of the weights' names (e.g. %s)" % (train_only, names[0]))
    for p, t in zip(params, train):
        p.requires_grad_(t)
    trained = [p for p, t in zip(params, train) if t]
    if train_only:
        log("dit: training %d of %d weight tensors (%d of %d values)" % (
            len(trained), len(params), sum(p.numel() for p in trained), sum(p.numel() for p in params)))
    cfg = dit_config(dsd)
    tcfg = rt5.Config(tsd)
    check_batched_dit(dsd, tsd, sp)
    probe = linear_probe(gen) if role_probe else []
    # the shape probe draws from its own stream: gen's draws are the same with or without it
    sprobe = linear_probe(torch.Generator().manual_seed(4)) if shape_probe else []
    opt = torch.optim.AdamW(trained + probe + sprobe, lr=lr_max, weight_decay=0.0)
    avg = [p.detach().clone() for p in params] if ema else None

    def weights():  # what validation scores and the export gets
        w = avg if ema else [p.detach() for p in params]
        return dict(zip(dsd, w[:len(dsd)])), dict(zip(tsd, w[len(dsd):]))

    def save(p):
        d, t = weights()
        out = {"dit." + k: v for k, v in d.items()}
        out.update({"t5." + k: v for k, v in t.items()})
        if ema:  # the raw weights too, so that --dit-from resumes them
            out.update({"raw.dit." + k: v.detach() for k, v in dsd.items()})
            out.update({"raw.t5." + k: v.detach() for k, v in tsd.items()})
        st.save(p, {k: v.numpy() for k, v in out.items()})

    def evaluate(step):
        if vsd is None:
            return
        d, t = weights()
        log("dit step %d validation (40 prompts, seeds %d..): %s; red as object and as background: cosine %.3f; "
            "shape words: largest cosine %.3f" % (step, VAL_SEED, score_text(validate(vsd, d, t, sp, grammar=grammar)),
                                                  role_cosine(t, sp), shape_cosine(t, sp)))
        save(os.path.join(work, "%s_at%d.safetensors" % (tag, step)))

    ids_cache, labels_cache = {}, {}
    probes = [p for p in (("role probe", role_probe, probe, role_labels),
                          ("shape probe", shape_probe, sprobe, shape_labels)) if p[1]]
    terms = [(k + " pairs", w) for k, _, w in pairs] + [(n, w) for n, w, _, _ in probes]  # the order of pl
    shape_pick = [i for i, (k, _, _) in enumerate(pairs) if k == "shape"]
    if follow:
        if not shape_pick:
            raise ValueError("caption forcing (--shape-follow) needs the shape sets: --shape-sets N with "
                             "--shape-weight > 0")
        terms.append(("shape follow", follow[0]))
        fgen = torch.Generator().manual_seed(6)  # its own stream: gen's draws are the same with or without it
    if pixel:
        if vsd is None:
            raise ValueError("--pixel-weight needs the VAE (its decoder draws the predictions)")
        terms.append(("pixel", pixel[0]))
        pgen, prng = torch.Generator().manual_seed(9), np.random.default_rng(9)  # their own streams, as fgen
    if windows:
        terms.append(("windows", windows[1]))
        wgen, wrng = torch.Generator().manual_seed(7), np.random.default_rng(7)  # their own streams, as fgen

    def encode(texts):  # each distinct caption through the text encoder once
        enc = {}
        for text in sorted(set(texts)):  # a fixed order: the gradients then sum in one order
            if text not in ids_cache:
                ids_cache[text] = torch.tensor(tokenize(sp, text), dtype=torch.int64)
            enc[text] = rt5.encode(tsd, tcfg, ids_cache[text])
        return enc

    lat, caps = data["latents"], data["captions"]
    clip_p = clip_weights(caps, shape_p) if shape_p else None
    t0 = time.time()
    for step in range(steps):
        frac = schedule_fraction(step, steps, t0, time_limit)
        if frac >= 1:
            log("dit: time limit reached after %d steps" % step)
            break
        if step and step % eval_every == 0:
            evaluate(step)
        lr = lr_max * min(1.0, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        js = rng.choice(len(caps), size=batch, p=clip_p) if shape_p else rng.integers(len(caps), size=batch)
        texts = ["" if rng.random() < 0.1 else caps[j] for j in js]
        picks = []
        for _, sets, _ in pairs:
            ks = rng.integers(len(sets["captions"]), size=pair_batch)
            picks.append({"latents": sets["latents"][torch.from_numpy(ks)],
                          "captions": [sets["captions"][k] for k in ks]})
        if windows:
            wx0, wtexts = window_crops(windows[0], windows[2], lat.shape[2], wrng)
            wtexts = ["" if wrng.random() < 0.1 else t for t in wtexts]
        enc = encode(texts + [c for sb in picks for row in sb["captions"] for c in row] + (wtexts if windows else []) +
                     ([""] if follow and follow[3] else []))
        loss = flow_loss(dsd, cfg, enc, lat[torch.from_numpy(js)], texts, gen, shift, 0, object_weight, temporal,
                         level_dist, level_span)
        pl = [paired_loss(dsd, cfg, enc, sb, gen, shift, pair_levels, level_dist, level_span) for sb in picks]
        for name, _, pr, label in probes:
            for t in enc:
                if t and (name, t) not in labels_cache:
                    labels_cache[name, t] = label(sp, t)
            pl.append(token_probe_loss(pr, enc, {t: labels_cache[name, t] for t in enc if t}))
        if follow:
            pl.append(follow_loss(dsd, cfg, enc, picks[shape_pick[0]], fgen, follow[1], follow[2], follow[3]))
        if pixel:
            pj = js[:pixel[1]]
            pl.append(pixel_loss(dsd, cfg, vsd, enc, lat[torch.from_numpy(pj)], texts[:pixel[1]],
                                 [caps[j] for j in pj], pgen, prng, pixel[2]))
        if windows:
            pl.append(flow_loss(dsd, cfg, enc, wx0, wtexts, wgen, shift, windows[3], object_weight, temporal,
                                level_dist, level_span))
        (loss + sum(w * x for (_, w), x in zip(terms, pl))).backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        if ema:
            with torch.no_grad():
                for a_, p_, t_ in zip(avg, params, train):
                    if t_:  # a weight not trained keeps its bits (x ema + x (1 - ema) would round)
                        a_.mul_(ema).add_(p_.detach(), alpha=1 - ema)
        if step % 50 == 0 or step == steps - 1:
            log("dit step %d/%d  loss %.4f%s  lr %.1e  (%.2f s/step)" % (
                step, steps, loss.item(), "".join("  %s %.4f" % (n, x.item()) for (n, _), x in zip(terms, pl)),
                lr, (time.time() - t0) / (step + 1)))
    evaluate(step)
    save(path)
    return weights()


# --- 5. export ----------------------------------------------------------------------

def fit_preview(vsd, data, n=200):
    """Least squares latent (16 + 1) -> RGB of the decoded frames, averaged over
    each 8x8 block (what one latent pixel covers)."""
    X, Y = [], []
    with torch.no_grad():
        for i in range(min(n, len(data["latents"]))):  # fewer when --latent-minutes ran out
            z = data["latents"][i]
            video = rvae.decode_whole(vsd, z)          # [3, 17, 64, 64]
            rgb = F.avg_pool2d(video[:, -4:].mean(dim=1).unsqueeze(0), 8)[0]  # last latent frame
            X.append(z[:, -1].reshape(16, -1).t())
            Y.append(rgb.reshape(3, -1).t())
    X, Y = torch.cat(X).double(), torch.cat(Y).double()
    Xb = torch.cat([X, torch.ones(X.shape[0], 1, dtype=torch.float64)], dim=1)
    sol = torch.linalg.lstsq(Xb, Y).solution      # [17, 3]
    return [float(v) for v in sol[:16].reshape(-1)] + [float(v) for v in sol[16]]


def write_dit_t5(out_dir, dsd, tsd):
    """The DiT (F32 safetensors) and the text encoder (bf16, torch.save) as
    the official layout names them."""
    st.save(os.path.join(out_dir, "diffusion_pytorch_model.safetensors"),
            {k: v.float().contiguous() for k, v in dsd.items()})
    torch.save({k: v.to(torch.bfloat16).contiguous() for k, v in tsd.items()},
               os.path.join(out_dir, "models_t5_umt5-xxl-enc-bf16.pth"))


def write_dit_config(out_dir, dsd):
    """config.json as Wan's DiT configs name it, for these weights (their
    blocks, FFN width and patch size)."""
    dc = dit_config(dsd)
    cfg = {"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": DIT_CFG["dim"],
           "eps": DIT_CFG["eps"], "ffn_dim": dc["ffn_dim"], "freq_dim": DIT_CFG["freq_dim"],
           "in_dim": 16, "model_type": "t2v", "num_heads": DIT_CFG["num_heads"],
           "num_layers": dc["num_layers"], "out_dim": 16, "text_len": DIT_CFG["text_len"],
           "text_dim": DIT_CFG["text_dim"]}
    if dc["patch_size"] != DIT_CFG["patch_size"]:  # Wan's configs name it; absent means (1, 2, 2)
        cfg["patch_size"] = list(dc["patch_size"])
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def export(out_dir, spm_path, vsd, dsd, tsd, data, grammar=2, chain=False):
    """The model folder in the official layout; t2v.json's defaults are
    DEFAULTS, with "context_schedule": "chain" when the DiT was trained to
    continue held frames (--window-prefix): long clips are then sampled with
    the chain schedule (ref/lib/window.h)."""
    os.makedirs(os.path.join(out_dir, "google", "umt5-xxl"), exist_ok=True)
    write_dit_config(out_dir, dsd)
    write_dit_t5(out_dir, dsd, tsd)
    torch.save({k: v.float().contiguous() for k, v in vsd.items()}, os.path.join(out_dir, "Wan2.1_VAE.pth"))
    with open(spm_path, "rb") as f, open(os.path.join(out_dir, "google", "umt5-xxl", "spiece.model"), "wb") as g:
        g.write(f.read())
    d = dict(DEFAULTS, demo_grammar=grammar)
    if chain:
        d["context_schedule"] = "chain"
    d["preview_factors"] = fit_preview(vsd, data)
    with open(os.path.join(out_dir, "t2v.json"), "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
    log("exported", out_dir)


def shape_shares(text):
    """--dit-shapes C,S,T -> [C, S, T]: three shares >= 0, not all 0."""
    try:
        shares = [float(x) for x in text.split(",")]
    except ValueError:
        shares = []
    if len(shares) != 3 or min(shares) < 0 or sum(shares) <= 0:
        raise argparse.ArgumentTypeError("%s: three shares >= 0 (circle, square, triangle), not all 0" % text)
    return shares


def level_range(text):
    """argparse type of LO,HI: two noise levels, 0 <= LO <= HI <= 1."""
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("%r: want LO,HI, two noise levels" % text)
    if not 0 <= lo <= hi <= 1:
        raise argparse.ArgumentTypeError("%r: want 0 <= LO <= HI <= 1" % text)
    return lo, hi


def regex(text):
    """--dit-train REGEX: the pattern, once it compiles."""
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError("%s: not a regular expression (%s)" % (text, e))
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/t2v-demo-work")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "demo"))
    ap.add_argument("--vae-steps", type=int, default=12000, help="length of the VAE's lr schedule")
    ap.add_argument("--vae-minutes", type=float, default=45.0,
                    help="time box of the VAE phase (its lr schedule follows the clock); 0: none")
    ap.add_argument("--vae-lr", type=float, default=1e-3, help="peak learning rate of the VAE phase")
    ap.add_argument("--vae-init", default=None,
                    help="the unfolded VAE weights of an earlier run (vae_probe.safetensors in its --work) to train "
                    "further; the result is cached as vae_probe_cont.safetensors")
    ap.add_argument("--vae-edge-weight", type=float, default=0.0,
                    help="weight of the VAE's gradient-difference loss (edge_loss); 0: none")
    ap.add_argument("--decoder-minutes", type=float, default=0,
                    help="with --vae-from: fine-tune its decoder this long, the encoder frozen (train_decoder)")
    ap.add_argument("--decoder-steps", type=int, default=20000, help="length of the decoder's lr schedule")
    ap.add_argument("--decoder-lr", type=float, default=3e-4, help="peak learning rate of the decoder phase")
    ap.add_argument("--decoder-shapes", default="0.25,0.25,0.5",
                    help="how often the decoder phase draws a circle, a square and a triangle")
    ap.add_argument("--decoder-dit", default=None, metavar="DIR",
                    help="the decoder phase also learns to draw latents the DiT of this exported model finished "
                    "(dit_latent_pool: clips encoded, noised to --decoder-dit-levels, finished by the DiT); "
                    "default: only the encoder's latents")
    ap.add_argument("--decoder-dit-clips", type=int, default=2000, help="clips in that pool")
    ap.add_argument("--decoder-dit-levels", default=(0.3, 0.7), metavar="LO,HI", type=level_range,
                    help="the pool's noise levels s0, uniform in [LO, HI]")
    ap.add_argument("--decoder-dit-share", type=float, default=0.5,
                    help="the share of decoder steps that take a pool latent")
    ap.add_argument("--vae-only", action="store_true",
                    help="stop after the VAE phases, the folded VAE in --work/Wan2.1_VAE.pth")
    ap.add_argument("--clips", type=int, default=4000)
    ap.add_argument("--dit-steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the VAE phases")
    ap.add_argument("--dit-threads", type=int, default=1,
                    help="torch threads for the DiT phase (its ops are small: 1 thread ran 2.5x faster than 2)")
    ap.add_argument("--vae-from", default=None,
                    help="a Wan2.1_VAE.pth from an earlier export: use it instead of training the VAE "
                    "again, and go on with the latents and the DiT")
    ap.add_argument("--latent-minutes", type=float, default=None, help="stop encoding clips after this long")
    ap.add_argument("--dit-minutes", type=float, default=120.0,
                    help="time box of the DiT phase (its lr schedule follows the clock); 0: none")
    ap.add_argument("--latent-seeds", default="2",
                    help="comma-separated seeds of the clip sets (--clips clips each) the DiT trains on; "
                    "each set is cached in --work, so sets can be encoded by separate --latents-only runs")
    ap.add_argument("--add-latents", action="append", default=[], metavar="FILE",
                    help="train the DiT on these latents too: a torch.save of {\"captions\": [n], \"latents\": "
                    "[n, 16, 5, 8, 8]}, as the latents phase caches them (repeatable)")
    ap.add_argument("--latents-only", action="store_true", help="stop after encoding the latents")
    ap.add_argument("--train-shift", type=float, default=3.0,
                    help="shift of the DiT's training noise levels (1: plain logit-normal)")
    ap.add_argument("--dit-lr", type=float, default=1e-3, help="peak learning rate of the DiT phase")
    ap.add_argument("--dit-from", default=None,
                    help="an exported model directory, or weights saved by this phase (*.safetensors): train "
                    "that DiT and umT5 further instead of from scratch")
    ap.add_argument("--eval-every", type=int, default=2000,
                    help="DiT steps between validation scores (and saved weights)")
    ap.add_argument("--shape-sets", type=int, default=500,
                    help="shape sets (a clip as circle, square and triangle) for the paired shape loss; 0: none")
    ap.add_argument("--shape-weight", type=float, default=2.0, help="weight of the paired shape loss")
    ap.add_argument("--role-sets", type=int, default=0,
                    help="role sets (a clip and the same clip with object and background colours swapped) for the "
                    "paired role loss; 0: none")
    ap.add_argument("--role-weight", type=float, default=2.0, help="weight of the paired role loss")
    ap.add_argument("--role-probe", type=float, default=1.0,
                    help="weight of the text encoder's role probe (token_probe_loss); 0: none (runs before "
                    "2026-12-05 evening had none)")
    ap.add_argument("--shape-probe", type=float, default=0.0,
                    help="weight of the text encoder's shape probe (token_probe_loss on shape_labels); 0: none")
    ap.add_argument("--pair-levels", default=None,
                    help="LO,HI: the pair sets' noise levels uniform in [LO, HI] (where the shape is decided); "
                    "default: the plain loss's")
    ap.add_argument("--shape-follow", type=float, default=0.0,
                    help="weight of caption forcing (follow_loss) on the shape sets; 0: off")
    ap.add_argument("--follow-levels", default="0.7,0.99",
                    help="LO,HI: caption forcing's noise levels, uniform in [LO, HI]")
    ap.add_argument("--follow-mix", action="store_true",
                    help="caption forcing from a random blend of the set's shapes (follow_loss's mix)")
    ap.add_argument("--follow-guidance", type=float, default=0.0,
                    help="caption forcing on the guided prediction with this guidance scale (the empty caption's "
                    "velocity as the unconditional one, as the sampler forms it); 0: the conditional prediction")
    ap.add_argument("--pair-batch", type=int, default=4, help="shape sets, and role sets, per DiT step")
    ap.add_argument("--window-clips", type=int, default=0,
                    help="long clips (--window-frames each) whose mid-clip windows the DiT also trains on "
                    "(flow_loss), so that a clip sampled in context windows keeps moving; 0: none")
    ap.add_argument("--window-frames", type=int, default=41, help="frames of each long clip (1 + 4k)")
    ap.add_argument("--window-weight", type=float, default=1.0, help="weight of the loss on those windows")
    ap.add_argument("--window-batch", type=int, default=4, help="mid-clip windows per DiT step")
    ap.add_argument("--window-prefix", type=int, default=0,
                    help="latent frames at the start of each mid-clip window given clean (t = 0) and left out of "
                    "its loss, as the chained long-clip sampler holds them; 0: none")
    ap.add_argument("--ema", type=float, default=0.999,
                    help="decay of the weight average that is validated and exported; 0: the raw weights")
    ap.add_argument("--dit-patch", default=None,
                    help="T,H,W: the DiT's spacetime patch (default 1,2,2, Wan's); with --dit-from, the trained "
                    "weights are cut into these smaller patches (repatch)")
    ap.add_argument("--dit-layers", type=int, default=None,
                    help="DiT blocks (from scratch: default 4; with --dit-from: grow to this many, each new "
                    "block an identity copy of the one before)")
    ap.add_argument("--dit-ffn", type=int, default=None, metavar="N",
                    help="hidden units of the DiT's FFNs (from scratch: default 384; with --dit-from: widen to N, "
                    "the new units silent at first)")
    ap.add_argument("--dit-shapes", default=None, metavar="C,S,T", type=shape_shares,
                    help="shares of circles, squares and triangles among the DiT's training clips in each batch "
                    "(default: the clips as drawn, a third each)")
    ap.add_argument("--pixel-weight", type=float, default=0.0,
                    help="weight of the pixel loss (pixel_loss: the DiT's clean-latent prediction drawn by the "
                    "frozen decoder, against the clean latent drawn by it, the object weighted); 0: off")
    ap.add_argument("--pixel-batch", type=int, default=2, help="clips of each batch the pixel loss draws")
    ap.add_argument("--pixel-levels", default=(0.2, 0.9), metavar="LO,HI", type=level_range,
                    help="the pixel loss's noise levels, uniform in [LO, HI]")
    ap.add_argument("--object-weight", type=float, default=1.0,
                    help="weight of the object's latent cells in the flow loss, against 1 "
                    "for the rest (object_cell_weights); 1: the plain loss")
    ap.add_argument("--train-levels", default="logit-normal", choices=LEVEL_DISTS,
                    help="the distribution of the flow losses' noise levels before the shift (training_levels)")
    ap.add_argument("--level-span", default=(0.0, 1.0), metavar="LO,HI", type=level_range,
                    help="map the flow losses' shifted noise levels linearly onto LO..HI: train one expert of a "
                    "Wan2.2-style pair (the low-noise expert: 0,BOUNDARY; with --dit-train '^dit\\.' the shared text "
                    "encoder stays as loaded); default 0,1. Validation during training still samples every step "
                    "with the DiT trained, not with the pair")
    ap.add_argument("--temporal-weight", type=float, default=0.0,
                    help="weight of the flow loss's term on the error's change from one latent frame to the next "
                    "(uneven motion); 0: off")
    ap.add_argument("--dit-train", default=None, metavar="REGEX", type=regex,
                    help="train only the weights whose names match REGEX (re.search on \"dit.\" or \"t5.\" and "
                    "the tensor's name, e.g. 'cross_attn|text_embedding|^t5\\.'); the rest stay as loaded")
    a = ap.parse_args()
    if a.decoder_dit and not (a.vae_from and a.decoder_minutes):
        ap.error("--decoder-dit: the decoder phase runs with --vae-from and --decoder-minutes")
    if not 0 <= a.decoder_dit_share <= 1:
        ap.error("--decoder-dit-share %g: a share, from 0 to 1" % a.decoder_dit_share)
    if a.object_weight < 1 or a.temporal_weight < 0:
        ap.error("--object-weight %g, --temporal-weight %g: at least 1 and at least 0" % (
            a.object_weight, a.temporal_weight))
    if a.pixel_batch < 1:
        ap.error("--pixel-batch %d: at least one clip" % a.pixel_batch)
    if a.window_clips and (a.window_frames - 1) % 4:
        ap.error("--window-frames %d: a whole number of latent frames needs 1 + 4k frames" % a.window_frames)
    if a.window_prefix and not (a.window_clips and 0 < a.window_prefix < LATENT_SHAPE[1]):
        ap.error("--window-prefix %d: needs --window-clips, and fewer latent frames than a window's %d" % (
            a.window_prefix, LATENT_SHAPE[1]))
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    os.makedirs(a.work, exist_ok=True)
    import sentencepiece as spm
    t0 = time.time()
    spm_path = train_tokenizer(a.work)
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    minutes = lambda m: None if not m else 60 * m  # noqa: E731
    if a.vae_from:
        vsd = {k: v.float() for k, v in torch.load(a.vae_from).items()}  # trained and folded
        log("vae: loaded from", a.vae_from)
    else:
        name = "vae_probe_cont" if a.vae_init else "vae_probe"
        vsd = fold_latent_normalisation(train_vae(a.work, a.vae_steps, minutes(a.vae_minutes), name, a.vae_lr,
                                                  init=a.vae_init, edge_weight=a.vae_edge_weight), a.work)
    if a.vae_from and a.decoder_minutes:
        pool = dit_latent_pool(vsd, a.decoder_dit, a.work, a.decoder_dit_clips, a.decoder_dit_levels) \
            if a.decoder_dit else None
        vsd = train_decoder(vsd, a.work, a.decoder_steps, minutes(a.decoder_minutes), a.decoder_lr,
                            shape_p=[float(x) for x in a.decoder_shapes.split(",")], pool=pool,
                            pool_share=a.decoder_dit_share)
    eval_vae(vsd, n=48)
    colour_probe_accuracy(vsd)
    if a.vae_only:
        torch.save({k: v.float().contiguous() for k, v in vsd.items()}, os.path.join(a.work, "Wan2.1_VAE.pth"))
        log("vae: saved", os.path.join(a.work, "Wan2.1_VAE.pth"))
        return
    sets = [make_latents(vsd, a.work, a.clips, minutes(a.latent_minutes), int(s)) for s in a.latent_seeds.split(",")]
    sets += [load_latents(p, sets[0]["latents"].shape[1:]) for p in a.add_latents]
    data = {"captions": [c for d in sets for c in d["captions"]], "latents": torch.cat([d["latents"] for d in sets])}
    kinds = (("shape", a.shape_sets, a.shape_weight, 5), ("role", a.role_sets, a.role_weight, 6))
    pairs = [(kind, make_pair_sets(vsd, a.work, n, kind, seed), w) for kind, n, w, seed in kinds if n and w]
    windows = (make_window_clips(vsd, a.work, a.window_clips, a.window_frames, 8), a.window_weight,
               a.window_batch, a.window_prefix) if a.window_clips else None
    if a.latents_only:
        return
    torch.set_num_threads(a.dit_threads)
    dsd, tsd = train_dit(a.work, data, sp, a.dit_steps, a.batch, minutes(a.dit_minutes), a.train_shift, a.dit_lr,
                         a.dit_from, vsd, a.eval_every, pairs, a.pair_batch, a.ema,
                         a.dit_layers, role_probe=a.role_probe, shape_probe=a.shape_probe,
                         pair_levels=[float(x) for x in a.pair_levels.split(",")] if a.pair_levels else None,
                         patch=[int(x) for x in a.dit_patch.split(",")] if a.dit_patch else None,
                         follow=(a.shape_follow, [float(x) for x in a.follow_levels.split(",")], a.follow_mix,
                                 a.follow_guidance)
                         if a.shape_follow else None, windows=windows, train_only=a.dit_train,
                         shape_p=a.dit_shapes,
                         pixel=(a.pixel_weight, a.pixel_batch, a.pixel_levels) if a.pixel_weight else None,
                         ffn=a.dit_ffn, object_weight=a.object_weight, temporal=a.temporal_weight,
                         level_dist=a.train_levels, level_span=a.level_span)
    export(a.out, spm_path, vsd, dsd, tsd, data, chain=a.window_prefix > 0)
    log("total %.1f min" % ((time.time() - t0) / 60))


if __name__ == "__main__":
    main()
