"""GET|HEAD|OPTIONS /media/{track_id}/original, /media/{track_id}/{rendition}.m4a and
/media/{track_id}/cover: the lean ASGI path for byte ranges.

This route answers most of an origin's traffic, so it is plain ASGI rather than a framework
endpoint: one pass over the request headers, the track and the object's state from memory,
validators and ranges by the pure functions of streamer.http, then the bytes (small local
ranges straight from the page cache; larger ones in bounded chunks off the loop). Errors in
the request become responses here and nowhere else.

What a response serves is a :class:`Window`: a whole object, or a byte window of one (an
HLS segment is a window of its rendition file; streamer.routes.hls serves those through
:meth:`MediaEndpoint.serve`). Ranges, validators and lengths are those of the window.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from streamer.cache import Cached, SegmentCache
from streamer.cache.keys import window_key
from streamer.db.models import TRACK_ID
from streamer.errors import DatabaseUnavailable, ObjectChanged, ObjectNotFound, StorageError
from streamer.http import (
    ByteRange,
    MalformedRange,
    RangeNotSatisfiable,
    evaluate_preconditions,
    format_http_date,
    if_range_allows,
    parse_range,
)
from streamer.http.cache_status import cache_status
from streamer.http.multipart import MultipartPlan, make_boundary
from streamer.http.signing import TokenError, verify_token
from streamer.observe import ROUTE_KEY
from streamer.page_cache import read_chunk, read_inline, resident
from streamer.renditions.catalog import RenditionCatalog
from streamer.request_stats import RequestStats
from streamer.routes.media_files import ObjectState, ObjectStates
from streamer.routes.media_index import MediaIndex
from streamer.routes.problems import problem_reply, problem_response, storage_unavailable
from streamer.settings import Settings
from streamer.storage import ObjectStore
from streamer.storage.registry import StoreLookup
from streamer.types import ZEROCOPY, Receive, Reply, Scope, Send, ShortFile

logger = logging.getLogger("streamer.media")

ROUTE = "/media/{track_id}/original"
RENDITION_ROUTE = "/media/{track_id}/{rendition}.m4a"
COVER_ROUTE = "/media/{track_id}/cover"
RENDITION_CONTENT_TYPE = "audio/mp4"
ALLOW = b"GET, HEAD, OPTIONS"
PREFETCH_CONCURRENCY = 4  # segment prefetches reading storage at once, per worker
PREFETCH_PENDING = 64  # prefetches waiting for a slot; more are dropped
# Smallest immediate body sent with sendfile rather than copied: below it the copy costs
# less than the extra system call (measured: 60 KB went from 29k to 50k req/s a worker).
SENDFILE_MIN = 16 * 1024
MEMORY_HIT = cache_status("memory")
EXPOSE = (
    b"Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified, X-Request-ID, Cache-Status"
)
ALLOWED_REQUEST_HEADERS = (
    "range, if-range, if-match, if-none-match, if-modified-since, if-unmodified-since, x-request-id"
)
_INTERESTING = frozenset(
    {
        b"range",
        b"if-range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"origin",
        b"access-control-request-method",
        b"access-control-request-headers",
    }
)

Cors = list[tuple[bytes, bytes]]


def request_headers(scope: Scope) -> dict[str, str]:
    """The request fields the media routes look at, by lowercase name."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _INTERESTING:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            # Repeated fields combine with commas (RFC 9110 section 5.3).
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


