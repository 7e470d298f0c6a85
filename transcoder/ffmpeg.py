"""Locating the ffmpeg binary."""

from __future__ import annotations

import shutil

__all__ = ["ffmpeg_exe"]


def ffmpeg_exe() -> str:
    """The ffmpeg to run: the one on PATH, else the static build imageio-ffmpeg ships.

    A system ffmpeg wins so that operators can choose their build (codecs, hardware);
    imageio-ffmpeg makes a fresh ``pip install`` work without one (DESIGN.md).
    """
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg  # imported lazily: it probes the platform on import

    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe
