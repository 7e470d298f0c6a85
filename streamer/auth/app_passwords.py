"""App passwords: the credentials of the Subsonic API's legacy forms.

A Subsonic player sends ``u`` and either ``p`` (the password, plain or ``enc:``-hex) or
``t`` and ``s`` (md5 of the password and a salt). The token form needs the server to hold
the password itself, which an account's password must never be (it is an Argon2 hash).
So a user makes one random app password per player: made by the server (no reuse of a
password from elsewhere), good for /rest only, revocable alone, and kept as the server
must keep it to check a token. Only OpenSubsonic's apiKey form needs none of this."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from streamer.auth.audit import Actor, record
from streamer.auth.secrets import new_id, same
from streamer.db import AppPassword, Database, User
from streamer.db.models import utcnow

__all__ = [
    "Checked",
    "app_password_view",
    "check_app_password",
    "create_app_password",
    "list_app_passwords",
    "revoke_app_password",
]

_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: typed on phones
_LENGTH = 24  # about 119 bits
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Checked:
    user: User
    password: AppPassword


def app_password_view(row: AppPassword) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    }


def _new_secret() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


async def create_app_password(
    db: Database, user_id: str, name: str, actor: Actor
) -> tuple[str, AppPassword]:
    """A new app password of ``user_id``; the secret is shown now and in no list."""
    if not name.strip() or len(name) > 100:
        raise ValueError("an app password's name is 1-100 characters")
    secret = _new_secret()
    row = AppPassword(
        id=new_id(), user_id=user_id, name=name.strip(), secret=secret, created_at=utcnow()
    )
    async with db.session() as session, session.begin():
        session.add(row)
        await session.flush()
        view = app_password_view(row)
        record(session, actor, "app_password.create", "app_password", row.id, after=view)
    return secret, row


async def list_app_passwords(db: Database, user_id: str) -> list[AppPassword]:
    async with db.session() as session:
        query = (
            select(AppPassword)
            .where(AppPassword.user_id == user_id)
            .order_by(AppPassword.created_at, AppPassword.id)
        )
        return list(await session.scalars(query))


async def revoke_app_password(db: Database, user_id: str, password_id: str, actor: Actor) -> bool:
    """Revoke one of ``user_id``'s app passwords; False if there is none by that id."""
    async with db.session() as session, session.begin():
        row = await session.get(AppPassword, password_id)
        if row is None or row.user_id != user_id:
            return False
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            record(session, actor, "app_password.revoke", "app_password", row.id)
        return True


def _matches(secret: str, password: str | None, token: str | None, salt: str | None) -> bool:
    if password is not None:
        return same(secret, password)
    if token is not None and salt is not None:
        expected = hashlib.md5((secret + salt).encode(), usedforsecurity=False).hexdigest()
        return same(expected, token.lower())
    return False


async def check_app_password(
    db: Database,
    name: str,
    *,
    password: str | None = None,
    token: str | None = None,
    salt: str | None = None,
) -> Checked | None:
    """The enabled user ``name`` and the live app password that ``password`` (or
    ``token`` with ``salt``) is, or None."""
    if len(name) > 100:
        return None
    async with db.session() as session:
        user = await session.scalar(select(User).where(User.name == name))
        if user is None or user.disabled:
            return None
        rows = await session.scalars(
            select(AppPassword).where(
                AppPassword.user_id == user.id, AppPassword.revoked_at.is_(None)
            )
        )
        # Every row is compared (no early exit), so timing does not tell how many match.
        found = [row for row in rows if _matches(row.secret, password, token, salt)]
        if not found:
            return None
        row = found[0]
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
            await session.execute(
                update(AppPassword).where(AppPassword.id == row.id).values(last_used_at=now)
            )
            await session.commit()
        return Checked(user, row)
