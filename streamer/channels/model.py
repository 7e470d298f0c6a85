"""The values of channel planning: frozen dataclasses, no I/O (contract B of issue 16).

A channel is a ``ChannelPlan``: schedule entries in the channel's IANA time zone, what fills
the gaps between them, repetition rules and a seed. An edit makes a new ``PlanRevision``;
the timeline (``streamer.channels.timeline.plays``) turns revisions and the playlists'
pools into ``Play`` values, the tracks on air, segment-exact.

Time conventions, everywhere in this package:

- ``ScheduleEntry.start`` and ``exdates`` are NAIVE local wall times in the channel's zone
  (what an editor typed: "every day at 01:30"); daylight saving time is applied when they
  are expanded (see ``streamer.channels.recurrence``).
- Every other instant (``PlanRevision.effective_from``, ``Occurrence.start``, ``Play.start``,
  ``Checkpoint.at``...) is an AWARE datetime in UTC. Functions reject naive instants where an
  aware one is expected, with ``ValueError``.
- Segment durations are seconds (floats) in the channel's reference rendition; the timeline
  works in whole microseconds so every node computes the same instants.

Values check themselves when made and raise ``ValueError`` for what cannot be planned (an
empty id, a non-positive duration, an unknown order), so the service can turn that into a
client error before storing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Order = Literal["sequential", "shuffle"]
FillMode = Literal["loop", "shuffle", "fallback"]

ORDERS: tuple[Order, ...] = ("sequential", "shuffle")
FILL_MODES: tuple[FillMode, ...] = ("loop", "shuffle", "fallback")


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, not {value!r}")


def _check_naive(value: datetime, what: str) -> None:
    if value.tzinfo is not None:
        raise ValueError(f"{what} is a local wall time and must be naive, not {value!r}")


def check_utc(value: datetime, what: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an aware datetime (any offset is accepted;
    functions convert to UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (UTC), not naive {value!r}")


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """A playlist scheduled in a channel, once or recurring.

    ``start`` is the naive local wall time of the first occurrence in the channel's zone;
    ``duration`` is elapsed time (an occurrence lasts exactly ``duration`` even across a
    daylight-saving change). ``rrule`` is an RFC 5545 RRULE value such as
    ``"FREQ=DAILY"`` or ``"FREQ=WEEKLY;BYDAY=MO,WE"`` (an ``RRULE:`` prefix is accepted),
    expanded with python-dateutil from ``start``; None means one occurrence. ``exdates`` are
    naive local wall times of occurrences left out (matched exactly against the generated
    local starts). ``priority``: higher wins an overlap (see ``streamer.channels.conflicts``).
    ``order``: the playlist's running order or a seeded shuffle (``streamer.channels.rotation``).
    """

    id: str
    playlist_id: str
    start: datetime
    duration: timedelta
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    priority: int = 0
    order: Order = "sequential"

    def __post_init__(self) -> None:
        _check_id(self.id, "entry id")
        _check_id(self.playlist_id, "playlist id")
        _check_naive(self.start, "entry start")
        for exdate in self.exdates:
            _check_naive(exdate, "EXDATE")
        if self.duration <= timedelta(0):
            raise ValueError(f"entry duration must be positive, not {self.duration}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {self.order!r}")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ValueError(f"priority must be an integer, not {self.priority!r}")


@dataclass(frozen=True, slots=True)
class Fill:
    """What plays where no entry is scheduled.

    - ``loop``: the entry that played last goes on playing, in its own order, as if its slot
      had not ended (seamless: the track in progress is not cut).
    - ``shuffle``: that entry's playlist, shuffled afresh from the gap's start.
    - ``fallback``: ``playlist_id``, shuffled from the gap's start.

    When ``loop``/``shuffle`` find no earlier entry (within the look-back of
    ``streamer.channels.timeline.FILL_LOOKBACK``, a year) the fallback playlist plays if one is
    given; otherwise the gap stays silent (no ``Play``).
    """

    mode: FillMode = "loop"
    playlist_id: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in FILL_MODES:
            raise ValueError(f"fill mode must be one of {FILL_MODES}, not {self.mode!r}")
        if self.mode == "fallback" and not self.playlist_id:
            raise ValueError("a fallback fill needs a playlist id")
        if self.playlist_id is not None:
            _check_id(self.playlist_id, "fallback playlist id")


@dataclass(frozen=True, slots=True)
class RepeatRules:
    """Do not play a track again within ``track_minutes``, nor a track by the same artist
    within ``artist_minutes``, where the pool allows it (0 turns a rule off)."""

    track_minutes: float = 0
    artist_minutes: float = 0

    def __post_init__(self) -> None:
        for name in ("track_minutes", "artist_minutes"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """A channel's schedule at one revision: everything the timeline needs.

    ``timezone`` is an IANA name (``"Europe/London"``); ``seed`` makes the shuffles of this
    channel differ from another's with the same playlists (keep it stable across edits, or
    every shuffle changes).
    """

    channel_id: str
    timezone: str
    entries: tuple[ScheduleEntry, ...] = ()
    fill: Fill = field(default_factory=Fill)
    rules: RepeatRules = field(default_factory=RepeatRules)
    seed: str = ""

    def __post_init__(self) -> None:
        _check_id(self.channel_id, "channel id")
        ids = [entry.id for entry in self.entries]
        if len(set(ids)) != len(ids):
            raise ValueError("entry ids of a channel must be unique")


@dataclass(frozen=True, slots=True)
class PlanRevision:
    """A plan that applies from ``effective_from`` (aware, UTC: the instant of the edit).

    The timeline switches to it at the first segment boundary at or after
    ``effective_from`` of what was then on air, so what went out before never changes.
    """

    effective_from: datetime
    plan: ChannelPlan

    def __post_init__(self) -> None:
        check_utc(self.effective_from, "effective_from")


@dataclass(frozen=True, slots=True)
class PoolTrack:
    """A track of a playlist's pool: its id, artist (None: unknown, never matches another)
    and the durations in seconds of its segments in the channel's reference rendition."""

    id: str
    artist: str | None
    segments: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_id(self.id, "track id")
        if not self.segments:
            raise ValueError(f"track {self.id} has no segments")
        for duration in self.segments:
            if not math.isfinite(duration) or duration <= 0:
                raise ValueError(f"track {self.id} has a segment lasting {duration!r} s")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of an entry: ``[start, end)`` in UTC, ``local_start`` the naive wall
    time it was generated for (before daylight-saving adjustment)."""

    entry_id: str
    playlist_id: str
    priority: int
    start: datetime
    end: datetime
    local_start: datetime


@dataclass(frozen=True, slots=True)
class Play:
    """One track on air.

    Segments ``first_segment .. first_segment + segment_count - 1`` of ``track_id`` go out
    from ``start`` (UTC). ``end`` is when the next play starts (plays of a timeline are
    contiguous and do not overlap: ``end`` of one is ``start`` of the next, except across a
    silent gap). The segments' total duration equals ``end - start`` except where a slot or
    revision boundary cut the play: there it differs by at most half of the cut segment (see
    "Timeline and boundaries" in docs/channels.md). ``entry_id`` is None for a gap fill;
    ``playlist_id`` the playlist it came from; ``reason`` says in words why it plays.
    ``anchor`` is set on a play joined off its segment grid (a slot or a revision starting
    inside the track): the instant segment ``first_segment`` would start on the track's own
    clock. Its later boundaries follow that grid, so the join's difference falls on the
    first segment and a cut's on the last, and no segment can end before it starts.
    """

    track_id: str
    start: datetime
    first_segment: int
    segment_count: int
    entry_id: str | None
    playlist_id: str | None
    reason: str
    end: datetime
    anchor: datetime | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Sequence numbers at a segment boundary of the timeline: the segment starting at
    ``at`` has media sequence ``media_sequence`` and discontinuity sequence
    ``discontinuity_sequence`` (the number of discontinuities before it). See
    ``streamer.channels.sequence``."""

    at: datetime
    media_sequence: int
    discontinuity_sequence: int

    def __post_init__(self) -> None:
        check_utc(self.at, "checkpoint instant")
        if self.media_sequence < 0 or self.discontinuity_sequence < 0:
            raise ValueError("sequence numbers are never negative")
