"""The fragmented MP4 indexer, checked against files ffmpeg writes and against ffmpeg's own reading.

ffmpeg makes each file with the flags the ladder uses (``-frag_duration`` and
``-movflags +empty_moov+default_base_moof``). There is no ffprobe here, so ffmpeg itself is
the second opinion: it demuxes init + one fragment and lists every packet (``framecrc``),
and it decodes init + one fragment, as an HLS client would.
"""

from __future__ import annotations

import io
import json
import math
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.ffmpeg import FFMPEG_VERSION
from transcoder.ffmpeg import ffmpeg_exe
from transcoder.fmp4 import (
    Fragment,
    Mp4Error,
    SegmentIndex,
    parse_audio_specific_config,
    parse_fmp4,
    parse_fmp4_path,
)
from transcoder.versions import demuxer_keeps_fragment_durations

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

FFMPEG_TIMEOUT = 60.0
LADDER_FLAGS = "+empty_moov+default_base_moof"
# Samples per packet. FLAC's is the encoder's choice (ffmpeg 5.1: 4608 at 44.1 and 48 kHz;
# 9.0: its input's 1024): read from the file (_frame).
FRAME = {"aac": 1024, "flac": 1024, "opus": 960}
CODEC_STRING = {"aac": "mp4a.40.2", "flac": "fLaC", "opus": "Opus"}
# Priming the encoders add, and how much of it the file signals with empty_moov.
ENCODER_DELAY = {"aac": 1024, "flac": 0, "opus": 312}
SIGNALLED_PRIMING = {"aac": 0, "flac": 0, "opus": 312}
_ENCODER_ARGS = {
    "aac": ["-c:a", "aac", "-b:a", "128k"],
    # ffmpeg before 6 calls FLAC in MP4 experimental (the transcoder passes the same).
    "flac": ["-c:a", "flac", "-strict", "-2"],
    "opus": ["-c:a", "libopus", "-b:a", "96k"],
}


@dataclass(frozen=True)
class Spec:
    """One fragmented MP4 for ffmpeg to write from a generated source."""

    codec: str
    rate: int
    channels: int
    seconds: float
    fragment_seconds: float = 6.0
    movflags: str = LADDER_FLAGS
    source: str = "sine"
    extra: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        flags = self.movflags.replace("+", "_")
        return (
            f"{self.codec}-{self.rate}-{self.channels}ch-{self.seconds}s-"
            f"{self.fragment_seconds}f{flags}-{self.source}{''.join(self.extra)}.mp4"
        )

    @property
    def source_samples(self) -> int:
        return round(self.rate * self.seconds)

    def full_fragment(self, frame: int) -> int:
        """The duration of a complete fragment: ffmpeg cuts once a fragment reaches the target."""
        return math.ceil(self.fragment_seconds * self.rate / frame) * frame


SPECS = {
    "aac-44k-stereo": Spec("aac", 44100, 2, 13.7),
    "aac-48k-mono": Spec("aac", 48000, 1, 13.7, source="noise"),
    "aac-44k-mono-1s": Spec("aac", 44100, 1, 1.0),
    "aac-48k-stereo-61s": Spec("aac", 48000, 2, 61.0, source="noise"),
    "aac-44k-stereo-2s": Spec("aac", 44100, 2, 13.7, fragment_seconds=2.0),
    "flac-48k-stereo": Spec("flac", 48000, 2, 13.7),
    "flac-44k-mono-2s": Spec("flac", 44100, 1, 13.7, fragment_seconds=2.0),
    "opus-48k-stereo": Spec("opus", 48000, 2, 13.7, source="noise"),
    "opus-48k-mono-2s": Spec("opus", 48000, 1, 13.7, fragment_seconds=2.0),
}
# Files whose fragments ffmpeg demuxes and decodes one by one (a few: each run costs ~50 ms).
DECODED = ["aac-44k-stereo-2s", "aac-48k-mono", "flac-44k-mono-2s", "opus-48k-stereo"]


