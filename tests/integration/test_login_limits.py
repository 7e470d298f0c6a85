"""Rate limits against `streamer serve` with two worker processes and a new connection
per request: the workers count together (in data_dir/ratelimits.db, or in Redis), and a
stranger guessing from one address neither gets more tries than the limit nor keeps the
owner, at another address, from signing in (streamer.auth.login_rule)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import ServerProcess, admin_key, bearer, serve_in_process

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
STRANGER = "127.0.0.1"
OWNER = "127.0.0.2"  # loopback is a /8: a second client address without a proxy


@dataclass
class Node:
    server: ServerProcess
    key: str  # an admin API key

    def post(self, path: str, json: object, *, source: str = STRANGER) -> httpx.Response:
        """One request from ``source`` on a new connection (so both workers take some)."""
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(base_url=self.server.base_url, transport=transport, timeout=15) as c:
            return c.post(path, json=json)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.server.base_url}{path}", headers=bearer(self.key), timeout=15)


@pytest.fixture(params=["sqlite file", "redis"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    data = tmp_path / "data"
    made = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "user", "create", "ada", "--role", "admin",
         "--password-stdin", "--data-dir", str(data)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    from streamer.settings import Settings

    key = admin_key(Settings.load({}, data_dir=data))
    env = {"STREAMER_RATE_LIMIT_LOGIN": "4/minute", "STREAMER_RATE_LIMIT_API": "5/minute"}
    if request.param == "redis":
        env["STREAMER_REDIS_URL"] = request.getfixturevalue("redis_url")
    args = ["--no-scan", "--workers", "2", "--data-dir", str(data)]
    with serve_in_process(args, tmp_path / "serve.log", env=env) as server:
        yield Node(server, key)


def test_a_stranger_gets_only_the_limit_across_workers_and_the_owner_still_signs_in(
    node: Node,
) -> None:
    wrong = {"name": "ada", "password": "a wrong guess"}
    statuses = [node.post("/api/v1/auth/login", wrong).status_code for _ in range(25)]
    # 4 a minute per address, counted by both workers together.
    assert statuses == [401] * 4 + [429] * 21
    refused = node.post("/api/v1/auth/login", wrong)
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "from this address" in refused.json()["detail"]
    # The right password from the stranger's address waits too...
    right = {"name": "ada", "password": PASSWORD}
    assert node.post("/api/v1/auth/login", right).status_code == 429
    # ...but the owner, elsewhere, is not locked out by the stranger's failures.
    signed_in = node.post("/api/v1/auth/login", right, source=OWNER)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["name"] == "ada"


def test_api_limits_are_counted_by_both_workers_together(node: Node) -> None:
    statuses = [node.get("/api/v1/libraries").status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
