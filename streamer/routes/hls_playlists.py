"""GET|HEAD|OPTIONS /hls/playlists/{playlist_id}/...: a playlist as one HLS stream.

    /hls/playlists/{id}/master.m3u8                          the renditions every track has
    /hls/playlists/{id}/{rendition}/index.m3u8               the tracks' segments, stitched
    /hls/playlists/{id}/{rendition}/seg/{track}/{n}.m4s?v=&t= a track's segment, retimed

Init sections are the tracks' own URLs, served by the track route; segments are served
here at their decode time in the stream (streamer.playlists.streams), only for tracks the
playlist plays. Like the track URLs these are public streaming URLs: with URL signing on,
a token whose scope is playlist:{id} (or the path /hls/playlists/{id}/) opens them
(``GET /api/v1/playlists/{id}/signed`` mints one), and the playlists served to a signed
request carry a token on every URL, a per-track one for the tracks' segments.

Caching: the master gets a short max-age with stale-while-revalidate (the playlist
changes); a media playlist at its current ``?v=`` token is immutable, an old token is a
short-lived 404. Purge key: ``playlist-{id}``.
"""

from __future__ import annotations

from streamer.errors import DatabaseUnavailable
from streamer.playlists.streams import PlaylistStreams, sign_stitched
from streamer.renditions.catalog import Playlist
from streamer.routes.asgi import query_value, send_reply, version_query
from streamer.routes.hls import (
    IMMUTABLE_CACHE_CONTROL,
    SIGNED_CACHE_CONTROL,
    STALE_VERSION_CACHE_CONTROL,
    admit,
    playlist_reply,
)
from streamer.routes.media import MediaEndpoint
from streamer.routes.media_delivery import record_playlist
from streamer.routes.problems import problem_response, storage_unavailable
from streamer.routes.retimed_segments import is_segment_resource, serve_retimed
from streamer.storage import StorageError
from streamer.types import Receive, Scope, Send

__all__ = ["PlaylistHlsEndpoint"]

_MASTER_ROUTE = "/hls/playlists/{playlist_id}/master.m3u8"
_MEDIA_ROUTE = "/hls/playlists/{playlist_id}/{rendition}/index.m3u8"
_SEGMENT_ROUTE = "/hls/playlists/{playlist_id}/{rendition}/seg/{track_id}/{n}.m4s"


class PlaylistHlsEndpoint:
    """The ASGI app for /hls/playlists/{playlist_id}/..."""

    def __init__(self, streams: PlaylistStreams, media: MediaEndpoint) -> None:
        self.streams = streams
        self.media = media

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].split("/")
        # ["", "hls", "playlists", id, "master.m3u8"] or [..., id, rendition, "index.m3u8"]
        admitted = await admit(self.media, scope, send, _route(parts), "/hls/playlists/")
        if admitted is None:
            return
        route, method, headers, cors = admitted
        playlist_id = parts[3]
        cors = [*cors, *purge_keys(playlist_id)]
        try:
            stream = await self.streams.get(playlist_id)
        except (StorageError, DatabaseUnavailable):
            await storage_unavailable(send, cors)
            return
        if stream is None:
            await problem_response(
                send, 404, "no such playlist, or nothing in it is playable", cors
            )
            return
        if route == _SEGMENT_ROUTE:
            if parts[6] not in stream.track_ids:
                await problem_response(send, 404, "that track is not in this playlist", cors)
                return
            await serve_retimed(
                self.media, self.streams.catalog, scope, receive, send, headers, cors,
                parts[4], parts[6], parts[7],
            )  # fmt: skip
            return
        if self.media.config.deliveries:
            record_playlist(scope, "playlist", playlist_id)
        query = scope.get("query_string", b"")
        signed = query_value(query, b"token")
        secret = self.media.config.signing_secret
        if route == _MASTER_ROUTE:
            playlist, cache_control = stream.master, None
            if signed and secret is not None:
                text = sign_stitched(playlist.body.decode(), secret, _expires(signed), signed)
                playlist, cache_control = Playlist.of(text), SIGNED_CACHE_CONTROL
            reply = playlist_reply(method, headers, cors, playlist, stream.modified, cache_control)
            await send_reply(send, reply)
            return
        found = stream.media.get(parts[4])
        if found is None:
            await problem_response(send, 404, "no such rendition in this playlist", cors)
            return
        token, playlist = found
        version = version_query(query)
        if version is not None and version != token:
            await problem_response(
                send,
                404,
                "this version of the playlist was replaced; reload the master playlist",
                [(b"cache-control", STALE_VERSION_CACHE_CONTROL), *cors],
            )
            return
        media_cache = IMMUTABLE_CACHE_CONTROL if version is not None else None
        if signed and secret is not None:
            text = sign_stitched(playlist.body.decode(), secret, _expires(signed), signed)
            playlist, media_cache = Playlist.of(text), SIGNED_CACHE_CONTROL
        reply = playlist_reply(method, headers, cors, playlist, stream.modified, media_cache)
        await send_reply(send, reply)


def _route(parts: list[str]) -> str | None:
    if len(parts) == 5 and parts[4] == "master.m3u8":
        return _MASTER_ROUTE
    if len(parts) == 6 and parts[4] and parts[5] == "index.m3u8":
        return _MEDIA_ROUTE
    if len(parts) == 8 and parts[3] and parts[4] and is_segment_resource(*parts[5:]):
        return _SEGMENT_ROUTE
    return None


def _expires(token: str) -> int:
    """The expiry of a token already verified (``{expires}.{scope}.{signature}``)."""
    return int(token.split(".", 1)[0])


def purge_keys(playlist_id: str) -> list[tuple[bytes, bytes]]:
    """The purge keys of a playlist's HLS responses (Fastly- and Cloudflare-style)."""
    return [
        (b"surrogate-key", f"playlist-{playlist_id}".encode()),
        (b"cache-tag", f"playlist-{playlist_id}".encode()),
    ]
