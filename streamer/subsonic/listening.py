"""What Subsonic players record for their listener: stars, scrobbled plays and what each
player is playing now. Rows only (streamer.db's Subsonic tables); a listener is an
``owner``: a user's id, or ``key:`` and the id of an API key made for no user."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from streamer.db import Database, SubsonicNowPlaying, SubsonicPlay, SubsonicStar
from streamer.db.models import utcnow

__all__ = ["NOW_PLAYING_FOR", "Listening", "Marks", "NowPlaying"]

# A player that said it plays a song is shown as playing it for this long (players say
# so again at each song; one that stopped without saying drops out after it).
NOW_PLAYING_FOR = timedelta(minutes=30)


@dataclass(frozen=True)
class Marks:
    """A listener's marks on the items of one answer: when each id was starred (song,
    album and artist ids never collide), and each song's play count and last play."""

    starred: dict[str, datetime] = field(default_factory=dict)
    plays: dict[str, tuple[int, datetime]] = field(default_factory=dict)


@dataclass(frozen=True)
class NowPlaying:
    owner: str
    username: str
    client: str
    track_id: str
    at: datetime


class Listening:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def star(self, owner: str, items: Iterable[tuple[str, str]]) -> None:
        """Star (kind, id) pairs; starring again keeps the first time."""
        now = utcnow()
        rows = [{"owner": owner, "kind": k, "item_id": i, "starred_at": now} for k, i in items]
        if not rows:
            return
        dialect = sqlite if self.db.is_sqlite else postgresql
        statement = dialect.insert(SubsonicStar).values(rows).on_conflict_do_nothing()
        async with self.db.session() as session, session.begin():
            await session.execute(statement)

    async def unstar(self, owner: str, items: Iterable[tuple[str, str]]) -> None:
        async with self.db.session() as session, session.begin():
            for kind, item in items:
                await session.execute(
                    delete(SubsonicStar).where(
                        SubsonicStar.owner == owner,
                        SubsonicStar.kind == kind,
                        SubsonicStar.item_id == item,
                    )
                )

    async def starred(self, owner: str, kind: str) -> list[tuple[str, datetime]]:
        """The ids of ``kind`` the listener starred, newest star first."""
        query = (
            select(SubsonicStar.item_id, SubsonicStar.starred_at)
            .where(SubsonicStar.owner == owner, SubsonicStar.kind == kind)
            .order_by(SubsonicStar.starred_at.desc(), SubsonicStar.item_id)
        )
        async with self.db.session() as session:
            return [(i, at) for i, at in (await session.execute(query)).all()]

    async def marks(self, owner: str, ids: Collection[str], songs: Collection[str]) -> Marks:
        """The listener's stars among ``ids`` and play counts of ``songs``."""
        if not ids and not songs:
            return Marks()
        async with self.db.session() as session:
            stars = await session.execute(
                select(SubsonicStar.item_id, SubsonicStar.starred_at).where(
                    SubsonicStar.owner == owner, SubsonicStar.item_id.in_(list(ids))
                )
            )
            starred: dict[str, datetime] = {str(item): at for item, at in stars.all()}
            plays = {
                track: (int(count), last)
                for track, count, last in (
                    await session.execute(
                        select(
                            SubsonicPlay.track_id,
                            func.count(),
                            func.max(SubsonicPlay.played_at),
                        )
                        .where(SubsonicPlay.owner == owner, SubsonicPlay.track_id.in_(list(songs)))
                        .group_by(SubsonicPlay.track_id)
                    )
                ).all()
            }
        return Marks(starred, plays)

    async def played(self, owner: str, track_id: str, at: datetime, client: str) -> None:
        async with self.db.session() as session, session.begin():
            session.add(SubsonicPlay(owner=owner, track_id=track_id, played_at=at, client=client))

    async def playing(self, owner: str, username: str, client: str, track_id: str) -> None:
        """The listener's player ``client`` says it plays ``track_id`` now."""
        row = {"owner": owner, "client": client, "username": username, "track_id": track_id,
               "at": utcnow()}  # fmt: skip
        dialect = sqlite if self.db.is_sqlite else postgresql
        statement = dialect.insert(SubsonicNowPlaying).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["owner", "client"],
            set_={"track_id": row["track_id"], "at": row["at"], "username": username},
        )
        async with self.db.session() as session, session.begin():
            await session.execute(statement)

    async def now_playing(self) -> list[NowPlaying]:
        """Every listener's players that said they play something in NOW_PLAYING_FOR."""
        since = utcnow() - NOW_PLAYING_FOR
        query = (
            select(SubsonicNowPlaying)
            .where(SubsonicNowPlaying.at >= since)
            .order_by(SubsonicNowPlaying.at.desc())
        )
        async with self.db.session() as session:
            rows = list(await session.scalars(query))
        return [NowPlaying(r.owner, r.username, r.client, r.track_id, r.at) for r in rows]
