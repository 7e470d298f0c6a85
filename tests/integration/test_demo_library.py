"""`streamer demo`: a generated library is the same for the same seed, down to the bytes
with one ffmpeg; a scan catalogues its good files with their tags and covers and records
each broken one with a reason."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from streamer.catalogue.scan import ScanReport
from streamer.cli import main
from streamer.demo import FORMATS, MANIFEST, TrackPlan, generate_library, plan_library
from streamer.settings import Settings
from tests.fixtures.servers import scan_roots
from transcoder.probe import probe

# A seed whose ten tracks use every format, both kinds of cover, and one file has no tags.
PLAN = plan_library(10, seed=43, broken=3, lengths="short")
REASONS = {"truncated": "truncated FLAC", "empty": "empty file", "random": ""}


def _digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    generate_library(root, PLAN)
    return root


def test_the_sample_plan_covers_every_format_and_kind_of_cover() -> None:
    assert {t.format for t in PLAN.tracks} == set(FORMATS)
    assert {c.mime for c in PLAN.covers} == {"image/png", "image/jpeg"}
    assert any(not t.tags for t in PLAN.tracks)
    assert {b.kind for b in PLAN.broken} == set(REASONS)


def test_the_plan_is_made_file_for_file(library: Path) -> None:
    made = set(_digests(library))

    assert made == {t.path for t in PLAN.tracks} | {b.path for b in PLAN.broken} | {MANIFEST}


def test_the_same_seed_makes_the_same_bytes(library: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_library(again, plan_library(10, seed=43, broken=3, lengths="short"))

    assert _digests(again) == _digests(library)


def test_another_seed_makes_another_library(library: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_library(other, plan_library(10, seed=1, broken=3, lengths="short"))

    assert set(_digests(other)) != set(_digests(library))


def test_the_manifest_holds_the_plan_and_its_fingerprint(library: Path) -> None:
    manifest = json.loads((library / MANIFEST).read_text(encoding="utf-8"))

    assert manifest["fingerprint"] == PLAN.fingerprint()
    assert manifest["seed"] == PLAN.seed
    assert [t["path"] for t in manifest["tracks"]] == [t.path for t in PLAN.tracks]
    assert manifest["ffmpeg"].startswith("ffmpeg version ")


@pytest.mark.parametrize("track", PLAN.tracks, ids=lambda t: t.format)
def test_each_track_reads_back_with_its_planned_tags_cover_and_length(
    library: Path, track: TrackPlan
) -> None:
    path = library / track.path
    with path.open("rb") as file:
        found = probe(file, path.name, path.stat().st_size)

    planned = track.tags
    assert {key: found.tags.get(key, [""])[0] for key in planned} == planned
    assert (found.cover is not None) == (track.cover is not None)
    if track.format != "m4a":  # ffmpeg's MP4 sample entry says 2 for mono AAC; mutagen reads it
        assert found.channels == track.channels
    assert found.duration == pytest.approx(track.seconds, abs=0.1)


def test_a_scan_catalogues_the_good_files_and_records_the_broken_ones(
    library: Path, tmp_path: Path
) -> None:
    settings = Settings.load({}, data_dir=tmp_path / "data", workers=1)

    (report,) = scan_roots(settings, [str(library)])

    assert isinstance(report, ScanReport)
    assert (report.added, report.failed) == (len(PLAN.tracks), len(PLAN.broken))
    reasons = dict(report.errors)
    assert set(reasons) == {b.path for b in PLAN.broken}
    for broken in PLAN.broken:
        assert reasons[broken.path].startswith(REASONS[broken.kind]), reasons[broken.path]


def test_the_command_generates_resumes_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "lib"
    args = ["demo", str(target), "--tracks", "3", "--seed", "5", "--formats", "mp3,flac"]
    args += ["--broken", "1", "--lengths", "short", "--no-progress"]
    assert main(args) == 0
    first = capsys.readouterr().out
    (next(target.rglob("*.mp3"), None) or next(target.rglob("*.flac"))).unlink()

    assert main(args) == 0

    again = capsys.readouterr().out
    assert re.search(r": 3 tracks \(.*\), 1 broken; 4 made, 0 already there", first), first
    assert "1 made, 3 already there" in again
    assert f"serve it: streamer serve --library {target}" in again


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda d: (d / "song.mp3").write_bytes(b"x"), "is not empty and holds no generated"),
        (lambda d: main(["demo", str(d), "--tracks", "1", "--lengths", "short", "--no-progress"]),
         "holds a library generated with other options (seed 0, 1 tracks)"),
    ],
    ids=["someone's files", "another generated library"],
)  # fmt: skip
def test_the_command_leaves_a_folder_of_other_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prepare: object, message: str
) -> None:
    target = tmp_path / "lib"
    target.mkdir()
    prepare(target)  # type: ignore[operator]
    before = _digests(target)
    capsys.readouterr()

    status = main(["demo", str(target), "--tracks", "2", "--seed", "9", "--no-progress"])

    assert status == 2
    assert message in capsys.readouterr().err
    assert _digests(target) == before


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--formats", "mp3,aiff"], "unknown format aiff; choose from mp3,flac,ogg,opus,m4a,wav"),
        (["--tracks", "-2"], "-2 is negative"),
        (["--broken", "many"], "'many' is not a whole number"),
    ],
)
def test_bad_options_get_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", str(tmp_path / "lib"), *option])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "lib").exists()
