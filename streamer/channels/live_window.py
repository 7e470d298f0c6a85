"""The live playlists of a channel: the master (the renditions its tracks share) and each
rendition's sliding window at the wall clock, from the timeline and the rendition catalog.

A media playlist lists the segments that have gone out in the last ``window`` seconds
(at least three), as the tracks' own URLs at their current version tokens. The window
changes only when a segment has gone out, so a rendered window is kept until then: between
two boundaries a request costs a dictionary lookup and a comparison of instants, and every
node renders the same text for the same instant (nothing in it depends on the node).

The master is kept a minute (a re-transcode shows within that time) or until the plan
changes. Variants: the renditions every track of the pools in effect now has, with the reference
rendition's segment count (the timeline counts the reference rendition's segments; a
rendition cut differently would not line up) - AAC renditions of one ladder always do.
"""

from __future__ import annotations

import asyncio
import hashlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from packager import InitSection, Level, LiveSegment, Segment, live_playlist
from streamer.channels.loudness import level_gain
from streamer.channels.model import Checkpoint, Play
from streamer.channels.sequence import AirSegment, air_segments
from streamer.channels.service import ChannelService, LiveChannel
from streamer.channels.timeline import to_us
from streamer.coalescing_cache import CoalescingCache
from streamer.db import Rendition, Track
from streamer.db.availability import serving_cache
from streamer.renditions.catalog import Playlist, RenditionCatalog, TrackRenditions
from streamer.renditions.playlists import VariantInfo, master_for, presented_durations
from transcoder.fmp4 import SegmentIndex

__all__ = ["LiveStreams", "LiveWindow", "NotYetOnAir"]

WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class LiveWindow:
    """A rendered media playlist and how long it holds."""

    playlist: Playlist
    target_duration: int
    modified: float  # the newest listed segment's start (seconds since the epoch)
    valid_from: datetime
    valid_until: datetime  # when the next segment has gone out: the window changes then


@dataclass(frozen=True, slots=True)
class NotYetOnAir:
    """A channel on air whose first segment has not gone out yet (it was created or came on
    air less than a segment ago): the window is empty until ``ready_at``. Players retry a
    503 but give up on a 404, so the edge answers 503 with Retry-After."""

    ready_at: datetime


@dataclass(frozen=True, slots=True)
class _Air:
    """A channel's numbered segments over ``[start, until)`` under plan ``revision``."""

    revision: int
    start: datetime
    until: datetime
    whole: bool  # from the checkpoint on (a young channel): every window up to until
    segments: list[AirSegment]
    ends: list[datetime]


def _select(air: _Air, now: datetime, seconds: float) -> list[AirSegment]:
    """What ``sequence.on_air`` picks: the segments that have gone out by ``now``, the last
    ones lasting at least ``seconds``."""
    edge = bisect_right(air.ends, now)
    chosen: list[AirSegment] = []
    total = timedelta(0)
    wanted = timedelta(seconds=seconds)
    for segment in reversed(air.segments[:edge]):
        if total >= wanted:
            break
        chosen.append(segment)
        total += segment.end - segment.start
    chosen.reverse()
    return chosen


@dataclass(frozen=True, slots=True)
class _Master:
    playlist: Playlist
    modified: float
    names: frozenset[str]
    revision: int  # the plan revision it was made for
    # (track, rendition) -> (integrated loudness, gain applied in encoding, true peak)
    loudness: Mapping[tuple[str, str], tuple[float | None, float, float | None]]


