"""Prometheus metrics, created per app (no import-time globals).

With several worker processes, prometheus-client's multiprocess mode aggregates them: the
CLI points PROMETHEUS_MULTIPROC_DIR at a fresh folder before any worker starts.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The server's metrics. ``registry`` is what /metrics exposes."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        # Metrics register nowhere global; exposition below picks the right source.
        own = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "streamer_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "streamer_http_request_duration_seconds",
            "Time from request to the last body byte, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.bytes_sent = Counter(
            "streamer_http_response_body_bytes",
            "Response body bytes sent, by route template.",
            ["route"],
            registry=own,
        )
        self.in_flight = Gauge(
            "streamer_http_requests_in_flight",
            "Requests being answered now.",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.range_requests = Counter(
            "streamer_range_requests",
            "Media requests by range outcome: none, single, multi, unsatisfiable, ignored.",
            ["kind"],
            registry=own,
        )
        self.cache_events = Counter(
            "streamer_cache_events",
            "Segment cache events by tier (memory, redis) and kind: hit, miss, eviction, error.",
            ["tier", "event"],
            registry=own,
        )
        self.cache_bytes = Counter(
            "streamer_cache_served_bytes",
            "Bytes served from each segment cache tier (memory, redis, storage).",
            ["tier"],
            registry=own,
        )
        self.cache_fills = Counter(
            "streamer_cache_fills",
            "Segment cache fills by outcome: storage_read, coalesced, lease_wait.",
            ["kind"],
            registry=own,
        )
        self.cache_memory_bytes = Gauge(
            "streamer_cache_memory_bytes",
            "Bytes held by the in-process segment caches.",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.events_published = Counter(
            "streamer_events_published",
            "Live events published by this process's API, by type.",
            ["type"],
            registry=own,
        )
        self.events_publish_failures = Counter(
            "streamer_events_publish_failures",
            "Live events that could not be published (the change they report stands).",
            registry=own,
        )
        self.event_streams = Gauge(
            "streamer_event_streams",
            "Open live event streams (GET /api/v1/events).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.analytics_events = Counter(
            "streamer_analytics_events",
            "Delivery events by outcome: written to the database, dropped (the buffer was "
            "full), failed (a write failed twice).",
            ["outcome"],
            registry=own,
        )
        self.ffmpeg_info = Gauge(
            "streamer_ffmpeg_info",
            "The ffmpeg this server transcodes with: 1, labelled with its version and path.",
            ["version", "path"],
            registry=own,
            multiprocess_mode="max",
        )
        self._own = own

    def samples(self, prefix: str) -> list[tuple[str, dict[str, str], float]]:
        """Every sample whose name starts with ``prefix``, summed over workers."""
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
        else:
            registry = self._own
        return [
            (sample.name, dict(sample.labels), sample.value)
            for family in registry.collect()
            for sample in family.samples
            if sample.name.startswith(prefix)
        ]

    def exposition(self) -> bytes:
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            return generate_latest(registry)
        return generate_latest(self._own)
