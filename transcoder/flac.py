"""Detecting a FLAC file whose audio was cut short, from its last frame alone.

A truncated FLAC keeps an intact STREAMINFO, so the header still promises every sample.
Rather than decode, read the tail: find the last frame header (sync 0xFFF8/0xFFF9 with a
valid CRC-8), check that the frame runs to the end of the file with a valid CRC-16, and
compare where it ends with STREAMINFO's total samples. Layout: RFC 9639, section 9.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

__all__ = ["check_flac_complete"]

# The tail examined: a frame is rarely more than a few KiB; max_framesize bounds it.
_TAIL = 64 * 1024
_TAIL_MAX = 1024 * 1024
_ID3V1 = 128


class FlacStreamInfo(Protocol):
    total_samples: int
    max_blocksize: int
    max_framesize: int


def _table(poly: int, width: int) -> list[int]:
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    table = []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & top else (crc << 1)
        table.append(crc & mask)
    return table


_CRC8 = _table(0x07, 8)
_CRC16 = _table(0x8005, 16)
# Undoing one CRC-16 step over a zero byte: the low byte of a table entry names its index.
_CRC16_INDEX = {entry & 0xFF: index for index, entry in enumerate(_CRC16)}
assert len(_CRC16_INDEX) == 256


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes, crc: int = 0) -> int:
    table = _CRC16
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def check_flac_complete(
    fileobj: BinaryIO, size: int, info: FlacStreamInfo
) -> tuple[int, int] | None:
    """None if the audio is complete (or cannot be judged), else (samples present, total).

    The count present is that of the frames before the cut, to within one frame.
    """
    total = int(info.total_samples or 0)
    if total <= 0:
        return None  # STREAMINFO does not say how long the stream is
    audio_start = _audio_offset(fileobj)
    if audio_start is None:
        return None
    end = size
    fileobj.seek(max(0, size - _ID3V1))
    if size - audio_start >= _ID3V1 and fileobj.read(3) == b"TAG":
        end -= _ID3V1
    if end <= audio_start:
        return (0, total)
    max_frame = int(info.max_framesize or 0) or _TAIL
    window = min(_TAIL_MAX, max(_TAIL, 2 * max_frame))
    start = max(audio_start, end - window)
    fileobj.seek(start)
    tail = fileobj.read(end - start)

    headers = _frame_headers(tail, int(info.max_blocksize or 0))
    complete = _last_complete_frame(tail, headers, max_frame)
    if complete is not None:
        last = complete[0] + complete[1]
        return None if last >= total else (last, total)
    # No complete frame reaches the end: the file was cut inside a frame.
    plausible = [first for _, first, _ in headers if first < total]
    if not plausible:
        return None if start > audio_start else (0, total)
    return (plausible[-1], total)


def _last_complete_frame(
    data: bytes, headers: list[tuple[int, int, int]], max_frame: int
) -> tuple[int, int] | None:
    """(first sample, block size) of the last header whose frame runs to the end of ``data``
    with a valid CRC-16, among those at most ``max_frame`` bytes from the end.

    A frame's CRC-16 covers it whole, so the test is crc16(data[offset:]) == 0. Computed for
    each header apart, that costs the square of the tail when a damaged or hostile tail holds
    a header every few bytes. Instead, with s(o) the CRC state after data[start:o] and Z the
    step over a zero byte, crc16(data[o:]) == s(end) ^ Z^(end-o)(s(o)); so it is zero when
    s(o) equals s(end) taken back end-o steps. One pass forward, one back: linear.
    """
    near = [header for header in headers if len(data) - header[0] <= max_frame]
    if not near:
        return None
    states = []
    state, position = 0, near[0][0]
    for offset, _, _ in near:
        state = _crc16(data[position:offset], state)
        states.append(state)
        position = offset
    target, position = _crc16(data[position:], state), len(data)
    for (offset, first, block), state in zip(reversed(near), reversed(states), strict=True):
        for _ in range(position - offset):  # one zero-byte step back
            index = _CRC16_INDEX[target & 0xFF]
            target = (index << 8) | ((target ^ _CRC16[index]) >> 8)
        position = offset
        if state == target:
            return first, block
    return None


def _frame_headers(data: bytes, fixed_blocksize: int) -> list[tuple[int, int, int]]:
    """(offset, first sample, block size) of each valid-looking frame header in ``data``."""
    found = []
    pos = data.find(b"\xff")
    while pos != -1 and pos + 6 <= len(data):
        if data[pos + 1] in (0xF8, 0xF9):
            parsed = _parse_header(data, pos, fixed_blocksize)
            if parsed is not None:
                found.append((pos, *parsed))
        pos = data.find(b"\xff", pos + 1)
    return found


def _parse_header(data: bytes, pos: int, fixed_blocksize: int) -> tuple[int, int] | None:
    variable = data[pos + 1] & 1
    block_code, rate_code = data[pos + 2] >> 4, data[pos + 2] & 0x0F
    channels, reserved = data[pos + 3] >> 4, data[pos + 3] & 1
    if block_code == 0 or rate_code == 0x0F or channels > 10 or reserved:
        return None
    number, cursor = _coded_number(data, pos + 4)
    if number is None:
        return None
    if block_code == 6:
        extra_block = 1
    elif block_code == 7:
        extra_block = 2
    else:
        extra_block = 0
    block_at = cursor
    cursor += extra_block
    cursor += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if cursor >= len(data) or _crc8(data[pos:cursor]) != data[cursor]:
        return None
    if block_code == 1:
        block = 192
    elif 2 <= block_code <= 5:
        block = 576 << (block_code - 2)
    elif extra_block:
        block = int.from_bytes(data[block_at : block_at + extra_block], "big") + 1
    else:
        block = 256 << (block_code - 8)
    if variable:
        return number, block
    if fixed_blocksize <= 0:
        return None
    return number * fixed_blocksize, block


def _coded_number(data: bytes, pos: int) -> tuple[int | None, int]:
    """Decode FLAC's UTF-8-like frame or sample number at ``pos``."""
    if pos >= len(data):
        return None, pos
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    length = 0
    while length < 8 and first & (0x80 >> length):
        length += 1
    if length < 2 or length > 7 or pos + length > len(data):
        return None, pos
    value = first & (0x7F >> length) if length < 7 else 0
    for byte in data[pos + 1 : pos + length]:
        if byte & 0xC0 != 0x80:
            return None, pos
        value = (value << 6) | (byte & 0x3F)
    return value, pos + length


def _audio_offset(fileobj: BinaryIO) -> int | None:
    """Where the frames start: after an optional ID3v2 tag, "fLaC" and the metadata blocks."""
    fileobj.seek(0)
    head = fileobj.read(10)
    offset = 0
    if head[:3] == b"ID3" and len(head) == 10:
        # Syncsafe size, plus the footer when the flag says so.
        offset = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
        if head[5] & 0x10:
            offset += 10
        fileobj.seek(offset)
        head = fileobj.read(4)
    if head[:4] != b"fLaC":
        return None
    offset += 4
    while True:
        fileobj.seek(offset)
        block = fileobj.read(4)
        if len(block) < 4:
            return None
        offset += 4 + int.from_bytes(block[1:4], "big")
        if block[0] & 0x80:  # last-metadata-block flag
            return offset
