"""What the incremental counter (``streamer.analytics.counting.step``) carries from one
batch to the next, and its JSON form, so the hourly rollup can store it and continue.

Only what is still open is kept: one ``PendingDownload`` per listener and track whose
24-hour window has not ended (just a flag once counted; the requests and byte ranges while
not yet a minute, at most ``max_pending_events`` of them) and one ``OpenSession`` per
listener and subject fetched within the session gap. So the state is bounded by the
listeners active in the last 24 hours times the tracks each fetched, not by history.

The JSON form is plain (ISO datetimes, positional lists whose field names it carries):
``to_json(state)`` and ``from_json(data)`` are inverse; a ``version`` field lets a later
format be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, cast

from streamer.analytics.events import DeliveryEvent
from streamer.types import DeliveryKind

__all__ = [
    "DOWNLOAD_FIELDS",
    "SESSION_FIELDS",
    "STATE_VERSION",
    "CounterState",
    "DownloadKey",
    "OpenSession",
    "PendingDownload",
    "Representation",
    "SessionKey",
    "StateError",
    "from_json",
    "to_json",
]

STATE_VERSION = 1
DOWNLOAD_FIELDS = ("listener", "track_id", "start", "counted", "events", "ranges")
SESSION_FIELDS = (
    "listener",
    "kind",
    "subject_id",
    "start",
    "last",
    "user_agent",
    "referrer",
    "country",
    "requests",
    "renditions",
    "duration",
    "reached",
    "spans",
)

DownloadKey = tuple[str, str]  # (listener, track id)
SessionKey = tuple[str, DeliveryKind, str]  # (listener, kind, subject id)
Representation = tuple[str, int, float]  # (rendition, total bytes, duration)


class StateError(ValueError):
    """Stored counter state that this version cannot read."""


@dataclass(slots=True)
class PendingDownload:
    """One listener's 24-hour window for one track."""

    start: datetime
    counted: bool = False
    events: list[DeliveryEvent] = field(default_factory=list)
    ranges: dict[Representation, list[tuple[int, int]]] = field(default_factory=dict)

    def copy(self) -> PendingDownload:
        # The range lists are replaced, never changed in place: sharing them is safe.
        return PendingDownload(self.start, self.counted, list(self.events), dict(self.ranges))


@dataclass(slots=True)
class OpenSession:
    """One listener's listening session of one subject, still open."""

    start: datetime
    last: datetime
    user_agent: str
    referrer: str | None
    country: str | None
    requests: int = 0
    renditions: list[str] = field(default_factory=list)
    duration: float | None = None
    reached: float | None = None  # the furthest fraction of the track reached
    spans: dict[int, tuple[float, float]] = field(default_factory=dict)  # segment -> span

    def copy(self) -> OpenSession:
        return OpenSession(
            self.start,
            self.last,
            self.user_agent,
            self.referrer,
            self.country,
            self.requests,
            list(self.renditions),
            self.duration,
            self.reached,
            dict(self.spans),
        )


@dataclass(slots=True)
class CounterState:
    """Open windows and sessions, and the ``now`` of the last step (``watermark``)."""

    watermark: datetime | None = None
    downloads: dict[DownloadKey, PendingDownload] = field(default_factory=dict)
    sessions: dict[SessionKey, OpenSession] = field(default_factory=dict)

    def copy(self) -> CounterState:
        """A copy of the maps, sharing their entries: ``step`` works on one and copies an
        entry before it changes it (copy on write), so the caller's state stays as it was
        at the cost of what the batch touches, not of the whole state."""
        return CounterState(self.watermark, dict(self.downloads), dict(self.sessions))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: Any) -> datetime:
    return datetime.fromisoformat(cast(str, value))


# An event is stored as a list in DeliveryEvent's field order (the state of a busy day
# holds many; names in every one would triple its size).
_EVENT_FIELDS = tuple(f.name for f in fields(DeliveryEvent))


def _event_json(event: DeliveryEvent) -> list[Any]:
    return [event.at.isoformat(), *(getattr(event, name) for name in _EVENT_FIELDS[1:])]


def _event(data: list[Any]) -> DeliveryEvent:
    if len(data) != len(_EVENT_FIELDS):
        raise ValueError(f"an event of {len(data)} fields, not {len(_EVENT_FIELDS)}")
    return DeliveryEvent(_parse(data[0]), *data[1:])


def to_json(state: CounterState) -> dict[str, Any]:
    """The state as JSON-compatible data. Windows and sessions are lists in the order of
    ``DOWNLOAD_FIELDS`` and ``SESSION_FIELDS`` (a busy day's state holds hundreds of
    thousands; names in every one would double its size)."""
    return {
        "version": STATE_VERSION,
        "watermark": _time(state.watermark),
        "download_fields": DOWNLOAD_FIELDS,
        "downloads": [
            [
                listener,
                track_id,
                pending.start.isoformat(),
                pending.counted,
                [_event_json(event) for event in pending.events],
                [[r, t, d, ranges] for (r, t, d), ranges in pending.ranges.items()],
            ]
            for (listener, track_id), pending in state.downloads.items()
        ],
        "session_fields": SESSION_FIELDS,
        "sessions": [
            [
                listener,
                kind,
                subject_id,
                session.start.isoformat(),
                session.last.isoformat(),
                session.user_agent,
                session.referrer,
                session.country,
                session.requests,
                session.renditions,
                session.duration,
                session.reached,
                [[segment, low, high] for segment, (low, high) in session.spans.items()],
            ]
            for (listener, kind, subject_id), session in state.sessions.items()
        ],
    }


def from_json(data: dict[str, Any]) -> CounterState:
    """The state ``to_json`` wrote. Raises StateError for another version or bad data."""
    if data.get("version") != STATE_VERSION:
        raise StateError(f"counter state version {data.get('version')!r}, not {STATE_VERSION}")
    try:
        watermark = data["watermark"]
        state = CounterState(watermark=None if watermark is None else _parse(watermark))
        for listener, track_id, start, counted, events, ranges in data["downloads"]:
            state.downloads[(listener, track_id)] = PendingDownload(
                start=_parse(start),
                counted=bool(counted),
                events=[_event(event) for event in events],
                ranges={
                    (rendition, int(total), float(duration)): [
                        (int(low), int(high)) for low, high in spans
                    ]
                    for rendition, total, duration, spans in ranges
                },
            )
        for item in data["sessions"]:
            (listener, kind, subject_id, start, last, agent, referrer, country) = item[:8]
            requests, renditions, duration, reached, spans = item[8:]
            state.sessions[(listener, kind, subject_id)] = OpenSession(
                start=_parse(start),
                last=_parse(last),
                user_agent=agent,
                referrer=referrer,
                country=country,
                requests=int(requests),
                renditions=list(renditions),
                duration=duration,
                reached=reached,
                spans={int(n): (float(low), float(high)) for n, low, high in spans},
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"unreadable counter state: {exc}") from exc
    return state
