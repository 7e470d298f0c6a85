"""Per-request observability as one pure ASGI middleware: request id, access log, metrics,
and delivery events for analytics.

Kept to a handful of dict operations per request because it wraps the hot media path too.
A media or HLS route that delivered something says what in ``scope[DELIVERY_KEY]`` (a
:class:`~streamer.types.Delivery`); when the middleware was given a ``recorder`` it hands
that, the status, the body bytes sent, the request's headers and client to it once the
request is finished. The recorder is injected (streamer.analytics sits above this layer)
and only appends to a bounded buffer.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from itertools import count

from streamer.access_log import AccessLog
from streamer.error_groups import ErrorGroups
from streamer.logs import request_id_var
from streamer.recent_errors import RecentErrors
from streamer.request_stats import RequestStats
from streamer.types import (
    DELIVERY_KEY,
    ZEROCOPY,
    AnswerNow,
    ASGIApp,
    DeliveryRecorder,
    Message,
    Receive,
    Reply,
    Scope,
    Send,
)

# Accept a caller's (a CDN's) request id when it is short and plain; otherwise make one.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_prefix = os.urandom(4).hex()
_counter = count()

ROUTE_KEY = "streamer.route"
# Set on an exception an error handler has answered in full and logged (mark_answered).
ANSWERED = "_streamer_answered"


def mark_answered(exc: BaseException) -> None:
    """Say that ``exc`` was answered and logged: the middleware lets it end there."""
    with contextlib.suppress(AttributeError):  # no __dict__: uvicorn logs it once more
        setattr(exc, ANSWERED, True)


def new_request_id() -> str:
    return f"{_prefix}{next(_counter):012x}"


def route_template(scope: Scope) -> str:
    """The route template answering this request, for low-cardinality metric labels."""
    template = scope.get(ROUTE_KEY)
    if template is not None:
        return str(template)
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is not None:
        return f"{scope.get('root_path', '')}{path}"
    return "unmatched"


class ObserveMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        stats: RequestStats,
        access_log: AccessLog | None = None,
        errors: RecentErrors | None = None,
        recorder: DeliveryRecorder | None = None,
        groups: ErrorGroups | None = None,
    ) -> None:
        self.app = app
        self.groups = groups
        self.stats = stats
        self.access_log = access_log
        self.errors = errors
        self.recorder = recorder  # None: analytics off, nothing is looked at

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 0
        sent = 0
        complete = False

        async def observed_send(message: Message) -> None:
            nonlocal status, sent, complete
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            elif kind == ZEROCOPY:
                sent += message["count"]
            await send(message)

        stats = self.stats
        stats.in_flight += 1
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed_send)
        except Exception as exc:
            if complete and getattr(exc, ANSWERED, False):
                # Starlette re-raises what an exception handler already answered and
                # logged: raised on, uvicorn would log it again at ERROR (a traceback per
                # request through a database outage) and drop the keep-alive connection.
                return
            if status == 0:
                status = 500
            raise
        except BaseException:
            if status == 0:
                status = 500
            raise
        finally:
            stats.in_flight -= 1
            self._observed(scope, request_id, status, sent, time.perf_counter() - started)
            request_id_var.reset(token)

    def answer_now(self, scope: Scope, answer: AnswerNow) -> Reply | None:
        """``answer`` observed like an ASGI request: its reply carries the request id, and
        it is counted and logged. None (the ASGI path will answer) is neither."""
        started = time.perf_counter()
        reply = answer(scope)
        if reply is None:
            return None
        request_id = request_id_of(scope)
        reply.headers.append((b"x-request-id", request_id.encode()))
        then = reply.done
        if then is not None:
            # Streamed after this call: counted and logged with what went, when it ends.
            def done(sent: int) -> None:
                then(sent)
                self._observed(scope, request_id, reply.status, sent, time.perf_counter() - started)

            reply.done = done
            return reply
        sent = reply.length if scope["method"] != "HEAD" else 0
        self._observed(scope, request_id, reply.status, sent, time.perf_counter() - started)
        return reply

    def _observed(
        self, scope: Scope, request_id: str, status: int, sent: int, elapsed: float
    ) -> None:
        route = route_template(scope)
        method = scope["method"]
        self.stats.record(route, method, status, sent, elapsed)
        recorder = self.recorder
        if recorder is not None:
            delivery = scope.get(DELIVERY_KEY)
            if delivery is not None:
                recorder(delivery, status, sent, scope["headers"], scope.get("client"))
        if status >= 500 and self.groups is not None:
            self.groups.note_response(status, route, request_id)
        if status >= 500 and self.errors is not None:
            self.errors.add(
                method=method,
                route=route,
                path=scope["path"],
                status=status,
                request_id=request_id,
                seconds=elapsed,
            )
        if self.access_log is not None:
            client = scope.get("client")
            self.access_log.write(
                request_id=request_id,
                method=method,
                path=scope["path"],
                route=route,
                status=status,
                sent=sent,
                seconds=elapsed,
                client=client[0] if client else None,
            )


def request_id_of(scope: Scope) -> str:
    """The caller's (a CDN's) X-Request-ID when it is short and plain, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_ID.match(candidate):
                return candidate
            break
    return new_request_id()
