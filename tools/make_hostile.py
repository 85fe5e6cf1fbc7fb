#!/usr/bin/python3
"""Writes tests/hostile/: malformed and malicious checkpoints that every
loader must refuse cleanly (no crash, no leak, a message naming the file and
the problem), and tests/hostile/MANIFEST, one line per file:

    FILE<TAB>LOADER<TAB>SUBSTRING

LOADER: st (st_open), any (st_open_any), pth (pth_open and pth_open_mem),
json (json_parse of the whole file), gguf (gguf_open and ckpt_open), c2pa (a C2PA manifest store:
c2pa_store_check, then c2pa_verify as a sidecar), c2pa-png (a PNG's caBX chunk: c2pa_verify). SUBSTRING must appear in the error
message. tests/test_hostile.c reads the MANIFEST. Deterministic: no
timestamps, no randomness; re-running rewrites identical bytes.
"""
import io
import json
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import pthzip  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "hostile")
manifest = []


def put(name, data, loader, expect):
    assert "\t" not in expect and "\n" not in expect
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    manifest.append((name, loader, expect))


# ----------------------------------------------------------------------------
# safetensors

def st_file(header, data=b"", hlen=None, pad=True):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def ent(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}


GOOD_HDR = {"__metadata__": {"format": "pt"}, "a": ent("F32", [2, 3], 0, 24), "b": ent("F32", [2], 24, 32)}
GOOD = st_file(GOOD_HDR, bytes(range(32)))


