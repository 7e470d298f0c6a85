"""A listener's data, found from their address and user agent: conversions recorded
under their hash, and deletion on request.

A listener id is a hash under one UTC day's salt (streamer/analytics/privacy.py), and a
day's salt is deleted a day after the day ends. So an address and a user agent lead to
the events of the days whose salts are still kept (today and yesterday); older events
can no longer be linked to anyone, which is the point. Rollups hold no per-listener data
at all (sums, and sketches of hashes that cannot be read back), so nothing there to
delete; a listener's past contributions to those sums stay, as anonymous counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from streamer.analytics.listeners import forget_listener as forget_events
from streamer.analytics.privacy import address_key, listener_id
from streamer.analytics.repository import salt_for
from streamer.db import AnalyticsSalt, Conversion, Database

__all__ = ["Forgotten", "forget_listener", "listener_now"]


@dataclass(frozen=True)
class Forgotten:
    events: int
    conversions: int
    days: list[str]  # the days whose events could still be linked to the listener


async def listener_now(db: Database, ip: str | None, user_agent: str, now: datetime) -> str:
    """The listener id of ``ip`` and ``user_agent`` today (the salt made if need be)."""
    day = now.date()
    async with db.session() as session, session.begin():
        salt = await session.run_sync(lambda s: salt_for(s.connection(), day))
    return listener_id(salt, address_key(ip)[0], user_agent)


async def forget_listener(db: Database, ip: str, user_agent: str) -> Forgotten:
    """Delete the raw events (streamer/analytics/listeners.py) and the conversions of
    ``ip`` + ``user_agent`` on every day whose salt is kept. Raises NotAnAddress."""
    events = await forget_events(db, ip, user_agent)
    key = address_key(ip.strip())[0]
    async with db.session() as session, session.begin():
        salts = (await session.execute(select(AnalyticsSalt.day, AnalyticsSalt.salt))).all()
        who = [listener_id(bytes(salt), key, user_agent) for _, salt in salts]
        gone = await session.execute(delete(Conversion).where(Conversion.listener.in_(who)))
    return Forgotten(events, int(gone.rowcount), sorted(day for day, _ in salts))  # type: ignore[attr-defined]
