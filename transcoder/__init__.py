"""The pure media pipeline: probe, ladder plan, one ffmpeg run per track. Never imports streamer."""

from __future__ import annotations

from transcoder.errors import (
    BadInput,
    FfmpegFailed,
    TranscodeCancelled,
    TranscodeError,
    TranscodeTimeout,
)
from transcoder.ffmpeg import ffmpeg_exe, ffmpeg_version
from transcoder.ladder import DEFAULT_LADDER, OutputPlan, Rendition, ladder_hash, plan_outputs
from transcoder.loudness import Loudness, LoudnessParseError, parse_ebur128_summary
from transcoder.normalise import normalisation_gain
from transcoder.probe import Cover, ProbeError, ProbeResult, SourceReadError, probe
from transcoder.run import (
    RenditionOutput,
    TranscodeResult,
    build_command,
    measure_loudness,
    transcode,
)
from transcoder.versions import FfmpegVersion, UnsupportedFfmpeg
from transcoder.waveform import Peak, peaks_from_pcm

__all__ = [
    "DEFAULT_LADDER",
    "BadInput",
    "Cover",
    "FfmpegFailed",
    "FfmpegVersion",
    "Loudness",
    "LoudnessParseError",
    "OutputPlan",
    "Peak",
    "ProbeError",
    "ProbeResult",
    "Rendition",
    "RenditionOutput",
    "SourceReadError",
    "TranscodeCancelled",
    "TranscodeError",
    "TranscodeResult",
    "TranscodeTimeout",
    "UnsupportedFfmpeg",
    "build_command",
    "ffmpeg_exe",
    "ffmpeg_version",
    "ladder_hash",
    "measure_loudness",
    "normalisation_gain",
    "parse_ebur128_summary",
    "peaks_from_pcm",
    "plan_outputs",
    "probe",
    "transcode",
]
