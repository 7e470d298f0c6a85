"""A channel played out by two real `streamer serve` processes on one PostgreSQL, in real
time: both answer the same bytes at the same instant with no state shared beyond the
database, and an edit made through one shows on both at the same segment boundary,
leaving what went out before it unchanged.

Three generated tones (15-19 s) are catalogued and transcoded once into the shared
library; neither node runs jobs or scans, so nothing changes under the test but the
channel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import m3u8
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.channels import all_day_entry
from tests.fixtures.servers import (
    ServerProcess,
    admin_key,
    bearer,
    scan_roots,
    serve_in_process,
    transcode_library,
)

pytestmark = [pytest.mark.slow, pytest.mark.ffmpeg]

TONES = {"a.flac": (330, 15.0), "b.flac": (440, 17.0), "c.flac": (550, 19.0)}
EDIT = "d.flac"  # a tone only the edit plays: (frequency, seconds)
EDIT_TONE = (660, 9.0)
RENDITION = "aac_128"


@dataclass
class Nodes:
    a: ServerProcess
    b: ServerProcess
    auth: dict[str, str]
    ids: dict[str, str]  # file name -> track id
    library: str


@pytest.fixture
def nodes(tmp_path: Path, postgres_url: str) -> Iterator[Nodes]:
    folder = tmp_path / "music"
    folder.mkdir()
    for name, (frequency, seconds) in {**TONES, EDIT: EDIT_TONE}.items():
        make_audio(folder / name, "flac", seconds, frequency=frequency, sample_rate=48_000)
    settings = Settings.load({}, data_dir=tmp_path / "prepare", database_url=postgres_url)
    scan_roots(settings, [str(folder)])
    transcode_library(settings, str(folder), tmp_path / "work")
    auth = bearer(admin_key(settings))
    env = {"STREAMER_DATABASE_URL": postgres_url, "STREAMER_JOBS_IN_PROCESS": "false"}
    common = ["--library", str(folder), "--no-scan", "--workers", "1"]
    with (
        serve_in_process(
            [*common, "--data-dir", str(tmp_path / "a")], tmp_path / "a.log", env=env
        ) as a,
        serve_in_process(
            [*common, "--data-dir", str(tmp_path / "b")], tmp_path / "b.log", env=env
        ) as b,
    ):
        tracks = httpx.get(f"{a.base_url}/api/v1/tracks", headers=auth).json()["items"]
        libraries = httpx.get(f"{a.base_url}/api/v1/libraries", headers=auth).json()
        yield Nodes(a, b, auth, {t["path"]: t["id"] for t in tracks}, libraries[0]["id"])


def _playlist(nodes: Nodes, names: list[str]) -> str:
    body = {"library_id": nodes.library, "name": "+".join(names),
            "track_ids": [nodes.ids[n] for n in names]}  # fmt: skip
    created = httpx.post(f"{nodes.a.base_url}/api/v1/playlists", json=body, headers=nodes.auth)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _entry(nodes: Nodes, channel_id: str, playlist: str, priority: int = 0) -> None:
    url = f"{nodes.a.base_url}/api/v1/channels/{channel_id}/entries"
    added = httpx.post(url, json=all_day_entry(playlist, priority), headers=nodes.auth)
    assert added.status_code == 201, added.text


def _both(nodes: Nodes, path: str) -> tuple[httpx.Response, httpx.Response]:
    """``path`` asked of both nodes at once."""
    with ThreadPoolExecutor(2) as pool:
        one, two = pool.map(lambda node: httpx.get(f"{node.base_url}{path}"), (nodes.a, nodes.b))
    return one, two


def _numbered(text: str) -> dict[int, str]:
    """Media sequence number -> segment URI of a window."""
    window = m3u8.loads(text)
    return {window.media_sequence + n: s.uri for n, s in enumerate(window.segments)}


def _track(uri: str) -> str:
    return uri.split("/")[1]  # seg/{track}/{n}.m4s?v=...&t=...


def test_two_processes_play_a_channel_alike_and_see_an_edit_at_the_same_boundary(
    nodes: Nodes,
) -> None:
    tones = _playlist(nodes, list(TONES))
    created = httpx.post(
        f"{nodes.a.base_url}/api/v1/channels",
        json={"name": "Tones", "timezone": "UTC"},
        headers=nodes.auth,
    )
    assert created.status_code == 201, created.text
    channel_id = created.json()["id"]
    _entry(nodes, channel_id, tones)
    media = f"/live/{channel_id}/{RENDITION}/index.m3u8"
    deadline = time.monotonic() + 40
    while {r.status_code for r in _both(nodes, media)} != {200}:
        assert time.monotonic() < deadline, "the channel never went on air on both nodes"
        time.sleep(0.5)

    # The same bytes at the same instant: asked of both at once, ten times over 20 s. A
    # pair may straddle a segment boundary (then its windows differ by that segment).
    same = 0
    for _ in range(10):
        one, two = _both(nodes, media)
        assert one.status_code == two.status_code == 200
        if one.content == two.content:
            assert one.headers["etag"] == two.headers["etag"]
            assert one.headers["last-modified"] == two.headers["last-modified"]
            same += 1
        else:
            assert m3u8.loads(one.text).media_sequence != m3u8.loads(two.text).media_sequence
        time.sleep(2)
    assert same >= 8, same
    master_a, master_b = _both(nodes, f"/live/{channel_id}/master.m3u8")
    assert master_a.content == master_b.content

    # An edit through node A: a playlist of another tone wins the air by priority. Both
    # nodes switch at the same boundary, and nothing that went out before it changes.
    before = _numbered(_both(nodes, media)[0].text)
    edit = nodes.ids[EDIT]
    _entry(nodes, channel_id, _playlist(nodes, [EDIT]), priority=5)
    edited = time.monotonic()
    seen: dict[str, dict[int, str]] = {"a": {}, "b": {}}
    deadline = time.monotonic() + 60
    while not all(edit in map(_track, seen[name].values()) for name in "ab"):
        assert time.monotonic() < deadline, "the edit never went on air on both nodes"
        for name, answer in zip("ab", _both(nodes, media), strict=True):
            seen[name].update(_numbered(answer.text))
        time.sleep(1)
    # Within a boundary or two of the edit settling (5 s) and its first segment going out.
    assert time.monotonic() - edited < 40
    switch = {name: min(n for n, uri in seen[name].items() if _track(uri) == edit) for name in "ab"}
    assert switch["a"] == switch["b"], switch
    assert seen["a"][switch["a"]] == seen["b"][switch["b"]]  # the same segment, same time
    for name in "ab":
        assert all(_track(seen[name][n]) == edit for n in seen[name] if n >= switch[name])
        for number, uri in seen[name].items():
            if number in before:
                assert uri == before[number], (name, number)  # what went out never changes
