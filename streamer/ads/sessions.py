"""Ad sessions: started when a listener opens a track's ad stream, kept in the database
so every node lists the same ads for the session.

At the start: the track's breaks are placed on its segments (streamer.ads.breaks), the
listener is described as analytics would (its listener id of the day, app and device from
the user agent, country from a trusted CDN header), what the listener heard is read from
their recent sessions (frequency caps hold across sessions), and each break is decided
(streamer.ads.session_plan). Crawlers get the programme without ads: inventory is not
spent on them. A session is immutable once stored, so it is cached without expiry (bounded).

Caps read the listener's sessions of the day: analytics' listener id is a salted hash
whose salt changes daily (never the address), so a cap's window is cut at midnight UTC.
Pacing and goals count the ads served (placed in stored sessions: each session's insert
adds its ads to their campaigns' ``served``, in the same transaction); the report counts
delivered impressions (streamer.ads.impressions).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from streamer.ads import repository
from streamer.ads.breaks import BreakSpec, place_between_items, place_breaks, specs_of
from streamer.ads.model import Listener
from streamer.ads.repository import Inputs
from streamer.ads.session_plan import plan_session
from streamer.ads.session_stream import SessionAd, SessionBreak
from streamer.analytics.agents import classify
from streamer.analytics.privacy import address_key, listener_id
from streamer.analytics.repository import salt_for
from streamer.coalescing_cache import CoalescingCache
from streamer.db import (
    AdCampaign,
    AdCreativeVersion,
    AdPlaylistBreaks,
    AdSession,
    AdTrackBreaks,
    Database,
    Track,
)
from streamer.db.availability import serving_cache
from streamer.renditions.catalog import RenditionCatalog, TrackRenditions
from streamer.renditions.playlists import presented_durations

__all__ = ["SESSION_ID_LENGTH", "AdSessions", "Session", "Visitor"]

SESSION_ID_LENGTH = 32  # hex digits: 128 random bits, never guessed
HEARD_DAYS = 30  # the longest frequency-cap window read back
INPUTS_SECONDS = 1.0  # campaigns and breaks are read again after this long
# Agents that get no ads: crawlers. Players built on a library (ffmpeg's Lavf, ExoPlayer)
# get them; whether their plays count is the impression counting's business (the same
# bot rules as analytics).
_CRAWLERS = ("bot", "unknown-bot")


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    kind: str  # track | playlist
    subject_id: str
    started: datetime
    breaks: tuple[SessionBreak, ...]

    @property
    def ad_tracks(self) -> frozenset[str]:
        return frozenset(ad.track for b in self.breaks for ad in b.ads)


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who opened the stream, as the request says."""

    ip: str | None
    user_agent: str
    country: str | None  # from a trusted CDN header, or None


