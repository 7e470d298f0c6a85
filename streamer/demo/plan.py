"""The plan of a generated library, drawn from a seed: which files, in which folders, in
which formats, with which tags, covers, lengths and sounds, and which files are broken.

Pure: :mod:`streamer.demo.generate` makes the files. The same seed and options give the same
plan, and so the same file names, tags and (with the same ffmpeg) the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from streamer.demo import words

__all__ = [
    "BROKEN_KINDS",
    "FORMATS",
    "LENGTHS",
    "BrokenPlan",
    "CoverPlan",
    "Lengths",
    "LibraryPlan",
    "Tone",
    "TrackPlan",
    "plan_library",
]

FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav")
BrokenKind = Literal["truncated", "random", "empty"]
BROKEN_KINDS: tuple[BrokenKind, ...] = ("truncated", "random", "empty")
Lengths = Literal["short", "mixed"]
LENGTHS: tuple[Lengths, ...] = ("short", "mixed")

# (share of tracks, shortest, longest seconds). "mixed" has very short and very long tracks
# among ordinary ones, as real libraries do (jingles, DJ mixes); "short" is quick to make.
_LENGTH_MIX: dict[Lengths, tuple[tuple[float, float, float], ...]] = {
    "short": ((0.1, 0.2, 1.0), (0.9, 1.0, 10.0)),
    "mixed": ((0.05, 0.2, 2.0), (0.8, 90.0, 330.0), (0.1, 420.0, 900.0), (0.05, 1800.0, 3600.0)),
}
_COVER_SIZES = (64, 300, 500, 600, 1000)
_ALBUM_SIZES = (1, 1, 2, 4, 6, 8, 10, 12, 14)  # tracks per album, drawn from these
_SAMPLE_RATES = (44100, 44100, 44100, 48000, 48000, 22050)
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')  # not in file names (Windows' set too)
_MAX_NAME = 120  # characters of one path segment


@dataclass(frozen=True)
class Tone:
    """What a track sounds like: a chord over pink noise, with a tremolo."""

    frequencies: tuple[float, ...]  # Hz
    noise: float  # pink noise amplitude, 0..1
    tremolo: float  # Hz
    seed: int  # the noise generator's


@dataclass(frozen=True)
class CoverPlan:
    name: str  # unique within the plan, e.g. "cover-003.jpg"
    mime: Literal["image/png", "image/jpeg"]
    size: int  # pixels, square
    colors: tuple[str, str]  # "0xRRGGBB", a gradient from one to the other
    seed: int


@dataclass(frozen=True)
class TrackPlan:
    path: str  # relative to the library, "/"-separated
    format: str  # one of FORMATS
    seconds: float
    sample_rate: int
    channels: int
    # The probe's keys (title, artist, album, albumartist, tracknumber, genre, date);
    # empty for an untagged file.
    tags: dict[str, str]
    cover: CoverPlan | None
    tone: Tone


@dataclass(frozen=True)
class BrokenPlan:
    """A file with an audio extension that is not playable audio."""

    path: str
    kind: BrokenKind  # truncated: a FLAC cut short; random: random bytes; empty: 0 bytes
    size: int  # bytes of random data (random), or of audio kept (truncated: a share, %)
    seed: int
    source: TrackPlan | None = None  # what a truncated file is cut from


@dataclass(frozen=True)
class LibraryPlan:
    seed: int
    lengths: Lengths
    formats: tuple[str, ...]
    tracks: tuple[TrackPlan, ...]
    broken: tuple[BrokenPlan, ...] = field(default=())

    @property
    def covers(self) -> tuple[CoverPlan, ...]:
        """Each cover once, in the order tracks use them."""
        seen: dict[str, CoverPlan] = {}
        for track in self.tracks:
            if track.cover is not None:
                seen.setdefault(track.cover.name, track.cover)
        return tuple(seen.values())

    def describe(self) -> dict[str, object]:
        """Everything the plan says, JSON-ready (the library's manifest)."""
        return {
            "seed": self.seed,
            "lengths": self.lengths,
            "formats": list(self.formats),
            "tracks": [asdict(track) for track in self.tracks],
            "broken": [asdict(broken) for broken in self.broken],
        }

    def fingerprint(self) -> str:
        """A hash of the plan: equal plans, and only they, have equal fingerprints."""
        canonical = json.dumps(self.describe(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def plan_library(
    tracks: int,
    *,
    seed: int = 0,
    formats: Sequence[str] = FORMATS,
    broken: int = 0,
    lengths: Lengths = "mixed",
) -> LibraryPlan:
    """Plan ``tracks`` playable files and ``broken`` unplayable ones.

    Tracks come in albums of one to fourteen under ``Artist/Album (Year)/``, numbered;
    most albums share one format and one embedded cover, a few mix formats or have no
    cover, some are compilations, a few files carry no tags at all. Broken files sit among
    the albums, their kinds taken in turn.
    """
    if tracks < 0 or broken < 0:
        raise ValueError("the numbers of tracks and broken files cannot be negative")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(
            f"unknown format {', '.join(unknown)}; choose from {', '.join(FORMATS)}"
            if unknown
            else "no format given"
        )
    if lengths not in LENGTHS:
        raise ValueError(f"lengths is one of {', '.join(LENGTHS)}, not {lengths!r}")
    rng = random.Random(seed)
    chosen = tuple(dict.fromkeys(formats))  # in the order given, once each
    planned: list[TrackPlan] = []
    paths: set[str] = set()
    artists: list[str] = []
    covers = 0
    while len(planned) < tracks:
        size = min(rng.choice(_ALBUM_SIZES), tracks - len(planned))
        if not artists or rng.random() < 0.6:
            artists.append(_artist(rng, artists))
        artist = rng.choice(artists)
        compilation = size >= 4 and rng.random() < 0.1
        year = rng.randint(1958, 2026)
        album = _album(rng)
        cover = None
        if rng.random() < 0.75:
            covers += 1
            cover = _cover(rng, covers)
        album_format = rng.choice(chosen)
        mixed_formats = rng.random() < 0.15
        genre = rng.choice(words.GENRES)
        album_artist = "Various Artists" if compilation else artist
        folder = f"{_segment(album_artist)}/{_segment(f'{album} ({year})')}"
        for number in range(1, size + 1):
            fmt = rng.choice(chosen) if mixed_formats else album_format
            title = _title(rng)
            track_artist = _artist(rng, artists) if compilation else artist
            tags = {
                "title": title,
                "artist": track_artist,
                "album": album,
                "albumartist": album_artist,
                "tracknumber": f"{number}/{size}",
                "genre": genre,
                "date": str(year),
            }
            untagged = rng.random() < 0.04
            name = _unique(paths, f"{folder}/{_segment(f'{number:02d} - {title}')}", fmt)
            planned.append(
                TrackPlan(
                    path=name,
                    format=fmt,
                    seconds=_length(rng, lengths),
                    sample_rate=48000 if fmt == "opus" else rng.choice(_SAMPLE_RATES),
                    channels=1 if rng.random() < 0.15 else 2,
                    tags={} if untagged else tags,
                    cover=None if untagged else cover,
                    tone=_tone(rng),
                )
            )
    folders = sorted({track.path.rsplit("/", 1)[0] for track in planned}) or ["Unsorted"]
    bad = tuple(
        _broken(rng, BROKEN_KINDS[n % len(BROKEN_KINDS)], rng.choice(folders), paths, chosen)
        for n in range(broken)
    )
    return LibraryPlan(seed, lengths, chosen, tuple(planned), bad)


def _artist(rng: random.Random, taken: Sequence[str]) -> str:
    for _ in range(20):
        if rng.random() < 0.15:
            name = rng.choice(words.UNICODE_ARTISTS)
        elif rng.random() < 0.5:
            name = f"The {rng.choice(words.ADJECTIVES)} {rng.choice(words.NOUNS)}"
        else:
            name = f"{rng.choice(words.ADJECTIVES)} {rng.choice(words.NOUNS)}"
        if name not in taken:
            return name
    return f"{name} {len(taken) + 1}"


def _album(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"{rng.choice(words.UNICODE_WORDS)} {rng.choice(words.NOUNS)}"
    return f"{rng.choice(words.NOUNS)} of {rng.choice(words.ADJECTIVES)} {rng.choice(words.NOUNS)}"


def _title(rng: random.Random) -> str:
    first = rng.choice(words.UNICODE_WORDS) if rng.random() < 0.08 else rng.choice(words.ADJECTIVES)
    return f"{first} {rng.choice(words.NOUNS)}{rng.choice(words.TITLE_SUFFIXES)}"


def _cover(rng: random.Random, number: int) -> CoverPlan:
    png = rng.random() < 0.4
    colors = (f"0x{rng.randrange(1 << 24):06x}", f"0x{rng.randrange(1 << 24):06x}")
    return CoverPlan(
        name=f"cover-{number:03d}.{'png' if png else 'jpg'}",
        mime="image/png" if png else "image/jpeg",
        size=rng.choice(_COVER_SIZES),
        colors=colors,
        seed=rng.randrange(1 << 31),
    )


def _length(rng: random.Random, lengths: Lengths) -> float:
    bands = _LENGTH_MIX[lengths]
    low, high = rng.choices([(lo, hi) for _, lo, hi in bands], [w for w, _, _ in bands])[0]
    return round(rng.uniform(low, high), 2)


def _tone(rng: random.Random) -> Tone:
    root = rng.randint(45, 69)  # a MIDI note, A2 to A4
    steps = rng.choice(((0, 4, 7), (0, 3, 7), (0, 5, 7), (0, 7), (0, 4, 7, 11)))
    return Tone(
        frequencies=tuple(round(440 * 2 ** ((root + s - 69) / 12), 2) for s in steps),
        noise=round(rng.uniform(0.0, 0.05), 3),
        tremolo=round(rng.uniform(0.5, 6.0), 2),
        seed=rng.randrange(1 << 31),
    )


def _broken(
    rng: random.Random, kind: BrokenKind, folder: str, paths: set[str], formats: tuple[str, ...]
) -> BrokenPlan:
    fmt = "flac" if kind == "truncated" else rng.choice(formats)
    name = _unique(paths, f"{folder}/{_segment(f'99 - {_title(rng)}')}", fmt)
    if kind == "truncated":  # a real FLAC, its frames cut (the probe tells a cut FLAC)
        source = TrackPlan(name, "flac", 3.0, 44100, 2, {}, None, _tone(rng))
        return BrokenPlan(name, kind, rng.randint(20, 70), rng.randrange(1 << 31), source)
    size = rng.randint(1024, 64 * 1024) if kind == "random" else 0
    return BrokenPlan(name, kind, size, rng.randrange(1 << 31))


def _segment(name: str) -> str:
    """One path segment: no separators or control characters, no leading dot, bounded."""
    cleaned = _UNSAFE.sub("-", name).strip().lstrip(".")
    return cleaned[:_MAX_NAME].rstrip() or "untitled"


def _unique(paths: set[str], stem: str, fmt: str) -> str:
    path, n = f"{stem}.{fmt}", 1
    while path.casefold() in paths:  # case-insensitive file systems too
        n += 1
        path = f"{stem} ({n}).{fmt}"
    paths.add(path.casefold())
    return path
