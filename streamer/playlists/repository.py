"""Playlists in the database: read them, and change them with history and an audit entry.

Every change runs in one transaction that checks the revision the caller saw (optimistic
concurrency: the UPDATE matches the old revision or nothing), writes the new items, a
revision snapshot and one audit entry. So two writers racing on the same revision cannot
both win, and no change exists without its history and its audit entry.

History is linear. A new edit takes revision ``last_revision + 1`` and drops the revisions
after the current one (the redo branch an undo left). Undo moves to the nearest older
revision and restores its snapshot; redo to the nearest newer one. Undo and redo write no
revision of their own: they move the pointer. Revision numbers are never reused, so an
ETag (the revision) always names one content.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from streamer.auth.audit import Actor, record
from streamer.db import Database, Playlist, PlaylistItem, PlaylistRevision, Track
from streamer.db.models import utcnow
from streamer.errors import RevisionConflict
from streamer.playlists.edits import Snapshot

__all__ = [
    "KEEP_REVISIONS",
    "MAX_ITEMS",
    "NothingToStep",
    "PlaylistState",
    "RevisionConflict",
    "UnknownTracks",
    "change",
    "create",
    "delete_playlist",
    "get",
    "list_playlists",
    "list_revisions",
    "step",
]

MAX_ITEMS = 5_000  # a day of music and more; keeps a stitched playlist a few hundred KB
KEEP_REVISIONS = 200  # older snapshots are dropped: undo reaches this far back


class NothingToStep(Exception):
    """Undo or redo has no revision to go to (HTTP 409)."""

    def __init__(self, message: str, revision: int) -> None:
        super().__init__(message)
        self.revision = revision


class UnknownTracks(ValueError):
    """Tracks that do not exist or that the caller may not read (not told apart)."""

    def __init__(self, track_ids: Collection[str]) -> None:
        super().__init__(f"unknown tracks: {', '.join(sorted(track_ids))}")
        self.track_ids = sorted(track_ids)


@dataclass(frozen=True, slots=True)
class PlaylistState:
    """A playlist row and its items, with what its history allows."""

    playlist: Playlist
    track_ids: tuple[str, ...]
    can_undo: bool
    can_redo: bool

    @property
    def snapshot(self) -> Snapshot:
        playlist = self.playlist
        return Snapshot(playlist.name, playlist.description, self.track_ids, playlist.rules)

    def audit_view(self) -> dict[str, object]:
        return {**self.snapshot.as_dict(), "revision": self.playlist.revision}


# Checks the caller's rights once the playlist's library is known (raises to refuse).
AccessCheck = Callable[[Playlist], None]
# Whether the caller may read a library (for the tracks it puts in a playlist).
CanRead = Callable[[str], bool]


async def get(db: Database, playlist_id: str) -> PlaylistState | None:
    async with db.session() as session:
        playlist = await session.get(Playlist, playlist_id)
        if playlist is None:
            return None
        return await _state(session, playlist)


async def list_playlists(
    db: Database,
    *,
    library_ids: Collection[str] | None,
    library_id: str | None,
    limit: int,
    offset: int,
    name: str | None = None,
) -> tuple[list[tuple[Playlist, int, float | None]], int]:
    """Playlists (with their item counts and the summed durations of the items that have
    one), newest change first, in the readable libraries (None: all), and the total.

    ``name`` matches a case-insensitive substring of the name (``%`` and ``_`` in it
    match themselves).
    """
    where: list[ColumnElement[bool]] = []
    if library_ids is not None:
        where.append(Playlist.library_id.in_(library_ids))
    if library_id is not None:
        where.append(Playlist.library_id == library_id)
    if name:
        # lower() LIKE lower() with the wildcards escaped; SQLite folds ASCII only.
        where.append(Playlist.name.icontains(name, autoescape=True))
    counts = (
        select(
            PlaylistItem.playlist_id,
            func.count().label("n"),
            func.sum(Track.duration).label("seconds"),
        )
        .outerjoin(Track, Track.id == PlaylistItem.track_id)
        .group_by(PlaylistItem.playlist_id)
        .subquery()
    )
    query = (
        select(Playlist, func.coalesce(counts.c.n, 0), counts.c.seconds)
        .outerjoin(counts, counts.c.playlist_id == Playlist.id)
        .where(*where)
        .order_by(Playlist.updated_at.desc(), Playlist.id)
        .limit(limit)
        .offset(offset)
    )
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(Playlist).where(*where))
        rows = (await session.execute(query)).all()
    return [
        (row[0], int(row[1]), float(row[2]) if row[2] is not None else None) for row in rows
    ], int(total or 0)


async def list_revisions(
    db: Database, playlist_id: str, *, limit: int, offset: int
) -> tuple[list[PlaylistRevision], int]:
    """The playlist's revisions, newest first, and their total."""
    where = PlaylistRevision.playlist_id == playlist_id
    async with db.session() as session:
        total = await session.scalar(
            select(func.count()).select_from(PlaylistRevision).where(where)
        )
        rows = await session.scalars(
            select(PlaylistRevision)
            .where(where)
            .order_by(PlaylistRevision.revision.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(rows), int(total or 0)


async def create(
    db: Database, actor: Actor, library_id: str, snapshot: Snapshot, can_read: CanRead
) -> PlaylistState:
    """A new playlist at revision 1; audited as ``playlist.create``."""
    playlist = Playlist(
        id=secrets.token_hex(8),
        library_id=library_id,
        name=snapshot.name,
        description=snapshot.description,
        revision=1,
        last_revision=1,
        created_by=actor.name,
        rules=snapshot.rules,
    )
    async with db.session() as session, session.begin():
        await _check_tracks(session, snapshot.track_ids, can_read)
        session.add(playlist)
        await session.flush()
        _write_items(session, playlist.id, snapshot.track_ids)
        _write_revision(session, playlist.id, 1, snapshot, "playlist.create", actor)
        state = PlaylistState(playlist, snapshot.track_ids, can_undo=False, can_redo=False)
        record(session, actor, "playlist.create", "playlist", playlist.id, after=state.audit_view())
    return state


async def change(
    db: Database,
    actor: Actor,
    playlist_id: str,
    action: str,
    edit: Callable[[Snapshot], Snapshot],
    *,
    check: AccessCheck,
    can_read: CanRead,
    if_match: Collection[int] | None = None,
) -> PlaylistState:
    """Apply ``edit`` as a new revision. Raises LookupError (no such playlist),
    RevisionConflict (not at a revision in ``if_match``), UnknownTracks, EditError."""
    async with db.session() as session, session.begin():
        playlist, before = await _locked(session, playlist_id, check, if_match)
        # Read now: the row object itself changes below.
        before_view = before.audit_view()
        after = edit(before.snapshot)
        # Tracks already in the playlist stay; only those added must be readable.
        await _check_tracks(session, set(after.track_ids) - set(before.track_ids), can_read)
        current, revision = playlist.revision, playlist.last_revision + 1
        await _move_pointer(session, playlist, revision, after, last_revision=revision)
        # The redo branch goes: history is linear.
        await session.execute(
            delete(PlaylistRevision).where(
                PlaylistRevision.playlist_id == playlist_id,
                PlaylistRevision.revision > current,
                PlaylistRevision.revision < revision,
            )
        )
        await session.execute(
            delete(PlaylistRevision).where(
                PlaylistRevision.playlist_id == playlist_id,
                PlaylistRevision.revision <= revision - KEEP_REVISIONS,
            )
        )
        _write_revision(session, playlist_id, revision, after, action, actor)
        state = await _state(session, playlist)
        record(
            session,
            actor,
            action,
            "playlist",
            playlist_id,
            before=before_view,
            after=state.audit_view(),
        )
    return state


async def step(
    db: Database,
    actor: Actor,
    playlist_id: str,
    direction: Literal["undo", "redo"],
    *,
    check: AccessCheck,
    if_match: Collection[int] | None = None,
) -> PlaylistState:
    """Undo or redo: restore the nearest older (newer) revision's snapshot. Raises
    NothingToStep when there is none (and what ``change`` raises)."""
    async with db.session() as session, session.begin():
        playlist, before = await _locked(session, playlist_id, check, if_match)
        before_view = before.audit_view()
        target = await _neighbour(session, playlist_id, playlist.revision, direction)
        if target is None:
            raise NothingToStep(f"nothing to {direction}", playlist.revision)
        snapshot = Snapshot(target.name, target.description, tuple(target.track_ids), target.rules)
        await _move_pointer(
            session, playlist, target.revision, snapshot, last_revision=playlist.last_revision
        )
        state = await _state(session, playlist)
        record(
            session,
            actor,
            f"playlist.{direction}",
            "playlist",
            playlist_id,
            before=before_view,
            after=state.audit_view(),
        )
    return state


async def delete_playlist(
    db: Database,
    actor: Actor,
    playlist_id: str,
    *,
    check: AccessCheck,
    if_match: Collection[int] | None = None,
) -> Playlist:
    """Delete the playlist, its items and history; audited as ``playlist.delete``.
    Returns the row as it was."""
    async with db.session() as session, session.begin():
        playlist, before = await _locked(session, playlist_id, check, if_match)
        # Items and revisions go with it (ON DELETE CASCADE; SQLite's pragma is on).
        await session.delete(playlist)
        record(
            session, actor, "playlist.delete", "playlist", playlist_id, before=before.audit_view()
        )
    return playlist


async def _locked(
    session: AsyncSession,
    playlist_id: str,
    check: AccessCheck,
    if_match: Collection[int] | None,
) -> tuple[Playlist, PlaylistState]:
    # FOR UPDATE on PostgreSQL; SQLite serialises writers anyway, and the revision-guarded
    # UPDATE in _move_pointer catches a race either way.
    playlist = await session.scalar(
        select(Playlist).where(Playlist.id == playlist_id).with_for_update()
    )
    if playlist is None:
        raise LookupError(playlist_id)
    check(playlist)
    if if_match is not None and playlist.revision not in if_match:
        raise RevisionConflict("the playlist changed since you read it", playlist.revision)
    return playlist, await _state(session, playlist)


async def _move_pointer(
    session: AsyncSession,
    playlist: Playlist,
    revision: int,
    snapshot: Snapshot,
    *,
    last_revision: int,
) -> None:
    done = await session.execute(
        update(Playlist)
        .where(Playlist.id == playlist.id, Playlist.revision == playlist.revision)
        .values(
            revision=revision,
            last_revision=last_revision,
            name=snapshot.name,
            description=snapshot.description,
            rules=snapshot.rules,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RevisionConflict("the playlist changed since you read it", playlist.revision)
    await session.refresh(playlist)
    await session.execute(delete(PlaylistItem).where(PlaylistItem.playlist_id == playlist.id))
    _write_items(session, playlist.id, snapshot.track_ids)
    await session.flush()


def _write_items(session: AsyncSession, playlist_id: str, track_ids: tuple[str, ...]) -> None:
    session.add_all(
        PlaylistItem(playlist_id=playlist_id, position=n, track_id=track_id)
        for n, track_id in enumerate(track_ids)
    )


def _write_revision(
    session: AsyncSession,
    playlist_id: str,
    revision: int,
    snapshot: Snapshot,
    action: str,
    actor: Actor,
) -> None:
    session.add(
        PlaylistRevision(
            playlist_id=playlist_id,
            revision=revision,
            name=snapshot.name,
            description=snapshot.description,
            track_ids=list(snapshot.track_ids),
            rules=snapshot.rules,
            action=action,
            actor_name=actor.name,
        )
    )


async def _check_tracks(
    session: AsyncSession, track_ids: Collection[str], can_read: CanRead
) -> None:
    wanted = set(track_ids)
    if not wanted:
        return
    rows = await session.execute(select(Track.id, Track.library_id).where(Track.id.in_(wanted)))
    found = {track_id for track_id, library_id in rows.all() if can_read(library_id)}
    if wanted - found:
        raise UnknownTracks(wanted - found)


async def _neighbour(
    session: AsyncSession, playlist_id: str, revision: int, direction: Literal["undo", "redo"]
) -> PlaylistRevision | None:
    column = PlaylistRevision.revision
    query = select(PlaylistRevision).where(PlaylistRevision.playlist_id == playlist_id)
    if direction == "undo":
        query = query.where(column < revision).order_by(column.desc())
    else:
        query = query.where(column > revision).order_by(column)
    return await session.scalar(query.limit(1))


async def _state(session: AsyncSession, playlist: Playlist) -> PlaylistState:
    items = await session.scalars(
        select(PlaylistItem.track_id)
        .where(PlaylistItem.playlist_id == playlist.id)
        .order_by(PlaylistItem.position)
    )
    older = await _neighbour(session, playlist.id, playlist.revision, "undo")
    newer = await _neighbour(session, playlist.id, playlist.revision, "redo")
    return PlaylistState(
        playlist, tuple(items), can_undo=older is not None, can_redo=newer is not None
    )