class LiveStreams:
    """Master and media playlists of channels (see the module docstring)."""

    def __init__(
        self,
        channels: ChannelService,
        catalog: RenditionCatalog,
        *,
        window: float = WINDOW_SECONDS,
        ttl: float = 60.0,
        max_windows: int = 20_000,
    ) -> None:
        self.channels = channels
        self.catalog = catalog
        self.window = timedelta(seconds=window)
        self.max_windows = max_windows
        self._windows: dict[tuple[str, str], LiveWindow] = {}
        self.horizon = timedelta(minutes=10)
        self._air: dict[str, _Air] = {}  # see _on_air
        self._recent: dict[str, Checkpoint] = {}
        self._masters: CoalescingCache[str, _Master] = serving_cache(
            self._master, ttl=ttl, negative_ttl=1.0, max_entries=10_000
        )

    async def master(self, channel_id: str) -> tuple[Playlist, float] | None:
        found = await self._masters.get(channel_id)
        return (found.playlist, found.modified) if found is not None else None

    def peek(self, channel_id: str, rendition: str) -> LiveWindow | None:
        """The window of ``rendition`` at the service's clock if one rendered earlier still
        holds (no await: for the immediate path), else None."""
        cached = self._windows.get((channel_id, rendition))
        if cached is None:
            return None
        now = self.channels.clock()
        return cached if cached.valid_from <= now < cached.valid_until else None

    async def media(self, channel_id: str, rendition: str) -> LiveWindow | NotYetOnAir | None:
        """The window of ``rendition`` at the service's clock, NotYetOnAir while its first
        segment is going out, or None (no such channel, rendition not offered, nothing on
        air)."""
        now = self.channels.clock()
        key = (channel_id, rendition)
        cached = self._windows.get(key)
        # A window lists what has gone out, which no edit changes: it holds until the
        # next segment has gone out too.
        if cached is not None and cached.valid_from <= now < cached.valid_until:
            return cached
        live = await self.channels.live(channel_id)
        if live is None:
            return None
        master = await self._masters.get(channel_id)
        if master is not None and master.revision != live.revision:
            self._masters.invalidate(channel_id)  # the plan changed: its tracks may have
            master = await self._masters.get(channel_id)
        if master is None or rendition not in master.names:
            return None
        window = await self._render(live, rendition, now, master)
        if window is None:
            air = self._air.get(channel_id)
            if air is not None and air.segments and now < air.ends[0]:
                return NotYetOnAir(air.ends[0])
        else:
            if len(self._windows) >= self.max_windows:
                self._windows.clear()  # crude but bounded: windows rebuild in microseconds
            self._windows[key] = window
        return window

    async def carries(self, channel_id: str, track_id: str) -> bool:
        """Whether ``track_id`` is a track of ``channel_id``'s plans: a channel's segment
        URLs serve only its own tracks, whichever token opened them."""
        live = await self.channels.live(channel_id)
        return live is not None and track_id in live.segments

    async def _render(
        self, live: LiveChannel, rendition: str, now: datetime, master: _Master
    ) -> LiveWindow | None:
        found = await self._on_air(live, now)
        if not found:
            return None
        tracks: dict[str, TrackRenditions | None] = {}
        for segment in found:
            if segment.track_id not in tracks:
                tracks[segment.track_id] = await self.catalog.get(segment.track_id)
        listed: list[LiveSegment] = []
        for segment in found:
            track = tracks[segment.track_id]
            entry = track.renditions.get(rendition) if track is not None else None
            if entry is None:
                # Gone since the plan was written: the window stops before it (sequence
                # numbers must follow each other) rather than point at nothing.
                listed = []
                continue
            durations = presented_durations(entry.index)
            n = segment.index
            base = f"../../../hls/{segment.track_id}/{rendition}"
            first = not listed or segment.discontinuity
            at = channel_decode_time(segment.play, entry.index, n)
            listed.append(
                LiveSegment(
                    segment=Segment(
                        durations[n] if n < len(durations) else segment.duration,
                        f"seg/{segment.track_id}/{n}.m4s?v={entry.token}&t={at}",
                        discontinuity=segment.discontinuity,
                        init=InitSection(f"{base}/init.mp4?v={entry.token}") if first else None,
                    ),
                    sequence=segment.media_sequence,
                    start=segment.start,
                    end=segment.end,
                    offset=sum(durations[:n]) if n else 0.0,
                    level=_level(live, master, segment, rendition),
                )
            )
        if not listed:
            return None
        first_sequence = listed[0].sequence
        discontinuities = next(
            s.discontinuity_sequence for s in found if s.media_sequence == first_sequence
        )
        text = live_playlist(
            listed,
            discontinuity_sequence=discontinuities,
            target_duration_s=live.target_duration,
        )
        return LiveWindow(
            playlist=Playlist.of(text),
            target_duration=live.target_duration,
            modified=listed[-1].start.timestamp(),
            valid_from=found[-1].end,
            valid_until=self._next_end(live.channel_id, found[-1]),
        )

    def _next_end(self, channel_id: str, last: AirSegment) -> datetime:
        """When the window next changes: when the segment after ``last`` has gone out (from
        the channel's numbered segments, the next play's first one included), or a second
        after ``last`` in a silent stretch."""
        air = self._air.get(channel_id)
        if air is not None:
            following = bisect_right(air.ends, last.end)
            if following < len(air.ends):
                return air.ends[following]
        return last.end + timedelta(seconds=1)

    async def _on_air(self, live: LiveChannel, now: datetime) -> list[AirSegment]:
        """The segments of the window at ``now``, shared by the renditions. The numbered
        segments are computed once per channel for the next ``horizon`` (and again when
        a plan revision arrives), counted from the newest checkpoint known: a stored one,
        or the first segment of a window this node listed before (a segment boundary
        whose numbers the timeline fixed). A window is then a slice of that list."""
        seconds = self.window.total_seconds()
        cached = self._air.get(live.channel_id)
        if (
            cached is not None
            and cached.revision == live.revision
            and (cached.whole or cached.start <= now - 2 * self.window)
            and now <= cached.until
        ):
            return _select(cached, now, seconds)
        behind = now - self.window - timedelta(seconds=2 * live.target_duration)
        checkpoint = live.checkpoint_before(behind) or live.checkpoint_before(now)
        if checkpoint is None:
            # A channel that just came on air starts at the next segment boundary: its
            # segments are numbered from there (none has gone out, the window is empty).
            soon = now + timedelta(seconds=2 * live.target_duration)
            checkpoint = min(
                (c for c in live.checkpoints if now < c.at <= soon),
                key=lambda c: c.at,
                default=None,
            )
        if checkpoint is None:
            return []
        recent = self._recent.get(live.channel_id)
        # Windows only slide forward: the last one started at or before this one does.
        if recent is not None and checkpoint.at < recent.at <= now - 2 * self.window:
            checkpoint = recent
        start = max(checkpoint.at, now - 2 * self.window)
        until = now + self.horizon
        found = await asyncio.to_thread(
            air_segments, checkpoint, live.revisions, live.pools, start, until
        )
        whole = start == checkpoint.at  # everything since the checkpoint: any window
        computed = _Air(live.revision, start, until, whole, found, [s.end for s in found])
        if len(self._air) >= self.max_windows:
            self._air.clear()
        self._air[live.channel_id] = computed
        chosen = _select(computed, now, seconds)
        if chosen:
            first = chosen[0]
            self._recent[live.channel_id] = Checkpoint(
                first.start, first.media_sequence, first.discontinuity_sequence
            )
        return chosen

    async def _master(self, channel_id: str) -> _Master | None:
        live = await self.channels.live(channel_id)
        if live is None:
            return None
        now = self.channels.clock()
        current = live.revision_at(now)
        revisions = [
            r
            for r in live.revisions
            if current is None or r.effective_from >= current.effective_from
        ]
        track_ids: list[str] = []
        for revision in revisions:
            for key in _plan_pools(revision):
                track_ids.extend(t.id for t in live.pools.get(key, ()))
        track_ids = list(dict.fromkeys(track_ids))
        ready = [t for t in [await self.catalog.get(i) for i in track_ids] if t is not None]
        if not ready:
            return None
        reference = live.reference_at(now) or next(iter(ready[0].renditions))
        names = [
            name for name in ready[0].renditions if all(_aligned(t, name, reference) for t in ready)
        ]
        if not names:
            return None
        details = await self._details(ready, names)
        variants = [v for name in names if (v := _variant(name, ready, details)) is not None]
        if not variants:
            return None
        measured = await self._measured([t.track_id for t in ready])
        loudness: dict[tuple[str, str], tuple[float | None, float, float | None]] = {}
        for (track_id, name), row in details.items():
            integrated, peak = measured.get(track_id, (None, None))
            loudness[(track_id, name)] = (integrated, row.gain_db, peak)
        # Variant URIs name no version: a live playlist is never immutable.
        text = master_for(variants).replace("/index.m3u8?v=live\n", "/index.m3u8\n")
        return _Master(
            Playlist(text.encode(), f'"{hashlib.sha256(text.encode()).hexdigest()[:32]}"'),
            live.modified.timestamp(),
            frozenset(v.name for v in variants),
            live.revision,
            loudness,
        )

    async def _measured(
        self, track_ids: Sequence[str]
    ) -> dict[str, tuple[float | None, float | None]]:
        """Track id -> (integrated loudness, true peak) as the transcode measured them."""
        query = select(Track.id, Track.loudness_integrated, Track.true_peak).where(
            Track.id.in_(set(track_ids))
        )
        async with asyncio.timeout(5.0), self.channels.db.session() as session:
            rows = (await session.execute(query)).all()
        return {row[0]: (row[1], row[2]) for row in rows}

    async def _details(
        self, tracks: Sequence[TrackRenditions], names: Sequence[str]
    ) -> dict[tuple[str, str], Rendition]:
        query = select(Rendition).where(
            Rendition.track_id.in_({t.track_id for t in tracks}), Rendition.name.in_(names)
        )
        async with asyncio.timeout(5.0), self.channels.db.session() as session:
            rows = list(await session.scalars(query))
        served = {(t.track_id, n): t.renditions[n].version for t in tracks for n in names}
        return {
            (row.track_id, row.name): row
            for row in rows
            if served.get((row.track_id, row.name)) == row.version
        }


