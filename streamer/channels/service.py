"""Channels as the live route and the API use them: plans loaded and cached per channel,
the timeline (what plays when) computed from them by the pure core, plans written at
edits.

Caching: a channel's plan revisions and pools are loaded in one go (two queries, no
storage read: the pools' segment durations are in the plan rows), loads coalesced, and
kept while the channel's newest plan revision is unchanged: one query every ``ttl``
seconds polls that for all channels at once, so a live playlist request costs no database
query in the common case however many channels there are. Every node computes the same
timeline from the same rows.

Edits take effect at the first segment boundary at least ``settle`` seconds after the
edit (``ttl`` plus a margin; the plan row's ``effective_from``): by then every node has
reloaded the channel, so no node lists a segment of the old plan that another node
replaced, and nothing that went out changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.channels import repository
from streamer.channels.conflicts import reports
from streamer.channels.model import Checkpoint, PlanRevision, Play, PoolTrack
from streamer.channels.plan_document import decode, encode, playlist_ids, playlist_of
from streamer.channels.pools import PoolSnapshot, load_pools
from streamer.channels.recurrence import occurrences
from streamer.channels.repository import ChannelState
from streamer.channels.sequence import advance, origin
from streamer.channels.timeline import plays as plays_between
from streamer.coalescing_cache import CoalescingCache
from streamer.db import ChannelPlan, Database, Track
from streamer.db.availability import serving_cache
from streamer.renditions.catalog import RenditionCatalog

__all__ = [
    "ChannelService",
    "Clock",
    "LiveChannel",
    "OccurrenceInfo",
    "PlayInfo",
    "ScheduleError",
    "utc_now",
]

Clock = Callable[[], datetime]
logger = logging.getLogger("streamer.channels")


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScheduleError(ValueError):
    """A change the schedule cannot take (HTTP 422): an unknown playlist, too many
    entries, a fallback fill without a playlist."""


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """What the live route and the timeline need of one channel, from memory."""

    channel_id: str
    revisions: tuple[PlanRevision, ...]
    pools: Mapping[str, Sequence[PoolTrack]]
    references: Mapping[datetime, str | None]  # effective_from -> reference rendition
    loudness: Mapping[datetime, float | None]  # effective_from -> loudness target
    segments: Mapping[str, tuple[float, ...]]  # track id -> its reference durations
    modified: datetime  # when the newest plan was written
    checkpoints: tuple[Checkpoint, ...]  # oldest first; empty while nothing ever played
    revision: int  # the newest plan revision loaded
    target_duration: int  # EXT-X-TARGETDURATION of its live playlists (stable)

    def checkpoint_before(self, at: datetime) -> Checkpoint | None:
        """The newest checkpoint at or before ``at``."""
        found = None
        for checkpoint in self.checkpoints:
            if checkpoint.at <= at:
                found = checkpoint
        return found

    def plays(self, start: datetime, end: datetime) -> list[Play]:
        return plays_between(self.revisions, self.pools, start, end)

    def revision_at(self, at: datetime) -> PlanRevision | None:
        found = None
        for revision in self.revisions:
            if revision.effective_from <= at:
                found = revision
        return found

    def reference_at(self, at: datetime) -> str | None:
        revision = self.revision_at(at)
        return self.references.get(revision.effective_from) if revision else None


@dataclass(frozen=True, slots=True)
class PlayInfo:
    """A play as the API shows it."""

    track_id: str
    title: str | None
    artist: str | None
    library_id: str | None
    start: datetime
    end: datetime
    entry_id: str | None
    playlist_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class OccurrenceInfo:
    entry_id: str
    playlist_id: str
    start: datetime
    end: datetime
    priority: int
    wins: bool
    conflicts_with: tuple[str, ...]
    reason: str


class ChannelService:
    """Channel id -> :class:`LiveChannel`, cached; the timeline; plans for edits."""

    def __init__(
        self,
        db: Database,
        catalog: RenditionCatalog,
        *,
        clock: Clock = utc_now,
        ttl: float = 2.0,
        negative_ttl: float = 1.0,
        max_entries: int = 5_000,
        settle: float | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.clock = clock
        self.settle = timedelta(seconds=settle if settle is not None else ttl + 3.0)
        # Sequence numbers are counted from the newest checkpoint: one an hour bounds the
        # count, and one placed an hour behind the clock is well behind any live window.
        self.checkpoint_every = timedelta(hours=1)
        self.checkpoint_lag = timedelta(hours=1)
        # A loaded channel is kept while its newest plan revision is the one every
        # channel's is polled at (one query per ``ttl`` for all of them), and reloaded
        # at most every ``reload`` seconds otherwise (new checkpoints).
        self.ttl = ttl
        self._cache: CoalescingCache[str, LiveChannel] = serving_cache(
            self._load, ttl=max(ttl, 300.0), negative_ttl=negative_ttl, max_entries=max_entries
        )
        self._newest: dict[str, int] = {}  # channel -> newest plan revision, as polled
        self._polled = -1.0e9  # monotonic time of the last poll
        self._polling: asyncio.Lock | None = None

    async def live(self, channel_id: str) -> LiveChannel | None:
        if not channel_id or len(channel_id) > 32:
            return None
        await self._poll()
        found = await self._cache.get(channel_id)
        newest = self._newest.get(channel_id)
        if found is not None and newest is not None and found.revision != newest:
            self._cache.invalidate(channel_id)
            found = await self._cache.get(channel_id)
        return found

    async def _poll(self) -> None:
        """The newest plan revision of every channel, once per ``ttl`` for all of them."""
        if time.monotonic() - self._polled < self.ttl:
            return
        if self._polling is None:
            self._polling = asyncio.Lock()
        if self._polling.locked() and self._newest:
            return  # a poll is under way: go on with what the last one said
        async with self._polling:
            if time.monotonic() - self._polled < self.ttl:
                return
            query = select(ChannelPlan.channel_id, func.max(ChannelPlan.revision)).group_by(
                ChannelPlan.channel_id
            )
            try:
                async with asyncio.timeout(5.0), self.db.session() as session:
                    rows = (await session.execute(query)).all()
            except Exception:  # an outage: keep serving what is loaded (stale-if-error)
                logger.warning("channel revisions not polled", exc_info=True)
                self._polled = time.monotonic()
                return
            self._newest = {row[0]: int(row[1]) for row in rows}
            self._polled = time.monotonic()

    def invalidate(self, channel_id: str | None = None) -> None:
        self._cache.invalidate(channel_id)
        self._polled = -1.0e9

    async def plays(self, channel_id: str, start: datetime, end: datetime) -> list[PlayInfo]:
        """What plays between two instants, with titles (one query for the tracks)."""
        live = await self.live(channel_id)
        if live is None:
            return []
        plays = await asyncio.to_thread(live.plays, start, end)
        return await self.describe(live, plays)

    async def describe(self, live: LiveChannel, plays: Sequence[Play]) -> list[PlayInfo]:
        ids = {play.track_id for play in plays}
        found: dict[str, tuple[str | None, str | None, str]] = {}
        if ids:
            async with asyncio.timeout(5.0), self.db.session() as session:
                rows = await session.execute(
                    select(Track.id, Track.title, Track.artist, Track.library_id).where(
                        Track.id.in_(ids)
                    )
                )
                found = {row[0]: (row[1], row[2], row[3]) for row in rows}
        out = []
        for play in plays:
            title, artist, library = found.get(play.track_id, (None, None, None))
            out.append(
                PlayInfo(
                    track_id=play.track_id,
                    title=title,
                    artist=artist,
                    library_id=library,
                    start=play.start,
                    end=play.end,
                    entry_id=play.entry_id,
                    playlist_id=playlist_of(play.playlist_id),
                    reason=play.reason,
                )
            )
        return out

    def occurrences(
        self, state: ChannelState, start: datetime, end: datetime
    ) -> list[OccurrenceInfo]:
        """The entries' occurrences (as the channel stands now) with their conflicts."""
        document = encode(state, _NO_POOLS)
        revision = decode(state.channel.id, start, document).revision
        plan = revision.plan
        return [
            OccurrenceInfo(
                entry_id=report.occurrence.entry_id,
                playlist_id=playlist_of(report.occurrence.playlist_id) or "",
                start=report.occurrence.start,
                end=report.occurrence.end,
                priority=report.occurrence.priority,
                wins=report.wins,
                conflicts_with=report.conflicts_with,
                reason=report.reason,
            )
            for report in reports(occurrences(plan.entries, plan.timezone, start, end))
        ]

    async def plan_for(
        self, session: AsyncSession, state: ChannelState
    ) -> tuple[dict[str, Any], datetime]:
        """The plan document of ``state`` and when it takes effect (see the docstring)."""
        pools = await load_pools(self.db, self.catalog, playlist_ids(state))
        document = encode(state, pools)
        # The timeline switches at the first segment boundary from then on; a new
        # channel has nothing on air to protect. Asked in the caller's transaction: loading
        # the live channel here could write its first checkpoint through another session,
        # which on SQLite waits for this transaction's lock until the lock times out.
        now = self.clock()
        if not await repository.has_plan(session, state.channel.id):
            return document, now
        return document, now + self.settle

    async def refresh(self, channel_id: str) -> bool:
        """Write a new plan revision when the tracks of the channel's playlists are no
        longer those of its newest plan (a playlist edited, a smart playlist's result
        moved, a track transcoded or gone). Like an edit, it takes effect ``settle`` from
        now, at the next segment boundary, and changes nothing that went out. True when
        this call wrote it; False when nothing changed or another node wrote it first."""
        newest = await repository.newest_plan(self.db, channel_id)
        state = await repository.get(self.db, channel_id)
        if newest is None or state is None:
            return False
        pools = await load_pools(self.db, self.catalog, playlist_ids(state))
        # As stored (JSON): tuples become lists.
        document = json.loads(json.dumps(encode(state, pools)))
        if document == newest.plan:
            return False
        effective = max(self.clock() + self.settle, newest.effective_from)
        written = await repository.append_plan(
            self.db, channel_id, document, effective, newest.revision
        )
        if written:
            logger.info(
                "channel %s: its playlists' tracks changed; new plan from %s",
                channel_id,
                effective.isoformat(),
            )
            self.invalidate(channel_id)
        return written

    async def _load(self, channel_id: str) -> LiveChannel | None:
        rows = await repository.plans(self.db, channel_id)
        if not rows:
            return None
        revisions = []
        pools: dict[str, Sequence[PoolTrack]] = {}
        references: dict[datetime, str | None] = {}
        loudness: dict[datetime, float | None] = {}
        segments: dict[str, tuple[float, ...]] = {}
        for row in rows:
            decoded = decode(channel_id, row.effective_from, row.plan)
            revisions.append(decoded.revision)
            pools.update(decoded.pools)
            references[row.effective_from] = decoded.reference
            loudness[row.effective_from] = decoded.loudness_target
            for tracks in decoded.pools.values():
                for track in tracks:
                    segments[track.id] = track.segments
        longest = max((d for durations in segments.values() for d in durations), default=1.0)
        live = LiveChannel(
            channel_id=channel_id,
            revisions=tuple(revisions),
            pools=pools,
            references=references,
            loudness=loudness,
            segments=segments,
            modified=max(row.created_at for row in rows),
            checkpoints=(),
            revision=max(row.revision for row in rows),
            # Halves up, as clients check EXTINF against it (RFC 8216 section 4.3.3.1).
            target_duration=max(1, int(longest + 0.5)),
        )
        stored = [
            Checkpoint(row.at, row.media_sequence, row.discontinuity_sequence)
            for row in await repository.checkpoints(self.db, channel_id)
        ]
        stored = await self._checkpoints(live, stored)
        return replace(live, checkpoints=tuple(stored))

    async def _checkpoints(self, live: LiveChannel, stored: list[Checkpoint]) -> list[Checkpoint]:
        """The stored checkpoints, with the channel's origin added if it has none yet and a
        newer one if the newest is over ``checkpoint_every`` old. Both are placed where
        every node places them (the first revision that plays; a whole hour), so nodes
        that write at once write the same row."""
        now = self.clock()
        if not stored:
            for revision in live.revisions:
                if revision.effective_from > now:
                    break
                try:
                    first = await asyncio.to_thread(
                        origin, live.revisions, live.pools, revision.effective_from
                    )
                except ValueError:  # nothing playable within a day of it
                    continue
                await repository.add_checkpoint(self.db, live.channel_id, first.at, 0, 0)
                stored = [first]
                break
        if not stored:
            return stored
        newest = stored[-1]
        hour = (now - self.checkpoint_lag).replace(minute=0, second=0, microsecond=0)
        if hour - newest.at >= self.checkpoint_every:
            try:
                later = await asyncio.to_thread(advance, newest, live.revisions, live.pools, hour)
            except ValueError:
                return stored
            await repository.add_checkpoint(
                self.db,
                live.channel_id,
                later.at,
                later.media_sequence,
                later.discontinuity_sequence,
            )
            stored.append(later)
        return stored


_NO_POOLS = PoolSnapshot(None, {})
