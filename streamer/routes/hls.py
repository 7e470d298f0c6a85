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

Caching: playlists get a short Cache-Control (``max-age=60``; a re-transcode may change
them) and an ETag from their text; init and segments the long-lived media Cache-Control,
with ETags from the rendition file's version and the segment number, so a changed file
changes every validator.

A segment URL has one spelling (``seg_7.m4s``, never ``seg_07.m4s``), so a CDN caches
each segment once.
"""

from __future__ import annotations

import logging
import time

from streamer.http import evaluate_preconditions, format_http_date
from streamer.observe import ROUTE_KEY
from streamer.renditions.catalog import (
    Playlist,
    RenditionCatalog,
    RenditionEntry,
    TrackRenditions,
)
from streamer.routes.media import ALLOW, Cors, MediaEndpoint, Window, WindowStale, request_headers
from streamer.routes.problems import problem_response, storage_unavailable
from streamer.storage import StorageError
from streamer.types import Receive, Scope, Send

__all__ = ["PLAYLIST_CACHE_CONTROL", "PLAYLIST_CONTENT_TYPE", "SEGMENT_CONTENT_TYPE", "HlsEndpoint"]

logger = logging.getLogger("streamer.hls")

PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CONTENT_TYPE = "audio/mp4"
PLAYLIST_CACHE_CONTROL = b"max-age=60"

_MASTER_ROUTE = "/hls/{track_id}/master.m3u8"
_PLAYLIST_ROUTE = "/hls/{track_id}/{rendition}/index.m3u8"
_BYTERANGE_ROUTE = "/hls/{track_id}/{rendition}/index_br.m3u8"
_INIT_ROUTE = "/hls/{track_id}/{rendition}/init.mp4"
_SEGMENT_ROUTE = "/hls/{track_id}/{rendition}/seg_{n}.m4s"


class HlsEndpoint:
    """The ASGI app for /hls/{track_id}/..."""

    def __init__(self, catalog: RenditionCatalog, media: MediaEndpoint) -> None:
        self.catalog = catalog
        self.media = media

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].split("/")
        # ["", "hls", track_id, "master.m3u8"] or ["", "hls", track_id, rendition, resource]
        route = _route(parts)
        scope[ROUTE_KEY] = route or "/hls/"
        headers = request_headers(scope)
        cors = self.media.cors_headers(headers.get("origin"))
        if route is None:
            await problem_response(send, 404, "no such HLS URL", cors)
            return
        method = scope["method"]
        if method == "OPTIONS":
            await self.media.options(send, headers, cors)
            return
        if method not in ("GET", "HEAD"):
            await problem_response(send, 405, "use GET or HEAD", [(b"allow", ALLOW), *cors])
            return
        track_id = parts[2]
        for attempt in (1, 2):
            try:
                track = await self.catalog.get(track_id)
            except StorageError:
                await storage_unavailable(send, cors, track_id=track_id)
                return
            if track is None:
                await problem_response(send, 404, "no HLS renditions for this track", cors)
                return
            try:
                await self._answer(scope, receive, send, parts, route, track, headers, cors)
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
    ) -> None:
        if route == _MASTER_ROUTE:
            await _playlist(send, scope["method"], headers, cors, track.master, track.modified)
            return
        entry = track.renditions.get(parts[3])
        if entry is None:
            await problem_response(send, 404, "no such rendition", cors)
            return
        if route == _PLAYLIST_ROUTE:
            await _playlist(send, scope["method"], headers, cors, entry.playlist, track.modified)
            return
        if route == _BYTERANGE_ROUTE:
            playlist = entry.byterange_playlist
            await _playlist(send, scope["method"], headers, cors, playlist, track.modified)
            return
        window = _window(entry, parts[4])
        if window is None:
            await problem_response(send, 404, "no such segment", cors)
            return
        found = await self.media.serve(
            scope, receive, send, headers, cors, track.library_root, window, track.track_id
        )
        if not found:
            self.catalog.invalidate(track.track_id)
            await problem_response(send, 404, "the rendition's file is gone", cors)


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
    if _segment_number(resource) is not None:
        return _SEGMENT_ROUTE
    return None


def _segment_number(resource: str) -> int | None:
    """n of ``seg_{n}.m4s`` in its one canonical spelling (no sign, no leading zeros)."""
    if not (resource.startswith("seg_") and resource.endswith(".m4s")):
        return None
    digits = resource[4:-4]
    if not digits.isascii() or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        return None
    if len(digits) > 9:  # beyond any index, and keeps int() cheap
        return None
    return int(digits)


def _window(entry: RenditionEntry, resource: str) -> Window | None:
    if resource == "init.mp4":
        return Window(
            key=entry.key,
            content_type=SEGMENT_CONTENT_TYPE,
            version=entry.version,
            etag=f"{entry.version}.init",
            offset=0,
            length=entry.index.init_size,
            exact=True,
        )
    n = _segment_number(resource)
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
    )


async def _playlist(
    send: Send,
    method: str,
    headers: dict[str, str],
    cors: Cors,
    playlist: Playlist,
    modified: float,
) -> None:
    """A playlist from memory: 200, or 304/412 by its validators."""
    etag = playlist.etag.encode("latin-1")
    last_modified = min(int(modified), int(time.time()))
    outcome = evaluate_preconditions(method, headers, playlist.etag, last_modified)
    if outcome == 304:
        response = [(b"cache-control", PLAYLIST_CACHE_CONTROL), (b"etag", etag), *cors]
        await send({"type": "http.response.start", "status": 304, "headers": response})
        await send({"type": "http.response.body", "body": b""})
        return
    validators = [
        (b"etag", etag),
        (b"last-modified", format_http_date(last_modified).encode()),
        *cors,
    ]
    if outcome == 412:
        await problem_response(send, 412, "a precondition failed", validators)
        return
    response = [
        (b"content-type", PLAYLIST_CONTENT_TYPE.encode()),
        (b"content-length", str(len(playlist.body)).encode()),
        (b"cache-control", PLAYLIST_CACHE_CONTROL),
        *validators,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": response})
    await send({"type": "http.response.body", "body": playlist.body if method == "GET" else b""})
