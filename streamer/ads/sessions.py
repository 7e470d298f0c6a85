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
Until impressions are counted from delivery, ``delivered`` (pacing, goals) is zero: pacing
and goals do not act yet (docs/ads.md).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from streamer.ads import repository
from streamer.ads.breaks import place_breaks, specs_of
from streamer.ads.model import Listener
from streamer.ads.session_plan import plan_session
from streamer.ads.session_stream import SessionAd, SessionBreak
from streamer.analytics.agents import classify
from streamer.analytics.listener_data import listener_now
from streamer.coalescing_cache import CoalescingCache
from streamer.db import AdCreativeVersion, AdSession, AdTrackBreaks, Database
from streamer.db.availability import serving_cache
from streamer.renditions.catalog import RenditionCatalog, TrackRenditions
from streamer.renditions.playlists import presented_durations

__all__ = ["SESSION_ID_LENGTH", "AdSessions", "Session", "Visitor"]

SESSION_ID_LENGTH = 32  # hex digits: 128 random bits, never guessed
HEARD_DAYS = 30  # the longest frequency-cap window read back
# Agents that get no ads: crawlers. Players built on a library (ffmpeg's Lavf, ExoPlayer)
# get them; whether their plays count is the impression counting's business (the same
# bot rules as analytics).
_CRAWLERS = ("bot", "unknown-bot")


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    track_id: str
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

    async def start(self, programme: TrackRenditions, visitor: Visitor) -> Session:
        """Decide and store a new session of ``programme`` for ``visitor``."""
        now = datetime.now(UTC)
        reference = next(iter(programme.renditions.values()))
        specs = await self._breaks(programme.track_id)
        placed = place_breaks(specs, presented_durations(reference.index))
        # In a thread: the first call reads the agent lists from disk.
        agent = await asyncio.to_thread(classify, visitor.user_agent)
        listener_id = await listener_now(self.db, visitor.ip, visitor.user_agent, now)
        plan: list[dict[str, Any]] = []
        if placed and agent.bot_reason not in _CRAWLERS:
            campaigns, where = await repository.decision_inputs(self.db, self.target, now)
            listener = Listener(
                session=secrets.token_hex(8),
                now=now,
                country=visitor.country,
                app=agent.app or agent.name,
                device=agent.device_category,
                heard=await self._heard(listener_id, now),
            )
            planned = plan_session(
                placed,
                listener,
                campaigns,
                {},
                {creative: (p.version, p.track_id) for creative, p in where.items()},
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
            track_id=programme.track_id,
            listener=listener_id,
            plan=plan,
            created_at=now,
        )
        async with self.db.session() as session, session.begin():
            session.add(row)
        return _session(row)

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

    async def _breaks(self, track_id: str) -> list[Any]:
        async with asyncio.timeout(5.0), self.db.session() as session:
            row = await session.get(AdTrackBreaks, track_id)
        return specs_of(row.breaks) if row is not None else []

    async def _heard(self, listener_id: str, now: datetime) -> dict[str, tuple[datetime, ...]]:
        """When each campaign was placed in this listener's recent sessions."""
        query = (
            select(AdSession.plan, AdSession.created_at)
            .where(AdSession.listener == listener_id)
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
    return Session(row.id, row.track_id, row.created_at, breaks)
