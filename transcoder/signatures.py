"""What a file's first bytes say it is not: formats that are certainly not audio, and text.

One table for both judges of outside bytes: the probe (transcoder.probe), which refuses
such a file with the format it recognised, and the upload sniff (streamer.uploads.sniff),
which refuses an upload at its first chunk. Pure: bytes in, a name out.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["NOT_AUDIO", "not_audio_format", "text_kind"]

NOT_AUDIO: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), "a PNG image"),
    (lambda h: h.startswith(b"\xff\xd8\xff"), "a JPEG image"),
    (lambda h: h.startswith((b"GIF87a", b"GIF89a")), "a GIF image"),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP", "a WebP image"),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"AVI ", "an AVI video"),
    (lambda h: h.startswith(b"%PDF-"), "a PDF document"),
    (lambda h: h.startswith((b"PK\x03\x04", b"PK\x05\x06")), "a ZIP archive"),
    (lambda h: h.startswith(b"\x1f\x8b"), "a gzip archive"),
    (lambda h: h.startswith(b"7z\xbc\xaf\x27\x1c"), "a 7-Zip archive"),
    (lambda h: h.startswith(b"Rar!\x1a\x07"), "a RAR archive"),
    (lambda h: h.startswith(b"\xfd7zXZ\x00"), "an xz archive"),
    (lambda h: h.startswith(b"\x7fELF"), "a program"),
    (lambda h: h.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "an Office document"),
    (lambda h: h.startswith(b"SQLite format 3\x00"), "an SQLite database"),
)


def not_audio_format(head: bytes) -> str | None:
    """The non-audio format whose signature ``head`` starts with, or None."""
    for matches, what in NOT_AUDIO:
        if matches(head):
            return what
    return None


def text_kind(head: bytes) -> str | None:
    """ "text" or "HTML" when ``head`` reads as text, else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 byte-order marks
        return "text"
    if b"\0" in head:
        return None
    for cut in range(4):  # a multi-byte character cut at the end of the sample
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        printable = sum(1 for char in text if char.isprintable() or char in "\t\r\n\f")
        if printable < 0.95 * max(1, len(text)):
            return None
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        return "HTML" if stripped.startswith((b"<!doctype html", b"<html")) else "text"
    return None
