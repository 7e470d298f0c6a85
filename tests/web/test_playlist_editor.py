"""The playlists pages in a real browser: the list (search, create, delete), the editor
(drag and drop, keyboard, undo and redo bound to the server's revisions, add from search,
failures shown, live changes), the stitched stream playing in hls.js, and what a viewer
may not do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebServer, check_accessibility, screenshot

AURORA, BRIGHT, CASCADE = "Aurora", "Bright Lights", "Cascade"
FILES = {AURORA: "aurora.flac", BRIGHT: "bright lights.mp3", CASCADE: "cascade.flac"}


class Playlists:
    """Creates playlists through the API and deletes them after the test."""

    def __init__(self, web_server: WebServer) -> None:
        self.web_server = web_server
        self.created: list[str] = []

    def make(self, name: str, titles: list[str], description: str = "") -> dict[str, Any]:
        ids = [self.web_server.track_ids[FILES[title]] for title in titles]
        with self.web_server.api() as api:
            response = api.post(
                "/api/v1/playlists",
                json={
                    "library_id": self.web_server.library_id,
                    "name": name,
                    "description": description,
                    "track_ids": ids,
                },
            )
        assert response.status_code == 201, response.text
        self.created.append(response.json()["id"])
        return dict(response.json())

    def titles(self, playlist_id: str) -> list[str]:
        """The playlist's order as the API has it."""
        with self.web_server.api() as api:
            response = api.get(f"/api/v1/playlists/{playlist_id}")
        assert response.status_code == 200, response.text
        return [item["title"] for item in response.json()["items"]]

    def cleanup(self) -> None:
        with self.web_server.api() as api:
            for playlist_id in self.created:
                api.delete(f"/api/v1/playlists/{playlist_id}")


@pytest.fixture
def playlists(web_server: WebServer) -> Iterator[Playlists]:
    made = Playlists(web_server)
    yield made
    made.cleanup()


@pytest.fixture
def three(playlists: Playlists) -> dict[str, Any]:
    """A playlist of the three tracks: Aurora, Bright Lights, Cascade."""
    return playlists.make("Three tracks", [AURORA, BRIGHT, CASCADE], "Ambient, then rock.")


def open_editor(open_as: Any, playlist: dict[str, Any], user: str = "ed") -> Page:
    page: Page = open_as(user, f"/admin/playlists/{playlist['id']}").page
    expect(page.get_by_role("heading", name=playlist["name"], level=1)).to_be_visible()
    return page


def item_titles(page: Page) -> Any:
    return page.get_by_role("listbox").locator(".pl-title")


def option(page: Page, title: str) -> Any:
    return page.get_by_role("option").filter(has_text=title)


def saved(page: Page) -> None:
    """Until the status line says the last change was saved."""
    expect(page.locator(".pl-status")).to_contain_text("Saved")


# --- the list


def test_the_list_shows_name_library_items_and_duration(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    playlists.make("Rock hour", [BRIGHT, BRIGHT, BRIGHT], "Loud.")
    page = open_as("ed", "/admin/playlists").page
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Three tracks"))
    expect(row).to_be_visible()
    cells = row.get_by_role("cell")
    expect(cells.nth(1)).to_have_text("library")
    expect(cells.nth(2)).to_have_text("3")
    expect(cells.nth(3)).to_have_text("0:28")  # 12 + 9 + 7 seconds
    check_accessibility(page, "the playlists page")
    screenshot(page, "playlists")


def test_searching_by_name_filters_the_list(open_as: Any, playlists: Playlists) -> None:
    playlists.make("Morning mix", [AURORA])
    playlists.make("Evening set", [CASCADE])
    page = open_as("ed", "/admin/playlists").page
    expect(page.get_by_role("link", name="Morning mix")).to_be_visible()
    page.get_by_label("Search by name").fill("EVEN")
    expect(page.get_by_role("link", name="Evening set")).to_be_visible()
    expect(page.get_by_role("link", name="Morning mix")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"\?q=EVEN$"))
    page.get_by_label("Search by name").fill("no such playlist")
    expect(page.get_by_text("No playlists match “no such playlist”.")).to_be_visible()


