"""Reports from rollup cells (pure): buckets, grouping, totals, trends, CSV, realtime."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from streamer.analytics.cells import Cell, Cells, Contribution
from streamer.analytics.exports import report_csv, top_csv
from streamer.analytics.realtime import RecentListeners, summarise
from streamer.analytics.report_model import ReportQuery, Selected, build_report, top_list
from streamer.analytics.sketch import Sketch, listener_hash

DAY = datetime(2026, 12, 1, tzinfo=UTC)


def _listeners(*names: str) -> Sketch:
    sketch = Sketch()
    sketch.add_all(listener_hash(n) for n in names)
    return sketch


def test_cells_sum_per_hour_and_count_each_listener_once() -> None:
    cells = Cells()
    at = DAY + timedelta(hours=3, minutes=5)
    cells.add(Contribution(at, "track", "t1", "a", app="Overcast", downloads=1))
    cells.add(Contribution(at + timedelta(minutes=30), "track", "t1", "a", app="Overcast",
                           listening_seconds=30.0, sessions=1, quartiles=2))  # fmt: skip
    cells.add(
        Contribution(at + timedelta(hours=1), "track", "t1", "b", app="Overcast", downloads=1)
    )
    got = {key.period.hour: cell for key, cell in cells.items()}
    assert sorted(got) == [3, 4]
    three = got[3]
    assert (three.downloads, three.sessions, three.q1, three.q2, three.q3) == (1, 1, 1, 1, 0)
    assert three.listeners.estimate() == 1
    assert three.listening_seconds == 30.0


def test_a_finding_that_counts_nothing_adds_no_listener() -> None:
    cells = Cells()
    cells.add(Contribution(DAY, "track", "t1", "a"))
    ((_, cell),) = cells.items()
    assert cell.listeners.estimate() == 0


def _query(**kw: object) -> ReportQuery:
    base: dict[str, object] = {"metric": "downloads", "start": DAY, "end": DAY + timedelta(days=3)}
    base.update(kw)
    return ReportQuery(**base)  # type: ignore[arg-type]


def test_report_fills_empty_buckets_and_ranks_series() -> None:
    selected = [
        Selected(DAY, "t1", Cell(downloads=2)),
        Selected(DAY + timedelta(days=2), "t1", Cell(downloads=1)),
        Selected(DAY + timedelta(hours=5), "t2", Cell(downloads=5)),
    ]
    out = build_report(_query(group_by="track"), selected, {"t1": "One"})
    assert [s["key"] for s in out["series"]] == ["t2", "t1"]
    one = out["series"][1]
    assert one["label"] == "One"
    assert one["total"] == 3
    assert [p["value"] for p in one["points"]] == [2, 0, 1]
    assert out["total"] == 8


def test_unique_listeners_of_a_range_are_not_the_sum_of_days() -> None:
    selected = [
        Selected(DAY, "all", Cell(listeners=_listeners("a", "b"))),
        Selected(DAY + timedelta(days=1), "all", Cell(listeners=_listeners("b", "c"))),
    ]
    out = build_report(_query(metric="listeners"), selected, {})
    assert [p["value"] for p in out["series"][0]["points"]] == [2, 2, 0]
    assert out["total"] == 3


def test_completion_quartiles_and_compare_and_moving_average() -> None:
    cell = Cell(sessions=4, q1=4, q2=3, q3=2, q4=1)
    out = build_report(
        _query(metric="completion", compare=True, moving_average=2),
        [Selected(DAY, "all", cell)],
        {},
        previous=[Selected(None, "all", Cell(sessions=2, q4=2))],
    )
    series = out["series"][0]
    assert series["total"] == 0.25
    assert series["quartiles"] == {"q1": 1.0, "q2": 0.75, "q3": 0.5, "q4": 0.25}
    assert out["previous"] == {"total": 1.0, "series": [{"key": "all", "total": 1.0}]}
    averages = [p["value"] for p in out["moving_average"]["series"][0]["points"]]
    assert averages == [None, 0.125, 0.0]


def test_report_in_a_time_zone_puts_hours_in_local_days() -> None:
    # 23:00 UTC on Dec 1st is Dec 2nd in Tokyo.
    query = ReportQuery(metric="downloads", start=datetime(2026, 12, 1, 15, tzinfo=UTC),
                        end=datetime(2026, 12, 3, 15, tzinfo=UTC), tz="Asia/Tokyo")  # fmt: skip
    assert not query.daily_rows
    out = build_report(query, [Selected(DAY + timedelta(hours=23), "all", Cell(downloads=1))], {})
    points = out["series"][0]["points"]
    assert [p["t"] for p in points] == ["2026-12-02T00:00:00+09:00", "2026-12-03T00:00:00+09:00"]
    assert [p["value"] for p in points] == [1, 0]


def test_daily_rows_answer_utc_days_only() -> None:
    assert _query().daily_rows
    assert not _query(interval="hour").daily_rows
    assert not _query(start=DAY + timedelta(hours=1)).daily_rows


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"end": DAY}, "to must be after from"),
        ({"tz": "Nowhere/Else"}, "unknown time zone"),
        ({"filters": {"colour": "red"}}, "unknown filters"),
    ],
)
def test_bad_queries(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _query(**kw)


def test_csv_parses_back_to_the_report() -> None:
    selected = [Selected(DAY, "t1", Cell(downloads=2)), Selected(DAY, "=cmd", Cell(downloads=1))]
    out = build_report(_query(group_by="track", compare=True, moving_average=2), selected,
                       {"t1": "Song, with comma"}, previous=[])  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(report_csv(out))))
    assert len(rows) == 6
    first = out["series"][0]["points"][0]["t"]
    assert rows[0] == {"series": "t1", "label": "Song, with comma", "t": first,
                       "downloads": "2.0", "moving_average": "",
                       "previous_total": "0.0"}  # fmt: skip
    assert rows[3]["series"] == "'=cmd"  # no formula for spreadsheets
    top = top_list("downloads", selected, {}, 1)
    assert list(csv.reader(io.StringIO(top_csv("downloads", top)))) == [
        ["key", "label", "downloads"],
        ["t1", "t1", "2.0"],
    ]


def test_realtime_now_and_per_minute() -> None:
    recent = RecentListeners(window_minutes=5, max_per_minute=3)
    now = 1_000_020.0  # the start of a minute
    recent.note(now - 200, "track", "t1", "old")
    recent.note(now - 30, "track", "t1", "a")
    recent.note(now - 10, "channel", "c1", "a")
    recent.note(now - 5, "channel", "c1", "b")
    recent.note(now - 4, "channel", "c1", "c")  # a fourth pair this minute: dropped
    assert recent.dropped == 1
    snap = summarise(recent.marks(), now=now, window_minutes=5)
    assert snap.listeners_now == 2
    assert snap.by_subject == [("channel", "c1", 2), ("track", "t1", 1)]
    assert [n for _, n in snap.minutes] == [1, 0, 0, 2, 0]
    assert len(recent.take_unshared()) == 4
    assert recent.take_unshared() == []
