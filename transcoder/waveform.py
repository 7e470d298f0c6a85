"""Waveform peaks for display, from the low-rate mono PCM the transcode writes (pure).

The transcode's waveform branch mixes the audio to mono and resamples it to
:data:`WAVEFORM_SAMPLE_RATE` as raw signed 16-bit little-endian samples (about 29 MB per
hour). :func:`peaks_from_pcm` splits those samples into ``points`` equal buckets and keeps
the minimum and maximum of each, reading the file in bounded chunks so a 3-hour file costs
no more memory than a 3-minute one.

The resampler's low-pass (cut-off near 2 kHz) smooths the sharpest transients a little;
for a bar a few pixels wide that is invisible, and it keeps the intermediate file small.
"""

from __future__ import annotations

import io
import sys
from array import array
from pathlib import Path
from typing import BinaryIO

__all__ = ["WAVEFORM_SAMPLE_RATE", "Peak", "peaks_from_pcm"]

WAVEFORM_SAMPLE_RATE = 4000

Peak = tuple[float, float]  # (minimum, maximum) of a bucket, each in -1.0..1.0

_SAMPLE_BYTES = 2
_FULL_SCALE = 32768.0


def peaks_from_pcm(
    source: Path | bytes, points: int, *, chunk_samples: int = 1 << 16
) -> list[Peak]:
    """``points`` (min, max) pairs over mono s16le PCM, rounded to 4 decimals.

    Fewer than ``points`` samples give one pair per sample; no samples give ``[]``.
    Blocking when ``source`` is a path: run it in a worker thread.
    """
    if points <= 0:
        raise ValueError("points must be positive")
    if chunk_samples <= 0:
        raise ValueError("chunk_samples must be positive")
    if isinstance(source, bytes):
        return _peaks(io.BytesIO(source), len(source) // _SAMPLE_BYTES, points, chunk_samples)
    with source.open("rb") as stream:
        total = source.stat().st_size // _SAMPLE_BYTES
        return _peaks(stream, total, points, chunk_samples)


def _peaks(stream: BinaryIO, total: int, points: int, chunk_samples: int) -> list[Peak]:
    buckets = min(points, total)
    peaks: list[Peak] = []
    if buckets == 0:
        return peaks
    position = 0  # index of the next sample to read
    bucket = 0
    bucket_end = _bucket_end(0, total, buckets)
    low, high = 32767, -32768
    while position < total:
        data = stream.read(min(chunk_samples, total - position) * _SAMPLE_BYTES)
        if len(data) < _SAMPLE_BYTES:
            break  # the file shrank under us: stop at what is there
        samples = array("h")
        samples.frombytes(data[: len(data) - len(data) % _SAMPLE_BYTES])
        if sys.byteorder == "big":
            samples.byteswap()
        offset = 0
        while offset < len(samples):
            take = min(len(samples) - offset, bucket_end - position)
            window = samples[offset : offset + take]
            low = min(low, min(window))
            high = max(high, max(window))
            offset += take
            position += take
            if position == bucket_end:
                peaks.append(_pair(low, high))
                low, high = 32767, -32768
                bucket += 1
                if bucket == buckets:
                    return peaks
                bucket_end = _bucket_end(bucket, total, buckets)
    if low <= high:  # a partial last bucket of a short read
        peaks.append(_pair(low, high))
    return peaks


def _bucket_end(bucket: int, total: int, buckets: int) -> int:
    return ((bucket + 1) * total) // buckets


def _pair(low: int, high: int) -> Peak:
    return (round(low / _FULL_SCALE, 4), round(high / _FULL_SCALE, 4))
