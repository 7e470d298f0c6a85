"""Transcoded renditions of tracks: storing a transcode's outputs, and finding them again."""

from __future__ import annotations

from streamer.renditions.catalog import (
    Playlist,
    RenditionCatalog,
    RenditionEntry,
    TrackRenditions,
)
from streamer.renditions.outputs import AAC_PRIMING, store_outputs, transcode_track

__all__ = [
    "AAC_PRIMING",
    "Playlist",
    "RenditionCatalog",
    "RenditionEntry",
    "TrackRenditions",
    "store_outputs",
    "transcode_track",
]
