"""The tracks a channel's playlists offer (its pools), read when a plan is written.

A plan revision keeps, for every playlist it names, the tracks it played with their
artists and their segment durations in the channel's reference rendition (the first
rendition every pool track has). So a plan row is a complete description of what the
channel plays from its ``effective_from`` on: a playlist edited, a track re-transcoded or
deleted later never changes what the timeline said for the time the row covered, and every
node computes the same timeline from the rows alone. The live route still needs each
track's current URLs (their version tokens), which come from the rendition catalog.

Tracks without renditions (not transcoded yet, failed, gone) are left out of a pool: a
channel plays what is ready. A pool snapshot holds at most ``MAX_POOL`` tracks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from packager import common_renditions
from streamer.db import Database, Track
from streamer.playlists import playlist_track_ids
from streamer.renditions.catalog import RenditionCatalog, TrackRenditions
from streamer.renditions.playlists import presented_durations

__all__ = ["MAX_POOL", "PoolSnapshot", "SnapshotTrack", "load_pools", "playlist_tracks"]

MAX_POOL = 5_000


@dataclass(frozen=True, slots=True)
class SnapshotTrack:
    id: str
    artist: str | None
    segments: tuple[float, ...]  # presented durations in the reference rendition

    def as_json(self) -> list[object]:
        return [self.id, self.artist, list(self.segments)]


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """Pools of one plan: the reference rendition and each playlist's playable tracks."""

    reference: str | None
    pools: Mapping[str, tuple[SnapshotTrack, ...]]

    def as_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "pools": {pid: [t.as_json() for t in tracks] for pid, tracks in self.pools.items()},
        }

    def digest(self) -> str:
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


async def playlist_tracks(db: Database, playlist_id: str) -> list[str] | None:
    """The ordered track ids a playlist plays now (a smart playlist's rule result); None
    when there is no such playlist."""
    return await playlist_track_ids(db, playlist_id)


async def load_pools(
    db: Database, catalog: RenditionCatalog, playlist_ids: Iterable[str]
) -> PoolSnapshot:
    """The pools of ``playlist_ids`` as the catalogue stands now (see the docstring)."""
    listed: dict[str, list[str]] = {}
    for playlist_id in dict.fromkeys(playlist_ids):
        listed[playlist_id] = ((await playlist_tracks(db, playlist_id)) or [])[:MAX_POOL]
    wanted = list(dict.fromkeys(t for ids in listed.values() for t in ids))
    ready: dict[str, TrackRenditions] = {}
    for track_id in wanted:
        found = await catalog.get(track_id)
        if found is not None:
            ready[track_id] = found
    artists = await _artists(db, list(ready))
    reference = _reference(list(ready.values()))
    pools: dict[str, tuple[SnapshotTrack, ...]] = {}
    for playlist_id, ids in listed.items():
        tracks = []
        for track_id in ids:
            renditions = ready.get(track_id)
            if renditions is None or reference is None or reference not in renditions.renditions:
                continue
            entry = renditions.renditions[reference]
            durations = tuple(presented_durations(entry.index))
            tracks.append(SnapshotTrack(track_id, artists.get(track_id), durations))
        pools[playlist_id] = tuple(tracks)
    return PoolSnapshot(reference, pools)


def _reference(tracks: Sequence[TrackRenditions]) -> str | None:
    """The first rendition every track has; else the one most tracks have."""
    if not tracks:
        return None
    shared = common_renditions([list(t.renditions) for t in tracks])
    if shared:
        return shared[0]
    counts: dict[str, int] = {}
    for track in tracks:
        for name in track.renditions:
            counts[name] = counts.get(name, 0) + 1
    return max(counts, key=lambda name: (counts[name], name))


async def _artists(db: Database, track_ids: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    async with asyncio.timeout(5.0), db.session() as session:
        for start in range(0, len(track_ids), 500):
            chunk = track_ids[start : start + 500]
            rows = await session.execute(select(Track.id, Track.artist).where(Track.id.in_(chunk)))
            found.update({row[0]: row[1] for row in rows})
    return found


def parse_pools(document: Mapping[str, object]) -> PoolSnapshot:
    """The pools of a stored plan document (``PoolSnapshot.as_json``)."""
    raw = document.get("pools") or {}
    assert isinstance(raw, dict)
    pools = {
        str(pid): tuple(
            SnapshotTrack(str(t[0]), t[1], tuple(float(d) for d in t[2])) for t in tracks
        )
        for pid, tracks in raw.items()
    }
    reference = document.get("reference")
    return PoolSnapshot(reference if isinstance(reference, str) else None, pools)
