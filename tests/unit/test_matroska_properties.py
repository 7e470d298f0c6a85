"""The Matroska/WebM header reader under generated input: only MatroskaError escapes.

Files from a small EBML generator read back to the fields they were built with; a real WebM
that ffmpeg writes, mutated by hypothesis, reads or is a MatroskaError, and through the
probe it is a ProbeResult with a finite duration or a ProbeError.
"""

from __future__ import annotations

import dataclasses
import io
import math
import struct
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.audio import make_audio
from transcoder.matroska import MatroskaError, MatroskaInfo, read_matroska
from transcoder.probe import ProbeError, probe

EBML, DOC_TYPE, SEGMENT, SEEK_HEAD, SEEK, SEEK_ID, SEEK_POSITION = (
    0x1A45DFA3, 0x4282, 0x18538067, 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
)  # fmt: skip
INFO, TIMESTAMP_SCALE, DURATION, TITLE = 0x1549A966, 0x2AD7B1, 0x4489, 0x7BA9
TRACKS, TRACK_ENTRY, TRACK_TYPE, CODEC_ID = 0x1654AE6B, 0xAE, 0x83, 0x86
AUDIO, SAMPLING_FREQUENCY, CHANNELS, BIT_DEPTH = 0xE1, 0xB5, 0x9F, 0x6264
TAGS, TAG, SIMPLE_TAG, TAG_NAME, TAG_STRING = 0x1254C367, 0x7373, 0x67C8, 0x45A3, 0x4487
CLUSTER = 0x1F43B675
CODECS = {"A_OPUS": "opus", "A_FLAC": "flac", "A_VORBIS": "vorbis", "A_AAC/MPEG4/LC": "aac",
          "A_PCM/INT/LIT": "pcm_s{}le", "A_AC3": "ac3"}  # fmt: skip
LOSSY = {"opus", "vorbis", "aac", "ac3"}


def _vint(value: int, width: int) -> bytes:
    """An EBML size of ``width`` bytes; all ones after the marker means "unknown"."""
    return ((1 << (7 * width)) | value).to_bytes(width, "big")


def _element(element_id: int, *parts: bytes, width: int = 0) -> bytes:
    payload = b"".join(parts)
    width = max(width, math.ceil((len(payload) + 2).bit_length() / 7), 1)
    return (
        element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
        + _vint(len(payload), width)
        + payload
    )


