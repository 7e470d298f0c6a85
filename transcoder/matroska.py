"""A small reader of Matroska/WebM headers: the audio track, duration and tags.

mutagen reads no Matroska, and WebM/Opus is common enough to catalogue. This walks the
EBML elements that describe the file (Info, Tracks, Tags) and stops at the first Cluster,
following the SeekHead for elements written after the media (as muxers do for Tags).
No media data is read. Element IDs and layout: RFC 8794 (EBML) and RFC 9559 (Matroska).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = ["MATROSKA_MAGIC", "MatroskaError", "MatroskaInfo", "read_matroska"]

MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"

_EBML = 0x1A45DFA3
_DOC_TYPE = 0x4282
_SEGMENT = 0x18538067
_SEEK_HEAD = 0x114D9B74
_SEEK = 0x4DBB
_SEEK_ID = 0x53AB
_SEEK_POSITION = 0x53AC
_INFO = 0x1549A966
_TIMESTAMP_SCALE = 0x2AD7B1
_DURATION = 0x4489
_TITLE = 0x7BA9
_TRACKS = 0x1654AE6B
_TRACK_ENTRY = 0xAE
_TRACK_TYPE = 0x83
_CODEC_ID = 0x86
_AUDIO = 0xE1
_SAMPLING_FREQUENCY = 0xB5
_CHANNELS = 0x9F
_BIT_DEPTH = 0x6264
_TAGS = 0x1254C367
_TAG = 0x7373
_SIMPLE_TAG = 0x67C8
_TAG_NAME = 0x45A3
_TAG_STRING = 0x4487
_CLUSTER = 0x1F43B675

_AUDIO_TRACK = 2
# Header elements larger than this are not metadata we want to hold in memory.
_MAX_ELEMENT = 4 * 1024 * 1024

_CODECS = {
    "A_OPUS": "opus",
    "A_VORBIS": "vorbis",
    "A_FLAC": "flac",
    "A_ALAC": "alac",
    "A_MPEG/L3": "mp3",
    "A_MPEG/L2": "mp2",
    "A_AC3": "ac3",
    "A_EAC3": "eac3",
    "A_DTS": "dts",
    "A_TRUEHD": "truehd",
}


class MatroskaError(Exception):
    """The file is not Matroska, or its header elements are damaged."""


@dataclass
class MatroskaInfo:
    """What the header elements say about the first audio track."""

    doc_type: str
    codec: str
    duration: float  # seconds; 0.0 when the header does not say
    sample_rate: int
    channels: int
    bits_per_sample: int | None
    tags: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _State:
    timestamp_scale: int = 1_000_000
    duration_ticks: float | None = None
    title: str | None = None
    track: dict[int, bytes] | None = None
    audio: dict[int, bytes] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)


def read_matroska(fileobj: BinaryIO, size: int) -> MatroskaInfo:
    """Read the header elements of a Matroska/WebM file of ``size`` bytes."""
    fileobj.seek(0)
    element_id, _ = _read_element_id(fileobj)
    if element_id != _EBML:
        raise MatroskaError("no EBML header")
    length = _read_size(fileobj)
    if length is None or length > 4096:
        raise MatroskaError("bad EBML header")
    header = _children(_read_exact(fileobj, length))
    doc_type = header.get(_DOC_TYPE, [b"matroska"])[0].decode("ascii", "replace")
    if doc_type not in ("matroska", "webm"):
        raise MatroskaError(f"not an audio file (EBML document type {doc_type!r})")

    segment_id, _ = _read_element_id(fileobj)
    if segment_id != _SEGMENT:
        raise MatroskaError("no Segment element")
    segment_size = _read_size(fileobj)
    segment_start = fileobj.tell()
    segment_end = size if segment_size is None else min(size, segment_start + segment_size)

    state = _State()
    seek_targets: dict[int, int] = {}
    position = segment_start
    while position < segment_end:
        fileobj.seek(position)
        try:
            element_id, _ = _read_element_id(fileobj)
            length = _read_size(fileobj)
        except MatroskaError:
            break
        data_start = fileobj.tell()
        if element_id == _CLUSTER or length is None:
            break
        if element_id == _SEEK_HEAD:
            seek_targets.update(_seek_entries(_read_body(fileobj, length), segment_start))
        elif element_id in (_INFO, _TRACKS, _TAGS):
            _parse_top(state, element_id, _read_body(fileobj, length))
        position = data_start + length

    for element_id in (_INFO, _TRACKS, _TAGS):
        target = seek_targets.get(element_id)
        if element_id in state.seen or target is None or not 0 < target < segment_end:
            continue
        fileobj.seek(target)
        found, _ = _read_element_id(fileobj)
        length = _read_size(fileobj)
        if found == element_id and length is not None:
            _parse_top(state, element_id, _read_body(fileobj, length))

    if state.track is None:
        raise MatroskaError("no audio track")
    return _info(state, doc_type)


def _info(state: _State, doc_type: str) -> MatroskaInfo:
    assert state.track is not None
    codec_id = state.track.get(_CODEC_ID, b"").rstrip(b"\0").decode("ascii", "replace")
    bits = _uint(state.audio[_BIT_DEPTH]) if _BIT_DEPTH in state.audio else None
    codec = _codec_name(codec_id, bits)
    sample_rate = 8000  # the Matroska default when the element is absent
    if _SAMPLING_FREQUENCY in state.audio:
        frequency = _float(state.audio[_SAMPLING_FREQUENCY])
        if not math.isfinite(frequency):
            raise MatroskaError(f"damaged header element (SamplingFrequency {frequency})")
        sample_rate = int(frequency)
    channels = _uint(state.audio[_CHANNELS]) if _CHANNELS in state.audio else 1
    duration = 0.0
    if state.duration_ticks is not None:
        try:
            duration = state.duration_ticks * state.timestamp_scale / 1e9
        except OverflowError:  # a TimestampScale too large to convert to a float
            duration = math.inf
    elif "duration" in state.tags:
        duration = _parse_clock(state.tags["duration"][0])
    if not math.isfinite(duration):  # NaN or infinite Duration, or a DURATION tag of "nan"
        raise MatroskaError(f"damaged header element (duration {duration})")
    tags = dict(state.tags)
    # Muxers store each track's length as a tag; it is stream information, not metadata.
    tags.pop("duration", None)
    if state.title and "title" not in tags:
        tags["title"] = [state.title]
    lossy = codec in ("opus", "vorbis", "aac", "mp3", "mp2", "ac3", "eac3")
    return MatroskaInfo(
        doc_type=doc_type,
        codec=codec,
        duration=duration,
        sample_rate=sample_rate,
        channels=channels,
        bits_per_sample=None if lossy else bits,
        tags=tags,
    )


def _codec_name(codec_id: str, bits: int | None) -> str:
    if codec_id in _CODECS:
        return _CODECS[codec_id]
    if codec_id.startswith("A_AAC"):
        return "aac"
    if codec_id.startswith("A_PCM/"):
        kind = {"A_PCM/INT/LIT": "s{}le", "A_PCM/INT/BIG": "s{}be", "A_PCM/FLOAT/IEEE": "f{}le"}
        pattern = kind.get(codec_id, "s{}le")
        return "pcm_" + pattern.format(bits or 16)
    return codec_id.removeprefix("A_").lower() or "unknown"


def _parse_top(state: _State, element_id: int, body: bytes | None) -> None:
    state.seen.add(element_id)
    if body is None:
        return
    if element_id == _INFO:
        info = _children(body)
        if _TIMESTAMP_SCALE in info:
            state.timestamp_scale = _uint(info[_TIMESTAMP_SCALE][0]) or 1_000_000
        if _DURATION in info:
            state.duration_ticks = _float(info[_DURATION][0])
        if _TITLE in info:
            state.title = info[_TITLE][0].decode("utf-8", "replace").rstrip("\0")
    elif element_id == _TRACKS:
        for entry in _children(body).get(_TRACK_ENTRY, []):
            track = {k: v[0] for k, v in _children(entry).items()}
            if _uint(track.get(_TRACK_TYPE, b"")) == _AUDIO_TRACK:
                state.track = track
                if _AUDIO in track:
                    state.audio = {k: v[0] for k, v in _children(track[_AUDIO]).items()}
                break
    else:
        for tag in _children(body).get(_TAG, []):
            for simple in _children(tag).get(_SIMPLE_TAG, []):
                _add_simple_tag(state.tags, _children(simple))


def _add_simple_tag(tags: dict[str, list[str]], simple: dict[int, list[bytes]]) -> None:
    if _TAG_NAME not in simple or _TAG_STRING not in simple:
        return
    name = simple[_TAG_NAME][0].decode("utf-8", "replace").rstrip("\0").lower()
    value = simple[_TAG_STRING][0].decode("utf-8", "replace").rstrip("\0")
    values = tags.setdefault(name, [])
    if value not in values:
        values.append(value)


def _seek_entries(body: bytes | None, segment_start: int) -> dict[int, int]:
    targets: dict[int, int] = {}
    if body is None:
        return targets
    for seek in _children(body).get(_SEEK, []):
        entry = _children(seek)
        if _SEEK_ID in entry and _SEEK_POSITION in entry:
            target_id = int.from_bytes(entry[_SEEK_ID][0], "big")
            targets.setdefault(target_id, segment_start + _uint(entry[_SEEK_POSITION][0]))
    return targets


def _children(body: bytes) -> dict[int, list[bytes]]:
    """The child elements of a master element's body, by ID, in order."""
    out: dict[int, list[bytes]] = {}
    pos = 0
    while pos < len(body):
        element_id, pos = _vint(body, pos, keep_marker=True)
        length, pos = _vint(body, pos, keep_marker=False)
        if element_id is None or length is None or pos + length > len(body):
            raise MatroskaError("damaged header element")
        out.setdefault(element_id, []).append(body[pos : pos + length])
        pos += length
    return out


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int | None, int]:
    """Decode one EBML variable-length integer; None for an unknown size (all ones)."""
    if pos >= len(data):
        raise MatroskaError("damaged header element")
    first = data[pos]
    width = 8 - first.bit_length() + 1
    if first == 0 or pos + width > len(data):
        raise MatroskaError("damaged header element")
    value = int.from_bytes(data[pos : pos + width], "big")
    if keep_marker:
        return value, pos + width
    value &= (1 << (7 * width)) - 1
    if value == (1 << (7 * width)) - 1:
        return None, pos + width
    return value, pos + width


