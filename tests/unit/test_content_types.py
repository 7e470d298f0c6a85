"""Media types by file extension."""

from __future__ import annotations

import pytest

from streamer.http.content_types import AUDIO_EXTENSIONS, DEFAULT_CONTENT_TYPE, content_type_for


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.mp3", "audio/mpeg"),
        ("a.m4a", "audio/mp4"),
        ("a.m4b", "audio/mp4"),
        ("a.mp4", "audio/mp4"),
        ("seg_1.m4s", "audio/mp4"),
        ("a.aac", "audio/aac"),
        ("a.flac", "audio/flac"),
        ("a.ogg", "audio/ogg"),
        ("a.oga", "audio/ogg"),
        ("a.opus", "audio/ogg; codecs=opus"),
        ("a.wav", "audio/wav"),
        ("a.webm", "audio/webm"),
        ("a.aif", "audio/aiff"),
        ("a.aiff", "audio/aiff"),
        ("a.wma", "audio/x-ms-wma"),
        ("a.mka", "audio/x-matroska"),
        ("index.m3u8", "application/vnd.apple.mpegurl"),
    ],
)
def test_content_type_by_extension(name: str, expected: str) -> None:
    assert content_type_for(name) == expected


@pytest.mark.parametrize("name", ["A.MP3", "a.Mp3", "song.FLAC", "x.Opus"])
def test_extension_is_case_insensitive(name: str) -> None:
    assert content_type_for(name) == content_type_for(name.lower())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("music/album/01 track.flac", "audio/flac"),
        ("s3-prefix/key.with.dots.mp3", "audio/mpeg"),
        ("album.flac/cover", DEFAULT_CONTENT_TYPE),
        ("archive.tar.mp3", "audio/mpeg"),
    ],
)
def test_only_the_last_extension_of_the_base_name_counts(name: str, expected: str) -> None:
    assert content_type_for(name) == expected


@pytest.mark.parametrize(
    "name", ["README", "a.txt", "a.exe", "a.", ".mp3", "dir/.flac", "", "a.mp3.bak"]
)
def test_unknown_or_missing_extension_is_octet_stream(name: str) -> None:
    assert content_type_for(name) == "application/octet-stream"


def test_audio_extensions_are_lowercase_without_dots() -> None:
    assert all(ext == ext.lower() and "." not in ext for ext in AUDIO_EXTENSIONS)


@pytest.mark.parametrize(
    "ext",
    [
        "mp3",
        "m4a",
        "m4b",
        "mp4",
        "aac",
        "flac",
        "ogg",
        "oga",
        "opus",
        "wav",
        "aif",
        "aiff",
        "wma",
        "ape",
        "wv",
        "mpc",
        "webm",
        "mka",
    ],
)
def test_common_audio_files_are_scanned(ext: str) -> None:
    assert ext in AUDIO_EXTENSIONS


@pytest.mark.parametrize("ext", ["m4s", "m3u8", "txt", "jpg"])
def test_segments_playlists_and_other_files_are_not_scanned(ext: str) -> None:
    assert ext not in AUDIO_EXTENSIONS


def test_every_audio_extension_has_an_audio_content_type() -> None:
    assert all(content_type_for(f"x.{ext}").startswith("audio/") for ext in AUDIO_EXTENSIONS)
