"""streamer.channels.repository on SQLite and PostgreSQL: a channel, its entries and plan
revisions written in one transaction each, revisions guarded, plans only appended (a
second node adding the same plan revision loses cleanly), everything gone with the
channel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.auth.audit import Actor
from streamer.channels import repository
from streamer.channels.repository import ChannelState, RevisionConflict
from streamer.db import Channel, ChannelEntry, Database, migrate

ACTOR = Actor("cli", None, "tests")
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'streamer.db'}"
        migrate(url)
        yield url
        return
    from tests.fixtures.postgres import fresh_database

    with fresh_database(request.getfixturevalue("postgres_server")) as url:
        migrate(url)
        yield url


def _plan_for(at: datetime) -> repository.PlanFor:
    async def plan_for(
        _session: AsyncSession, state: ChannelState
    ) -> tuple[dict[str, Any], datetime]:
        return {"entries": [e.id for e in state.entries], "name": state.channel.name}, at

    return plan_for


def test_channels_entries_and_plans(database_url: str) -> None:
    async def run() -> None:
        db = Database(database_url)
        try:
            channel = Channel(name="Radio", timezone="Europe/London", fill_mode="loop")
            state = await repository.create(db, ACTOR, channel, _plan_for(T0))
            channel_id = state.channel.id
            assert state.channel.revision == 1

            async def add(session: AsyncSession, _state: ChannelState) -> None:
                session.add(
                    ChannelEntry(
                        id="e1", channel_id=channel_id, playlist_id="p" * 16,
                        start="2026-12-07T14:00:00", duration_seconds=3600.0, exdates=[],
                        priority=0, order="sequential",
                    )
                )  # fmt: skip

            later = T0 + timedelta(minutes=5)
            changed = await repository.change(
                db, ACTOR, channel_id, "channel.entry.create", add, _plan_for(later),
                if_match={1},
            )  # fmt: skip
            assert changed.channel.revision == 2
            assert [e.id for e in changed.entries] == ["e1"]
            with pytest.raises(RevisionConflict):
                await repository.change(
                    db, ACTOR, channel_id, "channel.update", add, _plan_for(later), if_match={1}
                )

            async def fail(_session: AsyncSession, _state: ChannelState) -> None:
                raise ValueError("refused")

            with pytest.raises(ValueError, match="refused"):
                await repository.change(db, ACTOR, channel_id, "x", fail, _plan_for(later))
            plans = await repository.plans(db, channel_id)
            assert [(p.revision, p.effective_from, p.plan["entries"]) for p in plans] == [
                (1, T0, []),
                (2, later, ["e1"]),
            ]
            # Two nodes appending the same revision: one wins, the other is told so.
            assert await repository.append_plan(db, channel_id, {"entries": []}, later, 2)
            assert not await repository.append_plan(db, channel_id, {"entries": []}, later, 2)
            assert len(await repository.plans(db, channel_id)) == 3

            rows, total = await repository.list_channels(db, limit=10, offset=0)
            assert total == 1
            assert rows[0].id == channel_id
            with pytest.raises(RevisionConflict):
                await repository.delete_channel(db, ACTOR, channel_id, if_match={1})
            await repository.delete_channel(db, ACTOR, channel_id, if_match={2})
            assert await repository.get(db, channel_id) is None
            assert await repository.plans(db, channel_id) == []
            with pytest.raises(LookupError):
                await repository.delete_channel(db, ACTOR, channel_id)
        finally:
            await db.dispose()

    asyncio.run(run())
