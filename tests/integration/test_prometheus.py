"""Debian's Prometheus scrapes a running `streamer serve` (two workers, Redis) while
listeners and an admin use it: every query of every shipped Grafana panel returns series
(no panel that can never show data), and every shipped alert rule evaluates without error.

Grafana's ``$__rate_interval`` is replaced by one minute: Prometheus scrapes every second
here, so a minute holds all the traffic the test made."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.prometheus import Prometheus, running_prometheus
from tests.fixtures.redis import RedisProcess
from tests.fixtures.servers import (
    ServerProcess,
    admin_key,
    bearer,
    scan_roots,
    serve_in_process,
    transcode_library,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "config" / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"


@dataclass
class Stack:
    server: ServerProcess
    key: str
    library: str
    prometheus: Prometheus


def panel_queries() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return found


def _listen_and_administer(base: str, key: str, library: str) -> None:
    """What listeners, players and an admin do on an ordinary minute."""
    admin = httpx.Client(base_url=base, headers=bearer(key), timeout=30)
    with admin:
        tracks = admin.get("/api/v1/tracks", params={"library": library}).json()["items"]
        admin.post(
            "/api/v1/playlists",
            json={"library_id": library, "name": "Night", "track_ids": [t["id"] for t in tracks]},
        ).raise_for_status()
        meta = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}"
            for k, v in (("filename", "later.flac"), ("library", library))
        )
        created = admin.post(
            "/api/v1/uploads",
            headers={"Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Metadata": meta},
        )
        assert created.status_code == 201, created.text
    for _ in range(3):  # new connections, so both workers answer some
        with httpx.Client(base_url=base, timeout=30) as listener:
            for track in tracks:
                media = f"/media/{track['id']}/original"
                listener.get(media, headers={"Range": "bytes=0-99999"})
                listener.get(media, headers={"Range": "bytes=999999999-"})  # 416
                master = listener.get(f"/hls/{track['id']}/master.m3u8")
                assert master.status_code == 200, master.text
                variants = [line for line in master.text.splitlines() if ".m3u8" in line]
                assert variants, master.text
                rendition = variants[0]
                playlist_url = f"/hls/{track['id']}/{rendition}"
                playlist = listener.get(playlist_url)
                base_path = playlist_url.rsplit("/", 1)[0]
                for line in playlist.text.splitlines():
                    if line and not line.startswith("#"):
                        listener.get(f"{base_path}/{line}").raise_for_status()
                listener.get(f"/hls/ads/{track['id']}/master.m3u8")
            listener.get("/media/nonexistent/original")  # 404
            listener.get("/live/nonexistent/master.m3u8")
            listener.get("/rest/ping", params={"f": "json"})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisProcess) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("prometheus")
    music = base / "music"
    make_audio(music / "one.flac", "flac", 8.0)
    make_audio(music / "two.mp3", "mp3", 6.0, frequency=660)
    data = base / "data"
    settings = Settings.load({}, data_dir=data)
    scan_roots(settings, [str(music)])
    transcode_library(settings, str(music), base / "work")
    key = admin_key(settings)
    env = {
        "STREAMER_REDIS_URL": redis_server.url,
        "STREAMER_RATE_LIMIT_API": "100000/minute",
        "STREAMER_RATE_LIMIT_IP": "100000/minute",
    }
    args = ["--data-dir", str(data), "--workers", "2", "--library", str(music)]
    with serve_in_process(args, base / "serve.log", env=env) as server:
        libraries = httpx.get(f"{server.base_url}/api/v1/libraries", headers=bearer(key))
        library = libraries.json()[0]["id"]
        target = server.base_url.removeprefix("http://")
        with running_prometheus(
            base / "prometheus", job="streamer", targets=[target], rule_files=[ALERTS]
        ) as prometheus:
            _listen_and_administer(server.base_url, key, library)
            yield Stack(server, key, library, prometheus)


def _until_series(prometheus: Prometheus, expr: str, timeout: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        result = prometheus.query(expr)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1.0)


@pytest.mark.parametrize(("panel", "expr"), panel_queries(), ids=[p for p, _ in panel_queries()])
def test_every_dashboard_panel_shows_data(stack: Stack, panel: str, expr: str) -> None:
    concrete = expr.replace("$__rate_interval", "1m")
    assert _until_series(stack.prometheus, concrete), f"{panel}: no series for {concrete}"


def test_every_alert_rule_evaluates_without_error(stack: Stack) -> None:
    deadline = time.monotonic() + 20
    while True:
        rules = stack.prometheus.rules()
        if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules):
            break
        assert time.monotonic() < deadline, "the rules were never evaluated"
        time.sleep(1.0)
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken


def test_a_healthy_stack_fires_no_alert(stack: Stack) -> None:
    firing = [rule["name"] for rule in stack.prometheus.rules() if rule.get("state") == "firing"]
    assert firing == []


def test_the_dependencies_are_reported_up(stack: Stack) -> None:
    found = _until_series(stack.prometheus, 'streamer_dependency_up{job="streamer"}')
    assert {s["metric"]["dependency"] for s in found} == {"database", "redis", "storage"}
    assert {s["value"][1] for s in found} == {"1"}
