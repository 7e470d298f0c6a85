"""The pure delivery record that counting reads (contract D of issue 17).

One ``DeliveryEvent`` is one row of ``delivery_events`` as the counting rules need it: no
raw address (only the pseudonymous ``listener``), no node, no row id. The repository turns
rows into these; tests build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streamer.types import DeliveryKind

__all__ = ["DeliveryEvent"]


@dataclass(slots=True, frozen=True)
class DeliveryEvent:
    """One media or HLS answer as delivered to one listener.

    ``at`` is timezone-aware UTC. ``listener`` is the day's salted hash of the client
    address (IPv6 truncated to /64, IPv4 whole) and the user agent: the same person with
    the same app on one day gives the same value, and nothing else can be read from it.
    ``range_start``/``range_end`` are inclusive byte offsets into the representation the
    request asked for (None: the whole body); ``sent`` is the number of body bytes actually
    written (less than the range when the client left early; 0 for HEAD).
    ``segment`` is the HLS segment number (-1 for an init segment, None otherwise),
    ``total_bytes`` and ``duration`` describe the whole representation when known.
    """

    at: datetime
    listener: str
    user_agent: str
    kind: DeliveryKind
    subject_id: str
    rendition: str
    segment: int | None
    range_start: int | None
    range_end: int | None
    total_bytes: int | None
    duration: float | None
    status: int
    sent: int
    country: str | None
    referrer: str | None
