"""GET|HEAD|OPTIONS /hls/ads/{track}/...: a track with ads chosen for each listener.

    /hls/ads/{track}/master.m3u8                          starts a session: its variants
    /hls/ads/{track}/s/{session}/{rendition}/index.m3u8   the session's media playlist
    /hls/ads/{track}/{rendition}/seg/{t}/{n}.m4s?v=&t=    a segment of the programme or an ad

Each GET of the master starts a new session (streamer.ads.sessions): the ads of every
break are decided then and stored, so the session's playlists are the same on every
reload, rendition and node. The master and the session's playlists are one listener's:
``private`` (a shared cache must not hand them to another). Segments are shared
(streamer.ads.session_stream says how) and immutable at their ``?v=``. A segment URL may
name the programme or a creative's track, nothing else. Deliveries are recorded by
analytics like any track's segments.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from streamer.ads.session_stream import (
    PLAYLIST_TO_HLS,
    TRACK_TO_HLS,
    session_playlist,
    session_renditions,
)
from streamer.ads.sessions import AdSessions, Session, Visitor
from streamer.analytics.geo import COUNTRY_HEADERS, country_code
from streamer.errors import DatabaseUnavailable
from streamer.observe import ROUTE_KEY
from streamer.playlists.streams import PlaylistStreams, sign_stitched
from streamer.renditions.catalog import Playlist, RenditionCatalog, TrackRenditions
from streamer.routes.asgi import query_value, request_headers, send_reply
from streamer.routes.hls import admit, playlist_reply
from streamer.routes.media import MediaEndpoint
from streamer.routes.media_cors import Cors
from streamer.routes.media_delivery import record_playlist
from streamer.routes.problems import problem_response, storage_unavailable
from streamer.routes.retimed_segments import is_segment_resource, serve_retimed
from streamer.storage import StorageError
from streamer.types import Receive, Reply, Scope, Send

__all__ = ["AdHlsEndpoint"]

_ROUTES = {
    "track": (
        "/hls/ads/{track_id}/master.m3u8",
        "/hls/ads/{track_id}/s/{session}/{rendition}/index.m3u8",
        "/hls/ads/{track_id}/{rendition}/seg/{segment_track}/{n}.m4s",
    ),
    "playlist": (
        "/hls/ads/playlists/{playlist_id}/master.m3u8",
        "/hls/ads/playlists/{playlist_id}/s/{session}/{rendition}/index.m3u8",
        "/hls/ads/playlists/{playlist_id}/{rendition}/seg/{segment_track}/{n}.m4s",
    ),
}
_MASTER, _MEDIA, _SEGMENT = 0, 1, 2
_ID = re.compile(r"^[0-9a-f]{16}$")
_PRIVATE = b"private, no-store"
_SESSION_CACHE = b"private, max-age=86400"  # a session's playlists never change


@dataclass(frozen=True, slots=True)
class _Programme:
    """What a session plays: the track, or the playlist's tracks in order."""

    kind: Literal["track", "playlist"]
    subject_id: str
    tracks: list[TrackRenditions]
    master: Playlist  # the unpersonalised stream's master (its variants)
    modified: float

    @property
    def to_hls(self) -> str:
        return PLAYLIST_TO_HLS if self.kind == "playlist" else TRACK_TO_HLS


