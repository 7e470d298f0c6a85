"""The dashboard in a real browser: failed jobs with their reason and a retry, live job
progress, request and cache plots after real traffic, storage per library, and what each
role sees."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import (
    PHONE,
    TRACKS,
    WebServer,
    check_accessibility,
    screenshot,
    start_web_server,
)

LONG = "long haul.flac"  # long enough that its transcode reports progress for a while


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    tracks = {**TRACKS, LONG: (240.0, {"title": "Long Haul", "artist": "Nadia Ray"})}
    yield from start_web_server(tmp_path_factory.mktemp("dashboard"), tracks=tracks)


def _wait_for_job(
    client: httpx.Client, job_id: str, *statuses: str, seconds: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not become {statuses}")


@pytest.fixture(scope="module")
def failed_job(web_server: WebServer) -> Iterator[str]:
    """A transcode that failed for real: cascade.flac's bytes were replaced by garbage
    before a forced re-transcode."""
    source = web_server.library / "cascade.flac"
    original = source.read_bytes()
    source.write_bytes(b"this is not audio " * 4000)
    try:
        with web_server.api() as client:
            track = web_server.track_ids["cascade.flac"]
            queued = client.post("/api/v1/jobs", json={"track_id": track, "force": True})
            assert queued.status_code == 201, queued.text
            job = _wait_for_job(client, queued.json()["id"], "failed")
        assert "ffmpeg cannot read the source" in job["error"]
        yield job["id"]
    finally:
        source.write_bytes(original)


def test_a_failed_job_shows_its_reason_and_retry_runs_it_again(
    open_as: Any, web_server: WebServer, failed_job: str
) -> None:
    signed = open_as("eve", "/admin/dashboard")  # an editor with write access
    page = signed.page
    row = page.locator(f'[data-job="{failed_job}"]')
    expect(row).to_contain_text("Cascade")
    expect(row).to_contain_text("ffmpeg cannot read the source")
    with web_server.api() as client:
        stderr = client.get(f"/api/v1/jobs/{failed_job}").json()["stderr_tail"]
    # ffmpeg's own words differ by version ("Invalid data found" in 9.x, "Format flac
    # detected only with low score" in 5.1): the page shows whatever it said, last line too.
    assert stderr
    row.get_by_text("ffmpeg output (last lines)").click()
    expect(row.locator("pre.stderr")).to_contain_text(stderr.strip().splitlines()[-1])
    row.get_by_role("button", name="Retry the transcode of Cascade").click()
    expect(page.get_by_text("The transcode of Cascade is queued again.")).to_be_visible()
    # It ran again: the track is marked unreadable now, which is the new reason.
    expect(row).to_contain_text("the track is gone or unreadable", timeout=30_000)
    with web_server.api() as client:
        audit = client.get("/api/v1/audit", params={"action": "job.retry"}).json()["items"]
    assert [(e["target_id"], e["actor_name"]) for e in audit] == [(failed_job, "eve")]


@pytest.mark.timeout(480)
def test_job_progress_updates_live(open_as: Any, web_server: WebServer) -> None:
    signed = open_as("ed", "/admin/dashboard")
    page = signed.page
    # Live events connected: jobs are re-read only every 30 s, so what follows is events.
    expect(page.locator(".live-live")).to_be_visible()
    expect(page.get_by_role("heading", name="Running (0)")).to_be_visible()
    with web_server.api() as client:
        queued = client.post(
            "/api/v1/jobs", json={"track_id": web_server.track_ids[LONG], "force": True}
        )
    assert queued.status_code == 201, queued.text
    job_id = queued.json()["id"]
    bar = page.get_by_role("progressbar", name="transcode of Long Haul")
    expect(bar).to_be_visible(timeout=15_000)
    page.wait_for_function(
        """() => {
            const bar = document.querySelector('[aria-label="transcode of Long Haul"]');
            const value = bar && Number(bar.getAttribute('aria-valuenow'));
            return value > 0 && value < 100;
        }""",
        timeout=30_000,
    )
    # Four minutes of audio into the ladder take a while on a busy machine: the page is
    # judged from the moment the job is done, by which its event has reached the page
    # (the list's own re-read comes every 30 s, later than this allows).
    with web_server.api() as client:
        done = _wait_for_job(client, job_id, "succeeded", "failed", seconds=300)
    assert (done["status"], done["progress"]) == ("succeeded", 1.0), done
    succeeded = page.get_by_role("region", name="Recently succeeded")
    expect(succeeded.locator(f'[data-job="{job_id}"]')).to_be_visible(timeout=20_000)
    expect(bar).to_have_count(0)


def _traffic(web_server: WebServer, seconds: float, done: threading.Event) -> None:
    """Plain players: range requests of an original and HLS segments, for ``seconds``."""
    track = web_server.track_ids["aurora.flac"]
    with httpx.Client(base_url=web_server.base_url, timeout=10) as client:
        master = client.get(f"/hls/{track}/master.m3u8").text
        variant = next(line for line in master.splitlines() if line and line[0] != "#")
        folder = f"/hls/{track}/{variant.rsplit('/', 1)[0]}"
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            client.get(f"/media/{track}/original", headers={"Range": "bytes=0-999"})
            client.get(f"{folder}/seg_{n % 2}.m4s")
            n += 1
            time.sleep(0.02)
    done.set()


def test_request_and_cache_plots_show_the_traffic(open_as: Any, web_server: WebServer) -> None:
    signed = open_as("ed", "/admin/dashboard")
    page = signed.page
    expect(page.get_by_role("heading", name="Requests", exact=True)).to_be_visible()
    done = threading.Event()
    threading.Thread(target=_traffic, args=(web_server, 12.0, done), daemon=True).start()
    rate = page.get_by_role("img", name=re.compile(r"^Requests per second, last 5 minutes"))
    expect(rate).to_have_accessible_name(re.compile(r"peak [1-9]"), timeout=25_000)
    ratio = page.get_by_role("img", name=re.compile(r"^Segment cache hit ratio, last 5 minutes"))
    expect(ratio).to_have_accessible_name(re.compile(r"peak [1-9]"), timeout=15_000)
    statuses = page.get_by_role("img", name=re.compile(r"^Responses by status"))
    expect(statuses).to_have_accessible_name(re.compile(r"\b206 [1-9]"))
    expect(page.get_by_role("cell", name="/media/{track_id}/original")).to_be_visible()
    # The plots' text alternatives: a table of the readings behind each line.
    readings = page.locator("figure", has_text="Requests per second").locator("tbody tr")
    expect(readings.first).to_be_attached()
    assert done.wait(20)
    screenshot(page, "dashboard")


def _bytes(n: int) -> str:
    """ui.js formatBytes, for comparing what the page shows with the API's figures."""
    units = ["B", "kB", "MB", "GB", "TB"]
    value, unit = float(n), 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    return f"{value:.{1 if value < 10 and unit else 0}f} {units[unit]}"


