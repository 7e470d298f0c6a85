"""``multipart/byteranges`` framing (RFC 9110 §14.6, RFC 2046 §5.1.1), without the bytes.

A plan holds every byte the server writes itself: the header of each part and the closing
delimiter. The caller streams each range's bytes from storage between them, and sends
``Content-Length: plan.content_length``, which counts all of it exactly::

    --BOUNDARY CRLF
    Content-Type: audio/mpeg CRLF
    Content-Range: bytes 0-99/1000 CRLF
    CRLF
    <100 bytes> CRLF
    --BOUNDARY CRLF
    ...
    <bytes of the last part> CRLF
    --BOUNDARY-- CRLF
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence

from streamer.http.ranges import ByteRange

__all__ = ["MultipartPlan", "make_boundary"]

# bchars of RFC 2046 §5.1.1 that are also tchars, so the boundary parameter needs no quoting.
_BOUNDARY = re.compile(r"[0-9A-Za-z'+_\-.]{1,70}")
_CRLF = b"\r\n"


def make_boundary() -> str:
    """A fresh random boundary: 32 hex digits (128 bits), so it never occurs in a body."""
    return secrets.token_hex(16)


class MultipartPlan:
    """The framing of a ``multipart/byteranges`` response for ``ranges`` of a representation.

    ``parts`` pairs each part's header bytes (including the delimiter before it) with the
    range whose bytes follow it; ``closing`` comes after the last range. Iterating a plan
    yields the pairs of ``parts``.
    """

    __slots__ = ("boundary", "closing", "content_length", "content_type", "parts")

    boundary: str
    content_type: str
    """The response's Content-Type: ``multipart/byteranges; boundary=...``."""
    content_length: int
    """The exact length of the whole body: part headers, range bytes and closing delimiter."""
    parts: tuple[tuple[bytes, ByteRange], ...]
    closing: bytes

    def __init__(
        self,
        ranges: Sequence[ByteRange],
        content_type: str,
        size: int,
        boundary: str | None = None,
    ) -> None:
        if not ranges:
            raise ValueError("a multipart/byteranges body needs at least one range")
        if boundary is None:
            boundary = make_boundary()
        elif not _BOUNDARY.fullmatch(boundary):
            raise ValueError(f"not a valid multipart boundary: {boundary!r}")
        if not content_type.isprintable() or not content_type.isascii():
            # A CR or LF here would inject header lines into every part.
            raise ValueError(f"not a valid Content-Type: {content_type!r}")
        for r in ranges:
            if r.end >= size:
                raise ValueError(f"range {r.start}-{r.end} beyond a size of {size}")

        delimiter = b"--" + boundary.encode("ascii")
        parts: list[tuple[bytes, ByteRange]] = []
        length = 0
        for index, r in enumerate(ranges):
            header = b"".join(
                (
                    # The CRLF before a delimiter belongs to the delimiter (RFC 2046), so
                    # it is written before every part but the first.
                    _CRLF if index else b"",
                    delimiter,
                    _CRLF,
                    f"Content-Type: {content_type}\r\n".encode("ascii"),
                    f"Content-Range: {r.content_range(size)}\r\n".encode("ascii"),
                    _CRLF,
                )
            )
            parts.append((header, r))
            length += len(header) + r.length
        closing = _CRLF + delimiter + b"--" + _CRLF
        self.boundary = boundary
        self.content_type = f"multipart/byteranges; boundary={boundary}"
        self.parts = tuple(parts)
        self.closing = closing
        self.content_length = length + len(closing)

    def __iter__(self) -> Iterator[tuple[bytes, ByteRange]]:
        return iter(self.parts)

    def __repr__(self) -> str:
        ranges = ", ".join(f"{r.start}-{r.end}" for _, r in self.parts)
        return f"MultipartPlan(boundary={self.boundary!r}, ranges=[{ranges}])"
