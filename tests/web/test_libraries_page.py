"""The libraries page: adding a folder and watching its scan, renaming, removing, and what
each role may do."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.fixtures.audio import make_audio
from tests.web.conftest import WebServer, check_accessibility, in_thread, screenshot


def test_the_page_lists_the_library_with_its_last_scan(open_as: Any) -> None:
    page = open_as("ed", "/admin/libraries").page
    row = page.get_by_role("row").filter(has_text="library")
    expect(row.first).to_contain_text("3 unchanged")
    check_accessibility(page, "the libraries page")
    screenshot(page, "libraries")


def test_an_admin_adds_a_folder_and_sees_its_scan_finish(
    open_as: Any, web_server: WebServer
) -> None:
    folder = web_server.parents / "podcasts"
    in_thread(make_audio, folder / "episode one.mp3", "mp3", 2.0)
    in_thread(make_audio, folder / "episode two.mp3", "mp3", 2.0)
    page = open_as("ed", "/admin/libraries").page
    page.get_by_role("button", name="Add library").click()
    dialog = page.get_by_role("dialog", name="Add a library")
    dialog.get_by_label("Folder or S3 prefix").fill(str(folder))
    dialog.get_by_label("Name (optional)").fill("Podcasts")
    check_accessibility(page, "the add-library dialog")
    dialog.get_by_role("button", name="Add library").click()
    row = page.get_by_role("row").filter(has_text="Podcasts")
    expect(row).to_contain_text("2 added", timeout=20_000)
    with web_server.api() as api:
        names = [library["name"] for library in api.get("/api/v1/libraries").json()]
    assert "Podcasts" in names


def test_a_folder_outside_the_allowed_parents_is_refused_with_the_reason(open_as: Any) -> None:
    page = open_as("ed", "/admin/libraries").page
    page.get_by_role("button", name="Add library").click()
    dialog = page.get_by_role("dialog", name="Add a library")
    dialog.get_by_label("Folder or S3 prefix").fill("/etc")
    dialog.get_by_role("button", name="Add library").click()
    expect(dialog.get_by_role("alert")).to_contain_text("library_parents")


def test_renaming_a_library_shows_the_new_name(open_as: Any, web_server: WebServer) -> None:
    folder = web_server.parents / "rename-me"
    in_thread(make_audio, folder / "a.mp3", "mp3", 1.0)
    with web_server.api() as api:
        created = api.post("/api/v1/libraries", json={"root": str(folder), "name": "Old name"})
        assert created.status_code == 201, created.text
    page = open_as("ed", "/admin/libraries").page
    page.get_by_role("button", name="Rename: Old name").click()
    dialog = page.get_by_role("dialog", name="Rename library")
    dialog.get_by_label("Name").fill("New name")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("row").filter(has_text="New name")).to_be_visible()


def test_removing_a_library_asks_first_and_keeps_the_files(
    open_as: Any, web_server: WebServer
) -> None:
    folder = web_server.parents / "remove-me"
    source = in_thread(make_audio, folder / "a.mp3", "mp3", 1.0)
    with web_server.api() as api:
        assert api.post(
            "/api/v1/libraries", json={"root": str(folder), "name": "Doomed"}
        ).is_success
    page = open_as("ed", "/admin/libraries").page
    page.get_by_role("button", name="Remove: Doomed").click()
    dialog = page.get_by_role("dialog", name="Remove library")
    expect(dialog).to_contain_text("No file is deleted")
    dialog.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("row").filter(has_text="Doomed")).to_have_count(0)
    assert source.exists()


def test_a_viewer_sees_no_write_controls_and_the_api_refuses_a_scan(
    open_as: Any, web_server: WebServer
) -> None:
    signed = open_as("val", "/admin/libraries")
    page = signed.page
    expect(page.get_by_role("row").filter(has_text="library").first).to_be_visible()
    for name in ("Add library", "Scan now", "Rename", "Remove"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    response = signed.context.request.post(
        f"/api/v1/libraries/{web_server.library_id}/scan",
        headers={"X-CSRF-Token": signed.session["csrf_token"]},
    )
    assert response.status == 403
