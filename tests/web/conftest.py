"""The web admin's end-to-end fixtures: `streamer serve` as a real process on a library of
generated, tagged audio that it transcodes itself; users of each role with passwords (the
admin with TOTP); Debian's Chromium driven by Playwright (never a downloaded browser);
axe-core for accessibility; screenshots for docs/screenshots/ when asked for.

Browser tests are synchronous (Playwright's sync API runs its own loop), so each module
builds its server before its first page opens.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from streamer.auth.audit import Actor
from streamer.auth.users import create_user
from streamer.db import Database, User
from streamer.settings import Settings
from tests.fixtures.audio import make_audio, make_png
from tests.fixtures.servers import ServerProcess, admin_key, bearer, scan_roots, serve_in_process

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery staple"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Set by scripts/screenshots: where each page's desktop and phone screenshots go.
SCREENSHOTS = os.environ.get("SCREENSHOTS_DIR")
T = TypeVar("T")

# name -> (seconds, tags); long enough for a player to advance, short enough to transcode fast.
TRACKS: dict[str, tuple[float, dict[str, str]]] = {
    "aurora.flac": (
        12.0,
        {
            "title": "Aurora",
            "artist": "Nadia Ray",
            "album": "Northern",
            "genre": "Ambient",
            "date": "2021",
        },
    ),
    "bright lights.mp3": (
        9.0,
        {
            "title": "Bright Lights",
            "artist": "The Sparks",
            "album": "City",
            "genre": "Rock",
            "date": "2019",
        },
    ),
    "cascade.flac": (
        7.0,
        {
            "title": "Cascade",
            "artist": "Nadia Ray",
            "album": "Northern",
            "genre": "Ambient",
            "date": "2021",
        },
    ),
}

pytestmark = pytest.mark.slow


def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run blocking set-up (which may call asyncio.run) in a thread: Playwright's sync API
    keeps an event loop running in the test's thread once a browser is open."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


@dataclass
class WebServer:
    """A running `streamer serve` with users of every role."""

    base_url: str
    process: ServerProcess
    api_key: str  # an admin API key
    library_id: str
    library: Path  # the library folder
    totp_secrets: dict[str, str] = field(default_factory=dict)  # user name -> TOTP secret
    track_ids: dict[str, str] = field(default_factory=dict)  # file name -> track id
    parents: Path = Path()  # library_parents: folders the API may add as libraries

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=bearer(self.api_key), timeout=15)

    def wait_for_jobs(self, timeout: float = 90.0) -> None:
        """Until no transcode is queued or running."""
        deadline = time.monotonic() + timeout
        with self.api() as client:
            while time.monotonic() < deadline:
                jobs = client.get("/api/v1/jobs", params={"limit": 200}).json()["items"]
                if all(job["status"] not in ("queued", "running") for job in jobs):
                    return
                time.sleep(0.3)
        raise TimeoutError("transcodes did not finish")


async def _create_users(settings: Settings, library_id: str) -> dict[str, str]:
    """admin 'ada' (with TOTP), editor 'eve' and viewer 'val' (granted the library)."""
    db = Database(settings.effective_database_url)
    actor = Actor("cli", None, "tests")
    secret = pyotp.random_base32()
    try:
        await create_user(db, "ada", PASSWORD, "admin", actor)
        await create_user(db, "eve", PASSWORD, "editor", actor, grants={library_id: "write"})
        await create_user(db, "val", PASSWORD, "viewer", actor, grants={library_id: "read"})
        await create_user(db, "ed", PASSWORD, "admin", actor)  # an admin without 2FA
        async with db.session() as session, session.begin():
            user = (await session.execute(User.__table__.select().where(User.name == "ada"))).one()
            await session.execute(
                User.__table__.update().where(User.id == user.id).values(totp_secret=secret)
            )
    finally:
        await db.dispose()
    return {"ada": secret}


def start_web_server(
    tmp: Path,
    *,
    tracks: dict[str, tuple[float, dict[str, str]]] = TRACKS,
    extra_env: dict[str, str] | None = None,  # more STREAMER_* settings for the server
) -> Iterator[WebServer]:
    library = tmp / "library"
    for n, (name, (seconds, tags)) in enumerate(tracks.items()):
        fmt = name.rsplit(".", 1)[1]
        make_audio(
            library / name,
            fmt,
            seconds,
            tags=tags,
            cover=make_png(rgb=(40 * n, 90, 160)),
            frequency=330 + 110 * n,
        )
    data = tmp / "data"
    settings = Settings.load({}, data_dir=data)
    in_thread(scan_roots, settings, [str(library)])
    key = in_thread(admin_key, settings)
    env = {
        "STREAMER_RATE_LIMIT_LOGIN": "1000/minute",
        "STREAMER_RATE_LIMIT_API": "100000/minute",
        "STREAMER_RATE_LIMIT_IP": "100000/minute",
        "STREAMER_JOB_POLL_SECONDS": "0.1",
        "STREAMER_LIBRARY_PARENTS": str(tmp / "parents"),
        # The pages' tests add files and scan through the API, and count what a scan
        # found: a watcher's own scans would race them (watching: test_library_watch.py).
        "STREAMER_WATCH_LIBRARIES": "false",
        **(extra_env or {}),
    }
    (tmp / "parents").mkdir()
    args = ["--library", str(library), "--data-dir", str(data), "--workers", "1"]
    with serve_in_process(args, tmp / "serve.log", env=env) as process:
        with httpx.Client(base_url=process.base_url, headers=bearer(key), timeout=15) as client:
            library_id = client.get("/api/v1/libraries").json()[0]["id"]
            items = client.get("/api/v1/tracks", params={"limit": 100}).json()["items"]
        secrets = in_thread(asyncio.run, _create_users(settings, library_id))
        server = WebServer(
            process.base_url, process, key, library_id, library, secrets,
            {item["path"]: item["id"] for item in items},
            tmp / "parents",
        )  # fmt: skip
        server.wait_for_jobs()
        yield server


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    yield from start_web_server(tmp_path_factory.mktemp("web"))


# Per module, not per session: while Playwright's sync API is open it keeps an event loop
# running in the main thread, and any later test calling asyncio.run would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "the web admin's tests need Debian's Chromium at /usr/bin/chromium: "
            "run scripts/test-services (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


class PageErrors:
    """Uncaught exceptions in the page: a test fails on any (they are bugs)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))


