"""GET|HEAD|OPTIONS /media/{track_id}/original, /media/{track_id}/{rendition}.m4a and
/media/{track_id}/cover: the lean ASGI path for byte ranges.

This route answers most of an origin's traffic, so it is plain ASGI rather than a framework
endpoint: one pass over the request headers, the track and the object's state from memory,
validators and ranges by the pure functions of streamer.http, then the bytes (small local
ranges straight from the page cache; larger ones in bounded chunks off the loop). Errors in
the request become responses here and nowhere else.

What a response serves is a Window (streamer.routes.media_plan): a whole object, or a
byte window of one (an HLS segment is a window of its rendition file; streamer.routes.hls
serves those through :meth:`MediaEndpoint.serve`). The planner there decides the answer,
streamer.routes.media_body sends its body, streamer.routes.media_cors adds CORS; this
module finds what to serve and ties them together.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from packager.retime import retime_fragment
from streamer.cache import Cached, SegmentCache
from streamer.cache.keys import window_key
from streamer.db.models import TRACK_ID
from streamer.errors import DatabaseUnavailable, ObjectChanged, ObjectNotFound, StorageError
from streamer.http.cache_status import cache_status
from streamer.http.signing import TokenError, verify_token
from streamer.observe import ROUTE_KEY
from streamer.renditions.catalog import RenditionCatalog
from streamer.request_stats import RequestStats
from streamer.routes.asgi import query_value, request_headers, version_query
from streamer.routes.media_body import (
    Pace,
    body_at_once,
    send_body,
    sendfile_span,
    single_range,
    stream_span,
    stream_window,
)
from streamer.routes.media_cors import ALLOW, Cors, CorsPolicy
from streamer.routes.media_delivery import Subject, delivery_of
from streamer.routes.media_files import ObjectState, ObjectStates
from streamer.routes.media_index import MediaIndex
from streamer.routes.media_plan import StateChanged, Window, WindowStale, plan_response
from streamer.routes.problems import problem_response, storage_unavailable
from streamer.settings import Settings
from streamer.storage import ObjectStore
from streamer.storage.registry import StoreLookup
from streamer.types import DELIVERY_KEY, ZEROCOPY, Receive, Reply, Scope, Send, ShortFile

logger = logging.getLogger("streamer.media")

ROUTE = "/media/{track_id}/original"
RENDITION_ROUTE = "/media/{track_id}/{rendition}.m4a"
COVER_ROUTE = "/media/{track_id}/cover"
RENDITION_CONTENT_TYPE = "audio/mp4"
PREFETCH_CONCURRENCY = 4  # segment prefetches reading storage at once, per worker
PREFETCH_PENDING = 64  # prefetches waiting for a slot; more are dropped
MEMORY_HIT = cache_status("memory")


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
    # Say what each answer delivered (streamer.routes.media_delivery) for analytics.
    deliveries: bool = False

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
            deliveries=settings.analytics_enabled,
        )


# Set in the scope by a route that checked the caller itself (the Subsonic API) and
# hands the request to this endpoint: no URL token is needed then. Only server code
# writes the scope, so a client cannot set it.
AUTHORISED_KEY = "streamer.authorised"


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
        # CORS fields and preflights, as methods of the endpoint (streamer.routes.hls
        # calls them too); bound once here, so a request pays no extra call.
        cors = CorsPolicy(config.allow_origins, config.cors_max_age)
        self.cors_headers = cors.headers
        self.options = cors.preflight
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
        subject: Subject | None = None
        if self.config.deliveries:
            subject = ("track", parts[2], "original", None, entry.duration)
        reply = self._reply_now(scope, method, headers, cors, window, state, None, subject)
        if reply is not None:
            scope[ROUTE_KEY] = ROUTE
        return reply

    def answer_window_now(
        self,
        scope: Scope,
        method: str,
        headers: dict[str, str],
        cors: Cors,
        window: Window,
        subject: Subject | None = None,
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
        return self._reply_now(scope, method, headers, cors, window, state, cached.data, subject)

    def _reply_now(
        self,
        scope: Scope,
        method: str,
        headers: dict[str, str],
        cors: Cors,
        window: Window,
        state: ObjectState,
        data: bytes | None,
        subject: Subject | None,
    ) -> Reply | None:
        try:
            config = self.config
            plan = plan_response(
                method, headers, cors, window, state, config.cache_control, config.max_ranges
            )
            span = None
            streamed = False
            if plan.body is None and data is None:
                if plan.total <= config.inline_read_max:
                    span = sendfile_span(state.fd, plan.segments, window.offset)
                elif method == "GET" and state.fd >= 0 and ZEROCOPY in scope.get("extensions", ()):
                    # A long body: the head now, the body streamed by the protocol (whose
                    # zero-copy loop waits for the socket and the disk off this call).
                    span = stream_span(state.fd, plan.segments, window.offset)
                    streamed = span is not None
            body = (
                b""
                if span is not None
                else body_at_once(plan, window, state, data, config.inline_read_max)
            )
            if body is None:
                return None
        except (StateChanged, WindowStale):
            return None
        if plan.kind is not None:
            self.stats.record_range(plan.kind)
        if subject is not None:  # only now: None above leaves the scope as it was
            scope[DELIVERY_KEY] = delivery_of(subject, plan, window, state)
        reply = Reply(plan.status, plan.headers, body, span)
        if streamed:
            states = self.states
            states.hold(state)  # the descriptor stays open until the body has gone
            reply.done = lambda _sent: states.release(state)
        return reply

    async def authorised(self, scope: Scope, send: Send, cors: Cors) -> bool:
        """With URL signing on, answer 403 unless the request's token opens its path."""
        secret = self.config.signing_secret
        if secret is None or scope.get(AUTHORISED_KEY):
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
        subject: Subject | None = None
        if self.config.deliveries and not cover:
            subject = ("track", track_id, "original", None, entry.duration)
        found = await self.serve(
            scope, receive, send, headers, cors, entry.library_root, window, track_id, subject
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
            if track is None:
                # Say whether the track exists at all (the index remembers unknown ids).
                try:
                    known = await self.index.get(track_id) is not None
                except DatabaseUnavailable:
                    await storage_unavailable(send, cors, track_id=track_id)
                    return
                if not known:
                    await problem_response(send, 404, "no such track", cors)
                    return
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
        subject: Subject | None = None
        if self.config.deliveries:
            subject = ("track", track_id, name, None, entry.seconds)
        found = await self.serve(
            scope, receive, send, headers, cors, track.library_root, window, track_id, subject
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
        subject: Subject | None = None,
    ) -> bool:
        """Answer a GET or HEAD for ``window`` of an object in the store at ``root``;
        with a ``subject``, say what it delivered (streamer.routes.media_delivery).

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
        if (
            window.exact
            and window.length is not None
            and (self.segments is not None or window.retime is not None)
        ):
            return await self._serve_cached(
                scope, receive, send, method, headers, cors, window, store, track_id, subject
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
                    scope, receive, send, method, headers, cors, window, store, state, None, subject
                )
                return True
            except StateChanged:
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
        subject: Subject | None,
    ) -> bool:
        """An exact window from the segment cache: a hit costs no storage I/O at all.
        A window to retime is served from memory even without a cache."""
        try:
            if self.segments is not None:
                cached, source = await self.segments.lookup(
                    segment_cache_key(window), lambda: self._load_window(store, window)
                )
                cors = [*cors, cache_status(source)]
            else:
                cached = await self._load_window(store, window)
        except ObjectNotFound:
            return False
        except StorageError:  # ObjectChanged included: the index will be reloaded
            await storage_unavailable(send, cors, track_id=track_id)
            return True
        if window.retime is not None:
            # The cache holds the file's bytes (one entry whichever channel asks); the
            # moof is rewritten per answer, a copy of one fragment.
            cached = Cached(retime_fragment(cached.data, window.retime), cached.mtime)
            window = replace(window, length=len(cached.data))
        state = _cached_state(window, cached)
        await self._respond(
            scope, receive, send, method, headers, cors, window, store, state, cached.data, subject
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
        subject: Subject | None = None,
    ) -> None:
        """Answer for ``window`` of the object in ``state``; its bytes come from ``data``
        (the window's bytes, from the segment cache) when given, else from storage."""
        config = self.config
        plan = plan_response(
            method, headers, cors, window, state, config.cache_control, config.max_ranges
        )
        if plan.kind is not None:
            self.stats.record_range(plan.kind)
        if subject is not None:
            scope[DELIVERY_KEY] = delivery_of(subject, plan, window, state)
        status, response_headers, segments = plan.status, plan.headers, plan.segments
        body = body_at_once(plan, window, state, data, config.inline_read_max)
        if body is not None:
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            await send({"type": "http.response.body", "body": body})
            return

        only = single_range(segments) if state.fd >= 0 else None
        if only is not None and ZEROCOPY in scope.get("extensions", {}):
            # The server sends the file itself (streamer.serving): no chunk ever passes
            # through this process, so a slow reader holds no buffer here. A file that
            # shrank under its cached state is answered afresh, before any status goes
            # (an fstat of an open file: the inode is in memory).
            if os.fstat(state.fd).st_size <= window.offset + only.end:
                raise StateChanged
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
        pace = Pace(self._chunk_ceiling)
        chunks = stream_window(store, window, state, segments, pace, config.chunk_size)
        self.streaming += 1
        try:
            # Fetch the first chunk before committing to a status: a changed object can
            # still be answered properly instead of aborting the connection.
            try:
                first = [await anext(chunks, b"")]
            except ObjectChanged:
                raise StateChanged from None
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            # In a list the callee empties: no frame keeps the first chunk alive for the
            # whole response (one more chunk per slow reader otherwise).
            await send_body(receive, send, first, chunks, pace)
        finally:
            self.streaming -= 1
            await chunks.aclose()

    def _chunk_ceiling(self) -> int:
        share = self.config.stream_buffer_budget // max(1, self.streaming)
        return max(Pace.MIN_CHUNK, min(self.config.chunk_size, share))


def _purge_keys(track_id: str) -> list[tuple[bytes, bytes]]:
    # Only well-formed ids reach a CDN as keys; others are answered 404 anyway.
    if not TRACK_ID.match(track_id):
        return []
    return [
        (b"surrogate-key", f"track-{track_id}".encode()),
        (b"cache-tag", f"track-{track_id}".encode()),
    ]


def segment_cache_key(window: Window) -> str:
    """The segment cache's key of an exact window (streamer.cache.keys)."""
    assert window.length is not None
    return window_key(window.key, window.version, window.offset, window.length)


def _cached_state(window: Window, cached: Cached) -> ObjectState:
    """The state of an exact window's object as the segment cache holds its bytes."""
    return ObjectState(
        size=window.offset + len(cached.data), mtime=cached.mtime, version=window.version
    )
