"""The rendition ladder and the plan of what each output will be (pure; no I/O).

A :class:`Rendition` is a setting (codec, bitrate); an :class:`OutputPlan` is that rendition
fitted to one source: channel count, sample rate, bit depth and the file to write. The
rules, chosen so that every output plays in browsers' MediaSource and in HLS clients:

* channels: mono stays mono; stereo stays stereo; anything wider is downmixed to stereo
  with ffmpeg's default matrix (centre and surrounds at -3 dB, LFE dropped).
* AAC: 44100 and 48000 Hz are kept. Rates above 48 kHz go to 48000. The 44.1 kHz family
  below it (11025, 22050) goes to 44100, an integer ratio; every other rate (8000, 16000,
  24000, 32000, ...) goes to 48000. AAC-LC at these rates is what every player decodes.
* Opus: always 48000 Hz, the only rate libopus encodes at full band.
* FLAC: lossless, so the source rate is kept up to 96 kHz; above that (176.4, 192, 352.8,
  384 kHz) it comes down to 88200 or 96000, the highest rates players commonly decode.
  16-bit sources (and
  lossy ones, whose bit depth is unknown) stay 16-bit, deeper sources become 24-bit:
  32-bit FLAC is experimental in ffmpeg and browsers reject it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DEFAULT_LADDER",
    "OutputPlan",
    "Rendition",
    "ladder_hash",
    "parse_ladder",
    "parse_rendition",
    "plan_outputs",
]

Codec = Literal["aac", "flac", "opus"]

# Bump when the ffmpeg command changes in a way that changes output bytes for the same
# ladder (filters, encoder options, resampling rules): ladder_hash then changes and
# tracks are transcoded again.
PIPELINE_VERSION = 1

# Rendition names end up in storage keys and URLs (/hls/{track}/{rendition}/...).
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_CODECS = ("aac", "flac", "opus")
# Settings name renditions as "aac_128" (codec and kbit/s) or "flac".
_SPEC = re.compile(r"(aac|opus)_([0-9]{1,3})|flac")


@dataclass(frozen=True)
class Rendition:
    """One rung of the ladder: a codec and, for lossy codecs, a target bitrate in bit/s."""

    name: str
    codec: Codec
    bitrate: int | None  # bit/s; None for flac

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"rendition name {self.name!r} must match {_NAME.pattern}")
        if self.codec not in _CODECS:
            raise ValueError(f"rendition {self.name!r}: unknown codec {self.codec!r}")
        if self.codec == "flac":
            if self.bitrate is not None:
                raise ValueError(f"rendition {self.name!r}: flac takes no bitrate")
        elif self.bitrate is None or not 6_000 <= self.bitrate <= 512_000:
            raise ValueError(f"rendition {self.name!r}: bitrate must be 6000..512000 bit/s")


DEFAULT_LADDER: tuple[Rendition, ...] = (
    Rendition("aac_64", "aac", 64_000),
    Rendition("aac_128", "aac", 128_000),
    Rendition("aac_256", "aac", 256_000),
)


def parse_rendition(spec: str) -> Rendition:
    """The rendition a settings name stands for: ``aac_128`` is AAC-LC at 128 kbit/s,
    ``opus_96`` Opus at 96 kbit/s, ``flac`` lossless FLAC. Raises ValueError."""
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise ValueError(f"unknown rendition {spec!r}: use aac_<kbit/s>, opus_<kbit/s> or flac")
    if match.group(1) is None:
        return Rendition("flac", "flac", None)
    codec: Codec = "aac" if match.group(1) == "aac" else "opus"
    return Rendition(match.group(0), codec, int(match.group(2)) * 1000)


def parse_ladder(specs: Sequence[str]) -> tuple[Rendition, ...]:
    """Every rendition of ``specs`` (see :func:`parse_rendition`); at least one, no repeats."""
    ladder = tuple(parse_rendition(spec) for spec in specs)
    if not ladder:
        raise ValueError("the ladder needs at least one rendition")
    names = [rendition.name for rendition in ladder]
    if len(set(names)) != len(names):
        raise ValueError(f"the ladder names a rendition twice: {', '.join(names)}")
    return ladder


@dataclass(frozen=True)
class OutputPlan:
    """What one rendition of one source will be, and where ffmpeg writes it."""

    rendition: Rendition
    sample_rate: int
    channels: int  # 1 or 2
    path: Path
    bits_per_sample: int | None = None  # FLAC only: 16 or 24


def plan_outputs(
    ladder: Sequence[Rendition],
    *,
    source_sample_rate: int,
    source_channels: int,
    out_dir: Path,
    source_bits_per_sample: int | None = None,
) -> list[OutputPlan]:
    """Fit each rendition to the source (see the module docstring for the rules).

    Outputs are named ``{out_dir}/{rendition.name}.mp4``; names must be unique.
    """
    if not ladder:
        raise ValueError("the ladder is empty")
    names = [rendition.name for rendition in ladder]
    if len(set(names)) != len(names):
        raise ValueError(f"rendition names are not unique: {names}")
    if source_sample_rate <= 0 or source_channels <= 0:
        raise ValueError(
            f"invalid source parameters: {source_sample_rate} Hz, {source_channels} channels"
        )
    channels = 1 if source_channels == 1 else 2
    plans = []
    for rendition in ladder:
        bits = None
        if rendition.codec == "aac":
            rate = _aac_rate(source_sample_rate)
        elif rendition.codec == "opus":
            rate = 48_000
        else:
            rate = _flac_rate(source_sample_rate)
            bits = 16 if source_bits_per_sample is None or source_bits_per_sample <= 16 else 24
        plans.append(
            OutputPlan(
                rendition=rendition,
                sample_rate=rate,
                channels=channels,
                path=out_dir / f"{rendition.name}.mp4",
                bits_per_sample=bits,
            )
        )
    return plans


def _aac_rate(source: int) -> int:
    if source in (44_100, 48_000):
        return source
    if source < 44_100 and 44_100 % source == 0:
        return 44_100
    return 48_000


def _flac_rate(source: int) -> int:
    if source <= 96_000:
        return source
    return 88_200 if source % 44_100 == 0 else 96_000


def ladder_hash(
    ladder: Sequence[Rendition], segment_seconds: float, loudness_target: float | None = None
) -> str:
    """A stable digest of everything that shapes the outputs, for "already transcoded?".

    Covers each rendition (name, codec, bitrate, in order), the segment duration, the
    loudness normalisation target (when there is one) and :data:`PIPELINE_VERSION`. The
    ffmpeg build is left out on purpose: upgrading ffmpeg should not re-transcode a whole
    library.
    """
    payload: dict[str, object] = {
        "pipeline": PIPELINE_VERSION,
        "segment_ms": round(segment_seconds * 1000),
        "renditions": [[r.name, r.codec, r.bitrate] for r in ladder],
    }
    if loudness_target is not None:  # absent otherwise, so older hashes stay valid
        payload["loudness_target"] = round(loudness_target, 1)
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]
