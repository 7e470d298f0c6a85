"""What to answer for a window of an object: the media routes' pure planner.

A response serves a :class:`Window`: a whole object, or a byte window of one (an HLS
segment is a window of its rendition file). Given the request's method and fields, the
window and the object's state, :func:`plan_response` decides the status, the header fields
and either a ready body (304, 412, 416, HEAD) or the byte ranges a GET sends. Ranges,
validators and lengths are those of the window. Nothing here sends, counts or reads, so
the immediate path and the ASGI path of streamer.routes.media share it, and tests call it
as a function.

If the object changed under the state it was given, nothing has been sent yet and::

    WindowStale    an exact window's object has another version, or is shorter than the
                   window: the caller looks the window up again (streamer.routes.hls)
    StateChanged   the object's cached state is out of date: the caller answers again
                   from fresh state
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from streamer.http import (
    ByteRange,
    MalformedRange,
    RangeNotSatisfiable,
    evaluate_preconditions,
    format_http_date,
    if_range_allows,
    parse_range,
)
from streamer.http.multipart import MultipartPlan, make_boundary
from streamer.routes.media_cors import Cors
from streamer.routes.media_files import ObjectState
from streamer.routes.problems import problem_reply

__all__ = ["Plan", "StateChanged", "Window", "WindowStale", "plan_response"]


@dataclass(frozen=True, slots=True)
class Window:
    """What one response serves: ``length`` bytes of object ``key`` from ``offset``.

    ``length`` None means to the end of the object. The strong ETag is ``etag`` while the
    object still has ``version``, else the object's current version. ``exact`` windows (a
    segment located by an index of that version) are only valid for ``version``: if the
    object has another, MediaEndpoint.serve raises :class:`WindowStale` before
    anything is sent.
    """

    key: str
    content_type: str
    version: str
    etag: str | None = None
    offset: int = 0
    length: int | None = None
    exact: bool = False
    cache_control: bytes | None = None  # None: the media Cache-Control
    # A channel's segment: the decode time its fragment is served with (packager.retime).
    retime: int | None = None


class WindowStale(Exception):
    """The object no longer has the version an exact window was computed for."""


@dataclass(slots=True)
class Plan:
    """A response decided by :func:`plan_response`: a ready ``body``, or the ``segments``
    (multipart framing and byte ranges of the window) a GET sends."""

    status: int
    headers: list[tuple[bytes, bytes]]
    kind: str | None  # the range kind to count (None: not counted, as for a 412)
    body: bytes | None = None
    segments: list[tuple[bytes, ByteRange | None]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(part.length for _, part in self.segments if part is not None)


class StateChanged(Exception):
    """The object changed before the status line went out: answer again from fresh state."""


def plan_response(
    method: str,
    headers: dict[str, str],
    cors: Cors,
    window: Window,
    state: ObjectState,
    cache_control: bytes,
    max_ranges: int,
) -> Plan:
    """What to answer for ``window`` of the object in ``state``: status, fields and
    either a ready body (304, 412, 416, HEAD) or the byte ranges a GET sends.

    ``cache_control`` is the media routes' Cache-Control (a window may name its own) and
    ``max_ranges`` the most ranges one request may ask for.

    Pure: nothing is sent or counted, so the immediate path (MediaEndpoint.answer_now)
    and the ASGI path share it. Raises WindowStale or StateChanged if the object changed."""
    current = state.version == window.version
    if window.exact and not current:
        raise WindowStale(window.key)
    if window.length is None:
        size = state.size - window.offset
    elif window.offset + window.length <= state.size:
        size = window.length
    else:  # the object is shorter than the window: it changed under its index
        raise WindowStale(window.key) if window.exact else StateChanged
    token = window.etag if current and window.etag else state.version
    etag = f'"{token}"'
    cache_control = window.cache_control or cache_control
    # Never claim a modification time in the future (RFC 9110 section 8.8.2.1).
    last_modified = min(int(state.mtime), int(time.time()))
    validators = [
        (b"etag", etag.encode("latin-1")),
        (b"last-modified", format_http_date(last_modified).encode()),
        (b"accept-ranges", b"bytes"),
        *cors,
    ]
    # Only successful responses get the long-lived Cache-Control; a 412 or 416 must not
    # be kept by a CDN as if it were the file.
    base = [(b"cache-control", cache_control), *validators]
    outcome = evaluate_preconditions(method, headers, etag, last_modified)
    if outcome == 304:
        # A 304 carries the validator and caching fields, not representation metadata
        # such as Last-Modified when an ETag is present (RFC 9110 section 15.4.5).
        not_modified = [
            (b"cache-control", cache_control),
            (b"etag", etag.encode("latin-1")),
            *cors,
        ]
        return Plan(304, not_modified, "none", body=b"")
    if outcome == 412:
        return problem_plan(412, "a precondition failed", validators, None)

    ranges: Sequence[ByteRange] | None = None
    range_header = headers.get("range")
    kind = "none"
    if range_header is not None and method == "GET":
        if if_range_allows(headers.get("if-range"), etag, last_modified):
            try:
                ranges = parse_range(range_header, size, max_ranges=max_ranges)
                kind = "single" if len(ranges) == 1 else "multi"
            except MalformedRange:
                kind = "ignored"
            except RangeNotSatisfiable:
                return problem_plan(
                    416,
                    "range not satisfiable",
                    [(b"content-range", f"bytes */{size}".encode()), *validators],
                    "unsatisfiable",
                )
        else:
            kind = "ignored"
    content_type = window.content_type.encode("latin-1")

    if ranges is None:
        response_headers = [
            (b"content-type", content_type),
            (b"content-length", str(size).encode()),
            *base,
        ]
        segments: list[tuple[bytes, ByteRange | None]] = (
            [(b"", ByteRange(0, size - 1))] if size else []
        )
        status = 200
    elif len(ranges) == 1:
        only = ranges[0]
        response_headers = [
            (b"content-type", content_type),
            (b"content-length", str(only.length).encode()),
            (b"content-range", only.content_range(size).encode()),
            *base,
        ]
        segments = [(b"", only)]
        status = 206
    else:
        plan = MultipartPlan(ranges, window.content_type, size, make_boundary())
        response_headers = [
            (b"content-type", plan.content_type.encode("latin-1")),
            (b"content-length", str(plan.content_length).encode()),
            *base,
        ]
        segments = [(head, part) for head, part in plan.parts]
        segments.append((plan.closing, None))
        status = 206
    if method != "GET":
        return Plan(status, response_headers, kind, body=b"")
    return Plan(status, response_headers, kind, segments=segments)


def problem_plan(
    status: int, detail: str, headers: list[tuple[bytes, bytes]], kind: str | None
) -> Plan:
    reply = problem_reply(status, detail, headers)
    return Plan(status, reply.headers, kind, body=bytes(reply.body))
