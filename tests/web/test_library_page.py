"""The library page in a real browser against `streamer serve`: uploads through tus (drag
and drop, the picker, pause and resume, rejected files), the transcoding state arriving
live, search, filters, tag chips, sorting, cursor paging, batch actions, and what a
viewer may not do.

The module shares one server; tests that change the catalogue use their own file names and
tags, and checks against the list compare with what the API answers at that moment.
"""

from __future__ import annotations

import base64
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.fixtures.audio import make_audio
from tests.web.conftest import WebServer, check_accessibility, in_thread, screenshot

SLOW = 60_000  # ms: an upload's transcode on a shared, busy machine


@pytest.fixture
def files(tmp_path: Path) -> Any:
    """files(name, title, seconds=1.0) -> (name, bytes): a small generated audio file."""

    def make(name: str, title: str, seconds: float = 1.0, **options: Any) -> tuple[str, bytes]:
        path = tmp_path / name
        fmt = name.rsplit(".", 1)[1]
        in_thread(lambda: make_audio(path, fmt, seconds, tags={"title": title}, **options))
        return name, path.read_bytes()

    return make


def drop_files(page: Page, files: list[tuple[str, bytes]]) -> None:
    """Drop files on the drop zone as a person would: a DataTransfer of Files, built in the
    page from the bytes, through dragenter, dragover and drop."""
    payload = [{"name": name, "data": base64.b64encode(data).decode()} for name, data in files]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const file of files) {
                const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], file.name));
            }
            return transfer;
        }""",
        payload,
    )
    zone = page.get_by_test_id("dropzone")
    for event in ("dragenter", "dragover", "drop"):
        zone.dispatch_event(event, {"dataTransfer": transfer})


def pick_files(page: Page, files: list[tuple[str, bytes]], tmp_path: Path) -> None:
    """Choose files through the "Choose files…" button's file chooser."""
    paths = []
    for name, data in files:
        path = tmp_path / "picked" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths.append(str(path))
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose files").click()
    chooser.value.set_files(paths)


def upload_row(page: Page, name: str) -> Locator:
    return page.get_by_role("list", name="Uploads").locator(f'li[data-upload="{name}"]')


def track_row(page: Page, title: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=title, exact=True))


def list_titles(page: Page) -> list[str]:
    return page.locator("table.tracks tbody td.title a").all_inner_texts()


def api_titles(web_server: WebServer, **params: Any) -> list[str]:
    with web_server.api() as client:
        answer = client.get("/api/v1/tracks", params={"limit": 500, **params})
        answer.raise_for_status()
        return [item["title"] or item["path"].rsplit("/", 1)[-1] for item in answer.json()["items"]]


def batch(web_server: WebServer, action: str, track_ids: list[str], **extra: Any) -> None:
    with web_server.api() as client:
        body = {"action": action, "track_ids": track_ids, **extra}
        answer = client.post("/api/v1/tracks/batch", json=body)
        assert answer.status_code == 200
        assert all(item["ok"] for item in answer.json()["items"])


def uploads_named(web_server: WebServer, name: str) -> list[dict[str, Any]]:
    with web_server.api() as client:
        answer = client.get("/api/v1/uploads", params={"limit": 500})
        return [upload for upload in answer.json() if upload["filename"] == name]


