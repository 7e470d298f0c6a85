"""The media routes' bodies: whole at once when the bytes are at hand, else streamed.

A body is the ``segments`` of a :class:`~streamer.routes.media_plan.Plan`: multipart
framing and byte ranges of a window. :func:`body_at_once` gives the whole body when it is
ready, in the segment cache's copy of the window, or a small read the page cache holds;
:func:`sendfile_span` picks a body worth sending with sendfile; otherwise
:func:`stream_window` reads bounded chunks (paced by :class:`Pace`) that :func:`send_body`
sends while watching for the client leaving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence

from streamer.errors import ObjectChanged
from streamer.http import ByteRange
from streamer.page_cache import read_chunk, read_inline, resident
from streamer.routes.media_files import ObjectState
from streamer.routes.media_plan import Plan, StateChanged, Window
from streamer.storage import ObjectStore
from streamer.types import Receive, Send

__all__ = [
    "SENDFILE_MIN",
    "Pace",
    "body_at_once",
    "read_cached",
    "send_body",
    "sendfile_span",
    "single_range",
    "slice_window",
    "stream_window",
]

logger = logging.getLogger("streamer.media")

# Smallest immediate body sent with sendfile rather than copied: below it the copy costs
# less than the extra system call (measured: 60 KB went from 29k to 50k req/s a worker).
SENDFILE_MIN = 16 * 1024


def body_at_once(
    plan: Plan, window: Window, state: ObjectState, data: bytes | None, inline_read_max: int
) -> bytes | bytearray | memoryview | None:
    """The whole body when it is at hand: a ready one, a slice of the cached window
    ``data``, or a small local read the page cache holds (read before the status line
    so that a short read can still be answered afresh). None: it must be streamed."""
    if plan.body is not None:
        return plan.body
    if data is not None:
        return slice_window(data, plan.segments)
    if state.fd >= 0 and plan.total <= inline_read_max:
        return read_cached(state.fd, plan.segments, window.offset)
    return None


def read_cached(
    fd: int, segments: Sequence[tuple[bytes, ByteRange | None]], offset: int
) -> bytes | bytearray | None:
    """The body of ``segments`` of a window at ``offset`` of file ``fd`` when the page cache
    holds all of it, else None. Raises StateChanged if the file is shorter than promised."""
    only = single_range(segments)
    if only is not None:  # the common case: one range, no multipart framing
        data = read_inline(fd, offset + only.start, only.length)
        if data is not None and len(data) != only.length:
            raise StateChanged
        return data
    parts: list[bytes | bytearray] = []
    for head, part in segments:
        parts.append(head)
        if part is not None:
            data = read_inline(fd, offset + part.start, part.length)
            if data is None:
                return None
            if len(data) != part.length:
                raise StateChanged
            parts.append(data)
    return b"".join(parts)


async def send_body(
    receive: Receive,
    send: Send,
    first: list[bytes | bytearray],
    chunks: AsyncIterator[bytes | bytearray],
    pace: Pace,
) -> None:
    """Send ``first`` (a one-chunk list this empties) and then ``chunks``, at the client's
    pace; stop reading when the client leaves. Raises ObjectChanged, having sent part of
    the body, if the object changed under it: the server aborts the connection."""
    disconnected = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected.set()

    watcher = asyncio.create_task(watch())
    try:
        chunk = first.pop()
        while chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            # An empty body message waits while the server's write buffer is above its
            # high-water mark (uvicorn's flow control). Waiting *before* reading the
            # next chunk bounds what a slow reader holds to about one chunk, and the
            # wait tells the client's pace: slow readers get small chunks, fast ones big.
            started = time.perf_counter()
            await send({"type": "http.response.body", "body": b"", "more_body": True})
            waited = time.perf_counter() - started > 0.0005
            pace.adjust(waited=waited)
            if disconnected.is_set():
                return  # the client left: stop reading
            if not waited:
                # A send that did not wait never yielded to the loop: yield now, or one
                # fast connection would stream megabytes before new requests get a turn.
                await asyncio.sleep(0)
            chunk = await anext(chunks, b"")
        await send({"type": "http.response.body", "body": b""})
    except ObjectChanged:
        # Headers promised a length we can no longer honour: abort the connection
        # rather than end a short body as if it were complete.
        logger.warning("object changed mid-response; aborting the connection")
        raise
    finally:
        watcher.cancel()


async def stream_window(
    store: ObjectStore,
    window: Window,
    state: ObjectState,
    segments: Sequence[tuple[bytes, ByteRange | None]],
    pace: Pace,
    chunk_size: int,
) -> AsyncGenerator[bytes | bytearray]:
    for head, part in segments:
        if head:
            yield head
        if part is None:
            continue
        if state.fd >= 0:
            position = window.offset + part.start
            end = window.offset + part.end + 1
            while position < end:
                n = min(pace.size, end - position)
                data = read_inline(state.fd, position, n)
                if data is None:
                    data = await asyncio.to_thread(read_chunk, state.fd, position, n)
                if len(data) != n:
                    raise ObjectChanged(window.key)
                position += n
                yield data
        else:
            stream = store.iter_range(
                window.key,
                window.offset + part.start,
                part.length,
                version=state.version,
                chunk_size=chunk_size,
            )
            try:
                async for data in stream:
                    yield data
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()


def single_range(segments: Sequence[tuple[bytes, ByteRange | None]]) -> ByteRange | None:
    """The one byte range of a body that has no multipart framing, else None."""
    return segments[0][1] if len(segments) == 1 and not segments[0][0] else None


def sendfile_span(
    fd: int, segments: Sequence[tuple[bytes, ByteRange | None]], offset: int
) -> tuple[int, int, int] | None:
    """(fd, offset, count) of a body worth sending with sendfile: one range of at least
    SENDFILE_MIN bytes whose last byte the page cache holds (so the kernel's read will
    not wait for the disk, as read_inline promises for copies); else None."""
    only = single_range(segments)
    if only is None or only.length < SENDFILE_MIN:
        return None
    if not resident(fd, offset + only.end):
        return None
    return fd, offset + only.start, only.length


def stream_span(
    fd: int, segments: Sequence[tuple[bytes, ByteRange | None]], offset: int
) -> tuple[int, int, int] | None:
    """(fd, offset, count) of a one-range body, to be streamed by the protocol's zero-copy
    loop (which reads what the page cache lacks in a thread first); else None."""
    only = single_range(segments)
    if only is None or only.length == 0:
        return None
    return fd, offset + only.start, only.length


def slice_window(
    data: bytes, segments: Sequence[tuple[bytes, ByteRange | None]]
) -> bytes | memoryview:
    only = single_range(segments)
    if only is not None:
        if only.start == 0 and only.length == len(data):
            return data
        return memoryview(data)[only.start : only.end + 1]
    parts: list[bytes | memoryview] = []
    for head, part in segments:
        parts.append(head)
        if part is not None:
            parts.append(memoryview(data)[part.start : part.end + 1])
    return b"".join(parts)


class Pace:
    """The chunk size for one response.

    It starts small, doubles only after several sends in a row found the client keeping
    up, and halves whenever the client was slower than the server. Its ceiling is the
    worker's streaming budget shared by the responses streaming now: a stalled slow reader
    holds about one chunk, so a thousand listeners cost a bounded amount of memory while
    a few fast downloads still get big reads.
    """

    MIN_CHUNK = 16 * 1024
    GROW_AFTER = 4

    __slots__ = ("ceiling", "size", "streak")

    def __init__(self, ceiling: Callable[[], int]) -> None:
        self.ceiling = ceiling
        self.size = min(ceiling(), self.MIN_CHUNK)
        self.streak = 0

    def adjust(self, *, waited: bool) -> None:
        ceiling = self.ceiling()
        if waited:
            self.streak = 0
            self.size = max(min(self.MIN_CHUNK, ceiling), self.size // 2)
            return
        self.streak += 1
        if self.streak >= self.GROW_AFTER:
            self.streak = 0
            self.size = self.size * 2
        self.size = min(self.size, ceiling)
