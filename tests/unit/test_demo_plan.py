"""The plan of a generated library (streamer.demo.plan): reproducible from its seed, as
varied as a real library, and what the options ask for."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from streamer.demo import BROKEN_KINDS, FORMATS, LibraryPlan, plan_library
from streamer.demo.generate import cover_command, track_command

BIG = plan_library(400, seed=11, broken=9)


def _names_and_tags(plan: LibraryPlan) -> list[tuple[str, str, dict[str, str]]]:
    return [(t.path, t.format, t.tags) for t in plan.tracks]


def test_the_same_seed_gives_the_same_plan() -> None:
    first = plan_library(50, seed=7, broken=4)
    second = plan_library(50, seed=7, broken=4)

    assert first == second
    assert first.fingerprint() == second.fingerprint()


@pytest.mark.parametrize(
    "other",
    [
        {"seed": 8},
        {"tracks": 51},
        {"broken": 5},
        {"formats": ("mp3", "flac")},
        {"lengths": "short"},
    ],
    ids=lambda option: next(iter(option)),
)
def test_any_other_option_gives_another_fingerprint(other: dict[str, object]) -> None:
    options: dict[str, object] = {"tracks": 50, "seed": 7, "broken": 4} | other
    tracks = options.pop("tracks")
    assert isinstance(tracks, int)

    changed = plan_library(tracks, **options)  # type: ignore[arg-type]

    assert changed.fingerprint() != plan_library(50, seed=7, broken=4).fingerprint()


def test_another_seed_names_and_tags_the_files_otherwise() -> None:
    assert _names_and_tags(plan_library(30, seed=1)) != _names_and_tags(plan_library(30, seed=2))


@pytest.mark.parametrize("tracks", [0, 1, 7, 400])
def test_the_plan_has_as_many_tracks_as_asked(tracks: int) -> None:
    assert len(plan_library(tracks, seed=3).tracks) == tracks


def test_every_path_is_unique_even_ignoring_case() -> None:
    paths = [t.path for t in BIG.tracks] + [b.path for b in BIG.broken]

    assert len({p.casefold() for p in paths}) == len(paths)


def test_paths_are_relative_and_safe_on_any_file_system() -> None:
    for path in [t.path for t in BIG.tracks] + [b.path for b in BIG.broken]:
        parts = path.split("/")
        assert not Path(path).is_absolute()
        assert all(part and not part.startswith(".") and len(part) <= 125 for part in parts)
        assert not any(c in path for c in '\\:*?"<>|\x00')


def test_files_sit_in_artist_and_album_folders_with_their_extension() -> None:
    for track in BIG.tracks:
        _artist, _album, name = track.path.split("/")
        assert name.endswith(f".{track.format}")
        if track.tags:
            assert name.startswith(f"{track.tags['tracknumber'].split('/')[0].zfill(2)} - ")


def test_albums_are_numbered_from_one_to_their_size() -> None:
    albums: dict[str, list[str]] = {}
    for track in BIG.tracks:
        albums.setdefault(track.path.rsplit("/", 1)[0], []).append(track.path)
    for folder, paths in albums.items():
        numbers = [int(p.rsplit("/", 1)[1][:2]) for p in paths]
        assert numbers == list(range(1, len(paths) + 1)), folder


def test_a_large_library_is_as_varied_as_a_real_one() -> None:
    tracks = BIG.tracks
    tagged = [t for t in tracks if t.tags]

    assert set(Counter(t.format for t in tracks)) == set(FORMATS)
    assert len({t.tags["artist"] for t in tagged}) >= 10
    assert len({t.tags["album"] for t in tagged}) >= 20
    assert len({t.tags["genre"] for t in tagged}) >= 5
    assert any(t.tags["albumartist"] == "Various Artists" for t in tagged)  # compilations
    assert 0 < len(tagged) < len(tracks)  # a few files carry no tags
    assert any(not t.path.isascii() for t in tracks)
    assert any(unicodedata.category(c) == "So" for t in tagged for c in t.tags["title"])
    assert {c.mime for c in BIG.covers} == {"image/png", "image/jpeg"}
    assert 0 < sum(t.cover is None for t in tracks) < len(tracks) / 2
    assert {t.channels for t in tracks} == {1, 2}
    assert len({t.sample_rate for t in tracks}) >= 3


def test_mixed_lengths_run_from_under_a_second_to_over_half_an_hour() -> None:
    seconds = [t.seconds for t in BIG.tracks]

    assert min(seconds) < 1.0
    assert max(seconds) > 1800
    assert 90 <= sorted(seconds)[len(seconds) // 2] <= 330  # the median: an ordinary song


def test_short_lengths_stay_short() -> None:
    seconds = [t.seconds for t in plan_library(200, seed=5, lengths="short").tracks]

    assert min(seconds) >= 0.2
    assert max(seconds) <= 10


def test_only_the_formats_asked_for_are_used() -> None:
    plan = plan_library(100, seed=4, formats=["opus", "wav"], broken=6)

    assert {t.format for t in plan.tracks} == {"opus", "wav"}
    assert {b.path.rsplit(".", 1)[1] for b in plan.broken if b.kind != "truncated"} <= {
        "opus",
        "wav",
    }


def test_opus_tracks_are_planned_at_48_khz() -> None:
    assert {t.sample_rate for t in BIG.tracks if t.format == "opus"} == {48000}


@pytest.mark.parametrize("broken", [1, 3, 7])
def test_broken_files_take_each_kind_in_turn(broken: int) -> None:
    plan = plan_library(10, seed=2, broken=broken)

    kinds = [b.kind for b in plan.broken]
    assert kinds == [BROKEN_KINDS[n % 3] for n in range(broken)]
    for bad in plan.broken:
        if bad.kind == "truncated":
            assert bad.path.endswith(".flac")
            assert bad.source is not None
            assert 0 < bad.size < 100  # a share of the file kept
        elif bad.kind == "random":
            assert bad.size >= 1024
        else:
            assert bad.size == 0


def test_broken_files_sit_among_the_albums() -> None:
    folders = {t.path.rsplit("/", 1)[0] for t in BIG.tracks}

    assert {b.path.rsplit("/", 1)[0] for b in BIG.broken} <= folders


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tracks": -1}, "cannot be negative"),
        ({"tracks": 1, "broken": -1}, "cannot be negative"),
        ({"tracks": 1, "formats": ["mp3", "aiff"]}, "unknown format aiff"),
        ({"tracks": 1, "formats": []}, "no format given"),
        ({"tracks": 1, "lengths": "epic"}, "lengths is one of short, mixed"),
    ],
)
def test_bad_options_are_refused_with_a_reason(arguments: dict[str, object], message: str) -> None:
    tracks = arguments.pop("tracks")
    with pytest.raises(ValueError, match=message):
        plan_library(tracks, **arguments)  # type: ignore[arg-type]


def test_the_track_command_is_bit_exact_and_encodes_the_planned_stream() -> None:
    track = next(t for t in BIG.tracks if t.format == "m4a")

    command = track_command(track, Path("out.m4a"))

    assert command[-3:] == ["-f", "ipod", "out.m4a"]
    fflags, ac = command.index("-fflags"), command.index("-ac")
    assert command[fflags : fflags + 2] == ["-fflags", "+bitexact"]
    assert command[ac : ac + 4] == ["-ac", str(track.channels), "-ar", str(track.sample_rate)]
    assert sum(arg.startswith("sine=") for arg in command) == len(track.tone.frequencies)
    assert f"d={track.seconds}" in command[command.index("-i") + 1]


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg"])
def test_the_cover_command_draws_one_image_to_stdout(mime: str) -> None:
    cover = next(c for c in BIG.covers if c.mime == mime)

    command = cover_command(cover)

    assert command[-3:] == ["-f", "image2pipe", "-"]
    assert ("png" if mime == "image/png" else "mjpeg") in command
    assert f"s={cover.size}x{cover.size}" in command[command.index("-i") + 1]