def _ffmpeg(*args: str, stdin: bytes | None = None) -> bytes:
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    result = subprocess.run(
        command, input=stdin, capture_output=True, timeout=FFMPEG_TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout


def _encode(directory: Path, spec: Spec) -> Path:
    path = directory / spec.name
    if spec.source == "noise":
        source = f"anoisesrc=r={spec.rate}:d={spec.seconds}:a=0.2:c=pink"
    else:
        source = f"sine=f=440:r={spec.rate}:d={spec.seconds}"
    _ffmpeg(
        "-f", "lavfi", "-i", source,
        "-ac", str(spec.channels),
        *_ENCODER_ARGS[spec.codec],
        "-frag_duration", str(round(spec.fragment_seconds * 1_000_000)),
        "-movflags", spec.movflags,
        *spec.extra,
        "-y", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def make_fmp4(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Spec], Path]:
    """Write each spec's file once per run."""
    directory = tmp_path_factory.mktemp("fmp4")
    made: dict[Spec, Path] = {}

    def make(spec: Spec) -> Path:
        if spec not in made:
            made[spec] = _encode(directory, spec)
        return made[spec]

    return make


@pytest.fixture(params=list(SPECS))
def sample(request: pytest.FixtureRequest, make_fmp4: Callable[[Spec], Path]) -> tuple[Spec, Path]:
    spec = SPECS[request.param]
    return spec, make_fmp4(spec)


def _boxes(data: bytes, start: int = 0) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the top-level boxes, for checking the index against the file."""
    boxes = []
    position = start
    while position < len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, position + 8)
        elif size == 0:
            size = len(data) - position
        boxes.append((kind, position, size))
        position += size
    return boxes


# --- layout --------------------------------------------------------------------------------


def test_init_segment_is_ftyp_and_moov(sample: tuple[Spec, Path]) -> None:
    _, path = sample
    index = parse_fmp4_path(path)
    data = path.read_bytes()
    kinds = [kind for kind, offset, _ in _boxes(data) if offset < index.init_size]
    assert kinds == [b"ftyp", b"moov"]
    assert data[index.init_size + 4 : index.init_size + 8] == b"moof"


def test_fragments_are_contiguous_and_cover_the_file_up_to_the_trailer(
    sample: tuple[Spec, Path],
) -> None:
    _, path = sample
    index = parse_fmp4_path(path)
    data = path.read_bytes()
    assert index.fragments[0].offset == index.init_size
    for before, after in zip(index.fragments, index.fragments[1:], strict=False):
        assert after.offset == before.end
    # ffmpeg ends the file with an mfra box (a random access index) that no segment includes.
    trailer = _boxes(data, index.fragments[-1].end)
    assert [kind for kind, _, _ in trailer] == [b"mfra"]
    assert index.init_size + sum(f.size for f in index.fragments) + trailer[0][2] == len(data)


def test_each_fragment_is_one_moof_and_its_mdat(sample: tuple[Spec, Path]) -> None:
    _, path = sample
    index = parse_fmp4_path(path)
    data = path.read_bytes()
    for fragment in index.fragments:
        boxes = _boxes(data[fragment.offset : fragment.end])
        assert [kind for kind, _, _ in boxes] == [b"moof", b"mdat"]


def test_without_a_trailer_init_and_fragments_are_the_whole_file(
    make_fmp4: Callable[[Spec], Path],
) -> None:
    path = make_fmp4(Spec("aac", 44100, 2, 13.7, 2.0, LADDER_FLAGS + "+skip_trailer"))
    index = parse_fmp4_path(path)
    assert index.init_size + sum(f.size for f in index.fragments) == path.stat().st_size


def test_boxes_in_front_of_a_moof_belong_to_its_fragment(
    make_fmp4: Callable[[Spec], Path],
) -> None:
    # ffmpeg writes a producer reference time box (prft) before each moof with -write_prft.
    spec = Spec("aac", 44100, 1, 5.0, 2.0, extra=("-write_prft", "wallclock"))
    path = make_fmp4(spec)
    index = parse_fmp4_path(path)
    data = path.read_bytes()
    for fragment in index.fragments:
        kinds = [kind for kind, _, _ in _boxes(data[fragment.offset : fragment.end])]
        assert kinds == [b"prft", b"moof", b"mdat"]
    assert index.fragments[0].offset == index.init_size


# --- durations -----------------------------------------------------------------------------


def test_fragments_start_where_the_previous_one_ended(sample: tuple[Spec, Path]) -> None:
    _, path = sample
    index = parse_fmp4_path(path)
    assert index.fragments[0].start == 0
    for before, after in zip(index.fragments, index.fragments[1:], strict=False):
        assert after.start == before.start + before.duration


def test_media_duration_is_the_source_plus_the_encoder_delay(sample: tuple[Spec, Path]) -> None:
    # ffmpeg 9 cuts the last packet's duration to the samples it holds, so the media timeline
    # is exactly priming + source: no padding to account for.
    spec, path = sample
    index = parse_fmp4_path(path)
    assert index.total_duration == spec.source_samples + ENCODER_DELAY[spec.codec]
    assert index.duration_seconds == pytest.approx(
        spec.seconds + ENCODER_DELAY[spec.codec] / spec.rate
    )


def _frame(spec: Spec, index: SegmentIndex) -> int:
    if spec.codec != "flac":
        return FRAME[spec.codec]
    first = index.fragments[0]
    return first.duration // first.samples


def test_every_fragment_but_the_last_lasts_the_fragment_duration(
    sample: tuple[Spec, Path],
) -> None:
    spec, path = sample
    index = parse_fmp4_path(path)
    frame = _frame(spec, index)
    full = spec.full_fragment(frame)
    *complete, last = index.fragments
    expected_count = math.ceil((spec.source_samples + ENCODER_DELAY[spec.codec]) / full)
    assert len(index.fragments) == expected_count
    for fragment in complete:
        assert fragment.duration == full
        assert fragment.samples * frame == full
    assert 0 < last.duration <= full
    assert (last.samples - 1) * frame < last.duration <= last.samples * frame
    for i, fragment in enumerate(index.fragments):
        assert index.fragment_seconds(i) == fragment.duration / spec.rate


def _framecrc(data: bytes) -> tuple[str, list[tuple[int, int, int]]]:
    """ffmpeg's list of packets in ``data``: the time base and (dts, duration, size) of each."""
    out = _ffmpeg("-copyts", "-i", "pipe:0", "-c", "copy", "-f", "framecrc", "-", stdin=data)
    time_base = ""
    packets = []
    for line in out.decode().splitlines():
        if line.startswith("#tb 0:"):
            time_base = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            _, dts, _, duration, size, _ = (part.strip() for part in line.split(","))
            packets.append((int(dts), int(duration), int(size)))
    return time_base, packets


@pytest.mark.parametrize("name", DECODED)
def test_ffmpeg_demuxes_each_fragment_alone_into_the_indexed_samples(
    name: str, make_fmp4: Callable[[Spec], Path]
) -> None:
    path = make_fmp4(SPECS[name])
    index = parse_fmp4_path(path)
    data = path.read_bytes()
    init = data[: index.init_size]
    for fragment in index.fragments:
        time_base, packets = _framecrc(init + data[fragment.offset : fragment.end])
        assert time_base == f"1/{index.timescale}"
        assert len(packets) == fragment.samples
        assert packets[0][0] == fragment.start
        if demuxer_keeps_fragment_durations(FFMPEG_VERSION):
            assert sum(duration for _, duration, _ in packets) == fragment.duration
        assert sum(size for _, _, size in packets) < fragment.size


def _decoded_samples(data: bytes) -> int:
    pcm = _ffmpeg("-i", "pipe:0", "-ac", "1", "-f", "s16le", "-c:a", "pcm_s16le", "-", stdin=data)
    return len(pcm) // 2


@pytest.mark.parametrize("name", DECODED)
def test_ffmpeg_decodes_each_fragment_alone(name: str, make_fmp4: Callable[[Spec], Path]) -> None:
    # What a decoder outputs from init + one fragment, as an HLS client fetches them:
    # AAC: every frame whole (the last frame's short duration is not applied without an edit
    # list); Opus: every frame less the pre-skip, which ffmpeg applies at each start; FLAC:
    # exactly the samples.
    spec = SPECS[name]
    path = make_fmp4(spec)
    index = parse_fmp4_path(path)
    data = path.read_bytes()
    for fragment in index.fragments:
        decoded = _decoded_samples(data[: index.init_size] + data[fragment.offset : fragment.end])
        if spec.codec == "flac":
            assert decoded == fragment.duration
        else:
            frames = fragment.samples * _frame(spec, index)
            assert decoded == frames - SIGNALLED_PRIMING[spec.codec]


# --- track details -------------------------------------------------------------------------


def test_track_details_come_from_the_sample_entry(sample: tuple[Spec, Path]) -> None:
    spec, path = sample
    index = parse_fmp4_path(path)
    assert index.codec == CODEC_STRING[spec.codec]
    assert index.timescale == spec.rate
    assert index.sample_rate == spec.rate
    assert index.channels == spec.channels


def test_priming_is_what_the_file_signals(sample: tuple[Spec, Path]) -> None:
    spec, path = sample
    assert parse_fmp4_path(path).priming == SIGNALLED_PRIMING[spec.codec]


@pytest.mark.parametrize(("codec", "priming"), [("aac", 1024), ("opus", 312), ("flac", 0)])
def test_priming_is_read_from_the_edit_list(
    codec: str, priming: int, make_fmp4: Callable[[Spec], Path]
) -> None:
    # delay_moov (instead of empty_moov) lets ffmpeg write an edit list for the encoder delay.
    path = make_fmp4(Spec(codec, 48000, 2, 3.0, 2.0, "+delay_moov+default_base_moof"))
    assert parse_fmp4_path(path).priming == priming


@pytest.mark.parametrize(("codec", "priming"), [("aac", 1024), ("opus", 312), ("flac", 1024)])
def test_default_priming_applies_only_when_the_file_signals_none(
    codec: str, priming: int, make_fmp4: Callable[[Spec], Path]
) -> None:
    path = make_fmp4(Spec(codec, 48000, 2, 3.0, 2.0))
    index = parse_fmp4_path(path, default_priming=1024)
    assert index.priming == priming
    assert index.content_seconds == pytest.approx(3.0 + (ENCODER_DELAY[codec] - priming) / 48000)


@pytest.mark.parametrize(
    ("config", "codec", "rate", "channels"),
    [
        (bytes([0x12, 0x10]), "mp4a.40.2", 44100, 2),  # AAC-LC
        (bytes([0x11, 0x88]), "mp4a.40.2", 48000, 1),
        (bytes([0x2B, 0x11, 0x88, 0x00]), "mp4a.40.5", 48000, 2),  # explicit SBR, 24 kHz core
        (bytes([0xEB, 0x09, 0x88, 0x00]), "mp4a.40.29", 48000, 1),  # explicit PS
        # AAC-LC 24 kHz stereo with the backward-compatible SBR extension (0x2B7), 48 kHz out
        (bytes([0x13, 0x10, 0x56, 0xE5, 0x98]), "mp4a.40.5", 48000, 2),
        # ... and with the PS extension (0x548) after it
        (bytes([0x13, 0x08, 0x56, 0xE5, 0x9D, 0x48, 0x80]), "mp4a.40.29", 48000, 1),
        (bytes([0xF8, 0x48, 0x20]), "mp4a.40.34", 44100, 1),  # escape: MP3 (type 34)
    ],
)
def test_audio_specific_config_names_the_aac_profile(
    config: bytes, codec: str, rate: int, channels: int
) -> None:
    parsed = parse_audio_specific_config(config)
    assert (parsed.codec, parsed.sample_rate, parsed.channels) == (codec, rate, channels)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (b"\x12", "truncated AudioSpecificConfig"),
        (bytes([0x16, 0x90]), "reserved AAC sampling frequency index 13"),
    ],
)
def test_a_damaged_audio_specific_config_is_an_error(config: bytes, message: str) -> None:
    with pytest.raises(Mp4Error, match=message):
        parse_audio_specific_config(config)


