"""Live ``channel`` events: one per track change of every channel, from whichever node
sees it first.

Every API worker runs one small task. It sleeps until the next track change of any
channel (at most ``max_sleep`` seconds, so new channels and edits are picked up), then
for each channel due whose current play started since its last look it inserts a
``channel_played`` row keyed by (channel, start): the insert is the claim, so among all
workers and nodes exactly one publishes the event and the others skip it. A play that
started more than ``late`` seconds ago (a node starting up, a long stall) is not
announced. Rows older than ``keep_days`` are pruned. The timeline is deterministic, so
every node agrees on what started when.

Bounded: one query for the channel list per ``max_sleep``, a one-second timeline window
per channel and track change (or ``max_sleep``), one insert per track change per worker.

Every ``refresh_every`` seconds (a minute) it also reads each channel's playlists again and
gives the channel a new plan when their tracks changed (ChannelService.refresh): so a
playlist edit, or a smart playlist's new result, reaches its channels within a minute and
the settle time, at a segment boundary.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from streamer.background import stop_task
from streamer.channels.service import ChannelService, PlayInfo
from streamer.db import Channel, ChannelPlayed
from streamer.errors import StreamerError
from streamer.events.publish import EventPublisher, channel_event

__all__ = ["Announcer", "event_data"]

logger = logging.getLogger("streamer.channels")


def event_data(channel_id: str, play: PlayInfo) -> dict[str, object]:
    return {
        "channel_id": channel_id,
        "track_id": play.track_id,
        "title": play.title,
        "artist": play.artist,
        "started_at": _iso(play.start),
        "ends_at": _iso(play.end),
        "entry_id": play.entry_id,
        "playlist_id": play.playlist_id,
        "reason": play.reason,
    }


def _iso(instant: datetime) -> str:
    # As the API writes UTC instants (pydantic): "Z", not "+00:00".
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Announcer:
    """The per-worker task (see the module docstring)."""

    def __init__(
        self,
        channels: ChannelService,
        publisher: EventPublisher,
        *,
        max_sleep: float = 15.0,
        late: float = 30.0,
        keep_days: float = 7.0,
        refresh_every: float = 60.0,
    ) -> None:
        self.channels = channels
        self.publisher = publisher
        self.max_sleep = max_sleep
        self.late = timedelta(seconds=late)
        self.keep = timedelta(days=keep_days)
        self.refresh_every = timedelta(seconds=refresh_every)
        self.refreshed = 0  # plan revisions this worker wrote for changed pools (tests)
        self._refresh_due: datetime | None = None
        self.announced = 0  # events this worker published (tests, metrics)
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, datetime] = {}  # channel -> start of the play last seen
        self._due: dict[str, datetime] = {}  # channel -> when to look at it again
        self._listed: datetime | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="channel-announcer")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        rounds = 0
        while True:
            try:
                pause = await self.round()
                rounds += 1
                if rounds % 200 == 0:
                    await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database outage: try again later, never stop
                logger.warning("channel announcements failed; retrying", exc_info=True)
                pause = self.max_sleep
            await asyncio.sleep(pause)

    async def round(self) -> float:
        """Announce what started on the channels due; the seconds until the next is due.
        Every ``max_sleep`` seconds all channels are looked at again (new ones, edits)."""
        now = self.channels.clock()
        every = timedelta(seconds=self.max_sleep)
        if self._listed is None or not self._listed <= now < self._listed + every:
            async with asyncio.timeout(10.0), self.channels.db.session() as session:
                query = select(Channel.id).order_by(Channel.id).limit(10_000)
                ids = set(await session.scalars(query))
            self._due = dict.fromkeys(ids, now)
            self._seen = {k: v for k, v in self._seen.items() if k in ids}
            self._listed = now
        refresh = self._refresh_due
        if refresh is None or now >= refresh or now < refresh - self.refresh_every:  # (or set back)
            self._refresh_due = now + self.refresh_every
            await self._refresh(sorted(self._due))
        for channel_id in [c for c, due in self._due.items() if due <= now]:
            self._due[channel_id] = await self._look(channel_id, now)
        due = min(self._due.values(), default=now + timedelta(seconds=self.max_sleep))
        until = min(due, self._listed + timedelta(seconds=self.max_sleep))
        return max(0.05, (until - now).total_seconds() + 0.05)

    async def _refresh(self, channel_ids: list[str]) -> None:
        """Give channels whose playlists' tracks changed a new plan (ChannelService.refresh).
        One channel failing does not keep the others from theirs."""
        for channel_id in channel_ids:
            try:
                async with asyncio.timeout(30.0):
                    self.refreshed += await self.channels.refresh(channel_id)
            except (TimeoutError, SQLAlchemyError, StreamerError):
                logger.warning("could not refresh channel %s's plan", channel_id, exc_info=True)

    async def _look(self, channel_id: str, now: datetime) -> datetime:
        """Announce the channel's play if it is new; when to look again."""
        live = await self.channels.live(channel_id)
        if live is None:
            return now + timedelta(seconds=self.max_sleep)
        plays = await asyncio.to_thread(live.plays, now, now + timedelta(seconds=1))
        current = next((p for p in plays if p.start <= now < p.end), None)
        if current is None:
            return now + timedelta(seconds=self.max_sleep)
        if self._seen.get(channel_id) != current.start and now - current.start <= self.late:
            (described,) = await self.channels.describe(live, [current])
            await self._claim(channel_id, described)
        self._seen[channel_id] = current.start
        return current.end

    async def _claim(self, channel_id: str, play: PlayInfo) -> None:
        row = {
            "channel_id": channel_id,
            "started_at": play.start,
            "track_id": play.track_id,
            "entry_id": play.entry_id,
            "playlist_id": play.playlist_id,
        }
        dialect = sqlite if self.channels.db.is_sqlite else postgresql
        statement = dialect.insert(ChannelPlayed).values(**row).on_conflict_do_nothing()
        async with (
            asyncio.timeout(10.0),
            self.channels.db.session() as session,
            session.begin(),
        ):
            done = await session.execute(statement)
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return  # another worker or node announced it
        self.announced += 1
        await self.publisher.publish(channel_event(play.library_id, event_data(channel_id, play)))

    async def _prune(self) -> None:
        cutoff = self.channels.clock() - self.keep
        async with (
            asyncio.timeout(10.0),
            self.channels.db.session() as session,
            session.begin(),
        ):
            await session.execute(delete(ChannelPlayed).where(ChannelPlayed.started_at < cutoff))
