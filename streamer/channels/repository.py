"""Channels in the database: their rows, schedule entries and plan revisions.

Every change (of the channel or of one entry) runs in one transaction that checks the
revision the caller saw (the UPDATE matches the old revision or nothing), applies the
change, appends a plan revision (what the channel plays from ``effective_from`` on) and
one audit entry. Plan rows are only ever added, so the timeline up to an edit's
``effective_from`` is computed from the same plan on every node, now and later.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.auth.audit import Actor, record
from streamer.db import Channel, ChannelCheckpoint, ChannelEntry, ChannelPlan, Database
from streamer.db.models import utcnow
from streamer.errors import RevisionConflict

__all__ = [
    "MAX_ENTRIES",
    "ChannelState",
    "PlanFor",
    "RevisionConflict",
    "add_checkpoint",
    "append_plan",
    "change",
    "checkpoints",
    "create",
    "delete_channel",
    "get",
    "has_plan",
    "list_channels",
    "newest_plan",
    "plans",
]

MAX_ENTRIES = 500  # schedule entries per channel (recurrence makes a week of 500 slots)


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A channel row and its entries (ordered by start, then id)."""

    channel: Channel
    entries: tuple[ChannelEntry, ...]

    def audit_view(self) -> dict[str, Any]:
        c = self.channel
        return {
            "name": c.name,
            "timezone": c.timezone,
            "fill": {"mode": c.fill_mode, "playlist_id": c.fill_playlist_id},
            "rules": {"track_minutes": c.track_minutes, "artist_minutes": c.artist_minutes},
            "loudness_target": c.loudness_target,
            "revision": c.revision,
            "entries": [entry_view(e) for e in self.entries],
        }


def entry_view(entry: ChannelEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "playlist_id": entry.playlist_id,
        "start": entry.start,
        "duration_seconds": entry.duration_seconds,
        "rrule": entry.rrule,
        "exdates": list(entry.exdates),
        "priority": entry.priority,
        "order": entry.order,
    }


# Builds the plan document of a channel as it stands in the session (reading the
# playlists' tracks through it) and says from when it applies.
PlanFor = Callable[[AsyncSession, ChannelState], Awaitable[tuple[dict[str, Any], datetime]]]
# Applies one change to the channel or its entries inside the transaction.
Mutate = Callable[[AsyncSession, ChannelState], Awaitable[None]]


def new_id() -> str:
    return secrets.token_hex(8)


async def get(db: Database, channel_id: str) -> ChannelState | None:
    async with db.session() as session:
        channel = await session.get(Channel, channel_id)
        if channel is None:
            return None
        return await _state(session, channel)


async def list_channels(db: Database, *, limit: int, offset: int) -> tuple[list[Channel], int]:
    """Channels by name (then id), and their total."""
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(Channel))
        rows = await session.scalars(
            select(Channel).order_by(Channel.name, Channel.id).limit(limit).offset(offset)
        )
        return list(rows), int(total or 0)


async def plans(db: Database, channel_id: str) -> list[ChannelPlan]:
    """The channel's plan revisions, oldest first (none for an unknown channel)."""
    async with db.session() as session:
        rows = await session.scalars(
            select(ChannelPlan)
            .where(ChannelPlan.channel_id == channel_id)
            .order_by(ChannelPlan.revision)
        )
        return list(rows)


async def newest_plan(db: Database, channel_id: str) -> ChannelPlan | None:
    """The channel's newest plan revision (None for an unknown channel)."""
    async with db.session() as session:
        return await session.scalar(
            select(ChannelPlan)
            .where(ChannelPlan.channel_id == channel_id)
            .order_by(ChannelPlan.revision.desc())
            .limit(1)
        )


async def create(db: Database, actor: Actor, channel: Channel, plan_for: PlanFor) -> ChannelState:
    """Insert ``channel`` (id, revision and seed given here) with its first plan."""
    channel.id = new_id()
    channel.seed = secrets.token_hex(8)
    channel.revision = 1
    channel.created_by = actor.name
    async with db.session() as session, session.begin():
        session.add(channel)
        await session.flush()
        state = ChannelState(channel, ())
        plan, effective_from = await plan_for(session, state)
        session.add(
            ChannelPlan(channel_id=channel.id, revision=1, effective_from=effective_from, plan=plan)
        )
        record(session, actor, "channel.create", "channel", channel.id, after=state.audit_view())
    return state


