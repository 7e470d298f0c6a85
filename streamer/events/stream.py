"""The response of GET /api/v1/events: one client's server-sent event stream.

It runs until the client leaves (``http.disconnect``), the server shuts down (the
protocol's shutdown signal, ``streamer.types.SHUTDOWN_STATE``: uvicorn waits for open
responses before it stops, so an endless one must end by itself), or the caller's
credentials stop being valid (checked again with every heartbeat).

What it holds per client is one page of events at a time: it reads the next page only
after the previous one was handed to the server, which waits for the client to take it
(uvicorn's flow control), so a slow reader falls behind in the table, not in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from streamer.auth.access import Principal
from streamer.events import sse
from streamer.events.hub import EventHub, StoredEvent
from streamer.types import Message, Receive, Scope, Send

__all__ = ["EventStream", "visible_to"]

logger = logging.getLogger("streamer.events")

# The caller's principal again, or None once its credentials are no longer valid.
Recheck = Callable[[], Awaitable[Principal | None]]


def visible_to(principal: Principal, event: StoredEvent) -> bool:
    """Events of a library go to those who may read it; others to admins only."""
    if event.library_id is None:
        return principal.is_admin
    return principal.allows(event.library_id, "read")


class EventStream(Response):
    """text/event-stream of the events after ``last_id`` (see the module docstring)."""

    media_type = "text/event-stream"
    page_size = 200  # events per read and per write
    finish_timeout = 1.0  # seconds to end the response cleanly at shutdown

    def __init__(
        self,
        hub: EventHub,
        principal: Principal,
        recheck: Recheck,
        *,
        last_id: int | None,
        invalid_id: bool = False,
        heartbeat_seconds: float = 15.0,
        retry_seconds: float = 3.0,
        shutdown: asyncio.Event | None = None,
        on_open: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(
            status_code=200,
            media_type=self.media_type,
            headers={
                "Cache-Control": "no-store",
                # nginx and similar proxies must pass each event on at once.
                "X-Accel-Buffering": "no",
            },
        )
        # Endless: no Content-Length (Response adds one for its empty body).
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.hub = hub
        self.principal = principal
        self.recheck = recheck
        self.last_id = last_id
        self.invalid_id = invalid_id
        self.heartbeat_seconds = heartbeat_seconds
        self.retry_ms = round(retry_seconds * 1000)
        self.shutdown = shutdown
        self.on_open = on_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers,
            }
        )
        left = asyncio.Event()
        async with self.hub.open_stream():
            tasks: list[asyncio.Task[Any]] = [
                asyncio.create_task(self._watch(receive, left), name="events-disconnect"),
                asyncio.create_task(self._pump(send), name="events-pump"),
            ]
            if self.shutdown is not None:
                tasks.append(asyncio.create_task(self.shutdown.wait(), name="events-shutdown"))
            if self.on_open is not None:
                self.on_open(1)
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if self.on_open is not None:
                    self.on_open(-1)
        pump = tasks[1]
        if pump in done and not pump.cancelled() and pump.exception() is not None:
            logger.error("live event stream failed", exc_info=pump.exception())
        if not left.is_set():
            # Shutting down, credentials gone, or a failure: end the response properly so
            # the connection closes now (the client reconnects to another worker).
            end: Message = {"type": "http.response.body", "body": b"", "more_body": False}
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.finish_timeout):
                    await send(end)

    async def _watch(self, receive: Receive, left: asyncio.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                left.set()
                return

    async def _pump(self, send: Send) -> None:
        async def write(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        hub = self.hub
        if self.invalid_id:
            start = await hub.resume_point(None)
            reset = True
        else:
            start = await hub.resume_point(self.last_id)
            reset = start.reset
        cursor = start.cursor
        if reset:
            await write(f"retry: {self.retry_ms}\n".encode() + _reset(cursor))
        else:
            await write(sse.position(cursor, retry_ms=self.retry_ms))
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.heartbeat_seconds
        principal = self.principal
        while True:
            if loop.time() >= next_beat:
                # Are the credentials still good, and what may they read now? (Checked
                # even while events flow.) Then a comment, which keeps proxies from
                # closing an idle stream and tells the client where it stands.
                renewed = await self.recheck()
                if renewed is None:
                    return
                principal = renewed
                await write(sse.comment("ping", event_id=cursor))
                next_beat = loop.time() + self.heartbeat_seconds
            batch = await hub.after(cursor, self.page_size)
            if batch.reset:
                cursor = batch.cursor
                await write(_reset(cursor))
                continue
            if batch.events:
                cursor = batch.cursor
                chunk = b"".join(
                    sse.message(e.id, e.type, e.data)
                    for e in batch.events
                    if visible_to(principal, e)
                )
                if chunk:
                    await write(chunk)
                continue
            await hub.wait(cursor, next_beat - loop.time())


def _reset(cursor: int) -> bytes:
    """Tell the client to reload everything, and that it stands at ``cursor`` now."""
    return sse.message(cursor, "reset", {"reason": "the events since your last one are gone"})
