"""What each library's store holds, and which rows refer to which object.

A backup records, per library, every object (source files and derived objects) with its
size and version and, for each, the rows that point at it ("track:<id>" for a source,
"rendition:<id>" for a rendition's MP4 or segment index, "waveform:<track>" and
"cover:<track>"). Restore compares that record with the stores it finds; cleanup uses the
same references to tell orphans from what is served.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from streamer.db.models import Rendition, Track
from streamer.storage.base import ObjectInfo, ObjectStore

__all__ = [
    "ObjectEntry",
    "list_store",
    "references",
]


@dataclass
class ObjectEntry:
    """One object of a library's store as a backup manifest records it."""

    key: str
    size: int
    version: str
    derived: bool
    refs: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def references(conn: AsyncConnection, library_id: str) -> dict[str, list[str]]:
    """Object key -> the rows of ``library_id`` that refer to it."""
    refs: dict[str, list[str]] = defaultdict(list)
    tracks = await conn.execute(
        select(Track.id, Track.key, Track.waveform_key, Track.cover_key).where(
            Track.library_id == library_id
        )
    )
    for track_id, key, waveform_key, cover_key in tracks:
        refs[key].append(f"track:{track_id}")
        if waveform_key:
            refs[waveform_key].append(f"waveform:{track_id}")
        if cover_key:
            refs[cover_key].append(f"cover:{track_id}")
    renditions = await conn.execute(
        select(Rendition.id, Rendition.key, Rendition.index_key)
        .join(Track, Track.id == Rendition.track_id)
        .where(Track.library_id == library_id)
    )
    for rendition_id, key, index_key in renditions:
        refs[key].append(f"rendition:{rendition_id}")
        refs[index_key].append(f"rendition:{rendition_id}")
    return dict(refs)


async def list_store(store: ObjectStore) -> list[ObjectInfo]:
    """Every object of the store: sources first, then derived objects, each by key."""
    sources = sorted([info async for info in store.iter_objects()], key=lambda i: i.key)
    derived = sorted([info async for info in store.iter_derived()], key=lambda i: i.key)
    return sources + derived
