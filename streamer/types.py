"""Shared type aliases (ASGI), as starlette/types.py does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# ASGI's zero-copy send extension: its scope["extensions"] key and its message type
# (streamer.serving offers it, MediaEndpoint sends it, ObserveMiddleware counts it).
ZEROCOPY = "http.response.zerocopy"


class ShortFile(Exception):
    """A zero-copy body's file ended before the bytes promised; the connection is
    aborted."""


# Where a cached answer's bytes came from: this process's memory, Redis (filled here or by
# another node), storage, or a fill from storage that another request here started
# (streamer.cache.segments answers with it; streamer.http.cache_status names it).
CacheSource = Literal["memory", "redis", "storage", "collapsed"]


@dataclass(slots=True)
class Reply:
    """A whole response decided without waiting (streamer.serving writes it at once)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | bytearray | memoryview
    # Or the body is this span of an open file, (fd, offset, count): sent with sendfile.
    file: tuple[int, int, int] | None = None
    # Set: the file span is long, and streamed after the head while the connection takes
    # it (streamer.serving); called once with the body bytes actually sent when it ends,
    # however it ends (to release the file, and to log and count what was delivered).
    done: Callable[[int], None] | None = None

    @property
    def length(self) -> int:
        return self.file[2] if self.file is not None else len(self.body)


# Answers a GET or HEAD from memory and the page cache, or returns None for the ASGI path.
AnswerNow = Callable[[Scope], Reply | None]

# Lifespan state the app hands to the server's protocol (streamer.serving): here, so the
# app names them without importing the protocol (and uvicorn's internals with it).
SEND_BUFFER_STATE = "streamer.socket_send_buffer"
# Connections of a worker that get that send buffer; the rest keep the kernel's autotuning.
SEND_BUFFER_CONNECTIONS_STATE = "streamer.socket_send_buffer_connections"
SHUTDOWN_STATE = "streamer.shutdown"  # an asyncio.Event set when the server shuts down
ANSWER_NOW_STATE = "streamer.answer_now"  # an AnswerNow: immediate answers (streamer.serving)
REQUEST_LIMITS_STATE = "streamer.request_limits"  # a RequestLimits (streamer.request_limits)


# What a request delivered, for analytics (contract D of issue 17). The media, HLS and live
# routes set it in the scope under DELIVERY_KEY once they know the representation they
# answer with; ObserveMiddleware hands it, with what was actually sent, to the injected
# recorder when the request finishes. Here, so routes and observe name it without
# importing streamer.analytics (a higher layer). Immutable and without an instance dict,
# as a frozen slotted dataclass would be, but a NamedTuple: it is built on the hot path
# for every media answer, and a frozen dataclass's __init__ (one object.__setattr__ per
# field) cost four times as much (docs/performance.md). Build it with positional or
# keyword arguments; change a copy with ``_replace``.
DeliveryKind = Literal["track", "playlist", "channel"]
LIVE_WINDOW = "live-window"  # Delivery.rendition of a channel's media playlist answer
DELIVERY_KEY = "streamer.delivery"


class Delivery(NamedTuple):
    """What a media or HLS answer is: a track (or a playlist's or channel's stream), which
    representation, and which part of it."""

    kind: DeliveryKind
    subject_id: str
    # "original", a rendition name, "playlist" for an .m3u8 answer, or LIVE_WINDOW for a
    # channel's media playlist (a listener's player polling the live window).
    rendition: str
    # The HLS segment number (-1 for an init section); None for anything else.
    segment: int | None = None
    # Inclusive byte offsets into the representation; None for the whole body.
    range_start: int | None = None
    range_end: int | None = None
    # Size of the whole representation (the file, or the segment of a segment URL).
    total_bytes: int | None = None
    # Seconds of audio in the whole representation (0 for an init section), when known.
    duration: float | None = None


# Called by ObserveMiddleware once per finished request that carried a Delivery:
# (delivery, status, body bytes sent, the request's header list, scope["client"]). It must
# not block or raise: it only appends to a bounded buffer (streamer.analytics.capture),
# and everything derived from the headers and the address is worked out when the buffer
# is flushed, off the event loop.
DeliveryRecorder = Callable[
    [Delivery, int, int, list[tuple[bytes, bytes]], tuple[str, int] | None], None
]
