"""`streamer user set-password | disable | enable` through the real command line, against
a real data directory (SQLite) and a real PostgreSQL database, checked on a running
server: sessions end, sign-ins are refused, the keys a disabled user made stop working."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.postgres import fresh_database
from tests.fixtures.servers import RunningServer, bearer, serve_in_thread

OLD = "the first password"
NEW = "a second password"


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """The --data-dir (and --database-url) every command of the test is given."""
    with ExitStack() as stack:
        args = ["--data-dir", str(tmp_path / "data")]
        if request.param == "postgresql":
            url = stack.enter_context(fresh_database(request.getfixturevalue("postgres_server")))
            args += ["--database-url", url]
        made = _cli("user", "create", "ada", "--role", "admin", "--password-stdin", *args,
                    stdin=OLD + "\n")  # fmt: skip
        assert made.returncode == 0, made.stderr
        yield args


@pytest.fixture
def server(where: list[str]) -> Iterator[RunningServer]:
    url = where[where.index("--database-url") + 1] if "--database-url" in where else None
    settings = Settings.load(
        {}, data_dir=Path(where[1]), database_url=url, workers=1, rate_limit_login="1000/minute"
    )
    with serve_in_thread(settings) as running:
        yield running


def _sign_in(server: RunningServer, password: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/api/v1/auth/login", json={"name": "ada", "password": password}
    )


def _session_works(server: RunningServer, cookies: httpx.Cookies) -> bool:
    with server.client(cookies=cookies) as client:
        return client.get("/api/v1/auth/session").status_code == 200


def test_set_password_from_stdin_replaces_it_and_ends_the_sessions(
    where: list[str], server: RunningServer
) -> None:
    before = _sign_in(server, OLD)
    assert before.status_code == 200
    assert _session_works(server, before.cookies)
    done = _cli("user", "set-password", "ada", "--password-stdin", *where, stdin=NEW + "\n")
    assert done.returncode == 0, done.stderr
    assert "sessions were ended" in done.stderr
    assert done.stdout == ""
    assert not _session_works(server, before.cookies)
    assert _sign_in(server, OLD).status_code == 401
    assert _sign_in(server, NEW).status_code == 200


def test_disable_refuses_sign_in_ends_sessions_and_stops_the_users_keys_until_enabled(
    where: list[str], server: RunningServer
) -> None:
    signed = _sign_in(server, OLD)
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    with server.client(cookies=signed.cookies, headers=csrf) as ada:
        made = ada.post("/api/v1/apikeys", json={"name": "ada's key", "role": "viewer"})
    assert made.status_code == 201, made.text
    key = bearer(made.json()["key"])
    other_key = bearer(server.api_key or "")  # made by the CLI: nobody's

    def key_works(headers: dict[str, str]) -> bool:
        return httpx.get(f"{server.base_url}/api/v1/tracks", headers=headers).status_code == 200

    assert key_works(key)
    disabled = _cli("user", "disable", "ada", *where)
    assert disabled.returncode == 0, disabled.stderr
    assert not _session_works(server, signed.cookies)
    assert _sign_in(server, OLD).status_code == 401
    assert not key_works(key)
    assert key_works(other_key)
    enabled = _cli("user", "enable", "ada", *where)
    assert enabled.returncode == 0, enabled.stderr
    assert _sign_in(server, OLD).status_code == 200
    assert key_works(key)


@pytest.mark.parametrize("command", ["set-password", "disable", "enable"])
def test_an_unknown_user_is_named_in_the_refusal(tmp_path: Path, command: str) -> None:
    extra = ["--password-stdin"] if command == "set-password" else []
    result = _cli("user", command, "nobody", *extra, "--data-dir", str(tmp_path),
                  stdin="a long enough secret\n")  # fmt: skip
    assert result.returncode == 1
    assert "no user named 'nobody'" in result.stderr


def test_the_password_is_never_taken_from_the_command_line(tmp_path: Path) -> None:
    result = _cli("user", "set-password", "ada", "a long enough secret", "--data-dir",
                  str(tmp_path))  # fmt: skip
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def _on_a_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run the CLI with a terminal of its own (getpass reads /dev/tty), typing each
    answer after its prompt; its exit status and everything it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.execv(sys.executable, [sys.executable, "-m", "streamer.cli", *args])
    shown = b""
    pending = list(answers)
    answered = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 1.0)[0]:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed its side: it has exited
                break
            if not chunk:
                break
            shown += chunk
            # A prompt ("password: ", "again: ") shown since the last answer: type the next.
            if pending and shown[answered:].endswith(b": "):
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered = len(shown)
    finally:
        os.close(fd)
        if time.monotonic() >= deadline:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_set_password_asks_twice_on_a_terminal_and_refuses_two_different_answers(
    where: list[str],
) -> None:
    args = ["user", "set-password", "ada", *where]
    code, shown = _on_a_terminal(args, [NEW, NEW + "x"])
    assert code == 2
    assert "the passwords differ" in shown
    code, shown = _on_a_terminal(args, [NEW, NEW])
    assert code == 0, shown
    assert "password: " in shown
    assert "again: " in shown
    assert NEW not in shown  # not echoed
