"""GET|HEAD|OPTIONS /live/{channel_id}/...: a scheduled channel as live HLS.

    /live/{channel}/master.m3u8                           the renditions every track has
    /live/{channel}/{rendition}/index.m3u8                the sliding window at the wall clock
    /live/{channel}/{rendition}/seg/{track}/{n}.m4s?v=&t= segment n of a track, retimed

A channel encodes and stores nothing. Init sections are the tracks' own URLs
(``../../../hls/{track}/{rendition}/init.mp4?v={token}``). Segments are the tracks'
fragments served with the decode time they have on the channel's timeline (``t``, from
the schedule: streamer.channels.live_window.channel_decode_time), so decode time runs on
across tracks as players that follow a live stream by its timestamps need (packager.retime
says why). The bytes come from the same segment cache entry as the track's own URL; the
CDN caches each airing's URL. Such a URL serves only tracks of the channel's plans. With URL
signing on, a token scoped to ``/live/{channel}/`` opens the playlists and segments, and
the init sections carry a per-track token.

Caching, for CDNs: a media playlist changes at every segment boundary, so it gets
``max-age`` of about half a target duration and the same ``s-maxage`` (a CDN in front
carries the listeners; every node answers the same bytes at the same instant, so which
node a CDN asks does not matter). Its ETag hashes the text; Last-Modified is the start of
the newest segment listed (the same on every node). The master changes only with the
channel's renditions: a few seconds, with stale-while-revalidate. Segments keep their
immutable Cache-Control. Purge key: ``channel-{id}``.
"""

from __future__ import annotations

import math

from streamer.channels.live_window import LiveStreams, NotYetOnAir
from streamer.errors import DatabaseUnavailable
from streamer.http.signing import make_token
from streamer.observe import ROUTE_KEY
from streamer.renditions.catalog import Playlist
from streamer.routes.asgi import query_value, request_headers, send_reply
from streamer.routes.hls import (
    SIGNED_CACHE_CONTROL,
    admit,
    playlist_reply,
)
from streamer.routes.media import MediaEndpoint
from streamer.routes.media_cors import Cors
from streamer.routes.media_delivery import record_live_window, record_playlist
from streamer.routes.problems import problem_response, storage_unavailable
from streamer.routes.retimed_segments import is_segment_resource, serve_retimed
from streamer.storage import StorageError
from streamer.types import Receive, Reply, Scope, Send

__all__ = ["LiveEndpoint", "live_cache_control", "sign_live"]

_MASTER_ROUTE = "/live/{channel_id}/master.m3u8"
_MEDIA_ROUTE = "/live/{channel_id}/{rendition}/index.m3u8"
_SEGMENT_ROUTE = "/live/{channel_id}/{rendition}/seg/{track_id}/{n}.m4s"
MASTER_CACHE_CONTROL = b"max-age=5, s-maxage=5, stale-while-revalidate=30"


def live_cache_control(target_duration: int) -> bytes:
    """About half a target duration, for browsers and CDNs alike (at least 1 s)."""
    seconds = max(1, math.floor(target_duration / 2))
    return f"public, max-age={seconds}, s-maxage={seconds}".encode()