@pytest.mark.parametrize(("encoder", "codec"), [("libmp3lame", "mp4a.6B"), ("alac", "alac")])
def test_other_codecs_are_named_by_object_type_or_sample_entry(
    encoder: str, codec: str, tmp_path: Path
) -> None:
    path = tmp_path / "other.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=r=44100:d=1.5", "-c:a", encoder,
            "-frag_duration", "1000000", "-movflags", LADDER_FLAGS, "-y", str(path))  # fmt: skip
    index = parse_fmp4_path(path)
    assert (index.codec, index.sample_rate, index.channels) == (codec, 44100, 1)


@pytest.mark.parametrize(("channels", "entry_says"), [(1, 2), (2, 1), (1, 1)])
def test_mp3_channels_come_from_its_frame_header_not_the_sample_entry(
    channels: int, entry_says: int, tmp_path: Path
) -> None:
    # An MP3 sample entry has no decoder config, and its channelcount may be the template
    # value 2 whatever the audio: ffmpeg 5.1 writes 2 for mono. Written here into any file.
    path = tmp_path / "mp3.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=r=44100:d=1.5", "-ac", str(channels),
            "-c:a", "libmp3lame", "-frag_duration", "1000000", "-movflags", LADDER_FLAGS,
            "-y", str(path))  # fmt: skip
    data = bytearray(path.read_bytes())
    entry = data.index(b"mp4a")  # the sample entry's type; channelcount 20 bytes on
    struct.pack_into(">H", data, entry + 20, entry_says)
    path.write_bytes(data)
    assert parse_fmp4_path(path).channels == channels


