"""`streamer logs`' analysis (streamer.maintenance.log_report): pure functions over lines
shaped like the server's (streamer.access_log for requests, streamer.logs for the rest)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from streamer.maintenance.log_report import (
    MAX_ERROR_GROUPS,
    DurationSketch,
    analyse,
    default_bucket,
    error_kind,
    parse_bucket,
    report_as_dict,
)

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SEG = "/hls/{track_id}/{rendition}/seg_{n}.m4s"


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def request(
    when: datetime = T0,
    *,
    route: str = SEG,
    status: int = 200,
    ms: float = 1.0,
    request_id: str = "r1",
) -> str:
    """An access line with the fields streamer.access_log writes."""
    return json.dumps(
        {
            "ts": _ts(when),
            "level": "info",
            "logger": "streamer.access",
            "msg": f"GET /x {status}",
            "request_id": request_id,
            "method": "GET",
            "path": "/x",
            "route": route,
            "status": status,
            "bytes": 10,
            "ms": ms,
            "client": "127.0.0.1",
        }
    )


def traceback(kind: str = "ValueError", message: str = "boom", line: int = 12) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/.venv/lib/python3.11/site-packages/starlette/routing.py", line 70, '
        "in app\n    response = await func(request)\n"
        f'  File "/srv/app/streamer/routes/api_tracks.py", line {line}, in get_track\n'
        "    raise ValueError(message)\n"
        f"{kind}: {message}"
    )


def error(
    when: datetime = T0,
    *,
    msg: str = "unhandled error in GET /api/v1/tracks/7",
    exc: str | None = None,
    level: str = "error",
    logger: str = "streamer.routes.api_common",
    request_id: str | None = "r1",
) -> str:
    """A log line as streamer.logs.JSONFormatter writes it."""
    entry: dict[str, object] = {"ts": _ts(when), "level": level, "logger": logger, "msg": msg}
    if request_id is not None:
        entry["request_id"] = request_id
    if exc is not None:
        entry["exc"] = exc
    return json.dumps(entry)


# Reading lines


def test_an_empty_log_gives_an_empty_report() -> None:
    report = analyse([])
    assert (report.lines, report.requests, report.error_lines, report.skipped) == (0, 0, 0, 0)
    assert (report.first, report.last) == (None, None)
    assert (report.status_classes, report.slowest_routes) == ({}, [])
    assert (report.top_errors, report.buckets) == ([], [])


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "Traceback (most recent call last):",
        "{not json",
        "[1, 2, 3]",
        '"a string"',
        '{"level": "info", "msg": "no ts"}',
        '{"ts": "yesterday", "level": "info"}',
        '{"ts": 1733047200, "level": "info"}',
    ],
    ids=["empty", "text", "traceback", "broken", "array", "string", "no-ts", "bad-ts", "num-ts"],
)
def test_a_line_that_is_not_a_json_log_line_is_skipped_and_counted(line: str) -> None:
    report = analyse([request(), line, request()])
    assert report.lines == 3
    assert report.skipped == 1
    assert report.requests == 2


def test_lines_may_end_with_a_newline() -> None:
    assert analyse([request() + "\n", error() + "\r\n"]).requests == 1


def test_an_info_line_of_another_logger_counts_as_other() -> None:
    line = json.dumps({"ts": _ts(T0), "level": "info", "logger": "streamer.cli", "msg": "serving"})
    report = analyse([line])
    assert (report.other_lines, report.requests, report.error_lines) == (1, 0, 0)


def test_a_warning_is_not_an_error() -> None:
    report = analyse([error(level="warning", exc=traceback())])
    assert (report.error_lines, report.other_lines) == (0, 1)


# Status mix


def test_requests_are_counted_by_status_class() -> None:
    statuses = [200, 200, 206, 304, 404, 503, 500]
    report = analyse([request(status=status) for status in statuses])
    assert report.status_classes == {"2xx": 3, "3xx": 1, "4xx": 1, "5xx": 2}


def test_top_statuses_are_the_most_frequent_first_then_by_status() -> None:
    statuses = [404, 200, 200, 206, 206, 206, 500]
    report = analyse([request(status=status) for status in statuses], top=3)
    assert report.top_statuses == [(206, 3), (200, 2), (404, 1)]


# Routes


def test_one_route_reports_its_count_and_percentiles() -> None:
    report = analyse([request(ms=ms) for ms in (1.0, 2.0, 3.0, 4.0)])
    [timing] = report.slowest_routes
    assert (timing.route, timing.count) == (SEG, 4)
    assert timing.p50_ms == pytest.approx(2.0, rel=DurationSketch.RELATIVE_ERROR)
    assert timing.p99_ms == timing.max_ms == 4.0


def test_routes_are_listed_slowest_p95_first_up_to_top() -> None:
    lines = [
        *(request(route="/fast", ms=1.0) for _ in range(5)),
        *(request(route="/slow", ms=500.0) for _ in range(2)),
        *(request(route="/middling", ms=40.0) for _ in range(3)),
    ]
    report = analyse(lines, top=2)
    assert [t.route for t in report.slowest_routes] == ["/slow", "/middling"]
    assert report.routes == 3


def test_a_request_without_a_duration_is_counted_but_not_timed() -> None:
    line = json.loads(request())
    del line["ms"]
    report = analyse([json.dumps(line)])
    assert (report.requests, report.slowest_routes) == (1, [])


# Percentiles: nearest rank, within the sketch's relative error, clamped to what was seen


@pytest.mark.parametrize(
    ("samples", "p50", "p95", "p99"),
    [
        ([5.0], 5.0, 5.0, 5.0),
        ([7.25] * 50, 7.25, 7.25, 7.25),
        ([1.0, 2.0], 1.0, 2.0, 2.0),
        ([0.0, 0.0, 0.0], 0.0, 0.0, 0.0),
        ([0.0, 10.0], 0.0, 10.0, 10.0),
        ([float(n) for n in range(1, 101)], 50.0, 95.0, 99.0),
        ([1.0] * 99 + [1000.0], 1.0, 1.0, 1.0),
        ([1.0] * 98 + [1000.0] * 2, 1.0, 1.0, 1000.0),
    ],
    ids=["one", "all-equal", "two", "zeros", "zero-and-ten", "1-to-100", "one-outlier", "two-tail"],
)
def test_percentiles_are_nearest_rank(
    samples: list[float], p50: float, p95: float, p99: float
) -> None:
    sketch = DurationSketch()
    for ms in samples:
        sketch.add(ms)
    rel = DurationSketch.RELATIVE_ERROR
    assert sketch.quantile(0.50) == pytest.approx(p50, rel=rel)
    assert sketch.quantile(0.95) == pytest.approx(p95, rel=rel)
    assert sketch.quantile(0.99) == pytest.approx(p99, rel=rel)


def test_an_empty_sketch_has_no_percentile() -> None:
    assert math.isnan(DurationSketch().quantile(0.5))


def test_percentiles_stay_within_the_relative_error_of_the_exact_ones() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(2.0, 1.5) for _ in range(20_000)]
    sketch = DurationSketch()
    for ms in samples:
        sketch.add(ms)
    ordered = sorted(samples)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        exact = ordered[math.ceil(q * len(ordered)) - 1]
        assert sketch.quantile(q) == pytest.approx(exact, rel=DurationSketch.RELATIVE_ERROR)


def test_a_sketch_holds_a_bounded_number_of_counters() -> None:
    sketch = DurationSketch()
    for n in range(200_000):  # a microsecond to over an hour
        sketch.add(0.001 * 1.0001**n)
    assert sketch.count == 200_000
    assert len(sketch._buckets) < 1_200


# Errors


def test_errors_of_one_type_message_and_place_form_one_group() -> None:
    lines = [
        error(T0, exc=traceback(message="no track 7"), request_id="a"),
        error(T0 + timedelta(minutes=5), exc=traceback(message="no track 8"), request_id="b"),
    ]
    [group] = analyse(lines).top_errors
    assert (group.type, group.message, group.count) == ("ValueError", "no track <n>", 2)
    assert group.place == "streamer/routes/api_tracks.py:12 in get_track"
    assert (group.first_seen, group.last_seen) == (T0, T0 + timedelta(minutes=5))
    assert group.sample_request_id == "a"
    assert group.sample_message == "unhandled error in GET /api/v1/tracks/7"


def test_the_same_error_in_another_place_is_another_group() -> None:
    lines = [error(exc=traceback(line=12)), error(exc=traceback(line=40))]
    assert len(analyse(lines).top_errors) == 2


def test_errors_are_listed_most_frequent_first() -> None:
    lines = [error(exc=traceback("KeyError", "'a'")), *[error(exc=traceback())] * 3]
    report = analyse(lines)
    assert [(g.type, g.count) for g in report.top_errors] == [("ValueError", 3), ("KeyError", 1)]


def test_an_error_logged_without_an_exception_is_grouped_by_logger_and_message() -> None:
    lines = [
        error(msg="rollup of 120 events failed", logger="streamer.analytics.tasks"),
        error(msg="rollup of 99 events failed", logger="streamer.analytics.tasks"),
    ]
    [group] = analyse(lines).top_errors
    assert group.type is None
    assert (group.message, group.place, group.count) == (
        "rollup of <n> events failed",
        "streamer.analytics.tasks",
        2,
    )


def test_a_group_takes_the_first_request_id_it_sees() -> None:
    lines = [error(exc=traceback(), request_id=None), error(exc=traceback(), request_id="r9")]
    [group] = analyse(lines).top_errors
    assert group.sample_request_id == "r9"


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("no track 3f2a9c0e-1b2c-4d5e-8f90-123456789abc", "no track <id>"),
        ("job 0123abcd4567 failed", "job <id> failed"),
        ("took 12.5 s", "took <n> s"),
        ("no library 'Music'", "no library '…'"),
        ("the database is locked", "the database is locked"),
    ],
)
def test_error_messages_are_grouped_without_their_ids_and_numbers(
    message: str, template: str
) -> None:
    assert error_kind(json.loads(error(msg=message)))[1] == template


def test_an_exception_message_over_several_lines_is_read_from_its_first() -> None:
    exc = traceback(message="bad header\n  at byte 7")
    assert error_kind(json.loads(error(exc=exc)))[:2] == ("ValueError", "bad header")


def test_a_dotted_exception_type_is_kept_whole() -> None:
    exc = traceback("sqlalchemy.exc.OperationalError", "(sqlite3.OperationalError) locked")
    kind = error_kind(json.loads(error(exc=exc)))
    assert kind[0] == "sqlalchemy.exc.OperationalError"


def test_error_groups_are_bounded() -> None:
    lines = (error(exc=traceback(line=n)) for n in range(MAX_ERROR_GROUPS + 50))
    report = analyse(lines, top=1)
    assert report.error_groups == MAX_ERROR_GROUPS + 1  # the last: everything beyond
    assert report.error_lines == MAX_ERROR_GROUPS + 50


# Time filtering


def test_since_is_inclusive_and_until_exclusive() -> None:
    lines = [request(T0 + timedelta(minutes=m)) for m in range(5)]
    report = analyse(lines, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert (report.requests, report.filtered) == (2, 3)
    assert report.first == T0 + timedelta(minutes=1)
    assert report.last == T0 + timedelta(minutes=2)


def test_a_naive_instant_is_taken_as_utc() -> None:
    report = analyse([request(T0)], since=T0.replace(tzinfo=None))
    assert report.requests == 1


def test_instants_with_an_offset_compare_by_the_moment_they_name() -> None:
    offset = datetime.fromisoformat("2026-12-01T11:00:00+01:00")  # 10:00 UTC
    assert analyse([request(T0)], until=offset).requests == 0
    assert analyse([request(T0)], since=offset).requests == 1


def test_filtered_lines_count_toward_nothing_else() -> None:
    report = analyse([error(T0, exc=traceback())], since=T0 + timedelta(seconds=1))
    assert (report.filtered, report.error_lines, report.buckets) == (1, 0, [])


# Buckets


@pytest.mark.parametrize(
    ("span", "bucket"),
    [
        (timedelta(0), timedelta(minutes=1)),
        (timedelta(minutes=90), timedelta(minutes=1)),
        (timedelta(hours=2), timedelta(minutes=1)),
        (timedelta(hours=6), timedelta(minutes=5)),
        (timedelta(days=2), timedelta(hours=1)),
        (timedelta(days=30), timedelta(days=1)),
    ],
)
def test_the_default_bucket_follows_the_span(span: timedelta, bucket: timedelta) -> None:
    assert default_bucket(span) == bucket


def test_the_report_uses_the_default_bucket_for_its_span() -> None:
    report = analyse([request(T0), request(T0 + timedelta(hours=6))])
    assert report.bucket_seconds == 300


def test_buckets_count_requests_5xx_and_error_lines() -> None:
    lines = [
        request(T0, status=200),
        request(T0 + timedelta(seconds=30), status=502),
        error(T0 + timedelta(seconds=59)),
        request(T0 + timedelta(minutes=1), status=200),
    ]
    report = analyse(lines, bucket=timedelta(minutes=1))
    assert [(b.start, b.requests, b.server_errors, b.error_lines) for b in report.buckets] == [
        (T0, 2, 1, 1),
        (T0 + timedelta(minutes=1), 1, 0, 0),
    ]


def test_quiet_buckets_are_listed_with_zeros() -> None:
    lines = [request(T0), request(T0 + timedelta(minutes=15))]
    report = analyse(lines, bucket=timedelta(minutes=5))
    assert [b.requests for b in report.buckets] == [1, 0, 0, 1]


def test_buckets_start_on_whole_multiples_of_their_size() -> None:
    lines = [request(T0 + timedelta(minutes=7, seconds=42))]
    [bucket] = analyse(lines, bucket=timedelta(minutes=5)).buckets
    assert bucket.start == T0 + timedelta(minutes=5)


def test_hourly_buckets_add_up_the_minutes() -> None:
    lines = [request(T0 + timedelta(minutes=m)) for m in range(0, 120, 7)]
    report = analyse(lines, bucket=timedelta(hours=1))
    assert [b.requests for b in report.buckets] == [9, 9]


@pytest.mark.parametrize(
    ("text", "size"),
    [("1m", timedelta(minutes=1)), ("5m", timedelta(minutes=5)), ("1h", timedelta(hours=1))],
)
def test_a_bucket_size_is_read_from_its_short_form(text: str, size: timedelta) -> None:
    assert parse_bucket(text) == size


@pytest.mark.parametrize("text", ["", "0m", "5", "30s", "1w", "m5", "-1h"])
def test_a_bucket_that_is_not_whole_minutes_hours_or_days_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bucket"):
        parse_bucket(text)


# The JSON form


def test_the_report_as_a_dict_is_json_with_utc_instants() -> None:
    report = analyse([request(T0), error(T0, exc=traceback())])
    document = json.loads(json.dumps(report_as_dict(report)))
    assert document["first"] == "2026-12-01T10:00:00Z"
    assert document["top_statuses"] == [{"status": 200, "count": 1}]
    assert document["top_errors"][0]["first_seen"] == "2026-12-01T10:00:00Z"
    assert document["buckets"][0]["start"] == "2026-12-01T10:00:00Z"
