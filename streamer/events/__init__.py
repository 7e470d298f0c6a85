"""Live events: what publishers write (``publish``), how each worker reads and fans them
out (``hub``), and the server-sent event stream of GET /api/v1/events (``stream``, ``sse``).
docs/api.md ("Live events") is the contract."""

from __future__ import annotations

from streamer.events.hub import EventHub
from streamer.events.publish import (
    EventPublisher,
    Outgoing,
    job_event,
    playlist_event,
    scan_event,
    track_event,
    upload_event,
)

__all__ = [
    "EventHub",
    "EventPublisher",
    "Outgoing",
    "job_event",
    "playlist_event",
    "scan_event",
    "track_event",
    "upload_event",
]