def new_context(browser: Browser, web_server: WebServer, **options: Any) -> BrowserContext:
    context = browser.new_context(base_url=web_server.base_url, viewport=DESKTOP, **options)
    context.set_default_timeout(10_000)
    return context


def sign_in(context: BrowserContext, web_server: WebServer, name: str) -> dict[str, Any]:
    """Sign ``name`` in through the API (cookies land in the browser context); answers the
    second factor when the user has one. The login form has its own test."""
    response = context.request.post("/api/v1/auth/login", data={"name": name, "password": PASSWORD})
    assert response.ok, response.text()
    session: dict[str, Any] = response.json()
    if session["second_factor_required"]:
        code = totp_code(web_server.totp_secrets[name])
        headers = {"X-CSRF-Token": session["csrf_token"]}
        response = context.request.post(
            "/api/v1/auth/second-factor", data={"code": code}, headers=headers
        )
        assert response.ok, response.text()
        session = response.json()
    return session


_used_codes: set[tuple[str, str]] = set()


def totp_code(secret: str) -> str:
    """A code the server accepts and has not seen: each works once, and the server allows
    one 30-second step either side, so three sign-ins fit in a step."""
    totp = pyotp.TOTP(secret)
    for offset in (0, 30, -30):
        code = totp.at(time.time() + offset)
        if (secret, code) not in _used_codes:
            _used_codes.add((secret, code))
            return code
    time.sleep(30 - time.time() % 30 + 0.5)
    return totp_code(secret)


def check_accessibility(page: Page, what: str) -> None:
    """axe-core on the page as it is now: no serious or critical violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluate, not a script tag: the admin's CSP refuses inline scripts, rightly.
        page.evaluate(AXE.read_text() + "\n;0")
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    assert results == [], f"axe on {what}:\n" + json.dumps(results, indent=1)


def screenshot(page: Page, name: str) -> None:
    """docs/screenshots/NAME-desktop.png and NAME-phone.png, when scripts/screenshots asks."""
    if not SCREENSHOTS:
        return
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    page.set_viewport_size(DESKTOP)
    page.wait_for_timeout(150)
    page.screenshot(path=str(folder / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(250)
    page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)


@dataclass
class Signed:
    page: Page
    context: BrowserContext
    session: dict[str, Any]
    errors: PageErrors


@pytest.fixture
def open_as(browser: Browser, web_server: WebServer) -> Iterator[Any]:
    """open_as("ed") -> Signed: a fresh browser context signed in as that user, with a
    page at /admin/library. Users: ada (admin, TOTP), ed (admin), eve (editor), val (viewer).
    Fails the test if the page threw an uncaught exception."""
    opened: list[Signed] = []

    def open_page(name: str, path: str = "/admin/library") -> Signed:
        context = new_context(browser, web_server)
        session = sign_in(context, web_server, name)
        page = context.new_page()
        signed = Signed(page, context, session, PageErrors(page))
        opened.append(signed)
        page.goto(path)
        return signed

    yield open_page
    for signed in opened:
        signed.context.close()
    for signed in opened:
        assert signed.errors.errors == [], f"uncaught errors in the page: {signed.errors.errors}"
