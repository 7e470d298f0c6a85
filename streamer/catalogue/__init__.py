"""The catalogue: scanning libraries into tracks, and reading them back."""

from __future__ import annotations

from streamer.catalogue.repository import get_library, get_track, list_libraries, list_tracks
from streamer.catalogue.scan import ScanProgress, ScanReport, ensure_library, scan_library

__all__ = [
    "ScanProgress",
    "ScanReport",
    "ensure_library",
    "get_library",
    "get_track",
    "list_libraries",
    "list_tracks",
    "scan_library",
]
