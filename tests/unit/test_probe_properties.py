"""The probe under generated input: a real file of each format, mutated, is a ProbeResult
with a positive finite duration or a ProbeError; the probe's own cover parsing never fails.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.audio import make_png
from transcoder.probe import ProbeError, _image_size, probe

FORMATS = ["mp3", "m4a", "flac", "ogg", "opus", "wav"]


class Seed:
    """A real file; its bytes stay out of the repr hypothesis prints."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def __repr__(self) -> str:
        return f"Seed({self.name!r}, {len(self.data)} bytes)"


@pytest.fixture(scope="module")
def seeds(audio_samples: dict[str, Path]) -> dict[str, Seed]:
    return {fmt: Seed(audio_samples[fmt].name, audio_samples[fmt].read_bytes()) for fmt in FORMATS}


# (how, where modulo the length, what): flips, cuts, and runs of 0x00 or 0xFF (sizes that
# are zero or huge) written anywhere; headers and tags sit at the start, so half the
# changes land in its first kilobyte.
operations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "zeros", "ones"]),
        st.one_of(st.integers(0, 1023), st.integers(0, 2**20)),
        st.integers(1, 255),
    ),
    min_size=1,
    max_size=4,
)


def _mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for how, where, what in ops:
        at = where % max(len(out), 1)
        if how == "flip" and out:
            out[at] ^= what
        elif how == "cut":
            del out[at:]
        else:
            out[at : at + 1 + what % 8] = (b"\0" if how == "zeros" else b"\xff") * (1 + what % 8)
    return bytes(out)


@pytest.mark.parametrize("fmt", FORMATS)
@given(ops=operations)
def test_a_mutated_file_probes_to_a_result_or_a_probe_error(
    fmt: str, seeds: dict[str, Seed], ops: list[tuple[str, int, int]]
) -> None:
    seed = seeds[fmt]
    data = _mutate(seed.data, ops)
    try:
        result = probe(io.BytesIO(data), seed.name, len(data))
    except ProbeError:
        return
    assert math.isfinite(result.duration)
    assert result.duration > 0
    assert result.channels > 0


@given(st.one_of(st.binary(max_size=64), st.binary(max_size=40).map(lambda b: b"\xff\xd8" + b)))
def test_any_cover_bytes_give_a_size_or_none(data: bytes) -> None:
    for cover in (data, make_png()[:24] + data, b"\xff\xd8\xff\xc0" + data):
        width, height = _image_size(cover)
        assert (width is None) == (height is None)