# --- bit rates and JSON ------------------------------------------------------------------


def test_bitrates_count_fragment_bytes_over_media_time(make_fmp4: Callable[[Spec], Path]) -> None:
    path = make_fmp4(SPECS["aac-48k-stereo-61s"])
    index = parse_fmp4_path(path)
    media = sum(f.size for f in index.fragments)
    assert index.average_bitrate() == math.ceil(media * 8 / index.duration_seconds)
    peak = max(f.size * 8 / index.fragment_seconds(i) for i, f in enumerate(index.fragments))
    assert index.peak_bitrate() == math.ceil(peak)
    assert 128_000 * 0.9 < index.average_bitrate() <= index.peak_bitrate() < 128_000 * 1.3


def test_json_round_trips(sample: tuple[Spec, Path]) -> None:
    _, path = sample
    index = parse_fmp4_path(path)
    text = index.to_json()
    assert SegmentIndex.from_json(text) == index
    assert SegmentIndex.from_json(text.encode()) == index
    document = json.loads(text)
    assert document["version"] == 1
    assert " " not in text
    assert len(document["fragments"]) == len(index.fragments)


def _valid_document() -> dict[str, object]:
    index = SegmentIndex(44100, 700, (Fragment(700, 100, 0, 1024, 1),), "mp4a.40.2", 44100, 2, 0)
    document: dict[str, object] = json.loads(index.to_json())
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "unsupported version 2"),
        ({"version": None}, "unsupported version"),
        ({"fragments": {}}, "'fragments' is not a list"),
        ({"fragments": [[1, 2, 3, 4]]}, "bad fragment"),
        ({"fragments": [[1, 2, 3, 4, -5]]}, "bad fragment"),
        ({"fragments": [[1, 2, 3, 4, True]]}, "bad fragment"),
        ({"codec": ""}, "bad 'codec'"),
        ({"timescale": "44100"}, "bad 'timescale'"),
        ({"timescale": 0}, "timescale is 0"),
        ({"priming": 1.5}, "bad 'priming'"),
    ],
)
def test_from_json_rejects_what_to_json_does_not_write(
    change: dict[str, object], message: str
) -> None:
    document = _valid_document() | change
    with pytest.raises(ValueError, match=message):
        SegmentIndex.from_json(json.dumps(document))


