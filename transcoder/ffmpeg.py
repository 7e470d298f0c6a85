"""Locating the ffmpeg binary and reading its version."""

from __future__ import annotations

import shutil
import subprocess

from transcoder.versions import FfmpegVersion, UnsupportedFfmpeg, parse_version

__all__ = ["ffmpeg_exe", "ffmpeg_version"]

_VERSION_TIMEOUT = 30.0  # seconds; `ffmpeg -version` answers at once unless the machine is wedged


def ffmpeg_exe(configured: str | None = None) -> str:
    """The ffmpeg to run: ``configured`` (a path, or a name looked up on PATH) when given,
    else the one on PATH, else the static build imageio-ffmpeg ships.

    A system ffmpeg wins so that operators can choose their build (codecs, hardware);
    imageio-ffmpeg makes a fresh ``pip install`` work without one (DESIGN.md). Raises
    :class:`UnsupportedFfmpeg` when ``configured`` names nothing executable.
    """
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise UnsupportedFfmpeg(f"ffmpeg {configured!r} is not an executable file")
        return found
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg  # imported lazily: it probes the platform on import

    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


def ffmpeg_version(executable: str) -> FfmpegVersion:
    """Run ``executable -version`` and parse it (blocking: call it from a worker thread).

    Raises :class:`UnsupportedFfmpeg` when it cannot run or does not answer as ffmpeg does.
    """
    try:
        done = subprocess.run(
            [executable, "-hide_banner", "-version"],
            capture_output=True,
            timeout=_VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UnsupportedFfmpeg(f"cannot run {executable!r} -version: {exc}") from exc
    if done.returncode != 0:
        raise UnsupportedFfmpeg(f"{executable!r} -version exited with {done.returncode}")
    return parse_version(done.stdout.decode("utf-8", "replace"))