@dataclass(frozen=True, slots=True)
class Window:
    """What one response serves: ``length`` bytes of object ``key`` from ``offset``.

    ``length`` None means to the end of the object. The strong ETag is ``etag`` while the
    object still has ``version``, else the object's current version. ``exact`` windows (a
    segment located by an index of that version) are only valid for ``version``: if the
    object has another, :meth:`MediaEndpoint.serve` raises :class:`WindowStale` before
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


class WindowStale(Exception):
    """The object no longer has the version an exact window was computed for."""


@dataclass(frozen=True, slots=True)
class MediaConfig:
    cache_control: bytes
    allow_origins: tuple[str, ...]
    cors_max_age: bytes
    max_ranges: int
    chunk_size: int
    stream_buffer_budget: int
    inline_read_max: int
    signing_secret: bytes | None = None  # set: every GET/HEAD needs a valid token

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaConfig:
        return cls(
            cache_control=settings.media_cache_control.encode(),
            allow_origins=settings.cors_allow_origins,
            cors_max_age=str(settings.cors_max_age).encode(),
            max_ranges=settings.max_ranges,
            chunk_size=settings.chunk_size,
            stream_buffer_budget=settings.stream_buffer_budget,
            inline_read_max=settings.inline_read_max,
            signing_secret=settings.url_signing_secret.encode()
            if settings.url_signing_secret
            else None,
        )


class MediaEndpoint:
    """The ASGI app for /media/{track_id}/original and /media/{track_id}/{rendition}.m4a."""

    def __init__(
        self,
        config: MediaConfig,
        index: MediaIndex,
        states: ObjectStates,
        store_for: StoreLookup,
        stats: RequestStats,
        renditions: RenditionCatalog | None = None,
        segments: SegmentCache | None = None,
        store_now: Callable[[str], ObjectStore | None] | None = None,
    ) -> None:
        self.config = config
        self.index = index
        self.states = states
        self.store_for = store_for
        self.store_now = store_now  # an open store without waiting (None: never)
        self.stats = stats
        self.renditions = renditions
        # Exact windows (HLS init and segments) are immutable bytes: served from this
        # read-through cache (memory, Redis, storage) when there is one.
        self.segments = segments
        self._prefetches: set[asyncio.Task[None]] = set()
        self._prefetch_slots = asyncio.Semaphore(PREFETCH_CONCURRENCY)
        self.streaming = 0  # responses streaming now, sharing config.stream_buffer_budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].split("/")
        # ["", "media", track_id, "original" | "{rendition}.m4a"]
        original = len(parts) == 4 and parts[3] == "original"
        cover = len(parts) == 4 and parts[3] == "cover"
        rendition = len(parts) == 4 and parts[3].endswith(".m4a") and self.renditions is not None
        scope[ROUTE_KEY] = RENDITION_ROUTE if rendition else COVER_ROUTE if cover else ROUTE
        if not (original or rendition or cover):
            await problem_response(send, 404, "no such media URL")
            return
        headers = request_headers(scope)
        cors = self.cors_headers(headers.get("origin"))
        method = scope["method"]
        if method == "OPTIONS":
            await self.options(send, headers, cors)
            return
        if method not in ("GET", "HEAD"):
            await problem_response(send, 405, "use GET or HEAD", [(b"allow", ALLOW), *cors])
            return
        if not await self.authorised(scope, send, cors):
            return
        cors = [*cors, *_purge_keys(parts[2])]
        if original or cover:
            await self._original(scope, receive, send, parts[2], headers, cors, cover=cover)
        else:
            await self._rendition(scope, receive, send, parts[2], parts[3][:-4], headers, cors)

    def answer_now(self, scope: Scope) -> Reply | None:
        """The whole answer to a GET or HEAD of an original when everything it needs is in
        memory: the track's entry, its open file's state, and (for a body) bytes that
        the page cache holds. None otherwise, and the ASGI path answers (it loads, waits,
        streams, and reports every error). Never waits and never raises for a request.

        Signed URLs, covers and renditions always take the ASGI path; so does anything
        that changed under its cached state (the ASGI path looks again)."""
        store_now = self.store_now
        if store_now is None or self.config.signing_secret is not None:
            return None
        method = scope["method"]
        parts = scope["path"].split("/")
        if len(parts) != 4 or parts[3] != "original" or method not in ("GET", "HEAD"):
            return None
        entry = self.index.peek(parts[2])
        if entry is None:
            return None
        store = store_now(entry.library_root)
        state = self.states.peek(store, entry.key) if store is not None else None
        if state is None or state.fd < 0:
            return None
        headers = request_headers(scope)
        cors = [*self.cors_headers(headers.get("origin")), *_purge_keys(parts[2])]
        window = Window(
            key=entry.key,
            content_type=entry.content_type,
            version=entry.version,
            etag=entry.content_hash,
        )
        reply = self._reply_now(method, headers, cors, window, state, None)
        if reply is not None:
            scope[ROUTE_KEY] = ROUTE
        return reply

    def answer_window_now(
        self, method: str, headers: dict[str, str], cors: Cors, window: Window
    ) -> Reply | None:
        """The answer for an exact window (an HLS init or segment) that this process's
        segment cache holds in memory, else None (see :meth:`answer_now`)."""
        if self.segments is None or window.length is None:
            return None
        cached = self.segments.peek(segment_cache_key(window))
        if cached is None:
            return None
        state = _cached_state(window, cached)
        cors = [*cors, MEMORY_HIT]  # every answer says where it came from, 304s too
        return self._reply_now(method, headers, cors, window, state, cached.data)

    def _reply_now(
        self,
        method: str,
        headers: dict[str, str],
        cors: Cors,
        window: Window,
        state: ObjectState,
        data: bytes | None,
    ) -> Reply | None:
        try:
            plan = self._plan(method, headers, cors, window, state)
            span = None
            if plan.body is None and data is None and plan.total <= self.config.inline_read_max:
                span = _sendfile_span(state.fd, plan.segments, window.offset)
            body = b"" if span is not None else self._body_at_once(plan, window, state, data)
            if body is None:
                return None
        except (_Retry, WindowStale):
            return None
        if plan.kind is not None:
            self.stats.record_range(plan.kind)
        return Reply(plan.status, plan.headers, body, span)

    async def authorised(self, scope: Scope, send: Send, cors: Cors) -> bool:
        """With URL signing on, answer 403 unless the request's token opens its path."""
        secret = self.config.signing_secret
        if secret is None:
            return True
        token = query_value(scope.get("query_string", b""), b"token")
        try:
            verify_token(secret, token, scope["path"], time.time())
        except TokenError as exc:
            await problem_response(send, 403, str(exc), [(b"cache-control", b"no-store"), *cors])
            return False
        return True

    async def _original(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        track_id: str,
        headers: dict[str, str],
        cors: Cors,
        *,
        cover: bool = False,
    ) -> None:
        try:
            entry = await self.index.get(track_id)
        except DatabaseUnavailable:
            await storage_unavailable(send, cors, track_id=track_id)
            return
        if entry is None:
            await problem_response(send, 404, "no such track", cors)
            return
        if not cover:
            window = Window(
                key=entry.key,
                content_type=entry.content_type,
                version=entry.version,
                etag=entry.content_hash,
            )
        elif entry.cover_key is not None and entry.cover_mime is not None:
            # Validators come from the stored object's version.
            window = Window(key=entry.cover_key, content_type=entry.cover_mime, version="")
        else:
            await problem_response(send, 404, "the track has no cover", cors)
            return
        found = await self.serve(
            scope, receive, send, headers, cors, entry.library_root, window, track_id
        )
        if not found:
            self.index.invalidate(track_id)
            what = "cover" if cover else "file"
            await problem_response(send, 404, f"the track's {what} is gone", cors)

    async def _rendition(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        track_id: str,
        name: str,
        headers: dict[str, str],
        cors: Cors,
    ) -> None:
        assert self.renditions is not None
        try:
            track = await self.renditions.get(track_id)
        except (StorageError, DatabaseUnavailable):
            await storage_unavailable(send, cors, track_id=track_id)
            return
        entry = track.renditions.get(name) if track is not None else None
        if track is None or entry is None:
            await problem_response(send, 404, "no such rendition", cors)
            return
        token = version_query(scope.get("query_string", b""))
        if token is not None and token != entry.token:
            await problem_response(
                send,
                404,
                "this version of the rendition was replaced; reload the playlist",
                [(b"cache-control", b"max-age=10"), *cors],
            )
            return
        window = Window(
            key=entry.key,
            content_type=RENDITION_CONTENT_TYPE,
            version=entry.version,
            # Named by its content at the current token: a CDN may keep it for good.
            cache_control=b"public, max-age=31536000, immutable" if token else None,
        )
        found = await self.serve(
            scope, receive, send, headers, cors, track.library_root, window, track_id
        )
        if not found:
            self.renditions.invalidate(track_id)
            await problem_response(send, 404, "the rendition's file is gone", cors)

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        cors: Cors,
        root: str,
        window: Window,
        track_id: str,
    ) -> bool:
        """Answer a GET or HEAD for ``window`` of an object in the store at ``root``.

        Returns False, having sent nothing, if the object does not exist (the caller
        answers 404 and forgets what pointed at it). Raises WindowStale, having sent
        nothing, if an exact window's object changed version. Storage failures and a file
        that keeps changing are answered here (503).
        """
        try:
            store = await self.store_for(root)
        except StorageError:
            await storage_unavailable(send, cors, track_id=track_id)
            return True
        method = scope["method"]
        if window.exact and window.length is not None and self.segments is not None:
            return await self._serve_cached(
                scope, receive, send, method, headers, cors, window, store, track_id
            )
        for attempt in (1, 2):
            try:
                state = await self.states.acquire(store, window.key)
            except ObjectNotFound:
                return False
            except StorageError:
                await storage_unavailable(send, cors, track_id=track_id)
                return True
            try:
                await self._respond(
                    scope, receive, send, method, headers, cors, window, store, state
                )
                return True
            except _Retry:
                self.states.forget(store, window.key)
                if attempt == 2:
                    await problem_response(
                        send,
                        503,
                        "the file is changing; try again",
                        [(b"retry-after", b"1"), *cors],
                    )
            finally:
                self.states.release(state)
        return True

    async def _serve_cached(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        headers: dict[str, str],
        cors: Cors,
        window: Window,
        store: ObjectStore,
        track_id: str,
    ) -> bool:
        """An exact window from the segment cache: a hit costs no storage I/O at all."""
        assert self.segments is not None
        try:
            cached, source = await self.segments.lookup(
                segment_cache_key(window), lambda: self._load_window(store, window)
            )
        except ObjectNotFound:
            return False
        except StorageError:  # ObjectChanged included: the index will be reloaded
            await storage_unavailable(send, cors, track_id=track_id)
            return True
        state = _cached_state(window, cached)
        cors = [*cors, cache_status(source)]
        await self._respond(
            scope, receive, send, method, headers, cors, window, store, state, cached.data
        )
        return True

    def prefetch(self, root: str, windows: Sequence[Window]) -> None:
        """Warm the segment cache with ``windows`` in the background (a player asking for
        segment n will ask for n+1 next). Bounded: at most PREFETCH_CONCURRENCY fills run
        and PREFETCH_PENDING wait; beyond that, prefetches are dropped, never queued."""
        cache = self.segments
        if cache is None:
            return
        for window in windows:
            if len(self._prefetches) >= PREFETCH_PENDING:
                return
            if segment_cache_key(window) in cache.memory:
                continue
            task = asyncio.create_task(self._prefetch(root, window))
            self._prefetches.add(task)
            task.add_done_callback(self._prefetches.discard)

    async def _prefetch(self, root: str, window: Window) -> None:
        assert self.segments is not None
        async with self._prefetch_slots:
            try:
                store = await self.store_for(root)
                await self.segments.get(
                    segment_cache_key(window), lambda: self._load_window(store, window)
                )
            except (StorageError, WindowStale):
                pass  # a prefetch is a hint: the request itself will answer properly

    async def close(self) -> None:
        for task in list(self._prefetches):
            task.cancel()
        await asyncio.gather(*self._prefetches, return_exceptions=True)

    async def _load_window(self, store: ObjectStore, window: Window) -> Cached:
        """Read an exact window at its version from storage (a cache fill)."""
        assert window.length is not None
        state = await self.states.acquire(store, window.key)
        try:
            if state.version != window.version or window.offset + window.length > state.size:
                raise WindowStale(window.key)
            mtime = state.mtime
        finally:
            self.states.release(state)
        parts = [
            chunk
            async for chunk in store.iter_range(
                window.key,
                window.offset,
                window.length,
                version=window.version,
                chunk_size=self.config.chunk_size,
            )
        ]
        return Cached(b"".join(parts), mtime)

    def cors_headers(self, origin: str | None) -> Cors:
        """The CORS fields of a response to a request from ``origin``, with
        Timing-Allow-Origin so players can measure their downloads (Resource Timing)."""
        allowed = self.config.allow_origins
        if "*" in allowed:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", EXPOSE),
                (b"timing-allow-origin", b"*"),
            ]
        vary = (b"vary", b"Origin")
        if origin is not None and origin in allowed:
            named = origin.encode("latin-1")
            return [
                (b"access-control-allow-origin", named),
                (b"access-control-expose-headers", EXPOSE),
                (b"timing-allow-origin", named),
                vary,
            ]
        return [vary]

    async def options(self, send: Send, headers: dict[str, str], cors: Cors) -> None:
        """Answer OPTIONS, a CORS preflight included."""
        response = [(b"allow", ALLOW), *cors]
        if "access-control-request-method" in headers and any(
            name == b"access-control-allow-origin" for name, _ in cors
        ):
            response += [
                (b"access-control-allow-methods", ALLOW),
                (b"access-control-allow-headers", ALLOWED_REQUEST_HEADERS.encode()),
                (b"access-control-max-age", self.config.cors_max_age),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": response})
        await send({"type": "http.response.body", "body": b""})

    def _plan(
        self,
        method: str,
        headers: dict[str, str],
        cors: Cors,
        window: Window,
        state: ObjectState,
    ) -> _Plan:
        """What to answer for ``window`` of the object in ``state``: status, fields and
        either a ready body (304, 412, 416, HEAD) or the byte ranges a GET sends.

        Pure: nothing is sent or counted, so the immediate path (:meth:`answer_now`) and
        the ASGI path share it. Raises WindowStale or _Retry if the object changed."""
        config = self.config
        current = state.version == window.version
        if window.exact and not current:
            raise WindowStale(window.key)
        if window.length is None:
            size = state.size - window.offset
        elif window.offset + window.length <= state.size:
            size = window.length
        else:  # the object is shorter than the window: it changed under its index
            raise WindowStale(window.key) if window.exact else _Retry
        token = window.etag if current and window.etag else state.version
        etag = f'"{token}"'
        cache_control = window.cache_control or config.cache_control
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
            return _Plan(304, not_modified, "none", body=b"")
        if outcome == 412:
            return _problem_plan(412, "a precondition failed", validators, None)

        ranges: Sequence[ByteRange] | None = None
        range_header = headers.get("range")
        kind = "none"
        if range_header is not None and method == "GET":
            if if_range_allows(headers.get("if-range"), etag, last_modified):
                try:
                    ranges = parse_range(range_header, size, max_ranges=config.max_ranges)
                    kind = "single" if len(ranges) == 1 else "multi"
                except MalformedRange:
                    kind = "ignored"
                except RangeNotSatisfiable:
                    return _problem_plan(
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
            return _Plan(status, response_headers, kind, body=b"")
        return _Plan(status, response_headers, kind, segments=segments)

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        headers: dict[str, str],
        cors: Cors,
        window: Window,
        store: ObjectStore,
        state: ObjectState,
        data: bytes | None = None,
    ) -> None:
        """Answer for ``window`` of the object in ``state``; its bytes come from ``data``
        (the window's bytes, from the segment cache) when given, else from storage."""
        plan = self._plan(method, headers, cors, window, state)
        if plan.kind is not None:
            self.stats.record_range(plan.kind)
        status, response_headers, segments = plan.status, plan.headers, plan.segments
        body = self._body_at_once(plan, window, state, data)
        if body is not None:
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            await send({"type": "http.response.body", "body": body})
            return

        only = _single_range(segments) if state.fd >= 0 else None
        if only is not None and ZEROCOPY in scope.get("extensions", {}):
            # The server sends the file itself (streamer.serving): no chunk ever passes
            # through this process, so a slow reader holds no buffer here. A file that
            # shrank under its cached state is answered afresh, before any status goes
            # (an fstat of an open file: the inode is in memory).
            if os.fstat(state.fd).st_size <= window.offset + only.end:
                raise _Retry
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            try:
                await send(
                    {
                        "type": ZEROCOPY,
                        "file": state.fd,
                        "offset": window.offset + only.start,
                        "count": only.length,
                    }
                )
            except ShortFile:
                logger.warning("object changed mid-response; aborting the connection")
                raise
            return
        pace = _Pace(self._chunk_ceiling)
        chunks = self._stream(store, window, state, segments, pace)
        self.streaming += 1
        try:
            # Fetch the first chunk before committing to a status: a changed object can
            # still be answered properly instead of aborting the connection.
            try:
                first = [await anext(chunks, b"")]
            except ObjectChanged:
                raise _Retry from None
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            # In a list the callee empties: no frame keeps the first chunk alive for the
            # whole response (one more chunk per slow reader otherwise).
            await self._send_body(receive, send, first, chunks, pace)
        finally:
            self.streaming -= 1
            await chunks.aclose()

    def _body_at_once(
        self, plan: _Plan, window: Window, state: ObjectState, data: bytes | None
    ) -> bytes | bytearray | memoryview | None:
        """The whole body when it is at hand: a ready one, a slice of the cached window
        ``data``, or a small local read the page cache holds (read before the status line
        so that a short read can still be answered afresh). None: it must be streamed."""
        if plan.body is not None:
            return plan.body
        if data is not None:
            return _slice_window(data, plan.segments)
        if state.fd >= 0 and plan.total <= self.config.inline_read_max:
            return self._read_cached(state.fd, plan.segments, window.offset)
        return None

    def _chunk_ceiling(self) -> int:
        share = self.config.stream_buffer_budget // max(1, self.streaming)
        return max(_Pace.MIN_CHUNK, min(self.config.chunk_size, share))

    @staticmethod
    def _read_cached(
        fd: int, segments: Sequence[tuple[bytes, ByteRange | None]], offset: int
    ) -> bytes | bytearray | None:
        only = _single_range(segments)
        if only is not None:  # the common case: one range, no multipart framing
            data = read_inline(fd, offset + only.start, only.length)
            if data is not None and len(data) != only.length:
                raise _Retry
            return data
        parts: list[bytes | bytearray] = []
        for head, part in segments:
            parts.append(head)
            if part is not None:
                data = read_inline(fd, offset + part.start, part.length)
                if data is None:
                    return None
                if len(data) != part.length:
                    raise _Retry
                parts.append(data)
        return b"".join(parts)

    async def _send_body(
        self,
        receive: Receive,
        send: Send,
        first: list[bytes | bytearray],
        chunks: AsyncIterator[bytes | bytearray],
        pace: _Pace,
    ) -> None:
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

    async def _stream(
        self,
        store: ObjectStore,
        window: Window,
        state: ObjectState,
        segments: Sequence[tuple[bytes, ByteRange | None]],
        pace: _Pace,
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
                    chunk_size=self.config.chunk_size,
                )
                try:
                    async for data in stream:
                        yield data
                finally:
                    aclose = getattr(stream, "aclose", None)
                    if aclose is not None:
                        await aclose()


async def send_reply(send: Send, reply: Reply) -> None:
    """Send a whole :class:`Reply` over ASGI (the ASGI path's copy of an immediate answer)."""
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
    await send({"type": "http.response.body", "body": reply.body})


def _purge_keys(track_id: str) -> list[tuple[bytes, bytes]]:
    # Only well-formed ids reach a CDN as keys; others are answered 404 anyway.
    if not TRACK_ID.match(track_id):
        return []
    return [
        (b"surrogate-key", f"track-{track_id}".encode()),
        (b"cache-tag", f"track-{track_id}".encode()),
    ]


def version_query(query: bytes) -> str | None:
    """The ``v`` of a query string, or None."""
    return query_value(query, b"v")


def query_value(query: bytes, wanted: bytes) -> str | None:
    """The first value of parameter ``wanted`` in a query string, or None."""
    if not query:
        return None
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name == wanted:
            return value.decode("latin-1")
    return None


def segment_cache_key(window: Window) -> str:
    """The segment cache's key of an exact window (streamer.cache.keys)."""
    assert window.length is not None
    return window_key(window.key, window.version, window.offset, window.length)


def _single_range(segments: Sequence[tuple[bytes, ByteRange | None]]) -> ByteRange | None:
    """The one byte range of a body that has no multipart framing, else None."""
    return segments[0][1] if len(segments) == 1 and not segments[0][0] else None


def _cached_state(window: Window, cached: Cached) -> ObjectState:
    """The state of an exact window's object as the segment cache holds its bytes."""
    return ObjectState(
        size=window.offset + len(cached.data), mtime=cached.mtime, version=window.version
    )


def _sendfile_span(
    fd: int, segments: Sequence[tuple[bytes, ByteRange | None]], offset: int
) -> tuple[int, int, int] | None:
    """(fd, offset, count) of a body worth sending with sendfile: one range of at least
    SENDFILE_MIN bytes whose last byte the page cache holds (so the kernel's read will
    not wait for the disk, as read_inline promises for copies); else None."""
    only = _single_range(segments)
    if only is None or only.length < SENDFILE_MIN:
        return None
    if not resident(fd, offset + only.end):
        return None
    return fd, offset + only.start, only.length


def _slice_window(
    data: bytes, segments: Sequence[tuple[bytes, ByteRange | None]]
) -> bytes | memoryview:
    only = _single_range(segments)
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


class _Pace:
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


@dataclass(slots=True)
class _Plan:
    """A response decided by MediaEndpoint._plan: a ready ``body``, or the ``segments``
    (multipart framing and byte ranges of the window) a GET sends."""

    status: int
    headers: list[tuple[bytes, bytes]]
    kind: str | None  # the range kind to count (None: not counted, as for a 412)
    body: bytes | None = None
    segments: list[tuple[bytes, ByteRange | None]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(part.length for _, part in self.segments if part is not None)


def _problem_plan(
    status: int, detail: str, headers: list[tuple[bytes, bytes]], kind: str | None
) -> _Plan:
    reply = problem_reply(status, detail, headers)
    return _Plan(status, reply.headers, kind, body=bytes(reply.body))


class _Retry(Exception):
    """The object changed before the status line went out: answer again from fresh state."""
