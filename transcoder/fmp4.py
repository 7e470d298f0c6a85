"""Index a fragmented MP4 (CMAF) audio file: the init segment and each fragment's byte range.

Storage keeps one fragmented MP4 per rendition; HLS segments are byte ranges of it (DESIGN.md,
"The way data flows"). :func:`parse_fmp4` walks the top-level boxes, reads only the small ones
(``moov``, ``moof``) and seeks over every ``mdat`` payload, so a long file is indexed without
reading its media. Box layout: ISO/IEC 14496-12 (ISOBMFF) and 23000-19 (CMAF).

Layout ffmpeg writes with ``-frag_duration 6000000 -movflags +empty_moov+default_base_moof``::

    ftyp moov | moof mdat | moof mdat | ... | mfra
    init      | fragment  | fragment  |     | trailer (random access index, not served)

``styp``, ``sidx``, ``prft``, ``emsg`` or ``free`` boxes in front of a ``moof`` belong to that
fragment's range. Boxes after the last ``mdat`` (ffmpeg's ``mfra``) belong to no fragment, so
``init_size + sum(fragment sizes)`` is the file size minus that trailer
(``-movflags +skip_trailer`` drops it).

Priming (encoder delay). Decoders output the encoder's priming samples first; a player hides
them only when the file says how many there are:

- an edit list (``edts/elst`` media_time) says so for any codec. With ``empty_moov`` ffmpeg 9
  writes none; with ``-movflags +delay_moov+default_base_moof`` (instead of ``empty_moov``) it
  writes ``media_time`` 1024 for its AAC encoder and the pre-skip for Opus;
- Opus carries its pre-skip in ``dOps`` (ffmpeg's decoder applies it even without an edit list);
- AAC in ``empty_moov`` files carries nothing: neither an edit list nor a ``roll`` sample group
  (which, where written, is a pre-roll distance in frames, not a priming count). ffmpeg's
  ``aac`` encoder primes 1024 samples; Apple's and FDK encoders 2112. A caller that knows its
  encoder passes ``default_priming=1024``.

So :attr:`SegmentIndex.priming` counts samples at the start of the media timeline that are not
content. ffmpeg 9 gives the last packet the duration of the samples it really holds (an AAC
frame of 10 samples lasts 10), so the content lasts exactly ``total - priming``
(:attr:`SegmentIndex.content_seconds`). Decoders without an edit list still output the whole
last frame and the priming. HLS EXTINF values stay the fragments' media durations: players
place fragments by ``tfdt``.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

__all__ = [
    "INDEX_VERSION",
    "AacConfig",
    "Fragment",
    "Mp4Error",
    "SegmentIndex",
    "parse_audio_specific_config",
    "parse_fmp4",
    "parse_fmp4_path",
]

INDEX_VERSION = 1

# moov and moof are parsed in memory; a header box larger than this is not one we wrote.
_MAX_HEADER_BOX = 32 * 1024 * 1024
# Boxes that may stand in front of a moof as part of the same segment (CMAF 7.3.2).
_FRAGMENT_PREFIX = frozenset({b"styp", b"sidx", b"ssix", b"prft", b"emsg", b"free", b"skip"})
# Bytes of an audio sample entry's body before its child boxes: SampleEntry fields (8) and
# AudioSampleEntry fields (20); QuickTime sound descriptions version 1 and 2 add more.
_AUDIO_ENTRY_FIELDS = 28
_AUDIO_ENTRY_EXTRA = {0: 0, 1: 16, 2: 36}  # QuickTime sound description versions 1 and 2
_OPUS_RATE = 48000  # Opus always decodes at 48 kHz; dOps PreSkip counts 48 kHz samples
# MPEG-4 Audio sampling_frequency_index (ISO/IEC 14496-3, 1.6.3.4)
_AAC_RATES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)
_AAC_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 8)
_SBR, _PS = 5, 29
# Codec strings (RFC 6381 and the codecs' MP4 bindings) for sample entries without a config
# that refines them.
# MPEG-1 and MPEG-2 audio (MP3) in mp4a, by objectTypeIndication (RFC 6381).
_MPEG_AUDIO_CODECS = frozenset({"mp4a.6B", "mp4a.69"})
_CODEC_STRINGS = {b"fLaC": "fLaC", b"Opus": "Opus", b"ac-3": "ac-3", b"ec-3": "ec-3"}


class Mp4Error(Exception):
    """The file is not a fragmented MP4 with an audio track, or its boxes are damaged."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """One fragment (optional styp/sidx/prft, moof, mdat): a byte range and its media time.

    ``start`` and ``duration`` are in the track's timescale; ``duration`` is the exact sum of
    the fragment's sample durations.
    """

    offset: int
    size: int
    start: int
    duration: int
    samples: int

    @property
    def end(self) -> int:
        """The offset one past the fragment's last byte."""
        return self.offset + self.size


