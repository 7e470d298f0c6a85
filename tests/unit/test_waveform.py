"""Waveform peaks from mono s16le PCM (transcoder/waveform.py)."""

from __future__ import annotations

import random
import sys
from array import array
from pathlib import Path

import pytest

from transcoder.waveform import peaks_from_pcm


def _pcm(samples: list[int]) -> bytes:
    data = array("h", samples)
    if sys.byteorder == "big":  # pragma: no cover - s16le is little-endian
        data.byteswap()
    return data.tobytes()


def _naive(samples: list[int], points: int) -> list[tuple[float, float]]:
    buckets = min(points, len(samples))
    out = []
    for index in range(buckets):
        window = samples[index * len(samples) // buckets : (index + 1) * len(samples) // buckets]
        out.append((round(min(window) / 32768, 4), round(max(window) / 32768, 4)))
    return out


def test_silence_gives_zero_peaks() -> None:
    assert peaks_from_pcm(bytes(8000), 100) == [(0.0, 0.0)] * 100


def test_full_scale_square_wave_peaks_at_plus_and_minus_one() -> None:
    square = ([32767] * 20 + [-32768] * 20) * 100
    peaks = peaks_from_pcm(_pcm(square), 50)
    assert len(peaks) == 50
    assert all(low == -1.0 and high == pytest.approx(1.0, abs=1e-4) for low, high in peaks)


def test_fewer_samples_than_points_gives_one_pair_per_sample() -> None:
    assert peaks_from_pcm(_pcm([100, -200, 300]), 10) == [
        (round(100 / 32768, 4),) * 2,
        (round(-200 / 32768, 4),) * 2,
        (round(300 / 32768, 4),) * 2,
    ]


@pytest.mark.parametrize("data", [b"", b"\x01"], ids=["empty", "half-sample"])
def test_no_samples_gives_no_peaks(data: bytes) -> None:
    assert peaks_from_pcm(data, 10) == []


@pytest.mark.parametrize("chunk_samples", [1, 7, 333, 1 << 16])
@pytest.mark.parametrize("points", [1, 3, 97, 2000])
def test_chunking_does_not_change_the_peaks(chunk_samples: int, points: int) -> None:
    rng = random.Random(points * 31 + chunk_samples)
    samples = [rng.randint(-32768, 32767) for _ in range(4999)]
    assert peaks_from_pcm(_pcm(samples), points, chunk_samples=chunk_samples) == _naive(
        samples, points
    )


def test_a_file_gives_the_same_peaks_as_its_bytes(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = _pcm([rng.randint(-32768, 32767) for _ in range(10_001)])
    path = tmp_path / "wave.s16le"
    path.write_bytes(data)
    assert peaks_from_pcm(path, 123, chunk_samples=1000) == peaks_from_pcm(data, 123)


@pytest.mark.parametrize(("points", "chunk"), [(0, 10), (10, 0)])
def test_non_positive_arguments_are_rejected(points: int, chunk: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        peaks_from_pcm(b"\0\0", points, chunk_samples=chunk)
