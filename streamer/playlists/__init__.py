"""Playlists: ordered tracks with a revision history (undo, redo), played as one HLS stream.

``edits`` holds the pure list operations, ``repository`` the database side (every change
writes its revision and its audit entry in one transaction), ``streams`` the stitched HLS
playlists the /hls/playlists/ route serves. A smart playlist is a playlist with a rule
(``rules``: its shape and validation; ``compile``: the rule as SQL; ``smart``: its result
now, and :func:`playlist_track_ids`, what any playlist plays, for other services).
"""

from __future__ import annotations

from streamer.playlists.edits import EditError, Snapshot, insert, move, remove
from streamer.playlists.repository import (
    MAX_ITEMS,
    PlaylistState,
    RevisionConflict,
    UnknownTracks,
)
from streamer.playlists.rules import Rule
from streamer.playlists.smart import playlist_track_ids

__all__ = [
    "MAX_ITEMS",
    "EditError",
    "PlaylistState",
    "RevisionConflict",
    "Rule",
    "Snapshot",
    "UnknownTracks",
    "insert",
    "move",
    "playlist_track_ids",
    "remove",
]
