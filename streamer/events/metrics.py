"""Live events in the Prometheus metrics: what this process published and what failed,
added on the request statistics' flush beat (kept apart from the rest of the package,
which the CLI imports before prometheus-client may be)."""

from __future__ import annotations

from collections import Counter

from streamer.events.hub import EventHub
from streamer.metrics import Metrics

__all__ = ["EventMetrics"]


class EventMetrics:
    def __init__(self, hub: EventHub, metrics: Metrics) -> None:
        self.publisher = hub.publisher
        self.metrics = metrics
        self._published: Counter[str] = Counter()
        self._failures = 0

    def flush(self) -> None:
        for kind, total in self.publisher.published.items():
            delta = total - self._published[kind]
            if delta:
                self.metrics.events_published.labels(kind).inc(delta)
                self._published[kind] = total
        failures = self.publisher.failures
        if failures != self._failures:
            self.metrics.events_publish_failures.inc(failures - self._failures)
            self._failures = failures
