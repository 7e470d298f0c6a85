"""The truncated-FLAC check under generated input: never an exception, bounded work.

A real FLAC that ffmpeg writes, cut anywhere in its frames, is reported short, and whole it
is not; any tail (arbitrary bytes, or frame headers packed together) gives None or a count
below the total, with CRC-16 work linear in the tail; the linear search for the last
complete frame agrees with checking each header on its own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutagen.flac import FLAC

import transcoder.flac
from tests.fixtures.audio import make_audio
from transcoder.flac import _crc8, _crc16, _frame_headers, _last_complete_frame, check_flac_complete


@dataclass(frozen=True)
class Info:
    total_samples: int
    max_blocksize: int
    max_framesize: int


def _streaminfo(last: bool = True) -> bytes:
    return bytes([0x80 if last else 0]) + (34).to_bytes(3, "big") + bytes(34)


def _header(number: int) -> bytes:
    """A variable-blocksize frame header (192 samples, 44.1 kHz, stereo, 16 bits)."""
    head = bytes([0xFF, 0xF9, 0x19, 0x18, number & 0x7F])
    return head + bytes([_crc8(head)])


def _frame(number: int, payload: bytes) -> bytes:
    """A frame: header, payload, and the CRC-16 that makes the whole frame's CRC zero."""
    body = _header(number) + payload
    return body + _crc16(body).to_bytes(2, "big")


class Seed:
    """A real FLAC and its STREAMINFO; the bytes stay out of hypothesis's printed repr."""

    def __init__(self, data: bytes, info: Info, audio_start: int) -> None:
        self.data, self.info, self.audio_start = data, info, audio_start

    def __repr__(self) -> str:
        return f"Seed({len(self.data)} bytes, {self.info})"


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    path = make_audio(tmp_path_factory.mktemp("flac") / "seed.flac", "flac", 1.5)
    stream = FLAC(path).info
    info = Info(stream.total_samples, stream.max_blocksize, stream.max_framesize)
    data = path.read_bytes()
    return Seed(data, info, _audio_start(data))


def _audio_start(data: bytes) -> int:
    offset = 4
    while True:
        block = data[offset : offset + 4]
        offset += 4 + int.from_bytes(block[1:4], "big")
        if block[0] & 0x80:
            return offset


def _check(data: bytes, info: Info) -> tuple[int, int] | None:
    return check_flac_complete(io.BytesIO(data), len(data), info)


def test_the_whole_file_is_complete(seed: Seed) -> None:
    assert _check(seed.data, seed.info) is None


@given(st.integers(min_value=1))
def test_a_file_cut_anywhere_in_its_frames_is_short(seed: Seed, cut: int) -> None:
    keep = seed.audio_start + cut % (len(seed.data) - seed.audio_start)
    shortfall = _check(seed.data[:keep], seed.info)
    assert shortfall is not None
    present, total = shortfall
    assert total == seed.info.total_samples
    assert 0 <= present < total


@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), min_size=1, max_size=8))
def test_a_file_with_flipped_bytes_gives_none_or_a_count_below_the_total(
    seed: Seed, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(seed.data)
    for where, mask in flips:
        data[seed.audio_start + where % (len(data) - seed.audio_start)] ^= mask
    shortfall = _check(bytes(data), seed.info)
    assert shortfall is None or 0 <= shortfall[0] < shortfall[1]


infos = st.builds(
    Info,
    total_samples=st.integers(0, 2**36 - 1),
    max_blocksize=st.integers(0, 2**16 - 1),
    max_framesize=st.integers(0, 2**24 - 1),
)
# Tails that look like frames: headers, whole frames and noise, packed together.
pieces = st.one_of(
    st.integers(0, 127).map(_header),
    st.tuples(st.integers(0, 127), st.binary(max_size=40)).map(lambda f: _frame(*f)),
    st.binary(max_size=20),
    st.just(b"\xff\xf8"),
)
tails = st.one_of(st.binary(max_size=300), st.lists(pieces, max_size=30).map(b"".join))


@given(tails, infos, st.binary(max_size=12))
def test_any_tail_gives_none_or_a_count_below_the_total(
    tail: bytes, info: Info, head: bytes
) -> None:
    for data in (b"fLaC" + _streaminfo() + tail, head + tail):
        shortfall = _check(data, info)
        assert shortfall is None or (0 <= shortfall[0] < shortfall[1] == info.total_samples)


@given(st.lists(pieces, max_size=30).map(b"".join), st.integers(1, 2**24))
def test_the_last_complete_frame_is_the_one_a_crc_of_each_suffix_finds(
    tail: bytes, max_frame: int
) -> None:
    headers = _frame_headers(tail, 0)
    expected = None
    for offset, first, block in reversed(headers):
        if len(tail) - offset > max_frame:
            break
        if _crc16(tail[offset:]) == 0:
            expected = (first, block)
            break
    assert _last_complete_frame(tail, headers, max_frame) == expected


def test_a_tail_packed_with_frame_headers_costs_crc_work_linear_in_its_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found reading flac.py for the properties above: each header's CRC-16 ran over the rest
    # of the tail, so a tail of 600 kB of headers (6 bytes each) took hours of CPU.
    tail = b"".join(_header(i) for i in range(100_000))
    data = b"fLaC" + _streaminfo() + tail
    info = Info(total_samples=10**9, max_blocksize=4096, max_framesize=2**24 - 1)
    checked = 0

    def counting_crc16(chunk: bytes, crc: int = 0) -> int:
        nonlocal checked
        checked += len(chunk)
        assert checked <= 2 * len(data), "CRC-16 work beyond linear"
        return _crc16(chunk, crc)

    monkeypatch.setattr(transcoder.flac, "_crc16", counting_crc16)
    shortfall = _check(data, info)
    assert shortfall is not None
    assert shortfall[0] < shortfall[1]
