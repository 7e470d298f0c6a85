"""The channel pages in Chromium against a fake channels API (tests/web/channels_fake.py,
contract C): the schedule editor (occurrences drawn, a conflict shown hatched and listed,
dragging moves an entry and resizing changes its length through PATCH with If-Match,
a 412 reloads and says so, undo sends the inverse change, the time-zone switch moves the
hours shown, selecting a range adds an entry with a repetition rule), the preview, the
now-playing view with its player, and the channels list; axe on each view.

One harness server (the admin's static files) for the module; the clock is frozen on
Tuesday 1 December 2026 12:00 UTC so the calendar shows the same week every time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.web.channels_fake import FakeChannels
from tests.web.conftest import DESKTOP, check_accessibility
from tests.web.harness import Harness, serve_harness

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with serve_harness() as harness:
        yield harness


@pytest.fixture
def fake() -> FakeChannels:
    return FakeChannels()


@pytest.fixture
def page(browser: Browser, harness: Harness, fake: FakeChannels) -> Iterator[Page]:
    context = browser.new_context(
        base_url=harness.base_url, viewport=DESKTOP, locale="en-GB", timezone_id="UTC"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}"))
    page.clock.set_fixed_time(NOW)
    fake.install(page)
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def event(page: Page, title: str) -> Locator:
    return page.locator(".fc-timegrid-event", has_text=title)


def open_schedule(page: Page) -> None:
    page.goto("/admin/channels/c1")
    expect(page.get_by_role("heading", name="Radio One", level=1)).to_be_visible()
    expect(event(page, "Evening").first).to_be_visible()


def slot_height(page: Page) -> float:
    """Pixels per half-hour slot (row to row: borders included)."""
    first = page.locator('.fc-timegrid-slot-lane[data-time="00:00:00"]').bounding_box()
    later = page.locator('.fc-timegrid-slot-lane[data-time="10:00:00"]').bounding_box()
    assert first
    assert later
    return float(later["y"] - first["y"]) / 20


def drag(page: Page, source: Locator, dy: float, *, at: float = 0.3) -> None:
    """Press on `source` (at that fraction of its height), move by dy pixels in steps (so
    FullCalendar sees a drag), release."""
    source.scroll_into_view_if_needed()
    box = source.bounding_box()
    assert box
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * at
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + dy / 2, steps=5)
    page.mouse.move(x, y + dy, steps=5)
    page.mouse.up()


def writes(fake: FakeChannels, method: str) -> list[tuple[str, str, str | None, Any]]:
    return [write for write in fake.writes if write[0] == method]


def test_the_schedule_shows_occurrences_and_the_conflict(page: Page, fake: FakeChannels) -> None:
    open_schedule(page)
    morning = event(page, "Morning")
    expect(morning).to_have_class(re.compile(r"\bch-lost\b"))
    expect(morning).to_have_attribute(
        "title", re.compile("does not play: a higher priority entry overlaps")
    )
    expect(event(page, "News")).not_to_have_class(re.compile(r"\bch-lost\b"))
    conflicts = page.locator(".ch-conflicts li")
    expect(conflicts).to_have_count(1)
    expect(conflicts).to_contain_text("Morning")
    expect(conflicts).to_contain_text("against News")
    # Asked in the channel's zone, for the week shown.
    assert any(
        ask.startswith("/channels/c1/occurrences?") and "tz=Europe%2FParis" in ask
        for ask in fake.asked
    ), fake.asked
    check_accessibility(page, "the schedule editor")


def test_dragging_an_entry_moves_it_and_undo_moves_it_back(page: Page, fake: FakeChannels) -> None:
    open_schedule(page)
    evening = event(page, "Evening")
    drag(page, evening, 4 * slot_height(page))  # four half-hour slots: two hours later
    expect(page.get_by_role("button", name="Undo: Move Evening")).to_be_enabled()
    (_method, path, if_match, body) = writes(fake, "PATCH")[0]
    assert path == "/channels/c1/entries/e-evening"
    assert if_match == '"1"'
    assert body == {"start": "2026-12-03T20:00:00", "exdates": []}
    assert fake.entries["e-evening"]["start"] == "2026-12-03T20:00:00"
    expect(event(page, "Evening").locator(".fc-event-time")).to_have_text("20:00 - 21:00")

    page.get_by_role("button", name="Undo: Move Evening").click()
    expect(page.get_by_role("button", name="Undo", exact=True)).to_be_disabled()
    (_, _, if_match, body) = writes(fake, "PATCH")[1]
    assert if_match == '"2"'  # the revision the first change's answer gave
    assert body == {"start": "2026-12-03T18:00:00", "exdates": []}
    expect(event(page, "Evening").locator(".fc-event-time")).to_have_text("18:00 - 19:00")


def test_resizing_an_entry_changes_its_duration(page: Page, fake: FakeChannels) -> None:
    open_schedule(page)
    evening = event(page, "Evening")
    evening.hover()
    handle = evening.locator(".fc-event-resizer-end")
    drag(page, handle, 2 * slot_height(page), at=0.5)  # one more hour
    expect(page.get_by_role("button", name="Undo: Resize Evening")).to_be_enabled()
    (_, path, _, body) = writes(fake, "PATCH")[0]
    assert path == "/channels/c1/entries/e-evening"
    assert body == {"duration_seconds": 7200}
    expect(event(page, "Evening").locator(".fc-event-time")).to_have_text("18:00 - 20:00")


def test_a_change_made_elsewhere_meanwhile_reloads_and_says_so(
    page: Page, fake: FakeChannels
) -> None:
    open_schedule(page)
    fake.fail_next["/channels/c1/entries/e-evening"] = 412
    drag(page, event(page, "Evening"), 2 * slot_height(page))
    expect(page.locator(".toast-error")).to_contain_text("changed elsewhere")
    # Put back where it was, nothing to undo, and the next change carries the new revision.
    expect(event(page, "Evening").locator(".fc-event-time")).to_have_text("18:00 - 19:00")
    expect(page.get_by_role("button", name="Undo", exact=True)).to_be_disabled()
    drag(page, event(page, "Evening"), 2 * slot_height(page))
    expect(page.get_by_role("button", name="Undo: Move Evening")).to_be_enabled()
    assert writes(fake, "PATCH")[-1][2] == '"2"'


def test_the_time_zone_switch_changes_the_hours_shown(page: Page, fake: FakeChannels) -> None:
    open_schedule(page)
    expect(event(page, "Evening").locator(".fc-event-time")).to_have_text("18:00 - 19:00")
    page.get_by_label("Show times in").select_option("Asia/Tokyo")
    # Paris is UTC+1 in December, Tokyo UTC+9: 18:00 there is 02:00 the next day here.
    expect(event(page, "Evening").locator(".fc-event-time")).to_have_text("02:00 - 03:00")
    expect(page.locator(".ch-calendar")).to_have_attribute("data-zone", "Asia/Tokyo")
    assert any("tz=Asia%2FTokyo" in ask for ask in fake.asked), fake.asked
    page.get_by_label("Show times in").select_option("UTC")
    expect(event(page, "Evening").locator(".fc-event-time")).to_have_text("17:00 - 18:00")


def test_selecting_a_range_adds_a_repeating_entry(page: Page, fake: FakeChannels) -> None:
    open_schedule(page)
    # Wednesday 2 December, 14:00 to 15:00.
    column = page.locator('.fc-timegrid-col[data-date="2026-12-02"]')
    slot = page.locator('.fc-timegrid-slot-lane[data-time="14:00:00"]')
    slot.scroll_into_view_if_needed()
    column_box, slot_box = column.bounding_box(), slot.bounding_box()
    assert column_box
    assert slot_box
    x = column_box["x"] + column_box["width"] / 2
    y = slot_box["y"] + 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + slot_height(page), steps=4)
    page.mouse.move(x, y + 2 * slot_height(page) - 4, steps=4)
    page.mouse.up()
    dialog = page.get_by_role("dialog", name="New schedule entry")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Starts")).to_have_value("2026-12-02T14:00")
    expect(dialog.get_by_label("Minutes")).to_have_value("60")
    dialog.get_by_label("Playlist").select_option(label="News")
    dialog.get_by_label("Repeats").select_option("weekdays")
    dialog.get_by_label("Ends").select_option("count")
    dialog.get_by_label("Times", exact=True).fill("5")
    expect(dialog.get_by_test_id("rrule")).to_have_text("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=5")
    check_accessibility(page, "the entry dialog")
    dialog.get_by_role("button", name="Add to the schedule").click()
    expect(dialog).to_be_hidden()
    (_, path, if_match, body) = writes(fake, "POST")[0]
    assert path == "/channels/c1/entries"
    assert if_match == '"1"'
    assert body == {
        "playlist_id": "p-news",
        "start": "2026-12-02T14:00:00",
        "duration_seconds": 3600,
        "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=5",
        "exdates": [],
        "priority": 0,
        "order": "sequential",
    }
    page.get_by_role("button", name="Undo: Add News").click()
    expect(page.get_by_role("button", name="Undo", exact=True)).to_be_disabled()
    assert writes(fake, "DELETE")[0][1] == "/channels/c1/entries/e-new1"


def test_an_entry_opens_from_the_keyboard_and_its_exception_is_saved(
    page: Page, fake: FakeChannels
) -> None:
    fake.entries["e-evening"]["rrule"] = "FREQ=DAILY"
    open_schedule(page)
    evenings = event(page, "Evening")
    expect(evenings).to_have_count(4)  # Thursday to Sunday
    evenings.nth(1).focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Schedule entry")
    expect(dialog.get_by_label("Repeats")).to_have_value("daily")
    expect(dialog.get_by_test_id("rrule")).to_have_text("FREQ=DAILY")
    dialog.get_by_role("button", name=re.compile("Skip the occurrence of 2026-12-04 18:00")).click()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    (_, _, _, body) = writes(fake, "PATCH")[0]
    assert body == {"exdates": ["2026-12-04T18:00:00"]}
    expect(event(page, "Evening")).to_have_count(3)


def test_the_preview_says_what_plays_when_in_a_zone(page: Page, fake: FakeChannels) -> None:
    page.goto("/admin/channels/c1?view=preview")
    form = page.get_by_role("form", name="What plays when")
    expect(form.get_by_label("At", exact=True)).to_have_value("2026-12-01T13:00")  # now, in Paris
    form.get_by_label("At", exact=True).fill("2026-12-01T14:00")
    form.get_by_label("Time zone").select_option("Asia/Tokyo")
    form.get_by_role("button", name="Show what plays").click()
    table = page.get_by_role("table", name="What plays, times in Asia/Tokyo")
    expect(table.get_by_role("row")).to_have_count(3)
    expect(table).to_contain_text("Tue 1 Dec 14:00:00")
    expect(table).to_contain_text("entry Morning, track 1 of 3")
    ask = next(ask for ask in fake.asked if ask.startswith("/channels/c1/preview?"))
    assert "from=2026-12-01T14%3A00%3A00.000%2B09%3A00" in ask, ask
    assert "tz=Asia%2FTokyo" in ask
    check_accessibility(page, "the preview")


def test_now_playing_shows_the_track_and_a_live_player(page: Page, fake: FakeChannels) -> None:
    page.goto("/admin/channels/c1?view=now")
    expect(page.get_by_test_id("now-title")).to_contain_text("Bright Lights")
    expect(page.locator(".ch-next li")).to_contain_text("Cascade")
    player = page.get_by_label("Live stream of this channel")
    expect(player).to_have_attribute("data-mode", "hls.js")
    check_accessibility(page, "now playing")


def test_the_channels_list_creates_a_channel(page: Page, fake: FakeChannels) -> None:
    page.goto("/admin/channels")
    expect(page.get_by_role("link", name="Radio One")).to_be_visible()
    page.get_by_role("button", name="New channel").click()
    dialog = page.get_by_role("dialog", name="New channel")
    dialog.get_by_label("Name", exact=True).fill("Tokyo nights")
    dialog.get_by_label("Time zone").select_option("Asia/Tokyo")
    dialog.get_by_label("Fill", exact=True).select_option("shuffle")
    dialog.get_by_label("Fill playlist").select_option(label="Evening")
    dialog.get_by_label("No track again within (minutes)").fill("90")
    check_accessibility(page, "the new channel dialog")
    dialog.get_by_role("button", name="Create channel").click()
    expect(page).to_have_url(re.compile("/admin/channels/c2$"))
    (_, path, _, body) = writes(fake, "POST")[0]
    assert path == "/channels"
    assert body == {
        "name": "Tokyo nights",
        "timezone": "Asia/Tokyo",
        "fill": {"mode": "shuffle", "playlist_id": "p-evening"},
        "rules": {"track_minutes": 90, "artist_minutes": 0},
        "loudness_target": None,
    }


@pytest.mark.parametrize("changed_meanwhile", [False, True])
def test_the_channels_list_deletes_a_channel_as_listed(
    page: Page, fake: FakeChannels, changed_meanwhile: bool
) -> None:
    page.goto("/admin/channels")
    page.get_by_role("button", name="Delete Radio One").click()
    dialog = page.get_by_role("dialog", name="Delete channel")
    expect(dialog).to_contain_text("Delete Radio One and its schedule?")
    check_accessibility(page, "the delete channel dialog")
    if changed_meanwhile:
        fake.revision += 1
    dialog.get_by_role("button", name="Delete", exact=True).click()
    # The DELETE names the revision as listed: a channel changed since is not deleted.
    assert [(m, p, i) for m, p, i, _ in writes(fake, "DELETE")] == [
        ("DELETE", "/channels/c1", '"1"')
    ]
    if changed_meanwhile:
        expect(dialog.get_by_role("alert")).to_contain_text("The channel changed since")
        expect(page.get_by_role("link", name="Radio One")).to_be_visible()
    else:
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("link", name="Radio One")).to_have_count(0)


def test_the_settings_save_with_if_match(page: Page, fake: FakeChannels) -> None:
    page.goto("/admin/channels/c1?view=settings")
    form = page.locator("form.ch-settings")
    expect(form.get_by_label("Time zone")).to_have_value("Europe/Paris")
    expect(form.get_by_label("No artist again within (minutes)")).to_have_value("30")
    form.get_by_label("Name", exact=True).fill("Radio Two")
    check_accessibility(page, "the channel's settings")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Radio Two", level=1)).to_be_visible()
    (_, path, if_match, body) = writes(fake, "PATCH")[0]
    assert path == "/channels/c1"
    assert if_match == '"1"'
    assert body == {
        "name": "Radio Two",
        "timezone": "Europe/Paris",
        "fill": {"mode": "loop", "playlist_id": "p-morning"},
        "rules": {"track_minutes": 60, "artist_minutes": 30},
    }
