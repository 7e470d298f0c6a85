"""GET|HEAD|OPTIONS /hls/{track_id}/...: a track's renditions as HLS, from memory.

    /hls/{track}/master.m3u8                  the variants (streamer.renditions.playlists)
    /hls/{track}/{rendition}/index.m3u8       init.mp4 + seg_{n}.m4s (n from 0)
    /hls/{track}/{rendition}/index_br.m3u8    byte ranges of /media/{track}/{rendition}.m4a
    /hls/{track}/{rendition}/init.mp4         bytes [0, init_size) of the rendition file
    /hls/{track}/{rendition}/seg_{n}.m4s      fragment n of the rendition file

Plain ASGI like the media route, whose range machinery (MediaEndpoint.serve) serves init
and segments as windows of the rendition file: Range within a segment, conditional
requests, HEAD, CORS and problem+json errors behave exactly as for /media. Everything a
request needs comes from the RenditionCatalog in memory; no database query per request.

Content types: playlists ``application/vnd.apple.mpegurl`` (RFC 8216); init and segments
``audio/mp4``, which is what players and MediaSource expect for audio-only CMAF (the
``video/iso.segment`` type adds nothing a player uses and trips some CDNs' type rules).

Caching, for CDNs: every URL a master playlist gives carries ``?v={token}``, the rendition
file's version (streamer.renditions.playlists), so media playlists, init and segments
requested at the current token are named by their content and get
``public, max-age=31536000, immutable``. The master playlist (and any URL without a token)
gets a short max-age with ``stale-while-revalidate`` and ``stale-if-error``: a re-transcode
changes only the master's text. A token that is not the current one is a 404 (the player
holds a playlist of replaced files and must reload the master), briefly cacheable. ETags
come from the playlist text, or from the file's version and the segment number. Every
response names its purge keys: ``Surrogate-Key: track-{id} hls-{id}`` and the same as
``Cache-Tag``.

A segment URL has one spelling (``seg_7.m4s``, never ``seg_07.m4s``), so a CDN caches
each segment once.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from streamer.errors import DatabaseUnavailable
from streamer.http import evaluate_preconditions, format_http_date
from streamer.http.signing import sign_playlist
from streamer.observe import ROUTE_KEY
from streamer.renditions.catalog import (
    Playlist,
    RenditionCatalog,
    RenditionEntry,
    TrackRenditions,
)
from streamer.routes.asgi import query_value, request_headers, send_reply, version_query
from streamer.routes.media import MediaEndpoint
from streamer.routes.media_cors import ALLOW, Cors
from streamer.routes.media_delivery import Subject, record_playlist
from streamer.routes.media_plan import Window, WindowStale
from streamer.routes.problems import problem_reply, problem_response, storage_unavailable
from streamer.storage import StorageError
from streamer.types import Receive, Reply, Scope, Send

__all__ = [
    "IMMUTABLE_CACHE_CONTROL",
    "PLAYLIST_CACHE_CONTROL",
    "PLAYLIST_CONTENT_TYPE",
    "SEGMENT_CONTENT_TYPE",
    "SIGNED_CACHE_CONTROL",
    "STALE_VERSION_CACHE_CONTROL",
    "Admitted",
    "HlsEndpoint",
    "admit",
    "playlist_reply",
    "purge_keys",
    "segment_number",
    "segment_subject",
    "segment_window",
]

logger = logging.getLogger("streamer.hls")

PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CONTENT_TYPE = "audio/mp4"
PLAYLIST_CACHE_CONTROL = b"max-age=60, stale-while-revalidate=60, stale-if-error=86400"
IMMUTABLE_CACHE_CONTROL = b"public, max-age=31536000, immutable"
STALE_VERSION_CACHE_CONTROL = b"max-age=10"
# A signed playlist carries one viewer's token: never for a shared cache.
SIGNED_CACHE_CONTROL = b"private, max-age=60"

_MASTER_ROUTE = "/hls/{track_id}/master.m3u8"
_PLAYLIST_ROUTE = "/hls/{track_id}/{rendition}/index.m3u8"
_BYTERANGE_ROUTE = "/hls/{track_id}/{rendition}/index_br.m3u8"
_INIT_ROUTE = "/hls/{track_id}/{rendition}/init.mp4"
_SEGMENT_ROUTE = "/hls/{track_id}/{rendition}/seg_{n}.m4s"


class HlsEndpoint:
    """The ASGI app for /hls/{track_id}/..."""

    def __init__(
        self, catalog: RenditionCatalog, media: MediaEndpoint, *, prefetch: int = 2
    ) -> None:
        self.catalog = catalog
        self.media = media
        self.prefetch = prefetch  # segments after a requested one to warm the cache with

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].split("/")
        # ["", "hls", track_id, "master.m3u8"] or ["", "hls", track_id, rendition, resource]
        admitted = await admit(self.media, scope, send, _route(parts), "/hls/")
        if admitted is None:
            return
        route, _method, headers, cors = admitted
        track_id = parts[2]
        cors = [*cors, *purge_keys(track_id)]
        token = version_query(scope.get("query_string", b""))
        for attempt in (1, 2):
            try:
                track = await self.catalog.get(track_id)
            except (StorageError, DatabaseUnavailable):
                await storage_unavailable(send, cors, track_id=track_id)
                return
            if track is None:
                await self._no_renditions(send, track_id, cors)
                return
            try:
                await self._answer(scope, receive, send, parts, route, track, headers, cors, token)
                return
            except WindowStale:
                # The rendition file was replaced (a re-transcode): its index is stale.
                self.catalog.invalidate(track_id)
                if attempt == 2:
                    await problem_response(
                        send,
                        503,
                        "the rendition is changing; try again",
                        [(b"retry-after", b"1"), *cors],
                    )

    async def _no_renditions(self, send: Send, track_id: str, cors: Cors) -> None:
        """404 for a track without renditions, saying whether the track exists at all.
        The media index remembers unknown ids for a moment, as the catalog does."""
        try:
            known = await self.media.index.get(track_id) is not None
        except DatabaseUnavailable:
            await storage_unavailable(send, cors, track_id=track_id)
            return
        detail = "no HLS renditions for this track" if known else "no such track"
        await problem_response(send, 404, detail, cors)

    def answer_now(self, scope: Scope) -> Reply | None:
        """The answer to a GET or HEAD of a playlist, init or segment that this process
        holds in memory (the track's renditions, and a segment's bytes), else None and the
        ASGI path answers (MediaEndpoint.answer_now says how). Signed URLs never."""
        media = self.media
        if media.config.signing_secret is not None or scope["method"] not in ("GET", "HEAD"):
            return None
        parts = scope["path"].split("/")
        route = _route(parts)
        track = self.catalog.peek(parts[2]) if route is not None else None
        if route is None or track is None:
            return None
        method = scope["method"]
        headers = request_headers(scope)
        cors = [*media.cors_headers(headers.get("origin")), *purge_keys(track.track_id)]
        deliveries = media.config.deliveries
        if route == _MASTER_ROUTE:
            reply: Reply | None = playlist_reply(
                method, headers, cors, track.master, track.modified
            )
            if deliveries:
                record_playlist(scope, "track", track.track_id)
        else:
            entry = track.renditions.get(parts[3])
            token = version_query(scope.get("query_string", b""))
            if entry is None or (token is not None and token != entry.token):
                return None  # a 404 and its reason: the ASGI path
            cache_control = IMMUTABLE_CACHE_CONTROL if token is not None else None
            if route in (_PLAYLIST_ROUTE, _BYTERANGE_ROUTE):
                playlist = entry.playlist if route == _PLAYLIST_ROUTE else entry.byterange_playlist
                reply = playlist_reply(
                    method, headers, cors, playlist, track.modified, cache_control
                )
                if deliveries:
                    record_playlist(scope, "track", track.track_id)
            else:
                window = segment_window(entry, parts[4], cache_control)
                if window is None:
                    return None
                subject = _subject(track.track_id, entry, parts[4]) if deliveries else None
                reply = media.answer_window_now(scope, method, headers, cors, window, subject)
                if reply is not None and method == "GET":
                    self._prefetch_after(track, entry, parts[4])
        if reply is not None:
            scope[ROUTE_KEY] = route
        return reply

    def _prefetch_after(self, track: TrackRenditions, entry: RenditionEntry, resource: str) -> None:
        """Warm the cache with the segments a player will ask for next."""
        n = segment_number(resource)
        if n is None or not self.prefetch:
            return
        following = (
            segment_window(entry, f"seg_{m}.m4s") for m in range(n + 1, n + 1 + self.prefetch)
        )
        self.media.prefetch(track.library_root, [w for w in following if w is not None])

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        parts: list[str],
        route: str,
        track: TrackRenditions,
        headers: dict[str, str],
        cors: Cors,
        token: str | None,
    ) -> None:
        method = scope["method"]
        signed = query_value(scope.get("query_string", b""), b"token")
        if signed is not None and self.media.config.signing_secret is None:
            signed = None  # signing is off: playlists are not rewritten
        deliveries = self.media.config.deliveries
        if deliveries and route in (_MASTER_ROUTE, _PLAYLIST_ROUTE, _BYTERANGE_ROUTE):
            record_playlist(scope, "track", track.track_id)
        if route == _MASTER_ROUTE:
            master = _signed(track.master, signed)
            cache_control = SIGNED_CACHE_CONTROL if signed else None
            reply = playlist_reply(method, headers, cors, master, track.modified, cache_control)
            await send_reply(send, reply)
            return
        entry = track.renditions.get(parts[3])
        if entry is None:
            await problem_response(send, 404, "no such rendition", cors)
            return
        if token is not None and token != entry.token:
            await problem_response(
                send,
                404,
                "this version of the rendition was replaced; reload the master playlist",
                [(b"cache-control", STALE_VERSION_CACHE_CONTROL), *cors],
            )
            return
        cache_control = IMMUTABLE_CACHE_CONTROL if token is not None else None
        if route in (_PLAYLIST_ROUTE, _BYTERANGE_ROUTE):
            playlist = entry.playlist if route == _PLAYLIST_ROUTE else entry.byterange_playlist
            if signed:
                playlist, cache_control = _signed(playlist, signed), SIGNED_CACHE_CONTROL
            reply = playlist_reply(method, headers, cors, playlist, track.modified, cache_control)
            await send_reply(send, reply)
            return
        window = segment_window(entry, parts[4], cache_control)
        if window is None:
            await problem_response(send, 404, "no such segment", cors)
            return
        subject = _subject(track.track_id, entry, parts[4]) if deliveries else None
        found = await self.media.serve(
            scope, receive, send, headers, cors, track.library_root, window, track.track_id, subject
        )
        if not found:
            self.catalog.invalidate(track.track_id)
            await problem_response(send, 404, "the rendition's file is gone", cors)
            return
        if method == "GET":
            self._prefetch_after(track, entry, parts[4])


class Admitted(NamedTuple):
    route: str
    method: str
    headers: dict[str, str]
    cors: list[tuple[bytes, bytes]]


async def admit(
    media: MediaEndpoint, scope: Scope, send: Send, route: str | None, prefix: str
) -> Admitted | None:
    """What every HLS request goes through before its resource is looked at: the route
    template (``prefix`` when the path matches none: 404), CORS, OPTIONS, GET/HEAD only,
    signed-URL tokens. None when it has answered the request itself."""
    scope[ROUTE_KEY] = route or prefix
    headers = request_headers(scope)
    cors = media.cors_headers(headers.get("origin"))
    if route is None:
        await problem_response(send, 404, "no such HLS URL", cors)
        return None
    method = scope["method"]
    if method == "OPTIONS":
        await media.options(send, headers, cors)
        return None
    if method not in ("GET", "HEAD"):
        await problem_response(send, 405, "use GET or HEAD", [(b"allow", ALLOW), *cors])
        return None
    if not await media.authorised(scope, send, cors):
        return None
    return Admitted(route, method, headers, cors)


def _route(parts: list[str]) -> str | None:
    """Which HLS resource a split path names (its route template), or None."""
    if len(parts) == 4 and parts[3] == "master.m3u8":
        return _MASTER_ROUTE
    if len(parts) != 5 or not parts[3]:
        return None
    resource = parts[4]
    if resource == "index.m3u8":
        return _PLAYLIST_ROUTE
    if resource == "index_br.m3u8":
        return _BYTERANGE_ROUTE
    if resource == "init.mp4":
        return _INIT_ROUTE
    if segment_number(resource) is not None:
        return _SEGMENT_ROUTE
    return None


def segment_number(resource: str) -> int | None:
    """n of ``seg_{n}.m4s`` in its one canonical spelling (no sign, no leading zeros)."""
    if not (resource.startswith("seg_") and resource.endswith(".m4s")):
        return None
    digits = resource[4:-4]
    if not digits.isascii() or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        return None
    if len(digits) > 9:  # beyond any index, and keeps int() cheap
        return None
    return int(digits)


def _signed(playlist: Playlist, token: str | None) -> Playlist:
    """The playlist with ``token`` on every URL it gives (a signed request's playlists)."""
    if not token:
        return playlist
    return Playlist.of(sign_playlist(playlist.body.decode(), token))


def purge_keys(track_id: str) -> list[tuple[bytes, bytes]]:
    """The purge keys of a track's HLS responses, for Fastly-style and Cloudflare-style
    CDNs; ``POST /api/v1/cache/purge`` names the same keys."""
    return [
        (b"surrogate-key", f"track-{track_id} hls-{track_id}".encode()),
        (b"cache-tag", f"track-{track_id},hls-{track_id}".encode()),
    ]


def segment_window(
    entry: RenditionEntry, resource: str, cache_control: bytes | None = None
) -> Window | None:
    if resource == "init.mp4":
        return Window(
            key=entry.key,
            content_type=SEGMENT_CONTENT_TYPE,
            version=entry.version,
            etag=f"{entry.version}.init",
            offset=0,
            length=entry.index.init_size,
            exact=True,
            cache_control=cache_control,
        )
    n = segment_number(resource)
    fragment = entry.fragment(n) if n is not None else None
    if fragment is None:
        return None
    return Window(
        key=entry.key,
        content_type=SEGMENT_CONTENT_TYPE,
        version=entry.version,
        etag=f"{entry.version}.{n}",
        offset=fragment.offset,
        length=fragment.size,
        exact=True,
        cache_control=cache_control,
    )


def _subject(track_id: str, entry: RenditionEntry, resource: str) -> Subject:
    """What an init (segment -1) or media segment URL delivers: the segment's seconds of
    audio (none for an init section)."""
    n = segment_number(resource)
    if n is None:
        return ("track", track_id, entry.name, -1, 0.0)
    return segment_subject(track_id, entry, n)


def segment_subject(track_id: str, entry: RenditionEntry, n: int) -> Subject:
    """What segment ``n`` of a track delivers, whichever URL served it (a channel's too)."""
    return ("track", track_id, entry.name, n, entry.index.fragment_seconds(n))


def playlist_reply(
    method: str,
    headers: dict[str, str],
    cors: Cors,
    playlist: Playlist,
    modified: float,
    cache_control: bytes | None = None,
    *,
    clamp_to_now: bool = True,
) -> Reply:
    """The answer for a playlist held in memory: 200, or 304/412 by its validators.
    Last-Modified is ``modified``, no later than the node's clock unless ``clamp_to_now``
    is off (a live window's is the same on every node whatever their clocks say)."""
    cache_control = cache_control or PLAYLIST_CACHE_CONTROL
    etag = playlist.etag.encode("latin-1")
    last_modified = min(int(modified), int(time.time())) if clamp_to_now else int(modified)
    outcome = evaluate_preconditions(method, headers, playlist.etag, last_modified)
    if outcome == 304:
        return Reply(304, [(b"cache-control", cache_control), (b"etag", etag), *cors], b"")
    validators = [
        (b"etag", etag),
        (b"last-modified", format_http_date(last_modified).encode()),
        *cors,
    ]
    if outcome == 412:
        return problem_reply(412, "a precondition failed", validators)
    response = [
        (b"content-type", PLAYLIST_CONTENT_TYPE.encode()),
        (b"content-length", str(len(playlist.body)).encode()),
        (b"cache-control", cache_control),
        *validators,
    ]
    return Reply(200, response, playlist.body if method == "GET" else b"")