def test_creating_a_playlist_in_the_dialog_opens_its_editor(
    open_as: Any, playlists: Playlists
) -> None:
    page = open_as("ed", "/admin/playlists").page
    page.get_by_role("button", name="New playlist").click()
    dialog = page.get_by_role("dialog", name="New playlist")
    expect(dialog).to_be_visible()
    check_accessibility(page, "the new-playlist dialog")
    dialog.get_by_label("Name").fill("Road trip")
    dialog.get_by_label("Description").fill("For the long drive")
    dialog.get_by_role("button", name="Create playlist").click()
    expect(page.get_by_role("heading", name="Road trip", level=1)).to_be_visible()
    playlist_id = page.url.rsplit("/", 1)[1]
    playlists.created.append(playlist_id)
    expect(page.get_by_text("This playlist is empty.")).to_be_visible()
    with playlists.web_server.api() as api:
        body = api.get(f"/api/v1/playlists/{playlist_id}").json()
    assert (body["name"], body["description"]) == ("Road trip", "For the long drive")


def test_deleting_asks_for_confirmation_first(open_as: Any, playlists: Playlists) -> None:
    doomed = playlists.make("Doomed", [AURORA])
    page = open_as("ed", "/admin/playlists").page
    page.get_by_role("button", name="Delete Doomed").click()
    dialog = page.get_by_role("dialog", name="Delete playlist")
    expect(dialog).to_contain_text("Delete Doomed?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("link", name="Doomed")).to_be_visible()
    page.get_by_role("button", name="Delete Doomed").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("link", name="Doomed")).to_have_count(0)
    with playlists.web_server.api() as api:
        assert api.get(f"/api/v1/playlists/{doomed['id']}").status_code == 404


def test_a_viewer_can_neither_create_nor_delete(open_as: Any, three: dict[str, Any]) -> None:
    page = open_as("val", "/admin/playlists").page
    expect(page.get_by_role("link", name="Three tracks")).to_be_visible()
    expect(page.get_by_role("button", name="New playlist")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)


# --- the editor


