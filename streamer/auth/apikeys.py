"""API keys: ``stk_<prefix>_<secret>``, shown once at creation; the database keeps the
SHA-256 of the whole key, a short prefix to recognise it in lists, its role, optional
library scope, expiry, last use and revocation. A key works only while the user who made
it (``created_by``; none for keys made by the CLI) is not disabled."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update

from streamer.auth.access import Access, Role
from streamer.auth.secrets import hash_token, new_id
from streamer.db import ApiKey, Database, User
from streamer.db.models import utcnow

__all__ = ["KEY_PREFIX", "find_key", "mint_key", "new_key_row"]

KEY_PREFIX = "stk_"
# last_used_at is written at most this often per key.
_TOUCH_EVERY = timedelta(seconds=60)


def mint_key() -> tuple[str, str]:
    """A new key and its display prefix."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", f"{KEY_PREFIX}{prefix}"


def new_key_row(
    name: str,
    role: Role,
    *,
    libraries: Mapping[str, Access] | None = None,
    expires_at: datetime | None = None,
    created_by: str | None = None,
) -> tuple[str, ApiKey]:
    """The secret (to show once) and the row to store."""
    key, prefix = mint_key()
    row = ApiKey(
        id=new_id(),
        name=name,
        prefix=prefix,
        key_hash=hash_token(key),
        role=role,
        libraries=dict(libraries) if libraries is not None else None,
        created_by=created_by,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    return key, row


async def find_key(db: Database, key: str) -> ApiKey | None:
    """The live key row for ``key``: None when unknown, revoked or expired."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    now = utcnow()
    async with db.session() as session:
        # A key stops working while the user who made it is disabled.
        found = (
            await session.execute(
                select(ApiKey, User.disabled)
                .outerjoin(User, User.id == ApiKey.created_by)
                .where(ApiKey.key_hash == hash_token(key))
            )
        ).one_or_none()
        if found is None:
            return None
        row, maker_disabled = found
        if row.revoked_at is not None or maker_disabled:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
            await session.execute(
                update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now)
            )
            await session.commit()
            row.last_used_at = now
        return row