def safetensors():
    put("st_empty.safetensors", b"", "st", "too short")
    put("st_trunc_len.safetensors", GOOD[:5], "st", "too short")
    hlen = struct.unpack("<Q", GOOD[:8])[0]
    put("st_trunc_header.safetensors", GOOD[:8 + hlen // 2], "st", "does not fit")
    put("st_trunc_data.safetensors", GOOD[:8 + hlen + 20], "st", "past the data section")
    put("st_len_2p63.safetensors", struct.pack("<Q", 1 << 63) + GOOD[8:], "st", "does not fit")
    put("st_len_max.safetensors", b"\xff" * 8 + GOOD[8:], "st", "does not fit")
    put("st_len_zero.safetensors", struct.pack("<Q", 0) + GOOD[8:], "st", "bad header")
    put("st_offsets_past_end.safetensors", st_file({"a": ent("F32", [4], 1000, 1016)}, bytes(16)), "st",
        "past the data section")
    put("st_overlap.safetensors", st_file({"a": ent("F32", [4], 0, 16), "b": ent("F32", [2], 8, 16)}, bytes(16)),
        "st", "overlap")
    put("st_unknown_dtype.safetensors", st_file({"a": ent("Q4", [4], 0, 16)}, bytes(16)), "st", "dtype")
    put("st_dtype_not_string.safetensors", st_file({"a": ent(7, [4], 0, 16)}, bytes(16)), "st", "dtype")
    put("st_shape_overflow.safetensors", st_file({"a": ent("F32", [1 << 40, 1 << 40], 0, 16)}, bytes(16)),
        "st", "overflow")
    put("st_shape_overflow_exact.safetensors",  # product wraps to exactly 0 mod 2^64
        st_file({"a": ent("U8", [1 << 32, 1 << 32], 0, 0)}), "st", "overflow")
    put("st_negative_dim.safetensors", st_file({"a": ent("F32", [-1, 4], 0, 16)}, bytes(16)), "st", "shape")
    put("st_float_dim.safetensors", st_file({"a": ent("F32", [2.5], 0, 16)}, bytes(16)), "st", "shape")
    put("st_many_dims.safetensors", st_file({"a": ent("F32", [1] * 100, 0, 4)}, bytes(4)), "st", "shape")
    put("st_size_mismatch.safetensors", st_file({"a": ent("F32", [2, 3], 0, 20)}, bytes(24)), "st", "24 bytes")
    put("st_offsets_reversed.safetensors", st_file({"a": ent("U8", [0], 8, 0)}, bytes(8)), "st", "data_offsets")
    put("st_offsets_bignum.safetensors",
        st_file(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,18446744073709551616]}}'),
        "st", "data_offsets")
    put("st_offsets_one.safetensors", st_file({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0]}}, b"x"),
        "st", "data_offsets")
    put("st_deep_nesting.safetensors", st_file(b"[" * 100000), "st", "nesting")
    put("st_deep_objects.safetensors", st_file(b'{"a":' * 5000), "st", "nesting")
    put("st_broken_json.safetensors", st_file(b'{"a":{"dtype":"F32",'), "st", "bad header")
    put("st_trailing_garbage.safetensors", st_file(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}} x'),
        "st", "trailing")
    put("st_duplicate_key.safetensors",
        st_file(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"xy"), "st", "duplicate key")
    put("st_meta_nonstring.safetensors", st_file({"__metadata__": {"n": 1}, "a": ent("U8", [1], 0, 1)}, b"x"),
        "st", "not a string")
    put("st_meta_not_object.safetensors", st_file({"__metadata__": ["x"]}), "st", "__metadata__")
    put("st_bad_utf8_name.safetensors",
        st_file(b'{"a\xff\xfe":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"), "st", "UTF-8")
    put("st_overlong_utf8.safetensors",
        st_file(b'{"\xc0\xaf":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"), "st", "UTF-8")
    put("st_surrogate_utf8.safetensors",
        st_file(b'{"\xed\xa0\x80":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"), "st", "UTF-8")
    put("st_lone_surrogate_escape.safetensors",
        st_file(b'{"\\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"), "st", "surrogate")
    put("st_nul_in_name.safetensors",
        st_file(b'{"a\\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"), "st", "u0000")
    put("st_control_char.safetensors",
        st_file(b'{"a\x01":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"), "st", "control character")
    put("st_unterminated_string.safetensors", st_file(b'{"abc', pad=False), "st", "unterminated")
    put("st_header_array.safetensors", st_file(b"[1,2,3]"), "st", "not a JSON object")
    put("st_entry_not_object.safetensors", st_file({"a": 5}), "st", "not an object")
    put("st_huge_number.safetensors", st_file(b'{"a":{"dtype":"U8","shape":[1' + b"0" * 500 + b'],'
                                              b'"data_offsets":[0,1]}}', b"x"), "st", "number too long")
    put("json_deep.json", b"[{\"a\":" * 2000, "json", "nesting")
    put("json_bad_escape.json", b'["\\q"]', "json", "bad escape")


def index_files():
    sub = "idx"
    os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    shard = st_file({"a": ent("U8", [1], 0, 1)}, b"x")
    with open(os.path.join(OUT, sub, "shard1.safetensors"), "wb") as f:
        f.write(shard)
    with open(os.path.join(OUT, sub, "shard2.safetensors"), "wb") as f:
        f.write(shard)  # same tensor name as shard1
    with open(os.path.join(OUT, sub, "shard3.safetensors"), "wb") as f:
        f.write(st_file({"a": ent("U8", [1], 0, 1), "c": ent("U8", [1], 1, 2)}, b"xy"))

    def idx(name, obj, expect):
        body = obj if isinstance(obj, bytes) else json.dumps(obj, sort_keys=True).encode()
        put(sub + "/" + name, body, "any", expect)

    idx("missing_shard.safetensors.index.json", {"weight_map": {"a": "nope.safetensors"}}, "nope.safetensors")
    idx("traversal.safetensors.index.json", {"weight_map": {"a": "../../../etc/passwd"}}, "plain file name")
    idx("not_in_shard.safetensors.index.json", {"weight_map": {"zz": "shard1.safetensors"}}, "not found there")
    idx("no_weight_map.safetensors.index.json", {"metadata": {}}, "weight_map")
    idx("wrong_shard.safetensors.index.json",
        {"weight_map": {"a": "shard1.safetensors", "b": "shard2.safetensors"}}, "not found there")
    idx("dup_tensor.safetensors.index.json",
        {"weight_map": {"a": "shard1.safetensors", "c": "shard3.safetensors"}}, "more than one shard")
    idx("shard_not_string.safetensors.index.json", {"weight_map": {"a": 3}}, "plain file name")
    idx("broken.safetensors.index.json", b'{"weight_map": {', "JSON error")


# ----------------------------------------------------------------------------
# .pth: hand-written pickles (protocol 2 opcodes) inside torch's zip layout

def s(x):
    b = x.encode("utf-8") if isinstance(x, str) else x
    return b"X" + struct.pack("<I", len(b)) + b


def i(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if -(1 << 31) <= v < (1 << 31):
        return b"J" + struct.pack("<i", v)
    return b"\x8a\x08" + struct.pack("<q", v)


def g(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def tup(*items):
    return b"(" + b"".join(items) + b"t"


def od():
    return g("collections", "OrderedDict") + b")R"


def storage(key="0", numel=6, stype="FloatStorage"):
    return tup(s("storage"), g("torch", stype), s(key), s("cpu"), i(numel)) + b"Q"


def tensor(key="0", numel=6, offset=0, size=(2, 3), stride=(3, 1), stype="FloatStorage"):
    return (g("torch._utils", "_rebuild_tensor_v2") +
            tup(storage(key, numel, stype), i(offset), tup(*map(i, size)), tup(*map(i, stride)), b"\x89", od()) +
            b"R")


def state_dict(*pairs):
    body = b"".join(s(k) + v for k, v in pairs)
    return b"\x80\x02" + od() + b"(" + body + b"u."


DATA0 = struct.pack("<6f", 0.5, 1, 1.5, 2, 2.5, 3)


def pth(pkl, data=None, extra=None, **kw):
    entries = [{"name": "archive/data.pkl", "data": pkl},
               {"name": "archive/data/0", "data": DATA0 if data is None else data},
               {"name": "archive/version", "data": b"3\n"}]
    for e in extra or []:
        entries.append(e)
    return pthzip.write_zip(entries, **kw)


VALID_PKL = state_dict(("w", tensor()))


def check_valid_base():
    """The base archive loads in torch, so each hostile file differs from a
    valid one only by its lie."""
    import torch
    sd = torch.load(io.BytesIO(pth(VALID_PKL)))
    assert list(sd.keys()) == ["w"] and sd["w"].shape == (2, 3) and float(sd["w"][1, 2]) == 3.0
    sd = torch.load(io.BytesIO(pth(VALID_PKL, zip64=True)))
    assert float(sd["w"][0, 0]) == 0.5


def evil_pickles():
    # Reaching for code execution: the classic payloads.
    put("pth_os_system.pth", pth(b"\x80\x02" + g("os", "system") + tup(s("echo pwned")) + b"R."), "pth",
        "global 'os.system'")
    put("pth_posix_system.pth", pth(b"\x80\x02" + g("posix", "system") + tup(s("id")) + b"R."), "pth",
        "global 'posix.system'")
    put("pth_builtins_eval.pth", pth(b"\x80\x02" + g("builtins", "eval") + tup(s("1+1")) + b"R."), "pth",
        "global 'builtins.eval'")
    put("pth_subprocess_popen_stack_global.pth",
        pth(b"\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93" + tup(s("ls")) + b"R."), "pth",
        "global 'subprocess.Popen'")
    put("pth_builtins_exec_stack_global.pth",
        pth(b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93" + tup(s("import os")) + b"R."), "pth",
        "global 'builtins.exec'")
    # Hidden inside an otherwise valid state dict, as a tensor's hooks argument.
    hooked = (g("torch._utils", "_rebuild_tensor_v2") +
              tup(storage(), i(0), tup(i(6)), tup(i(1)), b"\x89", g("os", "system") + tup(s("x")) + b"R") + b"R")
    put("pth_hidden_in_hooks.pth", pth(state_dict(("w", hooked))), "pth", "global 'os.system'")
    put("pth_torch_load_global.pth", pth(b"\x80\x02" + g("torch", "load") + tup(s("x")) + b"R."), "pth",
        "global 'torch.load'")
    put("pth_nul_in_global.pth", pth(b"\x80\x02" + g("os\x00x", "system") + b"."), "pth", "global 'os\\x00x")
    put("pth_inst_opcode.pth", pth(b"\x80\x02(ios\nsystem\n."), "pth", "INST")
    put("pth_newobj.pth", pth(b"\x80\x02" + g("collections", "OrderedDict") + b")\x81."), "pth", "NEWOBJ")
    put("pth_reduce_storage.pth", pth(b"\x80\x02" + g("torch", "FloatStorage") + b")R."), "pth", "cannot be called")
    put("pth_ordereddict_args.pth", pth(b"\x80\x02" + g("collections", "OrderedDict") + tup(i(1)) + b"R."), "pth",
        "with arguments")


def broken_pickles():
    put("pth_self_reference.pth", pth(b"\x80\x02}q\x00" + s("w") + b"h\x00s."), "pth", "is a dict, not a tensor")
    put("pth_list_self_append.pth", pth(b"\x80\x02]q\x00h\x00a."), "pth", "holds a list")
    put("pth_nested_state_dict.pth", pth(b"\x80\x02}" + s("state_dict") + state_dict(("w", tensor()))[2:-1] + b"s."),
        "pth", "nested checkpoints")
    put("pth_memo_unset.pth", pth(b"\x80\x02h\x05."), "pth", "memo index 5 used before it was set")
    put("pth_memo_huge.pth", pth(b"\x80\x02Nr\xff\xff\xff\xff."), "pth", "beyond the limit")
    put("pth_long_get_unset.pth", pth(b"\x80\x02j\x00\x00\x00\x40."), "pth", "used before it was set")
    put("pth_truncated_pickle.pth", pth(VALID_PKL[:len(VALID_PKL) // 2]), "pth", "data.pkl byte")
    put("pth_no_stop.pth", pth(VALID_PKL[:-1]), "pth", "without STOP")
    put("pth_stack_underflow.pth", pth(b"\x80\x02s."), "pth", "SETITEM needs")
    put("pth_pop_empty.pth", pth(b"\x80\x020."), "pth", "underflow")
    put("pth_mark_underflow.pth", pth(b"\x80\x02}(Nt0u."), "pth", "needs a MARK")
    put("pth_setitem_on_list.pth", pth(b"\x80\x02]NNs."), "pth", "not a dict")
    put("pth_deep_marks.pth", pth(b"\x80\x02" + b"(" * 5000 + b"."), "pth", "nested MARKs")
    put("pth_bad_proto.pth", pth(b"\x80\x09}."), "pth", "protocol 9")
    put("pth_string_huge.pth", pth(b"\x80\x02X\xff\xff\xff\xff."), "pth", "exceeds the limit")
    put("pth_string_truncated.pth", pth(b"\x80\x02X\x10\x00\x00\x00abc"), "pth", "truncated")
    put("pth_long1_huge.pth", pth(b"\x80\x02\x8a\x09" + b"\x01" * 9 + b"."), "pth", "too large")
    put("pth_bad_utf8_key.pth", pth(state_dict(("w\xff", tensor())).replace(b"w\xc3\xbf", b"w\xff\xfe")),
        "pth", "UTF-8")
    put("pth_duplicate_key.pth", pth(state_dict(("w", tensor()), ("w", tensor()))), "pth", "appears twice")
    put("pth_key_not_string.pth", pth(b"\x80\x02}" + i(3) + tensor() + b"s."), "pth", "not a string")
    put("pth_top_is_tensor.pth", pth(b"\x80\x02" + tensor() + b"."), "pth", "not a state dict")
    put("pth_persid_not_tuple.pth", pth(b"\x80\x02" + s("x") + b"Q."), "pth", "persistent id")
    put("pth_persid_wrong_type.pth",
        pth(b"\x80\x02" + tup(s("storage"), g("collections", "OrderedDict"), s("0"), s("cpu"), i(6)) + b"Q."),
        "pth", "not a torch.*Storage")
    put("pth_build_on_tensor.pth", pth(b"\x80\x02" + tensor() + b"}b."), "pth", "BUILD on a tensor")


def bad_tensors():
    put("pth_storage_missing.pth", pth(state_dict(("w", tensor(key="9")))), "pth", "no zip entry archive/data/9")
    put("pth_storage_too_small.pth", pth(state_dict(("w", tensor(numel=1000)))), "pth", "claims 1000 F32 elements")
    put("pth_storage_dtype_bigger.pth", pth(state_dict(("w", tensor(numel=6, stype="DoubleStorage")))), "pth",
        "claims 6 F64 elements")
    put("pth_tensor_past_storage.pth", pth(state_dict(("w", tensor(size=(3, 3))))), "pth", "more elements")
    put("pth_offset_past_storage.pth", pth(state_dict(("w", tensor(offset=100, size=(0,), stride=(1,))))), "pth",
        "past the storage")
    put("pth_offset_plus_size.pth", pth(state_dict(("w", tensor(offset=4, size=(3,), stride=(1,))))), "pth",
        "reaches")
    put("pth_huge_stride.pth", pth(state_dict(("w", tensor(size=(2, 3), stride=(1 << 62, 1))))), "pth", "reaches past")
    put("pth_stride_overflow.pth", pth(state_dict(("w", tensor(size=(2, 2), stride=((1 << 63) - 1, 1))))), "pth",
        "reaches past")
    put("pth_stride_zero_expand.pth", pth(state_dict(("w", tensor(size=(1 << 40,), stride=(0,))))), "pth",
        "more elements")
    put("pth_negative_size.pth", pth(state_dict(("w", tensor(size=(-1, 3))))), "pth", "ints >= 0")
    put("pth_negative_offset.pth", pth(state_dict(("w", tensor(offset=-1)))), "pth", "storage_offset")
    put("pth_too_many_dims.pth", pth(state_dict(("w", tensor(size=(1,) * 9, stride=(1,) * 9)))), "pth", "at most 8")
    put("pth_size_stride_rank.pth", pth(state_dict(("w", tensor(size=(2, 3), stride=(1,))))), "pth", "same length")
    put("pth_rebuild_few_args.pth",
        pth(state_dict(("w", g("torch._utils", "_rebuild_tensor_v2") + tup(storage(), i(0)) + b"R"))), "pth",
        "6 or 7 arguments")


def bad_zips():
    good = pth(VALID_PKL)
    put("pth_empty.pth", b"", "pth", "not a PyTorch zip")
    put("pth_not_zip.pth", b"this is not a checkpoint at all\n" * 4, "pth", "not a PyTorch zip")
    put("pth_legacy_format.pth", b"\x80\x02\x8a\x0alZ\xfc\x9cF\xf9 j\xa8P\x19.", "pth", "legacy")
    put("pth_truncated_zip.pth", good[:len(good) // 2], "pth", "end-of-central-directory record not found")
    put("pth_deflate.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL},
                          {"name": "archive/data/0", "data": DATA0, "method": 8,
                           "raw_data": zlib.compress(DATA0)[2:-4]},
                          {"name": "archive/version", "data": b"3\n"}]), "pth", "compressed (method 8)")
    put("pth_local_size_lie.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL},
                          {"name": "archive/data/0", "data": DATA0, "local_size": 12},
                          {"name": "archive/version", "data": b"3\n"}], descriptor=False), "pth",
        "local header gives size 12, central directory 24")
    put("pth_size_past_eof.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL},
                          {"name": "archive/data/0", "data": DATA0, "central_size": 1 << 30},
                          {"name": "archive/version", "data": b"3\n"}]), "pth", "run past")
    put("pth_local_offset_lie.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL, "central_offset": 7},
                          {"name": "archive/data/0", "data": DATA0},
                          {"name": "archive/version", "data": b"3\n"}]), "pth", "no local header")
    put("pth_local_name_lie.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL},
                          {"name": "archive/data/0", "data": DATA0, "local_name": "archive/data/1"},
                          {"name": "archive/version", "data": b"3\n"}]), "pth", "names a different file")
    put("pth_encrypted.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL, "flags": 0x0809},
                          {"name": "archive/data/0", "data": DATA0},
                          {"name": "archive/version", "data": b"3\n"}]), "pth", "encrypted")
    put("pth_duplicate_entry.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL},
                          {"name": "archive/data/0", "data": DATA0},
                          {"name": "archive/data/0", "data": DATA0}]), "pth", "appears twice")
    put("pth_no_data_pkl.pth",
        pthzip.write_zip([{"name": "archive/data/0", "data": DATA0}]), "pth", "no <prefix>/data.pkl")
    put("pth_two_data_pkl.pth",
        pthzip.write_zip([{"name": "a/data.pkl", "data": VALID_PKL}, {"name": "b/data.pkl", "data": VALID_PKL},
                          {"name": "a/data/0", "data": DATA0}]), "pth", "more than one data.pkl")
    put("pth_big_endian.pth",
        pth(VALID_PKL, extra=[{"name": "archive/byteorder", "data": b"big"}]), "pth", "big-endian")
    # Entries overlap: the second entry's central record points at the first's header.
    put("pth_entries_overlap.pth",
        pthzip.write_zip([{"name": "archive/data.pkl", "data": VALID_PKL},
                          {"name": "archive/data.pkl", "data": VALID_PKL, "skip_local": True,
                           "central_offset": 0},
                          {"name": "archive/data/0", "data": DATA0}]), "pth", "overlap")
    # End records that lie.
    eocd = good.rfind(b"PK\x05\x06")
    loc = good.rfind(b"PK\x06\x07")
    b = bytearray(good)
    struct.pack_into("<Q", b, loc + 8, len(good) + 1000)
    put("pth_zip64_locator_past_end.pth", bytes(b), "pth", "locator points to offset")
    b = bytearray(good)
    z64 = struct.unpack_from("<Q", good, loc + 8)[0]
    struct.pack_into("<QQ", b, z64 + 24, 1 << 40, 1 << 40)
    put("pth_zip64_count_lie.pth", bytes(b), "pth", "contradicts")
    b = bytearray(pth(VALID_PKL, zip64=True))
    z = bytes(b)
    z64 = struct.unpack_from("<Q", z, z.rfind(b"PK\x06\x07") + 8)[0]
    struct.pack_into("<QQ", b, z64 + 24, 1 << 40, 1 << 40)
    put("pth_zip64_count_huge.pth", bytes(b), "pth", "claims 1099511627776 entries")
    b = bytearray(z)
    struct.pack_into("<Q", b, z64 + 48, 1 << 62)
    put("pth_zip64_cd_offset_lie.pth", bytes(b), "pth", "lies outside the file")
    b = bytearray(z)
    cen = z.find(b"PK\x01\x02")
    struct.pack_into("<H", b, cen + 30, 0)  # central extra length 0: the zip64 field disappears
    put("pth_zip64_extra_missing.pth", bytes(b), "pth", "without a complete zip64 extra field")
    b = bytearray(z)
    struct.pack_into("<H", b, cen + 46 + len("archive/data.pkl") + 2, 8)  # zip64 field shortened
    put("pth_zip64_extra_short.pth", bytes(b), "pth", "zip64 extra field")
    b = bytearray(z)
    struct.pack_into("<Q", b, cen + 46 + len("archive/data.pkl") + 4 + 16, 1 << 50)  # local offset
    put("pth_zip64_offset_lie.pth", bytes(b), "pth", "no local header")
    b = bytearray(good)
    b = b[:loc]  # locator removed, end record escaped without zip64 record
    b += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    put("pth_eocd_escape_no_zip64.pth", bytes(b), "pth", "zip64 record, which is missing")
    b = bytearray(good)
    struct.pack_into("<H", b, eocd + 4, 1)
    put("pth_multidisk.pth", bytes(b), "pth", "multi-disk")
    put("pth_eocd_comment_lie.pth", good[:-2] + b"\x10\x00", "pth", "end-of-central-directory record not found")


# ----------------------------------------------------------------------------
# GGUF (tools/gguf.py writes the valid files; these are built field by field)

def gguf_raw(infos, meta=(), data=b"", version=3, counts=None, align=32):
    """infos: (name bytes, ggml dims, type, offset); meta: (key, vtype, raw
    value bytes). counts: (tensors, metadata) written instead of the real ones."""
    nt, nkv = counts if counts else (len(infos), len(meta))
    out = [b"GGUF", struct.pack("<IQQ", version, nt, nkv)]
    for key, vt, raw in meta:
        out += [struct.pack("<Q", len(key)) + key, struct.pack("<I", vt), raw]
    for name, dims, gt, off in infos:
        out += [struct.pack("<Q", len(name)) + name, struct.pack("<I", len(dims)),
                struct.pack("<%dQ" % len(dims), *dims), struct.pack("<IQ", gt, off)]
    head = b"".join(out)
    return head + b"\0" * ((-len(head)) % align) + data


def gguf_files():
    # ggml's quantized types exist only in GGUF: a safetensors file naming one is refused
    put("st_dtype_q4_k.safetensors", st_file({"w": ent("Q4_K", [256], 0, 144)}, bytes(144)), "st",
        "unknown or missing dtype \"Q4_K\"")
    f32 = struct.pack("<8f", *range(8))
    good = gguf_raw([(b"w", [4, 2], gguf.F32, 0)], data=f32)
    put("gguf_trunc_header.gguf", good[:20], "gguf", "shorter than its 24-byte header")
    put("gguf_trunc_info.gguf", good[:40], "gguf", "truncated GGUF file")
    long_name = gguf_raw([(b"w" * 30, [4, 2], gguf.F32, 0)], data=f32)
    put("gguf_trunc_dims.gguf", long_name[:70], "gguf",
        "truncated GGUF file: tensor '%s': its dimensions, type and offset needs bytes" % ("w" * 30))
    put("gguf_trunc_data.gguf", good[:-4], "gguf", "tensor 'w': data [0, +32) runs past the end")
    put("gguf_version1.gguf", gguf_raw([], version=1), "gguf", "GGUF version 1")
    put("gguf_big_endian.gguf", b"GGUF" + struct.pack(">IQQ", 3, 0, 0), "gguf", "GGUF version 50331648")
    put("gguf_offset_past_end.gguf", gguf_raw([(b"w", [4, 2], gguf.F32, 1 << 40)], data=f32), "gguf",
        "tensor 'w': data [1099511627776, +32) runs past the end")
    put("gguf_offset_wraps.gguf", gguf_raw([(b"w", [4, 2], gguf.F32, (1 << 64) - 32)], data=f32), "gguf",
        "tensor 'w': data [18446744073709551584, +32) runs past the end")
    put("gguf_misaligned.gguf", gguf_raw([(b"w", [2], gguf.F32, 8)], data=f32), "gguf",
        "tensor 'w': data offset 8 is not a multiple of the alignment 32")
    put("gguf_unknown_type.gguf", gguf_raw([(b"w", [256], 16, 0)], data=bytes(66)), "gguf",
        "tensor 'w': ggml type 16 (IQ2_XXS) is not supported")
    put("gguf_type_99.gguf", gguf_raw([(b"w", [8], 99, 0)], data=f32), "gguf",
        "tensor 'w': ggml type 99 (unknown) is not supported")
    put("gguf_dims_overflow.gguf", gguf_raw([(b"w", [1 << 32, 1 << 32], gguf.F32, 0)], data=f32), "gguf",
        "tensor 'w': the product of its dimensions overflows")
    put("gguf_bytes_overflow.gguf", gguf_raw([(b"w", [1 << 31, 1 << 31], gguf.F32, 0)], data=f32), "gguf",
        "tensor 'w': its size in bytes overflows")
    put("gguf_dims_overflow_zero.gguf", gguf_raw([(b"w", [1 << 32, 1 << 32, 0], gguf.F32, 0)], data=f32), "gguf",
        "tensor 'w': the product of its dimensions overflows")
    put("gguf_dim_2p63.gguf", gguf_raw([(b"w", [1 << 63], gguf.F32, 0)], data=f32), "gguf",
        "tensor 'w': the product of its dimensions overflows")
    put("gguf_row_not_blocks.gguf", gguf_raw([(b"w", [16, 2], gguf.Q4_0, 0)], data=bytes(36)), "gguf",
        "tensor 'w': rows of 16 elements are not whole Q4_0 blocks of 32")
    put("gguf_zero_dims.gguf", gguf_raw([(b"w", [], gguf.F32, 0)], data=f32), "gguf", "tensor 'w': 0 dimensions")
    put("gguf_nine_dims.gguf", gguf_raw([(b"w", [1] * 9, gguf.F32, 0)], data=f32), "gguf", "tensor 'w': 9 dimensions")
    put("gguf_overlap.gguf", gguf_raw([(b"a", [8], gguf.F32, 0), (b"b", [4], gguf.F32, 0)], data=f32), "gguf",
        "tensors 'a' and 'b' overlap")
    put("gguf_duplicate.gguf", gguf_raw([(b"a", [4], gguf.F32, 0), (b"a", [4], gguf.F32, 32)], data=f32 * 8),
        "gguf", "tensor 'a' appears twice")
    put("gguf_nul_name.gguf", gguf_raw([(b"a\0b", [8], gguf.F32, 0)], data=f32), "gguf", "contains a NUL byte")
    put("gguf_name_huge.gguf", gguf_raw([(b"w", [8], gguf.F32, 0)], data=f32).replace(
        struct.pack("<Q", 1) + b"w", struct.pack("<Q", 1 << 62) + b"w"), "gguf", "over the limit")
    put("gguf_tensor_count.gguf", gguf_raw([], counts=(1 << 60, 0)), "gguf", "tensors (t2v reads at most 65536)")
    put("gguf_tensor_count_fit.gguf", gguf_raw([], counts=(100, 0)), "gguf", "100 tensors cannot fit")
    put("gguf_meta_count.gguf", gguf_raw([], counts=(0, 1 << 60)), "gguf", "metadata entries cannot fit")
    u32 = lambda v: struct.pack("<I", v)  # noqa: E731
    put("gguf_alignment_24.gguf", gguf_raw([], [(b"general.alignment", gguf.U32, u32(24))]), "gguf",
        "general.alignment must be a u32 power of two")
    put("gguf_alignment_0.gguf", gguf_raw([], [(b"general.alignment", gguf.U32, u32(0))]), "gguf",
        "general.alignment must be a u32 power of two")
    put("gguf_alignment_string.gguf", gguf_raw([], [(b"general.alignment", gguf.STRING,
                                                     struct.pack("<Q", 2) + b"32")]), "gguf",
        "general.alignment must be a u32 power of two")
    put("gguf_value_type.gguf", gguf_raw([], [(b"k", 13, b"")]), "gguf", "metadata 'k': unknown value type 13")
    put("gguf_array_huge.gguf", gguf_raw([], [(b"k", gguf.ARRAY, u32(gguf.U64) + struct.pack("<Q", 1 << 61))]),
        "gguf", "metadata 'k': an array of 2305843009213693952 u64 does not fit")
    put("gguf_array_strings_huge.gguf", gguf_raw([], [(b"k", gguf.ARRAY, u32(gguf.STRING) +
                                                         struct.pack("<QQ", 1, 1 << 50))]), "gguf", "over the limit")
    deep = u32(gguf.ARRAY) + struct.pack("<Q", 1)
    put("gguf_array_deep.gguf", gguf_raw([], [(b"k", gguf.ARRAY, deep * 5 + u32(gguf.U8) + struct.pack("<Q", 0))]),
        "gguf", "metadata 'k': arrays nested deeper than 4")
    put("gguf_duplicate_key.gguf", gguf_raw([], [(b"k", gguf.U8, b"\1"), (b"k", gguf.U8, b"\2")]), "gguf",
        "metadata key 'k' appears twice")
# C2PA manifest stores (JUMBF boxes, ISO/IEC 19566-5; CBOR, RFC 8949), written
# here from the specifications, not by the C code.

C2PA_TAIL = bytes.fromhex("00110010800000AA00389B71")


def jbox(t, payload):
    return struct.pack(">I", 8 + len(payload)) + t + payload


def jumd(fourcc, label, toggles=3, nul=True):
    return jbox(b"jumd", fourcc + C2PA_TAIL + bytes([toggles]) + label + (b"\0" if nul else b""))


def sbox(fourcc, label, *children):
    return jbox(b"jumb", jumd(fourcc, label) + b"".join(children))


def ctext(t):
    assert len(t) < 256
    return (bytes([0x60 + len(t)]) if len(t) < 24 else bytes([0x78, len(t)])) + t


LABEL = b"urn:c2pa:00000000-0000-4000-8000-000000000000"
SIGREF = ctext(b"signature") + ctext(b"self#jumbf=/c2pa/" + LABEL + b"/c2pa.signature")
CLAIM = b"\xa2" + ctext(b"instanceID") + ctext(b"xmp:iid:1") + SIGREF
SIG_OK = bytes.fromhex("d28440a0f6") + b"\x58\x40" + bytes(64)   # 18([h'', {}, nil, 64 zero bytes])


def store(claim=CLAIM, sig=SIG_OK, claims=1, manifest=True, top=b"c2pa"):
    parts = [sbox(b"c2as", b"c2pa.assertions")]
    parts += [sbox(b"c2cl", b"c2pa.claim.v2", jbox(b"cbor", claim))] * claims
    parts += [sbox(b"c2cs", b"c2pa.signature", jbox(b"cbor", sig))]
    inner = [sbox(b"c2ma", LABEL, *parts)] if manifest else []
    return sbox(top, b"c2pa", *inner)


def png_with(cabx):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"caBX", cabx) +
            chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b""))


def c2pa_stores():
    good = store()
    put("c2pa_empty.c2pa", b"", "c2pa", "not a JUMBF superbox")
    put("c2pa_truncated.c2pa", good[:-7], "c2pa", "runs past")
    put("c2pa_size_small.c2pa", b"\x00\x00\x00\x04" + good[4:], "c2pa", "smaller than its header")
    put("c2pa_size64_huge.c2pa", b"\x00\x00\x00\x01jumb" + b"\xff" * 8 + good[8:], "c2pa", "runs past")
    put("c2pa_no_jumd.c2pa", jbox(b"jumb", jbox(b"cbor", b"\x00")), "c2pa", "without a jumd")
    put("c2pa_label_unterminated.c2pa", jbox(b"jumb", jumd(b"c2pa", b"c2pa", nul=False)), "c2pa", "not NUL-terminated")
    deep = jbox(b"jumb", jumd(b"c2pa", b"d"))
    for _ in range(40):
        deep = jbox(b"jumb", jumd(b"c2pa", b"d") + deep)
    put("c2pa_deep.c2pa", deep, "c2pa", "nested too deeply")
    put("c2pa_not_a_store.c2pa", store(top=b"c2ma"), "c2pa", "not a C2PA manifest store")
    put("c2pa_no_manifest.c2pa", store(manifest=False), "c2pa", "no manifest")
    put("c2pa_two_claims.c2pa", store(claims=2), "c2pa", "exactly one")
    put("c2pa_claim_indefinite.c2pa", store(claim=b"\xbf" + ctext(b"a") + b"\x01\xff"), "c2pa", "indefinite")
    put("c2pa_claim_count_lie.c2pa", store(claim=b"\x9a\x7f\xff\xff\xff\x00"), "c2pa", "count larger")
    put("c2pa_claim_deep.c2pa", store(claim=b"\x81" * 40 + b"\x00"), "c2pa", "nested too deeply")
    put("c2pa_claim_trailing.c2pa", store(claim=CLAIM + b"\x00"), "c2pa", "bytes after")
    put("c2pa_claim_text_lie.c2pa", store(claim=b"\x7a\x00\x10\x00\x00ab"), "c2pa", "longer than the data")
    # structurally sound stores whose claim or signature is wrong: c2pa_verify
    put("c2pa_sig_not_cose.c2pa", store(sig=b"\x80"), "c2pa", "not a tagged COSE_Sign1")
    put("c2pa_sig_empty_protected.c2pa", store(), "c2pa", "COSE header")
    bad_cert = b"\xa2\x01\x26\x18\x21\x43\x30\x82\x01"   # {1: -7, 33: h'308201'}
    sig = bytes.fromhex("d284") + b"\x49" + bad_cert + bytes.fromhex("a0f6") + b"\x58\x40" + bytes(64)
    put("c2pa_sig_bad_cert.c2pa", store(sig=sig), "c2pa", "not DER X.509")
    no_chain = b"\xa1\x01\x26"
    sig = bytes.fromhex("d284") + b"\x43" + no_chain + bytes.fromhex("a0f6") + b"\x58\x40" + bytes(64)
    put("c2pa_sig_no_x5chain.c2pa", store(sig=sig), "c2pa", "no x5chain")
    other = ctext(b"signature") + ctext(b"self#jumbf=/c2pa/urn:c2pa:other/c2pa.signature")
    put("c2pa_claim_foreign_signature.c2pa", store(claim=b"\xa1" + other), "c2pa", "not this manifest's signature box")
    put("c2pa_claim_alg_sha1.c2pa", store(claim=b"\xa2" + SIGREF + ctext(b"alg") + ctext(b"sha1")), "c2pa", "not sha256")
    put("c2pa_png_truncated_store.png", png_with(good[:-9]), "c2pa-png", "malformed")
    put("c2pa_png_not_jumbf.png", png_with(b"hello"), "c2pa-png", "malformed")


def main():
    os.makedirs(OUT, exist_ok=True)
    check_valid_base()
    safetensors()
    index_files()
    evil_pickles()
    broken_pickles()
    bad_tensors()
    bad_zips()
    gguf_files()
    c2pa_stores()
    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        f.write("# Written by tools/make_hostile.py: FILE<TAB>LOADER<TAB>expected message substring.\n")
        f.write("# Every file must be refused (st: st_open, any: st_open_any, pth: pth_open and\n")
        f.write("# pth_open_mem, json: json_parse, gguf: gguf_open and ckpt_open, c2pa:\n")
        f.write("# c2pa_store_check then c2pa_verify, c2pa-png: c2pa_verify of a PNG), with a\n")
        f.write("# message naming the file and containing\n")
        f.write("# the substring. Run under ASan/UBSan by `make asan`.\n")
        for name, loader, expect in manifest:
            f.write("%s\t%s\t%s\n" % (name, loader, expect))
    print("tests/hostile: %d files" % len(manifest))


if __name__ == "__main__":
    main()
