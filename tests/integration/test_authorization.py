"""The authorization matrix: every API endpoint x every role x a target in the caller's
own library and in a foreign one, asserting allowed or denied; and nothing answers
without credentials but sign-in, the public streaming URLs, /healthz and /metrics.

The table below must name every route of the live OpenAPI document, so a new endpoint
cannot ship without a decision about who may call it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.auth.access import Access, Principal
from streamer.auth.audit import Actor
from streamer.auth.users import create_key
from streamer.db import Database
from streamer.settings import Settings
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread

# Who may call each route: "public"; "session" (a signed-in user acting on themselves,
# never a key); "any" (any principal); "admin"; "staff" (admins and editors, whatever
# their libraries); or ("read"|"write", kind) where kind names the path parameter or body
# field whose library decides.
RULES: dict[tuple[str, str], Any] = {
    ("GET", "/tracks"): "any",
    ("GET", "/tracks/{track_id}"): ("read", "track"),
    ("GET", "/tracks/{track_id}/signed"): ("read", "track"),
    ("GET", "/tracks/{track_id}/waveform"): ("read", "track"),
    ("PATCH", "/tracks/{track_id}"): ("write", "track"),
    # Each item is checked alone: the item's status is what the matrix asserts.
    ("POST", "/tracks/batch"): ("write", "track"),
    ("GET", "/libraries"): "any",
    ("GET", "/libraries/{library_id}"): ("read", "library"),
    ("GET", "/jobs"): "any",
    ("POST", "/jobs"): ("write", "track"),
    ("GET", "/jobs/{job_id}"): ("read", "job"),
    ("POST", "/jobs/{job_id}/cancel"): ("write", "job"),
    ("POST", "/jobs/{job_id}/retry"): ("write", "job"),
    ("GET", "/cache/stats"): "any",
    ("POST", "/cache/purge"): ("write", "track"),
    ("GET", "/stats"): "staff",
    ("GET", "/stats/errors"): "staff",
    ("GET", "/stats/storage"): "any",  # lists only the libraries the caller may read
    # Analytics: reports show only what the caller's libraries allow (test_api_analytics).
    ("GET", "/analytics/report"): "any",
    ("GET", "/analytics/top"): "any",
    ("GET", "/analytics/realtime"): "any",
    ("POST", "/analytics/conversions"): "staff",
    ("DELETE", "/analytics/listeners"): "admin",
    # "own": anyone may call; another principal's dashboard or schedule is a 404.
    ("GET", "/analytics/dashboards"): "any",
    ("POST", "/analytics/dashboards"): "any",
    ("GET", "/analytics/dashboards/{dashboard_id}"): "own",
    ("PUT", "/analytics/dashboards/{dashboard_id}"): "own",
    ("DELETE", "/analytics/dashboards/{dashboard_id}"): "own",
    ("GET", "/analytics/scheduled-reports"): "any",
    ("POST", "/analytics/scheduled-reports"): "any",
    ("GET", "/analytics/scheduled-reports/{schedule_id}"): "own",
    ("PUT", "/analytics/scheduled-reports/{schedule_id}"): "own",
    ("DELETE", "/analytics/scheduled-reports/{schedule_id}"): "own",
    ("GET", "/analytics/scheduled-reports/{schedule_id}/runs"): "own",
    ("POST", "/auth/login"): "public",
    ("POST", "/auth/second-factor"): "session",
    ("GET", "/auth/session"): "session",
    ("POST", "/auth/logout"): "session",
    ("POST", "/auth/logout-everywhere"): "session",
    ("POST", "/auth/password"): "session",
    ("POST", "/auth/totp"): "session",
    ("POST", "/auth/totp/confirm"): "session",
    ("POST", "/auth/totp/disable"): "session",
    ("POST", "/auth/recovery-codes"): "session",
    ("GET", "/users"): "admin",
    ("POST", "/users"): "admin",
    ("GET", "/users/{user_id}"): "admin",
    ("PATCH", "/users/{user_id}"): "admin",
    ("DELETE", "/users/{user_id}"): "admin",
    ("PUT", "/users/{user_id}/libraries"): "admin",
    ("GET", "/apikeys"): "admin",
    ("POST", "/apikeys"): "admin",
    ("DELETE", "/apikeys/{key_id}"): "admin",
    # A user's own (as "me", with a session: tests/web/test_app_passwords.py); with a key,
    # which is no user, only an admin names a user's.
    ("GET", "/users/{user_id}/app-passwords"): "admin",
    ("POST", "/users/{user_id}/app-passwords"): "admin",
    ("DELETE", "/users/{user_id}/app-passwords/{password_id}"): "admin",
    ("GET", "/audit"): "admin",
    ("GET", "/security"): "admin",
    ("PUT", "/security"): "admin",
    ("POST", "/libraries"): "admin",
    ("PATCH", "/libraries/{library_id}"): ("manage", "library"),
    ("DELETE", "/libraries/{library_id}"): "admin",
    ("POST", "/libraries/{library_id}/scan"): ("write", "library"),
    ("GET", "/libraries/{library_id}/scan"): ("read", "library"),
    ("GET", "/playlists"): "any",
    ("POST", "/playlists"): ("write", "library"),
    ("GET", "/playlists/{playlist_id}"): ("read", "playlist"),
    ("PATCH", "/playlists/{playlist_id}"): ("write", "playlist"),
    ("DELETE", "/playlists/{playlist_id}"): ("write", "playlist"),
    ("PUT", "/playlists/{playlist_id}/items"): ("write", "playlist"),
    ("POST", "/playlists/{playlist_id}/items"): ("write", "playlist"),
    ("POST", "/playlists/{playlist_id}/items/move"): ("write", "playlist"),
    ("DELETE", "/playlists/{playlist_id}/items/{position}"): ("write", "playlist"),
    ("GET", "/playlists/{playlist_id}/revisions"): ("read", "playlist"),
    ("GET", "/playlists/{playlist_id}/signed"): ("read", "playlist"),
    ("POST", "/playlists/{playlist_id}/undo"): ("write", "playlist"),
    ("POST", "/playlists/{playlist_id}/redo"): ("write", "playlist"),
    ("GET", "/uploads"): "any",
    ("POST", "/uploads"): ("write", "library"),
    ("GET", "/uploads/{upload_id}"): ("read", "upload"),
    ("PATCH", "/uploads/{upload_id}"): ("write", "upload"),
    ("DELETE", "/uploads/{upload_id}"): ("write", "upload"),
    ("GET", "/playlists/{playlist_id}/tracks"): ("read", "playlist"),
    ("POST", "/playlists/preview"): "any",  # the result holds readable tracks only
    # Channels are server-wide: every principal reads them, editors and admins change them
    # (an entry's playlist must be readable by the editor: tests/integration/test_api_channels.py).
    ("GET", "/channels"): "any",
    ("POST", "/channels"): "staff",
    ("GET", "/channels/{channel_id}"): "any",
    ("PATCH", "/channels/{channel_id}"): "staff",
    ("DELETE", "/channels/{channel_id}"): "staff",
    ("GET", "/channels/{channel_id}/entries"): "any",
    ("POST", "/channels/{channel_id}/entries"): "staff",
    ("GET", "/channels/{channel_id}/entries/{entry_id}"): "any",
    ("PATCH", "/channels/{channel_id}/entries/{entry_id}"): "staff",
    ("DELETE", "/channels/{channel_id}/entries/{entry_id}"): "staff",
    ("GET", "/channels/{channel_id}/occurrences"): "any",
    ("GET", "/channels/{channel_id}/preview"): "any",
    ("GET", "/channels/{channel_id}/now"): "any",
    ("GET", "/channels/{channel_id}/history"): "any",
    # Each event is filtered by library (tests/integration/test_events.py).
    ("GET", "/events"): "any",
    # Advertising is server-wide and commercial: editors and admins only (a creative's
    # track must be readable by the caller: tests/integration/test_api_ads.py).
    ("GET", "/ads/advertisers"): "staff",
    ("POST", "/ads/advertisers"): "staff",
    ("GET", "/ads/advertisers/{advertiser_id}"): "staff",
    ("PATCH", "/ads/advertisers/{advertiser_id}"): "staff",
    ("DELETE", "/ads/advertisers/{advertiser_id}"): "staff",
    ("GET", "/ads/campaigns"): "staff",
    ("POST", "/ads/campaigns"): "staff",
    ("GET", "/ads/campaigns/{campaign_id}"): "staff",
    ("PATCH", "/ads/campaigns/{campaign_id}"): "staff",
    ("DELETE", "/ads/campaigns/{campaign_id}"): "staff",
    ("GET", "/ads/campaigns/{campaign_id}/creatives"): "staff",
    ("POST", "/ads/campaigns/{campaign_id}/creatives"): "staff",
    ("GET", "/ads/creatives/{creative_id}"): "staff",
    ("PATCH", "/ads/creatives/{creative_id}"): "staff",
    ("DELETE", "/ads/creatives/{creative_id}"): "staff",
    ("POST", "/ads/creatives/{creative_id}/versions"): "staff",
    ("PUT", "/ads/creatives/{creative_id}/current"): "staff",
    ("POST", "/ads/decisions"): "staff",
    ("GET", "/ads/report"): "staff",
    ("GET", "/ads/forecast"): "staff",
    ("GET", "/tracks/{track_id}/ad-breaks"): ("read", "track"),
    ("PUT", "/tracks/{track_id}/ad-breaks"): ("write", "track"),
    ("GET", "/playlists/{playlist_id}/ad-breaks"): ("read", "playlist"),
    ("PUT", "/playlists/{playlist_id}/ad-breaks"): ("write", "playlist"),
}
# Answers that do not end by themselves: the matrix reads their status and headers only.
ENDLESS = {("GET", "/events")}
TUS = {"Tus-Resumable": "1.0.0"}

# (role, the key's grants: None = every library) -> a name
CALLERS: dict[str, tuple[str, dict[str, Access] | None]] = {
    "admin": ("admin", None),
    "editor-write": ("editor", {"own": "write"}),
    "editor-read": ("editor", {"own": "read"}),
    "editor-manage": ("editor", {"own": "manage"}),
    "viewer": ("viewer", {"own": "read"}),
    "viewer-granted-write": ("viewer", {"own": "write"}),  # the role caps it at read
}


@dataclass
class World:
    server: RunningServer
    libraries: dict[str, str]  # own / foreign -> library id
    tracks: dict[str, str]
    keys: dict[str, str]  # caller -> API key
    principals: dict[str, Principal]
    counter: Iterator[int]
    root: Path  # library_parents: where new libraries may be added
    # One client each for the whole matrix (a pool of kept-alive connections): a client
    # and a connection per request cost more than the request.
    http: httpx.Client
    admin: httpx.Client

    def folder(self) -> str:
        folder = self.root / f"new{next(self.counter)}"
        folder.mkdir()
        return str(folder)

    def spare_library(self) -> str:
        return str(self.admin.post("/api/v1/libraries", json={"root": self.folder()}).json()["id"])

    def job(self, side: str) -> str:
        jobs = self.admin.get("/api/v1/jobs", params={"library": self.libraries[side]}).json()
        if jobs["items"]:
            return str(jobs["items"][0]["id"])
        queued = self.admin.post("/api/v1/jobs", json={"track_id": self.tracks[side]})
        return str(queued.json()["id"])

    def user(self) -> str:
        made = self.admin.post(
            "/api/v1/users",
            json={"name": f"m{next(self.counter)}", "password": "x" * 12, "role": "viewer"},
        )
        return str(made.json()["id"])

    def app_password(self, user_id: str) -> str:
        made = self.admin.post(f"/api/v1/users/{user_id}/app-passwords", json={"name": "p"})
        return str(made.json()["id"])

    def playlist(self, side: str) -> str:
        """A new playlist of two tracks in ``side``'s library (so every edit applies)."""
        made = self.admin.post(
            "/api/v1/playlists", json={"library_id": self.libraries[side], "name": "p"}
        ).json()
        tracks = [self.tracks[side]] * 2
        self.admin.put(f"/api/v1/playlists/{made['id']}/items", json={"track_ids": tracks})
        self.admin.delete(f"/api/v1/playlists/{made['id']}/items/1")
        self.admin.post(f"/api/v1/playlists/{made['id']}/undo")  # a redo to make
        return str(made["id"])

    def channel(self) -> str:
        """A new channel (a delete in one case leaves the others theirs)."""
        made = self.admin.post("/api/v1/channels", json={"name": "c", "timezone": "UTC"})
        return str(made.json()["id"])

    def entry_body(self) -> dict[str, Any]:
        return {
            "playlist_id": self.playlist("own"),
            "start": "2026-12-07T09:00:00",
            "duration_seconds": 3600,
        }

    def entry(self, channel_id: str) -> str:
        made = self.admin.post(f"/api/v1/channels/{channel_id}/entries", json=self.entry_body())
        return str(made.json()["id"])

    def upload(self, side: str) -> str:
        made = self.admin.post(
            "/api/v1/uploads", headers={**TUS, **_tus_meta(self.libraries[side])}
        )
        return str(made.headers["location"].rstrip("/").rsplit("/", 1)[-1])

    def advertiser(self) -> str:
        made = self.admin.post("/api/v1/ads/advertisers", json={"name": "a"})
        return str(made.json()["id"])

    def campaign(self) -> str:
        made = self.admin.post("/api/v1/ads/campaigns", json=self.campaign_body())
        return str(made.json()["id"])

    def campaign_body(self) -> dict[str, Any]:
        return {
            "advertiser_id": self.advertiser(),
            "name": "c",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2027-01-01T00:00:00Z",
        }

    def creative_body(self) -> dict[str, Any]:
        return {"name": "spot", "slot_seconds": 30, "track_id": self.tracks["own"]}

    def creative(self) -> str:
        made = self.admin.post(
            f"/api/v1/ads/campaigns/{self.campaign()}/creatives", json=self.creative_body()
        )
        return str(made.json()["id"])

    def key(self) -> str:
        made = self.admin.post("/api/v1/apikeys", json={"name": "m", "role": "viewer"})
        return str(made.json()["id"])


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    audio_samples: dict[str, Path],
    module_database_url: str | None,
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("authz")
    roots = {}
    for side in ("own", "foreign"):
        folder = root / side
        folder.mkdir()
        shutil.copy(audio_samples["mp3"], folder / f"{side}.mp3")
        roots[side] = str(folder)
    settings = Settings.load(
        {}, data_dir=root / "data", workers=1, rate_limit_api="100000/minute",
        rate_limit_ip="100000/minute", url_signing_secret="s" * 32, library_parents=[str(root)],
        database_url=module_database_url,
    )  # fmt: skip
    scan_roots(settings, list(roots.values()))
    with serve_in_thread(settings) as server, server.api() as admin:
        libraries = {
            side: next(lib["id"] for lib in admin.get("/api/v1/libraries").json()
                       if lib["root"] == roots[side])
            for side in roots
        }  # fmt: skip
        tracks = {
            side: admin.get("/api/v1/tracks", params={"library": lib}).json()["items"][0]["id"]
            for side, lib in libraries.items()
        }
        keys, principals = _mint(settings, libraries)
        with server.client() as http:
            counter = itertools.count()
            yield World(server, libraries, tracks, keys, principals, counter, root, http, admin)


