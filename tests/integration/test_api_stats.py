"""/api/v1/stats and /api/v1/stats/storage against `streamer serve` with two worker
processes: request figures and recent 5xx responses are summed over both workers (as
/metrics is), only admins and editors read them, and storage use per library is the sum
of the catalogue's sizes for the libraries the caller may read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio, make_png
from tests.fixtures.servers import ServerProcess, admin_key, bearer, scan_roots, serve_in_process

pytestmark = pytest.mark.slow

Json = dict[str, Any]
MEDIA_ROUTE = "/media/{track_id}/original"
WAVEFORM_ROUTE = "/api/v1/tracks/{track_id}/waveform"


@dataclass
class Node:
    server: ServerProcess
    keys: dict[str, str]  # admin, editor, viewer (read on library "a" only)
    libraries: dict[str, str]  # "a" / "b" -> id
    roots: dict[str, Path]

    def get(self, path: str, key: str = "admin", **params: Any) -> httpx.Response:
        """One request on a new connection (so the workers share the requests)."""
        return httpx.get(
            f"{self.server.base_url}{path}", params=params, headers=bearer(self.keys[key])
        )

    def stats(self, key: str = "admin") -> Json:
        response = self.get("/api/v1/stats", key)
        assert response.status_code == 200, response.text
        stats: Json = response.json()
        return stats

    def tracks(self, side: str) -> list[Json]:
        found = self.get("/api/v1/tracks", library=self.libraries[side], limit=100).json()
        return [self.get(f"/api/v1/tracks/{t['id']}").json() for t in found["items"]]


def _until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """``check()``'s first truthy answer (other workers publish once a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.2)
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    base = tmp_path_factory.mktemp("stats")
    roots = {"a": base / "a", "b": base / "b"}
    make_audio(roots["a"] / "one.mp3", "mp3", 4.0, cover=make_png(), tags={"title": "One"})
    make_audio(roots["a"] / "two.flac", "flac", 3.0, frequency=550)
    make_audio(roots["b"] / "three.wav", "wav", 2.0, frequency=660)
    data = base / "data"
    settings = Settings.load({}, data_dir=data)
    scan_roots(settings, [str(root) for root in roots.values()])
    key = admin_key(settings)
    env = {
        "STREAMER_RATE_LIMIT_API": "100000/minute",
        "STREAMER_RATE_LIMIT_IP": "100000/minute",
        "STREAMER_JOB_POLL_SECONDS": "0.1",
    }
    args = ["--data-dir", str(data), "--workers", "2"]
    for root in roots.values():
        args += ["--library", str(root)]
    with serve_in_process(args, base / "serve.log", env=env) as server:
        admin = httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=15)
        with admin:
            libraries = {
                side: next(
                    lib["id"]
                    for lib in admin.get("/api/v1/libraries").json()
                    if Path(lib["root"]) == root
                )
                for side, root in roots.items()
            }

            def transcoded() -> bool:
                jobs = admin.get("/api/v1/jobs", params={"limit": 100}).json()["items"]
                return len(jobs) == 3 and all(job["status"] == "succeeded" for job in jobs)

            _until(transcoded, "the transcodes", timeout=120)
            keys = {"admin": key}
            for role, grants in (("editor", {libraries["a"]: "write"}), ("viewer", None)):
                scoped = grants or {libraries["a"]: "read"}
                made = admin.post(
                    "/api/v1/apikeys", json={"name": role, "role": role, "libraries": scoped}
                )
                keys[role] = made.json()["key"]
        yield Node(server, keys, libraries, roots)


def _route(stats: Json, route: str) -> Json:
    return next((r for r in stats["routes"] if r["route"] == route), {"requests": 0})


