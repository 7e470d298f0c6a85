"""How uvicorn runs the app: the HTTP protocol with smaller write buffers.

A response waits for the client whenever the connection's write buffer is above its
high-water mark (uvicorn's flow control). asyncio and uvloop default that mark to 64 KiB,
and a connection to a slow reader keeps about that much in the process. With a thousand
slow listeners that is most of a worker's memory, so the mark is lowered: the kernel's
socket buffer (which does not count against the process) still absorbs bursts, so fast
clients lose nothing measurable.

The kernel's send buffer is capped too (nginx's ``listen ... sndbuf=``): on a fast link
Linux grows it to megabytes per connection, so a thousand new listeners each take a burst of
megabytes before flow control holds them back, and new requests wait behind those bursts
(first byte p99 3.9 s against 0.35 s with the cap, 1,000 slow readers on 2 workers).
The app's lifespan state names the size (``SEND_BUFFER_STATE``); 0 leaves the kernel's
autotuning alone.

Writes made in one step of the event loop leave in one send. uvicorn writes a response's
status line and headers, then its body, with two ``transport.write`` calls, and with
TCP_NODELAY on (as it must be: nginx's ``tcp_nopush`` stalls ranges 40 ms) each is its own
send() and its own TCP segment. On loopback the sender pays for the receiver's side of
each segment too, so a small response cost two of everything: profiles showed 28 % of a
worker's time in those two writes. :class:`CoalescingTransport` holds a small write (a
header block) until the end of the current loop step; a second write in that step leaves
with it in one ``writelines`` (one writev under uvloop, no copy). Larger writes are never
held: flow control must see streamed chunks at once, or a slow reader would not be paused
before the next chunk is read.

Immediate answers. Most of a small response's cost on the ASGI path is the path itself: a
task per request, the scope's trip through middleware and endpoint coroutines, and the
validation of every header in ``send``. When the app offers an :data:`AnswerNow`
(``ANSWER_NOW_STATE``), a GET or HEAD is first offered to it as soon as its headers are
parsed; it answers only when everything is in memory (the track's entry, its open file,
bytes the page cache holds) and otherwise returns None without side effects, and the ASGI
path takes the request as usual. A reply is written in one go and the request cycle is
finished as uvicorn would finish it (keep-alive, pipelining, ``connection: close``). The
answer itself comes from the same code as the ASGI path's (MediaEndpoint._plan), is
observed the same way (request id, metrics, access log), and sees the client that uvicorn's
proxy-headers middleware would give the app.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from streamer.types import AnswerNow, ASGIApp, Receive, Reply, Scope, Send

WRITE_BUFFER_HIGH = 16 * 1024
WRITE_BUFFER_LOW = 4 * 1024
SEND_BUFFER_STATE = "streamer.socket_send_buffer"
SHUTDOWN_STATE = "streamer.shutdown"  # an asyncio.Event set when the server shuts down
ANSWER_NOW_STATE = "streamer.answer_now"  # an AnswerNow: immediate answers (module docstring)
HOLD_MAX = 8 * 1024  # largest write held back to join the next one (headers are ~0.5 KB)


class CoalescingTransport:
    """A transport whose writes in one event-loop step go out together (module docstring).

    Everything but writing and closing is the wrapped transport's. Order is kept: a held
    write leaves before, or together with, anything written after it.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | bytearray | memoryview | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif len(data) <= HOLD_MAX:
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.flush()
        self._transport.writelines(list_of_data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            # The connection may have been lost since the write was held: uvloop raises
            # on a write to a closed handle, and the bytes could not be delivered anyway.
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held is not None else 0)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class StreamerHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a 16 KiB write-buffer high-water mark, the
    kernel send buffer the app asks for, writes coalesced per loop step, immediate
    answers, and a shutdown signal for endless responses."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        send_buffer = self.app_state.get(SEND_BUFFER_STATE, 0)
        sock = transport.get_extra_info("socket")
        if send_buffer and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        answer_now = self.app_state.get(ANSWER_NOW_STATE)
        self._answer_now: AnswerNow | None = answer_now if callable(answer_now) else None
        self._forwarded = _forwarded_client(self.app)
        self._raw: socket.socket | None = None
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        answer_now = self._answer_now
        # Not when uvicorn substituted its 503 app (limit_concurrency).
        if answer_now is not None and app is self.app and cycle.scope["method"] in _IMMEDIATE:
            scope: Scope = cycle.scope  # type: ignore[assignment]
            if self._forwarded is not None:
                # A copy: the ASGI path, if it answers instead, rewrites the original.
                scope = dict(scope)
                self._forwarded(scope)
            reply = answer_now(scope)
            if reply is not None:
                self._write_reply(cycle, reply)
                return
        super()._start_asgi_task(cycle, app)

    def _write_reply(self, cycle: RequestResponseCycle, reply: Reply) -> None:
        """Send a whole response at once and finish the cycle as uvicorn would."""
        head = [STATUS_LINE[reply.status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        for name, value in reply.headers:
            head += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive:
            # A server that closes the connection says so (RFC 9112 section 9.6).
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        cycle.response_started = True
        if cycle.scope["method"] == "HEAD":
            self.transport.write(b"".join(head))
        elif reply.file is not None:
            if not self._send_file(b"".join(head), *reply.file):
                self.transport.abort()  # fewer bytes than promised: never a short body
                return
        else:
            head.append(reply.body)  # type: ignore[arg-type]
            self.transport.write(b"".join(head))
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def _send_file(self, head: bytes, fd: int, offset: int, count: int) -> bool:
        """Send ``head`` then ``count`` bytes of ``fd`` from ``offset``; False if the file
        had fewer. With nothing queued in the transport, straight on the socket: the head
        with MSG_MORE (one segment with the body's start) and the body with sendfile, so
        it is never copied through Python. Whatever the socket does not take at once, and
        everything when the transport holds data, goes through the transport in order."""
        transport = self.transport
        sock = self._socket() if transport.get_write_buffer_size() == 0 else None
        if sock is not None:
            try:
                sent = sock.send(head, socket.MSG_MORE)
                head = head[sent:]
                done = os.sendfile(sock.fileno(), fd, offset, count) if not head else 0
            except (BlockingIOError, InterruptedError):
                done = 0  # the socket is full: the transport queues the rest
            except OSError:
                transport.abort()  # the client is gone (reset, broken pipe)
                return True
            offset, count = offset + done, count - done
        # What is left (a file that shrank gives 0 at its end, and the read tells): from
        # the page cache, whose holding the body's end the caller checked.
        rest = os.pread(fd, count, offset) if count else b""
        if len(rest) != count:
            return False
        if head or rest:
            transport.writelines((head, rest))
        return True

    def _socket(self) -> socket.socket | None:
        """The connection's socket as a Python object over the transport's descriptor (not
        a copy: detached when the connection is lost), for send flags and sendfile."""
        if self._raw is None:
            raw = self.transport.get_extra_info("socket")
            if raw is None:  # pragma: no cover - every TCP transport has one
                return None
            self._raw = socket.socket(raw.family, raw.type, raw.proto, raw.fileno())
            self._raw.setblocking(False)  # it is already; this tells Python
        return self._raw

    def connection_lost(self, exc: Exception | None) -> None:
        if self._raw is not None:
            self._raw.detach()  # the transport owns the descriptor and closes it
            self._raw = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is shutting down: tell endless responses (module docstring)."""
        signal = self.app_state.get(SHUTDOWN_STATE)
        if isinstance(signal, asyncio.Event):
            signal.set()
        super().shutdown()


_IMMEDIATE = frozenset({"GET", "HEAD"})


async def _answered(_scope: Scope, _receive: Receive, _send: Send) -> None:
    return None


def _forwarded_client(app: ASGIApp) -> Callable[[Scope], None] | None:
    """When uvicorn trusts proxy headers, the same rewrite of a scope's client and scheme
    for immediate answers (their access lines name the real client): uvicorn's own
    middleware around an app that returns at once, run to completion without a loop."""
    if not isinstance(app, ProxyHeadersMiddleware):
        return None
    proxy = ProxyHeadersMiddleware(_answered)  # type: ignore[arg-type]
    proxy.trusted_hosts = app.trusted_hosts

    def rewrite(scope: Scope) -> None:
        step = proxy(scope, None, None)  # type: ignore[arg-type]
        try:
            step.send(None)
        except StopIteration:
            return
        step.close()  # pragma: no cover - it never waits
        raise RuntimeError("uvicorn's proxy headers middleware waited")  # pragma: no cover

    return rewrite
