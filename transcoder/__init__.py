"""The pure media pipeline: probing and (later) transcoding. Never imports streamer."""

from __future__ import annotations

from transcoder.ffmpeg import ffmpeg_exe
from transcoder.probe import Cover, ProbeError, ProbeResult, SourceReadError, probe

__all__ = ["Cover", "ProbeError", "ProbeResult", "SourceReadError", "ffmpeg_exe", "probe"]