def _uint(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


@dataclass(frozen=True)
class Header:
    doc_type: str
    timestamp_scale: int | None
    duration: float | None
    float_width: int  # 4 or 8 bytes for Duration and SamplingFrequency
    title: str | None
    codec_id: str
    video_first: bool
    sampling_frequency: float | None
    channels: int | None
    bit_depth: int | None
    tags: tuple[tuple[str, str], ...]
    tags_after_cluster: bool  # found through the SeekHead, as muxers write them
    unknown_size: bool  # a live stream's Segment
    size_width: int  # bytes per element size: readers must take any width

    def encode(self) -> bytes:
        def f(value: float) -> bytes:
            return struct.pack(">f" if self.float_width == 4 else ">d", value)

        w = self.size_width
        info = []
        if self.timestamp_scale is not None:
            info.append(_element(TIMESTAMP_SCALE, _uint(self.timestamp_scale), width=w))
        if self.duration is not None:
            info.append(_element(DURATION, f(self.duration), width=w))
        if self.title is not None:
            info.append(_element(TITLE, self.title.encode(), width=w))
        audio = []
        if self.sampling_frequency is not None:
            audio.append(_element(SAMPLING_FREQUENCY, f(self.sampling_frequency), width=w))
        if self.channels is not None:
            audio.append(_element(CHANNELS, _uint(self.channels), width=w))
        if self.bit_depth is not None:
            audio.append(_element(BIT_DEPTH, _uint(self.bit_depth), width=w))
        entries = [
            _element(
                TRACK_ENTRY,
                _element(TRACK_TYPE, b"\x02", width=w),
                _element(CODEC_ID, self.codec_id.encode(), width=w),
                _element(AUDIO, *audio, width=w),
                width=w,
            )
        ]
        if self.video_first:
            video = _element(
                TRACK_ENTRY, _element(TRACK_TYPE, b"\x01"), _element(CODEC_ID, b"V_VP9")
            )
            entries.insert(0, video)
        simple = [
            _element(
                SIMPLE_TAG, _element(TAG_NAME, name.encode()), _element(TAG_STRING, value.encode())
            )
            for name, value in self.tags
        ]
        tags = _element(TAGS, _element(TAG, *simple)) if self.tags else b""
        cluster = _element(CLUSTER, bytes(40))
        body = [_element(INFO, *info, width=w), _element(TRACKS, *entries, width=w)]
        if tags and self.tags_after_cluster:
            # The SeekHead goes first and points past the cluster; its size is fixed, so the
            # position can be computed before it is written.
            head_length = len(self._seek_head(0))
            position = head_length + sum(map(len, body)) + len(cluster)
            body = [self._seek_head(position), *body, cluster, tags]
        else:
            body = [*body, tags, cluster]
        payload = b"".join(body)
        size = _vint((1 << 56) - 1 if self.unknown_size else len(payload), 8)
        ebml = _element(EBML, _element(DOC_TYPE, self.doc_type.encode()))
        return ebml + SEGMENT.to_bytes(4, "big") + size + payload

    @staticmethod
    def _seek_head(position: int) -> bytes:
        seek = _element(
            SEEK,
            _element(SEEK_ID, TAGS.to_bytes(4, "big")),
            _element(SEEK_POSITION, _uint8(position)),
        )
        return _element(SEEK_HEAD, seek)

    def expected(self) -> MatroskaInfo:
        def f(value: float) -> float:  # what the stored width keeps of it
            return (
                struct.unpack(">f", struct.pack(">f", value))[0] if self.float_width == 4 else value
            )

        bits = self.bit_depth
        codec = CODECS[self.codec_id].format(bits or 16)
        duration = 0.0
        if self.duration is not None:
            duration = f(self.duration) * (self.timestamp_scale or 1_000_000) / 1e9
        tags: dict[str, list[str]] = {}
        for name, value in self.tags:
            values = tags.setdefault(name.lower(), [])
            if value not in values:
                values.append(value)
        if self.title and "title" not in tags:  # an empty Title says nothing
            tags["title"] = [self.title]
        freq = self.sampling_frequency
        return MatroskaInfo(
            doc_type=self.doc_type,
            codec=codec,
            duration=duration,
            sample_rate=8000 if freq is None else int(f(freq)),
            channels=1 if self.channels is None else self.channels,
            bits_per_sample=None if codec in LOSSY else bits,
            tags=tags,
        )


def _uint8(value: int) -> bytes:
    return value.to_bytes(8, "big")


text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=20)
tag_names = st.from_regex(r"[A-Za-z_]{1,12}", fullmatch=True).filter(
    lambda name: name.lower() != "duration"
)
headers = st.builds(
    Header,
    doc_type=st.sampled_from(["matroska", "webm"]),
    timestamp_scale=st.one_of(st.none(), st.integers(1, 10**9)),
    duration=st.one_of(st.none(), st.floats(0, 1e9)),
    float_width=st.sampled_from([4, 8]),
    title=st.one_of(st.none(), text),
    codec_id=st.sampled_from(sorted(CODECS)),
    video_first=st.booleans(),
    sampling_frequency=st.one_of(st.none(), st.floats(1, 768000)),
    channels=st.one_of(st.none(), st.integers(1, 64)),
    bit_depth=st.one_of(st.none(), st.integers(1, 64)),
    tags=st.lists(st.tuples(tag_names, text), max_size=5).map(tuple),
    tags_after_cluster=st.booleans(),
    unknown_size=st.booleans(),
    size_width=st.integers(1, 8),
)


def _read(data: bytes) -> MatroskaInfo:
    return read_matroska(io.BytesIO(data), len(data))


@given(headers)
def test_a_built_file_reads_back_to_the_fields_it_was_built_with(header: Header) -> None:
    assert _read(header.encode()) == header.expected()


@st.composite
def hostile(draw: st.DrawFn) -> Header:
    """Besides sane values, what a damaged or hostile file can state: any float, and a
    TimestampScale of up to 200 bytes."""
    return dataclasses.replace(
        draw(headers),
        timestamp_scale=draw(st.one_of(st.none(), st.integers(0, 2**1600))),
        float_width=8,  # any double; not every one fits in 4 bytes
        duration=draw(st.one_of(st.none(), st.floats())),
        sampling_frequency=draw(st.one_of(st.none(), st.floats())),
    )


@given(hostile())
def test_any_stated_values_read_with_a_finite_duration_or_are_a_matroska_error(
    header: Header,
) -> None:
    try:
        info = _read(header.encode())
    except MatroskaError:
        return
    assert math.isfinite(info.duration)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_read_or_are_a_matroska_error(data: bytes) -> None:
    try:
        _read(b"\x1a\x45\xdf\xa3" + data)
    except MatroskaError:
        return


# --- a real WebM, mutated -------------------------------------------------------------------