def _read_element_id(fileobj: BinaryIO) -> tuple[int, int]:
    first = _read_exact(fileobj, 1)
    width = 8 - first[0].bit_length() + 1
    if first[0] == 0 or width > 4:
        raise MatroskaError("damaged element ID")
    data = first + _read_exact(fileobj, width - 1)
    return int.from_bytes(data, "big"), width


def _read_size(fileobj: BinaryIO) -> int | None:
    first = _read_exact(fileobj, 1)
    width = 8 - first[0].bit_length() + 1
    if first[0] == 0:
        raise MatroskaError("damaged element size")
    data = first + _read_exact(fileobj, width - 1)
    value, _ = _vint(data, 0, keep_marker=False)
    return value


def _read_body(fileobj: BinaryIO, length: int) -> bytes | None:
    if length > _MAX_ELEMENT:
        return None
    return _read_exact(fileobj, length)


def _read_exact(fileobj: BinaryIO, length: int) -> bytes:
    data = fileobj.read(length)
    if len(data) != length:
        raise MatroskaError("truncated header")
    return data


def _uint(data: bytes) -> int:
    return int.from_bytes(data, "big") if data else 0


def _float(data: bytes) -> float:
    if len(data) == 4:
        return float(struct.unpack(">f", data)[0])
    if len(data) == 8:
        return float(struct.unpack(">d", data)[0])
    return 0.0


def _parse_clock(text: str) -> float:
    """Parse a tag duration such as "00:03:12.345000000"; 0.0 if it is not one."""
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return 0.0