def test_requests_are_counted_by_status_and_route_over_both_workers(node: Node) -> None:
    track = node.tracks("a")[0]
    before = node.stats()
    for _ in range(20):
        assert node.get(f"/media/{track['id']}/original").status_code == 200
    for _ in range(5):
        assert node.get("/media/no-such-track/original").status_code == 404

    def counted() -> Json | None:
        stats = node.stats()
        grown = _route(stats, MEDIA_ROUTE)["requests"] - _route(before, MEDIA_ROUTE)["requests"]
        return stats if grown >= 25 else None

    after = _until(counted, "the media requests in /stats")
    assert after["by_status"]["200"] - before["by_status"].get("200", 0) >= 20
    assert after["by_status"]["404"] - before["by_status"].get("404", 0) >= 5
    assert after["by_class"]["4xx"] >= 5
    assert sum(after["by_class"].values()) == after["requests"] == sum(after["by_status"].values())
    media = _route(after, MEDIA_ROUTE)
    assert media["bytes_sent"] - _route(before, MEDIA_ROUTE).get("bytes_sent", 0) >= (
        20 * track["size"]
    )
    assert 0 < media["p50_seconds"] <= media["p99_seconds"] <= 10
    assert after["in_flight"] >= 1  # the /stats request itself
    assert after["bytes_sent"] >= media["bytes_sent"]
    assert after["routes"] == sorted(after["routes"], key=lambda r: (-r["requests"], r["route"]))


@contextmanager
def _broken_waveform(node: Node, content: bytes) -> Iterator[str]:
    """The URL of a waveform whose stored file holds ``content`` for the test's length."""
    track = next(t for t in node.tracks("a") if "waveform" in t["urls"])
    url = f"/api/v1/tracks/{track['id']}/waveform"
    assert node.get(url).status_code == 200
    stored = list(node.roots["a"].glob(".streamer/**/peaks.json"))
    originals = {path: path.read_bytes() for path in stored}
    for path in stored:
        path.write_bytes(content)
    try:
        assert node.get(url).status_code == 500
        yield url
    finally:
        for path, original in originals.items():
            path.write_bytes(original)


@pytest.fixture
def failing_waveform(node: Node) -> Iterator[str]:
    """A waveform that answers 500 on purpose (the stored file outgrew its 4 MB cap)."""
    with _broken_waveform(node, b" " * (4 * 1024 * 1024 + 1)) as url:
        yield url


@pytest.fixture
def corrupt_waveform(node: Node) -> Iterator[str]:
    """A waveform that answers 500 through a bug's path (its file is not JSON)."""
    with _broken_waveform(node, b"{not json") as url:
        yield url


def _from_both_workers(node: Node, url: str) -> set[str]:
    """Request ids of failing requests, until both workers answered some."""
    made: set[str] = set()
    for _ in range(200):
        made.add(node.get(url).headers["x-request-id"])
        if len({request_id[:8] for request_id in made}) == 2 and len(made) >= 6:
            return made
    raise AssertionError("every request went to one worker")


def _group(node: Node, kind: str, made: set[str]) -> Json:
    def grouped() -> Json | None:
        groups = node.get("/api/v1/stats/errors").json()["groups"]
        found = [g for g in groups if g["type"] == kind and g["request_id"] in made]
        return found[0] if found and found[0]["count"] >= len(made) else None

    found: Json = _until(grouped, f"the {kind} errors grouped over both workers")
    return found


def test_recent_server_errors_of_both_workers_are_listed(node: Node, failing_waveform: str) -> None:
    made: dict[str, str] = {}  # request id -> worker (request ids start with its prefix)
    for _ in range(200):
        response = node.get(failing_waveform)
        assert response.status_code == 500
        request_id = response.headers["x-request-id"]
        made[request_id] = request_id[:8]
        if len(set(made.values())) == 2 and len(made) >= 6:
            break
    assert len(set(made.values())) == 2, "every request went to one worker"

    def listed() -> list[Json] | None:
        recent = node.stats()["recent_errors"]
        return recent if set(made) <= {e["request_id"] for e in recent} else None

    recent = _until(listed, "the 5xx responses in /stats")
    ours = [e for e in recent if e["request_id"] in made]
    assert {e["request_id"][:8] for e in ours} == set(made.values())
    assert {(e["method"], e["route"], e["path"], e["status"]) for e in ours} == {
        ("GET", WAVEFORM_ROUTE, failing_waveform, 500)
    }
    times = [e["at"] for e in recent]
    assert times == sorted(times, reverse=True)
    assert len(recent) <= 50


