"""A campaign row's JSON columns (targeting, caps) as the decision's values, and back
(pure). The API validates the shapes before they are stored; these trust them.

- targeting: ``{"channels": [...], "playlists": [...], "tags": [...], "countries": [...],
  "apps": [...], "devices": [...], "dayparts": [{"days": [0-6], "start": "HH:MM",
  "end": "HH:MM"}]}``, every key optional (absent or empty: no restriction). Days count
  from Monday (0), in the listener's time zone; an end before the start runs past
  midnight.
- caps: ``[{"impressions": n, "window_seconds": s}]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from streamer.ads.model import Campaign, Creative, Daypart, FrequencyCap, Priority, Targeting

__all__ = ["PRIORITIES", "campaign_of", "caps_of", "targeting_of"]

PRIORITIES = {"sponsorship": Priority.SPONSORSHIP, "standard": Priority.STANDARD,
              "house": Priority.HOUSE}  # fmt: skip
_SETS = ("channels", "playlists", "tags", "countries", "apps", "devices")


def _clock(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours) % 24, int(minutes or 0))


def targeting_of(document: Mapping[str, Any]) -> Targeting:
    sets = {name: frozenset(str(v) for v in document.get(name) or ()) for name in _SETS}
    dayparts = tuple(
        Daypart(frozenset(int(d) for d in part["days"]), _clock(part["start"]), _clock(part["end"]))
        for part in document.get("dayparts") or ()
    )
    return Targeting(**sets, dayparts=dayparts)


def caps_of(document: Sequence[Mapping[str, Any]]) -> tuple[FrequencyCap, ...]:
    return tuple(
        FrequencyCap(int(cap["impressions"]), timedelta(seconds=float(cap["window_seconds"])))
        for cap in document
    )


def campaign_of(
    *,
    campaign_id: str,
    name: str,
    priority: str,
    starts: datetime,
    ends: datetime,
    creatives: Sequence[Creative],
    category: str | None,
    goal: int | None,
    targeting: Mapping[str, Any],
    caps: Sequence[Mapping[str, Any]],
    paused: bool,
) -> Campaign:
    return Campaign(
        id=campaign_id,
        name=name,
        priority=PRIORITIES[priority],
        starts=starts,
        ends=ends,
        creatives=tuple(creatives),
        category=category,
        goal=goal,
        targeting=targeting_of(targeting),
        caps=caps_of(caps),
        paused=paused,
    )