class AdSessions:
    def __init__(
        self, db: Database, catalog: RenditionCatalog, *, target: float, max_entries: int = 20_000
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.target = target
        self._sessions: CoalescingCache[str, Session] = serving_cache(
            self._load, ttl=86_400.0, negative_ttl=1.0, max_entries=max_entries
        )
        self._ad_tracks: CoalescingCache[str, bool] = serving_cache(
            self._is_ad_track, ttl=60.0, negative_ttl=5.0, max_entries=max_entries
        )
        # Read at most once a second by each process, whatever the session rate: a pause
        # or a new cap holds within a second on every node (breaks are further apart).
        self._inputs: CoalescingCache[str, Inputs] = serving_cache(
            self._load_inputs, ttl=INPUTS_SECONDS, negative_ttl=INPUTS_SECONDS, max_entries=1
        )
        self._track_breaks: CoalescingCache[str, list[BreakSpec]] = serving_cache(
            self._load_breaks,
            ttl=INPUTS_SECONDS,
            negative_ttl=INPUTS_SECONDS,
            max_entries=max_entries,
        )
        self._playlist_breaks: CoalescingCache[str, list[BreakSpec]] = serving_cache(
            self._load_playlist_breaks,
            ttl=INPUTS_SECONDS,
            negative_ttl=INPUTS_SECONDS,
            max_entries=max_entries,
        )
        self._salts: dict[date, bytes] = {}  # the listener-hash salt of each day (shared)

    async def start(
        self, kind: str, subject_id: str, programme: Sequence[TrackRenditions], visitor: Visitor
    ) -> Session:
        """Decide and store a new session of ``programme`` (the track, or the playlist's
        tracks in order) for ``visitor``."""
        now = datetime.now(UTC)
        name = next(iter(programme[0].renditions))
        durations = [
            presented_durations((t.renditions.get(name) or next(iter(t.renditions.values()))).index)
            for t in programme
        ]
        if kind == "playlist":
            specs = await self._playlist_breaks.get(subject_id) or []
            placed = place_between_items(specs, durations)
        else:
            specs = await self._track_breaks.get(subject_id) or []
            placed = place_breaks(specs, durations[0])
        # In a thread: the first call reads the agent lists from disk.
        agent = await asyncio.to_thread(classify, visitor.user_agent)
        hashed = await self._listener(visitor, now)
        plan: list[dict[str, Any]] = []
        if placed and agent.bot_reason not in _CRAWLERS:
            inputs = await self._inputs.get("all")
            assert inputs is not None  # the loader always answers
            listener = Listener(
                session=secrets.token_hex(8),
                now=now,
                country=visitor.country,
                app=agent.app or agent.name,
                device=agent.device_category,
                heard=await self._heard(hashed, now),
            )
            planned = plan_session(
                placed,
                listener,
                inputs.campaigns,
                inputs.served,
                {creative: (p.version, p.track_id) for creative, p in inputs.placed.items()},
                tags=await self._labels([t.track_id for t in programme]),
                playlist=subject_id if kind == "playlist" else None,
            )
            segments = await self._segments({a.track for b in planned for a in b.ads})
            plan = [
                {
                    "position": b.place.position,
                    "boundary": b.place.boundary,
                    "seconds": b.place.seconds,
                    "ads": [
                        {
                            "campaign": a.campaign,
                            "creative": a.creative,
                            "version": a.version,
                            "track": a.track,
                            "seconds": a.seconds,
                            # For quartiles (streamer.ads.impressions): the ad's segments.
                            "segments": segments.get(a.track, []),
                        }
                        for a in b.ads
                    ],
                }
                for b in planned
            ]
        row = AdSession(
            id=secrets.token_hex(SESSION_ID_LENGTH // 2),
            kind=kind,
            subject_id=subject_id,
            listener=hashed,
            plan=plan,
            created_at=now,
        )
        served = Counter(ad["campaign"] for brk in plan for ad in brk["ads"])
        async with self.db.session() as session, session.begin():
            session.add(row)
            for campaign_id, count in sorted(served.items()):
                await session.execute(
                    update(AdCampaign)
                    .where(AdCampaign.id == campaign_id)
                    .values(served=AdCampaign.served + count)
                )
        return _session(row)

    async def _labels(self, track_ids: list[str]) -> frozenset[str]:
        """The labels of the programme's tracks (campaigns target programmes by them)."""
        query = select(Track.labels).where(Track.id.in_(track_ids))
        async with asyncio.timeout(5.0), self.db.session() as session:
            found = (await session.scalars(query)).all()
        return frozenset(label for labels in found for label in labels or ())

    async def _segments(self, track_ids: set[str]) -> dict[str, list[float]]:
        """Each ad track's presented segment durations (of its first rendition: a ladder's
        renditions are cut alike)."""
        found: dict[str, list[float]] = {}
        for track_id in sorted(track_ids):
            renditions = await self.catalog.get(track_id)
            if renditions is not None and renditions.renditions:
                entry = next(iter(renditions.renditions.values()))
                found[track_id] = [round(d, 6) for d in presented_durations(entry.index)]
        return found

    async def get(self, session_id: str) -> Session | None:
        if len(session_id) != SESSION_ID_LENGTH or not all(
            c in "0123456789abcdef" for c in session_id
        ):
            return None
        return await self._sessions.get(session_id)

    def peek(self, session_id: str) -> Session | None:
        """The session if this process holds it, else None; never queries."""
        return self._sessions.peek(session_id)[1]

    async def is_ad_track(self, track_id: str) -> bool:
        """Whether ``track_id`` holds a creative's audio (any version): the only tracks,
        besides the programme, an ad stream's segment URLs may name."""
        return bool(await self._ad_tracks.get(track_id))

    async def _load(self, session_id: str) -> Session | None:
        async with asyncio.timeout(5.0), self.db.session() as session:
            row = await session.get(AdSession, session_id)
        return _session(row) if row is not None else None

    async def _is_ad_track(self, track_id: str) -> bool:
        query = select(AdCreativeVersion.creative_id).where(AdCreativeVersion.track_id == track_id)
        async with asyncio.timeout(5.0), self.db.session() as session:
            return (await session.scalars(query.limit(1))).first() is not None

    def changed(self) -> None:
        """Campaigns, creatives or breaks changed here: read them afresh at the next start."""
        self._inputs.invalidate()
        self._track_breaks.invalidate()
        self._playlist_breaks.invalidate()

    async def _load_inputs(self, _key: str) -> Inputs:
        # Campaigns whose flight ended by now are left out; one that ends within the second
        # the inputs are kept is refused by the decision itself (its flight check).
        return await repository.decision_inputs(self.db, self.target, datetime.now(UTC))

    async def _load_breaks(self, track_id: str) -> list[BreakSpec]:
        async with asyncio.timeout(5.0), self.db.session() as session:
            row = await session.get(AdTrackBreaks, track_id)
        return specs_of(row.breaks) if row is not None else []

    async def _load_playlist_breaks(self, playlist_id: str) -> list[BreakSpec]:
        async with asyncio.timeout(5.0), self.db.session() as session:
            row = await session.get(AdPlaylistBreaks, playlist_id)
        return specs_of(row.breaks) if row is not None else []

    async def _listener(self, visitor: Visitor, now: datetime) -> str:
        """Analytics' listener id of the day (its salt read once a day per process)."""
        day = now.date()
        salt = self._salts.get(day)
        if salt is None:
            async with asyncio.timeout(5.0), self.db.session() as session, session.begin():
                salt = await session.run_sync(lambda s: salt_for(s.connection(), day))
            self._salts = {day: salt}
        return listener_id(salt, address_key(visitor.ip)[0], visitor.user_agent)

    async def _heard(self, hashed: str, now: datetime) -> dict[str, tuple[datetime, ...]]:
        """When each campaign was placed in this listener's recent sessions."""
        query = (
            select(AdSession.plan, AdSession.created_at)
            .where(AdSession.listener == hashed)
            .where(AdSession.created_at > now - timedelta(days=HEARD_DAYS))
            .order_by(AdSession.created_at.desc())
            .limit(1000)
        )
        async with asyncio.timeout(5.0), self.db.session() as session:
            rows = (await session.execute(query)).all()
        heard: dict[str, list[datetime]] = {}
        for plan, created in reversed(rows):
            for brk in plan:
                for ad in brk["ads"]:
                    heard.setdefault(ad["campaign"], []).append(created)
        return {campaign: tuple(times) for campaign, times in heard.items()}


def _session(row: AdSession) -> Session:
    breaks = tuple(
        SessionBreak(
            int(b["boundary"]),
            tuple(
                SessionAd(a["campaign"], a["creative"], int(a["version"]), a["track"])
                for a in b["ads"]
            ),
        )
        for b in row.plan
    )
    return Session(row.id, row.kind, row.subject_id, row.created_at, breaks)