class Seed:
    """A real file to mutate; its bytes stay out of the repr hypothesis prints (a
    dataclass would not do: hypothesis prints every field of one)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.data = data

    def __repr__(self) -> str:
        return f"Seed({self.name!r}, {len(self.data)} bytes)"


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    path = tmp_path_factory.mktemp("webm") / "seed.webm"
    make_audio(path, "webm", 2.0, tags={"title": "Seed", "artist": "Fuzz"})
    return Seed(path.name, path.read_bytes())


VINTS = [b"\xff", b"\x01" + b"\xff" * 7, b"\x01" + b"\x7f" * 7, b"\x00", b"\x80", b"\x08\xff\xff"]
# Duration (8 or 4 bytes) and SamplingFrequency (8 bytes): ID and size, then the float.
FLOATS = [(b"\x44\x89\x88", ">d"), (b"\x44\x89\x84", ">f"), (b"\xb5\x88", ">d")]
STATED = [math.nan, math.inf, -math.inf, -1.0, 3e38]
operations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "vint", "float"]),
        st.integers(0, 2**20),  # where, modulo the length
        st.integers(0, 255),  # what
    ),
    min_size=1,
    max_size=4,
)


def _mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    """``data`` changed as damaged or hostile files differ: bytes flipped, cut short, sizes
    unknown, huge, invalid or zero at any position, floats stating NaN, infinity or less."""
    out = bytearray(data)
    for how, where, what in ops:
        at = where % max(len(out), 1)
        if how == "flip" and out:
            out[at] ^= what or 1
        elif how == "cut":
            del out[at:]
        elif how == "vint":
            vint = VINTS[what % len(VINTS)]
            out[at : at + len(vint)] = vint
        elif how == "float":
            element, fmt = FLOATS[what % len(FLOATS)]
            found = out.find(element)
            if found >= 0:
                packed = struct.pack(fmt, STATED[where % len(STATED)])
                out[found + len(element) : found + len(element) + len(packed)] = packed
    return bytes(out)


@given(operations)
def test_a_mutated_webm_reads_or_is_a_matroska_error(
    webm: Seed, ops: list[tuple[str, int, int]]
) -> None:
    damaged = _mutate(webm.data, ops)
    try:
        info = _read(damaged)
    except MatroskaError:
        return
    assert math.isfinite(info.duration)


@given(operations)
def test_a_mutated_webm_probes_to_a_result_or_a_probe_error(
    webm: Seed, ops: list[tuple[str, int, int]]
) -> None:
    damaged = _mutate(webm.data, ops)
    try:
        result = probe(io.BytesIO(damaged), "a.webm", len(damaged))
    except ProbeError:
        return
    assert math.isfinite(result.duration)
    assert result.duration > 0


# --- what the properties found, as examples ---------------------------------------------------

PLAIN = Header(
    "webm", None, 5000.0, 8, None, "A_OPUS", False, 48000.0, 2, None, (), False, False, 1
)


def test_the_plain_header_reads() -> None:
    assert _read(PLAIN.encode()).duration == 5.0


@pytest.mark.parametrize("duration", [math.nan, math.inf, -math.inf])
def test_a_duration_that_is_not_finite_is_a_matroska_error(duration: float) -> None:
    with pytest.raises(MatroskaError, match="duration"):
        _read(dataclasses.replace(PLAIN, duration=duration).encode())


def test_a_timestamp_scale_too_large_for_a_float_is_a_matroska_error() -> None:
    # Was an OverflowError: int too large to convert to float.
    with pytest.raises(MatroskaError, match="duration"):
        _read(dataclasses.replace(PLAIN, timestamp_scale=2**1100).encode())


@pytest.mark.parametrize("tag", ["00:00:nan", "00:00:inf", "0:0:1e400"])
def test_a_duration_tag_that_is_not_finite_is_a_matroska_error(tag: str) -> None:
    header = dataclasses.replace(PLAIN, duration=None, tags=(("DURATION", tag),))
    with pytest.raises(MatroskaError, match="duration"):
        _read(header.encode())


@pytest.mark.parametrize("frequency", [math.nan, math.inf, -math.inf])
def test_a_sampling_frequency_that_is_not_finite_is_a_matroska_error(frequency: float) -> None:
    # Was a ValueError or OverflowError from int().
    with pytest.raises(MatroskaError, match="SamplingFrequency"):
        _read(dataclasses.replace(PLAIN, sampling_frequency=frequency).encode())


def test_probing_a_webm_with_a_nan_duration_is_a_probe_error() -> None:
    # Was a ValueError from round() in the probe's bit rate.
    data = dataclasses.replace(PLAIN, duration=math.nan).encode()
    with pytest.raises(ProbeError, match="corrupt Matroska"):
        probe(io.BytesIO(data), "a.webm", len(data))
