"""A small demo library of real audio, so the first `make serve` shows something.

Blocking (ffmpeg subprocesses): the CLI calls it before the server starts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mutagen.easyid3 import EasyID3
from mutagen.flac import FLAC
from mutagen.mp4 import MP4
from mutagen.oggvorbis import OggVorbis

from transcoder.ffmpeg import ffmpeg_exe

# (file name, title, chord frequencies in Hz, encoder arguments)
DEMO_TRACKS: tuple[tuple[str, str, tuple[float, ...], tuple[str, ...]], ...] = (
    (
        "01 - A major.mp3",
        "A major",
        (220.0, 277.18, 329.63),
        ("-c:a", "libmp3lame", "-b:a", "128k"),
    ),
    ("02 - D minor.flac", "D minor", (293.66, 349.23, 440.0), ("-c:a", "flac")),
    ("03 - E major.m4a", "E major", (329.63, 415.30, 493.88), ("-c:a", "aac", "-b:a", "128k")),
    ("04 - G major.ogg", "G major", (196.0, 246.94, 293.66), ("-c:a", "libvorbis", "-q:a", "4")),
)
SECONDS = 8


def make_demo_library(folder: Path, *, timeout: float = 60.0, ffmpeg: str | None = None) -> Path:
    """Create (once) the demo tracks under ``folder`` with ``ffmpeg`` (default: the one
    :func:`transcoder.ffmpeg.ffmpeg_exe` finds) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, title, chord, codec_args in DEMO_TRACKS:
        path = folder / name
        if path.exists() and path.stat().st_size > 0:
            continue
        tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
        expression = "+".join(f"0.2*sin(2*PI*{f}*t)" for f in chord)
        # A chord with a gentle fade in and out, so it sounds like something.
        command = [
            ffmpeg_exe(ffmpeg),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc={expression}|{expression}:s=44100:d={SECONDS}",
            "-af",
            f"afade=t=in:d=0.5,afade=t=out:st={SECONDS - 1}:d=1",
            *codec_args,
            str(tmp),
        ]
        subprocess.run(command, check=True, timeout=timeout, capture_output=True)
        _tag(tmp, title)
        tmp.replace(path)
    return folder


def _tag(path: Path, title: str) -> None:
    artist, album = "Streamer Demo Ensemble", "Demo Chords"
    suffix = path.suffix.lower()
    if suffix == ".mp3":
        tags = EasyID3()
        tags.update({"title": title, "artist": artist, "album": album, "genre": "Demo"})
        tags.save(path)
    elif suffix == ".flac":
        flac = FLAC(path)
        flac.update({"title": title, "artist": artist, "album": album, "genre": "Demo"})
        flac.save()
    elif suffix == ".m4a":
        mp4 = MP4(path)
        mp4.update(
            {"\xa9nam": [title], "\xa9ART": [artist], "\xa9alb": [album], "\xa9gen": ["Demo"]}
        )
        mp4.save()
    elif suffix == ".ogg":
        ogg = OggVorbis(path)
        ogg.update({"title": title, "artist": artist, "album": album, "genre": "Demo"})
        ogg.save()
