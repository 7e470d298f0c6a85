"""The audit log: every mutation records who, what, the target, its state before and
after, the request id, the IP and the time, in the same transaction as the change, so a
change without its entry (or an entry without its change) cannot happen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from streamer.auth.access import Principal
from streamer.db import AuditEntry, Database
from streamer.logs import request_id_var

__all__ = ["Actor", "actor_of", "record", "write"]


@dataclass(frozen=True)
class Actor:
    """Who made a change: a principal of the API, the CLI or the system itself."""

    type: str  # user | apikey | cli | system
    id: str | None
    name: str | None
    ip: str | None = None


def actor_of(principal: Principal, ip: str | None) -> Actor:
    return Actor(principal.kind, principal.id, principal.name, ip)


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add the entry to ``session``; it commits with the change it describes."""
    entry = AuditEntry(
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=_jsonable(before),
        after=_jsonable(after),
        request_id=request_id_var.get(),
        ip=actor.ip,
    )
    session.add(entry)
    return entry


def _jsonable(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {key: _plain(item) for key, item in value.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)  # datetimes and the like


async def write(
    db: Database,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record in a transaction of its own, for changes made by functions that own
    theirs (job transitions): written once the change has succeeded."""
    async with db.session() as session, session.begin():
        record(session, actor, action, target_type, target_id, before=before, after=after)
