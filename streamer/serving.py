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

Zero-copy bodies on the ASGI path. The protocol offers ASGI's zero-copy send extension
(``http.response.zerocopy`` in ``scope["extensions"]``): after ``http.response.start``,
``{"type": "http.response.zerocopy", "file": fd, "offset": o, "count": n}`` sends ``n``
bytes of the file with ``os.sendfile`` straight onto the socket, once what the transport
holds has left. When the socket is full it waits for it to become writable (a duplicate
of its descriptor watched by the loop, for uvloop owns the original), so a slow reader
costs no buffer in the process at all, and a fast one no copy through Python. A file
shorter than promised aborts the connection (never a short body); a client that left
ends the response quietly.
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

from streamer.page_cache import resident
from streamer.types import (
    ANSWER_NOW_STATE,
    SEND_BUFFER_STATE,
    SHUTDOWN_STATE,
    ZEROCOPY,
    AnswerNow,
    ASGIApp,
    Receive,
    Reply,
    Scope,
    Send,
    ShortFile,
)

WRITE_BUFFER_HIGH = 16 * 1024
WRITE_BUFFER_LOW = 4 * 1024
HOLD_MAX = 8 * 1024  # largest write held back to join the next one (headers are ~0.5 KB)
ZEROCOPY_SPAN = 1024 * 1024  # bytes of a zero-copy body checked for the page cache at once


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
        self._write_waiter: asyncio.Future[None] | None = None
        # sendfile writes the socket itself: never under TLS (uvicorn with ssl options).
        self._plain = transport.get_extra_info("sslcontext") is None
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
        if self._plain:
            cycle.scope.setdefault("extensions", {})[ZEROCOPY] = {}
            cycle.send = self._zerocopy_send(cycle)  # type: ignore[method-assign,assignment]
        super()._start_asgi_task(cycle, app)

    def _zerocopy_send(self, cycle: RequestResponseCycle) -> Send:
        """``cycle.send`` that also takes ``http.response.zerocopy`` (module docstring)."""
        send = cycle.send

        async def zerocopy_send(message: Any) -> None:
            if message["type"] != ZEROCOPY:
                await send(message)
                return
            if cycle.disconnected:
                return
            if not cycle.response_started or cycle.response_complete or cycle.chunked_encoding:
                raise RuntimeError("http.response.zerocopy needs a started Content-Length body")
            file = message["file"]
            fd = file if isinstance(file, int) else file.fileno()
            count = int(message["count"])
            if count > cycle.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            if cycle.scope["method"] != "HEAD" and count:
                outcome = await self._stream_file(fd, int(message["offset"]), count)
                if outcome is not None:
                    cycle.disconnected = True  # uvicorn's own sends now do nothing
                    if outcome == "short":
                        raise ShortFile(f"the file ended before {count} bytes were sent")
                    return
            cycle.expected_content_length -= count
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        return zerocopy_send

    async def _stream_file(self, fd: int, offset: int, count: int) -> str | None:
        """Send ``count`` bytes of ``fd`` from ``offset`` after what the transport holds.
        None when all went; "gone" (the client left) or "short" (the file ended), the
        connection then aborted."""
        transport = self.transport
        transport.flush()  # type: ignore[attr-defined]
        sock = self._socket()
        if sock is None:  # pragma: no cover - every TCP transport has one
            return "gone"
        watched = -1
        cached_to = offset  # the page cache holds the file up to here (as far as we know)
        end = offset + count
        try:
            # Bytes queued in the transport (the head, when the socket was full) go first.
            while transport.get_write_buffer_size():
                if transport.is_closing():
                    return "gone"
                watched = await self._writable(sock, watched)
            while count:
                if offset >= cached_to:
                    # sendfile must not wait for the disk on the loop: a span whose end is
                    # not cached is read once in a thread first (which caches it).
                    cached_to = min(end, offset + ZEROCOPY_SPAN)
                    if not resident(fd, cached_to - 1):
                        await asyncio.to_thread(os.pread, fd, cached_to - offset, offset)
                try:
                    sent = os.sendfile(sock.fileno(), fd, offset, cached_to - offset)
                except (BlockingIOError, InterruptedError):
                    watched = await self._writable(sock, watched)
                    continue
                except OSError:
                    transport.abort()  # the client is gone (reset, broken pipe)
                    return "gone"
                if sent == 0:
                    transport.abort()
                    return "short"
                offset += sent
                count -= sent
                if count:
                    await asyncio.sleep(0)  # one fast client must not hold the loop
        except ConnectionError:
            return "gone"
        finally:
            if watched >= 0:
                os.close(watched)
        return None

    async def _writable(self, sock: socket.socket, watched: int) -> int:
        """Until the socket can take more (or the connection is lost: ConnectionError).
        The loop watches a duplicate of the descriptor, made once per body: uvloop owns
        and watches the original."""
        if watched < 0:
            watched = os.dup(sock.fileno())
        waiter = self.loop.create_future()
        self._write_waiter = waiter
        self.loop.add_writer(watched, _wake, waiter)
        try:
            await waiter
        finally:
            self.loop.remove_writer(watched)
            self._write_waiter = None
        return watched

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
        plain_and_idle = self._plain and transport.get_write_buffer_size() == 0
        sock = self._socket() if plain_and_idle else None
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
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("the connection was lost"))
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


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


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
