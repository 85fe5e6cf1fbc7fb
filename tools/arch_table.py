#!/usr/bin/python3
"""Rewrites the summary table of docs/ARCHITECTURE.md from `t2v info`.

    /usr/bin/python3 tools/arch_table.py [--t2v ref/t2v] [--check]

Runs, for each column, the command tests/test_info.c runs, and replaces the
table that starts with '| quantity |' by their summaries, row by row. With
--check it only reports whether the table is up to date (exit 1 if not).
Run it after retraining models/demo. A column whose model is absent keeps
its old values.
"""
import argparse
import os
import subprocess
import sys

DOC = "docs/ARCHITECTURE.md"
COLUMNS = [  # as in tests/test_info.c
    ("demo", ["info", "--model", "models/demo", "-W", "64", "-H", "64", "-f", "17"], "models/demo/diffusion_pytorch_model.safetensors"),
    ("T2V-1.3B", ["info", "--config", "golden/configs/wan2.1-t2v-1.3b.json", "-W", "832", "-H", "480", "-f", "81",
                  "--steps", "50", "--cfg", "5"], None),
    ("T2V-14B", ["info", "--config", "golden/configs/wan2.1-t2v-14b.json", "-W", "1280", "-H", "720", "-f", "81",
                 "--steps", "50", "--cfg", "5"], None),
]


def summary(t2v, args):
    out = subprocess.run([t2v] + args, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.split("\nsummary\n", 1)[1].splitlines():
        if not line.startswith("  "):
            break
        key, val = line[2:].split("  ", 1)
        rows.append((key.strip(), val.strip()))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--t2v", default="ref/t2v")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    with open(DOC, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("| quantity |"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    old = {}
    for l in lines[start + 2:end]:
        cells = [c.strip() for c in l.strip().strip("|").split("|")]
        old[cells[0]] = cells[1:]
    cols = {}
    keys = None
    for k, (name, args, needs) in enumerate(COLUMNS):
        if needs and not os.path.exists(needs):
            print("%s: %s is absent, keeping the old column" % (name, needs))
            continue
        rows = summary(a.t2v, args)
        cols[k] = dict(rows)
        keys = keys or [r[0] for r in rows]
    table = ["| quantity | " + " | ".join(c[0] for c in COLUMNS) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    for key in keys:
        vals = [cols[k][key] if k in cols else (old.get(key, ["TBD"] * len(COLUMNS))[k]) for k in range(len(COLUMNS))]
        table.append("| %s | %s |" % (key, " | ".join(vals)))
    if a.check:
        same = lines[start:end] == table
        print("table up to date" if same else "table differs from t2v info")
        sys.exit(0 if same else 1)
    lines[start:end] = table
    with open(DOC, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("rewrote the table of", DOC)


if __name__ == "__main__":
    main()