async def change(
    db: Database,
    actor: Actor,
    channel_id: str,
    action: str,
    mutate: Mutate,
    plan_for: PlanFor,
    *,
    if_match: Collection[int] | None = None,
) -> ChannelState:
    """Apply ``mutate`` as a new revision with a new plan. Raises LookupError (no such
    channel), RevisionConflict, and whatever ``mutate`` raises (nothing is written)."""
    async with db.session() as session, session.begin():
        channel = await session.scalar(
            select(Channel).where(Channel.id == channel_id).with_for_update()
        )
        if channel is None:
            raise LookupError(channel_id)
        if if_match is not None and channel.revision not in if_match:
            raise RevisionConflict("the channel changed since you read it", channel.revision)
        before = await _state(session, channel)
        before_view = before.audit_view()
        old_revision = channel.revision
        await mutate(session, before)
        await session.flush()
        done = await session.execute(
            update(Channel)
            .where(Channel.id == channel_id, Channel.revision == old_revision)
            .values(revision=old_revision + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise RevisionConflict("the channel changed since you read it", old_revision)
        await session.refresh(channel)
        state = await _state(session, channel)
        plan, effective_from = await plan_for(session, state)
        await _add_plan(session, channel_id, plan, effective_from)
        record(
            session, actor, action, "channel", channel_id,
            before=before_view, after=state.audit_view(),
        )  # fmt: skip
    return state


async def append_plan(
    db: Database, channel_id: str, plan: dict[str, Any], effective_from: datetime, after: int
) -> bool:
    """Add a plan revision after revision ``after`` (a pool's tracks changed); False when
    another node added one first (the caller reloads and finds it)."""
    try:
        async with db.session() as session, session.begin():
            session.add(
                ChannelPlan(
                    channel_id=channel_id,
                    revision=after + 1,
                    effective_from=effective_from,
                    plan=plan,
                )
            )
    except IntegrityError:
        return False
    return True


async def has_plan(session: AsyncSession, channel_id: str) -> bool:
    """Whether the channel has a plan revision yet, read in the caller's transaction."""
    found = await session.scalar(
        select(ChannelPlan.revision).where(ChannelPlan.channel_id == channel_id).limit(1)
    )
    return found is not None


async def checkpoints(db: Database, channel_id: str, limit: int = 48) -> list[ChannelCheckpoint]:
    """The channel's newest sequence checkpoints, oldest first."""
    async with db.session() as session:
        rows = await session.scalars(
            select(ChannelCheckpoint)
            .where(ChannelCheckpoint.channel_id == channel_id)
            .order_by(ChannelCheckpoint.at.desc())
            .limit(limit)
        )
        return sorted(rows, key=lambda row: row.at)


async def add_checkpoint(
    db: Database, channel_id: str, at: datetime, media_sequence: int, discontinuity_sequence: int
) -> None:
    """Insert a checkpoint unless one is there at ``at`` (every node computes the same)."""
    dialect = sqlite if db.is_sqlite else postgresql
    statement = (
        dialect.insert(ChannelCheckpoint)
        .values(
            channel_id=channel_id,
            at=at,
            media_sequence=media_sequence,
            discontinuity_sequence=discontinuity_sequence,
        )
        .on_conflict_do_nothing()
    )
    async with db.session() as session, session.begin():
        await session.execute(statement)


async def delete_channel(
    db: Database, actor: Actor, channel_id: str, *, if_match: Collection[int] | None = None
) -> None:
    """Delete the channel, its entries and plans; audited as ``channel.delete``."""
    async with db.session() as session, session.begin():
        channel = await session.scalar(
            select(Channel).where(Channel.id == channel_id).with_for_update()
        )
        if channel is None:
            raise LookupError(channel_id)
        if if_match is not None and channel.revision not in if_match:
            raise RevisionConflict("the channel changed since you read it", channel.revision)
        before = (await _state(session, channel)).audit_view()
        await session.delete(channel)
        record(session, actor, "channel.delete", "channel", channel_id, before=before)


async def _add_plan(
    session: AsyncSession, channel_id: str, plan: dict[str, Any], effective_from: datetime
) -> None:
    newest = await session.scalar(
        select(func.max(ChannelPlan.revision)).where(ChannelPlan.channel_id == channel_id)
    )
    session.add(
        ChannelPlan(
            channel_id=channel_id,
            revision=int(newest or 0) + 1,
            effective_from=effective_from,
            plan=plan,
        )
    )


async def _state(session: AsyncSession, channel: Channel) -> ChannelState:
    entries: Sequence[ChannelEntry] = list(
        await session.scalars(
            select(ChannelEntry)
            .where(ChannelEntry.channel_id == channel.id)
            .order_by(ChannelEntry.start, ChannelEntry.id)
        )
    )
    return ChannelState(channel, tuple(entries))
