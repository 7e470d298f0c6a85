"""The rules on ffmpeg versions (transcoder.versions): parsing, the supported range, bugs."""

from __future__ import annotations

import re

import pytest

from transcoder.versions import (
    FfmpegVersion,
    UnsupportedFfmpeg,
    check_supported,
    demuxer_keeps_fragment_durations,
    hls_stops_after_first_byte_range,
    parse_version,
)

DEBIAN_12 = "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers\n"
IMAGEIO = "ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright (c) 2000-2026 the FFmpeg\n"


@pytest.mark.parametrize(
    ("output", "text", "release"),
    [
        (DEBIAN_12, "5.1.9-0+deb12u1", (5, 1, 9)),
        (IMAGEIO, "n9.0.2-17-g2a571b6068-20260930", (9, 0, 2)),
        ("ffmpeg version 6.0 Copyright (c) 2000-2023\nbuilt with gcc", "6.0", (6, 0, 0)),
        (
            "ffmpeg version 7.1.1-static https://johnvansickle.com/ffmpeg/",
            "7.1.1-static",
            (7, 1, 1),
        ),
        (
            "\nffmpeg version N-118000-gabcdef0123-static https://x",
            "N-118000-gabcdef0123-static",
            None,
        ),
    ],
)
def test_the_version_is_read_from_the_first_line(
    output: str, text: str, release: tuple[int, int, int] | None
) -> None:
    assert parse_version(output) == FfmpegVersion(text, release)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("", "not ffmpeg: '-version' printed 'nothing'"),
        ("ffprobe version 5.1.9 Copyright", "not ffmpeg"),
        ("avconv version 12", "not ffmpeg"),
        ("ffmpeg version git-2024-01-01", "cannot read the ffmpeg version 'git-2024-01-01'"),
    ],
)
def test_output_that_names_no_version_is_refused_with_a_reason(output: str, message: str) -> None:
    with pytest.raises(UnsupportedFfmpeg, match=message):
        parse_version(output)


@pytest.mark.parametrize(
    "output", [DEBIAN_12, IMAGEIO, "ffmpeg version 5.1 x", "ffmpeg version N-1-g0"]
)
def test_5_1_and_newer_and_snapshots_are_supported(output: str) -> None:
    check_supported(parse_version(output))


@pytest.mark.parametrize("text", ["5.0.3", "4.4.2-0ubuntu0.22.04.1", "4.3.6-0+deb11u1"])
def test_releases_before_5_1_are_refused_with_what_is_needed(text: str) -> None:
    with pytest.raises(
        UnsupportedFfmpeg, match=rf"ffmpeg {re.escape(text)} is too old: .* 5\.1 or newer"
    ):
        check_supported(parse_version(f"ffmpeg version {text} Copyright"))


@pytest.mark.parametrize(
    ("output", "stops", "keeps_durations"),
    [(DEBIAN_12, False, False), (IMAGEIO, True, True), ("ffmpeg version N-1-g0", True, True)],
)
def test_client_bugs_are_keyed_to_the_versions_that_have_them(
    output: str, stops: bool, keeps_durations: bool
) -> None:
    version = parse_version(output)
    assert hls_stops_after_first_byte_range(version) is stops
    assert demuxer_keeps_fragment_durations(version) is keeps_durations
