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

from streamer.ads.session_stream import session_playlist, session_renditions
from streamer.ads.sessions import AdSessions, Session, Visitor
from streamer.analytics.geo import COUNTRY_HEADERS, country_code
from streamer.errors import DatabaseUnavailable
from streamer.observe import ROUTE_KEY
from streamer.playlists.streams import sign_stitched
from streamer.renditions.catalog import Playlist, RenditionCatalog, TrackRenditions
from streamer.routes.asgi import query_value, request_headers, send_reply
from streamer.routes.hls import admit, playlist_reply
from streamer.routes.media import MediaEndpoint
from streamer.routes.media_delivery import record_playlist
from streamer.routes.problems import problem_response, storage_unavailable
from streamer.routes.retimed_segments import is_segment_resource, serve_retimed
from streamer.storage import StorageError
from streamer.types import Receive, Reply, Scope, Send

__all__ = ["AdHlsEndpoint"]

_MASTER_ROUTE = "/hls/ads/{track_id}/master.m3u8"
_MEDIA_ROUTE = "/hls/ads/{track_id}/s/{session}/{rendition}/index.m3u8"
_SEGMENT_ROUTE = "/hls/ads/{track_id}/{rendition}/seg/{segment_track}/{n}.m4s"
_TRACK_ID = re.compile(r"^[0-9a-f]{16}$")
_PRIVATE = b"private, no-store"
_SESSION_CACHE = b"private, max-age=86400"  # a session's playlists never change


class AdHlsEndpoint:
    """The ASGI app for /hls/ads/{track}/..."""

    def __init__(
        self,
        sessions: AdSessions,
        catalog: RenditionCatalog,
        media: MediaEndpoint,
        *,
        trust_country_header: bool = False,
        max_playlists: int = 10_000,
    ) -> None:
        self.sessions = sessions
        self.max_playlists = max_playlists
        # (session, rendition) -> (the files' tokens it was rendered for, the playlist)
        self._playlists: OrderedDict[tuple[str, str], tuple[tuple[str, ...], Playlist]] = (
            OrderedDict()
        )
        self.catalog = catalog
        self.media = media
        self.trust_country_header = trust_country_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].split("/")
        admitted = await admit(self.media, scope, send, _route(parts), "/hls/ads/")
        if admitted is None:
            return
        route, method, headers, cors = admitted
        track_id = parts[3]
        try:
            programme = await self.catalog.get(track_id)
            if route == _SEGMENT_ROUTE:
                segment_track = parts[6]
                allowed = segment_track == track_id or await self.sessions.is_ad_track(
                    segment_track
                )
                if programme is None or not allowed:
                    await problem_response(send, 404, "that track is not in this stream", cors)
                    return
                await serve_retimed(
                    self.media, self.catalog, scope, receive, send, headers, cors,
                    parts[4], segment_track, parts[7],
                )  # fmt: skip
                return
            if programme is None:
                await problem_response(send, 404, "no such track, or not transcoded yet", cors)
                return
            if route == _MASTER_ROUTE:
                if method == "HEAD":
                    # No session for a HEAD (it would never be played): the headers only.
                    text = _master(programme, "-" * 32, list(programme.renditions))
                    reply = playlist_reply(
                        method, headers, cors, text, programme.modified, _PRIVATE
                    )
                    await send_reply(send, reply)
                    return
                session = await self.sessions.start(programme, self._visitor(scope))
                ads = await self._ads(session.ad_tracks)
                names = session_renditions(programme, session.breaks, ads)
                text = self._signed(scope, _master(programme, session.id, names))
                if self.media.config.deliveries:
                    record_playlist(scope, "track", track_id)
                reply = playlist_reply(method, headers, cors, text, programme.modified, _PRIVATE)
                await send_reply(send, reply)
                return
            found = await self.sessions.get(parts[5])
            if found is None or found.track_id != track_id:
                await problem_response(send, 404, "no such ad session for this track", cors)
                return
            ads = await self._ads(found.ad_tracks)
            name = parts[6]
            if name not in session_renditions(programme, found.breaks, ads):
                await problem_response(send, 404, "no such rendition in this session", cors)
                return
            playlist = self._signed(scope, self._rendered(found, name, programme, ads))
            reply = playlist_reply(
                method, headers, cors, playlist, found.started.timestamp(), _SESSION_CACHE
            )
            await send_reply(send, reply)
        except (StorageError, DatabaseUnavailable, TimeoutError):
            await storage_unavailable(send, cors)

    def answer_now(self, scope: Scope) -> Reply | None:
        """A session's media playlist when everything it needs is in this process's memory
        (the session, the tracks' renditions), else None and the ASGI path answers: the
        immediate path (streamer.serving) skips ASGI for what players reload most."""
        if self.media.config.signing_secret is not None or scope["method"] not in ("GET", "HEAD"):
            return None
        parts = scope["path"].split("/")
        if _route(parts) != _MEDIA_ROUTE:
            return None
        programme = self.catalog.peek(parts[3])
        session = self.sessions.peek(parts[5])
        if programme is None or session is None or session.track_id != programme.track_id:
            return None
        ads: dict[str, TrackRenditions] = {}
        for track_id in session.ad_tracks:
            found = self.catalog.peek(track_id)
            if found is None:
                return None
            ads[track_id] = found
        name = parts[6]
        if name not in session_renditions(programme, session.breaks, ads):
            return None
        headers = request_headers(scope)
        cors = self.media.cors_headers(headers.get("origin"))
        playlist = self._rendered(session, name, programme, ads)
        reply = playlist_reply(
            scope["method"], headers, cors, playlist, session.started.timestamp(), _SESSION_CACHE
        )
        scope[ROUTE_KEY] = _MEDIA_ROUTE
        return reply

    def _signed(self, scope: Scope, playlist: Playlist) -> Playlist:
        """For a signed request (admitted, so its token opens /hls/ads/{track}/): every URL
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
        programme: TrackRenditions,
        ads: dict[str, TrackRenditions],
    ) -> Playlist:
        """The session's playlist of rendition ``name``, rendered once for the files it
        names (a re-transcode of the programme or an ad renders it again)."""
        tokens = tuple(
            track.renditions[name].token if name in track.renditions else ""
            for track in (programme, *(ads[t] for t in sorted(ads)))
        )
        key = (session.id, name)
        cached = self._playlists.get(key)
        if cached is not None and cached[0] == tokens:
            self._playlists.move_to_end(key)
            return cached[1]
        body = session_playlist(name, programme, session.breaks, ads, session.started)
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


def _master(programme: TrackRenditions, session: str, names: list[str]) -> Playlist:
    """The programme's master with its variants pointed at the session (only ``names``)."""
    out: list[str] = []
    pending: str | None = None
    for line in programme.master.body.decode().split("\n"):
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


def _route(parts: list[str]) -> str | None:
    # ["", "hls", "ads", track, ...]
    if len(parts) < 5 or not _TRACK_ID.match(parts[3]):
        return None
    if len(parts) == 5 and parts[4] == "master.m3u8":
        return _MASTER_ROUTE
    if len(parts) == 8 and parts[4] == "s" and parts[5] and parts[6] and parts[7] == "index.m3u8":
        return _MEDIA_ROUTE
    if len(parts) == 8 and parts[4] and is_segment_resource(*parts[5:]):
        return _SEGMENT_ROUTE
    return None
