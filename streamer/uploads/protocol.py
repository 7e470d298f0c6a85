"""tus 1.0 headers in pure functions: no I/O, no framework, so each rule has a unit test.

Every parser raises :class:`TusError` with the status the protocol prescribes; the router
turns it into an application/problem+json response in one place.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "EXTENSIONS",
    "HUGE",
    "OFFSET_CONTENT_TYPE",
    "TUS_VERSION",
    "Checksum",
    "TusError",
    "check_version",
    "encode_metadata",
    "parse_checksum",
    "parse_length",
    "parse_metadata",
    "parse_offset",
    "safe_filename",
    "shown_number",
]

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "checksum", "expiration")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Constructors of the hashes the checksum extension accepts, by their tus names.
CHECKSUM_ALGORITHMS: Mapping[str, Callable[[], hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
}

_MAX_METADATA = 4096  # bytes of Upload-Metadata: a file name and a few keys
_KEY = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # a token without spaces or commas
_DIGITS = re.compile(r"[0-9]+")
# An offset past the end of any upload: longer numbers are valid but not read in full.
HUGE = 10**19


class TusError(Exception):
    """A request the protocol refuses: ``status`` and a reason for people."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Checksum:
    """An Upload-Checksum: the algorithm's tus name and the expected digest."""

    algorithm: str
    digest: bytes

    def new(self) -> hashlib._Hash:
        return CHECKSUM_ALGORITHMS[self.algorithm]()


def check_version(value: str | None) -> None:
    """Tus-Resumable must name the version we speak (412 otherwise, tus 1.0 core)."""
    if value != TUS_VERSION:
        shown = "missing" if value is None else repr(value)
        raise TusError(412, f"Tus-Resumable {shown}: this server speaks {TUS_VERSION}")


def _digits(value: str | None, name: str) -> str:
    """The decimal digits of a non-negative integer header, without leading zeros."""
    if value is None:
        raise TusError(400, f"{name} is required")
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        raise TusError(400, f"{name} must be a non-negative integer, got {value[:40]!r}")
    return value.lstrip("0") or "0"


def shown_number(value: str) -> str:
    """A numeric header's value for a message: at most 40 characters of it."""
    value = value.strip()
    return value if len(value) <= 40 else f"{value[:20]}...({len(value)} digits)"


def parse_length(value: str | None, limit: int) -> int:
    """Upload-Length: 400 if absent or malformed, 413 above ``limit`` (Tus-Max-Size),
    however many digits it has."""
    digits = _digits(value, "Upload-Length")
    # Compared by length first: a number of thousands of digits is never converted.
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise TusError(
            413, f"Upload-Length {shown_number(digits)} exceeds the limit of {limit} bytes"
        )
    return int(digits)


def parse_offset(value: str | None) -> int:
    """Upload-Offset of a PATCH: 400 if absent or malformed. An offset of any size is
    read (:data:`HUGE` stands for one of 20 digits or more, past any upload's end), so
    the caller answers a wrong one 409 however large it is."""
    digits = _digits(value, "Upload-Offset")
    return int(digits) if len(digits) < len(str(HUGE)) else HUGE


def parse_metadata(value: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated ``key base64value`` pairs (a value may be absent).

    Keys are unique tokens; values must be UTF-8 text here, since we keep them as JSON.
    400 on anything else.
    """
    if value is None or not value.strip():
        return {}
    if len(value) > _MAX_METADATA:
        raise TusError(400, f"Upload-Metadata is longer than {_MAX_METADATA} bytes")
    pairs: dict[str, str] = {}
    for item in value.split(","):
        parts = item.strip().split(" ")
        if len(parts) > 2 or not parts[0]:
            raise TusError(400, f"Upload-Metadata pair {item.strip()[:40]!r} is malformed")
        key = parts[0]
        if not _KEY.match(key):
            raise TusError(400, f"Upload-Metadata key {key[:40]!r} is not a token")
        if key in pairs:
            raise TusError(400, f"Upload-Metadata key {key!r} appears twice")
        raw = parts[1] if len(parts) == 2 else ""
        try:
            pairs[key] = base64.b64decode(raw, validate=True).decode("utf-8")
        except ValueError as exc:
            # binascii.Error, UnicodeDecodeError, and the plain ValueError b64decode raises
            # for a non-ASCII str (header values arrive as latin-1 text).
            raise TusError(
                400, f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text"
            ) from exc
    return pairs


def encode_metadata(metadata: Mapping[str, object]) -> str:
    """Upload-Metadata for a HEAD response: the inverse of :func:`parse_metadata`."""
    return ",".join(
        f"{key} {base64.b64encode(str(value).encode()).decode()}" if value != "" else key
        for key, value in metadata.items()
    )


def parse_checksum(value: str | None) -> Checksum | None:
    """Upload-Checksum ``<algorithm> <base64 digest>``: None when absent, 400 when
    malformed or the digest has the wrong size, 400 for an algorithm we do not offer
    (tus: "400 Bad Request" for an unsupported algorithm)."""
    if value is None:
        return None
    parts = value.strip().split(" ")
    if len(parts) != 2:
        raise TusError(400, "Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm, encoded = parts[0].lower(), parts[1]
    if algorithm not in CHECKSUM_ALGORITHMS:
        offered = ",".join(CHECKSUM_ALGORITHMS)
        raise TusError(400, f"checksum algorithm {algorithm[:20]!r} is not one of {offered}")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except ValueError as exc:  # binascii.Error, or a non-ASCII str
        raise TusError(400, "the Upload-Checksum digest is not base64") from exc
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise TusError(400, f"the {algorithm} digest has the wrong length")
    return Checksum(algorithm, digest)


def safe_filename(name: str, *, limit: int = 150) -> str:
    """A file name safe as the last component of a store key: no directories, no
    control or separator characters, no leading dot (hidden names are skipped by
    listings), at most ``limit`` characters with the extension kept. ValueError if
    nothing usable is left."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    name = posixpath.basename(name)
    cleaned = "".join(
        "_" if unicodedata.category(ch).startswith("C") or ch in '/:*?"<>|' else ch for ch in name
    )
    cleaned = cleaned.strip().lstrip(".").strip()
    stem, ext = posixpath.splitext(cleaned)
    if len(ext) > 16:  # not an extension worth keeping whole
        stem, ext = cleaned, ""
    stem = stem[: max(1, limit - len(ext))].rstrip()
    if not stem or stem in (".", ".."):
        raise ValueError(f"file name {name!r} has nothing usable left")
    return stem + ext
