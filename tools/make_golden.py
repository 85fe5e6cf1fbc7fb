#!/usr/bin/python3
"""Regenerates every golden under golden/ by running each tools/golden_*.py
in turn (sorted), single-threaded, so the committed files are reproduced bit
for bit. Needs Debian's python3-torch, python3-numpy, python3-sentencepiece."""
import glob
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
scripts = sorted(glob.glob(os.path.join(here, "golden_*.py")))
if len(sys.argv) > 1:
    scripts = [s for s in scripts if any(a in os.path.basename(s) for a in sys.argv[1:])]
failed = 0
for s in scripts:
    print("== " + os.path.relpath(s, root), flush=True)
    rc = subprocess.call([sys.executable, s], cwd=root, env=env)
    if rc != 0:
        print("FAILED: %s (exit %d)" % (s, rc))
        failed += 1
sys.exit(1 if failed else 0)
