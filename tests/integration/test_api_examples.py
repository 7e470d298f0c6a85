"""The API examples of docs/api-guide.md (docs/examples/api.sh, api.py, api.mjs) run as a
reader would run them, against a real server with two transcoded tracks: with URL signing
off and on, and the shell one also without jq (its python3 fallback).

Each must exit 0 and print its scenario step by step: the requests in order with the
statuses they got (a stale If-Match refused with 412 as problem+json, the HLS master
fetched, the playlist deleted), and leave no playlist behind. With a wrong key each must
exit non-zero, saying what it got.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import (
    RunningServer,
    admin_key,
    scan_roots,
    serve_in_thread,
    transcode_library,
)

pytestmark = pytest.mark.slow  # two tracks transcoded, two servers, a dozen runs

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
RUN_TIMEOUT = 60.0
SIGNING_SECRET = "an example signing secret, 32+ characters"

# A step of an example's output: "PATCH /api/v1/playlists/{id} (If-Match: "1") -> 200: ..."
STEP = re.compile(r'^(GET|POST|PATCH|DELETE) (\S+)(?: \(If-Match: "(\d+)"\))? -> (\d{3})\b')


def _tool(name: str, why: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is needed to run {why} (install it; the tests skip nothing)"
    return found


@dataclass
class Served:
    server: RunningServer
    key: str  # an editor's key, as an integration would be given
    library: str
    tracks: list[str]  # the first two playable tracks by title, as the examples pick them
    signed: bool


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue of two short tracks, transcoded, shared by both servers."""
    folder = tmp_path_factory.mktemp("examples-library")
    for name, frequency in (("First", 440), ("Second", 660)):
        make_audio(
            folder / f"{name.lower()}.flac",
            "flac",
            3.0,
            tags={"title": name, "artist": "Examples"},
            frequency=frequency,
        )
    data = tmp_path_factory.mktemp("examples-data")
    settings = Settings.load({}, data_dir=data)
    scan_roots(settings, [str(folder)])
    transcode_library(settings, str(folder), data / "work")
    return data


@pytest.fixture(scope="module", params=["signing off", "signing on"])
def served(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Served]:
    signed = request.param == "signing on"
    extra = {"url_signing_secret": SIGNING_SECRET} if signed else {}
    settings = Settings.load({}, data_dir=data_dir, **extra)  # type: ignore[arg-type]
    key = admin_key(settings, role="editor", name="examples")
    with serve_in_thread(settings) as server, server.api() as client:
        library = client.get("/api/v1/libraries").json()[0]["id"]
        query = {"library": library, "status": "ok", "sort": "title", "limit": 2}
        tracks = [t["id"] for t in client.get("/api/v1/tracks", params=query).json()["items"]]
        assert len(tracks) == 2
        yield Served(server, key, library, tracks, signed)


@pytest.fixture(scope="module")
def python3_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose python3 is this interpreter: api.sh's fallback without jq runs it."""
    folder = tmp_path_factory.mktemp("python3-shim")
    (folder / "python3").symlink_to(sys.executable)
    return folder


@pytest.fixture(scope="module")
def path_without_jq(tmp_path_factory: pytest.TempPathFactory, python3_shim: Path) -> str:
    """A PATH with every command of this one except jq."""
    folder = tmp_path_factory.mktemp("no-jq")
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = folder / entry.name
            if entry.name != "jq" and not target.exists() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    assert shutil.which("jq", path=str(folder)) is None
    return os.pathsep.join([str(python3_shim), str(folder)])


EXAMPLE_NAMES = ["api.sh", "api.sh without jq", "api.py", "api.mjs"]


def _command(name: str) -> list[str]:
    if name.startswith("api.sh"):
        _tool("curl", "docs/examples/api.sh")
        return [_tool("bash", "docs/examples/api.sh"), str(EXAMPLES / "api.sh")]
    if name == "api.py":
        return [sys.executable, str(EXAMPLES / "api.py")]
    node = _tool("node", "docs/examples/api.mjs (Node 18 or newer, for fetch)")
    return [node, str(EXAMPLES / "api.mjs")]


def _run(
    name: str, base_url: str, key: str, python3_shim: Path, path_without_jq: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STREAMER_URL": base_url,
        "STREAMER_API_KEY": key,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if name == "api.sh without jq":
        env["PATH"] = path_without_jq
    elif name == "api.sh":
        env["PATH"] = os.pathsep.join([str(python3_shim), env.get("PATH", "")])
    return subprocess.run(
        _command(name),
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_example_runs_its_scenario(
    name: str, served: Served, python3_shim: Path, path_without_jq: str
) -> None:
    done = _run(name, served.server.base_url, served.key, python3_shim, path_without_jq)
    report = f"{name} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, report
    assert done.stderr == "", report
    lines = done.stdout.splitlines()
    assert lines[-1] == "done", report

    created = re.search(r"^POST /api/v1/playlists -> 201: playlist (\w+) ", done.stdout, re.M)
    assert created is not None, report
    playlist = f"/api/v1/playlists/{created[1]}"
    steps = [match.groups() for line in lines if (match := STEP.match(line))]
    assert steps == [
        ("GET", "/api/v1/libraries", None, "200"),
        ("GET", "/api/v1/tracks", None, "200"),
        ("POST", "/api/v1/playlists", None, "201"),
        ("GET", playlist, None, "200"),
        ("PATCH", playlist, "1", "200"),
        ("PATCH", playlist, "1", "412"),
        ("GET", f"{playlist}/signed", None, "200" if served.signed else "409"),
        ("GET", f"/hls/playlists/{created[1]}/master.m3u8", None, "200"),
        ("DELETE", playlist, "2", "204"),
        ("GET", playlist, None, "404"),
    ], report

    assert f"first library {served.library}" in done.stdout, report
    assert f"using {served.tracks[0]} and {served.tracks[1]}" in done.stdout, report
    assert '-> 200: "API example", 2 items, ETag "1"' in done.stdout, report
    assert '-> 200: renamed, ETag "2"' in done.stdout, report
    refused = next(line for line in lines if STEP.match(line) and " -> 412 " in line)
    assert "-> 412 application/problem+json: Precondition Failed: " in refused, report
    assert refused.endswith('(current ETag "2")'), report
    # The master playlist's first lines, indented, after the HLS step.
    hls = next(n for n, line in enumerate(lines) if "/master.m3u8 -> 200" in line)
    assert "application/vnd.apple.mpegurl" in lines[hls], report
    assert lines[hls + 1] == "  #EXTM3U", report
    assert any(line.startswith("  #EXT-X-STREAM-INF:") for line in lines[hls + 1 : hls + 5])
    assert f"{playlist} -> 404: no such playlist" in done.stdout, report

    with served.server.client(headers={"Authorization": f"Bearer {served.key}"}) as client:
        left = client.get("/api/v1/playlists").json()
    assert left["total"] == 0, f"{name} left playlists behind: {left['items']}"


@pytest.mark.parametrize("name", ["api.sh", "api.py", "api.mjs"])
def test_the_example_fails_on_an_unexpected_answer(
    name: str, served: Served, python3_shim: Path, path_without_jq: str
) -> None:
    done = _run(name, served.server.base_url, "stk_not_a_key", python3_shim, path_without_jq)
    report = f"{name} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 1, report
    assert "unexpected: GET /api/v1/libraries answered 401, not 200" in done.stderr, report
    assert "the API key is unknown, revoked or expired" in done.stderr, report
    assert "done" not in done.stdout.splitlines(), report
