"""Listeners now and per minute, from the recent deliveries this process saw (pure).

Each delivery that counts (``note``) marks its listener as seen in the current minute for
its subject, with the second it was last seen. Only ``window_minutes`` minutes are kept,
and at most ``max_per_minute`` (subject, listener) pairs a minute (past that, new pairs
are dropped and counted in ``dropped``), so memory is bounded whatever the audience.

"Listeners now" are the distinct listeners seen in the last ``now_seconds``.
``streamer/analytics/realtime_share.py`` shares these marks across nodes through Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Mark", "RecentListeners", "Snapshot", "summarise"]

Subject = tuple[str, str]  # (kind, id)


@dataclass(frozen=True, slots=True)
class Mark:
    """A listener seen at second ``seen`` (Unix) in minute ``minute`` for a subject."""

    minute: int
    kind: str
    subject_id: str
    listener: str
    seen: float


@dataclass(frozen=True)
class Snapshot:
    listeners_now: int
    by_subject: list[tuple[str, str, int]]  # (kind, id, listeners now), most first
    minutes: list[tuple[int, int]]  # (minute start, Unix seconds; distinct listeners)


class RecentListeners:
    def __init__(self, window_minutes: int = 30, max_per_minute: int = 200_000) -> None:
        self.window_minutes = window_minutes
        self.max_per_minute = max_per_minute
        self.dropped = 0
        # minute -> (subject, listener) -> last seen
        self._minutes: dict[int, dict[tuple[Subject, str], float]] = {}
        # Marks not yet pushed to Redis, one per (minute, subject, listener): a listener
        # fetching a segment every few seconds is one entry a minute.
        self._unshared: dict[tuple[int, Subject, str], float] = {}

    def note(self, at: float, kind: str, subject_id: str, listener: str) -> None:
        minute = int(at // 60)
        marks = self._minutes.get(minute)
        if marks is None:
            marks = self._minutes[minute] = {}
            self._expire(minute)
        key = ((kind, subject_id), listener)
        if key not in marks and len(marks) >= self.max_per_minute:
            self.dropped += 1
            return
        marks[key] = at
        if len(self._unshared) < 2 * self.max_per_minute:  # Redis down: drop, stay bounded
            self._unshared[(minute, (kind, subject_id), listener)] = at

    def _expire(self, minute: int) -> None:
        for old in [m for m in self._minutes if m <= minute - self.window_minutes]:
            del self._minutes[old]

    def take_unshared(self) -> list[Mark]:
        """The marks noted since the last call (for sharing through Redis)."""
        marks, self._unshared = self._unshared, {}
        return [Mark(m, kind, sid, who, seen) for (m, (kind, sid), who), seen in marks.items()]

    def marks(self) -> Iterable[Mark]:
        for minute, marks in self._minutes.items():
            for ((kind, subject_id), listener), seen in marks.items():
                yield Mark(minute, kind, subject_id, listener, seen)


def summarise(
    marks: Iterable[Mark],
    *,
    now: float,
    window_minutes: int,
    now_seconds: float = 60.0,
    labels: Mapping[Subject, str] | None = None,
) -> Snapshot:
    """Listeners now (seen in the last ``now_seconds``), per subject, and distinct
    listeners in each of the last ``window_minutes`` minutes (oldest first)."""
    current = int(now // 60)
    first = current - window_minutes + 1
    per_minute: dict[int, set[str]] = {m: set() for m in range(first, current + 1)}
    now_all: set[str] = set()
    now_by: dict[Subject, set[str]] = {}
    for mark in marks:
        if mark.minute in per_minute:
            per_minute[mark.minute].add(mark.listener)
        if now - now_seconds <= mark.seen <= now + 1:
            now_all.add(mark.listener)
            now_by.setdefault((mark.kind, mark.subject_id), set()).add(mark.listener)
    by_subject = sorted(
        ((kind, sid, len(who)) for (kind, sid), who in now_by.items()),
        key=lambda item: (-item[2], item[0], item[1]),
    )
    return Snapshot(
        listeners_now=len(now_all),
        by_subject=by_subject,
        minutes=[(m * 60, len(per_minute[m])) for m in sorted(per_minute)],
    )
