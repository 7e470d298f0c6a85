"""Cookie sessions: created at login (a new token each time, so a session id planted
before login is worthless), idle and absolute expiry, and "log out everywhere".

The cookie carries a random token; the database keeps its SHA-256, the user, a CSRF
token for writes, and whether the second factor is still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from streamer.auth.secrets import hash_token, new_token
from streamer.db import Database, User, UserSession
from streamer.db.models import utcnow

__all__ = [
    "SESSION_COOKIE",
    "SessionPolicy",
    "end_all",
    "end_session",
    "find_session",
    "start_session",
]

SESSION_COOKIE = "streamer_session"
# last_seen_at is written at most this often, so reads do not all become writes.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta


async def start_session(
    db: Database,
    user: User,
    policy: SessionPolicy,
    *,
    second_factor_pending: bool,
    ip: str | None,
    user_agent: str | None,
    replaces: str | None = None,
) -> tuple[str, UserSession]:
    """A new session for ``user``; returns the cookie token and the row. The session
    the request came with (``replaces``, a token) ends: ids rotate at every login step."""
    token = new_token()
    now = utcnow()
    row = UserSession(
        id=hash_token(token),
        user_id=user.id,
        csrf_token=new_token(24),
        second_factor_pending=second_factor_pending,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    async with db.session() as session, session.begin():
        if replaces:
            await session.execute(delete(UserSession).where(UserSession.id == hash_token(replaces)))
        session.add(row)
    return token, row


async def find_session(
    db: Database, token: str, policy: SessionPolicy, *, touch: bool = True
) -> tuple[UserSession, User] | None:
    """The live session of ``token`` and its user, or None when it is unknown, idle too
    long, past its absolute expiry, older than the user's "log out everywhere", or the
    user is disabled. Expired rows are deleted as they are found. ``touch`` records the
    use (at most every few minutes), which keeps the session from going idle."""
    sid = hash_token(token)
    now = utcnow()
    async with db.session() as session:
        found = (
            await session.execute(
                select(UserSession, User)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.id == sid)
            )
        ).one_or_none()
        if found is None:
            return None
        row, user = found
        dead = (
            now >= row.expires_at
            or now - row.last_seen_at >= policy.idle
            or row.created_at < user.sessions_valid_after
            or user.disabled
        )
        if dead:
            await session.execute(delete(UserSession).where(UserSession.id == sid))
            await session.commit()
            return None
        if touch and now - row.last_seen_at >= _TOUCH_EVERY:
            await session.execute(
                update(UserSession).where(UserSession.id == sid).values(last_seen_at=now)
            )
            await session.commit()
            row.last_seen_at = now
        return row, user


async def end_session(db: Database, session_id: str) -> None:
    async with db.session() as session, session.begin():
        await session.execute(delete(UserSession).where(UserSession.id == session_id))


async def end_all(db: Database, user_id: str, *, at: datetime | None = None) -> None:
    """Void every session of the user, this one included."""
    async with db.session() as session, session.begin():
        await session.execute(
            update(User).where(User.id == user_id).values(sessions_valid_after=at or utcnow())
        )
        await session.execute(delete(UserSession).where(UserSession.user_id == user_id))