def test_the_editor_shows_the_items_in_order(open_as: Any, three: dict[str, Any]) -> None:
    page = open_editor(open_as, three)
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    expect(page.get_by_text("Ambient, then rock.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"3 items · 0:28"))).to_be_visible()
    expect(page.get_by_role("button", name="Undo")).to_be_disabled()
    expect(page.get_by_role("button", name="Redo")).to_be_disabled()
    option(page, BRIGHT).click()
    check_accessibility(page, "the playlist editor")
    screenshot(page, "playlist")


def test_drag_and_drop_reorders_the_items(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    cascade = option(page, CASCADE)
    # Onto the top edge of Aurora: Cascade goes before it.
    cascade.drag_to(option(page, AURORA), target_position={"x": 40, "y": 3})
    expect(item_titles(page)).to_have_text([CASCADE, AURORA, BRIGHT])
    saved(page)
    assert playlists.titles(three["id"]) == [CASCADE, AURORA, BRIGHT]


def test_the_drop_position_shows_while_dragging(open_as: Any, three: dict[str, Any]) -> None:
    page = open_editor(open_as, three)
    aurora = option(page, AURORA).bounding_box()
    cascade = option(page, CASCADE).bounding_box()
    assert aurora is not None
    assert cascade is not None
    page.mouse.move(aurora["x"] + 40, aurora["y"] + aurora["height"] / 2)
    page.mouse.down()
    page.mouse.move(cascade["x"] + 40, cascade["y"] + cascade["height"] - 3, steps=8)
    expect(option(page, CASCADE)).to_have_class(re.compile(r"\bdrop-after\b"))
    page.mouse.up()
    expect(item_titles(page)).to_have_text([BRIGHT, CASCADE, AURORA])


def test_undo_and_redo_follow_the_server_revisions(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    option(page, AURORA).drag_to(option(page, CASCADE), target_position={"x": 40, "y": 40})
    expect(item_titles(page)).to_have_text([BRIGHT, CASCADE, AURORA])
    saved(page)
    redo = page.get_by_role("button", name="Redo")
    expect(redo).to_be_disabled()
    page.get_by_role("button", name="Undo").click()
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    expect(page.get_by_role("button", name="Undo")).to_be_disabled()
    assert playlists.titles(three["id"]) == [AURORA, BRIGHT, CASCADE]
    redo.click()
    expect(item_titles(page)).to_have_text([BRIGHT, CASCADE, AURORA])
    expect(redo).to_be_disabled()
    assert playlists.titles(three["id"]) == [BRIGHT, CASCADE, AURORA]


def test_the_history_marks_the_current_and_the_undone_revisions(
    open_as: Any, three: dict[str, Any]
) -> None:
    page = open_editor(open_as, three)
    option(page, AURORA).click()
    page.keyboard.press("Delete")
    saved(page)
    page.get_by_role("button", name="Undo").click()
    history = page.get_by_role("list", name="Revisions, newest first")
    newest = history.get_by_role("listitem").first
    expect(newest).to_contain_text("1 removed")
    expect(newest).to_contain_text("undone")
    current = history.locator("[aria-current=step]")
    expect(current).to_contain_text("Created")
    expect(current).to_contain_text("current")


def test_the_keyboard_moves_undoes_and_redoes(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    option(page, AURORA).click()
    page.keyboard.press("Alt+ArrowDown")
    page.keyboard.press("Alt+ArrowDown")  # the selection follows the moved item
    expect(item_titles(page)).to_have_text([BRIGHT, CASCADE, AURORA])
    saved(page)
    assert playlists.titles(three["id"]) == [BRIGHT, CASCADE, AURORA]
    page.keyboard.press("Control+z")
    expect(item_titles(page)).to_have_text([BRIGHT, AURORA, CASCADE])
    saved(page)
    assert playlists.titles(three["id"]) == [BRIGHT, AURORA, CASCADE]
    page.keyboard.press("Control+Shift+Z")
    expect(item_titles(page)).to_have_text([BRIGHT, CASCADE, AURORA])
    saved(page)
    page.keyboard.press("Control+z")
    expect(item_titles(page)).to_have_text([BRIGHT, AURORA, CASCADE])
    saved(page)
    page.keyboard.press("Control+y")
    expect(item_titles(page)).to_have_text([BRIGHT, CASCADE, AURORA])
    saved(page)
    assert playlists.titles(three["id"]) == [BRIGHT, CASCADE, AURORA]
    page.keyboard.press("ArrowUp")  # the list keeps focus: Aurora (last) to Cascade
    page.keyboard.press("Alt+ArrowUp")
    expect(item_titles(page)).to_have_text([CASCADE, BRIGHT, AURORA])
    saved(page)
    assert playlists.titles(three["id"]) == [CASCADE, BRIGHT, AURORA]


def test_the_delete_key_removes_the_selected_item(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    option(page, BRIGHT).click()
    page.keyboard.press("Delete")
    expect(item_titles(page)).to_have_text([AURORA, CASCADE])
    saved(page)
    expect(option(page, CASCADE)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Backspace")
    expect(item_titles(page)).to_have_text([AURORA])
    saved(page)
    assert playlists.titles(three["id"]) == [AURORA]


def test_a_track_found_by_search_is_added_after_the_selected_item(
    open_as: Any, playlists: Playlists
) -> None:
    playlist = playlists.make("Two", [AURORA, CASCADE])
    page = open_editor(open_as, playlist)
    option(page, AURORA).click()
    page.get_by_label("Search tracks").fill("brig")
    page.get_by_label("After the selected item").check()
    page.get_by_role("button", name="Add Bright Lights").click()
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    saved(page)
    assert playlists.titles(playlist["id"]) == [AURORA, BRIGHT, CASCADE]
    page.get_by_label("At the end").check()
    page.get_by_role("button", name="Add Bright Lights").click()
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE, BRIGHT])
    saved(page)
    assert playlists.titles(playlist["id"]) == [AURORA, BRIGHT, CASCADE, BRIGHT]


def test_renaming_saves_a_new_name(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("Name").fill("Renamed mix")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Renamed mix", level=1)).to_be_visible()
    saved(page)
    with playlists.web_server.api() as api:
        assert api.get(f"/api/v1/playlists/{three['id']}").json()["name"] == "Renamed mix"


def test_a_name_being_typed_survives_a_change_made_elsewhere(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("Name").fill("Typed meanwhile")

    with playlists.web_server.api() as api:  # another editor moves an item: the page updates
        moved = api.post(f"/api/v1/playlists/{three['id']}/items/move", json={"from": 2, "to": 0})
    assert moved.status_code == 200, moved.text
    expect(item_titles(page)).to_have_text([CASCADE, AURORA, BRIGHT])

    expect(page.get_by_label("Name")).to_have_value("Typed meanwhile")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Typed meanwhile", level=1)).to_be_visible()
    saved(page)
    with playlists.web_server.api() as api:
        body = api.get(f"/api/v1/playlists/{three['id']}").json()
    assert (body["name"], [item["title"] for item in body["items"]]) == (
        "Typed meanwhile",
        [CASCADE, AURORA, BRIGHT],
    )


def test_question_mark_opens_the_shortcuts_help(open_as: Any, three: dict[str, Any]) -> None:
    page = open_editor(open_as, three)
    option(page, AURORA).click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for action in (
        "Move the selected item up",
        "Move the selected item down",
        "Remove the selected item",
        "Undo the last change",
        "Redo the change undone last",
    ):
        expect(dialog.get_by_role("row").filter(has_text=action)).to_be_visible()
    expect(dialog.get_by_role("row").filter(has_text="Redo")).to_contain_text("Ctrl+Y")
    check_accessibility(page, "the shortcuts help")
    screenshot(page, "playlist-help")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_a_change_that_cannot_reach_the_server_shows_a_failure(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    page.route("**/items/move", lambda route: route.abort())
    option(page, AURORA).click()
    page.keyboard.press("Alt+ArrowDown")
    expect(page.get_by_role("alert")).to_contain_text("Failed: The server could not be reached")
    expect(page.locator(".toast-error")).to_contain_text("Could not move “Aurora”")
    # The server's order is shown again.
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    assert playlists.titles(three["id"]) == [AURORA, BRIGHT, CASCADE]


def test_an_edit_of_a_stale_revision_is_refused_and_the_current_order_shown(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    page = open_editor(open_as, three)
    # No live events in this page: it cannot learn of the change below but by its refusal.
    page.route("**/api/v1/events", lambda route: route.abort())
    page.reload()
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    with playlists.web_server.api() as api:
        moved = api.post(f"/api/v1/playlists/{three['id']}/items/move", json={"from": 2, "to": 0})
        assert moved.status_code == 200, moved.text
    option(page, AURORA).click()
    page.keyboard.press("Alt+ArrowDown")  # If-Match: "1", the playlist is at 2: 412
    expect(page.get_by_role("alert")).to_contain_text("Failed: the playlist was changed elsewhere")
    expect(item_titles(page)).to_have_text([CASCADE, AURORA, BRIGHT])
    assert playlists.titles(three["id"]) == [CASCADE, AURORA, BRIGHT]


def test_a_playlist_deleted_elsewhere_shows_a_failure(
    open_as: Any, three: dict[str, Any], web_server: WebServer
) -> None:
    page = open_editor(open_as, three)
    with web_server.api() as api:
        assert api.delete(f"/api/v1/playlists/{three['id']}").status_code == 204
    option(page, AURORA).click()
    page.keyboard.press("Alt+ArrowDown")  # refused (404), unless the event came first
    expect(page.get_by_role("alert").filter(has_text="Failed")).to_be_visible()
    expect(page.get_by_text("This playlist no longer exists")).to_be_visible()
    expect(page.get_by_role("button", name="Undo")).to_have_count(0)


def test_a_change_made_through_the_api_appears_live(
    open_as: Any, three: dict[str, Any], web_server: WebServer
) -> None:
    page = open_editor(open_as, three)
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    with web_server.api() as api:
        moved = api.post(f"/api/v1/playlists/{three['id']}/items/move", json={"from": 2, "to": 0})
        assert moved.status_code == 200, moved.text
    expect(item_titles(page)).to_have_text([CASCADE, AURORA, BRIGHT])
    expect(page.locator(".pl-status")).to_contain_text("changed elsewhere")
    expect(page.locator(".toast")).to_contain_text("changed elsewhere")


# Listens to the page's player: the loudest frequency (Hz) of what it plays now. Each
# generated track is a tone of its own (conftest: 330 Hz + 110 Hz per track in TRACKS order).
LISTEN = """() => {
    const audio = document.querySelector('.pl-player audio');
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;  // each reading is what plays now
    context.createMediaElementSource(audio).connect(analyser);  // not to the speakers
    window.loudest = () => {
        const bins = new Float32Array(analyser.frequencyBinCount);
        analyser.getFloatFrequencyData(bins);
        let top = 1;
        for (let i = 2; i < bins.length; i++) if (bins[i] > bins[top]) top = i;
        return top * context.sampleRate / analyser.fftSize;
    };
    audio.currentTime = 5;
    return context.resume().then(() => audio.play());
}"""
TONES = {CASCADE: 550.0, BRIGHT: 440.0}


def test_the_stitched_stream_plays_past_the_first_track(open_as: Any, playlists: Playlists) -> None:
    playlist = playlists.make("Two in a row", [CASCADE, BRIGHT])  # 7 s, then 9 s
    page = open_editor(open_as, playlist)
    audio = "document.querySelector('.pl-player audio')"
    page.wait_for_function(f"() => {audio}.readyState >= 1")
    # A click first: the page may then start sound (autoplay needs a user's gesture).
    page.get_by_role("heading", name="Listen").click()
    page.evaluate(LISTEN)
    page.wait_for_function(f"() => {audio}.currentTime > 6")
    expect(page.get_by_text("Now playing: Cascade")).to_be_visible()
    assert page.evaluate("loudest()") == pytest.approx(TONES[CASCADE], abs=12)
    # Past the join (EXT-X-DISCONTINUITY, a new EXT-X-MAP): the second track sounds.
    page.wait_for_function(f"() => {audio}.currentTime > 8.5", timeout=15_000)
    expect(page.get_by_text("Now playing: Bright Lights")).to_be_visible()
    assert page.evaluate("loudest()") == pytest.approx(TONES[BRIGHT], abs=12)
    state = page.evaluate(
        f"() => ({{error: {audio}.error && {audio}.error.code, ranges: {audio}.buffered.length}})"
    )
    assert state == {"error": None, "ranges": 1}  # one buffered range: no hole at the join
    expect(page.locator(".pl-player .error")).to_have_count(0)


def test_a_viewer_sees_no_edit_controls_and_the_api_refuses_edits(
    open_as: Any, three: dict[str, Any], playlists: Playlists
) -> None:
    signed = open_as("val", f"/admin/playlists/{three['id']}")
    page = signed.page
    expect(page.get_by_role("heading", name="Three tracks", level=1)).to_be_visible()
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    for name in ("Undo", "Redo", "Remove", "Rename", "↑ Move up", "↓ Move down"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_label("Search tracks")).to_have_count(0)
    expect(page.locator("[draggable=true]")).to_have_count(0)
    expect(page.locator(".pl-handle")).to_have_count(0)
    option(page, AURORA).click()
    page.keyboard.press("Alt+ArrowDown")
    page.keyboard.press("Delete")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(item_titles(page)).to_have_text([AURORA, BRIGHT, CASCADE])
    check_accessibility(page, "the playlist editor as a viewer")
    refused = signed.context.request.post(
        f"/api/v1/playlists/{three['id']}/items/move",
        data={"from": 0, "to": 1},
        headers={"X-CSRF-Token": signed.session["csrf_token"]},
    )
    assert refused.status == 403
    assert playlists.titles(three["id"]) == [AURORA, BRIGHT, CASCADE]


def test_an_unknown_playlist_says_so(open_as: Any) -> None:
    page = open_as("ed", "/admin/playlists/0123456789abcdef").page
    expect(page.get_by_role("heading", name="No such playlist")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the playlists")).to_be_visible()
