"""The track page: playing through hls.js with a rendition switcher, the waveform as the
seek bar, metadata edits with optimistic concurrency (a conflict shows both values and
loses nothing), loudness and renditions, the transcode job, and a viewer's read-only view.

Codecs: the default ladder is AAC (aac_64, aac_128, aac_256). Debian's Chromium 156 plays
AAC in MediaSource (MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"') is true,
as are Opus and FLAC in MP4), so the tests use the ladder as the server builds it; the
playing tests would fail if it could not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import mutagen
import pytest
from playwright.sync_api import Browser, Dialog, Page, Request, Route, expect

from tests.web.conftest import (
    TRACKS,
    PageErrors,
    Signed,
    WebServer,
    check_accessibility,
    new_context,
    screenshot,
    sign_in,
    start_web_server,
)

PROBLEM = "application/problem+json"
OpenAs = Callable[..., Signed]  # the open_as fixture
PLAYED = "() => document.querySelector('audio').currentTime > {seconds}"


def track_url(web_server: WebServer, name: str) -> str:
    return f"/admin/tracks/{web_server.track_ids[name]}"


def api_track(web_server: WebServer, name: str) -> tuple[dict[str, Any], str]:
    with web_server.api() as client:
        response = client.get(f"/api/v1/tracks/{web_server.track_ids[name]}")
        response.raise_for_status()
        return response.json(), response.headers["etag"]


def label_of(rendition: dict[str, Any]) -> str:
    return f"{rendition['codec'].upper()} {round(rendition['bitrate'] / 1000)} kbit/s"


def start_playing(page: Page, seconds: float = 1.0) -> None:
    # A click is a user gesture: the browser's autoplay policy lets play() through.
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(PLAYED.format(seconds=seconds), timeout=15_000)


def test_playing_a_track_advances_its_current_time(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    expect(page.get_by_text("HLS (hls.js)")).to_be_visible()
    start_playing(page, 1.0)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()


def test_switching_the_rendition_plays_that_rendition(
    open_as: OpenAs, web_server: WebServer
) -> None:
    track, _ = api_track(web_server, "aurora.flac")
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    start_playing(page, 0.3)
    now_playing = page.locator(".now-playing")
    expect(now_playing).to_contain_text("kbit/s")
    playing = now_playing.inner_text()
    target = next(r for r in track["renditions"] if label_of(r) not in playing)
    segment = f"/hls/{track['id']}/{target['name']}/seg_"
    with page.expect_request(lambda request: segment in request.url):
        page.get_by_label("Rendition", exact=True).select_option(target["name"])
    expect(now_playing).to_have_text(f"Playing: {label_of(target)}")
    at = page.evaluate("document.querySelector('audio').currentTime")
    page.wait_for_function(PLAYED.format(seconds=at + 0.5), timeout=15_000)


def test_the_waveform_is_drawn_from_the_api_peaks(open_as: OpenAs, web_server: WebServer) -> None:
    track_id = web_server.track_ids["aurora.flac"]
    with web_server.api() as client:
        points = client.get(f"/api/v1/tracks/{track_id}/waveform").json()["points"]
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    shape = page.locator(".waveform .waveform-shape")
    expect(shape).to_have_count(1)
    d = shape.get_attribute("d") or ""
    # The outline runs along every slice's maximum and back along every minimum.
    assert len(re.findall(r"\d+,-?[\d.]+", d)) == 2 * len(points) == 2 * 2000
    assert page.locator(".waveform svg").get_attribute("viewBox") == f"0 0 {len(points)} 100"


def test_clicking_the_waveform_seeks(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    waveform = page.get_by_role("slider", name="Seek")
    expect(page.get_by_label("Rendition", exact=True)).to_be_enabled()  # the manifest is in
    box = waveform.bounding_box()
    assert box is not None
    waveform.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    page.wait_for_function(
        "() => Math.abs(document.querySelector('audio').currentTime - 9) < 0.3", timeout=10_000
    )
    expect(waveform).to_have_attribute("aria-valuenow", "9")


def test_the_waveform_seeks_with_the_keyboard(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    waveform = page.get_by_role("slider", name="Seek")
    expect(page.get_by_label("Rendition", exact=True)).to_be_enabled()
    waveform.focus()
    page.keyboard.press("End")
    # A listener presses the next key after seeing the first one's seek (CI once pressed
    # both before the first had landed, and the end's seek came last).
    expect(waveform).to_have_attribute("aria-valuenow", "12")
    page.keyboard.press("ArrowLeft")
    expect(waveform).to_have_attribute("aria-valuenow", "7")
    page.wait_for_function(
        "() => Math.abs(document.querySelector('audio').currentTime - 7) < 0.3", timeout=10_000
    )


def test_editing_the_title_saves_it(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("eve", track_url(web_server, "cascade.flac")).page
    title = page.get_by_label("Title", exact=True)
    expect(title).to_have_value(re.compile(".+"))
    title.fill("Cascade, edited")
    expect(page.get_by_text("1 unsaved change")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".save-status")).to_contain_text("Saved")
    expect(page.locator(".toast")).to_contain_text("Saved")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cascade, edited")
    track, _ = api_track(web_server, "cascade.flac")
    assert track["title"] == "Cascade, edited"
    assert "title" in track["edited"]


def test_a_conflicting_edit_shows_both_values_and_saves_mine(
    open_as: OpenAs, web_server: WebServer
) -> None:
    name = "bright lights.mp3"
    page = open_as("ed", track_url(web_server, name)).page
    title = page.get_by_label("Title", exact=True)
    expect(title).to_have_value(re.compile(".+"))
    if_matches: list[str | None] = []

    def record(request: Request) -> None:
        if request.method == "PATCH":
            if_matches.append(request.headers.get("if-match"))

    page.on("request", record)
    track, etag = api_track(web_server, name)  # the version the page shows
    # While the title is being edited here, someone else saves another title. (Typed
    # first: with live updates, a page with nothing typed takes the new version in.)
    title.fill("Mine")
    with web_server.api() as client:
        response = client.patch(
            f"/api/v1/tracks/{track['id']}", json={"title": "Theirs"}, headers={"If-Match": etag}
        )
        response.raise_for_status()
        theirs_etag = response.headers["etag"]
    page.get_by_role("button", name="Save", exact=True).click()

    conflict = page.get_by_role("region", name="This track changed since you opened it")
    expect(conflict).to_be_visible()
    field = conflict.get_by_role("group", name="Title")
    expect(field.get_by_role("radio", name="Keep mine: Mine")).to_be_checked()
    expect(field.get_by_role("radio", name="Take the server's: Theirs")).not_to_be_checked()
    expect(title).to_have_value("Mine")  # what was typed is kept
    expect(page.locator(".save-status")).to_contain_text("Not saved")
    check_accessibility(page, "the track page showing a conflict")
    screenshot(page, "track-conflict")

    conflict.get_by_role("button", name="Save again").click()
    expect(page.locator(".save-status")).to_contain_text("Saved")
    expect(conflict).to_have_count(0)
    assert if_matches == [etag, theirs_etag]
    track, _ = api_track(web_server, name)
    assert track["title"] == "Mine"


def test_taking_the_servers_value_in_a_conflict_keeps_the_other_edits(
    open_as: OpenAs, web_server: WebServer
) -> None:
    name = "bright lights.mp3"
    page = open_as("ed", track_url(web_server, name)).page
    artist = page.get_by_label("Artist", exact=True)
    expect(artist).to_have_value(re.compile(".+"))
    track, etag = api_track(web_server, name)
    artist.fill("My Band")
    page.get_by_label("Album", exact=True).fill("My Album")
    with web_server.api() as client:
        client.patch(
            f"/api/v1/tracks/{track['id']}",
            json={"artist": "Their Band"},
            headers={"If-Match": etag},
        ).raise_for_status()
    page.get_by_role("button", name="Save", exact=True).click()

    conflict = page.get_by_role("region", name="This track changed since you opened it")
    field = conflict.get_by_role("group", name="Artist")
    field.get_by_role("radio", name="Take the server's: Their Band").check()
    expect(artist).to_have_value("Their Band")
    expect(conflict.get_by_role("group", name="Album")).to_have_count(0)  # only theirs changed
    expect(page.get_by_label("Album", exact=True)).to_have_value("My Album")
    conflict.get_by_role("button", name="Save again").click()
    expect(page.locator(".save-status")).to_contain_text("Saved")
    track, _ = api_track(web_server, name)
    assert (track["artist"], track["album"]) == ("Their Band", "My Album")


def test_leaving_with_unsaved_changes_asks_first(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    page.get_by_label("Genre", exact=True).fill("Not saved")
    messages: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_role("link", name="← Library").click()
    expect(page).to_have_url(re.compile(r"/admin/tracks/"))
    expect(page.get_by_label("Genre", exact=True)).to_have_value("Not saved")
    assert len(messages) == 1
    assert "unsaved changes" in messages[0]


def test_a_viewer_sees_no_save_control_and_the_api_refuses_an_edit(
    open_as: OpenAs, web_server: WebServer
) -> None:
    signed = open_as("val", track_url(web_server, "aurora.flac"))
    page = signed.page
    metadata = page.get_by_role("region", name="Metadata")
    expect(metadata).to_contain_text("can read this track but not edit it")
    expect(metadata.get_by_text("Nadia Ray")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Transcode|Retry|Cancel"))).to_have_count(0)
    expect(page.get_by_role("button", name="Play")).to_be_visible()  # reading includes playing
    track, etag = api_track(web_server, "aurora.flac")
    response = signed.context.request.patch(
        f"/api/v1/tracks/{track['id']}",
        data={"title": "Viewer was here"},
        headers={"If-Match": etag, "X-CSRF-Token": signed.session["csrf_token"]},
    )
    assert response.status == 403
    assert api_track(web_server, "aurora.flac")[0]["title"] == track["title"]


def test_loudness_and_renditions_are_shown(open_as: OpenAs, web_server: WebServer) -> None:
    track, _ = api_track(web_server, "aurora.flac")
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    loudness = page.get_by_role("region", name="Loudness")
    expect(loudness).to_contain_text(f"{track['loudness']['integrated_lufs']:.1f} LUFS")
    expect(loudness).to_contain_text(f"{track['loudness']['true_peak_dbtp']:.1f} dBTP")
    expect(loudness).to_contain_text(f"{track['loudness']['range_lu']:.1f} LU")
    table = page.get_by_role("region", name="Renditions").get_by_role("table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(track["renditions"]))
    for rendition in track["renditions"]:
        row = rows.filter(has=page.get_by_role("rowheader", name=rendition["name"]))
        expect(row).to_contain_text(label_of(rendition))
        expect(row).to_contain_text(rendition["codecs"])


def test_retranscoding_shows_the_job_until_it_succeeds(
    open_as: OpenAs, web_server: WebServer
) -> None:
    before, _ = api_track(web_server, "cascade.flac")
    page = open_as("eve", track_url(web_server, "cascade.flac")).page
    job = page.get_by_role("region", name="Transcoding")
    job.get_by_role("button", name="Transcode again").click()
    expect(page.locator(".toast")).to_contain_text("Transcode")
    expect(job.locator(".badge")).to_have_text("succeeded", timeout=60_000)
    expect(job.get_by_role("button", name="Transcode again")).to_be_enabled()
    after, _ = api_track(web_server, "cascade.flac")
    assert after["job"]["id"] != before["job"]["id"]
    assert after["job"]["status"] == "succeeded"


def test_an_unknown_track_says_so(open_as: OpenAs) -> None:
    page = open_as("ed", "/admin/tracks/no-such-track").page
    expect(page.get_by_role("heading", name="No such track")).to_be_visible()


def test_the_track_page_passes_axe(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    expect(page.get_by_role("region", name="Renditions").get_by_role("table")).to_be_visible()
    expect(page.get_by_label("Rendition", exact=True)).to_be_enabled()
    check_accessibility(page, "the track page")
    screenshot(page, "track")


def test_saving_with_write_back_writes_the_tags_into_the_file(
    open_as: OpenAs, web_server: WebServer
) -> None:
    name = "bright lights.mp3"
    page = open_as("eve", track_url(web_server, name)).page
    genre = page.get_by_label("Genre", exact=True)
    expect(genre).to_have_value(re.compile(".+"))
    genre.fill("Synth Rock")
    page.get_by_label("Also write the tags into the audio file").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".save-status")).to_contain_text("tags written to the file")
    tags = mutagen.File(web_server.library / name, easy=True)
    assert tags["genre"] == ["Synth Rock"]


def test_a_failed_save_says_why_and_keeps_the_edit(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("eve", track_url(web_server, "aurora.flac")).page
    before, _ = api_track(web_server, "aurora.flac")

    def refuse(route: Route) -> None:  # the server's answer when its database is away
        if route.request.method != "PATCH":
            route.continue_()
            return
        problem = {"title": "Service Unavailable", "status": 503, "detail": "database unavailable"}
        route.fulfill(status=503, json=problem, headers={"Content-Type": PROBLEM})

    page.route("**/api/v1/tracks/*", refuse)
    title = page.get_by_label("Title", exact=True)
    expect(title).to_have_value(before["title"])
    title.fill("Lost?")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".save-status")).to_have_text("Not saved: database unavailable")
    expect(page.locator(".toast-error")).to_contain_text("database unavailable")
    expect(title).to_have_value("Lost?")
    assert api_track(web_server, "aurora.flac")[0]["title"] == before["title"]


def test_an_edit_saved_elsewhere_shows_up_live(open_as: OpenAs, web_server: WebServer) -> None:
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    expect(page.locator(".live")).to_have_text("Live")
    genre = page.get_by_label("Genre", exact=True)
    expect(genre).to_have_value(re.compile(".+"))
    track, etag = api_track(web_server, "aurora.flac")
    with web_server.api() as client:
        client.patch(
            f"/api/v1/tracks/{track['id']}", json={"genre": "Drone"}, headers={"If-Match": etag}
        ).raise_for_status()
    expect(genre).to_have_value("Drone")  # taken in: nothing was typed here
    expect(page.get_by_text("unsaved change")).to_have_count(0)


def test_an_edit_saved_elsewhere_while_typing_is_announced(
    open_as: OpenAs, web_server: WebServer
) -> None:
    page = open_as("ed", track_url(web_server, "aurora.flac")).page
    expect(page.locator(".live")).to_have_text("Live")
    page.get_by_label("Album", exact=True).fill("Typed here")
    track, etag = api_track(web_server, "aurora.flac")
    with web_server.api() as client:
        client.patch(
            f"/api/v1/tracks/{track['id']}",
            json={"album": "Saved there"},
            headers={"If-Match": etag},
        ).raise_for_status()
    expect(page.get_by_text("This track was changed elsewhere")).to_be_visible()
    expect(page.get_by_label("Album", exact=True)).to_have_value("Typed here")


@pytest.fixture(scope="module")
def signing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """A second server, with URL signing on: /media and /hls need ?token=."""
    yield from start_web_server(
        Path(tmp_path_factory.mktemp("signed")),
        tracks={"aurora.flac": TRACKS["aurora.flac"]},
        extra_env={"STREAMER_URL_SIGNING_SECRET": "a secret for the track page tests"},
    )


def test_with_url_signing_the_player_and_cover_use_signed_urls(
    browser: Browser, signing_server: WebServer
) -> None:
    track_id = signing_server.track_ids["aurora.flac"]
    with signing_server.api() as client:
        assert client.get(f"/hls/{track_id}/master.m3u8").status_code == 403  # no token
    context = new_context(browser, signing_server)
    sign_in(context, signing_server, "ed")
    page = context.new_page()
    errors = PageErrors(page)
    media: list[str] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).path.startswith(("/hls/", "/media/")):
            media.append(request.url)

    page.on("request", record)
    with page.expect_response(lambda r: r.url.endswith("/signed") and r.ok):
        page.goto(f"/admin/tracks/{track_id}")
    start_playing(page, 1.0)
    cover = page.get_by_role("img", name="Cover of Aurora")
    expect(cover).to_be_visible()
    assert cover.evaluate("img => img.naturalWidth") > 0
    assert any("/seg_" in url for url in media)
    assert all(parse_qs(urlsplit(url).query).get("token") for url in media), media
    context.close()
    assert errors.errors == []


def test_without_url_signing_the_page_asks_for_no_signed_urls(
    browser: Browser, web_server: WebServer
) -> None:
    context = new_context(browser, web_server)
    session = sign_in(context, web_server, "ed")
    assert session["url_signing"] is False
    page = context.new_page()
    errors = PageErrors(page)
    console: list[str] = []
    asked: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/signed") else None)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(track_url(web_server, "aurora.flac"))
    expect(page.get_by_text("HLS (hls.js)")).to_be_visible()
    start_playing(page, 0.5)  # the player works without tokens
    context.close()
    assert (asked, failed, console, errors.errors) == ([], [], [], [])
