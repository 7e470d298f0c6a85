"""The dashboard's figures without a server: latency quantiles from histogram buckets, the
request report from metric samples, and the bounded list of recent 5xx responses."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from streamer.metrics import Metrics
from streamer.recent_errors import RecentErrors
from streamer.request_stats import RequestStats
from streamer.routes.api_stats import histogram_quantile, request_report

INF = math.inf


def test_a_quantile_is_interpolated_inside_its_bucket() -> None:
    # 10 observations up to 0.1 s, 10 more up to 0.2 s: the median is the first bucket's top.
    buckets = [(0.1, 10.0), (0.2, 20.0), (INF, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)


def test_a_quantile_in_the_infinite_bucket_is_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, [(0.1, 1.0), (10.0, 1.0), (INF, 100.0)]) == 10.0


def test_no_observations_have_no_quantile() -> None:
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(0.5, [(0.1, 0.0), (INF, 0.0)]) is None


def test_the_buckets_may_come_in_any_order() -> None:
    assert histogram_quantile(0.5, [(INF, 4.0), (0.2, 4.0), (0.1, 2.0)]) == pytest.approx(0.1)


def test_the_report_sums_what_request_stats_recorded() -> None:
    metrics = Metrics()
    stats = RequestStats(metrics)
    for _ in range(3):
        stats.record("/media/{track_id}/original", "GET", 200, 1000, 0.002)
    stats.record("/media/{track_id}/original", "GET", 404, 50, 0.001)
    stats.record("/api/v1/tracks", "GET", 500, 10, 0.3)
    stats.record("unmatched", "GET", 0, 0, 0.0001)  # the client left before a response
    stats.flush()
    report = request_report(metrics.samples("streamer_http_"))
    assert report["requests"] == 6
    assert report["by_status"] == {"0": 1, "200": 3, "404": 1, "500": 1}
    assert report["by_class"] == {"1xx": 0, "2xx": 3, "3xx": 0, "4xx": 1, "5xx": 1, "other": 1}
    assert report["bytes_sent"] == 3060
    media, api, unmatched = report["routes"]
    assert (media.route, media.requests, media.bytes_sent) == (
        "/media/{track_id}/original",
        4,
        3050,
    )
    assert 0.001 <= media.p50_seconds <= 0.0025
    assert 0.1 <= api.p99_seconds <= 0.5
    assert unmatched.route == "unmatched"


def _add(errors: RecentErrors, n: int, status: int = 500) -> None:
    errors.add(
        method="GET", route="/r", path=f"/r/{n}", status=status, request_id=f"id{n}", seconds=0.1
    )


def test_recent_errors_keep_only_the_newest() -> None:
    errors = RecentErrors(None, limit=3)
    for n in range(5):
        _add(errors, n)
    assert [e["request_id"] for e in errors.read()] == ["id4", "id3", "id2"]


def test_recent_errors_of_other_workers_are_merged_from_their_files(tmp_path: Path) -> None:
    errors = RecentErrors(tmp_path, limit=3)
    _add(errors, 1)
    errors.flush()  # no event loop: written at once
    mine = json.loads((tmp_path / f"recent-errors-{os.getpid()}.json").read_text())
    assert [e["request_id"] for e in mine] == ["id1"]
    other = [{**mine[0], "request_id": f"other{n}", "at": mine[0]["at"] - n} for n in (1, 2)]
    (tmp_path / "recent-errors-1.json").write_text(json.dumps(other))
    (tmp_path / "recent-errors-2.json").write_text("{half a fi")  # being replaced: skipped
    _add(errors, 2)  # not flushed yet: still listed by this worker
    assert [e["request_id"] for e in errors.read()] == ["id2", "id1", "other1"]


def test_a_flush_without_changes_writes_nothing(tmp_path: Path) -> None:
    errors = RecentErrors(tmp_path)
    errors.flush()
    assert list(tmp_path.iterdir()) == []
