"""Byte range requests (RFC 9110 §14.1-14.2), as pure parsing.

    RangeError
    ├── MalformedRange       ignore the Range header and send 200 with the whole representation
    └── RangeNotSatisfiable  send 416 with ``Content-Range: bytes */<size>``

The route turns these exceptions into responses; nothing here does I/O.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

__all__ = [
    "ByteRange",
    "MalformedRange",
    "RangeError",
    "RangeNotSatisfiable",
    "parse_range",
    "unsatisfied_content_range",
]

# A digit string longer than this names a position beyond any file: 19 digits already exceed
# the largest off_t (2**63 - 1). Such numbers saturate instead of going through int(), so an
# absurd header costs no big-integer work and never hits int()'s 4300-digit limit.
_MAX_DIGITS = 19
_HUGE = 2**64
_MAX_SIZE = 2**63 - 1
_DIGITS = frozenset("0123456789")
# One int-range in canonical spelling; 18 digits stay below _MAX_DIGITS (no saturation).
_SIMPLE = re.compile(r"bytes=([0-9]{1,18})-([0-9]{0,18})").fullmatch


class RangeError(Exception):
    """A Range header field cannot be honoured as it is."""


class MalformedRange(RangeError):
    """The Range header must be ignored: the caller sends 200 and the whole representation.

    Raised for bad syntax, a range unit other than ``bytes``, more range-specs than the server
    accepts, and any Range on a zero-length representation.
    """


class RangeNotSatisfiable(RangeError):
    """No requested range overlaps the representation: the caller sends 416."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no satisfiable range in a representation of {size} bytes")
        self.size = size

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` value a 416 response carries (RFC 9110 §15.5.17)."""
        return unsatisfied_content_range(self.size)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A satisfiable byte range; ``end`` is inclusive, as in ``Content-Range``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid byte range {self.start}-{self.end}")

    @property
    def length(self) -> int:
        """The number of bytes in the range."""
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` value of this range: ``bytes start-end/size``."""
        return f"bytes {self.start}-{self.end}/{size}"


def unsatisfied_content_range(size: int) -> str:
    """The ``Content-Range`` value of a 416 response: ``bytes */size``."""
    return f"bytes */{size}"


def parse_range(header: str, size: int, *, max_ranges: int = 16) -> list[ByteRange]:
    """Parse a ``Range`` field value for a representation of ``size`` bytes.

    Grammar (RFC 9110 §14.1.1, §14.2)::

        Range        = range-unit "=" range-set        ; unit compared case-insensitively
        range-set    = 1#range-spec                    ; OWS around commas, empty elements ok
        range-spec   = int-range / suffix-range
        int-range    = first-pos "-" [ last-pos ]      ; last-pos < first-pos is invalid
        suffix-range = "-" suffix-length

    Positions are ``1*DIGIT``: no signs and no spaces inside a spec. Whitespace around the whole
    value is field-value OWS and is ignored; whitespace around ``=`` is not in the grammar.

    Satisfiability (§14.1.3): an int-range is satisfiable when first-pos < size, and its
    last-pos is clamped to ``size - 1``; a suffix-range is satisfiable when its length is not
    zero, and one longer than the representation selects all of it. Unsatisfiable specs are
    dropped; if none is left, :class:`RangeNotSatisfiable` is raised.

    The result is coalesced: ranges that overlap or touch are merged (§14.2 allows it), so the
    payload of a 206 never exceeds ``size`` bytes however the ranges overlap. Parts keep the
    order in which the request first asked for them, as §14.2 says a server SHOULD; a merged
    range takes the place of its earliest member. In the usual ascending request this is
    simply the sorted list.

    Choices where the RFC leaves room (a server MAY ignore Range at any time, §14.2):

    * More than ``max_ranges`` non-empty range-specs raise :class:`MalformedRange`, so the
      caller sends 200 (as nginx's ``max_ranges`` and Apache's fix for CVE-2011-3192 do).
      Together with coalescing this bounds a multipart response to ``size`` bytes of payload
      plus at most ``max_ranges`` part headers, so no check on the sum of the requested
      lengths (nginx's rule) is needed: overlapping requests cost nothing extra.
    * On a zero-length representation every Range raises :class:`MalformedRange`: there is no
      byte to select, and a suffix-range would produce a 206 whose ``Content-Range`` cannot be
      written. A 200 with an empty body is the useful answer.
    """
    if size < 0 or size > _MAX_SIZE:
        raise ValueError(f"representation size out of range: {size}")
    simple = _SIMPLE(header)
    if simple is not None and size and max_ranges > 0:
        # Fast path for what players send nearly always ("bytes=a-" or "bytes=a-b"); it
        # gives exactly what the general parser below gives (tested side by side).
        start = int(simple[1])
        stop = size - 1
        if simple[2]:
            stop = int(simple[2])
            if stop < start:
                raise MalformedRange(f"last-pos before first-pos in {header!r}")
        if start >= size:
            raise RangeNotSatisfiable(size)
        return [ByteRange(start, min(stop, size - 1))]
    unit, eq, range_set = header.strip(" \t").partition("=")
    if not eq:
        raise MalformedRange("no '=' after the range unit")
    if unit.lower() != "bytes":
        # An unknown unit (or a unit with spaces in it) must be ignored (RFC 9110 §14.2).
        raise MalformedRange(f"unsupported range unit {unit!r}")

    specs: list[tuple[int | None, int | None]] = []
    for element in range_set.split(","):
        element = element.strip(" \t")
        if not element:
            continue  # empty list elements are allowed by the #rule (RFC 9110 §5.6.1.2)
        if len(specs) == max_ranges:
            raise MalformedRange(f"more than {max_ranges} ranges")
        specs.append(_parse_spec(element))
    if not specs:
        raise MalformedRange("empty range-set")
    if size == 0:
        raise MalformedRange("a zero-length representation has no byte ranges")

    requested: list[ByteRange] = []
    for first, last in specs:
        if first is None:
            assert last is not None
            if last == 0:
                continue  # suffix-length 0 selects nothing
            requested.append(ByteRange(max(size - last, 0), size - 1))
        elif first < size:
            end = size - 1 if last is None else min(last, size - 1)
            requested.append(ByteRange(first, end))
    if not requested:
        raise RangeNotSatisfiable(size)
    return _coalesce(requested)


def _parse_spec(spec: str) -> tuple[int | None, int | None]:
    """Parse one range-spec into (first-pos, last-pos); first-pos None means a suffix-range."""
    first_text, dash, last_text = spec.partition("-")
    if not dash:
        raise MalformedRange(f"range-spec without '-': {spec!r}")
    if not first_text:
        return None, _parse_pos(last_text, spec)
    first = _parse_pos(first_text, spec)
    if not last_text:
        return first, None
    last = _parse_pos(last_text, spec)
    if last < first:
        raise MalformedRange(f"last-pos before first-pos in {spec!r}")
    return first, last


def _parse_pos(text: str, spec: str) -> int:
    """Parse ``1*DIGIT``, saturating numbers too large to be a file position."""
    # str.isdigit() also accepts non-ASCII digits such as '²', which int() then rejects.
    if not text or not _DIGITS.issuperset(text):
        raise MalformedRange(f"not a byte position in {spec!r}")
    digits = text.lstrip("0") or "0"
    return _HUGE if len(digits) > _MAX_DIGITS else int(digits)


def _coalesce(requested: list[ByteRange]) -> list[ByteRange]:
    """Merge overlapping and adjacent ranges, ordered by where the request first named them."""
    merged: list[ByteRange] = []
    for r in sorted(requested, key=lambda r: r.start):
        if merged and r.start <= merged[-1].end + 1:
            if r.end > merged[-1].end:
                merged[-1] = ByteRange(merged[-1].start, r.end)
        else:
            merged.append(r)
    if len(merged) == 1:
        return merged
    starts = [m.start for m in merged]
    ordered: list[ByteRange] = []
    seen: set[int] = set()
    for r in requested:
        index = bisect.bisect_right(starts, r.start) - 1
        if index not in seen:
            seen.add(index)
            ordered.append(merged[index])
    return ordered
