"""Writing tags and an embedded cover into a generated file, with mutagen, in each format's
own way: ID3 for MP3 and WAV, MP4 atoms for M4A, Vorbis comments (and a FLAC picture block)
for FLAC, Ogg Vorbis and Opus. Keys are the probe's (title, artist, album, albumartist,
tracknumber, genre, date), so what is written is what a scan reads back."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from mutagen import id3
from mutagen.flac import FLAC, Picture
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

__all__ = ["write_tags"]

_ID3_FRAMES: dict[str, Any] = {
    "title": id3.TIT2,
    "artist": id3.TPE1,
    "album": id3.TALB,
    "albumartist": id3.TPE2,
    "tracknumber": id3.TRCK,
    "genre": id3.TCON,
    "date": id3.TDRC,
}
_MP4_ATOMS = {
    "title": "\xa9nam",
    "artist": "\xa9ART",
    "album": "\xa9alb",
    "albumartist": "aART",
    "genre": "\xa9gen",
    "date": "\xa9day",
}
_FRONT_COVER = 3  # the picture type of ID3 and FLAC


def write_tags(path: Path, fmt: str, tags: dict[str, str], cover: bytes | None) -> None:
    """Tag the file at ``path`` (of format ``fmt``) with ``tags`` and ``cover`` (PNG or
    JPEG bytes). Blocking."""
    if not tags and cover is None:
        return
    if fmt in ("mp3", "wav"):
        _id3(path, fmt, tags, cover)
    elif fmt == "m4a":
        _mp4(path, tags, cover)
    elif fmt in ("flac", "ogg", "opus"):
        _vorbis(path, fmt, tags, cover)
    else:
        raise ValueError(f"no tagger for {fmt}")


def _mime(cover: bytes) -> str:
    return "image/png" if cover.startswith(b"\x89PNG") else "image/jpeg"


def _id3(path: Path, fmt: str, tags: dict[str, str], cover: bytes | None) -> None:
    frames: list[id3.Frame] = [_ID3_FRAMES[key](encoding=3, text=[v]) for key, v in tags.items()]
    if cover is not None:
        frames.append(
            id3.APIC(encoding=3, mime=_mime(cover), type=_FRONT_COVER, desc="", data=cover)
        )
    if fmt == "mp3":
        mp3_tags = id3.ID3()
        for frame in frames:
            mp3_tags.add(frame)
        mp3_tags.save(path)
        return
    wave = WAVE(path)
    if wave.tags is None:
        wave.add_tags()
    wave_tags: Any = wave.tags
    for frame in frames:
        wave_tags.add(frame)
    wave.save()


def _mp4(path: Path, tags: dict[str, str], cover: bytes | None) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    atoms: Any = audio.tags
    for key, value in tags.items():
        if key == "tracknumber":
            number, _, total = value.partition("/")
            atoms["trkn"] = [(int(number), int(total or 0))]
        else:
            atoms[_MP4_ATOMS[key]] = [value]
    if cover is not None:
        png = cover.startswith(b"\x89PNG")
        kind = MP4Cover.FORMAT_PNG if png else MP4Cover.FORMAT_JPEG
        atoms["covr"] = [MP4Cover(cover, imageformat=kind)]
    audio.save()


def _vorbis(path: Path, fmt: str, tags: dict[str, str], cover: bytes | None) -> None:
    audio = FLAC(path) if fmt == "flac" else OggOpus(path) if fmt == "opus" else OggVorbis(path)
    for key, value in tags.items():
        audio[key] = value
    if cover is not None:
        picture = Picture()
        picture.type = _FRONT_COVER
        picture.mime = _mime(cover)
        picture.data = cover
        if isinstance(audio, FLAC):
            audio.add_picture(picture)
        else:  # Ogg: the same block, base64 in a comment (the Xiph convention)
            audio["metadata_block_picture"] = base64.b64encode(picture.write()).decode("ascii")
    audio.save()
