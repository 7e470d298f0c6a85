"""Per-request tallies kept in plain Python and added to the Prometheus metrics in batches.

With several workers prometheus-client's multiprocess mode writes every increment to a
memory-mapped file under a lock; a small media response made seven of those. Here a
request costs a few dict operations, and ``flush`` (every second, and before /metrics is
rendered) adds the tallies in one go. /metrics may lag by up to a second for the other
workers' requests.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from streamer.batching import FlushTimer
from streamer.metrics import LATENCY_BUCKETS, Metrics

FLUSH_INTERVAL = 1.0


class RequestStats:
    def __init__(self, metrics: Metrics, *, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.metrics = metrics
        self.flush_interval = flush_interval
        self.in_flight = 0
        self._requests: dict[tuple[str, str, int], int] = {}
        # route -> [count per latency bucket (+inf last)..., sum of seconds, body bytes]
        self._routes: dict[str, list[float]] = {}
        self._ranges: dict[str, int] = {}
        self._timer = FlushTimer(self.flush, flush_interval)
        self._children: dict[Any, Any] = {}
        self._flushers: list[Callable[[], None]] = []

    def add_flusher(self, flush: Callable[[], None]) -> None:
        """Run ``flush`` with every flush (other tallies published on the same beat)."""
        self._flushers.append(flush)

    def record(self, route: str, method: str, status: int, sent: int, seconds: float) -> None:
        key = (route, method, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        tally = self._routes.get(route)
        if tally is None:
            tally = self._routes[route] = [0.0] * (len(LATENCY_BUCKETS) + 3)
        tally[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        tally[-2] += seconds
        tally[-1] += sent
        self._timer.due()

    def record_range(self, kind: str) -> None:
        self._ranges[kind] = self._ranges.get(kind, 0) + 1

    def flush(self) -> None:
        """Add everything tallied since the last flush to the Prometheus metrics."""
        self._timer.cancel()
        metrics = self.metrics
        metrics.in_flight.set(self.in_flight)
        requests, self._requests = self._requests, {}
        for (route, method, status), count in requests.items():
            self._child(metrics.requests, route, method, str(status)).inc(count)
        routes, self._routes = self._routes, {}
        for route, tally in routes.items():
            histogram = self._child(metrics.latency, route)
            # Histogram children keep one counter per bucket and one for the sum
            # (prometheus-client's layout since 0.4); adding counts in bulk is what
            # observe() would do one request at a time.
            for index, observed in enumerate(tally[:-2]):
                if observed:
                    histogram._buckets[index].inc(observed)
            histogram._sum.inc(tally[-2])
            if tally[-1]:
                self._child(metrics.bytes_sent, route).inc(tally[-1])
        ranges, self._ranges = self._ranges, {}
        for kind, count in ranges.items():
            self._child(metrics.range_requests, kind).inc(count)
        for flush in self._flushers:
            flush()

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child