def _mint(
    settings: Settings, libraries: dict[str, str]
) -> tuple[dict[str, str], dict[str, Principal]]:
    async def mint() -> tuple[dict[str, str], dict[str, Principal]]:
        db = Database(settings.effective_database_url)
        keys, principals = {}, {}
        try:
            for name, (role, grants) in CALLERS.items():
                scoped = {libraries[s]: a for s, a in grants.items()} if grants else None
                secret, row = await create_key(
                    db,
                    name,
                    role,
                    Actor("cli", None, "tests"),
                    libraries=scoped,  # type: ignore[arg-type]
                )
                keys[name] = secret
                principals[name] = Principal("apikey", row.id, name, role, scoped)  # type: ignore[arg-type]
        finally:
            await db.dispose()
        return keys, principals

    return asyncio.run(mint())


def _api_routes(world: World) -> set[tuple[str, str]]:
    spec = world.http.get("/api/v1/openapi.json", headers=bearer(world.keys["viewer"])).json()
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_route_has_a_rule(world: World) -> None:
    assert _api_routes(world) == set(RULES)


def _tus_meta(library: str) -> dict[str, str]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "Upload-Length": "4",
        "Upload-Metadata": f"filename {b64('a.mp3')},library {b64(library)}",
    }


def _request(
    world: World, method: str, path: str, side: str
) -> tuple[str, dict[str, Any] | None, dict[str, str], bytes | None]:
    """The concrete URL, JSON body, headers and raw body of a route aimed at ``side``."""
    body: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    content: bytes | None = None
    ids = {
        "{track_id}": world.tracks[side],
        "{library_id}": world.libraries[side],
    }
    if (method, path) == ("DELETE", "/libraries/{library_id}"):
        ids["{library_id}"] = world.spare_library()
    if "{job_id}" in path:
        ids["{job_id}"] = world.job(side)
    if "{user_id}" in path:
        ids["{user_id}"] = world.user()
        if "{password_id}" in path:
            ids["{password_id}"] = world.app_password(ids["{user_id}"])
    if "{key_id}" in path:
        ids["{key_id}"] = world.key()
    if "{playlist_id}" in path:
        ids["{playlist_id}"] = world.playlist(side)
        ids["{position}"] = "0"
    if "{dashboard_id}" in path:
        ids["{dashboard_id}"] = "d0000000"  # an admin's own exist; others' are 404
    if "{schedule_id}" in path:
        ids["{schedule_id}"] = "s0000000"
    if "{channel_id}" in path:
        ids["{channel_id}"] = world.channel()
        if "{entry_id}" in path:
            ids["{entry_id}"] = world.entry(ids["{channel_id}"])
    if "{advertiser_id}" in path:
        ids["{advertiser_id}"] = world.advertiser()
    if "{campaign_id}" in path:
        ids["{campaign_id}"] = world.campaign()
    if "{creative_id}" in path:
        ids["{creative_id}"] = world.creative()
    if "{upload_id}" in path:
        ids["{upload_id}"] = world.upload(side)
    template = path
    for placeholder, value in ids.items():
        path = path.replace(placeholder, value)
    if template.startswith("/uploads"):
        headers = dict(TUS)
        if method == "POST":
            headers.update(_tus_meta(world.libraries[side]))
        elif method == "PATCH":
            headers.update(
                {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
            )
            content = b"ab"
        return f"/api/v1{path}", None, headers, content
    if template == "/libraries" and method == "POST":
        body = {"root": world.folder()}
    elif template == "/libraries/{library_id}" and method == "PATCH":
        body = {"name": "renamed"}
    elif template == "/playlists" and method == "POST":
        body = {"library_id": world.libraries[side], "name": "new"}
    elif template == "/playlists/{playlist_id}/items" and method in ("PUT", "POST"):
        body = {"track_ids": [world.tracks[side]]}
    elif template.endswith("/items/move"):
        body = {"from": 0, "to": 0}
    elif template == "/tracks/{track_id}" and method == "PATCH":
        body, headers = {"labels": ["matrix"]}, {"If-Match": "*"}
    elif template == "/tracks/batch":
        body = {"action": "tag", "track_ids": [world.tracks[side]], "labels": ["matrix"]}
    elif template == "/channels" and method == "POST":
        body = {"name": "new", "timezone": "UTC"}
    elif template == "/channels/{channel_id}" and method == "PATCH":
        body = {"name": "renamed"}
    elif template == "/channels/{channel_id}/entries" and method == "POST":
        body = world.entry_body()
    elif template == "/channels/{channel_id}/entries/{entry_id}" and method == "PATCH":
        body = {"priority": 1}
    elif template == "/playlists/{playlist_id}" and method == "PATCH":
        body = {"name": "renamed"}
    elif (method, template) == ("POST", "/ads/advertisers"):
        body = {"name": "a"}
    elif (method, template) == ("POST", "/ads/campaigns"):
        body = world.campaign_body()
    elif (method, template) == ("POST", "/ads/campaigns/{campaign_id}/creatives"):
        body = world.creative_body()
    elif template == "/ads/creatives/{creative_id}/versions":
        body = {"track_id": world.tracks["own"]}
    elif template == "/ads/creatives/{creative_id}/current":
        body = {"version": 1}
    elif template == "/ads/decisions":
        body = {"break": {"seconds": 30}, "listener": {"session": "s"}}
    elif template in ("/tracks/{track_id}/ad-breaks", "/playlists/{playlist_id}/ad-breaks"):
        body = {"breaks": [{"position": "pre", "seconds": 30}]}
    elif template.startswith("/ads/") and method == "PATCH":
        body = {"name": "renamed"}
    elif template in ("/analytics/conversions", "/analytics/listeners"):
        body = {"ip": "192.0.2.1", "user_agent": "matrix"}
    elif (method, path) in (("POST", "/jobs"), ("POST", "/cache/purge")):
        body = {"track_id": world.tracks[side]}
    elif method == "POST" and path == "/users":
        body = {"name": f"n{next(world.counter)}", "password": "x" * 12, "role": "viewer"}
    elif method == "POST" and path == "/apikeys":
        body = {"name": "k", "role": "viewer"}
    elif method == "POST" and template == "/users/{user_id}/app-passwords":
        body = {"name": "player"}
    elif path.endswith("/libraries") and method == "PUT":
        body = {}
    elif method == "PATCH":
        body = {"disabled": False}
    elif path == "/security" and method == "PUT":
        body = {"require_2fa_roles": []}
    elif method in ("POST", "PUT", "PATCH"):
        body = {}
    return f"/api/v1{path}", body, headers, content


def _send(
    http: httpx.Client, route: tuple[str, str], method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """The response; of an endless one, only the status, headers and (for an error, which
    ends) the body."""
    if route not in ENDLESS:
        return http.request(method, url, **kwargs)
    with http.stream(method, url, **kwargs) as response:
        if response.status_code >= 300:
            response.read()
        return response


def _expected(rule: Any, principal: Principal, library: str) -> bool:
    if rule in ("any", "own"):
        return True
    if rule == "admin":
        return principal.is_admin
    if rule == "staff":
        return principal.role in ("admin", "editor")
    if rule in ("session", "public"):
        return False  # keys are not sessions (public: checked separately)
    want, _kind = rule
    return principal.allows(library, want)


CASES = [
    (route, caller, side)
    for route, rule in RULES.items()
    if rule != "public"
    for caller in CALLERS
    for side in (("own", "foreign") if isinstance(rule, tuple) else ("own",))
]


@pytest.mark.parametrize(
    ("route", "caller", "side"),
    CASES,
    ids=[f"{m} {p} {c} {s}" for (m, p), c, s in CASES],
)
def test_the_matrix(world: World, route: tuple[str, str], caller: str, side: str) -> None:
    method, template = route
    url, body, headers, content = _request(world, method, template, side)
    principal = world.principals[caller]
    allowed = _expected(RULES[route], principal, world.libraries[side])
    response = _send(
        world.http,
        route,
        method,
        url,
        json=body,
        content=content,
        headers={**headers, **bearer(world.keys[caller])},
    )
    assert response.status_code < 500, response.text
    status = response.status_code
    if route == ("POST", "/tracks/batch"):
        assert status == 200, response.text
        (item,) = response.json()["items"]
        status = item["status"]
    if allowed:
        assert status not in (401, 403), response.text
        # Allowed and present: a 404 can only be about something else (no waveform yet).
        assert (
            status != 404
            or RULES[route] == "own"
            or not response.json()["detail"].startswith("no such")
        )
    else:
        assert status in (401, 403, 404), response.text


@pytest.mark.parametrize(("route"), [r for r, rule in RULES.items() if rule != "public"])
def test_nothing_answers_without_credentials(world: World, route: tuple[str, str]) -> None:
    method, template = route
    url, body, headers, content = _request(world, method, template, "own")
    response = _send(world.http, route, method, url, json=body, content=content, headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/healthz", True),
        ("/metrics", True),
        ("/readyz", True),
        ("/api/v1/openapi.json", False),
        ("/api/v1/docs", False),
    ],
)
def test_only_health_metrics_and_streams_are_public(world: World, path: str, public: bool) -> None:
    response = world.http.get(path)
    assert (response.status_code == 200) is public


def test_foreign_tracks_are_left_out_of_lists(world: World) -> None:
    response = world.http.get("/api/v1/tracks", headers=bearer(world.keys["viewer"]))
    assert [t["library_id"] for t in response.json()["items"]] == [world.libraries["own"]]
    libraries = world.http.get("/api/v1/libraries", headers=bearer(world.keys["viewer"])).json()
    assert [lib["id"] for lib in libraries] == [world.libraries["own"]]
