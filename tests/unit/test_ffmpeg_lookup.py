"""Which ffmpeg runs: the configured one, else PATH's, else imageio-ffmpeg's static build, so
a machine with no ffmpeg installed still transcodes (and with a supported version)."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import pytest

from streamer.ffmpeg_check import find_ffmpeg
from transcoder.ffmpeg import ffmpeg_exe
from transcoder.versions import UnsupportedFfmpeg


def test_with_no_ffmpeg_on_path_imageios_build_is_used_and_supported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no ffmpeg anywhere on PATH
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()
    found = find_ffmpeg(None)
    assert found.path == imageio_ffmpeg.get_ffmpeg_exe()
    assert found.version


def test_an_ffmpeg_on_path_wins_over_imageios(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ffmpeg_exe() == str(tmp_path / "ffmpeg")


def test_a_configured_path_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFfmpeg, match="not an executable file"):
        ffmpeg_exe(str(tmp_path / "nothing-here"))
