"""Playlists: ordered tracks with a revision history (undo, redo), played as one HLS stream.

``edits`` holds the pure list operations, ``repository`` the database side (every change
writes its revision and its audit entry in one transaction), ``streams`` the stitched HLS
playlists the /hls/playlists/ route serves.
"""

from __future__ import annotations

from streamer.playlists.edits import EditError, Snapshot, insert, move, remove
from streamer.playlists.repository import (
    MAX_ITEMS,
    PlaylistState,
    RevisionConflict,
    UnknownTracks,
)

__all__ = [
    "MAX_ITEMS",
    "EditError",
    "PlaylistState",
    "RevisionConflict",
    "Snapshot",
    "UnknownTracks",
    "insert",
    "move",
    "remove",
]
