"""The ffmpeg this process runs: found, checked against the supported releases, described.

Done once at start-up (the CLI before serving or running jobs, each app's lifespan for
/readyz and /metrics), so that an unsupported ffmpeg is refused with a clear message
rather than failing transcodes one by one. The rules themselves live in
:mod:`transcoder.versions`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transcoder.ffmpeg import ffmpeg_exe, ffmpeg_version
from transcoder.versions import UnsupportedFfmpeg, check_supported

__all__ = ["FfmpegInUse", "UnsupportedFfmpeg", "find_ffmpeg"]

logger = logging.getLogger("streamer.ffmpeg")


@dataclass(frozen=True)
class FfmpegInUse:
    """Where the ffmpeg in use is and which version it says it is."""

    path: str
    version: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "version": self.version}


def find_ffmpeg(configured: str | None) -> FfmpegInUse:
    """Locate ffmpeg (``configured``, else PATH, else imageio-ffmpeg), read its version and
    refuse an unsupported one with :class:`UnsupportedFfmpeg`. Blocking: runs
    ``ffmpeg -version``."""
    path = ffmpeg_exe(configured)
    version = ffmpeg_version(path)
    check_supported(version)
    return FfmpegInUse(path, version.text)


def log_ffmpeg(found: FfmpegInUse) -> None:
    logger.info("ffmpeg %s at %s", found.version, found.path, extra=found.as_json())
