"""Conversions (a pixel or a server-to-server postback) and deleting a listener's data."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete

from streamer.db import Conversion, Database

__all__ = ["forget_conversions", "record_conversion"]


async def record_conversion(
    db: Database,
    *,
    listener: str,
    campaign: str,
    source: str,
    via: str,
    at: datetime,
    value: float | None = None,
) -> int:
    row = Conversion(
        at=at, listener=listener, campaign=campaign, source=source, via=via, value=value
    )
    async with db.session() as session, session.begin():
        session.add(row)
    return row.id


async def forget_conversions(db: Database, listeners: Collection[str]) -> int:
    """Delete the conversions of these listener hashes; how many rows went."""
    if not listeners:
        return 0
    async with db.session() as session, session.begin():
        result = await session.execute(delete(Conversion).where(Conversion.listener.in_(listeners)))
    return int(result.rowcount)  # type: ignore[attr-defined]
