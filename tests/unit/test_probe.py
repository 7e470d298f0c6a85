"""transcoder.probe: what real files of each format are, and why broken ones are not audio."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.fixtures.audio import (
    COVER_FORMATS,
    SAMPLE_SECONDS,
    SAMPLE_TAGS,
    UNICODE_NAME,
    awkward_files,
    make_audio,
    make_png,
)
from transcoder.probe import ProbeError, ProbeResult, probe

# fmt -> (codec, sample rate, bits per sample)
EXPECTED = {
    "mp3": ("mp3", 44100, None),
    "m4a": ("aac", 44100, None),
    "flac": ("flac", 44100, 16),
    "ogg": ("vorbis", 44100, None),
    "opus": ("opus", 48000, None),
    "wav": ("pcm_s16le", 44100, 16),
    "webm": ("opus", 48000, None),
}


def probe_path(path: Path) -> ProbeResult:
    with path.open("rb") as fh:
        return probe(fh, path.name, path.stat().st_size)


def probe_bytes(data: bytes, name: str) -> ProbeResult:
    return probe(io.BytesIO(data), name, len(data))


@pytest.mark.parametrize("fmt", EXPECTED)
def test_stream_parameters_of_each_format(audio_samples: dict[str, Path], fmt: str) -> None:
    codec, sample_rate, bits = EXPECTED[fmt]
    result = probe_path(audio_samples[fmt])
    assert result.codec == codec
    assert result.duration == pytest.approx(SAMPLE_SECONDS, abs=0.1)
    assert result.channels == 2
    assert result.sample_rate == sample_rate
    assert result.bits_per_sample == bits
    assert result.bitrate > 0


@pytest.mark.parametrize("fmt", EXPECTED)
def test_tags_are_normalised_to_lower_case_keys(audio_samples: dict[str, Path], fmt: str) -> None:
    result = probe_path(audio_samples[fmt])
    for key, value in SAMPLE_TAGS.items():
        assert result.tags[key] == [value], key
    assert all(key == key.lower() for key in result.tags)


@pytest.mark.parametrize("fmt", EXPECTED)
def test_convenience_fields_parse_tags(audio_samples: dict[str, Path], fmt: str) -> None:
    result = probe_path(audio_samples[fmt])
    assert result.title == "Ça va — 日本語 🎵"
    assert result.artist == SAMPLE_TAGS["artist"]
    assert result.album == SAMPLE_TAGS["album"]
    assert result.album_artist == SAMPLE_TAGS["albumartist"]
    assert result.genre == SAMPLE_TAGS["genre"]
    assert (result.year, result.track_number, result.disc_number) == (2021, 3, 1)


@pytest.mark.parametrize("fmt", sorted(COVER_FORMATS))
def test_embedded_cover_is_returned_with_its_size(
    audio_samples: dict[str, Path], sample_cover: bytes, fmt: str
) -> None:
    cover = probe_path(audio_samples[fmt]).cover
    assert cover is not None
    assert (cover.mime, cover.data, cover.width, cover.height) == ("image/png", sample_cover, 4, 3)


@pytest.mark.parametrize("fmt", ["wav", "webm"])
def test_files_without_cover_have_none(audio_samples: dict[str, Path], fmt: str) -> None:
    assert probe_path(audio_samples[fmt]).cover is None


def test_untagged_file_has_empty_convenience_fields(tmp_path: Path) -> None:
    result = probe_path(make_audio(tmp_path / "plain.mp3", "mp3", 1.0))
    assert (result.title, result.artist, result.year, result.track_number) == (
        None,
        None,
        None,
        None,
    )
    assert result.cover is None


@pytest.mark.parametrize(("channels", "sample_rate"), [(1, 22050), (2, 48000), (1, 8000)])
def test_channels_and_sample_rate_follow_the_stream(
    tmp_path: Path, channels: int, sample_rate: int
) -> None:
    path = make_audio(tmp_path / "a.flac", "flac", 1.0, channels=channels, sample_rate=sample_rate)
    result = probe_path(path)
    assert (result.channels, result.sample_rate) == (channels, sample_rate)
    assert result.duration == pytest.approx(1.0, abs=0.01)


def test_the_name_decides_between_formats_not_the_file_object(
    audio_samples: dict[str, Path],
) -> None:
    # A nameless file object (as from a network stream) is still recognised by the name given.
    data = audio_samples["mp3"].read_bytes()
    assert probe_bytes(data, "song.mp3").codec == "mp3"


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return awkward_files(tmp_path_factory.mktemp("awkward"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.mp3", "empty file"),
        ("text.mp3", "not an audio file (looks like text)"),
        ("corrupt.mp3", "corrupt MP3: no valid MPEG frames"),
        ("truncated.flac", "truncated FLAC: "),
        ("cut-metadata.flac", "truncated FLAC: headers cut short"),
    ],
)
def test_awkward_file_is_rejected_with_its_reason(
    awkward: dict[str, Path], name: str, reason: str
) -> None:
    with pytest.raises(ProbeError) as info:
        probe_path(awkward[name])
    assert info.value.reason.startswith(reason)
    assert str(info.value) == info.value.reason


def test_truncated_flac_says_how_many_samples_survive(awkward: dict[str, Path]) -> None:
    with pytest.raises(ProbeError, match=r"^truncated FLAC: (\d+) of 132300 samples present$") as e:
        probe_path(awkward["truncated.flac"])
    present = int(e.value.reason.split()[2])
    # Cut at 60 % of the bytes: most, but not all, of the 3 s survive.
    assert 0.3 * 132300 < present < 0.9 * 132300


def test_flac_cut_at_a_frame_boundary_is_truncated(tmp_path: Path) -> None:
    data = make_audio(tmp_path / "a.flac", "flac", 3.0).read_bytes()
    # The last frame header: sync code 0xFFF8 followed by a plausible header.
    last = data.rfind(b"\xff\xf8")
    with pytest.raises(ProbeError, match=r"^truncated FLAC: \d+ of 132300 samples present$"):
        probe_bytes(data[:last], "a.flac")


def test_complete_flac_with_an_id3v1_tag_is_not_truncated(tmp_path: Path) -> None:
    data = make_audio(tmp_path / "a.flac", "flac", 1.0).read_bytes()
    tagged = data + b"TAG" + b"\0" * 125
    assert probe_bytes(tagged, "a.flac").duration == pytest.approx(1.0)


def test_unicode_file_name_is_probed(awkward: dict[str, Path]) -> None:
    assert probe_path(awkward[UNICODE_NAME]).codec == "mp3"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (make_png(), "not an audio file (looks like a PNG image)"),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(200),
            "not an audio file (looks like a PDF document)",
        ),
        (
            b"<!DOCTYPE html><html><body>Access denied</body></html>",
            "not an audio file (looks like HTML)",
        ),
        ("Notizen über das Album\n".encode() * 30, "not an audio file (looks like text)"),
        (b"\xff\xfeN\x00o\x00t\x00e\x00s\x00", "not an audio file (looks like text)"),
    ],
    ids=["png", "pdf", "html", "utf8-text", "utf16-text"],
)
def test_non_audio_named_mp3_says_what_it_looks_like(data: bytes, reason: str) -> None:
    with pytest.raises(ProbeError) as info:
        probe_bytes(data, "song.mp3")
    assert info.value.reason == reason


def test_unknown_binary_format_is_unsupported() -> None:
    with pytest.raises(ProbeError, match=r"^unsupported format$"):
        probe_bytes(bytes(range(256)) * 16, "song.xyz")


def test_size_zero_is_empty_whatever_the_file_holds(audio_samples: dict[str, Path]) -> None:
    with audio_samples["mp3"].open("rb") as fh, pytest.raises(ProbeError, match=r"^empty file$"):
        probe(fh, "song.mp3", 0)


def test_matroska_without_audio_track_is_not_audio() -> None:
    # The EBML header and a Segment holding only an empty Tracks element.
    ebml = b"\x1a\x45\xdf\xa3\x87\x42\x82\x84webm"
    tracks = b"\x16\x54\xae\x6b\x80"
    segment = b"\x18\x53\x80\x67" + bytes([0x80 | len(tracks)]) + tracks
    with pytest.raises(ProbeError, match="without an audio track"):
        probe_bytes(ebml + segment, "video.webm")


def test_damaged_matroska_is_corrupt(audio_samples: dict[str, Path]) -> None:
    data = audio_samples["webm"].read_bytes()
    with pytest.raises(ProbeError, match=r"^corrupt Matroska"):
        probe_bytes(data[:40], "a.webm")
