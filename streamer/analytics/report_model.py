"""Reports over rollup cells: the query, and series built from summed cells (pure).

``build_report`` takes the cells a query selected (period, series key, summed cell) and
turns them into series of points in the query's buckets, with totals, the previous
period's totals and a trailing moving average when asked. Unique listeners of a bucket
or a total come from merged sketches, never from adding per-row counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from streamer.analytics.cells import Cell
from streamer.analytics.periods import Interval, bucket_start, buckets, moving_average, zone

__all__ = [
    "DIMENSIONS",
    "FILTERS",
    "GROUPS",
    "METRICS",
    "SUBJECT_KINDS",
    "GroupBy",
    "Metric",
    "ReportQuery",
    "Selected",
    "build_report",
    "metric_value",
    "top_list",
]

Metric = Literal["downloads", "listeners", "listening_seconds", "sessions", "completion"]
GroupBy = Literal[
    "none", "track", "playlist", "channel", "app", "device", "browser", "os", "country"
]
METRICS: tuple[Metric, ...] = get_args(Metric)
GROUPS: tuple[GroupBy, ...] = get_args(GroupBy)
SUBJECT_KINDS = ("track", "playlist", "channel")
DIMENSIONS = ("app", "device", "os", "browser", "country")
FILTERS = SUBJECT_KINDS + DIMENSIONS
ALL = "all"
_UTC_ZONES = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu")


@dataclass(frozen=True)
class ReportQuery:
    metric: Metric
    start: datetime  # aware; the range is [start, end)
    end: datetime
    interval: Interval = "day"
    tz: str = "UTC"
    group_by: GroupBy = "none"
    filters: Mapping[str, str] = field(default_factory=dict)  # FILTERS -> value
    limit: int = 10
    compare: bool = False
    moving_average: int = 0

    def __post_init__(self) -> None:
        zone(self.tz)  # ValueError for an unknown zone
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("from and to need a UTC offset (or are read in tz)")
        if self.end <= self.start:
            raise ValueError("to must be after from")
        unknown = set(self.filters) - set(FILTERS)
        if unknown:
            raise ValueError(f"unknown filters: {', '.join(sorted(unknown))}")

    @property
    def daily_rows(self) -> bool:
        """Whether daily rows (UTC days) answer it exactly; else hourly rows do."""
        midnight = all(
            t.astimezone(UTC).time() == datetime.min.time() for t in (self.start, self.end)
        )
        return self.interval != "hour" and self.tz in _UTC_ZONES and midnight

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "interval": self.interval,
            "tz": self.tz,
            "group_by": self.group_by,
            "filters": dict(self.filters),
            "limit": self.limit,
            "compare": self.compare,
            "moving_average": self.moving_average,
        }


@dataclass(frozen=True, slots=True)
class Selected:
    """Cells a query selected: the stored period (None when not asked by period), the
    series key (the group's value; "all" without grouping) and the summed cell."""

    period: datetime | None
    key: str
    cell: Cell


def metric_value(metric: Metric, cell: Cell) -> float:
    if metric == "downloads":
        return float(cell.downloads)
    if metric == "listeners":
        return float(cell.listeners.estimate())
    if metric == "listening_seconds":
        return round(cell.listening_seconds, 3)
    if metric == "sessions":
        return float(cell.sessions)
    return round(cell.q4 / cell.sessions, 4) if cell.sessions else 0.0


def _totals(selected: Iterable[Selected]) -> dict[str, Cell]:
    totals: dict[str, Cell] = {}
    for s in selected:
        total = totals.get(s.key)
        if total is None:
            total = totals[s.key] = Cell()
        total.add(s.cell)
    return totals


def _grand(totals: Mapping[str, Cell]) -> Cell:
    grand = Cell()
    for cell in totals.values():
        grand.add(cell)
    return grand


def _quartiles(cell: Cell) -> dict[str, float]:
    if not cell.sessions:
        return {"q1": 0.0, "q2": 0.0, "q3": 0.0, "q4": 0.0}
    n = cell.sessions
    return {f"q{i}": round(q / n, 4) for i, q in enumerate((cell.q1, cell.q2, cell.q3, cell.q4), 1)}


def build_report(
    query: ReportQuery,
    selected: list[Selected],
    labels: Mapping[str, str],
    previous: list[Selected] | None = None,
) -> dict[str, Any]:
    """The report (contract F's shape) from the cells of the range and, with ``compare``,
    of the previous range."""
    tz = zone(query.tz)
    starts = buckets(query.start, query.end, query.interval, tz)
    totals = _totals(selected)
    ranked = sorted(totals, key=lambda k: (-metric_value(query.metric, totals[k]), k))
    keys = ranked[: query.limit]
    by_point: dict[tuple[str, datetime], Cell] = {}
    for s in selected:
        if s.key not in totals or s.period is None:
            continue
        point = (s.key, bucket_start(s.period, query.interval, tz))
        cell = by_point.get(point)
        if cell is None:
            cell = by_point[point] = Cell()
        cell.add(s.cell)
    series = []
    for key in keys:
        values = [metric_value(query.metric, by_point.get((key, t), Cell())) for t in starts]
        entry: dict[str, Any] = {
            "key": key,
            "label": labels.get(key, key or "unknown"),
            "total": metric_value(query.metric, totals[key]),
            "points": [
                {"t": t.isoformat(), "value": v} for t, v in zip(starts, values, strict=True)
            ],
        }
        if query.metric == "completion":
            entry["quartiles"] = _quartiles(totals[key])
        series.append(entry)
    out: dict[str, Any] = {
        "metric": query.metric,
        "interval": query.interval,
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "tz": query.tz,
        "group_by": query.group_by,
        "total": metric_value(query.metric, _grand(totals)),
        "series": series,
        "previous": None,
        "moving_average": None,
    }
    if query.compare:
        before = _totals(previous or [])
        out["previous"] = {
            "total": metric_value(query.metric, _grand(before)),
            "series": [
                {"key": k, "total": metric_value(query.metric, before.get(k, Cell()))} for k in keys
            ],
        }
    if query.moving_average > 0:
        out["moving_average"] = {
            "window": query.moving_average,
            "series": [
                {
                    "key": s["key"],
                    "points": [
                        {"t": p["t"], "value": v}
                        for p, v in zip(
                            s["points"],
                            moving_average([p["value"] for p in s["points"]], query.moving_average),
                            strict=True,
                        )
                    ],
                }
                for s in series
            ],
        }
    return out


def top_list(
    metric: Metric, selected: list[Selected], labels: Mapping[str, str], limit: int
) -> list[dict[str, Any]]:
    """The ``limit`` keys with the highest totals, highest first (ties by key)."""
    totals = _totals(selected)
    ranked = sorted(totals, key=lambda k: (-metric_value(metric, totals[k]), k))[:limit]
    return [
        {"key": k, "label": labels.get(k, k or "unknown"), "value": metric_value(metric, totals[k])}
        for k in ranked
    ]
