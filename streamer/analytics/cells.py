"""Rollup cells: what counting found, summed per UTC hour, subject and dimensions (pure).

Counting (streamer/analytics/counting.py) decides what counts; this module only adds up
its findings, as ``Contribution``s, into ``Cell``s keyed like a rollup row. A listener
is counted in a cell when something of theirs counted there (a download, or listening).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from streamer.analytics.periods import utc_hour
from streamer.analytics.sketch import Sketch, listener_hash

__all__ = ["Cell", "CellKey", "Cells", "Contribution", "day_key"]


@dataclass(frozen=True, slots=True)
class CellKey:
    period: datetime  # UTC start of the hour (hourly) or of the day (daily)
    kind: str
    subject_id: str
    app: str = ""
    device: str = ""
    os: str = ""
    browser: str = ""
    country: str = ""


def day_key(key: CellKey) -> CellKey:
    """The daily cell an hourly one adds to."""
    day = key.period.replace(hour=0)
    return CellKey(day, key.kind, key.subject_id, key.app, key.device, key.os, key.browser,
                   key.country)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Contribution:
    """One finding of counting at an instant: a download, a session begun or listened to.
    ``quartiles`` is how many quarter marks a session that ended here reached (0-4)."""

    at: datetime
    kind: str
    subject_id: str
    listener: str
    app: str = ""
    device: str = ""
    os: str = ""
    browser: str = ""
    country: str = ""
    downloads: int = 0
    listening_seconds: float = 0.0
    sessions: int = 0
    quartiles: int = 0


@dataclass(slots=True)
class Cell:
    downloads: int = 0
    listeners: Sketch = field(default_factory=Sketch)
    listening_seconds: float = 0.0
    sessions: int = 0
    q1: int = 0
    q2: int = 0
    q3: int = 0
    q4: int = 0

    def add(self, other: Cell) -> None:
        self.downloads += other.downloads
        self.listeners.update(other.listeners)
        self.listening_seconds += other.listening_seconds
        self.sessions += other.sessions
        self.q1 += other.q1
        self.q2 += other.q2
        self.q3 += other.q3
        self.q4 += other.q4


class Cells:
    """Contributions summed into hourly cells."""

    def __init__(self) -> None:
        self._cells: dict[CellKey, Cell] = {}
        self._hashes: dict[str, int] = {}  # a batch sees the same listener many times

    def add(self, c: Contribution) -> None:
        key = CellKey(utc_hour(c.at), c.kind, c.subject_id, c.app, c.device, c.os, c.browser,
                      c.country)  # fmt: skip
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = Cell()
        cell.downloads += c.downloads
        cell.listening_seconds += c.listening_seconds
        cell.sessions += c.sessions
        cell.q1 += c.quartiles >= 1
        cell.q2 += c.quartiles >= 2
        cell.q3 += c.quartiles >= 3
        cell.q4 += c.quartiles >= 4
        if c.downloads or c.listening_seconds or c.sessions:
            value = self._hashes.get(c.listener)
            if value is None:
                value = self._hashes[c.listener] = listener_hash(c.listener)
            cell.listeners.add(value)

    def add_all(self, contributions: Iterable[Contribution]) -> None:
        for c in contributions:
            self.add(c)

    def items(self) -> Iterator[tuple[CellKey, Cell]]:
        return iter(self._cells.items())

    def __len__(self) -> int:
        return len(self._cells)