def test_storage_per_library_is_shown(open_as: Any, web_server: WebServer) -> None:
    with web_server.api() as client:
        (library,) = client.get("/api/v1/stats/storage").json()["libraries"]
    signed = open_as("val", "/admin/dashboard")  # storage is for every role
    page = signed.page
    storage = page.get_by_role("region", name="Storage", exact=True)
    bars = storage.get_by_role("img", name=re.compile(r"^Storage per library"))
    expect(bars).to_have_accessible_name(
        f"Storage per library: {library['name']} {_bytes(library['total_bytes'])}."
    )
    row = storage.locator(".table-wrap").get_by_role("row", name=re.compile(library["name"]))
    expect(row).to_contain_text(str(library["tracks"]))
    expect(row).to_contain_text(_bytes(library["originals_bytes"]))
    expect(row).to_contain_text(_bytes(library["derived_bytes"]))


def test_an_editor_sees_no_audit_panel_and_no_users_link(open_as: Any) -> None:
    signed = open_as("eve", "/admin/dashboard")
    page = signed.page
    expect(page.get_by_role("heading", name="Requests", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Storage", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Recent audit entries")).to_have_count(0)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)


def test_a_viewer_has_no_retry_and_the_api_refuses_one(open_as: Any, failed_job: str) -> None:
    signed = open_as("val", "/admin/dashboard")
    page = signed.page
    row = page.locator(f'[data-job="{failed_job}"]')
    expect(row).to_be_visible()
    expect(row.get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("heading", name="Requests", exact=True)).to_have_count(0)
    refused = signed.context.request.post(
        f"/api/v1/jobs/{failed_job}/retry",
        headers={"X-CSRF-Token": signed.session["csrf_token"]},
    )
    assert refused.status == 403
    assert refused.headers["content-type"] == "application/problem+json"


def test_polling_stops_while_the_tab_is_hidden(open_as: Any) -> None:
    signed = open_as("ed", "/admin/dashboard")
    page = signed.page
    expect(page.get_by_text(re.compile(r"^Updated "))).to_be_visible()
    polled: list[str] = []
    page.on("request", lambda r: polled.append(r.url) if "/api/v1/stats" in r.url else None)
    page.evaluate(
        """() => {
            Object.defineProperty(document, 'hidden', {value: true, configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    expect(page.get_by_text("Paused while this tab is hidden.")).to_be_visible()
    polled.clear()
    page.wait_for_timeout(6_500)  # longer than the 5 s between readings
    assert polled == []
    with page.expect_request(lambda r: r.url.endswith("/api/v1/stats"), timeout=2_000):
        page.evaluate(  # shown again: read at once
            """() => {
                Object.defineProperty(document, 'hidden', {value: false, configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
    expect(page.get_by_text(re.compile(r"^Updated "))).to_be_visible()


def test_errors_are_shown_grouped_with_their_request_id(
    open_as: Any, web_server: WebServer
) -> None:
    """A waveform file that is not JSON makes every request for it fail the same way."""
    track = web_server.track_ids["cascade.flac"]
    stored = list(web_server.library.glob(".streamer/**/peaks.json"))
    originals = {path: path.read_bytes() for path in stored}
    try:
        for path in stored:
            path.write_bytes(b"{not json")
        ids = []
        with web_server.api() as client:
            for _ in range(3):
                answer = client.get(f"/api/v1/tracks/{track}/waveform")
                assert answer.status_code == 500
                ids.append(answer.headers["x-request-id"])
    finally:
        for path, original in originals.items():
            path.write_bytes(original)
    page = open_as("ed", "/admin/dashboard").page  # an admin: messages and places shown
    table = page.get_by_role("region", name="Errors by type and place")
    row = table.get_by_role("row").filter(has_text="JSONDecodeError")
    expect(row).to_contain_text("streamer.routes.api.get_waveform")
    expect(row.get_by_role("cell").nth(2)).to_have_text(re.compile(r"^[3-9]$|^\d\d+$"))
    expect(row).to_contain_text(ids[-1])


def test_the_dashboard_passes_axe(open_as: Any, failed_job: str) -> None:
    signed = open_as("ed", "/admin/dashboard")
    page = signed.page
    expect(page.get_by_role("heading", name="Recent audit entries")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Storage per library"))).to_be_visible()
    expect(page.locator(f'[data-job="{failed_job}"]')).to_be_visible()
    check_accessibility(page, "the dashboard")
    page.set_viewport_size(PHONE)  # tables scroll sideways there
    check_accessibility(page, "the dashboard at phone width")
