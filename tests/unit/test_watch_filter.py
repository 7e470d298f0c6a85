"""Which changes in a library folder start a scan (streamer.catalogue.watch.AudioFilter)."""

from __future__ import annotations

from pathlib import Path

import pytest
from watchfiles import Change

from streamer.catalogue.watch import AudioFilter

ROOT = Path("/music")


@pytest.mark.parametrize(
    ("path", "counts"),
    [
        ("/music/Artist/song.flac", True),
        ("/music/Artist/SONG.MP3", True),
        ("/music/Artist", True),  # a folder moved or deleted whole
        ("/music/Artist/cover.jpg", False),
        ("/music/notes.txt", False),
        ("/music/.streamer", False),  # what the server writes
        ("/music/.streamer/tracks/ab/aac_128.mp4", False),
        ("/music/.streamer/ondemand/x/y.mp3", False),
        ("/music/Artist/.song.flac.swp", False),  # an editor's swap file
        ("/elsewhere/song.flac", False),
    ],
)
def test_audio_files_and_folders_count(path: str, counts: bool) -> None:
    assert AudioFilter(ROOT)(Change.added, path) is counts
