"""Deleting one listener's delivery events on request (privacy; issue 17).

A listener is an address and a user agent. What can still be linked to them: the events
of the days whose salts are kept (today and yesterday: their listener hash can be made
again from the address) and any event still holding the raw address (the last 24 hours).
Older events carry only a hash whose salt is gone: nobody can tell whose they are any
more, so there is nothing of this person left to find. This is the service function an
API endpoint (``DELETE /api/v1/analytics/listeners``) calls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select

from streamer.analytics.privacy import address_key, listener_id
from streamer.analytics.repository import ADDRESS_HOURS, day_bounds
from streamer.analytics.rows import USER_AGENT_MAX
from streamer.db import AnalyticsSalt, Database, DeliveryEventRow

__all__ = ["NotAnAddress", "forget_listener"]


class NotAnAddress(ValueError):
    """The address given is not an IPv4 or IPv6 address."""


async def forget_listener(db: Database, ip: str, user_agent: str) -> int:
    """Delete the events of the listener at ``ip`` with ``user_agent`` that can still be
    linked to them (module docstring); returns how many were deleted. An IPv6 address
    stands for its /64, as in counting. Raises NotAnAddress for anything but an IP."""
    key, address = address_key(ip.strip())
    if address is None:
        raise NotAnAddress(f"not an IP address: {ip!r}")
    agent = user_agent[:USER_AGENT_MAX]
    events = DeliveryEventRow
    # Every delete is bounded in time (the index on ``at``), never a scan of the table.
    # Raw addresses live ADDRESS_HOURS, cleared hourly: two more days is ample.
    recent = datetime.now(UTC) - timedelta(hours=ADDRESS_HOURS + 48)
    deleted = 0
    async with db.engine.begin() as conn:
        salts = (await conn.execute(select(AnalyticsSalt.day, AnalyticsSalt.salt))).all()
        for day, salt in salts:
            start, end = day_bounds(date.fromisoformat(day))
            hashed = listener_id(bytes(salt), key, agent)
            result = await conn.execute(
                delete(events).where(
                    events.at >= start,
                    events.at < end,
                    events.listener == hashed,
                    events.user_agent == agent,
                )
            )
            deleted += max(result.rowcount, 0)
        result = await conn.execute(
            delete(events).where(
                events.at >= recent, events.ip == address, events.user_agent == agent
            )
        )
        deleted += max(result.rowcount, 0)
    return deleted
