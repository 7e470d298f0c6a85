"""The inputs of the packager: small frozen values, checked when they are made.

The streamer adapts its segment index (byte offset, size, duration of each fragment) to these
types; the packager never sees storage, a database or HTTP. Each value rejects, with
``ValueError``, anything that could not be written into a valid playlist, so a playlist
function only checks rules that span several values (an empty list, the protocol version).

Strings that end up in a playlist follow RFC 8216 §4.2: a quoted-string (EXT-X-MAP's URI,
CODECS) cannot hold a double quote, CR or LF, and a URI line (a segment, a variant) cannot hold
CR or LF, be empty or start with ``#`` (it would read as a tag or comment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check_quoted_string(value: str, what: str) -> None:
    if not value:
        raise ValueError(f"{what} is empty")
    if any(char in value for char in '"\r\n'):
        raise ValueError(f"{what} cannot contain a double quote, CR or LF: {value!r}")


def _check_uri_line(value: str, what: str) -> None:
    if not value or value != value.strip():
        raise ValueError(f"{what} is empty or has surrounding whitespace: {value!r}")
    if value.startswith("#"):
        raise ValueError(f"{what} starts with '#', so it would read as a tag: {value!r}")
    if any(char in value for char in "\r\n"):
        raise ValueError(f"{what} cannot contain CR or LF: {value!r}")


def _check_positive_int(value: int | None, what: str) -> None:
    # bool is an int subclass; True as a bandwidth is a bug, not 1 bit/s.
    if value is not None and (isinstance(value, bool) or value <= 0):
        raise ValueError(f"{what} must be a positive integer, not {value!r}")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A sub-range of a resource: ``length`` bytes starting at byte ``offset``.

    Written as ``<length>@<offset>`` (RFC 8216 §4.3.2.2); the offset is always written, so
    each segment reads on its own even where it directly follows the previous range.
    """

    length: int
    offset: int

    def __post_init__(self) -> None:
        if isinstance(self.length, bool) or self.length <= 0:
            raise ValueError(f"byte range length must be positive, not {self.length!r}")
        if isinstance(self.offset, bool) or self.offset < 0:
            raise ValueError(f"byte range offset must not be negative, not {self.offset!r}")

    def __str__(self) -> str:
        return f"{self.length}@{self.offset}"


@dataclass(frozen=True, slots=True)
class InitSection:
    """The Media Initialization Section (the fMP4 ``ftyp`` + ``moov``), an EXT-X-MAP."""

    uri: str
    byterange: ByteRange | None = None

    def __post_init__(self) -> None:
        _check_quoted_string(self.uri, "EXT-X-MAP URI")


@dataclass(frozen=True, slots=True)
class Segment:
    """One media segment (an fMP4 fragment) of a media playlist.

    ``duration`` is the fragment's exact duration in seconds (from its sample counts).
    ``discontinuity`` writes EXT-X-DISCONTINUITY before the segment (a join between tracks,
    an ad break); ``marks`` are tags about the segment written just before its EXTINF.
    ``init``, when given, is the initialization section from this segment on: an
    EXT-X-MAP is written before the segment if it differs from the one in effect.
    """

    duration: float
    uri: str
    byterange: ByteRange | None = None
    discontinuity: bool = False
    init: InitSection | None = None
    # Tags written before the segment's EXTINF (EXT-X-PROGRAM-DATE-TIME, EXT-X-DATERANGE).
    marks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not math.isfinite(self.duration) or self.duration <= 0:
            raise ValueError(f"segment duration must be finite and positive: {self.duration!r}")
        _check_uri_line(self.uri, "segment URI")
        for mark in self.marks:
            if not mark.startswith("#EXT-X-") or any(char in mark for char in "\r\n"):
                raise ValueError(f"a mark is one #EXT-X- tag on one line: {mark!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One variant stream of a master playlist: a rendition's media playlist.

    ``bandwidth`` is the peak segment bit rate and ``average_bandwidth`` the average one, in
    bits per second (RFC 8216 §4.3.4.2). ``codecs`` is the RFC 6381 list, such as
    ``"mp4a.40.2"``, ``"fLaC"`` or ``"Opus"``.

    ``name``, ``sample_rate`` and ``channels`` describe the rendition for callers; they are
    not written, because EXT-X-STREAM-INF has no such attributes (NAME and CHANNELS belong
    to EXT-X-MEDIA, and an unknown attribute is invalid).
    """

    uri: str
    bandwidth: int
    codecs: str
    average_bandwidth: int | None = None
    name: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        _check_uri_line(self.uri, "variant URI")
        _check_positive_int(self.bandwidth, "BANDWIDTH")
        _check_positive_int(self.average_bandwidth, "AVERAGE-BANDWIDTH")
        if self.average_bandwidth is not None and self.average_bandwidth > self.bandwidth:
            raise ValueError(
                f"AVERAGE-BANDWIDTH {self.average_bandwidth} exceeds the peak BANDWIDTH "
                f"{self.bandwidth}"
            )
        _check_quoted_string(self.codecs, "CODECS")
        if self.name is not None:
            _check_quoted_string(self.name, "variant name")
        _check_positive_int(self.sample_rate, "sample rate")
        _check_positive_int(self.channels, "channel count")
