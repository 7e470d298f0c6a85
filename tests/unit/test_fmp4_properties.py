"""The fragmented MP4 indexer under generated input: only Mp4Error escapes; built files read back.

Two sources of input: a small generator of fragmented MP4 files whose fields are known (the
index must give them back), and real files ffmpeg writes, mutated by hypothesis (cut short,
bytes flipped, box sizes made huge, zero, one or too small, boxes nested deep, duplicated).
Whatever the indexer accepts must still describe the file: contiguous fragments inside it.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_fmp4 import Spec, make_fmp4
from transcoder.fmp4 import (
    Fragment,
    Mp4Error,
    SegmentIndex,
    parse_audio_specific_config,
    parse_fmp4,
)

__all__ = ["make_fmp4"]  # the session fixture that writes ffmpeg's files, used here

AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
AAC_CHANNELS = (1, 2, 3, 4, 5, 6, 8)  # by channel configuration 1-7


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


def _descriptor(tag: int, payload: bytes) -> bytes:
    return bytes([tag, len(payload)]) + payload


# --- a small generator of fragmented MP4 files --------------------------------------------


@dataclass(frozen=True)
class Track:
    track_id: int
    timescale: int
    codec: str  # "aac", "flac" or "opus"
    rate_index: int  # into AAC_RATES; the rate of every codec, for simplicity
    channel_config: int  # 1-7, into AAC_CHANNELS
    version: int  # of tkhd, mdhd and elst
    edit: int | None  # media_time of an edit list
    pre_skip: int  # Opus only
    trex_duration: int

    @property
    def rate(self) -> int:
        return 48000 if self.codec == "opus" else AAC_RATES[self.rate_index]

    @property
    def channels(self) -> int:
        return AAC_CHANNELS[self.channel_config - 1]

    @property
    def codec_string(self) -> str:
        return {"aac": "mp4a.40.2", "flac": "fLaC", "opus": "Opus"}[self.codec]

    @property
    def priming(self) -> int:
        if self.edit is not None:
            return self.edit
        if self.codec == "opus":
            return self.pre_skip * self.timescale // 48000
        return 0


@dataclass(frozen=True)
class Frag:
    sizes: tuple[int, ...]
    durations: tuple[int, ...] | None  # per sample; None: the trex default
    start: int
    tfdt_version: int
    styp: bool  # a styp box in front of the moof, part of the fragment


def _sample_entry(track: Track) -> bytes:
    fields = bytes(6) + struct.pack(">HHHIHHHHI", 1, 0, 0, 0, 2, 16, 0, 0, 0)  # rate 0: see config
    if track.codec == "aac":
        config = (2 << 11 | track.rate_index << 7 | track.channel_config << 3).to_bytes(2, "big")
        decoder = _descriptor(
            4, struct.pack(">BB3sII", 0x40, 0x15, bytes(3), 0, 0) + _descriptor(5, config)
        )
        esds = _full(b"esds", 0, 0, _descriptor(3, struct.pack(">HB", 1, 0) + decoder))
        return _box(b"mp4a", fields, esds)
    if track.codec == "flac":
        packed = track.rate << 44 | (track.channels - 1) << 41 | 15 << 36
        streaminfo = struct.pack(">HH3s3sQ16s", 4096, 4096, bytes(3), bytes(3), packed, bytes(16))
        dfla = _full(b"dfLa", 0, 0, bytes([0x80]), len(streaminfo).to_bytes(3, "big"), streaminfo)
        return _box(b"fLaC", fields, dfla)
    dops = struct.pack(">BBHIhB", 0, track.channels, track.pre_skip, 48000, 0, 0)
    return _box(b"Opus", fields, _box(b"dOps", dops))


def _init(track: Track) -> bytes:
    if track.version == 1:
        tkhd = _full(b"tkhd", 1, 3, struct.pack(">QQI", 0, 0, track.track_id), bytes(72))
        mdhd = _full(b"mdhd", 1, 0, struct.pack(">QQIQ", 0, 0, track.timescale, 0), bytes(4))
    else:
        tkhd = _full(b"tkhd", 0, 3, struct.pack(">III", 0, 0, track.track_id), bytes(68))
        mdhd = _full(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, track.timescale, 0), bytes(4))
    hdlr = _full(b"hdlr", 0, 0, bytes(4), b"soun", bytes(12), b"\0")
    stsd = _full(b"stsd", 0, 0, struct.pack(">I", 1), _sample_entry(track))
    minf = _box(b"minf", _box(b"stbl", stsd))
    edts = b""
    if track.edit is not None:
        entry = ">QqHH" if track.version == 1 else ">IiHH"
        elst_entries = struct.pack(entry, 0, -1, 1, 0) + struct.pack(entry, 0, track.edit, 1, 0)
        elst = _full(b"elst", track.version, 0, struct.pack(">I", 2), elst_entries)
        edts = _box(b"edts", elst)
    trak = _box(b"trak", tkhd, edts, _box(b"mdia", mdhd, hdlr, minf))
    trex = _full(b"trex", 0, 0, struct.pack(">IIIII", track.track_id, 1, track.trex_duration, 0, 0))
    moov = _box(b"moov", _full(b"mvhd", 0, 0, bytes(96)), trak, _box(b"mvex", trex))
    return _box(b"ftyp", b"iso6", bytes(4), b"iso6cmfc") + moov


def _fragment(track: Track, frag: Frag) -> bytes:
    def moof(data_offset: int) -> bytes:
        tfhd = _full(b"tfhd", 0, 0x20000, struct.pack(">I", track.track_id))
        tfdt_field = ">Q" if frag.tfdt_version else ">I"
        tfdt = _full(b"tfdt", frag.tfdt_version, 0, struct.pack(tfdt_field, frag.start))
        flags = 0x1 | 0x200 | (0x100 if frag.durations else 0)
        rows = b"".join(
            struct.pack(">II", frag.durations[i], size)
            if frag.durations
            else struct.pack(">I", size)
            for i, size in enumerate(frag.sizes)
        )
        trun = _full(b"trun", 0, flags, struct.pack(">Ii", len(frag.sizes), data_offset), rows)
        mfhd = _full(b"mfhd", 0, 0, struct.pack(">I", 1))
        return _box(b"moof", mfhd, _box(b"traf", tfhd, tfdt, trun))

    head = len(moof(0))
    styp = _box(b"styp", b"msdh", bytes(4), b"msdhmsix") if frag.styp else b""
    return styp + moof(head + 8) + _box(b"mdat", bytes(sum(frag.sizes)))


tracks = st.builds(
    Track,
    track_id=st.integers(1, 2**32 - 1),
    timescale=st.integers(1, 2**32 - 1),
    codec=st.sampled_from(["aac", "flac", "opus"]),
    rate_index=st.integers(0, len(AAC_RATES) - 1),
    channel_config=st.integers(1, 7),
    version=st.integers(0, 1),
    edit=st.one_of(st.none(), st.integers(0, 2**31 - 1)),
    pre_skip=st.integers(0, 2**16 - 1),
    trex_duration=st.integers(0, 2**20),
)


@st.composite
def frags(draw: st.DrawFn) -> Frag:
    count = draw(st.integers(1, 6))
    sizes = tuple(draw(st.lists(st.integers(0, 300), min_size=count, max_size=count)))
    per_sample = st.lists(st.integers(0, 2**20), min_size=count, max_size=count).map(tuple)
    return Frag(
        sizes=sizes,
        durations=draw(st.one_of(st.none(), per_sample)),
        start=draw(st.integers(0, 2**32 - 1)),
        tfdt_version=draw(st.integers(0, 1)),
        styp=draw(st.booleans()),
    )


def _parse(data: bytes) -> SegmentIndex:
    return parse_fmp4(io.BytesIO(data))


@given(tracks, st.lists(frags(), min_size=1, max_size=4), st.booleans())
def test_a_built_file_indexes_to_the_fields_it_was_built_with(
    track: Track, fragments: list[Frag], trailer: bool
) -> None:
    init = _init(track)
    data = init
    expected = []
    for frag in fragments:
        piece = _fragment(track, frag)
        duration = sum(frag.durations) if frag.durations else len(frag.sizes) * track.trex_duration
        expected.append(Fragment(len(data), len(piece), frag.start, duration, len(frag.sizes)))
        data += piece
    if trailer:
        data += _box(b"mfra", _full(b"mfro", 0, 0, bytes(4)))

    index = _parse(data)

    assert index == SegmentIndex(
        timescale=track.timescale,
        init_size=len(init),
        fragments=tuple(expected),
        codec=track.codec_string,
        sample_rate=track.rate,
        channels=track.channels,
        priming=track.priming,
    )
    assert SegmentIndex.from_json(index.to_json()) == index


def _quicktime_v2(rate: float, channels: int) -> bytes:
    """A file whose sample entry is a QuickTime version 2 sound description.

    Version 2 keeps the rate as a 64-bit float and the channels as a 32-bit count, after 36
    more bytes of fields; no config box refines them here.
    """
    track = Track(1, 48000, "opus", 0, 2, 0, None, 0, 1024)
    init = _init(track)
    v1_fields = bytes(6) + struct.pack(">HHHIHHHHI", 1, 2, 0, 0, 3, 16, 0xFFFE, 0, 0x10000)
    v2_fields = struct.pack(">IdI", 72, rate, channels) + bytes(20)
    entry = _box(b"ac-3", v1_fields, v2_fields)
    old_entry = _sample_entry(track)
    init = init.replace(old_entry, entry)
    init = _fix_sizes(init, len(entry) - len(old_entry))
    return init + _fragment(track, Frag((10,), None, 0, 1, False))


@given(st.floats(), st.integers(0, 2**32 - 1))
def test_a_quicktime_v2_sound_description_with_any_rate_indexes_or_is_an_mp4_error(
    rate: float, channels: int
) -> None:
    try:
        index = _parse(_quicktime_v2(rate, channels))
    except Mp4Error:
        return
    assert index.sample_rate > 0
    assert index.channels == channels


@pytest.mark.parametrize("rate", [math.nan, math.inf, -math.inf, -1.0, 2.0**32])
def test_a_quicktime_v2_sample_rate_that_is_no_rate_is_an_mp4_error(rate: float) -> None:
    # Found by the property above: int() of the float raised ValueError or OverflowError,
    # and a negative rate went into the index.
    with pytest.raises(Mp4Error, match="sample rate"):
        _parse(_quicktime_v2(rate, 2))


def test_a_quicktime_v2_sample_rate_is_read() -> None:
    assert _parse(_quicktime_v2(44100.0, 6)).sample_rate == 44100


def _fix_sizes(init: bytes, grown: int) -> bytes:
    """``init`` with the sizes of the boxes around its sample entry grown by ``grown``."""
    out = bytearray(init)
    for kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"):
        at = out.index(kind) - 4
        size = int.from_bytes(out[at : at + 4], "big")
        out[at : at + 4] = (size + grown).to_bytes(4, "big")
    return bytes(out)


# --- real files, mutated ------------------------------------------------------------------

SEEDS = {
    "aac": Spec("aac", 44100, 2, 3.0, fragment_seconds=1.0),
    # ffmpeg before 6 calls FLAC in MP4 experimental.
    "flac": Spec("flac", 48000, 1, 3.0, fragment_seconds=1.0, extra=("-strict", "-2")),
    "opus": Spec("opus", 48000, 2, 3.0, fragment_seconds=1.0),
}
CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf",
                        b"edts"})  # fmt: skip


@pytest.fixture(scope="module")
def seeds(make_fmp4: Callable[[Spec], Path]) -> dict[str, bytes]:
    return {codec: make_fmp4(spec).read_bytes() for codec, spec in SEEDS.items()}


def _headers(data: bytes, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets of every box header, descending into the containers the indexer reads."""
    end = len(data) if end is None else end
    found = []
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        if size < 8 or position + size > end:
            break
        found.append(position)
        if kind in CONTAINERS:
            found += _headers(data, position + 8, position + size)
        elif kind == b"stsd":
            found += _headers(data, position + 16, position + size)
        elif kind in (b"mp4a", b"fLaC", b"Opus"):
            found += _headers(data, position + 36, position + size)
        position += size
    return found


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` changed a few times the ways damaged or hostile files differ."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        headers = _headers(bytes(out))
        how = draw(st.sampled_from(["size", "size", "flip", "cut", "nest", "copy", "type"]))
        if how == "size" and headers:
            at = draw(st.sampled_from(headers))
            size = draw(
                st.one_of(
                    st.sampled_from([0, 1, 7, 8, 9, 2**31, 2**32 - 1]),
                    st.integers(0, len(out) + 64),
                )
            )
            out[at : at + 4] = size.to_bytes(4, "big")
            if size == 1:  # a 64-bit size follows in place of the first payload bytes
                large = draw(st.sampled_from([0, 15, 16, 2**63 - 1, 2**64 - 1]))
                out[at + 8 : at + 16] = large.to_bytes(8, "big")
        elif how == "flip" and out:
            at = draw(st.integers(0, len(out) - 1))
            out[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del out[draw(st.integers(0, len(out))) :]
        elif how == "nest" and headers:
            # The box at ``at`` wrapped in many containers: depth must not matter.
            at = draw(st.sampled_from(headers))
            size = int.from_bytes(out[at : at + 4], "big")
            inner = bytes(out[at : at + max(size, 8)])
            for kind in draw(st.lists(st.sampled_from(sorted(CONTAINERS)), max_size=100)):
                inner = _box(kind, inner)
            out[at : at + max(size, 8)] = inner
        elif how == "copy" and headers:
            at = draw(st.sampled_from(headers))
            size = max(int.from_bytes(out[at : at + 4], "big"), 8)
            out[at:at] = out[at : at + size]
        elif how == "type" and headers:
            at = draw(st.sampled_from(headers))
            out[at + 4 : at + 8] = draw(
                st.sampled_from([b"moov", b"moof", b"mdat", b"trak", b"free", b"ftyp", b"\0\0\0\0"])
            )
    return bytes(out)


def _check_index_describes(index: SegmentIndex, size: int) -> None:
    assert index.timescale > 0
    assert index.fragments
    assert index.fragments[0].offset == index.init_size
    for before, after in zip(index.fragments, index.fragments[1:], strict=False):
        assert before.end == after.offset
    assert index.fragments[-1].end <= size
    assert SegmentIndex.from_json(index.to_json()) == index


@pytest.mark.parametrize("codec", sorted(SEEDS))
@given(data=st.data())
def test_a_mutated_ffmpeg_file_indexes_or_is_an_mp4_error(
    codec: str, seeds: dict[str, bytes], data: st.DataObject
) -> None:
    mutated = data.draw(mutations(seeds[codec]))
    try:
        index = _parse(mutated)
    except Mp4Error:
        return
    _check_index_describes(index, len(mutated))


@given(st.binary(max_size=64))
def test_arbitrary_bytes_are_an_mp4_error(data: bytes) -> None:
    with pytest.raises(Mp4Error):
        _parse(data)


@given(st.binary(max_size=16))
def test_any_audio_specific_config_parses_or_is_an_mp4_error(config: bytes) -> None:
    try:
        parsed = parse_audio_specific_config(config)
    except Mp4Error:
        return
    assert parsed.codec.startswith("mp4a.40.")
    assert parsed.sample_rate >= 0


@given(
    st.sampled_from([1, 2, 3, 4, 6, 17, 23, 42]),
    st.integers(0, len(AAC_RATES) - 1),
    st.integers(0, 7),
)
def test_an_audio_specific_config_reads_back(
    object_type: int, rate_index: int, channels: int
) -> None:
    if object_type >= 31:  # escaped: 31, then six bits of (object type - 32)
        value = 31 << 14 | (object_type - 32) << 8 | rate_index << 4 | channels
        config = (value << 13).to_bytes(4, "big")
    else:
        config = (object_type << 11 | rate_index << 7 | channels << 3).to_bytes(2, "big")
    parsed = parse_audio_specific_config(config)
    assert (parsed.object_type, parsed.sample_rate) == (object_type, AAC_RATES[rate_index])
    assert parsed.channels == (0, 1, 2, 3, 4, 5, 6, 8)[channels]


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
).map(json.dumps)


@given(st.one_of(st.text(), json_documents, st.integers(1, 3000).map(lambda n: "[" * n)))
def test_any_text_is_a_segment_index_or_a_value_error(text: str) -> None:
    try:
        SegmentIndex.from_json(text)
    except ValueError:
        return
