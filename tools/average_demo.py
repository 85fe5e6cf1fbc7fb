#!/usr/bin/python3
"""Averages the DiT and text encoder of several demo-model weights into one
model: a weighted mean, tensor by tensor, of the weights that
tools/train_demo.py saved (its *_ema*.safetensors: the weight average that
validation scored) or exported (a model directory).

  tools/average_demo.py --base models/demo-next --out OUT A.safetensors:1 B.safetensors:1

OUT is a copy of --base (its VAE, tokenizer and t2v.json) with the
averaged DiT and text encoder written as train_demo's export writes them
(the DiT in F32, the text encoder in bf16) and a config.json for the
averaged DiT. Every input must hold the same tensors with the same shapes
(runs continued from one another do), with one exception: an input with
narrower FFNs is first widened as `train_demo.py --dit-ffn` widened the
run continued from it (widen_ffn, the same draws), so a widened run can be
averaged with the weights it started from. Averaging the end of one run
with a run continued from it with another objective keeps much of what
each learnt (weight averaging, "model soups"; models/demo-next/README.md
says which runs the committed weights average)."""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import train_demo  # noqa: E402


def parse_input(arg):
    """"PATH" or "PATH:WEIGHT" -> (path, weight > 0)."""
    path, _, w = arg.rpartition(":") if ":" in arg else (arg, "", "1")
    try:
        weight = float(w)
    except ValueError:
        weight = -1.0
    if not weight > 0:
        raise SystemExit("%s: the weight after ':' must be a number > 0" % arg)
    return path, weight


def average(inputs):
    """[(path, weight)] -> the weighted mean (dsd, tsd), accumulated in
    float64 in the order given, then rounded once to float32."""
    total = sum(w for _, w in inputs)
    for path, _ in inputs:
        if not os.path.exists(path):
            raise SystemExit("%s: no such weights file or model directory" % path)
    loaded = [train_demo.load_exported_dit(path) for path, _ in inputs]
    ffn = max(train_demo.dit_config(dsd)["ffn_dim"] for dsd, _ in loaded)
    acc = None
    for (path, w), (dsd, tsd) in zip(inputs, loaded):
        if train_demo.dit_config(dsd)["ffn_dim"] < ffn:  # as train_dit widened it (--dit-ffn)
            dsd = train_demo.widen_ffn(dsd, ffn, torch.Generator().manual_seed(train_demo.WIDEN_SEED))
        both = {"dit." + k: v for k, v in dsd.items()}
        both.update({"t5." + k: v for k, v in tsd.items()})
        if acc is None:
            acc = {k: w * v.double() for k, v in both.items()}
            continue
        if both.keys() != acc.keys():
            raise SystemExit("%s: holds other tensors than %s (%s)" % (
                path, inputs[0][0], sorted(set(both) ^ set(acc))[0]))
        for k, v in both.items():
            if v.shape != acc[k].shape:
                raise SystemExit("%s: %s is %s, %s has %s" % (path, k, tuple(v.shape), inputs[0][0],
                                                              tuple(acc[k].shape)))
            acc[k] += w * v.double()
    mean = {k: (v / total).float() for k, v in acc.items()}
    return ({k[4:]: v for k, v in mean.items() if k.startswith("dit.")},
            {k[3:]: v for k, v in mean.items() if k.startswith("t5.")})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the model directory to copy (VAE, tokenizer, configs)")
    ap.add_argument("--out", required=True, help="the averaged model's directory (replaced)")
    ap.add_argument("inputs", nargs="+", metavar="WEIGHTS[:W]",
                    help="saved weights (*.safetensors) or model directories, each with weight W (default 1)")
    a = ap.parse_args()
    if os.path.abspath(a.out) == os.path.abspath(a.base):
        raise SystemExit("--out must not be --base")
    inputs = [parse_input(x) for x in a.inputs]
    dsd, tsd = average(inputs)
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    shutil.copytree(a.base, a.out, ignore=shutil.ignore_patterns("README.md"))
    train_demo.write_dit_config(a.out, dsd)
    train_demo.write_dit_t5(a.out, dsd, tsd)
    print("wrote %s: the mean of %s" % (a.out, ", ".join("%s x %g" % (os.path.basename(p.rstrip("/")), w)
                                                          for p, w in inputs)))


if __name__ == "__main__":
    main()