@dataclass(frozen=True)
class SegmentIndex:
    """Where a fragmented MP4's init segment and fragments lie, and what the track holds.

    The init segment is bytes ``[0, init_size)``. ``codec`` is the RFC 6381 string for HLS
    CODECS (``mp4a.40.2``, ``fLaC``, ``Opus``). ``priming`` counts encoder-delay samples at the
    start of the media timeline (see the module docstring), in the track timescale.
    """

    timescale: int
    init_size: int
    fragments: tuple[Fragment, ...]
    codec: str
    sample_rate: int
    channels: int
    priming: int

    @property
    def total_duration(self) -> int:
        """The media duration of all fragments, in timescale units (priming included)."""
        return sum(fragment.duration for fragment in self.fragments)

    @property
    def duration_seconds(self) -> float:
        """The media duration of all fragments, in seconds (priming included)."""
        return self.total_duration / self.timescale

    @property
    def content_seconds(self) -> float:
        """The duration without the priming samples: the source's length (module docstring)."""
        return (self.total_duration - self.priming) / self.timescale

    def fragment_seconds(self, i: int) -> float:
        """The duration of fragment ``i`` in seconds (an HLS EXTINF value)."""
        return self.fragments[i].duration / self.timescale

    def peak_bitrate(self) -> int:
        """The highest bit rate of any fragment, in bits/s, rounded up (HLS BANDWIDTH)."""
        rates = [
            fragment.size * 8 * self.timescale / fragment.duration
            for fragment in self.fragments
            if fragment.duration > 0
        ]
        return math.ceil(max(rates, default=0.0))

    def average_bitrate(self) -> int:
        """The bit rate over all fragments, in bits/s, rounded up (HLS AVERAGE-BANDWIDTH)."""
        total = self.total_duration
        if total <= 0:
            return 0
        size = sum(fragment.size for fragment in self.fragments)
        return math.ceil(size * 8 * self.timescale / total)

    def to_json(self) -> str:
        """A compact, versioned JSON form.

        Fragments are rows of ``[offset, size, start, duration, samples]``.
        """
        document = {
            "version": INDEX_VERSION,
            "timescale": self.timescale,
            "init_size": self.init_size,
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "priming": self.priming,
            "fragments": [
                [f.offset, f.size, f.start, f.duration, f.samples] for f in self.fragments
            ],
        }
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> SegmentIndex:
        """Read what :meth:`to_json` wrote; raise ValueError for anything else."""
        try:
            document = json.loads(text)
        except RecursionError as exc:  # json's nesting limit; an index nests two deep
            raise ValueError("segment index: nested too deeply") from exc
        if not isinstance(document, dict):
            raise ValueError("segment index: not a JSON object")
        version = document.get("version")
        if version != INDEX_VERSION:
            raise ValueError(f"segment index: unsupported version {version!r}")
        rows = document.get("fragments")
        if not isinstance(rows, list):
            raise ValueError("segment index: 'fragments' is not a list")
        fragments = []
        for row in rows:
            if not (isinstance(row, list) and len(row) == 5 and all(_is_count(v) for v in row)):
                raise ValueError(f"segment index: bad fragment {row!r}")
            fragments.append(Fragment(*row))
        codec = document.get("codec")
        if not isinstance(codec, str) or not codec:
            raise ValueError("segment index: bad 'codec'")
        counts: dict[str, int] = {}
        for name in ("timescale", "init_size", "sample_rate", "channels", "priming"):
            value = document.get(name)
            if not isinstance(value, int) or not _is_count(value):
                raise ValueError(f"segment index: bad {name!r}")
            counts[name] = value
        if counts["timescale"] == 0:
            raise ValueError("segment index: timescale is 0")
        return cls(codec=codec, fragments=tuple(fragments), **counts)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class AacConfig:
    """What an MPEG-4 AudioSpecificConfig says: the object type that names the codec."""

    object_type: int  # 2 = AAC-LC, 5 = HE-AAC (SBR), 29 = HE-AAC v2 (SBR + PS)
    sample_rate: int  # the output rate (the SBR rate for HE-AAC)
    channels: int  # 0 when a program config element defines them

    @property
    def codec(self) -> str:
        """The RFC 6381 codec string, such as ``mp4a.40.2``."""
        return f"mp4a.40.{self.object_type}"


