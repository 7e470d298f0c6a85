"""Which of a track's renditions are served: those of its newest ladder (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from streamer.db.models import Rendition

__all__ = ["newest_ladder"]


def newest_ladder(renditions: Sequence[Rendition]) -> list[Rendition]:
    """Of a track's renditions, those of its newest ladder (what /hls serves), by name."""
    if not renditions:
        return []
    newest = max(renditions, key=lambda r: r.created_at).ladder_hash
    return sorted((r for r in renditions if r.ladder_hash == newest), key=lambda r: r.name)
