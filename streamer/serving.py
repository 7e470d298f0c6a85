"""How uvicorn runs the app: the HTTP protocol with smaller write buffers.

A response waits for the client whenever the connection's write buffer is above its
high-water mark (uvicorn's flow control). asyncio and uvloop default that mark to 64 KiB,
and a connection to a slow reader keeps about that much in the process. With a thousand
slow listeners that is most of a worker's memory, so the mark is lowered: the kernel's
socket buffer (which does not count against the process) still absorbs bursts, so fast
clients lose nothing measurable.

The kernel's send buffer is fixed for a worker's first connections (nginx's ``listen ...
sndbuf=``), so that a few fast clients fill a long pipe without waking the loop often. A
crowd keeps the kernel's autotuning beyond that: 10,000 listeners with a fixed 256 KB
(Linux doubles it) would hold more than the kernel's TCP memory (``net.ipv4.tcp_mem``), and
under that pressure sockets poll writable yet take nothing, so first bytes waited seconds
(docs/performance.md has the figures). The app's lifespan state names the size
(``SEND_BUFFER_STATE``, 0 leaves autotuning alone) and for how many connections
(``SEND_BUFFER_CONNECTIONS_STATE``).

Writes made in one step of the event loop leave in one send. uvicorn writes a response's
status line and headers, then its body, with two ``transport.write`` calls, and with
TCP_NODELAY on (as it must be: nginx's ``tcp_nopush`` stalls ranges 40 ms) each is its own
send() and its own TCP segment. On loopback the sender pays for the receiver's side of
each segment too, so a small response cost two of everything (docs/performance.md has
the profile). :class:`CoalescingTransport` holds a small write (a
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
costs no buffer in the process at all, and a fast one no copy through Python. A socket
that polls writable but takes nothing (the kernel short of TCP memory, with thousands of
full send buffers) is retried with a back-off, not in a level-triggered spin. A file
shorter than promised aborts the connection (never a short body); a client that left
ends the response quietly.

Bounded requests (docs/http.md, streamer.request_limits; nginx's
``large_client_header_buffers``, ``client_header_timeout``, ``client_body_timeout``,
``worker_connections``). llhttp's callbacks are counted as they arrive: the request target
in ``on_url`` (414), each field, the block and the field count in ``on_header`` (431).
llhttp holds an unfinished field in memory until its end, so ``data_received`` also counts
the bytes of an unfinished head: a connection holds at most the limits plus two reads. An
unknown method gets 501 (RFC 9110 section 15.6.2), CONNECT 501 too (it asks for a tunnel
no resource here offers), and any other upgrade is served as plain HTTP without uvicorn's
warning. Timeouts cost no timer per request: one sweep per worker looks at every
connection a few times per timeout and keeps a coarse clock that a request's start
reads. An answer that closes (408, 414, 431, 501) ends the write side and drops what the
client still sends for a few seconds, so a reset does not take the answer with it. A
connection over the per-worker cap gets 503 before anything is read (uvicorn's
``limit_concurrency`` answers only once a head has arrived, so slow heads would still
hold their sockets), and the worker logs one warning a minute while it refuses.
Per request this adds a few integer additions and comparisons in the callbacks, one
attribute read of the coarse clock, and one extra parser call (``should_upgrade``).

uvicorn's internals used here (no public API exists for any of them), fenced by
streamer.uvicorn_hooks: `streamer serve` refuses to start, and
tests/unit/test_uvicorn_hooks.py fails, when one is missing or changed shape.

- ``HttpToolsProtocol`` methods overridden or called: ``connection_made``,
  ``connection_lost``, ``data_received`` (replaced whole), ``on_message_begin``,
  ``on_url``, ``on_header``, ``on_headers_complete``, ``on_response_complete``,
  ``shutdown``, ``send_400_response``, and the private ``_start_asgi_task`` (immediate
  answers, zero-copy) and ``_unset_keepalive_if_required``.
- ``HttpToolsProtocol`` fields read: ``app``, ``app_state``, ``server_state``,
  ``connections``, ``loop``, ``logger``, ``parser``, ``transport``, ``flow``, ``cycle``.
- ``RequestResponseCycle``: ``send`` (wrapped), and the fields ``scope``,
  ``disconnected``, ``keep_alive``, ``response_started``, ``response_complete``,
  ``chunked_encoding``, ``expected_content_length``, ``more_body``, ``message_event``,
  ``waiting_for_100_continue`` (read, and written where a response is written here).
- ``ServerState.default_headers`` and ``ServerState.connections``;
  ``FlowControl.read_paused`` and ``pause_reading``; the ``STATUS_LINE`` table.
- httptools: ``HttpParserError``, ``HttpParserInvalidMethodError``,
  ``HttpParserUpgrade``, and the parser's ``should_upgrade`` and ``get_method``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from streamer.page_cache import resident
from streamer.request_limits import (
    FIELDS_TOO_LARGE,
    TIMED_OUT,
    URI_TOO_LONG,
    RequestLimits,
    Throttle,
    header_verdict,
    timed_out,
    unfinished_head_verdict,
)
from streamer.types import (
    ANSWER_NOW_STATE,
    REQUEST_LIMITS_STATE,
    SEND_BUFFER_CONNECTIONS_STATE,
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
STALL_MIN, STALL_MAX = 0.005, 0.2  # back-off of a socket writable in name only (_stream_file)


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
        limits = self.app_state.get(REQUEST_LIMITS_STATE)
        self._limits = limits if isinstance(limits, RequestLimits) else DEFAULT_LIMITS
        self._sweeper = _sweeper_of(self.server_state, self.loop, self._limits)
        self._refused = False  # answered or given up: nothing more is read
        self._refusal: tuple[int, str] | None = None  # set by a callback that stops the parser
        # Since when the connection waits for a request's head (its first byte, or the
        # connection's start); None while no head is due (uvicorn's keep-alive timer runs).
        self._head_since: float | None = self._sweeper.now
        self._head_bytes = 0  # bytes received while the head is unfinished
        self._line = self._count = self._block = 0  # the head's target, fields, field bytes
        self._heads = 0  # requests begun
        self._reads = 0  # data_received calls: the sweep sees whether a body moved
        self._seen_reads = -1
        self._quiet_since = 0.0
        self._linger_until: float | None = None
        self._eof = False  # the client half-closed while answers were still owed
        cap = self._limits.connections_max
        if cap and len(self.connections) >= cap:
            self._turn_away(transport, cap)
            return
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        send_buffer = self.app_state.get(SEND_BUFFER_STATE, 0)
        fixed_for = self.app_state.get(SEND_BUFFER_CONNECTIONS_STATE, 0)
        if send_buffer and len(self.connections) < fixed_for:
            # Asked for only then: uvloop makes a socket object for each call.
            sock = transport.get_extra_info("socket")
            if sock is not None:
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

    # Bounded requests (module docstring). The callbacks count; llhttp holds an unfinished
    # header field itself, so data_received also bounds the bytes of an unfinished head.

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._reads += 1
        heads = self._heads
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # CONNECT was refused in on_headers_complete; any other upgrade (websocket,
            # h2c) is served as plain HTTP, as RFC 9110 section 7.8 allows: no warning.
            pass
        except httptools.HttpParserInvalidMethodError:
            if _looks_like_method(data):
                self._refuse(501, "method not implemented")
            else:
                self._refuse(400, "invalid HTTP request")
            return
        except httptools.HttpParserError:
            refusal = self._refusal
            if refusal is None:
                self._refused = True
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            else:
                self._refuse(*refusal)
            return
        # A read in which a head began may hold the end of earlier requests: it is not
        # counted (no false 431 after a pipelined body), so a head may hold one read more.
        if self._head_since is not None and heads == self._heads:
            self._head_bytes += len(data)
            status = unfinished_head_verdict(self._limits, self._line, self._head_bytes)
            if status:
                self._refuse(status, _REASONS[status])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_since is None:
            self._head_since = self._sweeper.now
        self._heads += 1
        self._line = self._count = self._block = 0

    def on_url(self, url: bytes) -> None:
        self._line += len(url)
        if self._line > self._limits.line_max:
            self._stop(URI_TOO_LONG)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        field = len(name) + len(value)
        self._count += 1
        self._block += field
        status = header_verdict(self._limits, self._count, self._block, field)
        if status:
            self._stop(status)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_since = None
        self._head_bytes = 0
        if self.parser.should_upgrade() and self.parser.get_method() == b"CONNECT":
            # A tunnel request for a proxy: no resource here supports it (501, not 405,
            # which names a resource's allowed methods). Never reaches the app.
            self._stop(NOT_IMPLEMENTED, "CONNECT is not supported: this is not a proxy")
        super().on_headers_complete()

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio allows True
        """The client has sent all it will (a half-close, after its last request). The
        answers still owed go out first (a streamed body, pipelined requests), then the
        connection closes; with none owed, or in the middle of a request's body (a client
        that gave up: an upload keeps what arrived), it closes now (uvicorn's way)."""
        cycle = self.cycle
        owed = cycle is not None and not cycle.response_complete and not cycle.more_body
        if self.pipeline or owed:
            self._eof = True
            return True  # keep the transport open for writing
        return None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._eof or self.pipeline or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # nothing more is owed
            self.transport.close()

    def _stop(self, status: int, reason: str | None = None) -> None:
        """From a parser callback: stop parsing; data_received answers ``status``."""
        self._refusal = (status, reason or _REASONS[status])
        raise _Refused(status)

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` and close; nothing more is read from the connection."""
        self._refused = True
        self._head_since = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # An earlier request's response is on its way: the connection ends after it.
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        self.transport.write(_answer(status, reason, self.server_state.default_headers))
        self._close_after_answer()

    def _close_after_answer(self) -> None:
        """Close after an answer the client may still be sending into (nginx's lingering
        close): closing at once with unread bytes would reset the connection and could
        take the answer with it. The write side ends now; what still arrives is read and
        dropped (data_received) until the client closes or LINGER_SECONDS pass (sweep)."""
        transport = self.transport
        if transport.can_write_eof():
            transport.write_eof()
            self._linger_until = self._sweeper.now + LINGER_SECONDS
        else:  # pragma: no cover - TLS transports cannot half-close
            transport.close()

    def sweep(self, now: float) -> None:
        """The worker's periodic look (:class:`_Sweeper`): close a connection whose head
        or body is overdue."""
        if self.transport.is_closing():
            return
        if self._refused:
            if self._linger_until is not None and now >= self._linger_until:
                self.transport.close()
            return
        limits = self._limits
        if timed_out(self._head_since, now, limits.header_timeout):
            if self._reads:
                self._refuse(TIMED_OUT, "the request's header took too long")
            else:  # a connection that never spoke is closed without a word, as nginx does
                self._refused = True
                self.transport.close()
            return
        cycle = self.cycle
        if (
            cycle is None
            or cycle.response_complete
            or not cycle.more_body
            or cycle.waiting_for_100_continue  # the client waits for us
            or self.flow.read_paused  # the app is not reading: not the client's fault
        ):
            self._seen_reads = -1
            return
        if self._reads != self._seen_reads:
            self._seen_reads, self._quiet_since = self._reads, now
        elif now - self._quiet_since >= limits.body_timeout:
            self._refused = True
            if not cycle.response_started:
                cycle.response_started = True
                reason = "the request's body stalled"
                self.transport.write(_answer(TIMED_OUT, reason, self.server_state.default_headers))
            # The app's receive() now gets http.disconnect and its sends do nothing.
            cycle.disconnected = True
            cycle.message_event.set()
            self._close_after_answer()

    def _turn_away(self, transport: asyncio.Transport, cap: int) -> None:
        """Over the connection cap: 503 at once, before reading anything, and close."""
        self._refused = True
        transport.write(_answer(503, "too many connections", self.server_state.default_headers))
        transport.close()
        refused = self._sweeper.turned_away.due(self.loop.time())
        if refused:
            logger.warning(
                "connection limit reached: new connections get 503",
                extra={
                    "limit": cap,
                    "refused": refused,
                    "hint": "raise max_connections_per_worker, workers or the open-file limit",
                },
            )

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        answer_now = self._answer_now
        # Not when uvicorn substituted its 503 app (limit_concurrency).
        if answer_now is not None and app is self.app and cycle.scope["method"] in _IMMEDIATE:
            scope: Scope = cycle.scope  # type: ignore[assignment]
            if self._plain:  # a long file body may then be streamed (Reply.done)
                scope.setdefault("extensions", {})[ZEROCOPY] = {}
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
                outcome, _sent = await self._stream_file(fd, int(message["offset"]), count)
                if outcome is not None:
                    cycle.disconnected = True  # uvicorn's own sends now do nothing
                    if outcome == "short":
                        raise ShortFile(f"the file ended before {count} bytes were sent")
                    return
            cycle.expected_content_length -= count
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        return zerocopy_send

    async def _stream_file(self, fd: int, offset: int, count: int) -> tuple[str | None, int]:
        """Send ``count`` bytes of ``fd`` from ``offset`` after what the transport holds.
        (None, count) when all went; ("gone", sent) (the client left) or ("short", sent)
        (the file ended), the connection then aborted."""
        transport = self.transport
        transport.flush()  # type: ignore[attr-defined]
        sock = self._socket()
        start = offset
        if sock is None:  # pragma: no cover - every TCP transport has one
            return "gone", 0
        watched = -1
        cached_to = offset  # the page cache holds the file up to here (as far as we know)
        end = offset + count
        # Seconds to pause when the socket said it was writable yet took nothing (below).
        stalled = 0.0
        woken = False  # the last thing that happened was a wake for writability
        try:
            # Bytes queued in the transport (the head, when the socket was full) go first.
            while transport.get_write_buffer_size():
                if transport.is_closing():
                    return "gone", 0
                watched = await self._writable(sock, watched)
            while count:
                if offset >= cached_to:
                    # sendfile must not wait for the disk on the loop: a span whose end is
                    # not cached is read once in a thread first (which caches it).
                    cached_to = min(end, offset + ZEROCOPY_SPAN)
                    if not resident(fd, cached_to - 1):
                        await asyncio.to_thread(os.pread, fd, cached_to - offset, offset)
                asked = cached_to - offset
                try:
                    sent = os.sendfile(sock.fileno(), fd, offset, asked)
                except (BlockingIOError, InterruptedError):
                    if woken:
                        # Woken as writable, yet nothing went: the kernel is short of TCP
                        # memory (net.ipv4.tcp_mem, thousands of full send buffers), and
                        # the level-triggered readiness would wake this body again at once,
                        # thousands of times a second. Back off instead, up to STALL_MAX.
                        stalled = min(STALL_MAX, stalled * 2 or STALL_MIN)
                        # Unwatched while it sleeps: the watch is level-triggered, so it
                        # would call back on every turn of the loop, for each such body
                        # (with 10,000 slow readers, the loop did little else).
                        watched = self._unwatch(watched)
                        await asyncio.sleep(stalled)
                    watched = await self._writable(sock, watched)
                    woken = True
                    continue
                except OSError:
                    transport.abort()  # the client is gone (reset, broken pipe)
                    return "gone", offset - start
                stalled, woken = 0.0, False
                if sent == 0:
                    transport.abort()
                    return "short", offset - start
                offset += sent
                count -= sent
                if count and sent < asked:
                    # The socket took less than asked: it is full. Wait for room now, not
                    # after a turn of the loop and a refused sendfile (a slow reader's
                    # every wake paid both).
                    watched = await self._writable(sock, watched)
                    woken = True
                elif count:
                    await asyncio.sleep(0)  # one fast client must not hold the loop
        except ConnectionError:
            return "gone", offset - start
        finally:
            self._unwatch(watched)
        return None, offset - start

    def _unwatch(self, watched: int) -> int:
        """Stop watching the duplicate descriptor ``_writable`` made (if any); -1."""
        if watched >= 0:
            self.loop.remove_writer(watched)
            os.close(watched)
        return -1

    async def _writable(self, sock: socket.socket, watched: int) -> int:
        """Until the socket can take more (or the connection is lost: ConnectionError).
        The loop watches a duplicate of the descriptor, made and watched once per body
        (uvloop owns and watches the original; _stream_file stops watching at the end):
        watching it anew for every wait cost two epoll_ctl calls per wake, a fifth of a
        worker serving 10,000 slow readers."""
        if watched < 0:
            watched = os.dup(sock.fileno())
            self.loop.add_writer(watched, self._on_writable)
        waiter = self.loop.create_future()
        self._write_waiter = waiter
        try:
            await waiter
        finally:
            self._write_waiter = None
        return watched

    def _on_writable(self) -> None:
        # Level-triggered: also called while nobody waits (between two sends).
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

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
        if reply.done is not None:  # a long file body: the head now, the body from a task
            self.transport.write(b"".join(head))
            task = self.loop.create_task(self._stream_reply(cycle, reply))
            self.tasks.add(task)  # uvicorn waits for (or cancels) it at shutdown
            task.add_done_callback(self.tasks.discard)
            return
        if cycle.scope["method"] == "HEAD":
            self.transport.write(b"".join(head))
        elif reply.file is not None:
            if not self._send_file(b"".join(head), *reply.file):
                self.transport.abort()  # fewer bytes than promised: never a short body
                return
        elif len(reply.body) > HOLD_MAX:
            # A large body (a cached segment) is not copied into one buffer with the head:
            # both leave in one writev.
            self.transport.writelines((b"".join(head), reply.body))
        else:
            head.append(reply.body)  # type: ignore[arg-type]
            self.transport.write(b"".join(head))
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()

    async def _stream_reply(self, cycle: RequestResponseCycle, reply: Reply) -> None:
        """The body of a streamed immediate reply, then the cycle finished as uvicorn
        would (keep-alive, the next pipelined request); ``reply.done`` told what went."""
        assert reply.file is not None
        assert reply.done is not None
        fd, offset, count = reply.file
        sent = 0
        try:
            outcome, sent = await self._stream_file(fd, offset, count)
            if outcome is None:
                cycle.response_complete = True
                if not cycle.keep_alive:
                    self.transport.close()
                self.on_response_complete()
            else:
                cycle.disconnected = True
        except BaseException:
            self.transport.abort()
            raise
        finally:
            reply.done(sent)

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
        if self.transport is None:  # turned away in connection_made
            return
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
DEFAULT_LIMITS = RequestLimits()
NOT_IMPLEMENTED = 501
LINGER_SECONDS = 5.0  # longest read-and-drop after an answer that closes (nginx: 30 s)
_REASONS = {
    URI_TOO_LONG: "request target too long",
    FIELDS_TOO_LARGE: "request header fields too large",
    NOT_IMPLEMENTED: "method not implemented",
}
# A method is a token (RFC 9110 section 9.1); anything else is not HTTP at all.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

logger = logging.getLogger("streamer.serving")


class _Refused(Exception):
    """Raised in a parser callback to stop llhttp; data_received answers."""


def _looks_like_method(data: bytes) -> bool:
    method, space, _ = data[:64].partition(b" ")
    return bool(space and method) and all(byte in _TOKEN for byte in method)


def _answer(status: int, reason: str, default_headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A whole short plain-text response that closes the connection."""
    body = reason.encode() + b"\n"
    head = [STATUS_LINE[status]]
    for name, value in default_headers:
        head += (name, b": ", value, b"\r\n")
    head += (
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
        body,
    )
    return b"".join(head)


class _Sweeper:
    """One per worker (per uvicorn ServerState): every ``seconds`` it looks at every open
    connection for an overdue head or a stalled body, and keeps a coarse clock (``now``,
    as nginx caches its time) so a request's start costs no clock read. It runs while the
    worker has connections and stops by itself."""

    __slots__ = ("__weakref__", "connections", "handle", "loop", "now", "seconds", "turned_away")

    def __init__(
        self, connections: set[Any], loop: asyncio.AbstractEventLoop, seconds: float
    ) -> None:
        self.connections = connections
        self.loop = loop
        self.seconds = seconds
        self.now = loop.time()
        self.handle: asyncio.TimerHandle | None = None
        self.turned_away = Throttle(60.0)  # one warning a minute while over the cap

    def start(self) -> None:
        if self.handle is None:
            self.now = self.loop.time()
            self.handle = self.loop.call_later(self.seconds, self.tick)

    def tick(self) -> None:
        self.now = now = self.loop.time()
        for connection in tuple(self.connections):
            sweep = getattr(connection, "sweep", None)
            if sweep is not None:
                sweep(now)
        self.handle = self.loop.call_later(self.seconds, self.tick) if self.connections else None


_SWEEPERS: weakref.WeakKeyDictionary[Any, _Sweeper] = weakref.WeakKeyDictionary()


def _sweeper_of(
    server_state: Any, loop: asyncio.AbstractEventLoop, limits: RequestLimits
) -> _Sweeper:
    sweeper = _SWEEPERS.get(server_state)
    if sweeper is None or sweeper.loop is not loop:
        sweeper = _SWEEPERS[server_state] = _Sweeper(
            server_state.connections, loop, limits.sweep_seconds
        )
    sweeper.start()
    return sweeper


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