def parse_audio_specific_config(data: bytes) -> AacConfig:
    """Read an AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1), the DecoderSpecificInfo of AAC.

    HE-AAC is recognised when signalled explicitly (object type 5 or 29 first) or by the
    backward-compatible sync extensions (0x2B7 for SBR, 0x548 for PS) after an AAC-LC config.
    """
    bits = _BitReader(data)
    try:
        object_type = _aac_object_type(bits)
        sample_rate = _aac_rate(bits)
        channels = _aac_channel_count(bits.read(4))
        if object_type in (_SBR, _PS):
            # Explicit hierarchical signalling: the SBR rate, then the core object type.
            sample_rate = _aac_rate(bits)
            _aac_object_type(bits)
            return AacConfig(object_type, sample_rate, channels)
        if object_type != 2 or channels == 0:
            return AacConfig(object_type, sample_rate, channels)
        # GASpecificConfig: frameLengthFlag, dependsOnCoreCoder (+ 14-bit delay), extensionFlag.
        bits.read(1)
        if bits.read(1):
            bits.read(14)
        bits.read(1)
        # Backward-compatible signalling: sync 0x2B7, extension type SBR, sbrPresentFlag.
        sync = bits.remaining >= 16 and bits.read(11) == 0x2B7
        if sync and bits.read(5) == _SBR and bits.read(1):
            sbr_rate = _aac_rate(bits)
            if bits.remaining >= 12 and bits.read(11) == 0x548 and bits.read(1):
                return AacConfig(_PS, sbr_rate, channels)
            return AacConfig(_SBR, sbr_rate, channels)
    except IndexError as exc:
        raise Mp4Error("truncated AudioSpecificConfig") from exc
    return AacConfig(object_type, sample_rate, channels)


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    @property
    def remaining(self) -> int:
        return self._left

    def read(self, count: int) -> int:
        if count > self._left:
            raise IndexError("read past the end")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)


def _aac_object_type(bits: _BitReader) -> int:
    object_type = bits.read(5)
    return 32 + bits.read(6) if object_type == 31 else object_type


def _aac_rate(bits: _BitReader) -> int:
    index = bits.read(4)
    if index == 15:
        return bits.read(24)
    if index >= len(_AAC_RATES):
        raise Mp4Error(f"reserved AAC sampling frequency index {index}")
    return _AAC_RATES[index]


def _aac_channel_count(config: int) -> int:
    return _AAC_CHANNELS[config] if config < len(_AAC_CHANNELS) else 0


# --- box reading -------------------------------------------------------------------------


