#!/usr/bin/python3
"""Goldens for ref/lib/tokenizer.c (issue 3): small SentencePiece unigram models
trained with Debian's python3-sentencepiece, a test corpus of ~2,200 strings
(raw bytes, invalid UTF-8 included) and the ids the SentencePiece library
gives for every string under every model.

Writes golden/tokenizer/:
  <name>.model              the trained models (ModelProto, a few hundred kB)
  corpus.safetensors        text U8 [bytes], text_off I32 [N+1],
                            ids.<name> I16 [...] (every vocab < 32768), ids_off.<name> I32 [N+1]
                            for every model, and the Wan convention cases:
                            wan.text / wan.text_off / wan.ids (I16) / wan.ids_off
                            (metadata: wan_model, wan_text_len)

The corpus is generated from fixed seeds (random.Random), the models with
num_threads=1, so re-running reproduces the files bit for bit. The C side
never produces any of this.
"""
import html
import os
import random
import re
import sys

import numpy as np
import sentencepiece as spm

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(here), "golden", "tokenizer")

# --------------------------------------------------------------------------
# Training text: English-like prompts, CJK, Arabic, Hindi, emoji, digits.

EN_WORDS = ("a the of and in on with over under slowly quickly bright dark golden cinematic shot "
            "camera pans across mountain river forest city street night sunset sunrise ocean wave "
            "cat dog horse bird flying running walking dancing woman man child old young red blue "
            "green white black yellow light shadow rain snow fog cloud sky star moon sun fire "
            "water glass mirror reflection close-up wide angle aerial drone footage realistic "
            "style painting watercolor anime 4k hdr detailed soft focus bokeh motion blur slow "
            "motion timelapse portrait landscape vintage film grain neon cyberpunk futuristic "
            "medieval castle village market crowd people smiling talking looking toward turning "
            "jumping swimming boat car train bicycle road bridge tower building window door room "
            "table chair cup coffee tea book paper flower tree leaf grass field desert sand").split()
CJK_TEXT = ("一只猫在草地上奔跑阳光明媚的下午电影镜头缓慢推进城市夜景霓虹灯雨中的街道"
            "日本語のテキストです桜の花が舞う春の日ひらがなカタカナ漢字混じり"
            "한국어문장입니다고양이가잔디위를달립니다")
AR_TEXT = "مرحبا بالعالم قطة تجري على العشب في يوم مشمس لقطة سينمائية بطيئة"
HI_TEXT = "नमस्ते दुनिया एक बिल्ली धूप वाले दिन घास पर दौड़ रही है सिनेमाई दृश्य"
EMOJI = ["\U0001F600", "\U0001F431", "\U0001F3AC", "\u2764\ufe0f", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
         "\U0001F44D\U0001F3FD", "\U0001F1EF\U0001F1F5", "\u2600\ufe0f", "\U0001F308", "\U0001F525"]


def training_lines(rng):
    lines = []
    for _ in range(4000):
        n = rng.randint(3, 18)
        ws = [rng.choice(EN_WORDS) for _ in range(n)]
        if rng.random() < 0.3:
            ws[0] = ws[0].capitalize()
        if rng.random() < 0.2:
            ws.append(str(rng.randint(0, 2000)))
        if rng.random() < 0.1:
            ws.append(rng.choice(EMOJI))
        lines.append(" ".join(ws) + rng.choice([".", ",", "!", "", "?"]))
    for src in (CJK_TEXT, AR_TEXT, HI_TEXT):
        for _ in range(400):
            a = rng.randrange(len(src))
            lines.append(src[a:a + rng.randint(4, 30)])
    return lines


# --------------------------------------------------------------------------
# The models. name: (vocab_size, extra trainer options)

