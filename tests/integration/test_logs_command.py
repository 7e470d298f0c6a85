"""`streamer logs FILE` on a log the server's own code wrote: access lines from a real
server's access log (streamer.access_log), error lines from streamer.logs' JSON formatter
on a logged exception, and a line of something else."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, TextIO, cast

import httpx
import pytest

from streamer.logs import JSONFormatter, request_id_var
from streamer.settings import Settings
from tests.fixtures.servers import serve_in_thread

STREAMER = Path(sys.executable).with_name("streamer")

HEALTHZ = 5
MISSING = 3  # requests for a track that is not there: 404


def _raise_missing_track(track: int) -> None:
    raise LookupError(f"no track {track}")


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    path = folder / "streamer.log"
    settings = Settings.load({}, data_dir=folder / "data")
    with path.open("w", encoding="utf-8") as stream:
        stream.write("uvicorn says something that is not JSON\n")
        with serve_in_thread(settings) as server:
            assert server.app is not None
            assert server.app.access_log is not None
            access_log = server.app.access_log
            access_log.stream = cast(TextIO, stream)
            with httpx.Client(base_url=server.base_url) as client:
                for n in range(HEALTHZ):
                    client.get("/healthz", headers={"X-Request-ID": f"health-{n}"})
                for n in range(MISSING):
                    client.get(f"/media/{n}/original", headers={"X-Request-ID": f"miss-{n}"})
            access_log.flush()
            access_log.stream = None
        _log_errors(stream)
    return path


def _log_errors(stream: TextIO) -> None:
    """Two errors of one kind, logged with their exception inside a request, as the API's
    error handler does (streamer.routes.api_common)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tests.logs_command")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(2):
            token = request_id_var.set(f"err-{n}")
            try:
                _raise_missing_track(n)
            except LookupError:
                logger.exception("unhandled error in GET /api/v1/tracks/%d", n)
            finally:
                request_id_var.reset(token)
    finally:
        logger.removeHandler(handler)


def streamer_logs(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STREAMER), "logs", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def as_json(log: Path, *args: str) -> dict[str, Any]:
    result = streamer_logs(str(log), "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_json_counts_every_request_and_skips_the_line_that_is_not_json(log_file: Path) -> None:
    report = as_json(log_file)
    assert report["requests"] == HEALTHZ + MISSING
    assert report["skipped"] == 1
    assert report["error_lines"] == 2


def test_json_gives_the_status_mix(log_file: Path) -> None:
    report = as_json(log_file)
    assert report["status_classes"] == {"2xx": HEALTHZ, "4xx": MISSING}
    assert report["top_statuses"] == [
        {"status": 200, "count": HEALTHZ},
        {"status": 404, "count": MISSING},
    ]


def test_json_times_requests_by_route_template(log_file: Path) -> None:
    routes = {route["route"]: route for route in as_json(log_file)["slowest_routes"]}
    assert routes["/healthz"]["count"] == HEALTHZ
    assert routes["/media/{track_id}/original"]["count"] == MISSING
    for route in routes.values():
        assert 0 <= route["p50_ms"] <= route["p95_ms"] <= route["p99_ms"] <= route["max_ms"]


def test_json_groups_the_logged_exceptions(log_file: Path) -> None:
    [error] = as_json(log_file)["top_errors"]
    assert (error["type"], error["message"], error["count"]) == ("LookupError", "no track <n>", 2)
    raised_at = _raise_missing_track.__code__.co_firstlineno + 1
    assert error["place"].endswith(f"{Path(__file__).name}:{raised_at} in _raise_missing_track")
    assert error["sample_request_id"] == "err-0"
    assert error["first_seen"] <= error["last_seen"]


def test_json_counts_the_requests_in_time_buckets(log_file: Path) -> None:
    report = as_json(log_file, "--bucket", "5m")
    assert report["bucket_seconds"] == 300
    assert sum(bucket["requests"] for bucket in report["buckets"]) == HEALTHZ + MISSING


def test_text_names_the_sections_routes_and_errors(log_file: Path) -> None:
    result = streamer_logs(str(log_file))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"{HEALTHZ + MISSING} requests, 2 error lines" in text
    assert "1 skipped (not JSON log lines)" in text
    for heading in ("Status mix", "Slowest routes", "Top errors", "Requests per 1m"):
        assert heading in text
    assert "/media/{track_id}/original" in text
    assert "2 x LookupError: no track <n>" in text
    assert "request err-0" in text


def test_stdin_is_read_for_a_dash(log_file: Path) -> None:
    result = streamer_logs("-", "--format", "json", stdin=log_file.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["requests"] == HEALTHZ + MISSING


def test_lines_outside_since_and_until_are_left_out(log_file: Path) -> None:
    report = as_json(log_file, "--since", "2999-01-01T00:00:00Z")
    assert report["requests"] == 0
    assert report["filtered"] == HEALTHZ + MISSING + 2


def test_a_file_that_cannot_be_read_exits_2_with_one_line(tmp_path: Path) -> None:
    result = streamer_logs(str(tmp_path / "missing.log"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("streamer: cannot read")
    assert len(result.stderr.splitlines()) == 1


def test_a_bad_instant_is_refused_by_the_parser(log_file: Path) -> None:
    result = streamer_logs(str(log_file), "--since", "last tuesday")
    assert result.returncode == 2
    assert "not an ISO 8601 instant" in result.stderr


def test_a_rotated_gzip_log_is_read_as_text(log_file: Path, tmp_path: Path) -> None:
    rotated = tmp_path / "streamer.log.1.gz"
    rotated.write_bytes(gzip.compress(log_file.read_bytes()))
    assert as_json(rotated)["requests"] == HEALTHZ + MISSING