def _children(data: bytes, start: int, end: int, where: str) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, body_start, body_end)`` for the boxes in ``data[start:end]``."""
    position = start
    while position < end:
        if end - position < 8:
            raise Mp4Error(f"truncated box header in {where}")
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            if end - position < 16:
                raise Mp4Error(f"truncated box header in {where}")
            (size,) = struct.unpack_from(">Q", data, position + 8)
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise Mp4Error(f"box {_name(kind)} overruns {where}")
        yield kind, position + header, position + size
        position += size


def _child(data: bytes, start: int, end: int, kind: bytes, where: str) -> tuple[int, int] | None:
    for found, body_start, body_end in _children(data, start, end, where):
        if found == kind:
            return body_start, body_end
    return None


def _name(kind: bytes) -> str:
    return repr(kind.decode("latin-1"))


def _unpack(fmt: str, data: bytes, offset: int, end: int, where: str) -> tuple[Any, ...]:
    if offset + struct.calcsize(fmt) > end:
        raise Mp4Error(f"truncated {where} box")
    return struct.unpack_from(fmt, data, offset)


@dataclass(frozen=True)
class _Track:
    track_id: int
    timescale: int
    codec: str
    sample_rate: int
    channels: int
    priming: int
    default_duration: int  # from trex
    default_size: int  # from trex


# --- moov --------------------------------------------------------------------------------


def _parse_moov(data: bytes, default_priming: int) -> _Track:
    end = len(data)
    mvex = _child(data, 0, end, b"mvex", "moov")
    audio: tuple[int, int] | None = None
    for kind, start, stop in _children(data, 0, end, "moov"):
        if kind == b"trak" and _handler(data, start, stop) == b"soun":
            audio = (start, stop)
            break
    if audio is None:
        raise Mp4Error("no audio track (no trak with handler 'soun')")
    if mvex is None:
        raise Mp4Error("not a fragmented MP4 (moov has no mvex box)")
    trak_start, trak_end = audio

    tkhd = _child(data, trak_start, trak_end, b"tkhd", "trak")
    if tkhd is None:
        raise Mp4Error("audio track has no tkhd box")
    (version,) = _unpack(">B", data, tkhd[0], tkhd[1], "tkhd")
    id_at = tkhd[0] + (20 if version == 1 else 12)
    (track_id,) = _unpack(">I", data, id_at, tkhd[1], "tkhd")

    mdia = _required(data, trak_start, trak_end, b"mdia", "trak")
    mdhd = _required(data, *mdia, b"mdhd", "mdia")
    (version,) = _unpack(">B", data, mdhd[0], mdhd[1], "mdhd")
    scale_at = mdhd[0] + (20 if version == 1 else 12)
    (timescale,) = _unpack(">I", data, scale_at, mdhd[1], "mdhd")
    if timescale == 0:
        raise Mp4Error("audio track timescale is 0")

    minf = _required(data, *mdia, b"minf", "mdia")
    stbl = _required(data, *minf, b"stbl", "minf")
    stsd = _required(data, *stbl, b"stsd", "stbl")
    codec, sample_rate, channels, pre_skip = _sample_entry(data, *stsd)

    priming = _edit_priming(data, trak_start, trak_end)
    if priming is None and pre_skip is not None:
        priming = pre_skip * timescale // _OPUS_RATE
    if priming is None:
        priming = default_priming

    default_duration = default_size = 0
    for kind, start, stop in _children(data, *mvex, "mvex"):
        if kind == b"trex":
            trex_id, _, duration, size = _unpack(">4xIIII", data, start, stop, "trex")
            if trex_id == track_id:
                default_duration, default_size = duration, size
    return _Track(
        track_id=track_id,
        timescale=timescale,
        codec=codec,
        sample_rate=sample_rate or timescale,
        channels=channels,
        priming=priming,
        default_duration=default_duration,
        default_size=default_size,
    )


def _required(data: bytes, start: int, end: int, kind: bytes, where: str) -> tuple[int, int]:
    found = _child(data, start, end, kind, where)
    if found is None:
        raise Mp4Error(f"audio track has no {_name(kind)} box in {where}")
    return found


def _handler(data: bytes, trak_start: int, trak_end: int) -> bytes | None:
    mdia = _child(data, trak_start, trak_end, b"mdia", "trak")
    if mdia is None:
        return None
    hdlr = _child(data, *mdia, b"hdlr", "mdia")
    if hdlr is None:
        return None
    (handler,) = _unpack(">8x4s", data, hdlr[0], hdlr[1], "hdlr")
    return bytes(handler)


def _sample_entry(data: bytes, start: int, end: int) -> tuple[str, int, int, int | None]:
    """Codec string, sample rate, channels and Opus pre-skip from the first sample entry."""
    entries = _children(data, start + 8, end, "stsd")  # skip version/flags and entry_count
    entry = next(entries, None)
    if entry is None:
        raise Mp4Error("audio track has no sample description")
    kind, body, stop = entry
    (version,) = _unpack(">8xH", data, body, stop, "audio sample entry")
    extra = _AUDIO_ENTRY_EXTRA.get(version, 0)
    channels, rate = _unpack(">16xH6xI", data, body, stop, "audio sample entry")
    sample_rate = rate >> 16  # 16.16 fixed point; 0 or wrapped above 65535 Hz
    if version == 2:
        (rate_float, channels) = _unpack(">32xdI", data, body, stop, "audio sample entry")
        if not 0 <= rate_float < 2**32:  # false for NaN too; int() fails on NaN and infinity
            raise Mp4Error(f"audio sample entry has a sample rate of {rate_float}")
        sample_rate = int(rate_float)
    children_start = body + _AUDIO_ENTRY_FIELDS + extra
    configs = {kind: (s, e) for kind, s, e in _children(data, children_start, stop, "sample entry")}
    codec = _CODEC_STRINGS.get(kind, kind.decode("latin-1").strip())
    pre_skip: int | None = None
    if kind == b"mp4a" and b"esds" in configs:
        codec, esds_rate, esds_channels = _esds(data, *configs[b"esds"])
        sample_rate = esds_rate or sample_rate
        channels = esds_channels or channels
    elif kind == b"fLaC" and b"dfLa" in configs:
        flac_rate, flac_channels = _dfla(data, *configs[b"dfLa"])
        sample_rate, channels = flac_rate or sample_rate, flac_channels or channels
    elif kind == b"Opus" and b"dOps" in configs:
        out_channels, pre_skip = _unpack(">xBH", data, *configs[b"dOps"], "dOps")
        sample_rate, channels = _OPUS_RATE, out_channels or channels
    return codec, sample_rate, channels, pre_skip


def _esds(data: bytes, start: int, end: int) -> tuple[str, int, int]:
    """Codec string, rate and channels from an esds box's ES_Descriptor (ISO/IEC 14496-1)."""
    try:
        return _es_descriptor(data, start, end)
    except IndexError as exc:
        raise Mp4Error("truncated esds box") from exc