def channel_decode_time(play: Play, index: SegmentIndex, n: int) -> int:
    """The decode time (track timescale) of segment ``n`` of ``play`` on the channel's
    timeline: the play's segment grid (``Play.anchor``) on the Unix epoch, plus the media
    before segment ``n`` in the play. Within a play it runs on sample-exact; from one play
    to the next it runs on within a sample, or jumps by the cut at a join (a
    discontinuity); every node computes the same value (packager.retime says why)."""
    grid = play.start if play.anchor is None else play.anchor
    fragments = index.fragments
    if n >= len(fragments) or play.first_segment >= len(fragments):
        raise ValueError(f"segment {n} is not in the rendition's index")
    origin = (to_us(grid) * index.timescale + 500_000) // 1_000_000
    return origin + fragments[n].start - fragments[play.first_segment].start


def _level(live: LiveChannel, master: _Master, segment: AirSegment, rendition: str) -> Level | None:
    """The gain of ``segment``'s play for the loudness target in effect when it started
    (None without a target or a measure): from the play's start, the same in every window."""
    play = segment.play
    revision = live.revision_at(play.start)
    target = live.loudness.get(revision.effective_from) if revision is not None else None
    if target is None:
        return None
    measured = master.loudness.get((segment.track_id, rendition))
    if measured is None:
        return None
    integrated, applied, peak = measured
    gain = level_gain(target, integrated, applied, peak)
    return Level(gain, play.start) if gain is not None else None


