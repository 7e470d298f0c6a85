"""The servers the tests start keep their logs off the console: a passing test prints none
of them, a failing one shows each running server's last lines (tests/fixtures/server_logs.py).
Checked on inner pytest runs, in one process and across pytest-xdist's workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.server_logs import FileLog, LineBuffer

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

# A real server in a thread (its access log) and a log file, as a child process writes it.
WITH_A_SERVER = r"""
import time

import httpx
import pytest

from streamer.db import migrate
from streamer.settings import Settings
from tests.fixtures.server_logs import FileLog, watch_log
from tests.fixtures.servers import serve_in_thread


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = Settings.load({}, data_dir=tmp_path_factory.mktemp("data"), workers=1)
    migrate(settings.effective_database_url)
    with serve_in_thread(settings) as running:
        yield running


@pytest.fixture
def child_log(tmp_path):
    path = tmp_path / "child.log"
    path.write_text("child started\n")
    with watch_log(FileLog(path, "a child process")):
        yield path


def test_passes(server):
    access_log = server.app.access_log.stream
    before = access_log.mark()
    assert httpx.get(server.base_url + "/nothing-passing").status_code == 404
    deadline = time.monotonic() + 30
    while access_log.mark() == before and time.monotonic() < deadline:
        time.sleep(0.05)  # until the line is written (the access log writes in batches)


def test_fails(server, child_log):
    assert httpx.get(server.base_url + "/nothing-failing").status_code == 404
    with child_log.open("a") as log:
        log.write("child saw the request\n")
    assert False, "deliberately"
"""

# The same without a server, in two pytest-xdist workers.
IN_WORKERS = r"""
import pytest

from tests.fixtures.server_logs import LineBuffer, watch_log


@pytest.fixture(scope="module")
def server():
    log = LineBuffer("a server")
    with watch_log(log):
        log.write("started\n")
        yield log


def test_passes(server):
    server.write("GET /nothing-passing 404\n")


def test_fails(server):
    server.write("GET /nothing-failing 404\n")
    assert False, "deliberately"


def test_passes_elsewhere():
    pass
"""


def run_inner(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=source)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest_subprocess(*args, "-p", "tests.fixtures.server_logs")


@pytest.fixture
def inner_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the inner run imports tests.fixtures


@pytest.mark.usefixtures("inner_path")
def test_a_failing_test_shows_the_servers_last_lines_and_a_passing_one_none(
    pytester: pytest.Pytester,
) -> None:
    result = run_inner(pytester, WITH_A_SERVER)

    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "server log: uvicorn in a thread on port" in output
    assert "GET /nothing-failing 404" in output  # the failing test's request
    assert "server log: a child process (call)" in output
    assert "child started\nchild saw the request" in output
    # Nothing of the passing test, which wrote its line before the failing one began.
    assert "nothing-passing" not in output


@pytest.mark.usefixtures("inner_path")
def test_server_logs_reach_the_report_from_xdist_workers(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, IN_WORKERS, "-n", "2")

    result.assert_outcomes(passed=2, failed=1)
    output = result.stdout.str()
    assert "server log: a server (call)" in output
    assert "GET /nothing-failing 404" in output
    assert "nothing-passing" not in output
    assert output.count("server log:") == 1


def test_a_log_file_shows_its_last_lines_since_the_mark(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("before\n")
    log = FileLog(path, "server")
    mark = log.mark()
    with path.open("a") as out:
        out.writelines(f"line {n}\n" for n in range(100))

    shown = log.tail(mark, 3).splitlines()

    assert shown == ["... (97 earlier lines)", "line 97", "line 98", "line 99"]


def test_a_missing_log_file_says_so(tmp_path: Path) -> None:
    log = FileLog(tmp_path / "never.log", "server")

    assert (log.mark(), log.tail(0, 10)) == (0, f"(no log at {tmp_path / 'never.log'})")


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        (["a\nb\n"], ["a", "b"]),
        (["a\nb", "c\n"], ["a", "bc"]),
        (["unfinished"], ["unfinished"]),
        ([], ["(nothing logged during this test; log: an in-memory buffer)"]),
    ],
    ids=["whole-lines", "split-write", "partial-line", "nothing"],
)
def test_a_line_buffer_shows_the_lines_written_since_the_mark(
    writes: list[str], expected: list[str]
) -> None:
    log = LineBuffer("server")
    log.write("before the test\n")
    mark = log.mark()
    for text in writes:
        log.write(text)

    assert log.tail(mark, 10).splitlines() == expected


def test_a_line_buffer_keeps_its_last_lines_only() -> None:
    log = LineBuffer("server", maxlen=5)
    for n in range(20):
        log.write(f"line {n}\n")

    assert log.tail(0, 10).splitlines() == [
        "... (more earlier lines)",
        *(f"line {n}" for n in range(15, 20)),
    ]
