"""Users and API keys as the CLI and the API create them, each with its audit entry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from streamer.auth.access import Access, Role
from streamer.auth.apikeys import new_key_row
from streamer.auth.audit import Actor, record
from streamer.auth.secrets import hash_password, new_id
from streamer.db import ApiKey, Database, LibraryGrant, User, UserSession
from streamer.db.models import utcnow

__all__ = [
    "MIN_PASSWORD",
    "NAME_PATTERN",
    "UserExists",
    "check_new_password",
    "create_key",
    "create_user",
    "key_view",
    "set_disabled",
    "set_password",
    "user_view",
]

MIN_PASSWORD = 10
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)


class UserExists(Exception):
    pass


def check_new_password(password: str) -> None:
    """Raise ValueError with the reason a password is refused."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise ValueError("a password may have at most 1024 characters")


def user_view(user: User) -> dict[str, Any]:
    """What the audit log keeps of a user: never secrets."""
    return {
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "totp": user.totp_secret is not None,
    }


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "libraries": key.libraries,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


async def create_user(
    db: Database,
    name: str,
    password: str,
    role: Role,
    actor: Actor,
    *,
    grants: Mapping[str, Access] | None = None,
) -> User:
    if not _NAME.match(name):
        raise ValueError("a user name is 1-100 letters, digits and . _ @ -")
    check_new_password(password)
    user = User(
        id=new_id(),
        name=name,
        password_hash=await hash_password(password),
        role=role,
        disabled=False,
        recovery_codes=[],
        sessions_valid_after=utcnow(),
    )
    try:
        async with db.session() as session, session.begin():
            taken = await session.scalar(select(User.id).where(User.name == name))
            if taken is not None:
                raise UserExists(f"a user named {name!r} exists already")
            session.add(user)
            await session.flush()
            for library_id, access in (grants or {}).items():
                session.add(LibraryGrant(user_id=user.id, library_id=library_id, access=access))
            after = {**user_view(user), "libraries": dict(grants or {})}
            record(session, actor, "user.create", "user", user.id, after=after)
    except IntegrityError:  # created at the same moment by another request
        raise UserExists(f"a user named {name!r} exists already") from None
    return user


async def create_key(
    db: Database,
    name: str,
    role: Role,
    actor: Actor,
    *,
    libraries: Mapping[str, Access] | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiKey]:
    """A new API key; the secret is returned here and never again."""
    if not name.strip() or len(name) > 100:
        raise ValueError("a key's name is 1-100 characters")
    secret, row = new_key_row(
        name.strip(), role, libraries=libraries, expires_at=expires_at, created_by=actor.id
    )
    async with db.session() as session, session.begin():
        session.add(row)
        await session.flush()
        record(session, actor, "apikey.create", "apikey", row.id, after=key_view(row))
    return secret, row


async def set_password(db: Database, name: str, password: str, actor: Actor) -> bool:
    """Give the user named ``name`` a new password and end their sessions (as the API's
    PATCH /users/{id} does); False when there is no such user."""
    check_new_password(password)
    new_hash = await hash_password(password)
    return await _change(db, name, actor, password_hash=new_hash)


async def set_disabled(db: Database, name: str, disabled: bool, actor: Actor) -> bool:
    """Disable (refuse sign-ins, end sessions; the API keys the user made stop working,
    see streamer.auth.apikeys) or enable the user named ``name``; False when there is no
    such user."""
    return await _change(db, name, actor, disabled=disabled)


async def _change(db: Database, name: str, actor: Actor, **values: Any) -> bool:
    async with db.session() as session, session.begin():
        user = await session.scalar(select(User).where(User.name == name).with_for_update())
        if user is None:
            return False
        before = user_view(user)
        for field, value in values.items():
            setattr(user, field, value)
        after = user_view(user)
        if "password_hash" in values:
            after["password_changed"] = True
        ends_sessions = "password_hash" in values or values.get("disabled") is True
        if ends_sessions:
            user.sessions_valid_after = utcnow()
            await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
        record(session, actor, "user.update", "user", user.id, before=before, after=after)
    return True
