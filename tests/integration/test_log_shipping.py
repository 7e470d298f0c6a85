"""Log shipping with rsyslog: Debian's rsyslogd runs config/rsyslog/streamer.conf (its
paths moved into a temporary folder) against the log of a real `streamer serve`, and
the shipped file holds each request's lines as parsed JSON: the request id and route
rendered from mmjsonparse's variables, the whole line as an object with its numbers
still numbers.

rsyslogd runs in the foreground (-n) with its own work directory and no system input
(no /dev/log, no kernel log: the configuration loads imfile and mmjsonparse only), and
is stopped by its PID."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.server_logs import FileLog, watch_log
from tests.fixtures.servers import ServerProcess, admin_key, bearer, serve_in_process, stop_process

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONF = ROOT / "config" / "rsyslog" / "streamer.conf"
# The paths the shipped configuration names, each replaced by one in the test's folder.
SERVER_LOG = "/var/log/streamer/streamer.log"
SHIPPED = "/var/log/streamer/shipped.json"
UNPARSED = "/var/log/streamer/unparsed.log"

LIST_ID = "shipping-test.list-tracks:1"
MISSING_ID = "shipping-test.missing-track:2"
MISSING_PATH = '/media/ça-va "quoted"/original'


def _rsyslogd() -> str:
    found = shutil.which("rsyslogd") or shutil.which("rsyslogd", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(
            "the test needs rsyslogd: `make test` installs Debian's rsyslog package "
            "(scripts/test-services), or run: apt-get install rsyslog"
        )
    return found


def _loaded_modules(conf: str) -> set[str]:
    active = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    return set(re.findall(r'module\(\s*load="([^"]+)"', active))


def derive_config(work: Path, server_log: Path) -> tuple[Path, Path, Path]:
    """The shipped configuration with its files in ``work``, and a work directory: the
    test configuration, the shipped file and the unparsed file."""
    conf = SHIPPED_CONF.read_text()
    # What it loads is what it needs: nothing that opens a system socket or the kernel log.
    assert _loaded_modules(conf) == {"imfile", "mmjsonparse"}
    shipped, unparsed = work / "shipped.json", work / "unparsed.log"
    for original, moved in ((SERVER_LOG, server_log), (SHIPPED, shipped), (UNPARSED, unparsed)):
        assert conf.count(f'"{original}"') == 1, f"{SHIPPED_CONF} should name {original} once"
        conf = conf.replace(f'"{original}"', f'"{moved}"')
    state = work / "state"
    state.mkdir()
    header = f'global(workDirectory="{state}" maxMessageSize="64k")\n'
    path = work / "rsyslog.conf"
    path.write_text(header + conf)
    return path, shipped, unparsed


@dataclass
class Rsyslog:
    process: subprocess.Popen[bytes]
    pidfile: Path
    shipped: Path
    unparsed: Path

    def shipped_lines(self) -> list[dict[str, Any]]:
        if not self.shipped.exists():
            return []
        text = self.shipped.read_text(encoding="utf-8")
        # Only whole lines: rsyslog may be half way through writing the last one.
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


@contextmanager
def running_rsyslogd(work: Path, server_log: Path) -> Iterator[Rsyslog]:
    conf, shipped, unparsed = derive_config(work, server_log)
    binary = _rsyslogd()
    check = subprocess.run(
        [binary, "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stderr
    pidfile = work / "rsyslogd.pid"
    log = work / "rsyslogd.log"
    with log.open("wb") as sink, watch_log(FileLog(log, "rsyslogd")):
        process = subprocess.Popen(
            [binary, "-n", "-f", str(conf), "-i", str(pidfile)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 10
            while not (pidfile.exists() and pidfile.read_text().strip()):
                assert process.poll() is None, f"rsyslogd exited with {process.returncode}"
                assert time.monotonic() < deadline, "rsyslogd wrote no PID file"
                time.sleep(0.05)
            # -n: it does not fork, so the PID it records is the one started here.
            assert int(pidfile.read_text()) == process.pid
            yield Rsyslog(process, pidfile, shipped, unparsed)
        finally:
            stop_process(process)


def _server_lines(server: ServerProcess) -> list[dict[str, Any]]:
    lines = []
    for line in server.logs().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    return lines


def _until(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, f"after {timeout} s: {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("log-shipping")
    data = base / "data"
    key = admin_key(Settings.load({}, data_dir=data))
    with serve_in_process(
        ["--data-dir", str(data), "--workers", "1"], base / "streamer.log"
    ) as running:
        with httpx.Client(base_url=running.base_url, timeout=30) as client:
            listed = client.get("/api/v1/tracks", headers={**bearer(key), "X-Request-Id": LIST_ID})
            assert listed.status_code == 200, listed.text
            assert listed.headers["x-request-id"] == LIST_ID
            missing = client.get(MISSING_PATH, headers={"X-Request-Id": MISSING_ID})
            assert missing.status_code == 404
            client.get("/healthz").raise_for_status()
        # The access log is written in batches (at most 0.5 s later).
        _until(
            lambda: {MISSING_ID, LIST_ID} <= {e.get("request_id") for e in _server_lines(running)},
            "the server logged both requests",
        )
        yield running


def test_rsyslog_ships_each_request_as_parsed_json(server: ServerProcess, tmp_path: Path) -> None:
    before = _server_lines(server)
    with running_rsyslogd(tmp_path, server.log) as rsyslog:
        _until(
            lambda: any(s["request_id"] == LIST_ID for s in rsyslog.shipped_lines()),
            f"rsyslog shipped the lines of request {LIST_ID}",
        )
        # Everything the server had logged before rsyslog started, not only the requests.
        shipped = _until(
            lambda: len(lines := rsyslog.shipped_lines()) >= len(before) and lines,
            f"rsyslog shipped the {len(before)} JSON lines logged before it started",
        )
    assert rsyslog.process.returncode == 0  # it stopped on SIGTERM, cleanly

    by_request = {s["request_id"]: s for s in shipped if s["request_id"]}
    listed = by_request[LIST_ID]
    # Rendered from mmjsonparse's $!request_id and $!route: the line was parsed.
    assert listed["route"] == "/api/v1/tracks"
    assert listed["service"] == "streamer"
    assert listed["host"]
    # The whole line as an object: numbers stay numbers, the time is the server's.
    assert listed["log"]["status"] == 200
    assert isinstance(listed["log"]["ms"], float)
    assert listed["log"]["logger"] == "streamer.access"
    assert listed["@timestamp"] == listed["log"]["ts"]

    missing = by_request[MISSING_ID]
    assert missing["route"] == "/media/{track_id}/original"
    assert missing["log"]["status"] == 404
    # Escaping survives the trip: quotes, spaces and non-ASCII characters in the path.
    server_entry = next(e for e in before if e.get("request_id") == MISSING_ID)
    assert missing["log"]["path"] == server_entry["path"]
    assert missing["log"]["path"].startswith("/media/ça-va")

    # Every line of those requests, and each logged line exactly as the server wrote it.
    for request_id in (LIST_ID, MISSING_ID):
        wrote = [e for e in before if e.get("request_id") == request_id]
        got = [s["log"] for s in shipped if s["request_id"] == request_id]
        assert got == wrote
    assert [s["log"] for s in shipped[: len(before)]] == before
    # Lines outside a request carry an empty request id and route.
    assert any(s["request_id"] == "" and s["route"] == "" for s in shipped)


def test_lines_that_are_not_json_are_kept_apart(tmp_path: Path) -> None:
    log = tmp_path / "streamer.log"
    entry = {"ts": "2026-01-01T00:00:00.000Z", "level": "info", "msg": "ok", "request_id": "r-1"}
    log.write_text(f"{json.dumps(entry)}\nTraceback (most recent call last):\n")
    with running_rsyslogd(tmp_path, log) as rsyslog:
        _until(lambda: rsyslog.unparsed.exists() and rsyslog.unparsed.read_text(), "unparsed")
        shipped = _until(rsyslog.shipped_lines, "the JSON line shipped")
    assert [s["log"] for s in shipped] == [entry]
    assert "Traceback (most recent call last):" in rsyslog.unparsed.read_text()
