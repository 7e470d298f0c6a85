"""Parsing ffmpeg's ebur128 summary into EBU R128 figures (transcoder/loudness.py).

The logs below were captured from imageio-ffmpeg's ffmpeg 9.0.2.
"""

from __future__ import annotations

import pytest

from transcoder.loudness import Loudness, LoudnessParseError, parse_ebur128_summary

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

TONE = """\
  Stream #3:0: Audio: pcm_s16le, 48000 Hz, stereo, s16, 1536 kb/s
[Parsed_ebur128_1 @ 0x7f38f0002cc0] Summary:

  Integrated loudness:
    I:         -21.8 LUFS
    Threshold: -31.8 LUFS

  Loudness range:
    LRA:         0.0 LU
    Threshold: -41.8 LUFS
    LRA low:   -21.8 LUFS
    LRA high:  -21.8 LUFS

  True peak:
    Peak:      -21.1 dBFS
[out#0/mp4 @ 0x559007072780] video:0KiB audio:157KiB subtitle:0KiB other streams:0KiB
"""

SILENCE = """\
[Parsed_ebur128_0 @ 0x7f26e8001c00] Summary:

  Integrated loudness:
    I:         -70.0 LUFS
    Threshold:   0.0 LUFS

  Loudness range:
    LRA:         0.0 LU
    Threshold:   0.0 LUFS
    LRA low:     0.0 LUFS
    LRA high:    0.0 LUFS

  True peak:
    Peak:       -inf dBFS
"""

# peak=true+sample adds a "Sample peak" section before the true peak.
SAMPLE_AND_TRUE_PEAK = """\
[Parsed_ebur128_0 @ 0x7f5474001c40] Summary:

  Integrated loudness:
    I:         -14.2 LUFS
    Threshold: -24.6 LUFS

  Loudness range:
    LRA:         7.3 LU
    Threshold: -34.6 LUFS
    LRA low:   -19.0 LUFS
    LRA high:  -11.7 LUFS

  Sample peak:
    Peak:       -1.0 dBFS

  True peak:
    Peak:        0.4 dBFS
"""


def test_integrated_range_and_true_peak_are_read() -> None:
    assert parse_ebur128_summary(TONE) == Loudness(-21.8, 0.0, -21.1)


def test_silence_has_no_integrated_loudness_and_no_peak() -> None:
    assert parse_ebur128_summary(SILENCE) == Loudness(None, 0.0, None)


def test_true_peak_is_not_confused_with_sample_peak() -> None:
    assert parse_ebur128_summary(SAMPLE_AND_TRUE_PEAK) == Loudness(-14.2, 7.3, 0.4)


def test_lines_logged_by_other_threads_in_between_are_ignored() -> None:
    lines = TONE.splitlines()
    for index in range(len(lines) - 1, 1, -3):
        lines.insert(index, "[aac @ 0x5590] Qavg: 417.826")
    assert parse_ebur128_summary("\n".join(lines)) == Loudness(-21.8, 0.0, -21.1)


def test_the_last_summary_wins() -> None:
    assert parse_ebur128_summary(SILENCE + TONE) == Loudness(-21.8, 0.0, -21.1)


@pytest.mark.parametrize(
    "text",
    ["", "Conversion failed!", TONE.split("  True peak:")[0]],
    ids=["empty", "no-summary", "truncated"],
)
def test_a_missing_or_incomplete_summary_is_an_error(text: str) -> None:
    with pytest.raises(LoudnessParseError):
        parse_ebur128_summary(text)
