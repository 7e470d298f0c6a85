"""The analytics pages without a server (tests/web/components/analytics.test.js): their pure
logic and charts as functions in Chromium, and the whole analytics page and a custom
dashboard on a fake API in the page (contract F's shapes), driven like a user would, with
axe. The same pages against a real server with counted data: test_analytics_page.py."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import check_accessibility
from tests.web.harness import COMPONENTS, serve_harness

# The machine running the suite is shared: give the page time to draw.
expect.set_options(timeout=10_000)

TESTS = re.findall(
    r"^export async function (test_\w+)\(", (COMPONENTS / "analytics.test.js").read_text(), re.M
)


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Page]:
    with serve_harness() as harness:
        context = browser.new_context(
            base_url=harness.base_url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/components/analytics.html")
        page.wait_for_function("window.harnessReady === true", timeout=10_000)
        yield page
        context.close()
        assert errors == [], f"uncaught errors in the harness page: {errors}"


def test_the_harness_finds_the_tests() -> None:
    assert len(TESTS) >= 10


@pytest.mark.parametrize("name", TESTS)
def test_component(page: Page, name: str) -> None:
    page.evaluate("(name) => window.runTest(name)", name)


def reports(page: Page) -> list[dict[str, list[str]]]:
    """The query of every report the page asked the fake API for, in order."""
    asked: list[str] = page.evaluate("() => window.fakeRequests()")
    return [
        parse_qs(urlsplit(line.split(" ", 1)[1]).query)
        for line in asked
        if " /analytics/report?" in line
    ]


def asked_for(page: Page, check: Callable[[dict[str, list[str]]], bool]) -> None:
    """Until the page has asked for a report that passes ``check`` (requests go out in an
    effect, just after the render that an assertion may already have seen)."""
    deadline = time.monotonic() + 10
    while not any(check(query) for query in reports(page)):
        assert time.monotonic() < deadline, f"no such report asked for: {reports(page)}"
        page.wait_for_timeout(50)


def spans_days(query: dict[str, list[str]]) -> float:
    start, end = (datetime.fromisoformat(query[name][0]) for name in ("from", "to"))
    return round((end - start).total_seconds() / 86400, 3)


def test_the_analytics_page_draws_the_report_and_asks_again_for_a_new_interval(
    page: Page,
) -> None:
    page.evaluate("() => window.mountPage('analytics')")
    main = page.locator(".an-main")
    expect(main.locator("canvas[role=img]")).to_have_attribute(
        "aria-label", re.compile("Downloads")
    )
    expect(page.locator(".an-breakdown canvas")).to_have_count(5)
    expect(page.get_by_test_id("listeners-now")).to_have_text("4")
    # Totals with their change against the previous period (the fake's is 80 % of now).
    expect(page.locator(".an-totals .tile").first).to_contain_text(
        re.compile(r"\+2\d(\.\d)? % vs the previous period")
    )
    first = reports(page)
    main_query = next(
        q
        for q in first
        if q.get("compare") == ["previous"]
        and q["group_by"] == ["none"]
        and q["metric"] == ["downloads"]
    )
    assert main_query["interval"] == ["day"]
    # The previous period is asked for too, to draw its line.
    assert any("compare" not in q and q["group_by"] == ["none"] for q in first)
    assert {q["group_by"][0] for q in first} >= {"track", "app", "device", "browser", "country"}

    page.get_by_label("Interval").select_option("hour")
    expect(page.locator(".an-main canvas")).to_have_attribute(
        "aria-label", re.compile(r"\d\d:\d\d")
    )
    asked_for(page, lambda q: q["interval"] == ["hour"])
    page.get_by_label("Range").select_option("24h")
    page.get_by_label("Metric").select_option("listening_seconds")
    expect(page.locator(".an-main h2")).to_have_text("Listening time per hour")
    asked_for(page, lambda q: q["metric"] == ["listening_seconds"])

    # Filters go into the query; the track filter is a select of the tracks.
    page.locator("#an-filter-track").select_option("t2")
    expect(page.locator(".an-main canvas")).to_be_visible()
    asked_for(page, lambda q: q.get("track") == ["t2"])

    # The export links are the same report as CSV and JSON.
    csv = page.get_by_role("link", name="Export CSV")
    query = parse_qs(urlsplit(csv.get_attribute("href") or "").query)
    assert (query["format"], query["track"], query["interval"]) == (["csv"], ["t2"], ["hour"])
    assert csv.get_attribute("download") == "analytics-listening_seconds.csv"

    # A chart's figures as a table.
    page.locator(".an-main summary").click()
    expect(page.locator(".an-main table caption")).to_have_text("Listening time per hour")
    check_accessibility(page, "the analytics page")
    page.evaluate("() => window.unmountPage()")


def test_a_custom_range_and_a_bad_one(page: Page) -> None:
    page.evaluate("() => window.mountPage('analytics')")
    page.get_by_label("Range").select_option("custom")
    page.get_by_label("First day").fill("2026-10-01")
    page.get_by_label("Last day").fill("2026-10-31")
    expect(page.locator(".an-main canvas")).to_have_attribute(
        "aria-label", re.compile("1 Oct 2026 to 31 Oct 2026")
    )
    page.get_by_label("First day").fill("2026-11-05")
    expect(page.get_by_role("alert")).to_contain_text("The last day comes before the first.")
    page.evaluate("() => window.unmountPage()")


def test_the_page_says_when_realtime_figures_are_missing(page: Page) -> None:
    page.evaluate("() => window.mountPage('analytics', {}, {failRealtime: true})")
    expect(page.locator(".an-realtime")).to_contain_text("Not Found")
    page.evaluate("() => window.unmountPage()")


def test_a_dashboard_with_two_views_arranged_and_read_again(page: Page) -> None:
    page.evaluate("() => window.mountPage('dashboards')")
    page.get_by_label("New dashboard").fill("Weekly")
    page.get_by_role("button", name="Create").click()
    # The list page navigates to the new dashboard: mount it as the router would.
    page.wait_for_function("() => location.pathname.endsWith('/d1')")
    page.evaluate("() => window.mountPage('dashboards', {id: 'd1'}, {fresh: false})")
    expect(page.get_by_role("heading", name="Weekly")).to_be_visible()

    page.get_by_role("button", name="Add view").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Title").fill("Downloads a day")
    dialog.get_by_role("button", name="Add view").click()
    expect(page.locator(".an-grid-view")).to_have_count(1)
    page.get_by_role("button", name="Add view").first.click()
    dialog.get_by_label("Title").fill("Apps")
    dialog.get_by_label("Metric").select_option("listeners")
    dialog.get_by_label("Group by").select_option("app")
    dialog.get_by_label("Chart").select_option("pie")
    dialog.get_by_label("Range").select_option("7")
    dialog.get_by_role("button", name="Add view").click()
    expect(page.locator(".an-grid-view")).to_have_count(2)
    expect(page.locator(".an-save-status")).to_have_text("Saved (view added)")
    expect(page.locator("[data-view] h2")).to_have_text(["Downloads a day", "Apps"])
    expect(page.locator(".an-grid-view canvas")).to_have_count(2)

    # Arrange with the keyboard: Apps moves left of the first view, then grows.
    page.get_by_role("button", name="Arrange").click()
    left = page.get_by_role("button", name="Move left: Apps")
    left.focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-view] h2")).to_have_text(["Apps", "Downloads a day"])
    expect(page.get_by_role("button", name="Wider: Apps")).to_be_enabled()
    page.get_by_role("button", name="Wider: Apps").click()
    expect(page.locator(".an-save-status")).to_have_text("Saved (arranged)")
    # Rename.
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("Name").fill("Weekly figures")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator(".an-save-status")).to_have_text("Saved (renamed)")
    check_accessibility(page, "a custom dashboard")

    # Read again from the (fake) server: the arrangement was stored.
    page.evaluate("() => window.mountPage('dashboards', {id: 'd1'}, {fresh: false})")
    expect(page.get_by_role("heading", name="Weekly figures")).to_be_visible()
    expect(page.locator("[data-view] h2")).to_have_text(["Apps", "Downloads a day"])
    stored = page.evaluate("() => JSON.parse(sessionStorage.getItem('fake-dashboards')).d1.views")
    apps = next(view for view in stored if view["title"] == "Apps")
    assert apps["position"] == {"x": 0, "y": 0, "w": 7, "h": 2}
    assert (apps["chart"], apps["group_by"], apps["metric"]) == ("pie", "app", "listeners")
    assert apps["days"] == 7
    # Each view over its own range: the pie's report covers its 7 days.
    expect(page.locator("[data-view]", has_text="Apps")).to_contain_text("Last 7 days")
    asked_for(page, lambda q: q["group_by"] == ["app"] and spans_days(q) == 7)
    puts = [line for line in page.evaluate("() => window.fakeRequests()") if line.startswith("PUT")]
    assert puts == []  # reading does not write

    # Remove a view; the list shows the dashboard, which can be deleted.
    page.get_by_role("button", name="Remove Downloads a day").click()
    expect(page.locator(".an-grid-view")).to_have_count(1)
    page.evaluate("() => window.mountPage('dashboards', {}, {fresh: false})")
    expect(page.get_by_role("link", name="Weekly figures")).to_be_visible()
    page.get_by_role("button", name="Delete Weekly figures").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No dashboards yet")).to_be_visible()
    page.evaluate("() => window.unmountPage()")
