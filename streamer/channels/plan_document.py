"""A channel's plan as stored in a ``channel_plans`` row (JSON), and back (pure).

The document holds everything the timeline depends on: the zone, the entries, the fill,
the repetition rules, the shuffle seed, the loudness target, and the pools (each playlist's
tracks with their segment durations, ``streamer.channels.pools``). Pools are keyed in the
model by ``{playlist_id}:{digest}`` (the digest of that playlist's snapshot), because the
pure core takes one pool mapping for all revisions while each revision has its own
snapshot of a playlist; :func:`playlist_of` turns a key back into the playlist id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from streamer.channels.model import (
    ChannelPlan,
    Fill,
    PlanRevision,
    PoolTrack,
    RepeatRules,
    ScheduleEntry,
)
from streamer.channels.pools import PoolSnapshot, SnapshotTrack, parse_pools
from streamer.channels.repository import ChannelState, entry_view
from streamer.channels.validation import parse_local

__all__ = ["Decoded", "decode", "encode", "playlist_ids", "playlist_of"]

VERSION = 1


def playlist_ids(state: ChannelState) -> list[str]:
    """The playlists a channel's plan names: its entries' and its fill's."""
    ids = [entry.playlist_id for entry in state.entries]
    if state.channel.fill_playlist_id is not None:
        ids.append(state.channel.fill_playlist_id)
    return list(dict.fromkeys(ids))


def encode(state: ChannelState, pools: PoolSnapshot) -> dict[str, Any]:
    channel = state.channel
    return {
        "version": VERSION,
        "timezone": channel.timezone,
        "fill": {"mode": channel.fill_mode, "playlist_id": channel.fill_playlist_id},
        "rules": {
            "track_minutes": channel.track_minutes,
            "artist_minutes": channel.artist_minutes,
        },
        "seed": channel.seed,
        "loudness_target": channel.loudness_target,
        "entries": [entry_view(entry) for entry in state.entries],
        **pools.as_json(),
    }


class Decoded:
    """One stored plan decoded for the core: its revision, and its pools by key."""

    __slots__ = ("loudness_target", "pools", "reference", "revision", "snapshot")

    def __init__(
        self,
        revision: PlanRevision,
        pools: Mapping[str, Sequence[PoolTrack]],
        snapshot: PoolSnapshot,
        loudness_target: float | None,
    ) -> None:
        self.revision = revision
        self.pools = pools
        self.snapshot = snapshot
        self.reference = snapshot.reference
        self.loudness_target = loudness_target


def _key(playlist_id: str, tracks: Sequence[SnapshotTrack]) -> str:
    text = json.dumps([t.as_json() for t in tracks], separators=(",", ":"))
    return f"{playlist_id}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def playlist_of(key: str | None) -> str | None:
    """The playlist id of a pool key (see the module docstring)."""
    return key.split(":", 1)[0] if key is not None else None


def decode(channel_id: str, effective_from: datetime, document: Mapping[str, Any]) -> Decoded:
    snapshot = parse_pools(document)
    keys = {pid: _key(pid, tracks) for pid, tracks in snapshot.pools.items()}
    pools = {
        keys[pid]: tuple(PoolTrack(t.id, t.artist, t.segments) for t in tracks)
        for pid, tracks in snapshot.pools.items()
    }

    def key(playlist_id: str | None) -> str | None:
        if playlist_id is None:
            return None
        return keys.get(playlist_id, f"{playlist_id}:missing")

    entries = tuple(
        ScheduleEntry(
            id=raw["id"],
            playlist_id=key(raw["playlist_id"]) or "",
            start=parse_local(raw["start"]),
            duration=timedelta(seconds=float(raw["duration_seconds"])),
            rrule=raw.get("rrule"),
            exdates=tuple(parse_local(e) for e in raw.get("exdates") or ()),
            priority=int(raw.get("priority", 0)),
            order=raw.get("order", "sequential"),
        )
        for raw in document.get("entries") or ()
    )
    fill = document.get("fill") or {}
    rules = document.get("rules") or {}
    plan = ChannelPlan(
        channel_id=channel_id,
        timezone=str(document.get("timezone") or "UTC"),
        entries=entries,
        fill=Fill(mode=fill.get("mode", "loop"), playlist_id=key(fill.get("playlist_id"))),
        rules=RepeatRules(
            track_minutes=float(rules.get("track_minutes", 0)),
            artist_minutes=float(rules.get("artist_minutes", 0)),
        ),
        seed=str(document.get("seed") or channel_id),
    )
    target = document.get("loudness_target")
    return Decoded(
        PlanRevision(effective_from=effective_from, plan=plan),
        pools,
        snapshot,
        float(target) if target is not None else None,
    )
