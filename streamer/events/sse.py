"""The text/event-stream wire format (WHATWG HTML, "Server-sent events"), as pure functions.

A message is ``field: value`` lines ended by a blank line. ``id`` sets the client's
last event id (sent back as Last-Event-ID when it reconnects), ``event`` names the type a
listener subscribes to, ``data`` carries the payload (JSON on one line here: ``json.dumps``
escapes newlines), ``retry`` sets the reconnection delay in milliseconds, and a line
starting with ``:`` is a comment, which keeps proxies from timing an idle stream out.
A message with an id but no data moves the client's last event id without firing
anything: the stream says where a client stands that way.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["InvalidEventId", "comment", "message", "parse_event_id", "position"]

# Ids are the events table's, a signed 64-bit column.
_MAX_ID = 2**63 - 1


class InvalidEventId(ValueError):
    """A Last-Event-ID that is not one of ours (the client must start over)."""


def message(event_id: int, event_type: str, data: Any) -> bytes:
    """One event; ``data`` is encoded as compact JSON unless it is already a str."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    if "\n" in payload or "\r" in payload:
        raise ValueError("event data must be one line")
    return f"id: {event_id}\nevent: {event_type}\ndata: {payload}\n\n".encode()


def position(event_id: int, *, retry_ms: int | None = None) -> bytes:
    """Set the client's last event id (and its reconnection delay), firing nothing."""
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"{retry}id: {event_id}\n\n".encode()


def comment(text: str, *, event_id: int | None = None) -> bytes:
    """A comment (a heartbeat); with ``event_id``, also where the client stands."""
    if "\n" in text or "\r" in text:
        raise ValueError("a comment must be one line")
    line = f": {text}\n"
    return (line + (f"id: {event_id}\n" if event_id is not None else "") + "\n").encode()


def parse_event_id(value: str | None) -> int | None:
    """The event id of a Last-Event-ID header or query parameter: None when absent or
    empty (a new client); InvalidEventId when it is not an id this server gives."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        raise InvalidEventId(f"not an event id: {value[:40]!r}")
    number = int(value)
    if number > _MAX_ID:
        raise InvalidEventId(f"not an event id: {value[:40]!r}")
    return number