UD = ["<extra_id_0>", "<extra_id_1>", "[IMG]", "\u2581the\u2581cat", "ab", "\U0001F431", "<<>>"]
MODELS = [
    ("umt5like", 1200, dict(normalization_rule_name="nmt_nfkc", byte_fallback=True,
                            pad_id=0, eos_id=1, unk_id=2, bos_id=-1)),
    ("nfkc_500", 500, dict(normalization_rule_name="nmt_nfkc")),
    ("nfkc_ud_2000", 2000, dict(normalization_rule_name="nmt_nfkc", user_defined_symbols=UD,
                                control_symbols=["<ctl>", "<2en>"])),
    ("nfkccf_bf_nodummy", 900, dict(normalization_rule_name="nmt_nfkc_cf", byte_fallback=True,
                                    add_dummy_prefix=False, user_defined_symbols=UD)),
    ("identity_800", 800, dict(normalization_rule_name="identity", user_defined_symbols=UD)),
    ("identity_bf_keepws", 1000, dict(normalization_rule_name="identity", byte_fallback=True,
                                      remove_extra_whitespaces=False)),
    ("identity_suffix", 600, dict(normalization_rule_name="identity", treat_whitespace_as_suffix=True,
                                  user_defined_symbols=["[IMG]", "ab"])),
]


def train(lines, vocab, opts):
    import io
    m = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=m, vocab_size=vocab,
                                   hard_vocab_limit=False, model_type="unigram", num_threads=1,
                                   character_coverage=0.9995, minloglevel=2, **opts)
    return m.getvalue()


# --------------------------------------------------------------------------
# The corpus: bytes strings.