class LiveEndpoint:
    """The ASGI app for /live/{channel_id}/..."""

    def __init__(self, streams: LiveStreams, media: MediaEndpoint) -> None:
        self.streams = streams
        self.media = media

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].split("/")
        # ["", "live", id, "master.m3u8"] or ["", "live", id, rendition, "index.m3u8"]
        admitted = await admit(self.media, scope, send, _route(parts), "/live/")
        if admitted is None:
            return
        route, method, headers, cors = admitted
        channel_id = parts[2]
        cors = [*cors, *purge_keys(channel_id)]
        if route == _SEGMENT_ROUTE:
            await self._segment(scope, receive, send, parts, headers, cors)
            return
        try:
            if route == _MASTER_ROUTE:
                master = await self.streams.master(channel_id)
                if master is None:
                    await problem_response(
                        send, 404, "no such channel, or nothing on it is playable", cors
                    )
                    return
                if self.media.config.deliveries:
                    record_playlist(scope, "channel", channel_id)
                body, modified = master
                cache_control = MASTER_CACHE_CONTROL
                text = self._signed(scope, body.body.decode(), channel_id)
                if text is not None:
                    body, cache_control = Playlist.of(text), SIGNED_CACHE_CONTROL
                await send_reply(
                    send,
                    playlist_reply(
                        method, headers, cors, body, modified, cache_control, clamp_to_now=False
                    ),
                )
                return
            window = await self.streams.media(channel_id, parts[3])
        except (StorageError, DatabaseUnavailable):
            await storage_unavailable(send, cors)
            return
        if window is None:
            await problem_response(
                send, 404, "no such channel or rendition, or nothing on air", cors
            )
            return
        if isinstance(window, NotYetOnAir):
            wait = (window.ready_at - self.streams.channels.clock()).total_seconds()
            retry = str(max(1, math.ceil(wait))).encode()
            await problem_response(
                send,
                503,
                "the channel's first segment is still going out: its window opens shortly",
                [(b"retry-after", retry), *cors],
            )
            return
        if self.media.config.deliveries:
            # A listener polls the media playlist every few seconds: analytics reads these
            # as the channel's listening (the segments are the tracks' own URLs).
            record_live_window(scope, channel_id)
        playlist = window.playlist
        cache_control = live_cache_control(window.target_duration)
        text = self._signed(scope, playlist.body.decode(), channel_id)
        if text is not None:
            playlist, cache_control = Playlist.of(text), SIGNED_CACHE_CONTROL
        await send_reply(
            send,
            playlist_reply(
                method, headers, cors, playlist, window.modified, cache_control, clamp_to_now=False
            ),
        )

    async def _segment(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        parts: list[str],
        headers: dict[str, str],
        cors: Cors,
    ) -> None:
        """Segment n of a track of the channel at decode time ``t`` (the window's URL)."""
        channel_id, rendition, track_id = parts[2], parts[3], parts[5]
        try:
            carried = await self.streams.carries(channel_id, track_id)
        except (StorageError, DatabaseUnavailable):
            await storage_unavailable(send, cors, track_id=track_id)
            return
        if not carried:
            await problem_response(send, 404, "that track is not on this channel", cors)
            return
        await serve_retimed(
            self.media, self.streams.catalog, scope, receive, send, headers, cors,
            rendition, track_id, parts[6],
        )  # fmt: skip

    def answer_now(self, scope: Scope) -> Reply | None:
        """The answer to a GET or HEAD of a media playlist whose window this process
        rendered and still holds (streamer.serving's immediate path: no ASGI task), else
        None and the ASGI path answers. Signed URLs never (each carries its own tokens)."""
        media = self.media
        if media.config.signing_secret is not None or scope["method"] not in ("GET", "HEAD"):
            return None
        parts = scope["path"].split("/")
        if _route(parts) != _MEDIA_ROUTE:
            return None
        channel_id = parts[2]
        window = self.streams.peek(channel_id, parts[3])
        if window is None:
            return None
        headers = request_headers(scope)
        cors = [*media.cors_headers(headers.get("origin")), *purge_keys(channel_id)]
        if media.config.deliveries:
            record_live_window(scope, channel_id)
        scope[ROUTE_KEY] = _MEDIA_ROUTE
        return playlist_reply(
            scope["method"],
            headers,
            cors,
            window.playlist,
            window.modified,
            live_cache_control(window.target_duration),
            clamp_to_now=False,
        )

    def _signed(self, scope: Scope, text: str, channel_id: str) -> str | None:
        """The playlist for a signed request (None when signing is off)."""
        secret = self.media.config.signing_secret
        token = query_value(scope.get("query_string", b""), b"token")
        if secret is None or not token:
            return None
        return sign_live(text, secret, int(token.split(".", 1)[0]), token)


def sign_live(text: str, secret: bytes, expires: int, request_token: str) -> str:
    """Track URLs (``../../../hls/{track}/...``: init sections) get a token of their track
    expiring with the request's; the channel's own URLs (variants, segments) the request's
    token."""
    tokens: dict[str, str] = {}
    lines = []
    for line in text.split("\n"):
        if line.startswith("#EXT-X-MAP:"):
            uri = line.split('URI="', 1)[1].split('"', 1)[0]
            signed = _add_token(uri, _track_token(uri, tokens, secret, expires))
            line = line.replace(f'URI="{uri}"', f'URI="{signed}"')
        elif line.startswith("../../../hls/"):
            line = _add_token(line, _track_token(line, tokens, secret, expires))
        elif line and not line.startswith("#"):
            line = _add_token(line, request_token)
        lines.append(line)
    return "\n".join(lines)


def _track_token(uri: str, tokens: dict[str, str], secret: bytes, expires: int) -> str:
    track_id = uri.split("/")[4]
    if track_id not in tokens:
        tokens[track_id] = make_token(secret, f"track:{track_id}", expires)
    return tokens[track_id]


def _add_token(uri: str, token: str) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}token={token}"


def _route(parts: list[str]) -> str | None:
    if len(parts) == 4 and parts[2] and parts[3] == "master.m3u8":
        return _MASTER_ROUTE
    if len(parts) == 5 and parts[2] and parts[3] and parts[4] == "index.m3u8":
        return _MEDIA_ROUTE
    if len(parts) == 7 and parts[2] and parts[3] and is_segment_resource(*parts[4:]):
        return _SEGMENT_ROUTE
    return None


def purge_keys(channel_id: str) -> list[tuple[bytes, bytes]]:
    """The purge keys of a channel's live responses (Fastly- and Cloudflare-style)."""
    return [
        (b"surrogate-key", f"channel-{channel_id}".encode()),
        (b"cache-tag", f"channel-{channel_id}".encode()),
    ]
