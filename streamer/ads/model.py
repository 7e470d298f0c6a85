"""What a decision reads: campaigns with their creatives, targeting, caps and goals; the
break to fill; the listener's context and what they have heard. Values only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import IntEnum

__all__ = [
    "Break",
    "Campaign",
    "Creative",
    "Daypart",
    "FrequencyCap",
    "Listener",
    "Priority",
    "Targeting",
]


class Priority(IntEnum):
    """Tiers, highest first: a sponsorship is sold for its placements and always runs
    when eligible; standard campaigns share what is left by pacing; house ads fill."""

    SPONSORSHIP = 3
    STANDARD = 2
    HOUSE = 1


@dataclass(frozen=True, slots=True)
class Creative:
    id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Daypart:
    """Days of the week (0 Monday) and a time span, in the listener's time zone; a span
    whose end is before its start runs past midnight."""

    days: frozenset[int]
    start: time
    end: time

    def holds(self, moment: datetime) -> bool:
        day, at = moment.weekday(), moment.time()
        if self.start <= self.end:
            return day in self.days and self.start <= at < self.end
        if at >= self.start:
            return day in self.days
        return (day - 1) % 7 in self.days and at < self.end


@dataclass(frozen=True, slots=True)
class Targeting:
    """Empty sets admit everything; each non-empty one must hold the listener's value."""

    channels: frozenset[str] = frozenset()
    playlists: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()  # any of them on the programme's track
    countries: frozenset[str] = frozenset()
    apps: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    dayparts: tuple[Daypart, ...] = ()


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``impressions`` of the campaign per listener in any ``window``."""

    impressions: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    priority: Priority
    starts: datetime
    ends: datetime
    creatives: tuple[Creative, ...]
    category: str | None = None  # competitive separation: one per break
    goal: int | None = None  # impressions to deliver over the flight (None: no goal)
    targeting: Targeting = field(default_factory=Targeting)
    caps: tuple[FrequencyCap, ...] = ()
    paused: bool = False


@dataclass(frozen=True, slots=True)
class Break:
    """A place for ads: ``seconds`` to fill at ``position`` (pre, mid or post, or a
    channel's scheduled break), within the programme described by the other fields."""

    id: str
    seconds: float
    position: str = "mid"
    channel: str | None = None
    playlist: str | None = None
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Listener:
    """Who the break is for, as analytics knows them; ``session`` makes ties fall the
    same way for every decision of one session, on every node."""

    session: str
    now: datetime  # aware, in the listener's time zone
    country: str | None = None
    app: str | None = None
    device: str | None = None
    # When each campaign was heard by this listener (its impressions), newest last.
    heard: dict[str, tuple[datetime, ...]] = field(default_factory=dict)
