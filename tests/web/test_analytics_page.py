"""The analytics page and custom dashboards against a real `streamer serve` whose rollups
hold known figures: a chart and breakdowns of the seeded downloads, a change of interval
asks again, the CSV export downloads the report, a dashboard of two views arranged and
read again after a reload, axe on each. One server for the module (the conftest's, with
the periodic rollup off so that only the seeded rows count)."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from streamer.analytics.rollup import roll_up
from streamer.db import Database
from streamer.settings import Settings
from tests.fixtures.analytics import MemoryEvents, delivery, load_fake
from tests.web.conftest import (
    WebServer,
    check_accessibility,
    in_thread,
    screenshot,
    start_web_server,
)

pytestmark = pytest.mark.slow
expect.set_options(timeout=10_000)

# (hours ago, listener, track file, app, country): each a download (tests.fixtures.analytics'
# counter counts every whole-file request once).
SEEDED = [
    (50, "x", "aurora.flac", "Overcast", "FR"),
    (49, "y", "aurora.flac", "Apple Podcasts", "DE"),
    (30, "z", "aurora.flac", "Overcast", "DE"),
    (26, "x", "bright lights.mp3", "Overcast", "FR"),
    (5, "y", "bright lights.mp3", "Apple Podcasts", "US"),
    (3, "w", "cascade.flac", "Overcast", "FR"),
]


async def _seed(settings: Settings, track_ids: dict[str, str]) -> None:
    now = datetime.now(UTC)
    events = [
        dataclasses.replace(
            delivery(0, listener, track_ids[name], agent=app, country=country),
            at=now - timedelta(hours=hours),
        )
        for hours, listener, name, app, country in SEEDED
    ]
    db = Database(settings.effective_database_url)
    try:
        await roll_up(db, load_fake, owner="tests", now=now, read=MemoryEvents(events))
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    tmp = tmp_path_factory.mktemp("analytics-web")
    env = {"STREAMER_ANALYTICS_ROLLUP_SECONDS": "0"}
    for server in start_web_server(tmp, extra_env=env):
        settings = Settings.load({}, data_dir=tmp / "data")
        in_thread(asyncio.run, _seed(settings, server.track_ids))
        yield server


def test_the_analytics_page_charts_the_seeded_downloads(open_as: Any) -> None:
    signed = open_as("ed", "/admin/analytics?range=7d&tz=UTC")
    page = signed.page
    main = page.locator(".an-main")
    expect(main.locator("canvas[role=img]")).to_have_attribute(
        "aria-label", re.compile(r"^Downloads per day from .*highest")
    )
    downloads = page.locator(".an-totals .tile").first
    expect(downloads.locator(".tile-value")).to_have_text("6")
    # Breakdowns: tracks by title, apps from the user agents.
    tracks = page.locator(".an-breakdown", has_text="Top tracks")
    expect(tracks.locator("tbody tr")).to_have_count(3)
    expect(tracks.locator("tbody tr").first).to_contain_text("Aurora")
    expect(tracks.locator("tbody tr").first.locator("td")).to_have_text("3")
    apps = page.locator(".an-breakdown", has_text="Apps")
    expect(apps.locator("tbody th")).to_have_text(["Overcast", "Apple Podcasts"])
    countries = page.locator(".an-breakdown", has_text="Countries")
    expect(countries.locator("tbody tr")).to_have_count(3)
    # The chart's own table: six downloads over the days of the range.
    main.locator("summary").click()
    cells = main.locator("tbody td")
    expect(cells.first).to_be_visible()
    assert sum(int(text) for text in cells.all_inner_texts() if text.isdigit()) == 6
    check_accessibility(page, "the analytics page with data")
    screenshot(page, "analytics")

    # Another interval asks the server again.
    with page.expect_request(
        lambda request: (
            "/api/v1/analytics/report?" in request.url and "interval=hour" in request.url
        )
    ):
        page.get_by_label("Interval").select_option("hour")
    expect(main.locator("canvas")).to_have_attribute("aria-label", re.compile(r"per hour from"))
    expect(downloads.locator(".tile-value")).to_have_text("6")

    # The export link downloads the report on screen as CSV.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["series", "label", "t", "downloads"]
    assert sum(float(row[3]) for row in rows[1:]) == 6

    # A filter: one track.
    page.locator("#an-filter-track").select_option(label="Aurora")
    expect(downloads.locator(".tile-value")).to_have_text("3")


def test_a_dashboard_of_two_views_is_arranged_and_kept(open_as: Any, web_server: WebServer) -> None:
    signed = open_as("ed", "/admin/analytics/dashboards")
    page = signed.page
    page.get_by_label("New dashboard").fill("Weekly")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Weekly", level=1)).to_be_visible()
    dialog = page.get_by_role("dialog")
    for title, metric, group, chart in (
        ("Downloads a day", "downloads", "none", "bar"),
        ("Countries", "downloads", "country", "pie"),
    ):
        page.get_by_role("button", name="Add view").first.click()
        dialog.get_by_label("Title").fill(title)
        dialog.get_by_label("Metric").select_option(metric)
        dialog.get_by_label("Group by").select_option(group)
        dialog.get_by_label("Chart").select_option(chart)
        dialog.get_by_role("button", name="Add view").click()
        expect(page.locator(".an-save-status")).to_have_text("Saved (view added)")
    expect(page.locator("[data-view] h2")).to_have_text(["Downloads a day", "Countries"])
    expect(page.locator(".an-grid-view canvas")).to_have_count(2)
    pie = page.locator("[data-view]", has_text="Countries")
    pie.locator("summary").click()
    expect(pie.locator("tbody tr")).to_have_count(3)

    page.get_by_role("button", name="Arrange").click()
    page.get_by_role("button", name="Move left: Countries").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-view] h2")).to_have_text(["Countries", "Downloads a day"])
    page.get_by_role("button", name="Taller: Countries").click()
    expect(page.locator(".an-save-status")).to_have_text("Saved (arranged)")
    check_accessibility(page, "a custom dashboard")
    screenshot(page, "analytics-dashboard")

    page.reload()
    expect(page.locator("[data-view] h2")).to_have_text(["Countries", "Downloads a day"])
    with web_server.api() as client:
        found = client.get("/api/v1/analytics/dashboards").json()
        items = found if isinstance(found, list) else found["items"]
    # The API key is another owner: the dashboard is ed's own.
    assert [d["name"] for d in items if d["name"] == "Weekly"] == []
    dashboard_id = page.url.rsplit("/", 1)[1].split("?")[0]
    stored = signed.context.request.get(f"/api/v1/analytics/dashboards/{dashboard_id}").json()
    places = {view["title"]: view["position"] for view in stored["views"]}
    assert places["Countries"]["x"] == 0
    assert places["Countries"]["h"] == 3
    assert places["Downloads a day"]["x"] == 6


def test_a_viewer_reads_the_figures_of_the_libraries_granted(open_as: Any) -> None:
    page = open_as("val", "/admin/analytics?range=7d&tz=UTC").page
    expect(page.get_by_role("link", name="Analytics")).to_have_attribute("aria-current", "page")
    expect(page.locator(".an-totals .tile").first.locator(".tile-value")).to_have_text("6")
    tracks = page.locator(".an-breakdown", has_text="Top tracks")
    expect(tracks.locator("tbody tr")).to_have_count(3)