def test_editors_read_the_stats_without_paths(node: Node, failing_waveform: str) -> None:
    response = node.get(failing_waveform)
    request_id = response.headers["x-request-id"]

    def listed() -> list[Json] | None:
        recent = node.stats("editor")["recent_errors"]
        return recent if request_id in {e["request_id"] for e in recent} else None

    recent = _until(listed, "the 5xx response in the editor's /stats")
    assert all(e["path"] is None for e in recent)
    assert all(e["route"] for e in recent)


def test_viewers_are_refused_the_request_stats(node: Node) -> None:
    response = node.get("/api/v1/stats", "viewer")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "admins and editors" in response.json()["detail"]


def test_storage_is_the_sum_of_the_catalogue_sizes_per_library(node: Node) -> None:
    response = node.get("/api/v1/stats/storage")
    assert response.status_code == 200
    found = {lib["library_id"]: lib for lib in response.json()["libraries"]}
    assert set(found) == set(node.libraries.values())
    for side, library_id in node.libraries.items():
        tracks = node.tracks(side)
        renditions = [r for t in tracks for r in t["renditions"]]
        covers = sum(t["cover"]["size"] or 0 for t in tracks if t["cover"])
        expected = {
            "tracks": len(tracks),
            "originals_bytes": sum(t["size"] for t in tracks),
            "renditions": len(renditions),
            "renditions_bytes": sum(r["size"] for r in renditions),
            "covers_bytes": covers,
        }
        got = found[library_id]
        assert {k: got[k] for k in expected} == expected
        assert got["renditions"] > 0
        assert got["derived_bytes"] == got["renditions_bytes"] + got["covers_bytes"]
        assert got["total_bytes"] == got["originals_bytes"] + got["derived_bytes"]
    assert found[node.libraries["a"]]["covers_bytes"] > 0


def test_storage_lists_only_the_libraries_the_caller_may_read(node: Node) -> None:
    response = node.get("/api/v1/stats/storage", "viewer")
    assert response.status_code == 200
    assert [lib["library_id"] for lib in response.json()["libraries"]] == [node.libraries["a"]]


def test_an_exception_is_grouped_by_its_type_and_the_function_it_came_from(
    node: Node, corrupt_waveform: str
) -> None:
    made = _from_both_workers(node, corrupt_waveform)
    group = _group(node, "json.decoder.JSONDecodeError", made)
    assert group["place"] == "streamer.routes.api.get_waveform"
    assert group["where"].startswith("streamer/routes/api.py:")
    assert (
        group["message"]
        == "Expecting property name enclosed in double quotes: line # column # (char #)"
    )
    assert group["first_seen"] <= group["last_seen"]
    # The 500 answers these requests got are the exception's, not a second group.
    groups = node.get("/api/v1/stats/errors").json()["groups"]
    assert not [g for g in groups if g["type"] == "HTTP 500" and g["request_id"] in made]


def test_a_server_error_without_an_exception_is_grouped_by_status_and_route(
    node: Node, failing_waveform: str
) -> None:
    made = _from_both_workers(node, failing_waveform)
    group = _group(node, "HTTP 500", made)
    assert group["place"] == WAVEFORM_ROUTE


def test_editors_see_error_groups_without_messages_or_positions(
    node: Node, failing_waveform: str
) -> None:
    made = {node.get(failing_waveform).headers["x-request-id"]}
    _group(node, "HTTP 500", made)
    groups = node.get("/api/v1/stats/errors", "editor").json()["groups"]
    assert groups
    assert all(g["message"] is None and g["where"] is None for g in groups)
    assert node.get("/api/v1/stats/errors", "viewer").status_code == 403


def test_an_answered_error_is_logged_once_and_keeps_the_connection(
    node: Node, corrupt_waveform: str
) -> None:
    with httpx.Client(base_url=node.server.base_url, headers=bearer(node.keys["admin"])) as one:
        ids = []
        for _ in range(3):  # one keep-alive connection throughout
            answer = one.get(corrupt_waveform)
            assert answer.status_code == 500
            ids.append(answer.headers["x-request-id"])
    _until(lambda: all(i in node.server.logs() for i in ids), "the errors' log lines")
    log = node.server.logs()
    assert "Exception in ASGI application" not in log
    for request_id in ids:
        lines = [line for line in log.splitlines() if request_id in line]
        errors = [line for line in lines if '"level": "error"' in line]
        assert len(errors) == 1, lines  # the handler's "unhandled error", with its traceback