def rand_cp(rng, lo, hi):
    while True:
        c = rng.randint(lo, hi)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def corpus(rng):
    out = []

    def add(s):
        out.append(s.encode("utf-8") if isinstance(s, str) else s)

    # English prompts.
    subj = ["A cat", "a dog", "Two women", "An old man", "THE ROBOT", "a red car", "Children",
            "A golden retriever", "the camera", "A drone shot"]
    act = ["running across a field", "dancing in the rain", "walking through a neon-lit city",
           "sitting by the window", "jumping over a fence", "flying above the clouds",
           "slowly turning toward the camera", "swimming in crystal-clear water"]
    style = ["cinematic, 4k, HDR", "in watercolor style", "anime style, vibrant colors",
             "shot on 35mm film, grain", "hyper-realistic; soft focus (bokeh)", "timelapse at sunset",
             "slow motion, 120fps", "vintage 1950s look - sepia"]
    for i in range(600):
        s = "%s %s, %s." % (rng.choice(subj), rng.choice(act), rng.choice(style))
        r = rng.random()
        if r < 0.1:
            s = s.upper()
        elif r < 0.2:
            s = s.lower()
        elif r < 0.3:
            s += " %d%% zoom, ratio %d:%d, $%d.%02d" % (rng.randint(0, 100), rng.randint(1, 21),
                                                      rng.randint(1, 9), rng.randint(0, 999), rng.randint(0, 99))
        elif r < 0.4:
            s = s.replace(" ", rng.choice(["  ", "\t", " \n ", "   "]))
        elif r < 0.5:
            s = "\"%s\" -- 'quoted' & <tagged> {braces} [brackets] @user #tag ~tilde `tick` ^caret|pipe\\" % s
        add(s)
    # CJK, Arabic, Hindi, Thai, Hangul, half-width katakana.
    for i in range(120):
        a = rng.randrange(len(CJK_TEXT))
        add(CJK_TEXT[a:a + rng.randint(1, 40)])
    for i in range(60):
        add("".join(rand_cp(rng, 0x4E00, 0x9FFF) for _ in range(rng.randint(1, 20))))
    for i in range(40):
        add("".join(rand_cp(rng, 0xAC00, 0xD7A3) for _ in range(rng.randint(1, 12))))
    for i in range(40):
        add("".join(rand_cp(rng, 0xFF61, 0xFF9F) for _ in range(rng.randint(1, 12))))
    for i in range(80):
        a = rng.randrange(len(AR_TEXT))
        add(AR_TEXT[a:a + rng.randint(1, 40)] + rng.choice(["", " \u0661\u0662\u0663", "\u064b\u0651", "\ufefb"]))
    for i in range(80):
        a = rng.randrange(len(HI_TEXT))
        add(HI_TEXT[a:a + rng.randint(1, 40)] + rng.choice(["", "\u0958", "\u093c\u094d", " \u0967\u0968"]))
    for i in range(30):
        add("".join(rand_cp(rng, 0x0E01, 0x0E5B) for _ in range(rng.randint(1, 15))))
    # Emoji, ZWJ sequences, skin tones, flags, variation selectors, keycaps.
    extra_emoji = ["\U0001F3F3\ufe0f\u200d\U0001F308", "1\ufe0f\u20e3", "\U0001F9D1\U0001F3FF\u200d\U0001F4BB",
                   "\u263a", "\u263a\ufe0e", "\U0001F469\u200d\u2764\ufe0f\u200d\U0001F48B\u200d\U0001F468",
                   "\U000E0067\U000E0062", "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"]
    for i in range(150):
        parts = [rng.choice(EMOJI + extra_emoji) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.5:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(["a cat ", " dancing", "!!", " "]))
        add("".join(parts))
    # Combining marks, decomposed letters, Hangul jamo (NFKC composes).
    comb = [chr(c) for c in range(0x0300, 0x0370)] + ["\u20d7", "\u1ab0", "\u0e49"]
    for i in range(150):
        s = ""
        for _ in range(rng.randint(1, 10)):
            s += rng.choice("aeiouAEIOUnNcCsSzZ\u3042\u304b\u30cf\u1100\u1161\u11a8 ")
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                s += rng.choice(comb)
        add(s)
    # Full-width forms, ideographic space, compatibility characters.
    for i in range(150):
        add("".join(rand_cp(rng, 0xFF01, 0xFF5E) if rng.random() < 0.8 else rng.choice("\u3000 a1")
                    for _ in range(rng.randint(1, 25))))
    compat = ["\ufb01", "\ufb02", "\ufb00", "\ufb03", "\u2122", "\u00bd", "\u2160", "\u216b", "\u2460", "\u00b2",
              "\u338f", "\u3397", "\u2474", "\u1d43", "\u2075", "\u00a8", "\u01c4", "\u0132", "\u2026", "\u2025",
              "\u3231", "\u32ff", "\u33ff", "\ufdfa", "\ufe99", "\u1e9b\u0323", "\u00aa", "\u210c", "\u2168",
              "\u00df", "\u0130", "\u03a3", "\u1f80", "\u017f"]
    for i in range(120):
        add("".join(rng.choice(compat + list("fi fl office affine ")) for _ in range(rng.randint(1, 15))))
    # Control characters, format characters, soft hyphen, BOM, bidi marks.
    ctrl = [chr(c) for c in list(range(0, 32)) + [0x7f] + list(range(0x80, 0xa0))] + \
           ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2060", "\ufeff",
            "\u00ad", "\u034f", "\u061c", "\u180e", "\ufff9", "\U000e0001", "\ufffe", "\uffff", "\ufffd"]
    for i in range(150):
        add("".join(rng.choice(ctrl) if rng.random() < 0.5 else rng.choice("ab c") for _ in range(rng.randint(1, 20))))
    # Invalid UTF-8.
    bad = [b"\xff", b"\xfe", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf",
           b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
           b"\xe2\x96", b"\xe2\x96\x81", b"\xef\xbf\xbd", b"\xc3\xa9", b"\xf5\x80\x80\x80", b"\xc2"]
    for i in range(150):
        s = b""
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.4:
                s += rng.choice(bad)
            elif r < 0.6:
                s += bytes([rng.randrange(256)])
            else:
                s += rng.choice([b"a", b"cat ", b" ", b"\xe3\x81\x82", b"ab", b"the"])
        add(s)
    for i in range(30):
        add(bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
    # Whitespace runs, literal U+2581, whitespace-only strings.
    wsch = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2002", "\u2009", "\u200a", "\u202f",
            "\u205f", "\u1680", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\u2581", "\u2581\u2581"]
    for i in range(150):
        s = ""
        for _ in range(rng.randint(1, 10)):
            s += rng.choice(wsch) * rng.randint(1, 4)
            if rng.random() < 0.6:
                s += rng.choice(["a", "cat", "the dog", "\u732b", "x", "ab"])
        add(s)
    # Special-looking text: user-defined symbols, control pieces, byte pieces.
    spec = UD + ["<unk>", "<s>", "</s>", "<pad>", "<0x41>", "<ctl>", "<2en>", "<extra_id_", "[IMG", "\u2581"]
    for i in range(100):
        add("".join(rng.choice(spec + [" ", "a", "cat", "b", "the cat", " the cat "]) for _ in range(rng.randint(1, 10))))
    # Random code points from all planes.
    for i in range(150):
        s = ""
        for _ in range(rng.randint(1, 15)):
            r = rng.random()
            if r < 0.3:
                s += rand_cp(rng, 0x20, 0x7e)
            elif r < 0.6:
                s += rand_cp(rng, 0xa0, 0xffff)
            elif r < 0.8:
                s += rand_cp(rng, 0x10000, 0x10ffff)
            else:
                s += rand_cp(rng, 0x1f300, 0x1faff)
        add(s)
    # Strings over the hand-made model's alphabet (ties, see handmade_model).
    for i in range(150):
        add("".join(rng.choice(["a", "b", "ab", "c", "x", "y", "xy", "z", "zz", " ", "\u2581", "q",
                                "e", "ew", "dew", "d", "de", "w", "v", "\u00e9"])
                    for _ in range(rng.randint(1, 14))))
    # Edge cases.
    for s in ["", " ", "  ", "\t", "\n", "\u2581", "\u3000", "a", "A", ".", "\x00", "\x00a\x00", "ab",
              "the cat", " the cat ", "\u2581the\u2581cat", "\ufb01", "\u1100\u1161\u11a8"]:
        add(s)
    # One 20,000-character string mixing everything.
    pieces = []
    n = 0
    while n < 20000:
        p = rng.choice([rng.choice(EN_WORDS) + " ", CJK_TEXT[rng.randrange(len(CJK_TEXT))],
                        rng.choice(EMOJI), rng.choice(wsch), rng.choice(compat), rng.choice(comb),
                        AR_TEXT[rng.randrange(len(AR_TEXT))], rng.choice(ctrl)])
        pieces.append(p)
        n += len(p)
    add("".join(pieces)[:20000])
    return out


def wan_clean(text):
    """docs/MODEL.md 5.3 clean='whitespace'. ftfy is not in the allowed set
    of Python packages; of ftfy.fix_text only uncurl_quotes is reproduced
    (its regexes below), the rest is discussed in docs/TOKENIZER.md."""
    text = re.sub("[\u02bc\u2018-\u201b]", "'", text)
    text = re.sub("[\u201c-\u201f]", '"', text)
    text = html.unescape(html.unescape(text))
    text = text.strip()
    text = re.sub(r"\s+", " ", text)
    return text.strip()


def wan_cases(rng):
    cases = ["A cat walking on grass.", "  leading and trailing  ", "tabs\tand\nnewlines\r\n  here",
             "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp; twice", "&#39;quote&#39; &#x27;x&#x27;",
             "&quot;Hi&quot; &nbsp;there", "&copy; 2024 &eacute;t&eacute; &hellip;", "5 &lt 6 &gt 4",
             "&#128049; cat &#x1F431;", "&#0; &#xD800; &#x110000; &#128; &#150;", "\u3000ideographic\u3000space",
             "nbsp\u00a0\u00a0runs\u2009thin", "", "   ", "\u2581lower eighth", "&unknownentity; &amp",
             "&AMP; &LT; &#65&#66", "mixed \u00a0&nbsp; spaces", "&ampx &ampamp;",
             "\u201cCurly\u201d \u2018quotes\u2019 \u201e\u201f \u02bc", "&rsquo;kept curly&rsquo; &ldquo;x&rdquo;",
             "&notit; &notin; &copycat &eacutex", "&#x; &#; &# &#65a &#x41g", "a&b&c; &",
             "\x1c\x1d\x1e\x1f sep \x85 nel \u2028 ls \u2029 ps \x0b\x0c", "\u200b zero width stays\ufeff"]
    for i in range(20):
        cases.append(" ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(1, 30))))
    cases.append(" ".join(rng.choice(EN_WORDS) for _ in range(400)))  # truncated at text_len
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(20240603)
    lines = training_lines(rng)
    texts = corpus(random.Random(7))
    tensors = {}
    blob = b"".join(texts)
    off = np.cumsum([0] + [len(t) for t in texts]).astype(np.int32)
    tensors["text"] = np.frombuffer(blob, dtype=np.uint8)
    tensors["text_off"] = off
    procs = {}
    meta = {}
    for name, vocab, opts in MODELS:
        proto = train(lines, vocab, opts)
        with open(os.path.join(OUT, name + ".model"), "wb") as f:
            f.write(proto)
        sp = spm.SentencePieceProcessor(model_proto=proto)
        procs[name] = sp
        meta["pieces." + name] = sp.get_piece_size()
        ids = [sp.encode(t) for t in texts]
        tensors["ids." + name] = np.array([i for s in ids for i in s], dtype=np.int16)
        tensors["ids_off." + name] = np.cumsum([0] + [len(s) for s in ids]).astype(np.int32)
        print("%-20s %7d bytes, %d pieces, %d ids" % (name, len(proto), sp.get_piece_size(),
                                                      len(tensors["ids." + name])))
    # A hand-made model whose scores tie on purpose (Viterbi tie-breaking,
    # the user-defined bonus, unused pieces): trained models almost never tie.
    proto = handmade_model()
    name = "handmade_ties"
    with open(os.path.join(OUT, name + ".model"), "wb") as f:
        f.write(proto)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    ids = [sp.encode(t) for t in texts]
    tensors["ids." + name] = np.array([i for s in ids for i in s], dtype=np.int16)
    tensors["ids_off." + name] = np.cumsum([0] + [len(s) for s in ids]).astype(np.int32)
    meta["pieces." + name] = sp.get_piece_size()
    print("%-20s %7d bytes, %d pieces, %d ids" % (name, len(proto), sp.get_piece_size(), len(tensors["ids." + name])))
    # Wan conventions on the umT5-like model: clean, encode, keep text_len-1
    # pieces, append EOS (docs/MODEL.md 5.3).
    text_len = 64
    sp = procs["umt5like"]
    wt = [t.encode("utf-8") for t in wan_cases(random.Random(11))]
    wids = [sp.encode(wan_clean(t.decode("utf-8")))[:text_len - 1] + [sp.eos_id()] for t in wt]
    tensors["wan.text"] = np.frombuffer(b"".join(wt), dtype=np.uint8)
    tensors["wan.text_off"] = np.cumsum([0] + [len(t) for t in wt]).astype(np.int32)
    tensors["wan.ids"] = np.array([i for s in wids for i in s], dtype=np.int16)
    tensors["wan.ids_off"] = np.cumsum([0] + [len(s) for s in wids]).astype(np.int32)
    st.save(os.path.join(OUT, "corpus.safetensors"), tensors,
            metadata={"models": ",".join([m[0] for m in MODELS] + ["handmade_ties"]), "wan_model": "umt5like",
                      "wan_text_len": text_len, "sentencepiece": spm.__version__, **meta})
    print("corpus: %d strings, %d bytes" % (len(texts), len(blob)))




# --------------------------------------------------------------------------
# `--big OUT.model`: a synthetic 256,384-piece model (umT5's size) for load
# time and throughput, plus OUT.expected.safetensors with the library's ids
# for the corpus. Not committed (about 6 MB).

def _pb_varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def _pb_fields(data):
    """Top-level (field, raw bytes of the whole field) of a protobuf."""
    i, out = 0, []
    while i < len(data):
        start = i
        tag = 0
        shift = 0
        while True:
            b = data[i]
            i += 1
            tag |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        wire = tag & 7
        if wire == 0:
            while data[i] & 0x80:
                i += 1
            i += 1
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n = 0
            shift = 0
            while True:
                b = data[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            i += n
        out.append((tag >> 3, data[start:i]))
    return out


def _pb_piece(piece, score, typ):
    import struct
    p = piece.encode("utf-8")
    body = b"\x0a" + _pb_varint(len(p)) + p + b"\x15" + struct.pack("<f", score) + b"\x18" + _pb_varint(typ)
    return b"\x0a" + _pb_varint(len(body)) + body


def handmade_model():
    """Identity normalizer (no charsmap). "a"+"b" ties "ab"; "c"+"c" ties
    "cc", "c"+"cc" ties "ccc"; "xy" is user-defined and scores
    2*FLT_MIN - 0.1 ~ -0.1 against -0.12 for "x"+"y" and -0.08 for "xz"
    against "x"+"z"; "zz" is UNUSED (never chosen); an unknown character
    scores min -30 - 10 = -40, so in "dew" the path "d","ew" (-12-30) ties
    "de",<unk> (-2-40): the first one found ("ew") must stay."""
    base = open(os.path.join(OUT, "identity_800.model"), "rb").read()
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3),
              ("\u2581", -1.0, 1), ("a", -1.0, 1), ("b", -1.0, 1), ("ab", -2.0, 1), ("\u2581a", -2.0, 1),
              ("\u2581ab", -3.0, 1), ("c", -0.5, 1), ("cc", -1.0, 1), ("ccc", -1.5, 1), ("x", -0.06, 1),
              ("y", -0.06, 1), ("xy", 0.0, 4), ("z", -0.04, 1), ("xz", -0.1, 1), ("zz", -0.01, 5),
              ("\u2581x", -0.05, 1), ("q", -30.0, 1),
              ("e", -10.0, 1), ("ew", -30.0, 1), ("d", -12.0, 1), ("de", -2.0, 1)]
    blob = b"".join(_pb_piece(*p) for p in pieces)
    blob += b"".join(raw for f, raw in _pb_fields(base) if f != 1)
    return blob


def big_model(path):
    base = open(os.path.join(OUT, "umt5like.model"), "rb").read()
    sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "umt5like.model"))
    rng = random.Random(256384)
    pieces, seen = [], set()
    for i in range(sp.get_piece_size()):
        typ = 2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 1
        pieces.append((sp.id_to_piece(i), sp.get_score(i), typ))
        seen.add(sp.id_to_piece(i))

    def add(s):
        if s and s not in seen:
            seen.add(s)
            pieces.append((s, -rng.uniform(2.0, 18.0), 1))

    for c in list(range(0x4E00, 0xA000)) + list(range(0xAC00, 0xD7A4)) + list(range(0x3040, 0x3100)) + \
            list(range(0x0600, 0x0700)) + list(range(0x0900, 0x0980)):
        add(chr(c))
        add("\u2581" + chr(c))
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(pieces) < 256384 - 100:
        r = rng.random()
        if r < 0.5:
            w = "".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
            add(("\u2581" if rng.random() < 0.6 else "") + w)
        elif r < 0.7:
            w = rng.choice(EN_WORDS)
            a = rng.randrange(len(w))
            add(("\u2581" if a == 0 and rng.random() < 0.7 else "") + w[a:a + rng.randint(1, 8)])
        elif r < 0.9:
            add("".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(2, 4))))
        else:
            add("".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(1, 5))).replace(" ", "\u2581"))
    for k in range(100):
        pieces.append(("<extra_id_%d>" % k, 0.0, 4))
    blob = b"".join(_pb_piece(*p) for p in pieces)
    blob += b"".join(raw for f, raw in _pb_fields(base) if f != 1)
    with open(path, "wb") as f:
        f.write(blob)
    big = spm.SentencePieceProcessor(model_file=path)
    texts = corpus(random.Random(7))
    ids = [big.encode(t) for t in texts]
    st.save(path + ".expected.safetensors", {
        "text": np.frombuffer(b"".join(texts), dtype=np.uint8),
        "text_off": np.cumsum([0] + [len(t) for t in texts]).astype(np.int32),
        "ids": np.array([i for s in ids for i in s], dtype=np.int32),
        "ids_off": np.cumsum([0] + [len(s) for s in ids]).astype(np.int32)})
    print("%s: %d pieces, %d bytes; %d ids for the corpus" % (path, big.get_piece_size(), len(blob),
                                                               sum(len(s) for s in ids)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--big":
        big_model(sys.argv[2])
    else:
        main()
