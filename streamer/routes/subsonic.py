"""/rest/{method} (and /rest/{method}.view): the OpenSubsonic API, GET with query
parameters or POST with a form (the formPost extension). Credentials, then the method
(streamer.subsonic.methods); binary answers are the media endpoint's own answer for the
track's URL, so ranges, conditional requests, URL signing aside and delivery events
behave exactly as on /media."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from streamer.auth.authenticate import Authenticator
from streamer.errors import DatabaseUnavailable
from streamer.observe import ROUTE_KEY
from streamer.renditions.cover_sizes import CoverSizes
from streamer.renditions.on_demand import Busy, OnDemandTranscodes
from streamer.routes.asgi import request_headers
from streamer.routes.media import AUTHORISED_KEY, MediaEndpoint
from streamer.routes.media_body import Pace, send_body
from streamer.routes.media_delivery import Subject
from streamer.routes.media_index import MediaEntry
from streamer.routes.media_plan import Window
from streamer.storage.base import ObjectNotFound, ObjectStore, StorageError
from streamer.subsonic.call import (
    Answer,
    Call,
    CoverAnswer,
    MediaAnswer,
    Services,
    TranscodeAnswer,
)
from streamer.subsonic.credentials import authenticate
from streamer.subsonic.methods import METHODS, open_answer
from streamer.subsonic.responses import (
    GENERIC,
    NOT_FOUND,
    SubsonicError,
    failure,
    render,
    success,
)
from streamer.types import DELIVERY_KEY, Delivery
from transcoder.errors import TranscodeError
from transcoder.progressive import CHUNK, Progressive

__all__ = ["SubsonicEndpoint"]

logger = logging.getLogger("streamer.subsonic")

_MAX_FORM = 64 * 1024


class SubsonicEndpoint:
    def __init__(
        self,
        auth: Authenticator,
        services: Services,
        media: MediaEndpoint,
        on_demand: OnDemandTranscodes,
        covers: CoverSizes | None = None,
    ) -> None:
        self.auth = auth
        self.services = services
        self.media = media
        self.on_demand = on_demand
        self.covers = covers or CoverSizes(on_demand.ffmpeg)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"][len("/rest/") :].removesuffix(".view")
        scope[ROUTE_KEY] = "/rest/{method}"
        method = scope["method"]
        if method not in ("GET", "HEAD", "POST"):
            await _answer(send, 405, *_failure(SubsonicError(GENERIC, "use GET or POST"), None))
            return
        try:
            query = scope.get("query_string", b"").decode("utf-8", "replace")
            params = parse_qs(query, keep_blank_values=True)
            if method == "POST":
                params = {**params, **await _form(receive, _content_type(scope))}
        except SubsonicError as exc:
            await _answer(send, exc.http_status, *_failure(exc, None))
            return
        fmt = (params.get("f") or [None])[0]
        callback = (params.get("callback") or [None])[0]
        handler = METHODS.get(name)
        try:
            if handler is None:
                detail = f"this server does not answer {name[:60]!r} (docs/subsonic.md)"
                raise SubsonicError(GENERIC, detail, http_status=404)
            firsts = {k: v[0] for k, v in params.items() if v}
            anonymous = open_answer(name)
            if anonymous is not None and "u" not in firsts and "apiKey" not in firsts:
                result: Answer = anonymous
            else:
                client = scope.get("client")
                ip = client[0] if client else None
                caller = await authenticate(self.auth, firsts, ip)
                result = await handler(Call(caller, params, self.services, ip))
        except SubsonicError as exc:
            body, media_type = render(failure(exc), fmt, callback)
            await _answer(send, exc.http_status, body, media_type, exc.headers)
            return
        except DatabaseUnavailable:
            logger.warning("the catalogue database is unavailable", exc_info=True)
            error = SubsonicError(
                GENERIC,
                "the catalogue database is unavailable",
                http_status=503,
                headers={"retry-after": "5"},
            )
            body, media_type = render(failure(error), fmt, callback)
            await _answer(send, 503, body, media_type, error.headers)
            return
        except Exception:
            # A bug or an outage nobody named: the player still gets a Subsonic answer
            # (and the log the traceback), never a bare 500 it cannot parse.
            logger.exception("/rest/%s failed", name[:60])
            error = SubsonicError(GENERIC, "the server failed; it has logged why", http_status=500)
            body, media_type = render(failure(error), fmt, callback)
            await _answer(send, 500, body, media_type, {})
            return
        if isinstance(result, MediaAnswer):
            await self._media(scope, receive, send, result.path)
            return
        if isinstance(result, (TranscodeAnswer, CoverAnswer)):
            try:
                if isinstance(result, TranscodeAnswer):
                    await self._transcode(scope, receive, send, result)
                else:
                    await self._cover(scope, receive, send, result)
            except SubsonicError as exc:
                body, media_type = render(failure(exc), fmt, callback)
                await _answer(send, exc.http_status, body, media_type, exc.headers)
            return
        body, media_type = render(success(**result), fmt, callback)
        await _answer(send, 200, body, media_type, {})

    async def _media(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """The media endpoint's answer for ``path``, in this request's scope (so its
        delivery event is this request's), keeping the /rest path for logs. A POST (the
        formPost extension) is a GET of the media: its form has been read."""
        own_path, own_query, own_method = (
            scope["path"],
            scope.get("query_string", b""),
            scope["method"],
        )
        scope["path"], scope["query_string"] = path, b""
        if own_method == "POST":
            scope["method"] = "GET"
        scope[AUTHORISED_KEY] = True
        try:
            await self.media(scope, receive, send)
        finally:
            scope["path"], scope["query_string"] = own_path, own_query
            scope["method"] = own_method
            scope[ROUTE_KEY] = "/rest/{method}"

    async def _track_store(self, track_id: str) -> tuple[MediaEntry, ObjectStore]:
        """The track's media entry and its open store; 70 for no such track, 503 with
        Retry-After when the database or the store cannot be reached."""
        try:
            entry = await self.media.index.get(track_id)
            if entry is None:
                raise SubsonicError(NOT_FOUND, "no such song")
            return entry, await self.media.store_for(entry.library_root)
        except (DatabaseUnavailable, StorageError):
            logger.warning("cannot reach the track's storage", exc_info=True)
            raise SubsonicError(
                GENERIC, "storage unavailable", http_status=503, headers={"retry-after": "5"}
            ) from None

    async def _cover(self, scope: Scope, receive: Receive, send: Send, answer: CoverAnswer) -> None:
        """The cover at the size asked (made once, then kept), or as it is when it cannot
        be scaled."""
        entry, store = await self._track_store(answer.track_id)
        if entry.cover_key is None:
            raise SubsonicError(NOT_FOUND, "no cover art for this id")
        size = CoverSizes.size_for(answer.size)
        try:
            key = await self.covers.ensure(store, entry.cover_key, size)
        except (TranscodeError, StorageError):
            logger.warning("could not scale the cover of %s", entry.track_id, exc_info=True)
            key = None
        if key is None:
            await self._media(scope, receive, send, f"/media/{entry.track_id}/cover")
            return
        window = Window(key=key, content_type="image/jpeg", version="")
        await self._media_window(scope, receive, send, entry.library_root, window, entry.track_id)

    async def _transcode(
        self, scope: Scope, receive: Receive, send: Send, answer: TranscodeAnswer
    ) -> None:
        """A transcode kept from before (served as a stored object, ranges and all), or
        one made as it is sent (200, no length, no ranges); counted as a delivery of the
        track in that format either way."""
        plan = answer.plan
        entry, store = await self._track_store(answer.track_id)
        source = entry.content_hash or hashlib.sha256(entry.version.encode()).hexdigest()
        key = self.on_demand.key(entry.track_id, source, plan)
        subject: Subject = ("track", entry.track_id, plan.name, None, entry.duration)
        if answer.offset <= 0:
            window = Window(key=key, content_type=plan.format.content_type, version="")
            with contextlib.suppress(ObjectNotFound):
                await store.stat(key)
                await self._media_window(
                    scope, receive, send, entry.library_root, window, entry.track_id, subject
                )
                return
        try:
            async with self.on_demand.slot():
                await self._send_transcode(scope, receive, send, store, entry, plan, key, answer)
        except Busy as exc:
            raise SubsonicError(
                GENERIC, str(exc), http_status=503, headers={"retry-after": "5"}
            ) from None

    async def _media_window(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        root: str,
        window: Window,
        track_id: str,
        subject: Subject | None = None,
    ) -> None:
        own_method = scope["method"]
        scope["method"] = "HEAD" if own_method == "HEAD" else "GET"
        try:
            headers = request_headers(scope)
            found = await self.media.serve(
                scope, receive, send, headers, [], root, window, track_id, subject
            )
        finally:
            scope["method"] = own_method
            scope[ROUTE_KEY] = "/rest/{method}"
        if not found:
            raise SubsonicError(NOT_FOUND, "the kept file is gone; ask again")

    async def _send_transcode(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        store: ObjectStore,
        entry: MediaEntry,
        plan: Progressive,
        key: str,
        answer: TranscodeAnswer,
    ) -> None:
        seconds = max((entry.duration or 0.0) - answer.offset, 0.0)
        estimate = int(plan.kbps * 125 * seconds)  # bytes, for the delivery's share
        scope[DELIVERY_KEY] = Delivery(
            "track", entry.track_id, plan.name, None, None, None, estimate, entry.duration
        )
        headers = [
            (b"content-type", plan.format.content_type.encode()),
            (b"cache-control", b"no-store"),
            (b"accept-ranges", b"none"),
        ]
        if entry.duration is not None:
            headers.append((b"x-content-duration", f"{seconds:.3f}".encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        chunks = self.on_demand.transcode(
            store,
            entry.key,
            plan,
            keep_as=key if answer.offset <= 0 else None,
            duration=entry.duration,
            offset=answer.offset,
        )
        try:
            # Sent at the client's pace (ffmpeg waits on its pipe meanwhile); a client that
            # leaves ends the loop, and closing the chunks kills ffmpeg.
            first = await anext(chunks, b"")
            pace = Pace(lambda: CHUNK)  # ffmpeg's reads set the size: the pace only watches
            await send_body(receive, send, [first], chunks, pace)
        except TranscodeError:
            # The status line went out: end the connection rather than a body that
            # looks whole.
            logger.warning("on-demand transcode of %s failed", entry.track_id, exc_info=True)
            raise
        finally:
            await chunks.aclose()


def _failure(error: SubsonicError, fmt: str | None) -> tuple[bytes, str]:
    return render(failure(error), fmt, None)


def _content_type(scope: Scope) -> str:
    name: bytes
    value: bytes
    for name, value in scope["headers"]:
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


async def _form(receive: Receive, kind: str) -> dict[str, list[str]]:
    if kind != "application/x-www-form-urlencoded":
        detail = "POST a form (application/x-www-form-urlencoded)"
        raise SubsonicError(GENERIC, detail, http_status=415)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise SubsonicError(GENERIC, "the client left", http_status=400)
        body.extend(message.get("body", b""))
        if len(body) > _MAX_FORM:
            raise SubsonicError(GENERIC, f"a form is at most {_MAX_FORM} bytes", http_status=413)
        if not message.get("more_body", False):
            break
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


async def _answer(
    send: Send, status: int, body: bytes, media_type: str, extra: dict[str, str] | None = None
) -> None:
    headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *((k.encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