def _plan_pools(revision: object) -> list[str]:
    plan = revision.plan  # type: ignore[attr-defined]
    keys = [entry.playlist_id for entry in plan.entries]
    if plan.fill.playlist_id is not None:
        keys.append(plan.fill.playlist_id)
    return keys


def _aligned(track: TrackRenditions, name: str, reference: str) -> bool:
    entry = track.renditions.get(name)
    base = track.renditions.get(reference)
    if entry is None or base is None:
        return False
    return len(entry.index.fragments) == len(base.index.fragments)


def _variant(
    name: str,
    tracks: Sequence[TrackRenditions],
    details: dict[tuple[str, str], Rendition],
) -> VariantInfo | None:
    rows = [details[key] for t in tracks if (key := (t.track_id, name)) in details]
    if not rows:
        return None
    seconds = sum(row.duration for row in rows) or 1.0
    average = sum(row.average_bitrate * row.duration for row in rows) / seconds
    peak = max(row.peak_bitrate for row in rows)
    first = rows[0]
    # The token names the channel's variant set, not a file: a live playlist is never
    # immutable, so it only keeps master URLs stable.
    return VariantInfo(
        name=name,
        token="live",
        codec=first.codec,
        codecs=first.codecs,
        bitrate=first.bitrate,
        peak_bitrate=peak,
        average_bitrate=min(round(average), peak),
    )
