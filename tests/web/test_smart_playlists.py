"""Smart playlists in a real browser: created from the list's dialog, rules built as rows
and groups with a live preview (count, duration, order, errors of an incomplete row), saved
as a revision, and undone; checked with axe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebServer, check_accessibility

pytestmark = pytest.mark.slow


@pytest.fixture
def created(web_server: WebServer) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    with web_server.api() as api:
        for playlist_id in ids:
            api.delete(f"/api/v1/playlists/{playlist_id}")


def preview(page: Page) -> Any:
    return page.get_by_role("region", name="Preview")


def test_building_a_rule_with_a_live_preview(
    open_as: Any, web_server: WebServer, created: list[str]
) -> None:
    page: Page = open_as("ed", "/admin/playlists").page
    page.get_by_role("button", name="New playlist").click()
    dialog = page.get_by_role("dialog", name="New playlist")
    dialog.get_by_label("Name").fill("Ambient by length")
    dialog.get_by_label("Smart playlist").check()
    dialog.get_by_role("button", name="Create playlist").click()
    expect(page.get_by_role("heading", name="Ambient by length", level=1)).to_be_visible()
    created.append(page.url.rsplit("/", 1)[1])
    # A new smart playlist matches its whole library until it has conditions.
    expect(preview(page)).to_contain_text("3 tracks")

    page.get_by_role("button", name="Add condition").click()
    row = "Rule, condition 1"
    expect(page.get_by_label(f"{row}: field")).to_have_value("genre")
    page.get_by_label(f"{row}: value").fill("ambient")
    expect(preview(page)).to_contain_text("2 tracks · 0:19")  # 12 + 7 seconds
    page.get_by_label("Order").select_option("duration")
    expect(preview(page).get_by_role("listitem").first).to_contain_text("Cascade")

    # A nested "any" group, with a row not finished yet: the server's reason shows.
    page.get_by_role("button", name="Add group").click()
    inner = "Rule, group 2, condition 1"
    page.get_by_label(f"{inner}: field").select_option("year")
    expect(page.get_by_label(f"{inner}: operator")).to_have_value("is")
    expect(preview(page)).to_contain_text("The rule is not complete")
    expect(preview(page)).to_contain_text("expects a number")
    page.get_by_label(f"{inner}: operator").select_option("gte")
    page.get_by_label(f"{inner}: value").fill("2020")
    expect(preview(page)).to_contain_text("2 tracks")
    check_accessibility(page, "the smart playlist's rule builder")

    page.get_by_role("button", name="Save rules").click()
    expect(page.locator(".pl-status")).to_contain_text("Rules saved")
    items = page.get_by_role("listbox").locator(".pl-title")
    expect(items).to_have_text(["Cascade", "Aurora"])
    with web_server.api() as api:
        body = api.get(f"/api/v1/playlists/{created[0]}").json()
    rules = body["rules"]
    assert rules["match"]["all"][0] == {"field": "genre", "op": "is", "value": "ambient"}
    assert rules["match"]["all"][1]["any"][0]["value"] == 2020
    assert rules["order"][0]["field"] == "duration"
    assert body["revision"] == 2

    # Undo goes back to the rule the playlist was created with.
    page.get_by_role("button", name="↶ Undo").click()
    expect(page.locator(".pl-status")).to_contain_text("Saved")
    expect(items).to_have_count(3)
    expect(page.get_by_label(f"{row}: field")).to_have_count(0)
