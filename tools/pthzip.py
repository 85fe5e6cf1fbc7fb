"""A tiny zip writer/reader for PyTorch checkpoints (torch.save's zip layout),
used by tools/golden_formats.py (the ZIP64 variant of a real torch.save file)
and tools/make_hostile.py (archives that lie). Python's zipfile cannot write
the lies we need, so this writes the records by hand.

Layout written, as torch's miniz writer does (caffe2/serialize/
inline_container.cc): stored entries, each local header followed by its data,
data aligned to 64 bytes with an "FB" padding extra field, then the central
directory, a zip64 end record + locator, and the classic end record.
"""
import struct
import zipfile
import zlib

U32 = 0xFFFFFFFF


def read_entries(path):
    """(name, bytes) of every entry of a zip file, in directory order."""
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def _zip64_field(values):
    body = b"".join(struct.pack("<Q", v) for v in values)
    return struct.pack("<HH", 1, len(body)) + body


def _fb_pad(start):
    """FB extra field that moves `start` (where the extra field begins) so the
    data after it is 64-byte aligned."""
    pad = (64 - (start + 4) % 64) % 64
    return b"FB" + struct.pack("<H", pad) + b"Z" * pad


def write_zip(entries, zip64=False, descriptor=True, eocd_zip64=True, miniz64=False):
    """entries: list of dicts with keys
         name (str), data (bytes), and optional lies:
         method (int, default 0), local_size (int, written into the local header
         instead of 0/size), central_size (int), central_offset (int),
         local_name (str), skip_local (bool), raw_data (bytes actually written),
         flags (int).
       zip64: escape every size/offset of the central directory to 0xFFFFFFFF
       with zip64 extra fields (what miniz writes past 4 GB), and write local
       headers with 0xFFFFFFFF sizes and a zip64 extra field.
       miniz64 (with zip64): local headers exactly as miniz writes an entry
       past 4 GB: data-descriptor flag, sizes 0, a zip64 extra field holding
       both sizes and the header offset, then the FB padding; a zip64 data
       descriptor (8-byte sizes); the 32-bit end record holds the real
       (small) values.
       Returns the archive bytes."""
    out = bytearray()
    central = []
    for e in entries:
        name = e["name"].encode("utf-8")
        data = e["data"]
        raw = e.get("raw_data", data)
        method = e.get("method", 0)
        crc = zlib.crc32(data) & U32
        flags = e.get("flags", 0x0808 if descriptor and (miniz64 or not zip64) else 0x0800)
        off = len(out)
        lname = e.get("local_name", e["name"]).encode("utf-8")
        if miniz64:
            lsize = 0
            extra = _zip64_field([len(data), len(data), off])
        elif zip64:
            lsize = e.get("local_size", U32)
            extra = _zip64_field([len(data), len(data)])
        else:
            lsize = e.get("local_size", 0 if flags & 8 else len(data))
            extra = b""
        extra += _fb_pad(off + 30 + len(lname) + len(extra))
        lcrc = 0 if flags & 8 else crc
        if not e.get("skip_local"):
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, flags, method, 0, 0,
                               lcrc, lsize, lsize, len(lname), len(extra))
            out += lname + extra + raw
            if flags & 8 and miniz64:
                out += struct.pack("<IIQQ", 0x08074B50, crc, len(data), len(data))
            elif flags & 8:
                out += struct.pack("<IIII", 0x08074B50, crc, len(data), len(data))
        csize = e.get("central_size", len(data))
        coff = e.get("central_offset", off)
        central.append((name, method, crc, csize, coff, flags))
    cd_off = len(out)
    for name, method, crc, csize, coff, flags in central:
        if zip64:
            extra = _zip64_field([csize, csize, coff])
            s32, o32 = U32, U32
        else:
            extra, s32, o32 = b"", csize & U32, coff & U32
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45 if zip64 else 20, flags, method, 0, 0,
                           crc, s32, s32, len(name), len(extra), 0, 0, 0, 0, o32)
        out += name + extra
    cd_size = len(out) - cd_off
    n = len(central)
    if eocd_zip64:
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    if zip64 and not miniz64:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, U32, U32, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_off, 0)
    return bytes(out)


def entries_of(path):
    """entries as write_zip expects them, from an existing zip file."""
    return [{"name": n, "data": d} for n, d in read_entries(path)]
