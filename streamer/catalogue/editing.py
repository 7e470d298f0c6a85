"""Edits of a track's metadata and labels through the API, with optimistic concurrency.

Every edit is one transaction: a compare-and-set UPDATE on the row version (so of two
writers holding the same version exactly one wins), the labels' index rows, and one audit
entry. Edited metadata fields are also kept in ``Track.overrides``, which a rescan applies
over the file's tags, so a rescan never undoes an edit.

Exceptions::

    EditError
    ├── VersionMismatch   the row version is not the one the caller based its edit on (412)
    ├── SourceChanged     the file is not the one the scan saw: rescan first (409)
    └── TagsUnsupported   no tag write-back for this file or library (422)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.auth.audit import Actor, record
from streamer.catalogue.scan import hash_file
from streamer.db.models import Rendition, Track, TrackLabel, utcnow
from streamer.storage.base import ObjectStore

__all__ = [
    "EDITABLE",
    "EditError",
    "SourceChanged",
    "TagsUnsupported",
    "VersionMismatch",
    "apply_edit",
    "etag_of",
    "normalise_labels",
    "snapshot",
]

# Metadata fields PATCH may set (labels are handled apart: they are not file tags).
EDITABLE = (
    "title",
    "artist",
    "album",
    "album_artist",
    "genre",
    "year",
    "track_number",
    "disc_number",
)
# mutagen's "easy" keys for those fields.
_EASY_KEYS = {
    "title": "title",
    "artist": "artist",
    "album": "album",
    "album_artist": "albumartist",
    "genre": "genre",
    "year": "date",
    "track_number": "tracknumber",
    "disc_number": "discnumber",
}


class EditError(Exception):
    """An edit that cannot be made; ``status`` is the HTTP answer."""

    status = 400


class VersionMismatch(EditError):
    status = 412

    def __init__(self, current: int) -> None:
        super().__init__("the track changed since you read it")
        self.current = current


class SourceChanged(EditError):
    status = 409


class TagsUnsupported(EditError):
    status = 422


def etag_of(track_id: str, version: int) -> str:
    """The strong ETag of a track's metadata at ``version``."""
    return f'"{track_id}.{version}"'


def normalise_labels(labels: Iterable[str]) -> list[str]:
    """Trimmed, without empties and duplicates, in first-seen order."""
    seen: dict[str, None] = {}
    for label in labels:
        label = label.strip()
        if label:
            seen.setdefault(label, None)
    return list(seen)


def snapshot(track: Track) -> dict[str, Any]:
    """The editable state of a track, for the audit log."""
    state: dict[str, Any] = {name: getattr(track, name) for name in EDITABLE}
    state["labels"] = list(track.labels or [])
    state["version"] = track.row_version
    return state


async def apply_edit(
    session: AsyncSession,
    track: Track,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    actor: Actor,
    action: str = "track.update",
    store: ObjectStore | None = None,
) -> dict[str, Any]:
    """Apply ``changes`` (EDITABLE fields and/or ``labels``) to ``track`` in ``session``'s
    transaction (the caller commits) and return the new state; with ``store``, also
    write the tags into the source file (after the row is claimed, before the commit, so
    a failed write rolls the edit back). Raises VersionMismatch, SourceChanged,
    TagsUnsupported."""
    before = snapshot(track)
    fields = {name: changes[name] for name in EDITABLE if name in changes}
    values: dict[str, Any] = dict(fields)
    if fields:
        values["overrides"] = {**(track.overrides or {}), **fields}
    labels = None
    if "labels" in changes:
        labels = normalise_labels(changes["labels"])
        values["labels"] = labels
    values["row_version"] = expected_version + 1
    values["updated_at"] = utcnow()
    result = await session.execute(
        update(Track)
        .where(Track.id == track.id, Track.row_version == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = await session.get(Track, track.id, populate_existing=True)
        raise VersionMismatch(current.row_version if current is not None else expected_version)
    if labels is not None:
        await _replace_labels(session, track.id, labels)
    if store is not None and fields:
        await _record_new_source(session, track, await write_tags(store, track, fields))
    after = {**before, **fields, "version": expected_version + 1}
    if labels is not None:
        after["labels"] = labels
    record(session, actor, action, "track", track.id, before=before, after=after)
    return after


async def _replace_labels(session: AsyncSession, track_id: str, labels: Sequence[str]) -> None:
    await session.execute(delete(TrackLabel).where(TrackLabel.track_id == track_id))
    if labels:
        await session.execute(
            insert(TrackLabel), [{"track_id": track_id, "label": label} for label in labels]
        )


@dataclass(frozen=True)
class SourceState:
    """What a scan records of a source file, as it is after a tag write."""

    size: int
    mtime: float
    version: str | None
    content_hash: str


async def write_tags(store: ObjectStore, track: Track, fields: Mapping[str, Any]) -> SourceState:
    """Write ``fields`` into the track's source file with mutagen, in a worker thread, and
    return the file's new size, time, version and hash."""
    content_hash = await asyncio.to_thread(
        _write_tags_sync, store, track.key, track.size, track.mtime, fields
    )
    info = await store.stat(track.key)
    return SourceState(info.size, info.mtime, info.version, content_hash)


async def _record_new_source(session: AsyncSession, track: Track, state: SourceState) -> None:
    """Keep the scan's view of the file true after a tag write, so the next scan does not
    take the file for changed, and move the renditions to the new hash: the audio they were
    made from is the same, only tag blocks were rewritten, so nothing is transcoded again."""
    await session.execute(
        update(Track)
        .where(Track.id == track.id)
        .values(
            size=state.size,
            mtime=state.mtime,
            version=state.version,
            content_hash=state.content_hash,
        )
        .execution_options(synchronize_session=False)
    )
    if track.content_hash is not None:
        await session.execute(
            update(Rendition)
            .where(Rendition.track_id == track.id, Rendition.content_hash == track.content_hash)
            .values(content_hash=state.content_hash)
            .execution_options(synchronize_session=False)
        )


def _write_tags_sync(
    store: ObjectStore, key: str, size: int, mtime: float, fields: Mapping[str, Any]
) -> str:
    import mutagen  # imported here: only tag write-back needs the writer side

    try:
        path = store.local_path(key)
    except Exception as exc:  # ObjectNotFound and the store's own errors
        raise SourceChanged(f"the source file is not there: {exc}") from exc
    if path is None:
        raise TagsUnsupported("tags are written back only into files of local libraries")
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise SourceChanged(f"the source file is not there: {exc}") from exc
    # The scan's view of the file must still hold, or we would tag bytes nobody probed.
    if stat.st_size != size or abs(stat.st_mtime - mtime) > 1e-3:
        raise SourceChanged("the file changed since the last scan; scan the library first")
    try:
        audio = mutagen.File(Path(path), easy=True)
    except mutagen.MutagenError as exc:
        raise TagsUnsupported(f"cannot read the file's tags: {exc}") from exc
    if audio is None:
        raise TagsUnsupported("this file's format has no tags mutagen can write")
    try:
        if audio.tags is None:
            audio.add_tags()
        for name, value in fields.items():
            easy = _EASY_KEYS[name]
            if value is None:
                audio.tags.pop(easy, None)
            else:
                audio.tags[easy] = [str(value)]
        audio.save()
    except (KeyError, ValueError, TypeError, mutagen.MutagenError) as exc:
        # EasyID3KeyError is a KeyError: a field the format's easy interface lacks.
        raise TagsUnsupported(f"cannot write these tags into this format: {exc}") from exc
    with open(path, "rb") as fh:
        return hash_file(fh)[0]
