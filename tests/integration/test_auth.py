"""Signing in: passwords, cookie sessions, CSRF, TOTP and recovery codes, throttled
logins, expiry, revocation, and one audit entry per change, over real HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, select, update

from streamer.db import AuditEntry, Database, UserSession
from streamer.db.models import utcnow
from streamer.settings import Settings
from tests.fixtures.postgres import fresh_database
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    audio_samples: dict[str, Path],
) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("auth")
    library = root / "library"
    library.mkdir()
    shutil.copy(audio_samples["mp3"], library / "a.mp3")
    with ExitStack() as stack:
        database_url = None
        if request.param == "postgresql":
            postgres = request.getfixturevalue("postgres_server")
            database_url = stack.enter_context(fresh_database(postgres))
        # Generous limits: the throttling test runs its own server.
        settings = Settings.load(
            {}, data_dir=root / "data", workers=1, rate_limit_login="1000/minute",
            database_url=database_url,
        )  # fmt: skip
        scan_roots(settings, [str(library)])
        yield stack.enter_context(serve_in_thread(settings))


_names = iter(range(10_000))


def make_user(server: RunningServer, role: str = "editor", **extra: Any) -> dict[str, Any]:
    with server.api() as admin:
        library = admin.get("/api/v1/libraries").json()[0]["id"]
        body = {
            "name": f"user{next(_names)}",
            "password": PASSWORD,
            "role": role,
            "libraries": {library: "write"},
            **extra,
        }
        response = admin.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "password": PASSWORD, "library": library}


def login(server: RunningServer, user: dict[str, Any]) -> tuple[httpx.Client, dict[str, Any]]:
    client = server.client()
    response = client.post(
        "/api/v1/auth/login", json={"name": user["name"], "password": user["password"]}
    )
    assert response.status_code == 200, response.text
    return client, response.json()


def audit_count(server: RunningServer, **where: str) -> int:
    async def count() -> int:
        db = Database(server.settings.effective_database_url)
        try:
            query = select(func.count()).select_from(AuditEntry)
            for column, value in where.items():
                query = query.where(getattr(AuditEntry, column) == value)
            async with db.session() as session:
                return int(await session.scalar(query) or 0)
        finally:
            await db.dispose()

    return asyncio.run(count())


def run_sql(server: RunningServer, statement: Any) -> None:
    async def execute() -> None:
        db = Database(server.settings.effective_database_url)
        try:
            async with db.session() as session, session.begin():
                await session.execute(statement)
        finally:
            await db.dispose()

    asyncio.run(execute())


def test_nothing_in_the_api_answers_without_credentials(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/api/v1/tracks")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("password", ["wrong password!", ""])
def test_a_wrong_password_is_refused_without_saying_which_part(
    server: RunningServer, password: str
) -> None:
    user = make_user(server)
    for name in (user["name"], "nobody-at-all"):
        response = httpx.post(
            f"{server.base_url}/api/v1/auth/login", json={"name": name, "password": password}
        )
        assert response.status_code in (401, 422)
        if response.status_code == 401:
            assert response.json()["detail"] == "wrong name or password"


def test_a_session_cookie_is_httponly_lax_and_opens_the_api(server: RunningServer) -> None:
    user = make_user(server)
    client, session = login(server, user)
    with closing(client):
        cookie = client.cookies.jar
        assert [c.name for c in cookie] == ["streamer_session"]
        raw = client.post(
            "/api/v1/auth/login", json={"name": user["name"], "password": PASSWORD}
        ).headers["set-cookie"]
        assert "HttpOnly" in raw
        assert "SameSite=lax" in raw
        assert "Secure" not in raw
        assert client.get("/api/v1/tracks").status_code == 200
        assert session["role"] == "editor"
        assert session["csrf_token"]


def test_each_login_issues_a_new_session_id(server: RunningServer) -> None:
    user = make_user(server)
    client, _ = login(server, user)
    with closing(client):
        first = client.cookies["streamer_session"]
        client.post("/api/v1/auth/login", json={"name": user["name"], "password": PASSWORD})
        second = client.cookies["streamer_session"]
        assert first != second
        stale = httpx.get(f"{server.base_url}/api/v1/tracks", cookies={"streamer_session": first})
        assert stale.status_code == 401


def test_cookie_writes_need_the_csrf_token(server: RunningServer) -> None:
    user = make_user(server)
    client, session = login(server, user)
    track = client.get("/api/v1/tracks").json()["items"][0]["id"]
    with closing(client):
        body = {"track_id": track}
        forged = client.post("/api/v1/jobs", json=body)
        assert forged.status_code == 403
        assert "CSRF" in forged.json()["detail"]
        wrong = client.post("/api/v1/jobs", json=body, headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        cross = client.post(
            "/api/v1/jobs",
            json=body,
            headers={"X-CSRF-Token": session["csrf_token"], "Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        good = client.post(
            "/api/v1/jobs", json=body, headers={"X-CSRF-Token": session["csrf_token"]}
        )
        assert good.status_code in (200, 201, 409)


def test_api_key_writes_need_no_csrf_token(server: RunningServer) -> None:
    with server.api() as admin:
        track = admin.get("/api/v1/tracks").json()["items"][0]["id"]
        assert admin.post("/api/v1/cache/purge", json={"track_id": track}).status_code == 200


def test_totp_enrolment_login_and_recovery_codes(server: RunningServer) -> None:
    user = make_user(server)
    client, session = login(server, user)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    with closing(client):
        enrol = client.post("/api/v1/auth/totp", headers=csrf).json()
        assert enrol["otpauth_uri"].startswith("otpauth://totp/streamer:")
        totp = pyotp.TOTP(enrol["secret"])
        bad = client.post("/api/v1/auth/totp/confirm", json={"code": "000000"}, headers=csrf)
        assert bad.status_code == 422
        confirmed = client.post(
            "/api/v1/auth/totp/confirm", json={"code": totp.now()}, headers=csrf
        )
        codes = confirmed.json()["recovery_codes"]
        assert len(codes) == 10
        assert len(set(codes)) == 10

    # Password alone: a session that can do nothing but give the second factor.
    client, session = login(server, user)
    with closing(client):
        assert session["second_factor_required"] is True
        assert client.get("/api/v1/tracks").status_code == 401
        csrf = {"X-CSRF-Token": session["csrf_token"]}
        wrong = client.post("/api/v1/auth/second-factor", json={"code": "123456"}, headers=csrf)
        assert wrong.status_code == 401
        # The code of the enrolment's time step was used already: only a later one works,
        # so take the recovery code path here and the TOTP path below.
        done = client.post(
            "/api/v1/auth/second-factor", json={"recovery_code": codes[0]}, headers=csrf
        )
        assert done.status_code == 200, done.text
        assert done.json()["second_factor_required"] is False
        assert client.get("/api/v1/tracks").status_code == 200

    client, session = login(server, user)
    with closing(client):
        csrf = {"X-CSRF-Token": session["csrf_token"]}
        again = client.post(
            "/api/v1/auth/second-factor", json={"recovery_code": codes[0]}, headers=csrf
        )
        assert again.status_code == 401  # single use
        with_code = client.post(
            "/api/v1/auth/second-factor",
            json={"code": totp.at(utcnow() + timedelta(seconds=30))},
            headers=csrf,
        )
        assert with_code.status_code == 200, with_code.text
        assert client.get("/api/v1/tracks").status_code == 200


def test_a_totp_code_works_once(server: RunningServer) -> None:
    user = make_user(server)
    client, session = login(server, user)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    with closing(client):
        secret = client.post("/api/v1/auth/totp", headers=csrf).json()["secret"]
        totp = pyotp.TOTP(secret)
        earlier = totp.at(utcnow() - timedelta(seconds=30))
        client.post("/api/v1/auth/totp/confirm", json={"code": earlier}, headers=csrf)
    code = totp.now()
    for expected in (200, 401):
        client, session = login(server, user)
        with closing(client):
            response = client.post(
                "/api/v1/auth/second-factor",
                json={"code": code},
                headers={"X-CSRF-Token": session["csrf_token"]},
            )
            assert response.status_code == expected


def test_a_role_that_requires_2fa_can_only_enrol_until_it_has(server: RunningServer) -> None:
    user = make_user(server, role="viewer")
    with server.api() as admin:
        assert (
            admin.put("/api/v1/security", json={"require_2fa_roles": ["viewer"]}).status_code == 200
        )
    try:
        client, session = login(server, user)
        with closing(client):
            assert session["must_enrol_totp"] is True
            refused = client.get("/api/v1/tracks")
            assert refused.status_code == 403
            assert "two-factor" in refused.json()["detail"]
            csrf = {"X-CSRF-Token": session["csrf_token"]}
            secret = client.post("/api/v1/auth/totp", headers=csrf).json()["secret"]
            code = pyotp.TOTP(secret).now()
            assert (
                client.post(
                    "/api/v1/auth/totp/confirm", json={"code": code}, headers=csrf
                ).status_code
                == 200
            )
            assert client.get("/api/v1/tracks").status_code == 200
    finally:
        with server.api() as admin:
            admin.put("/api/v1/security", json={"require_2fa_roles": []})


def test_logging_out_everywhere_ends_every_session(server: RunningServer) -> None:
    user = make_user(server)
    laptop, session = login(server, user)
    phone, _ = login(server, user)
    with closing(laptop), closing(phone):
        response = laptop.post(
            "/api/v1/auth/logout-everywhere", headers={"X-CSRF-Token": session["csrf_token"]}
        )
        assert response.status_code == 204
        assert phone.get("/api/v1/tracks").status_code == 401
        assert laptop.get("/api/v1/tracks").status_code == 401


def test_logout_ends_this_session_only(server: RunningServer) -> None:
    user = make_user(server)
    laptop, session = login(server, user)
    phone, _ = login(server, user)
    with closing(laptop), closing(phone):
        laptop.post("/api/v1/auth/logout", headers={"X-CSRF-Token": session["csrf_token"]})
        assert laptop.get("/api/v1/tracks").status_code == 401
        assert phone.get("/api/v1/tracks").status_code == 200


def test_a_password_change_ends_the_other_sessions(server: RunningServer) -> None:
    user = make_user(server)
    laptop, session = login(server, user)
    phone, _ = login(server, user)
    with closing(laptop), closing(phone):
        changed = laptop.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "a much better one"},
            headers={"X-CSRF-Token": session["csrf_token"]},
        )
        assert changed.status_code == 200, changed.text
        assert laptop.get("/api/v1/tracks").status_code == 200
        assert phone.get("/api/v1/tracks").status_code == 401
    refused = httpx.post(
        f"{server.base_url}/api/v1/auth/login", json={"name": user["name"], "password": PASSWORD}
    )
    assert refused.status_code == 401


@pytest.mark.parametrize(
    "expire",
    [
        {"last_seen_at": utcnow() - timedelta(hours=9)},  # idle past 8 h
        {"expires_at": utcnow() - timedelta(seconds=1)},  # past the absolute limit
    ],
    ids=["idle", "absolute"],
)
def test_expired_sessions_are_refused(server: RunningServer, expire: dict[str, Any]) -> None:
    user = make_user(server)
    client, _ = login(server, user)
    with closing(client):
        run_sql(
            server, update(UserSession).where(UserSession.user_id == user["id"]).values(**expire)
        )
        assert client.get("/api/v1/tracks").status_code == 401


def test_disabled_users_are_signed_out(server: RunningServer) -> None:
    user = make_user(server)
    client, _ = login(server, user)
    with closing(client), server.api() as admin:
        assert (
            admin.patch(f"/api/v1/users/{user['id']}", json={"disabled": True}).status_code == 200
        )
        assert client.get("/api/v1/tracks").status_code == 401


def test_revoked_and_expired_keys_are_refused(server: RunningServer) -> None:
    with server.api() as admin:
        created = admin.post("/api/v1/apikeys", json={"name": "ci", "role": "viewer"}).json()
        key = created["key"]
        assert created["prefix"] in key
        listed = admin.get("/api/v1/apikeys").json()
        assert all("key" not in k and "key_hash" not in k for k in listed)
        url = f"{server.base_url}/api/v1/tracks"
        assert httpx.get(url, headers=bearer(key)).status_code == 200
        assert admin.delete(f"/api/v1/apikeys/{created['id']}").status_code == 204
        assert httpx.get(url, headers=bearer(key)).status_code == 401

        soon = (utcnow() + timedelta(seconds=1)).isoformat()
        short = admin.post(
            "/api/v1/apikeys", json={"name": "short", "role": "viewer", "expires_at": soon}
        ).json()
        past = (utcnow() - timedelta(seconds=1)).isoformat()
        assert (
            admin.post(
                "/api/v1/apikeys", json={"name": "x", "role": "viewer", "expires_at": past}
            ).status_code
            == 422
        )
    from streamer.db import ApiKey

    run_sql(server, update(ApiKey).where(ApiKey.id == short["id"]).values(expires_at=utcnow()))
    assert httpx.get(url, headers=bearer(short["key"])).status_code == 401


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer stk_nothing_here", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 300]
)
def test_malformed_or_unknown_credentials_are_401(server: RunningServer, header: str) -> None:
    response = httpx.get(f"{server.base_url}/api/v1/tracks", headers={"Authorization": header})
    assert response.status_code == 401


def test_each_change_leaves_exactly_one_audit_entry(server: RunningServer) -> None:
    with server.api() as admin:
        before = audit_count(server)
        user = make_user(server)
        assert audit_count(server) == before + 1
        assert audit_count(server, action="user.create", target_id=user["id"]) == 1
        admin.patch(f"/api/v1/users/{user['id']}", json={"role": "viewer"})
        entries = admin.get("/api/v1/audit", params={"target_id": user["id"]}).json()["items"]
        assert [e["action"] for e in entries] == ["user.update", "user.create"]
        update_entry = entries[0]
        assert update_entry["before"]["role"] == "editor"
        assert update_entry["after"]["role"] == "viewer"
        assert update_entry["actor_type"] == "apikey"
        assert update_entry["request_id"]
        assert update_entry["ip"] == "127.0.0.1"
        assert "password" not in json.dumps(entries).replace("password_changed", "")


def test_the_changes_one_request_made_are_found_by_its_request_id(
    server: RunningServer,
) -> None:
    with server.api() as admin:
        made = admin.post(
            "/api/v1/users",
            json={"name": "traced-user", "password": PASSWORD, "role": "viewer"},
            headers={"X-Request-Id": "traced-change-1"},
        )
        assert made.status_code == 201, made.text
        assert made.headers["x-request-id"] == "traced-change-1"
        entries = admin.get("/api/v1/audit", params={"request_id": "traced-change-1"}).json()
    assert [(e["action"], e["target_id"]) for e in entries["items"]] == [
        ("user.create", made.json()["id"])
    ]


def test_the_audit_log_exports_as_csv_and_json_lines(server: RunningServer) -> None:
    user = make_user(server)
    with server.api() as admin:
        params = {"target_id": user["id"]}
        as_csv = admin.get("/api/v1/audit", params={**params, "format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [r["action"] for r in rows] == ["user.create"]
        assert json.loads(rows[0]["after"])["name"] == user["name"]
        lines = admin.get("/api/v1/audit", params={**params, "format": "jsonl"}).text
        assert [json.loads(line)["action"] for line in lines.splitlines()] == ["user.create"]
        prefix = admin.get("/api/v1/audit", params={"action": "user.", "limit": 1000}).json()
        assert all(e["action"].startswith("user.") for e in prefix["items"])


def test_logins_are_throttled_per_address(tmp_path: Path) -> None:
    settings = Settings.load({}, data_dir=tmp_path / "data", workers=1, rate_limit_login="5/minute")
    with serve_in_thread(settings) as server:
        url = f"{server.base_url}/api/v1/auth/login"
        statuses = [
            httpx.post(url, json={"name": "admin", "password": "guess number x"}).status_code
            for _ in range(7)
        ]
        assert statuses[:5] == [401] * 5
        assert statuses[5:] == [429, 429]
        limited = httpx.post(url, json={"name": "admin", "password": "guess"})
        assert int(limited.headers["retry-after"]) > 0
        assert limited.headers["content-type"] == "application/problem+json"


def test_api_limits_are_shared_through_redis_by_every_node(tmp_path: Path, redis_url: str) -> None:
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", workers=1, redis_url=redis_url, rate_limit_api="6/minute"
    )
    with serve_in_thread(settings) as a, serve_in_thread(settings) as b:
        key = a.api_key or ""
        statuses = [
            httpx.get(f"{node.base_url}/api/v1/libraries", headers=bearer(key)).status_code
            for node in (a, b, a, b, a, b, a, b)
        ]
        assert statuses[:6] == [200] * 6
        assert statuses[6:] == [429, 429]
        # Another key has its own budget.
        other = b.api_key or ""
        assert httpx.get(f"{a.base_url}/api/v1/libraries", headers=bearer(other)).status_code == 200


def test_a_limit_store_that_fails_lets_requests_through(tmp_path: Path) -> None:
    # Nothing listens on this port: every limit check fails, and is logged, not fatal.
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", workers=1, redis_url="redis://127.0.0.1:9/0",
        rate_limit_api="1/minute",
    )  # fmt: skip
    with serve_in_thread(settings) as server, server.api() as client:
        assert [client.get("/api/v1/libraries").status_code for _ in range(3)] == [200] * 3
