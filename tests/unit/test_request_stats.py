"""Request tallies reach Prometheus exactly as observe() one by one would have put them."""

from __future__ import annotations

import asyncio

import pytest

from streamer.metrics import LATENCY_BUCKETS, Metrics
from streamer.request_stats import RequestStats

LATENCIES = [0.0001, 0.0005, 0.003, 0.003, 0.2, 12.0]


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} not in exposition")


def test_flushed_tallies_equal_one_by_one_observation() -> None:
    metrics = Metrics()
    stats = RequestStats(metrics)
    for seconds in LATENCIES:
        stats.record("/media/{track_id}/original", "GET", 206, 100, seconds)
    stats.flush()
    text = metrics.exposition().decode()
    label = 'route="/media/{track_id}/original"'
    for bound in LATENCY_BUCKETS:
        sample = f'streamer_http_request_duration_seconds_bucket{{le="{bound}",{label}}}'
        assert _value(text, sample) == sum(1 for s in LATENCIES if s <= bound), bound
    infinite = f'streamer_http_request_duration_seconds_bucket{{le="+Inf",{label}}}'
    assert _value(text, infinite) == len(LATENCIES)
    total = f"streamer_http_request_duration_seconds_sum{{{label}}}"
    assert _value(text, total) == pytest.approx(sum(LATENCIES))
    requests = f'streamer_http_requests_total{{method="GET",{label},status="206"}}'
    assert _value(text, requests) == len(LATENCIES)
    assert _value(text, f"streamer_http_response_body_bytes_total{{{label}}}") == 600


def test_range_kinds_and_in_flight_are_reported() -> None:
    metrics = Metrics()
    stats = RequestStats(metrics)
    stats.record_range("multi")
    stats.record_range("multi")
    stats.in_flight = 3
    stats.flush()
    text = metrics.exposition().decode()
    assert _value(text, 'streamer_range_requests_total{kind="multi"}') == 2
    assert _value(text, "streamer_http_requests_in_flight") == 3


async def test_tallies_are_flushed_within_the_interval() -> None:
    metrics = Metrics()
    stats = RequestStats(metrics, flush_interval=0.05)
    stats.record("/healthz", "GET", 200, 15, 0.001)
    await asyncio.sleep(0.15)
    sample = 'streamer_http_requests_total{method="GET",route="/healthz",status="200"}'
    assert _value(metrics.exposition().decode(), sample) == 1