@pytest.mark.parametrize("text", ["[]", "not json", '"x"'])
def test_from_json_rejects_other_documents(text: str) -> None:
    with pytest.raises(ValueError, match=r"segment index|Expecting"):
        SegmentIndex.from_json(text)


def test_from_json_rejects_a_document_nested_too_deeply() -> None:
    # Found by test_fmp4_properties.py: json.loads raised RecursionError, not ValueError.
    with pytest.raises(ValueError, match="nested too deeply"):
        SegmentIndex.from_json("[" * 100_000)


# --- box sizes -----------------------------------------------------------------------------


def test_a_64_bit_box_size_is_read(make_fmp4: Callable[[Spec], Path]) -> None:
    # Rewrite the moov header in the 64-bit form (size 1, then a 64-bit size): everything after
    # it moves 8 bytes, and fragment data offsets are relative to each moof, so still valid.
    path = make_fmp4(SPECS["aac-44k-stereo-2s"])
    data = path.read_bytes()
    index = parse_fmp4_path(path)
    moov_at = struct.unpack_from(">I", data)[0]
    (moov_size,) = struct.unpack_from(">I", data, moov_at)
    large = struct.pack(">I4sQ", 1, b"moov", moov_size + 8)
    rewritten = data[:moov_at] + large + data[moov_at + 8 :]
    shifted = parse_fmp4(io.BytesIO(rewritten))
    assert shifted.init_size == index.init_size + 8
    assert [f.offset - 8 for f in shifted.fragments] == [f.offset for f in index.fragments]
    assert [f.duration for f in shifted.fragments] == [f.duration for f in index.fragments]


def test_a_zero_box_size_runs_to_the_end_of_the_file(make_fmp4: Callable[[Spec], Path]) -> None:
    path = make_fmp4(Spec("aac", 44100, 2, 13.7, 2.0, LADDER_FLAGS + "+skip_trailer"))
    data = bytearray(path.read_bytes())
    index = parse_fmp4_path(path)
    last_mdat = _boxes(bytes(data))[-1]
    assert last_mdat[0] == b"mdat"
    struct.pack_into(">I", data, last_mdat[1], 0)
    assert parse_fmp4(io.BytesIO(bytes(data))) == index


# --- errors --------------------------------------------------------------------------------