def _es_descriptor(data: bytes, start: int, end: int) -> tuple[str, int, int]:
    position = start + 4  # version/flags
    object_type = None
    while position < end:
        tag = data[position]
        length = 0
        position += 1
        for _ in range(4):  # expandable size: 7 bits a byte, high bit means "more"
            if position >= end:
                raise Mp4Error("truncated esds box")
            byte = data[position]
            position += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 0x03:  # ES_Descriptor: ES_ID, flags and optional fields, then children
            (flags,) = _unpack(">2xB", data, position, end, "esds")
            position += 3
            if flags & 0x80:
                position += 2
            if flags & 0x40:
                position += 1 + data[position]
            if flags & 0x20:
                position += 2
        elif tag == 0x04:  # DecoderConfigDescriptor: objectTypeIndication, then children
            (object_type,) = _unpack(">B", data, position, end, "esds")
            position += 13
        elif tag == 0x05 and object_type == 0x40:  # DecoderSpecificInfo of MPEG-4 Audio
            config = parse_audio_specific_config(data[position : min(end, position + length)])
            return config.codec, config.sample_rate, config.channels
        else:
            position += length
    if object_type is None:
        raise Mp4Error("esds box has no DecoderConfigDescriptor")
    # MPEG-4 audio without a config, or MP3/MPEG-2 AAC: the object type alone (RFC 6381).
    return f"mp4a.{object_type:02X}", 0, 0


