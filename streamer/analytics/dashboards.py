"""Custom dashboards: each user's own, a name and a list of views (rows and queries)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from streamer.db import Dashboard, Database

__all__ = ["create", "delete", "get", "list_for", "replace"]


async def list_for(db: Database, owner_id: str) -> list[Dashboard]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Dashboard).where(Dashboard.owner_id == owner_id).order_by(Dashboard.name)
        )
        return list(rows)


async def get(db: Database, owner_id: str, dashboard_id: str) -> Dashboard | None:
    """The dashboard, if it is ``owner_id``'s (another user's answers None)."""
    async with db.session() as session:
        row = await session.get(Dashboard, dashboard_id)
    return row if row is not None and row.owner_id == owner_id else None


async def create(
    db: Database, owner_id: str, owner_name: str, name: str, views: list[dict[str, Any]]
) -> Dashboard:
    row = Dashboard(
        id=secrets.token_hex(8), owner_id=owner_id, owner_name=owner_name, name=name, views=views
    )
    async with db.session() as session, session.begin():
        session.add(row)
    return row


async def replace(
    db: Database, owner_id: str, dashboard_id: str, name: str, views: list[dict[str, Any]]
) -> Dashboard | None:
    async with db.session() as session, session.begin():
        row = await session.get(Dashboard, dashboard_id, with_for_update=True)
        if row is None or row.owner_id != owner_id:
            return None
        row.name, row.views = name, views
    return row


async def delete(db: Database, owner_id: str, dashboard_id: str) -> bool:
    async with db.session() as session, session.begin():
        row = await session.get(Dashboard, dashboard_id)
        if row is None or row.owner_id != owner_id:
            return False
        await session.delete(row)
    return True
