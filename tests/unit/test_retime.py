"""A fragment moved on the media timeline (packager.retime), checked against fragments
ffmpeg writes with the ladder's flags and against ffmpeg's own reading of the result: the
same packets with the same bytes, at the new decode time."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from packager.retime import decode_time, retime_fragment
from transcoder.ffmpeg import ffmpeg_exe
from transcoder.fmp4 import SegmentIndex, parse_fmp4_path

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

# A channel's decode times are on the Unix epoch: far beyond 32 bits at 48 kHz.
ON_AIR = 1_796_600_000 * 48_000


def _find(data: bytes, kind: bytes) -> int:
    """Where the first ``kind`` box starts (its size field)."""
    return data.index(kind) - 4


def _as_version_0(fragment: bytes) -> bytes:
    """The fragment with its tfdt written as version 0 (32 bits), as other packagers do:
    the tfdt, traf and moof shrink by 4 bytes and the trun's data offset with them."""
    at = _find(fragment, b"tfdt")
    (value,) = struct.unpack_from(">Q", fragment, at + 12)
    small = struct.pack(">I4sB3sI", 16, b"tfdt", 0, fragment[at + 9 : at + 12], value)
    out = bytearray(fragment[:at] + small + fragment[at + 20 :])
    for kind in (b"moof", b"traf"):
        where = _find(bytes(out), kind)
        (size,) = struct.unpack_from(">I", out, where)
        struct.pack_into(">I", out, where, size - 4)
    trun = _find(bytes(out), b"trun")
    (flags,) = struct.unpack_from(">I", out, trun + 8)
    assert flags & 1, "ffmpeg's trun carries a data offset"
    (offset,) = struct.unpack_from(">i", out, trun + 16)
    struct.pack_into(">i", out, trun + 16, offset - 4)
    return bytes(out)


@pytest.fixture(scope="module", params=["aac", "flac"])
def rendition(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[bytes, SegmentIndex]:
    codec = ["-c:a", "aac", "-b:a", "96k"] if request.param == "aac" else ["-c:a", "flac"]
    path = tmp_path_factory.mktemp("retime") / f"{request.param}.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "sine=f=440:r=48000:d=14", *codec, "-strict", "-2", "-f", "mp4",
         "-frag_duration", "6000000", "-movflags", "+empty_moov+default_base_moof", str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return path.read_bytes(), parse_fmp4_path(path)


def _packets(data: bytes, tmp_path: Path) -> list[tuple[int, int, str]]:
    """(dts, size, crc) of every packet ffmpeg demuxes from ``data`` (framecrc)."""
    path = tmp_path / "probe.mp4"
    path.write_bytes(data)
    listed = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-copyts", "-i", str(path),
         "-map", "0:a", "-c", "copy", "-f", "framecrc", "-"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    packets = []
    for line in listed.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        packets.append((int(fields[1]), int(fields[4]), fields[5]))
    return packets


def test_a_version_1_tfdt_is_patched_in_place(rendition: tuple[bytes, SegmentIndex]) -> None:
    data, index = rendition
    fragment = data[index.fragments[1].offset : index.fragments[1].end]
    moved = retime_fragment(fragment, ON_AIR)
    assert len(moved) == len(fragment)
    assert decode_time(moved) == ON_AIR
    at = _find(fragment, b"tfdt") + 12
    assert moved[:at] == fragment[:at]
    assert moved[at + 8 :] == fragment[at + 8 :]


@pytest.mark.parametrize("version", [1, 0])
def test_ffmpeg_reads_the_same_packets_at_the_new_decode_time(
    rendition: tuple[bytes, SegmentIndex], version: int, tmp_path: Path
) -> None:
    data, index = rendition
    init = data[: index.init_size]
    fragments = [data[f.offset : f.end] for f in index.fragments]
    if version == 0:
        fragments = [_as_version_0(fragment) for fragment in fragments]
        assert decode_time(fragments[1]) == index.fragments[1].start
    moved = [
        retime_fragment(fragment, ON_AIR + f.start)
        for fragment, f in zip(fragments, index.fragments, strict=True)
    ]
    before = _packets(init + b"".join(fragments), tmp_path)
    after = _packets(init + b"".join(moved), tmp_path)
    assert [(size, crc) for _, size, crc in after] == [(size, crc) for _, size, crc in before]
    shift = {
        dts_after - dts_before
        for (dts_after, _, _), (dts_before, _, _) in zip(after, before, strict=True)
    }
    assert shift == {ON_AIR}


def test_a_fragment_moves_back_to_where_it_was(rendition: tuple[bytes, SegmentIndex]) -> None:
    data, index = rendition
    fragment = data[index.fragments[0].offset : index.fragments[0].end]
    assert retime_fragment(retime_fragment(fragment, ON_AIR), index.fragments[0].start) == fragment


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: b"\x00\x00\x00\x08ftyp" + f, "expected a moof"),
        (lambda f: f.replace(b"tfdt", b"free"), "no tfdt"),
        (lambda f: f[:20], "bad size"),
        (lambda f: b"", "no moof"),
    ],
)
def test_what_is_not_a_fragment_is_refused(
    rendition: tuple[bytes, SegmentIndex], damage: object, message: str
) -> None:
    data, index = rendition
    fragment = data[index.fragments[0].offset : index.fragments[0].end]
    with pytest.raises(ValueError, match=message):
        retime_fragment(damage(fragment), ON_AIR)  # type: ignore[operator]


@pytest.mark.parametrize("start", [-1, 2**64])
def test_a_decode_time_out_of_range_is_refused(
    rendition: tuple[bytes, SegmentIndex], start: int
) -> None:
    data, index = rendition
    fragment = data[index.fragments[0].offset : index.fragments[0].end]
    with pytest.raises(ValueError, match="decode time"):
        retime_fragment(fragment, start)
