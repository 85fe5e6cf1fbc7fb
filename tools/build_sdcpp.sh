#!/bin/bash
# Build stable-diffusion.cpp's sd-cli (CPU backend, -march=native, Release) outside this
# repository, for the side-by-side runs of `make bench SDCPP=SRC/build/bin/sd-cli`.
#
#   tools/build_sdcpp.sh SRC
#
# SRC: a checkout of github.com/leejet/stable-diffusion.cpp with its ggml submodule in
# SRC/ggml (the commit its tree names). Needs cmake and g++ (Debian: cmake, g++).
# A snapshot stored without its largest files lacks the tokenizer vocabularies
# src/tokenizers/vocab/*.hpp (the repository's own tree has them). Those missing are
# written here: the umT5/T5 one as a Unigram tokenizer.json holding the demo model's
# SentencePiece vocabulary (models/demo/google/umt5-xxl/spiece.model), the others empty.
# The benchmark's timings do not depend on it: stable-diffusion.cpp pads every prompt to
# 512 tokens before its T5 encoder runs, and only Wan models are run.
set -euo pipefail
src=${1:?usage: tools/build_sdcpp.sh SRC (a stable-diffusion.cpp checkout)}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$src/CMakeLists.txt" ] && [ -f "$src/ggml/CMakeLists.txt" ] ||
    { echo "build_sdcpp: $src is not a stable-diffusion.cpp checkout with ggml/ in it" >&2; exit 1; }
vocab="$src/src/tokenizers/vocab"
/usr/bin/python3 - "$vocab" "$here/../models/demo/google/umt5-xxl/spiece.model" <<'EOF'
import json, os, re, sys
vocab, spm_path = sys.argv[1], sys.argv[2]
with open(os.path.join(vocab, "vocab.cpp")) as f:
    cpp = f.read()
headers = re.findall(r'#include "(\w+\.hpp)"', cpp)
arrays = re.findall(r"reinterpret_cast<const char\*>\((\w+)\)", cpp)

def write(path, var, data):
    with open(path, "w") as f:
        f.write("static const unsigned char %s[] = {\n%s};\n" % (var, ",".join("0x%02x" % b for b in data)))

missing = [h for h in headers if not os.path.exists(os.path.join(vocab, h))]
for h in missing:
    stem = h[:-4].replace("qwen_", "qwen2_")
    var = next((a for a in arrays if a.startswith(stem + "_")), None)
    if var is None:
        sys.exit("build_sdcpp: no array for %s in vocab.cpp" % h)
    data = b"{}"
    if stem in ("t5", "umt5"):
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(model_file=spm_path)
        tok = {"model": {"type": "Unigram", "unk_id": sp.unk_id(),
                         "vocab": [[sp.id_to_piece(i), float(sp.get_score(i))] for i in range(sp.get_piece_size())]},
               "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}}
        data = json.dumps(tok).encode()
    write(os.path.join(vocab, h), var, data)
    print("build_sdcpp: wrote %s (%s, %d bytes)" % (h, var, len(data)))
EOF
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON >/dev/null
cmake --build "$src/build" -j"$(nproc)" --target sd-cli
echo "build_sdcpp: $src/build/bin/sd-cli"