def _dfla(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Sample rate and channels from the STREAMINFO block of a dfLa box."""
    (block_type,) = _unpack(">4xB", data, start, end, "dfLa")
    if block_type & 0x7F != 0:
        raise Mp4Error("dfLa box does not start with STREAMINFO")
    (packed,) = _unpack(">Q", data, start + 4 + 4 + 10, end, "dfLa")
    return packed >> 44, ((packed >> 41) & 0x7) + 1


def _edit_priming(data: bytes, trak_start: int, trak_end: int) -> int | None:
    """The media_time of the first non-empty edit: where presentation starts (media units)."""
    edts = _child(data, trak_start, trak_end, b"edts", "trak")
    if edts is None:
        return None
    elst = _child(data, *edts, b"elst", "edts")
    if elst is None:
        return None
    version, count = _unpack(">B3xI", data, elst[0], elst[1], "elst")
    entry = ">Qq4x" if version == 1 else ">Ii4x"
    position = elst[0] + 8
    for _ in range(count):
        _, media_time = _unpack(entry, data, position, elst[1], "elst")
        position += struct.calcsize(entry)
        if media_time != -1:  # -1 marks an empty edit (a delay before the track starts)
            return max(int(media_time), 0)
    return None


# --- moof --------------------------------------------------------------------------------


@dataclass
class _Moof:
    start: int | None  # tfdt of the track's first traf
    duration: int
    samples: int
    data_ranges: list[tuple[int, int]]  # absolute [start, end) of sample data


def _parse_moof(data: bytes, moof_offset: int, track: _Track) -> _Moof:
    result = _Moof(start=None, duration=0, samples=0, data_ranges=[])
    found = False
    next_data = moof_offset  # where a traf without a base offset continues (14496-12 8.8.7.1)
    for kind, start, end in _children(data, 0, len(data), "moof"):
        if kind != b"traf":
            continue
        tfhd = _child(data, start, end, b"tfhd", "traf")
        if tfhd is None:
            raise Mp4Error(f"traf without tfhd in the moof at offset {moof_offset}")
        flags, track_id = _unpack(">II", data, tfhd[0], tfhd[1], "tfhd")
        flags &= 0xFFFFFF
        position = tfhd[0] + 8
        base = next_data
        if flags & 0x1:
            (base,) = _unpack(">Q", data, position, tfhd[1], "tfhd")
            position += 8
        elif flags & 0x20000:  # default-base-is-moof
            base = moof_offset
        if flags & 0x2:
            position += 4  # sample_description_index
        default_duration, default_size = track.default_duration, track.default_size
        if flags & 0x8:
            (default_duration,) = _unpack(">I", data, position, tfhd[1], "tfhd")
            position += 4
        if flags & 0x10:
            (default_size,) = _unpack(">I", data, position, tfhd[1], "tfhd")
        cursor = base
        for sub, sub_start, sub_end in _children(data, start, end, "traf"):
            if sub == b"tfdt" and track_id == track.track_id and result.start is None:
                (version,) = _unpack(">B", data, sub_start, sub_end, "tfdt")
                fmt = ">4xQ" if version == 1 else ">4xI"
                (result.start,) = _unpack(fmt, data, sub_start, sub_end, "tfdt")
            elif sub == b"trun":
                run = _parse_trun(data, sub_start, sub_end, default_duration, default_size)
                count, duration, size, data_offset = run
                if data_offset is not None:
                    cursor = base + data_offset
                if track_id == track.track_id:
                    found = True
                    result.samples += count
                    result.duration += duration
                    if size:
                        result.data_ranges.append((cursor, cursor + size))
                cursor += size
        next_data = cursor
    if not found:
        raise Mp4Error(f"the moof at offset {moof_offset} has no samples of the audio track")
    return result


def _parse_trun(
    data: bytes, start: int, end: int, default_duration: int, default_size: int
) -> tuple[int, int, int, int | None]:
    """Sample count, total duration, total size and data offset of a trun box."""
    flags, count = _unpack(">II", data, start, end, "trun")
    flags &= 0xFFFFFF
    position = start + 8
    data_offset: int | None = None
    if flags & 0x1:
        (data_offset,) = _unpack(">i", data, position, end, "trun")
        position += 4
    if flags & 0x4:
        position += 4  # first_sample_flags
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
    if not fields:
        return count, count * default_duration, count * default_size, data_offset
    stride = len(fields)
    if position + 4 * stride * count > end:
        raise Mp4Error("truncated trun box")
    values = struct.unpack_from(f">{stride * count}I", data, position)
    duration = (
        sum(values[fields.index(0x100) :: stride]) if 0x100 in fields else count * default_duration
    )
    size = sum(values[fields.index(0x200) :: stride]) if 0x200 in fields else count * default_size
    return count, duration, size, data_offset


# --- the file ----------------------------------------------------------------------------


def parse_fmp4(fileobj: BinaryIO, *, default_priming: int = 0) -> SegmentIndex:
    """Index the fragmented MP4 in ``fileobj`` (seekable, binary); raise :class:`Mp4Error`.

    Reads the ``moov`` and each ``moof``, and seeks over media data. Every box must lie within
    the file and every fragment's sample data within its ``mdat``: a file cut short anywhere in
    its fragments is an error, since serving it would send wrong bytes. ``default_priming``
    is the priming count (in track timescale units) to assume when the file signals none,
    such as 1024 for ffmpeg's AAC encoder with ``empty_moov`` (see the module docstring).
    """
    file_size = fileobj.seek(0, io.SEEK_END)
    if file_size == 0:
        raise Mp4Error("empty file")
    track: _Track | None = None
    channels = 0  # the track's, unless the first MP3 frame says otherwise
    mpeg_audio = False
    init_size: int | None = None
    fragments: list[Fragment] = []
    prefix_start: int | None = None  # where the boxes in front of the pending moof begin
    pending: tuple[int, _Moof] | None = None  # (fragment offset, moof) awaiting its mdat
    next_start = 0
    position = 0
    while position < file_size:
        kind, header, size = _read_header(fileobj, position, file_size)
        if position == 0 and kind != b"ftyp":
            raise Mp4Error(f"not an MP4 file (it starts with {_name(kind)}, not 'ftyp')")
        if position + size > file_size:
            raise Mp4Error(
                f"truncated file: box {_name(kind)} at offset {position} needs {size} bytes,"
                f" the file ends {file_size - position} bytes after its start"
            )
        if kind == b"moov":
            if track is not None:
                raise Mp4Error(f"a second moov box at offset {position}")
            track = _parse_moov(_read_body(fileobj, position, header, size), default_priming)
            channels, mpeg_audio = track.channels, track.codec in _MPEG_AUDIO_CODECS
        elif kind == b"moof":
            if track is None:
                raise Mp4Error(f"moof box at offset {position} before the moov box")
            if pending is not None:
                raise Mp4Error(f"moof box at offset {position} follows a moof without mdat")
            moof = _parse_moof(_read_body(fileobj, position, header, size), position, track)
            offset = position if prefix_start is None else prefix_start
            if init_size is None:
                init_size = offset
            pending, prefix_start = (offset, moof), None
        elif kind == b"mdat":
            if pending is None:
                raise Mp4Error(
                    f"not a fragmented MP4 (mdat box at offset {position} is not preceded by"
                    " a moof)"
                )
            offset, moof = pending
            _check_sample_data(moof, position + header, position + size, position)
            if mpeg_audio and not fragments and moof.data_ranges:
                channels = _mpeg_audio_channels(fileobj, moof.data_ranges[0][0]) or channels
            start = next_start if moof.start is None else moof.start
            fragment = Fragment(
                offset, position + size - offset, start, moof.duration, moof.samples
            )
            fragments.append(fragment)
            next_start = start + moof.duration
            pending = None
        elif pending is not None:
            raise Mp4Error(f"box {_name(kind)} at offset {position} between a moof and its mdat")
        elif track is not None and prefix_start is None and (fragments or kind in _FRAGMENT_PREFIX):
            # styp/sidx/prft/emsg open the next fragment; between fragments, any box does, so
            # that fragments cover the file with no gaps. Other boxes before the first
            # fragment are part of the init segment.
            prefix_start = position
        position += size
    if track is None:
        raise Mp4Error("no moov box")
    if pending is not None:
        raise Mp4Error(f"truncated file: the moof at offset {pending[0]} has no mdat")
    if init_size is None or not fragments:
        raise Mp4Error("not a fragmented MP4 (no moof/mdat fragments)")
    # Anything after the last mdat (ffmpeg's mfra) is a trailer that no fragment includes.
    return SegmentIndex(
        timescale=track.timescale,
        init_size=init_size,
        fragments=tuple(fragments),
        codec=track.codec,
        sample_rate=track.sample_rate,
        channels=channels,
        priming=track.priming,
    )


def _mpeg_audio_channels(fileobj: BinaryIO, offset: int) -> int | None:
    """Channels in the header of the MPEG audio (MP3) frame at ``offset``; None if no header.

    An MP3 sample entry carries no decoder config, and its channelcount is no guide: ISO
    files may leave it at the template value 2, as ffmpeg before 6 does for mono.
    """
    fileobj.seek(offset)
    header = fileobj.read(4)
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    return 1 if header[3] >> 6 == 3 else 2  # channel mode 3: single channel


def parse_fmp4_path(path: str | os.PathLike[str], *, default_priming: int = 0) -> SegmentIndex:
    """Index the fragmented MP4 file at ``path`` (blocking: call it from a worker thread)."""
    with open(path, "rb") as fileobj:
        return parse_fmp4(fileobj, default_priming=default_priming)


def _read_header(fileobj: BinaryIO, position: int, file_size: int) -> tuple[bytes, int, int]:
    """The type, header length and total size of the box at ``position``."""
    fileobj.seek(position)
    raw = fileobj.read(16 if file_size - position >= 16 else 8)
    if len(raw) < 8:
        raise Mp4Error(f"truncated file: {len(raw)} stray bytes at offset {position}")
    size, kind = struct.unpack_from(">I4s", raw)
    if position == 0 and kind != b"ftyp":
        return kind, 8, size  # reported by the caller as "not an MP4"
    header = 8
    if size == 1:
        if len(raw) < 16:
            raise Mp4Error(f"truncated file: box header at offset {position} is cut short")
        (size,) = struct.unpack_from(">Q", raw, 8)
        header = 16
    elif size == 0:
        size = file_size - position  # the box runs to the end of the file
    if size < header:
        raise Mp4Error(f"damaged box {_name(kind)} at offset {position}: size {size}")
    return kind, header, size


def _read_body(fileobj: BinaryIO, position: int, header: int, size: int) -> bytes:
    if size > _MAX_HEADER_BOX:
        raise Mp4Error(f"box at offset {position} is too large to index ({size} bytes)")
    fileobj.seek(position + header)
    body = fileobj.read(size - header)
    if len(body) != size - header:
        raise Mp4Error(f"truncated file: short read of the box at offset {position}")
    return body


def _check_sample_data(moof: _Moof, start: int, end: int, mdat_offset: int) -> None:
    for data_start, data_end in moof.data_ranges:
        if data_start < start or data_end > end:
            raise Mp4Error(
                f"sample data [{data_start}, {data_end}) lies outside the mdat box at offset"
                f" {mdat_offset} (payload [{start}, {end})): truncated or damaged"
            )
