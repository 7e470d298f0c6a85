"""Shared type aliases (ASGI), as starlette/types.py does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

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

    @property
    def length(self) -> int:
        return self.file[2] if self.file is not None else len(self.body)


# Answers a GET or HEAD from memory and the page cache, or returns None for the ASGI path.
AnswerNow = Callable[[Scope], Reply | None]

# Lifespan state the app hands to the server's protocol (streamer.serving): here, so the
# app names them without importing the protocol (and uvicorn's internals with it).
SEND_BUFFER_STATE = "streamer.socket_send_buffer"
SHUTDOWN_STATE = "streamer.shutdown"  # an asyncio.Event set when the server shuts down
ANSWER_NOW_STATE = "streamer.answer_now"  # an AnswerNow: immediate answers (streamer.serving)
REQUEST_LIMITS_STATE = "streamer.request_limits"  # a RequestLimits (streamer.request_limits)