def throttle_uploads(page: Page, bytes_per_second: int) -> Any:
    """Chromium's own network throttling (DevTools protocol), for the page's uploads."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send(
        "Network.emulateNetworkConditions", {**conditions, "uploadThroughput": bytes_per_second}
    )
    return cdp


def unthrottle(cdp: Any) -> None:
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def open_library(open_as: Any, name: str = "ed", path: str = "/admin/library") -> Page:
    page: Page = open_as(name, path).page
    expect(page.locator("table.tracks")).to_be_visible(timeout=15_000)  # a busy machine
    return page


# --- uploads


def test_dropping_two_files_uploads_both_and_their_transcodes_finish_live(
    open_as: Any, web_server: WebServer, files: Any
) -> None:
    dropped = [files("dropped one.mp3", "Dropped One"), files("dropped two.flac", "Dropped Two")]
    page = open_library(open_as)
    expect(page.get_by_text("Live", exact=True)).to_be_visible()  # the events stream
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads
    drop_files(page, dropped)
    for (name, data), title in zip(dropped, ("Dropped One", "Dropped Two"), strict=True):
        row = upload_row(page, name)
        expect(row.get_by_role("progressbar", name=f"Upload of {name}")).to_have_attribute(
            "aria-valuenow", "100"
        )
        expect(row).to_contain_text("Done")
        expect(row.get_by_role("link", name=f"Open {title}")).to_be_visible()
        expect(row.get_by_text("Transcoded")).to_be_visible(timeout=SLOW)
        # The list shows the new track too, its transcode finished, without a reload.
        expect(track_row(page, title).get_by_text("Ready")).to_be_visible(timeout=SLOW)
        assert (web_server.library / "uploads" / name).read_bytes() == data
    assert page.evaluate("() => window.sameDocument") is True


def test_an_upload_paused_and_resumed_completes_with_every_byte(
    open_as: Any, web_server: WebServer, files: Any, tmp_path: Path
) -> None:
    name, data = files("paused.wav", "Paused And Resumed", 2.0, channels=1)  # 176 kB
    page = open_library(open_as)
    cdp = throttle_uploads(page, 40_000)  # bytes per second: about 4 s for the file
    pick_files(page, [(name, data)], tmp_path)
    row = upload_row(page, name)
    bar = row.get_by_role("progressbar", name=f"Upload of {name}")
    expect(row).to_contain_text("Uploading")
    expect(bar).not_to_have_attribute("aria-valuenow", "0")
    row.get_by_role("button", name=f"Pause {name}").click()
    expect(row).to_contain_text("Paused")
    stopped = bar.get_attribute("aria-valuenow")
    page.wait_for_timeout(700)  # a paused upload sends nothing more
    assert bar.get_attribute("aria-valuenow") == stopped
    assert stopped is not None
    assert 0 < int(stopped) < 100
    unthrottle(cdp)
    row.get_by_role("button", name=f"Resume {name}").click()
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(row).to_contain_text("Done")
    # One upload, resumed rather than started again, holding exactly the file's bytes.
    (upload,) = uploads_named(web_server, name)
    assert upload["status"] == "completed"
    assert upload["offset"] == upload["length"] == len(data)
    with web_server.api() as client:
        track = client.get(f"/api/v1/tracks/{upload['track_id']}").json()
    assert track["size"] == len(data)
    assert (web_server.library / "uploads" / name).read_bytes() == data


def test_a_server_error_is_retried_and_the_upload_then_completes(
    open_as: Any, web_server: WebServer, files: Any, tmp_path: Path
) -> None:
    name, data = files("retried.mp3", "Retried")
    page = open_library(open_as)
    failing = True

    def unavailable(route: Any) -> None:
        # The bytes' requests fail as a server in trouble answers them, until it recovers.
        if route.request.method == "PATCH" and failing:
            problem = '{"title": "Service Unavailable", "detail": "storage unavailable"}'
            headers = {"Tus-Resumable": "1.0.0", "Content-Type": "application/problem+json"}
            route.fulfill(status=503, headers=headers, body=problem)
        else:
            route.continue_()

    page.route("**/api/v1/uploads/*", unavailable)
    pick_files(page, [(name, data)], tmp_path)
    row = upload_row(page, name)
    expect(row).to_contain_text(
        re.compile(r"Retrying… \(attempt [2-5] of 5\) Server error \(503\): storage unavailable")
    )
    failing = False
    expect(row).to_contain_text("Done")
    assert (web_server.library / "uploads" / name).read_bytes() == data


def test_an_upload_cut_off_by_a_network_loss_goes_on_when_it_is_back(
    open_as: Any, web_server: WebServer, files: Any, tmp_path: Path
) -> None:
    name, data = files("offline.mp3", "Offline")
    page = open_library(open_as)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    cuts: list[str] = []

    def cut_off(route: Any) -> None:
        # The network goes away just as the bytes start out (Chromium's offline mode,
        # which also tells the page navigator.onLine is false).
        if route.request.method == "PATCH" and not cuts:
            cuts.append(route.request.url)
            cdp.send("Network.emulateNetworkConditions", offline)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/api/v1/uploads/*", cut_off)
    pick_files(page, [(name, data)], tmp_path)
    row = upload_row(page, name)
    expect(row).to_contain_text("Offline: the upload goes on when the connection is back.")
    cdp.send("Network.emulateNetworkConditions", {**offline, "offline": False})
    expect(row).to_contain_text("Done")
    expect(row.get_by_role("link", name="Open Offline")).to_be_visible()
    (upload,) = uploads_named(web_server, name)
    assert upload["status"] == "completed"
    assert upload["offset"] == len(data)
    assert (web_server.library / "uploads" / name).read_bytes() == data


def test_files_that_are_not_audio_are_rejected_with_the_servers_reason(
    open_as: Any, web_server: WebServer
) -> None:
    page = open_library(open_as)
    text = b"These are notes, not music.\n" * 40
    drop_files(page, [("notes.txt", text), ("disguised.mp3", text)])
    # A name that is not audio is refused when the upload is created...
    notes = upload_row(page, "notes.txt")
    expect(notes).to_contain_text("Rejected: 'notes.txt' is not an audio file name")
    # ...and bytes that are clearly not audio at the first PATCH (422 with the reason).
    disguised = upload_row(page, "disguised.mp3")
    expect(disguised).to_contain_text("Rejected: ")
    (upload,) = uploads_named(web_server, "disguised.mp3")
    assert upload["status"] == "failed"
    assert upload["error"].startswith("not playable audio")
    expect(disguised).to_contain_text(upload["error"])
    for row, name in ((notes, "notes.txt"), (disguised, "disguised.mp3")):
        expect(row.get_by_role("button", name=f"Retry {name}")).to_have_count(0)
        row.get_by_role("button", name=f"Remove {name}").click()
        expect(row).to_have_count(0)


# --- finding tracks


def test_search_narrows_the_list(open_as: Any) -> None:
    page = open_library(open_as)
    page.get_by_role("searchbox", name="Search").fill("auro")
    expect(page.locator("table.tracks tbody tr")).to_have_count(1)
    expect(track_row(page, "Aurora")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]q=auro"))
    expect(page.get_by_role("status").filter(has_text="1 track matches")).to_be_visible()


def test_genre_and_year_filters_combine_with_search(open_as: Any) -> None:
    page = open_library(open_as)
    page.get_by_label("Genre").fill("Ambient")
    page.get_by_label("Year from").fill("2020")
    expect(page.locator("table.tracks tbody tr")).to_have_count(2)
    assert sorted(list_titles(page)) == ["Aurora", "Cascade"]
    page.get_by_role("searchbox", name="Search").fill("casc")
    expect(page.locator("table.tracks tbody tr")).to_have_count(1)
    expect(track_row(page, "Cascade")).to_be_visible()
    page.get_by_label("Genre").fill("Rock")
    expect(page.get_by_text("No track matches these filters.")).to_be_visible()


def test_the_view_is_kept_in_the_address_across_a_reload_and_back(open_as: Any) -> None:
    page = open_library(open_as)
    page.get_by_label("Genre").fill("Ambient")
    page.get_by_role("columnheader", name="Title").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"genre=Ambient.*sort=title|sort=title.*genre=Ambient"))
    page.reload()
    expect(page.get_by_label("Genre")).to_have_value("Ambient")
    expect(page.get_by_role("columnheader", name="Title")).to_have_attribute(
        "aria-sort", "ascending"
    )
    expect(page.locator("table.tracks tbody tr")).to_have_count(2)
    assert list_titles(page) == ["Aurora", "Cascade"]
    page.get_by_role("link", name="Aurora", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/tracks/"))
    page.go_back()
    expect(page.get_by_label("Genre")).to_have_value("Ambient")
    expect(page.locator("table.tracks tbody td.title a")).to_have_text(["Aurora", "Cascade"])


def test_a_tag_chip_filters_by_its_tag_and_removing_it_widens_the_list(
    open_as: Any, web_server: WebServer
) -> None:
    batch(web_server, "tag", [web_server.track_ids["bright lights.mp3"]], labels=["night-drive"])
    page = open_library(open_as)
    rows = page.locator("table.tracks tbody tr")
    expect(rows.first).to_be_visible()
    everything = rows.count()
    assert everything >= 3
    # Keyboard only: focus the track's tag and press Enter.
    page.get_by_role("button", name="Filter by tag night-drive").focus()
    page.keyboard.press("Enter")
    remove = page.get_by_role("button", name="Remove tag filter night-drive")
    expect(remove).to_be_visible()
    expect(rows).to_have_count(1)
    expect(track_row(page, "Bright Lights")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]tag=night-drive"))
    remove.focus()
    page.keyboard.press("Enter")
    expect(remove).to_have_count(0)
    expect(rows).to_have_count(everything)


def test_sorting_by_title_descending(open_as: Any, web_server: WebServer) -> None:
    page = open_library(open_as)
    header = page.get_by_role("columnheader", name="Title")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"sort=-title"))
    expected = api_titles(web_server, sort="-title")
    expect(page.locator("table.tracks tbody td.title a")).to_have_text(expected)


def test_paging_through_the_list_with_a_small_page_size(
    open_as: Any, web_server: WebServer
) -> None:
    page = open_library(open_as, path="/admin/library?limit=2&sort=title")
    everything = api_titles(web_server, sort="title")
    assert len(everything) >= 3
    titles = page.locator("table.tracks tbody td.title a")
    expect(titles).to_have_text(everything[:2])
    total = len(everything)
    expect(page.get_by_text(f"1\N{EN DASH}2 of {total} tracks")).to_be_visible()
    page.get_by_role("button", name="Next →").click()
    expect(titles).to_have_text(everything[2:4])
    expect(page.get_by_text(f"3\N{EN DASH}{min(4, total)} of {total} tracks")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]cursor="))
    page.get_by_role("button", name="← Previous").click()
    expect(titles).to_have_text(everything[:2])
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()


# --- batch actions


def test_batch_tagging_two_tracks_shows_a_result_for_each(
    open_as: Any, web_server: WebServer
) -> None:
    page = open_library(open_as)
    page.get_by_role("checkbox", name="Select Aurora").check()
    page.get_by_role("checkbox", name="Select Cascade").check()
    bar = page.get_by_role("region", name="Batch actions")
    expect(bar).to_contain_text("2 selected")
    bar.get_by_role("button", name="Add tag…").click()
    dialog = page.get_by_role("dialog", name="Add tags")
    dialog.get_by_label("Tags, separated by commas").fill("favourite, calm")
    dialog.get_by_role("button", name="Add tag").click()
    result = page.get_by_role("dialog", name="Add tag: result")
    expect(result.get_by_role("row")).to_have_count(3)
    for title in ("Aurora", "Cascade"):
        expect(result.get_by_role("row").filter(has_text=title)).to_contain_text("✓ Tagged")
    expect(result).to_contain_text("2 succeeded.")
    result.get_by_role("button", name="Done").click()
    for title in ("Aurora", "Cascade"):
        expect(
            track_row(page, title).get_by_role("button", name="Filter by tag favourite")
        ).to_be_visible()
    with web_server.api() as client:
        track = client.get(f"/api/v1/tracks/{web_server.track_ids['aurora.flac']}").json()
    assert {"favourite", "calm"} <= set(track["labels"])


def test_a_batch_says_which_items_failed_and_why(open_as: Any, web_server: WebServer) -> None:
    # A file that is not audio, scanned into the library: a track that cannot be transcoded.
    (web_server.library / "broken.mp3").write_bytes(b"\x00not audio at all" * 64)
    with web_server.api() as client:
        assert client.post(f"/api/v1/libraries/{web_server.library_id}/scan").status_code == 202
        deadline = time.monotonic() + 30
        while client.get(f"/api/v1/libraries/{web_server.library_id}/scan").json()["running"]:
            assert time.monotonic() < deadline, "the scan did not finish"
            time.sleep(0.2)
    page = open_library(open_as, path="/admin/library?sort=title")
    page.get_by_role("checkbox", name="Select broken.mp3").check()
    page.get_by_role("checkbox", name="Select Bright Lights").check()
    bar = page.get_by_role("region", name="Batch actions")
    bar.get_by_role("button", name="Re-transcode").click()
    result = page.get_by_role("dialog", name="Re-transcode: result")
    expect(result).to_contain_text("1 succeeded, 1 failed.")
    expect(result.get_by_role("row").filter(has_text="Bright Lights")).to_contain_text("✓")
    expect(result.get_by_role("row").filter(has_text="broken.mp3")).to_contain_text(
        "✗ Failed (409): the track cannot be transcoded"
    )
    result.get_by_role("button", name="Done").click()
    # The failed item stays selected, to act on again; the one that worked is not.
    expect(page.get_by_role("checkbox", name="Select broken.mp3")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Select Bright Lights")).not_to_be_checked()


def test_deleting_tracks_asks_first(open_as: Any, web_server: WebServer, files: Any) -> None:
    name, data = files("short lived.mp3", "Short Lived")
    page = open_library(open_as)
    drop_files(page, [(name, data)])
    expect(upload_row(page, name)).to_contain_text("Done")
    row = track_row(page, "Short Lived")
    row.get_by_role("checkbox").check()
    page.get_by_role("region", name="Batch actions").get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog", name="Delete tracks")
    expect(dialog).to_contain_text("The source files stay where they are")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    page.get_by_role("region", name="Batch actions").get_by_role("button", name="Delete…").click()
    dialog.get_by_role("button", name="Delete 1 track").click()
    expect(page.get_by_role("dialog", name="Delete: result")).to_contain_text("✓ Deleted")
    page.get_by_role("dialog", name="Delete: result").get_by_role("button", name="Done").click()
    expect(row).to_have_count(0)


# --- roles


def test_a_viewer_sees_no_upload_panel_nor_batch_controls(open_as: Any) -> None:
    page = open_library(open_as, "val")
    expect(track_row(page, "Aurora")).to_be_visible()
    expect(page.get_by_role("heading", name="Upload")).to_have_count(0)
    expect(page.get_by_role("button", name="Choose files")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("region", name="Batch actions")).to_have_count(0)


def test_the_api_refuses_a_viewers_upload_and_batch(open_as: Any, web_server: WebServer) -> None:
    signed = open_as("val")
    headers = {"X-CSRF-Token": signed.session["csrf_token"]}
    meta = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in (("filename", "sneaky.mp3"), ("library", web_server.library_id))
    )
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": meta}
    upload = signed.context.request.post("/api/v1/uploads", headers={**headers, **tus})
    assert upload.status == 403, upload.text()
    answer = signed.context.request.post(
        "/api/v1/tracks/batch",
        data={"action": "delete", "track_ids": [web_server.track_ids["aurora.flac"]]},
        headers=headers,
    )
    assert answer.status == 200, answer.text()  # a batch answers item by item
    (item,) = answer.json()["items"]
    assert item["status"] == 403
    assert not item["ok"]
    with web_server.api() as client:
        aurora = client.get(f"/api/v1/tracks/{web_server.track_ids['aurora.flac']}")
    assert aurora.status_code == 200


# --- accessibility and screenshots


def test_the_library_page_passes_axe(open_as: Any) -> None:
    page = open_library(open_as)
    page.get_by_text("More filters").click()
    page.get_by_role("checkbox", name="Select Aurora").check()
    expect(page.get_by_role("region", name="Batch actions")).to_be_visible()
    check_accessibility(page, "the library page")
    page.get_by_role("checkbox", name="Select Aurora").uncheck()
    page.get_by_text("More filters").click()
    screenshot(page, "library")


def test_the_batch_dialogs_pass_axe(open_as: Any) -> None:
    page = open_library(open_as)
    page.get_by_role("checkbox", name="Select Cascade").check()
    page.get_by_role("region", name="Batch actions").get_by_role(
        "button", name="Remove tag…"
    ).click()
    dialog = page.get_by_role("dialog", name="Remove tags")
    expect(dialog.get_by_label("Tags, separated by commas")).to_be_focused()
    check_accessibility(page, "the tags dialog")
    dialog.get_by_label("Tags, separated by commas").fill("never-there")
    dialog.get_by_role("button", name="Remove tag").click()
    result = page.get_by_role("dialog", name="Remove tag: result")
    expect(result).to_contain_text("✓ Did not have the tag")
    check_accessibility(page, "the batch result dialog")
    screenshot(page, "library-batch-result")
    result.get_by_role("button", name="Done").click()
    expect(result).to_be_hidden()


def test_the_library_page_with_uploads_in_progress_passes_axe(open_as: Any, files: Any) -> None:
    slow = files("in progress.wav", "In Progress", 3.0, channels=1)
    waiting = files("paused too.wav", "Paused Too", 2.0, channels=1)
    page = open_library(open_as)
    cdp = throttle_uploads(page, 20_000)
    # The rejected file first: two uploads send at once, the others wait their turn.
    drop_files(page, [("readme.txt", b"not audio\n"), slow, waiting])
    expect(upload_row(page, "readme.txt")).to_contain_text("Rejected")
    paused = upload_row(page, "paused too.wav")
    paused.get_by_role("button", name="Pause paused too.wav").click()
    expect(paused).to_contain_text("Paused")
    running = upload_row(page, "in progress.wav")
    expect(running.get_by_role("progressbar")).not_to_have_attribute("aria-valuenow", "0")
    check_accessibility(page, "the library page with uploads")
    screenshot(page, "library-uploads")
    running.get_by_role("button", name="Remove in progress.wav").click()
    paused.get_by_role("button", name="Remove paused too.wav").click()
    unthrottle(cdp)


def test_a_large_file_that_is_not_audio_is_rejected_at_its_first_bytes(
    open_as: Any, web_server: WebServer
) -> None:
    page = open_library(open_as)
    noise = random.Random(14).randbytes(6 * 1024 * 1024)
    drop_files(page, [("noise.wav", noise)])
    row = upload_row(page, "noise.wav")
    expect(row).to_contain_text("Rejected: not playable audio: not an audio file")
    (upload,) = uploads_named(web_server, "noise.wav")
    assert (upload["status"], upload["offset"]) == ("failed", 0)
    expect(row.get_by_role("button", name="Retry noise.wav")).to_have_count(0)