def _cut_inside(data: bytes, kind: bytes, which: int = -1) -> bytes:
    """``data`` cut in the middle of the last (or ``which``) top-level box of ``kind``."""
    _, offset, size = [box for box in _boxes(data) if box[0] == kind][which]
    return data[: offset + size // 2]


def _parse_bytes(data: bytes) -> SegmentIndex:
    return parse_fmp4(io.BytesIO(data))


@pytest.fixture(scope="module")
def ladder_file(make_fmp4: Callable[[Spec], Path]) -> bytes:
    return make_fmp4(SPECS["aac-44k-stereo-2s"]).read_bytes()


def test_an_empty_file_is_an_error() -> None:
    with pytest.raises(Mp4Error, match="empty file"):
        _parse_bytes(b"")


@pytest.mark.parametrize(
    "data",
    [b"hello, this is a text file\n", b"ID3\x04\x00" + bytes(100), b"\x00\x00\x00", b"\x00" * 64],
)
def test_a_file_that_is_not_mp4_is_an_error(data: bytes) -> None:
    with pytest.raises(Mp4Error, match=r"not an MP4 file|truncated"):
        _parse_bytes(data)


@pytest.mark.parametrize(
    ("movflags", "message"),
    [
        ("", r"not a fragmented MP4 \(mdat box at offset \d+ is not preceded by a moof\)"),
        ("+faststart", r"not a fragmented MP4 \(moov has no mvex box\)"),
    ],
)
def test_an_mp4_that_is_not_fragmented_is_an_error(
    movflags: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "plain.mp4"
    args = ["-f", "lavfi", "-i", "sine=r=44100:d=1", "-c:a", "aac", "-y", str(path)]
    if movflags:
        args[-2:-2] = ["-movflags", movflags]
    _ffmpeg(*args)
    with pytest.raises(Mp4Error, match=message):
        parse_fmp4_path(path)


def test_a_file_without_an_audio_track_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    source = "testsrc=d=1:r=10:s=32x32"
    _ffmpeg("-f", "lavfi", "-i", source, "-c:v", "mpeg4", "-frag_duration", "500000",
            "-movflags", LADDER_FLAGS, "-y", str(path))  # fmt: skip
    with pytest.raises(Mp4Error, match="no audio track"):
        parse_fmp4_path(path)


@pytest.mark.parametrize(
    ("kind", "which"), [(b"moof", 0), (b"moof", -1), (b"mdat", 0), (b"mdat", -1)]
)
def test_a_file_cut_inside_a_fragment_is_an_error(
    kind: bytes, which: int, ladder_file: bytes
) -> None:
    # A cut final mdat too: serving it would send a segment shorter than its moof promises.
    with pytest.raises(Mp4Error, match=rf"truncated file: box '{kind.decode()}' at offset \d+"):
        _parse_bytes(_cut_inside(ladder_file, kind, which))


def test_a_file_cut_inside_the_moov_is_an_error(ladder_file: bytes) -> None:
    with pytest.raises(Mp4Error, match="truncated file: box 'moov'"):
        _parse_bytes(_cut_inside(ladder_file, b"moov"))


def test_a_file_cut_after_a_moof_is_an_error(ladder_file: bytes) -> None:
    _, offset, size = [box for box in _boxes(ladder_file) if box[0] == b"moof"][-1]
    with pytest.raises(Mp4Error, match=r"truncated file: the moof at offset \d+ has no mdat"):
        _parse_bytes(ladder_file[: offset + size])


@pytest.mark.parametrize("stray", [1, 7])
def test_a_file_cut_inside_a_box_header_is_an_error(stray: int, ladder_file: bytes) -> None:
    _, offset, _ = [box for box in _boxes(ladder_file) if box[0] == b"moof"][-1]
    with pytest.raises(Mp4Error, match="truncated file"):
        _parse_bytes(ladder_file[: offset + stray])


def test_a_zero_sized_final_mdat_cut_short_is_an_error(ladder_file: bytes) -> None:
    # A size-0 mdat runs to the end of the file, so only the samples show that it is cut.
    boxes = _boxes(ladder_file)
    _, offset, size = [box for box in boxes if box[0] == b"mdat"][-1]
    data = bytearray(ladder_file[: offset + size // 2])
    struct.pack_into(">I", data, offset, 0)
    with pytest.raises(Mp4Error, match=r"sample data \[\d+, \d+\) lies outside the mdat box"):
        _parse_bytes(bytes(data))


def test_a_file_with_no_fragments_is_an_error(ladder_file: bytes) -> None:
    index = _parse_bytes(ladder_file)
    with pytest.raises(Mp4Error, match=r"no moof/mdat fragments"):
        _parse_bytes(ladder_file[: index.init_size])


def test_a_box_that_overruns_its_parent_is_an_error(ladder_file: bytes) -> None:
    data = bytearray(ladder_file)
    trak_at = data.index(b"trak") - 4
    struct.pack_into(">I", data, trak_at, 100_000)
    with pytest.raises(Mp4Error, match="box 'trak' overruns moov"):
        _parse_bytes(bytes(data))


def test_a_damaged_box_size_is_an_error(ladder_file: bytes) -> None:
    data = bytearray(ladder_file)
    moof_at = _parse_bytes(ladder_file).fragments[1].offset
    struct.pack_into(">I", data, moof_at, 4)  # smaller than a box header
    with pytest.raises(Mp4Error, match=r"damaged box 'moof' at offset \d+: size 4"):
        _parse_bytes(bytes(data))


# --- speed ---------------------------------------------------------------------------------


def test_indexing_reads_headers_only(make_fmp4: Callable[[Spec], Path]) -> None:
    path = make_fmp4(SPECS["aac-48k-stereo-61s"])

    class CountingFile(io.FileIO):
        read_bytes = 0

        def read(self, size: int | None = -1, /) -> bytes:
            data = super().read(size)
            CountingFile.read_bytes += len(data)
            return data

    started = time.perf_counter()
    with CountingFile(path) as fileobj:
        index = parse_fmp4(fileobj)
    elapsed = time.perf_counter() - started
    print(f"\nindexed {index.duration_seconds:.1f} s, {len(index.fragments)} fragments, in "
          f"{elapsed * 1000:.2f} ms, reading {CountingFile.read_bytes} of "
          f"{path.stat().st_size} bytes")  # fmt: skip
    assert CountingFile.read_bytes < 20_000


# --- hand-built files: what the spec allows and ffmpeg does not write ----------------------


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


def _descriptor(tag: int, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return bytes([tag, len(payload)]) + payload


def _trak(track_id: int, handler: bytes, *, version: int = 0, edits: bytes = b"") -> bytes:
    if version == 1:
        tkhd = _full(b"tkhd", 1, 3, struct.pack(">QQI", 0, 0, track_id), bytes(72))
        mdhd = _full(b"mdhd", 1, 0, struct.pack(">QQIQ", 0, 0, 48000, 0), bytes(4))
    else:
        tkhd = _full(b"tkhd", 0, 3, struct.pack(">III", 0, 0, track_id), bytes(68))
        mdhd = _full(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, 48000, 0), bytes(4))
    hdlr = _full(b"hdlr", 0, 0, bytes(4), handler, bytes(12), b"\0")
    config = _descriptor(5, bytes([0x11, 0x90]))  # AAC-LC, 48 kHz, stereo
    decoder = _descriptor(4, struct.pack(">BB3sII", 0x40, 0x15, bytes(3), 0, 0), config)
    esds = _full(b"esds", 0, 0, _descriptor(3, struct.pack(">HB", 1, 0), decoder))
    fields = bytes(6) + struct.pack(">HHHIHHHHI", 1, 0, 0, 0, 2, 16, 0, 0, 48000 << 16)
    stsd = _full(b"stsd", 0, 0, struct.pack(">I", 1), _box(b"mp4a", fields, esds))
    minf = _box(b"minf", _box(b"stbl", stsd))
    edts = _box(b"edts", edits) if edits else b""
    return _box(b"trak", tkhd, edts, _box(b"mdia", mdhd, hdlr, minf))


def _init(*, trex_duration: int = 0, video_first: bool = False, version: int = 0,
          edits: bytes = b"") -> bytes:  # fmt: skip
    traks = _trak(2, b"soun", version=version, edits=edits)
    trexes = _full(b"trex", 0, 0, struct.pack(">IIIII", 2, 1, trex_duration, 0, 0))
    if video_first:
        traks = _trak(1, b"vide") + traks
        trexes = _full(b"trex", 0, 0, struct.pack(">IIIII", 1, 1, 512, 0, 0)) + trexes
    moov = _box(b"moov", traks, _box(b"mvex", trexes))
    return _box(b"ftyp", b"iso6", bytes(4), b"iso6cmfc") + moov


def _traf(track_id: int, sizes: list[int], data_offset: int, *, start: int, tfhd_duration: int,
          per_sample: bool, base: int | None, tfdt_version: int) -> bytes:  # fmt: skip
    tfhd_flags = 0x20000 if base is None else 0x1
    tfhd_fields = struct.pack(">I", track_id)
    if base is not None:
        tfhd_fields += struct.pack(">Q", base)
    if tfhd_duration:
        tfhd_flags |= 0x8
        tfhd_fields += struct.pack(">I", tfhd_duration)
    trun_flags = 0x1 | 0x200 | (0x100 if per_sample else 0)
    samples = b"".join(
        struct.pack(">II", 1000 + i, size) if per_sample else struct.pack(">I", size)
        for i, size in enumerate(sizes)
    )
    tfdt = struct.pack(">Q" if tfdt_version else ">I", start)
    return _box(
        b"traf",
        _full(b"tfhd", 0, tfhd_flags, tfhd_fields),
        _full(b"tfdt", tfdt_version, 0, tfdt),
        _full(b"trun", 0, trun_flags, struct.pack(">Ii", len(sizes), data_offset), samples),
    )


def _fragment(at: int, sizes: list[int], *, start: int = 0, tfhd_duration: int = 0,
              per_sample: bool = False, base: bool = False, tfdt_version: int = 1,
              video: list[int] | None = None) -> bytes:  # fmt: skip
    """A moof + mdat that begins at file offset ``at``; ``video`` adds a traf of track 1 first."""

    def moof(offset: int) -> bytes:
        trafs = b""
        audio_offset = offset
        if video is not None:
            trafs += _traf(1, video, offset, start=0, tfhd_duration=512, per_sample=False,
                           base=at if base else None, tfdt_version=1)  # fmt: skip
            audio_offset += sum(video)
        trafs += _traf(2, sizes, audio_offset, start=start, tfhd_duration=tfhd_duration,
                       per_sample=per_sample, base=at if base else None,
                       tfdt_version=tfdt_version)  # fmt: skip
        return _box(b"moof", _full(b"mfhd", 0, 0, struct.pack(">I", 1)), trafs)

    size = len(moof(0))
    payload = bytes(sum(sizes) + sum(video or []))
    return moof(size + 8) + _box(b"mdat", payload)


def test_sample_durations_default_to_the_tfhd_value() -> None:
    init = _init(trex_duration=960)
    index = _parse_bytes(init + _fragment(len(init), [10, 20, 30], tfhd_duration=1024))
    assert index.fragments == (Fragment(len(init), index.fragments[0].size, 0, 3 * 1024, 3),)


def test_sample_durations_default_to_the_trex_value() -> None:
    init = _init(trex_duration=960)
    first = _fragment(len(init), [10, 20])
    second = _fragment(len(init) + len(first), [5], start=1920)
    index = _parse_bytes(init + first + second)
    assert [(f.start, f.duration, f.samples) for f in index.fragments] == [
        (0, 1920, 2),
        (1920, 960, 1),
    ]


def test_per_sample_durations_win_over_defaults() -> None:
    init = _init(trex_duration=960)
    index = _parse_bytes(init + _fragment(len(init), [10, 20], tfhd_duration=7, per_sample=True))
    assert index.fragments[0].duration == 1000 + 1001


def test_an_explicit_base_data_offset_is_followed() -> None:
    init = _init(trex_duration=1024)
    index = _parse_bytes(init + _fragment(len(init), [10, 20], base=True))
    assert index.fragments[0].samples == 2


def test_only_the_audio_track_is_indexed() -> None:
    init = _init(trex_duration=1024, video_first=True)
    data = init + _fragment(len(init), [10, 20, 30], video=[100, 100])
    index = _parse_bytes(data)
    assert (index.fragments[0].samples, index.fragments[0].duration) == (3, 3072)
    assert index.fragments[0].end == len(data)


def test_version_1_headers_carry_64_bit_times() -> None:
    init = _init(trex_duration=1024, version=1)
    start = 2**40
    index = _parse_bytes(init + _fragment(len(init), [10], start=start, tfdt_version=1))
    assert (index.timescale, index.fragments[0].start) == (48000, start)
    index = _parse_bytes(init + _fragment(len(init), [10], start=7, tfdt_version=0))
    assert index.fragments[0].start == 7


@pytest.mark.parametrize(
    ("edits", "priming"),
    [
        (_full(b"elst", 0, 0, struct.pack(">IIiI", 1, 0, 2112, 0x10000)), 2112),
        # an empty edit (media_time -1) delays the track; the next edit says where media starts
        (
            _full(b"elst", 1, 0, struct.pack(">IQqIQqI", 2, 100, -1, 0x10000, 0, 1024, 0x10000)),
            1024,
        ),
        (_full(b"elst", 0, 0, struct.pack(">IIiI", 1, 0, -1, 0x10000)), 5),
        (_full(b"free", 0, 0), 5),
    ],
)
def test_priming_comes_from_the_first_non_empty_edit(edits: bytes, priming: int) -> None:
    init = _init(trex_duration=1024, edits=edits)
    data = init + _fragment(len(init), [10])
    assert parse_fmp4(io.BytesIO(data), default_priming=5).priming == priming


def test_a_moof_without_audio_samples_is_an_error() -> None:
    init = _init(trex_duration=1024, video_first=True)
    fragment = bytearray(_fragment(len(init), [10], video=[100]))
    audio_tfhd = fragment.rfind(b"tfhd")
    struct.pack_into(">I", fragment, audio_tfhd + 8, 3)  # the audio traf now names track 3
    with pytest.raises(Mp4Error, match="has no samples of the audio track"):
        _parse_bytes(init + bytes(fragment))


_FREE = _box(b"free")
_MDAT = 8 + 10  # the hand-built fragment's mdat: header and 10 bytes


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda init, frag: init[:24] + frag, "moof box at offset 24 before the moov box",
            id="moof-before-moov",
        ),
        pytest.param(
            lambda init, frag: init + init[24:] + frag, "a second moov box", id="second-moov",
        ),
        pytest.param(
            lambda init, frag: init + frag + init[24:], "a second moov box", id="moov-at-end",
        ),
        pytest.param(
            lambda init, frag: init + frag[:-_MDAT] + _FREE + frag[-_MDAT:],
            "box 'free' at offset \\d+ between a moof and its mdat",
            id="box-between-moof-and-mdat",
        ),
        pytest.param(lambda init, frag: init[:24] + _FREE, "no moov box", id="no-moov"),
        pytest.param(
            lambda init, frag: init + frag[:-_MDAT] + frag, "follows a moof without mdat",
            id="moof-moof",
        ),
    ],
)  # fmt: skip
def test_boxes_out_of_order_are_errors(
    build: Callable[[bytes, bytes], bytes], message: str
) -> None:
    init = _init(trex_duration=1024)
    # The fragment's offsets are relative to its moof, so it stays valid wherever it lands.
    fragment = _fragment(len(init), [10])
    with pytest.raises(Mp4Error, match=message):
        _parse_bytes(build(init, fragment))
