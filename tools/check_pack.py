#!/usr/bin/python3
"""Checks a port's outputs against a t2v golden pack (`t2v golden-pack`,
docs/VERIFY.md). NumPy only: copy this one file into a port's CI.

    check_pack.py PACK [THEIRS.safetensors ...] [--profile fp32|tf32|bf16|fp16]

1. The pack itself: every file and tensor listed in PACK/manifest.json is
   there with the sha256 recorded (of the tensor's bytes as stored), and so
   is PACK/tolerances.json.
2. Each tensor of each THEIRS file whose name is in the pack (tokens,
   tokens_neg, context, context_neg, noise, velocity, timesteps,
   latent.step{k}, latent.final, video; `latent` is the DiT's input in one
   file and the VAE's in another, so it is skipped) is compared with the
   pack's: rel = max|a - b| / rms(b) and 1 - cos(a, b)
   must be within the profile's rule for its name (PACK/tolerances.json,
   the first rule whose pattern matches; '*' matches any run), and a must be
   finite. Other tensors of THEIRS are listed as skipped.
Exit 0: all good; 1: a tensor over its bounds or a damaged pack; 2: usage.
"""
import hashlib
import json
import os
import re
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U8": "u1", "BOOL": "u1"}


def read_safetensors(path):
    """name -> (dtype string, shape, raw bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    n = struct.unpack("<Q", data[:8])[0]
    if n > len(data) - 8:
        raise ValueError("%s: header length %d past the end of the file" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], tuple(info["shape"]), data[8 + n + b:8 + n + e])
    return out


def as_float(dtype, shape, raw):
    if dtype == "BF16":
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return u.view(np.float32).astype(np.float64).reshape(shape)
    if dtype not in DTYPES:
        raise ValueError("dtype %s not supported" % dtype)
    return np.frombuffer(raw, dtype=DTYPES[dtype]).astype(np.float64).reshape(shape)


def glob(pattern, name):
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), name) is not None


def check_integrity(pack, manifest):
    bad = 0
    for f in manifest["files"]:
        path = os.path.join(pack, f["file"])
        try:
            tensors = read_safetensors(path)
        except (OSError, ValueError) as e:
            print("NOT OK %s: %s" % (f["file"], e))
            bad += 1
            continue
        for t in f["tensors"]:
            got = tensors.get(t["name"])
            if got is None:
                print("NOT OK %s: tensor %s missing" % (f["file"], t["name"]))
                bad += 1
            elif hashlib.sha256(got[2]).hexdigest() != t["sha256"] or list(got[1]) != t["shape"]:
                print("NOT OK %s: tensor %s differs from the manifest (sha256 or shape)" % (f["file"], t["name"]))
                bad += 1
    prof = manifest["profiles"]
    with open(os.path.join(pack, prof["file"]), "rb") as fh:
        if hashlib.sha256(fh.read()).hexdigest() != prof["sha256"]:
            print("NOT OK %s: sha256 differs from the manifest" % prof["file"])
            bad += 1
    print("%s pack %s: %d files, %s" % ("ok    " if not bad else "NOT OK", pack, len(manifest["files"]),
                                        "intact" if not bad else "%d problems" % bad))
    return bad


def compare(a, b, rule):
    a, b = a.ravel(), b.ravel()
    if not np.all(np.isfinite(a)):
        return False, float("inf"), float("inf")
    if rule["rel"] == 0 and rule["one_minus_cos"] == 0:  # exact: ids, timesteps, noise bits
        same = bool(np.array_equal(a, b))
        return same, 0.0 if same else float("inf"), 0.0 if same else float("inf")
    rms = np.sqrt(np.mean(b * b))
    rel = float(np.max(np.abs(a - b)) / rms) if rms > 0 else float(np.max(np.abs(a - b)))
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    omc = float(1.0 - a @ b / (na * nb)) if na > 0 and nb > 0 else (0.0 if na == nb else 1.0)
    return rel <= rule["rel"] and omc <= rule["one_minus_cos"], rel, omc


def main(argv):
    args, profile = [], "fp32"
    i = 0
    while i < len(argv):
        if argv[i] == "--profile" and i + 1 < len(argv):
            profile = argv[i + 1]
            i += 2
        elif argv[i] in ("-h", "--help"):
            print(__doc__)
            return 0
        elif argv[i].startswith("-"):
            print("check_pack: unknown option %s" % argv[i], file=sys.stderr)
            return 2
        else:
            args.append(argv[i])
            i += 1
    if not args:
        print("usage: check_pack.py PACK [THEIRS.safetensors ...] [--profile NAME]", file=sys.stderr)
        return 2
    pack = args[0]
    try:
        with open(os.path.join(pack, "manifest.json")) as fh:
            manifest = json.load(fh)
        with open(os.path.join(pack, manifest["profiles"]["file"])) as fh:
            profiles = json.load(fh)["profiles"]
    except (OSError, ValueError, KeyError) as e:
        print("check_pack: %s is not a golden pack: %s" % (pack, e), file=sys.stderr)
        return 2
    if profile not in profiles:
        print("check_pack: no profile %s (profiles: %s)" % (profile, ", ".join(profiles)), file=sys.stderr)
        return 2
    rules = profiles[profile]["tensors"]
    bad = check_integrity(pack, manifest)
    outputs, sha, ambiguous = {}, {}, set()  # name -> the pack file holding it
    for f in manifest["files"]:
        for t in f["tensors"]:
            if t["name"] in sha and sha[t["name"]] != t["sha256"]:
                ambiguous.add(t["name"])  # e.g. `latent`: the DiT's input and the VAE's
            sha[t["name"]] = t["sha256"]
            if t["role"] == "output" or t["name"] not in outputs:
                outputs[t["name"]] = f["file"]
    cache, compared = {}, 0
    for theirs in args[1:]:
        try:
            mine = read_safetensors(theirs)
        except (OSError, ValueError) as e:
            print("check_pack: %s: %s" % (theirs, e), file=sys.stderr)
            return 2
        for name, (dt, shape, raw) in mine.items():
            if name not in outputs or name in ambiguous:
                print("skip   %s: %s is %s" % (theirs, name, "not in the pack" if name not in outputs else
                                               "in several files with different values (give another name)"))
                continue
            src = outputs[name]
            if src not in cache:
                cache[src] = read_safetensors(os.path.join(pack, src))
            rdt, rshape, rraw = cache[src][name]
            if tuple(shape) != tuple(rshape):
                print("NOT OK %s: %s shape %s, the pack's %s" % (theirs, name, list(shape), list(rshape)))
                bad += 1
                continue
            rule = next((r for r in rules if glob(r["pattern"], name)), None)
            if rule is None:
                print("NOT OK %s: %s: no rule of profile %s matches it" % (theirs, name, profile))
                bad += 1
                continue
            ok, rel, omc = compare(as_float(dt, shape, raw), as_float(rdt, rshape, rraw), rule)
            compared += 1
            bad += not ok
            print("%s %-14s rel %.3e (<= %.0e)  1-cos %.2e (<= %.1e)  [%s, profile %s]" % (
                "ok    " if ok else "NOT OK", name, rel, rule["rel"], omc, rule["one_minus_cos"], theirs, profile))
    print("%d compared, %d problems" % (compared, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