class AdHlsEndpoint:
    """The ASGI app for /hls/ads/..."""

    def __init__(
        self,
        sessions: AdSessions,
        catalog: RenditionCatalog,
        playlists: PlaylistStreams,
        media: MediaEndpoint,
        *,
        trust_country_header: bool = False,
        max_playlists: int = 10_000,
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.playlists = playlists
        self.media = media
        self.trust_country_header = trust_country_header
        self.max_playlists = max_playlists
        # (session, rendition) -> (the files' tokens it was rendered for, the playlist)
        self._playlists: OrderedDict[tuple[str, str], tuple[tuple[str, ...], Playlist]] = (
            OrderedDict()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found_route = _route(scope["path"].split("/"))
        template = _ROUTES[found_route[0]][found_route[2]] if found_route else None
        admitted = await admit(self.media, scope, send, template, "/hls/ads/")
        if admitted is None or found_route is None:
            return
        kind, subject_id, route, rest = found_route
        _, method, headers, cors = admitted
        try:
            if route == _SEGMENT:
                # The hot path: a membership check, not the whole programme.
                segment_track = rest[2]
                if not await self._in_programme(kind, subject_id, segment_track) and (
                    not await self.sessions.is_ad_track(segment_track)
                ):
                    await problem_response(send, 404, "that track is not in this stream", cors)
                    return
                await serve_retimed(
                    self.media, self.catalog, scope, receive, send, headers, cors,
                    rest[0], segment_track, rest[3],
                )  # fmt: skip
                return
            programme = await self._programme(kind, subject_id)
            if programme is None:
                what = "playlist" if kind == "playlist" else "track"
                await problem_response(
                    send, 404, f"no such {what}, or nothing in it transcoded yet", cors
                )
                return
            if route == _MASTER:
                await self._master(scope, send, method, headers, cors, programme)
                return
            found = await self.sessions.get(rest[1])
            if found is None or (found.kind, found.subject_id) != (kind, subject_id):
                await problem_response(send, 404, "no such ad session for this stream", cors)
                return
            ads = await self._ads(found.ad_tracks)
            name = rest[2]
            if name not in session_renditions(programme.tracks, found.breaks, ads):
                await problem_response(send, 404, "no such rendition in this session", cors)
                return
            playlist = self._signed(scope, self._rendered(found, name, programme, ads))
            reply = playlist_reply(
                method, headers, cors, playlist, found.started.timestamp(), _SESSION_CACHE
            )
            await send_reply(send, reply)
        except (StorageError, DatabaseUnavailable, TimeoutError):
            await storage_unavailable(send, cors)

    async def _master(
        self,
        scope: Scope,
        send: Send,
        method: str,
        headers: dict[str, str],
        cors: Cors,
        programme: _Programme,
    ) -> None:
        if method == "HEAD":
            # No session for a HEAD (it would never be played): the headers only.
            names = list(programme.tracks[0].renditions)
            text = _master(programme.master, "-" * 32, names)
        else:
            session = await self.sessions.start(
                programme.kind, programme.subject_id, programme.tracks, self._visitor(scope)
            )
            ads = await self._ads(session.ad_tracks)
            names = session_renditions(programme.tracks, session.breaks, ads)
            text = self._signed(scope, _master(programme.master, session.id, names))
            if self.media.config.deliveries:
                record_playlist(scope, programme.kind, programme.subject_id)
        reply = playlist_reply(method, headers, cors, text, programme.modified, _PRIVATE)
        await send_reply(send, reply)

    async def _in_programme(self, kind: str, subject_id: str, track_id: str) -> bool:
        """Whether ``track_id`` is the track, or one of the playlist's tracks."""
        if kind == "track":
            return track_id == subject_id
        stream = await self.playlists.get(subject_id)
        return stream is not None and track_id in stream.track_ids

    async def _programme(
        self, kind: Literal["track", "playlist"], subject_id: str
    ) -> _Programme | None:
        if kind == "track":
            track = await self.catalog.get(subject_id)
            if track is None:
                return None
            return _Programme("track", subject_id, [track], track.master, track.modified)
        stream = await self.playlists.get(subject_id)
        if stream is None:
            return None
        tracks = [t for t in [await self.catalog.get(i) for i in stream.track_ids] if t]
        if not tracks:
            return None
        return _Programme("playlist", subject_id, tracks, stream.master, stream.modified)

    def answer_now(self, scope: Scope) -> Reply | None:
        """A track session's media playlist when everything it needs is in this process's
        memory (the session, the tracks' renditions), else None and the ASGI path answers:
        the immediate path (streamer.serving) skips ASGI for what players reload most."""
        if self.media.config.signing_secret is not None or scope["method"] not in ("GET", "HEAD"):
            return None
        found_route = _route(scope["path"].split("/"))
        if found_route is None or found_route[0] != "track" or found_route[2] != _MEDIA:
            return None
        _, track_id, _, rest = found_route
        track = self.catalog.peek(track_id)
        session = self.sessions.peek(rest[1])
        if track is None or session is None or session.subject_id != track_id:
            return None
        ads: dict[str, TrackRenditions] = {}
        for ad_track in session.ad_tracks:
            found = self.catalog.peek(ad_track)
            if found is None:
                return None
            ads[ad_track] = found
        name = rest[2]
        if name not in session_renditions([track], session.breaks, ads):
            return None
        programme = _Programme("track", track_id, [track], track.master, track.modified)
        headers = request_headers(scope)
        cors = self.media.cors_headers(headers.get("origin"))
        playlist = self._rendered(session, name, programme, ads)
        reply = playlist_reply(
            scope["method"], headers, cors, playlist, session.started.timestamp(), _SESSION_CACHE
        )
        scope[ROUTE_KEY] = _ROUTES["track"][_MEDIA]
        return reply

    def _signed(self, scope: Scope, playlist: Playlist) -> Playlist:
        """For a signed request (admitted, so its token opens the stream's folder): every URL
        the playlist gives carries a token, each track's init section one of its own
        expiring with the request's (streamer.playlists.streams.sign_stitched)."""
        secret = self.media.config.signing_secret
        token = query_value(scope.get("query_string", b""), b"token")
        if secret is None or not token:
            return playlist
        expires = int(token.split(".", 1)[0])
        return Playlist.of(sign_stitched(playlist.body.decode(), secret, expires, token))

    def _rendered(
        self,
        session: Session,
        name: str,
        programme: _Programme,
        ads: dict[str, TrackRenditions],
    ) -> Playlist:
        """The session's playlist of rendition ``name``, rendered once for the files it
        names (a re-transcode of the programme or an ad renders it again)."""
        tokens = tuple(
            track.renditions[name].token if name in track.renditions else ""
            for track in (*programme.tracks, *(ads[t] for t in sorted(ads)))
        )
        key = (session.id, name)
        cached = self._playlists.get(key)
        if cached is not None and cached[0] == tokens:
            self._playlists.move_to_end(key)
            return cached[1]
        body = session_playlist(
            name, programme.tracks, session.breaks, ads, session.started, to_hls=programme.to_hls
        )
        playlist = Playlist.of(body)
        self._playlists[key] = (tokens, playlist)
        if len(self._playlists) > self.max_playlists:
            self._playlists.popitem(last=False)
        return playlist

    async def _ads(self, track_ids: frozenset[str]) -> dict[str, TrackRenditions]:
        found: dict[str, TrackRenditions] = {}
        for track_id in sorted(track_ids):
            renditions = await self.catalog.get(track_id)
            if renditions is not None:
                found[track_id] = renditions
        return found

    def _visitor(self, scope: Scope) -> Visitor:
        fields = {name: value.decode("latin-1") for name, value in scope["headers"]}
        client = scope.get("client")
        country = None
        if self.trust_country_header:
            for name in COUNTRY_HEADERS:
                country = country or country_code(fields.get(name))
        return Visitor(
            ip=client[0] if client else None,
            user_agent=fields.get(b"user-agent", ""),
            country=country,
        )


def _master(master: Playlist, session: str, names: list[str]) -> Playlist:
    """The stream's master with its variants pointed at the session (only ``names``)."""
    out: list[str] = []
    pending: str | None = None
    for line in master.body.decode().split("\n"):
        if line.startswith("#EXT-X-STREAM-INF"):
            pending = line
        elif pending is not None and line and not line.startswith("#"):
            name = line.split("/", 1)[0]
            if name in names:
                out.extend([pending, f"s/{session}/{name}/index.m3u8"])
            pending = None
        else:
            out.append(line)
    return Playlist.of("\n".join(out))


def _route(parts: list[str]) -> tuple[Literal["track", "playlist"], str, int, list[str]] | None:
    """(kind, subject id, route, the parts after the subject) of an /hls/ads/ path."""
    # ["", "hls", "ads", track, ...] or ["", "hls", "ads", "playlists", playlist, ...]
    kind: Literal["track", "playlist"]
    if len(parts) > 4 and parts[3] == "playlists":
        kind, subject_id, rest = "playlist", parts[4], parts[5:]
    elif len(parts) > 3:
        kind, subject_id, rest = "track", parts[3], parts[4:]
    else:
        return None
    if not _ID.match(subject_id):
        return None
    if rest == ["master.m3u8"]:
        return kind, subject_id, _MASTER, rest
    if len(rest) == 4 and rest[0] == "s" and rest[1] and rest[2] and rest[3] == "index.m3u8":
        return kind, subject_id, _MEDIA, rest
    if len(rest) == 4 and rest[0] and is_segment_resource(*rest[1:]):
        return kind, subject_id, _SEGMENT, rest
    return None
