"""A CMAF fragment moved to another place on the media timeline (its ``tfdt``).

A live channel plays tracks one after another, and each track's fragments start their
decode times (``tfdt`` baseMediaDecodeTime, ISO/IEC 14496-12 8.8.12) at 0. Players that
place fragments by decode time across a discontinuity cope with that (hls.js); others do
not: ffmpeg's HLS demuxer drops the first fragment of each later track as a duplicate of
one it already has. A channel therefore serves each segment with the decode time it has on
the channel's own timeline, so decode time only ever runs on.

Only the ``tfdt`` boxes change. A version 1 ``tfdt`` (64 bits, what ffmpeg writes) is
patched in place; a version 0 one (32 bits) is rewritten as version 1, growing the
``traf`` and ``moof`` by four bytes and moving a ``trun`` data offset that counts from the
``moof`` (the default-base-is-moof layout, the only one CMAF allows) by as much. Every
``traf`` moves by the same amount, so several tracks in one fragment keep their offsets.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["decode_time", "retime_fragment"]

_PREFIX = frozenset({b"styp", b"sidx", b"ssix", b"prft", b"emsg", b"free", b"skip"})
_MAX_DECODE_TIME = 2**64 - 1
_BASE_DATA_OFFSET = 0x000001  # tfhd flag: an absolute base data offset
_DATA_OFFSET = 0x000001  # trun flag: data_offset present


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, end) of the boxes in ``data[start:end]``; ValueError if damaged.
    Boxes with a 64-bit size are refused: no box of a fragment we serve has one."""
    position = start
    while position < end:
        if position + 8 > end:
            raise ValueError("a box header runs past its parent")
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8  # _boxes refuses 64-bit sizes, so every header here is 8 bytes
        if size == 1:
            raise ValueError(f"box {kind!r} has a 64-bit size")
        if size == 0:
            size = end - position
        if size < header or position + size > end:
            raise ValueError(f"box {kind!r} has a bad size")
        yield kind, position + header, position + size
        position += size


def decode_time(data: bytes) -> int:
    """The decode time (``tfdt``) of the fragment's first track fragment."""
    moof = _moof(data)
    for kind, start, end in _boxes(data, moof[1], moof[2]):
        if kind == b"traf":
            for sub, sub_start, _ in _boxes(data, start, end):
                if sub == b"tfdt":
                    version = data[sub_start]
                    fmt = ">Q" if version == 1 else ">I"
                    return int(struct.unpack_from(fmt, data, sub_start + 4)[0])
    raise ValueError("the fragment has no tfdt")


def _moof(data: bytes | bytearray) -> tuple[int, int, int]:
    """(box start, body start, end) of the fragment's moof, after any prefix boxes."""
    position = 0
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == b"moof":
            return position, start, end
        if kind not in _PREFIX:
            raise ValueError(f"expected a moof, found {kind!r}")
        position = end
    raise ValueError("the fragment has no moof")


def retime_fragment(data: bytes, start: int) -> bytes:
    """``data`` (one fragment: optional prefix boxes, a moof, its mdat) with its first
    track fragment's decode time set to ``start`` and every other moved by as much."""
    if not 0 <= start <= _MAX_DECODE_TIME:
        raise ValueError(f"a decode time is 0 to 2**64-1, not {start}")
    moof_at, moof_body, moof_end = _moof(data)
    shift: int | None = None
    out = bytearray(data[:moof_body])
    grown = 0
    for kind, start_at, end_at in _boxes(data, moof_body, moof_end):
        header_at = start_at - 8
        if kind != b"traf":
            out += data[header_at:end_at]
            continue
        traf = bytearray()
        traf_grown = 0
        absolute_base = False
        for sub, sub_start, sub_end in _boxes(data, start_at, end_at):
            sub_header = sub_start - 8
            if sub == b"tfhd":
                (flags,) = struct.unpack_from(">I", data, sub_start)
                absolute_base = bool(flags & _BASE_DATA_OFFSET)
                traf += data[sub_header:sub_end]
            elif sub == b"tfdt":
                version = data[sub_start]
                old = struct.unpack_from(">Q" if version == 1 else ">I", data, sub_start + 4)[0]
                if shift is None:
                    shift = start - old
                moved = old + shift
                if not 0 <= moved <= _MAX_DECODE_TIME:
                    raise ValueError("a track fragment would move before 0")
                flags = data[sub_start + 1 : sub_start + 4]
                traf += struct.pack(">I4sB", 20, b"tfdt", 1) + flags + struct.pack(">Q", moved)
                traf_grown += 20 - (sub_end - sub_header)
            else:
                traf += data[sub_header:sub_end]
        if traf_grown and absolute_base:
            raise ValueError("a traf with an absolute base data offset cannot grow")
        out += struct.pack(">I4s", len(traf) + 8, b"traf") + traf
        grown += traf_grown
    if shift is None:
        raise ValueError("the fragment has no tfdt")
    if grown:
        struct.pack_into(">I", out, moof_at, moof_end - moof_at + grown)
        _move_data_offsets(out, moof_at, grown)
    out += data[moof_end:]
    return bytes(out)


def _move_data_offsets(out: bytearray, moof_at: int, grown: int) -> None:
    """Move every trun's data offset (counted from the moof) past the grown moof."""
    (size,) = struct.unpack_from(">I", out, moof_at)
    for kind, start, end in _boxes(out, moof_at + 8, moof_at + size):
        if kind != b"traf":
            continue
        for sub, sub_start, _ in _boxes(out, start, end):
            if sub == b"trun":
                (flags,) = struct.unpack_from(">I", out, sub_start)
                if flags & _DATA_OFFSET:
                    (offset,) = struct.unpack_from(">i", out, sub_start + 8)
                    struct.pack_into(">i", out, sub_start + 8, offset + grown)
