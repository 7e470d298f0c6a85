"""The ad pages in Chromium against a real server: an editor creates a campaign with a new
advertiser, adds a creative that fits its slot (valid, every check with its reason, a
preview to listen to) and one that does not (invalid, the reason shown), makes an
earlier version current again, pauses the campaign; viewers get no ad pages; axe on each."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.fixtures.audio import make_audio
from tests.web.conftest import WebServer, check_accessibility, in_thread, screenshot


def _add_creative(page: Page, name: str, slot: str, title: str) -> None:
    form = page.get_by_role("form", name="Add a creative")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Slot (seconds)").fill(slot)
    form.get_by_label("Find the audio").fill(title)
    track = form.get_by_label("Audio track")
    expect(track.locator("option", has_text=title)).to_have_count(1)
    track.select_option(label=track.locator("option", has_text=title).inner_text())
    form.get_by_role("button", name="Add creative").click()


def test_an_editor_runs_a_campaign_from_the_ad_pages(open_as, web_server: WebServer) -> None:  # type: ignore[no-untyped-def]
    page = open_as("eve", "/admin/ads").page
    expect(page.get_by_text("No campaigns yet.")).to_be_visible()
    check_accessibility(page, "the ads page, empty")
    page.get_by_role("button", name="New campaign").click()
    dialog = page.get_by_role("dialog", name="New campaign")
    dialog.get_by_label("Name", exact=True).fill("Spring sale")
    dialog.get_by_label("New advertiser's name").fill("Acme Drinks")
    dialog.get_by_label("Its category").fill("soft drinks")
    dialog.get_by_label("Goal").fill("5000")
    check_accessibility(page, "the new campaign dialog")
    dialog.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", name="Spring sale", level=1)).to_be_visible()

    _add_creative(page, "Aurora spot", "12", "Aurora")
    good = page.get_by_role("region", name="Creative Aurora spot")
    expect(good.get_by_text("Valid", exact=True)).to_be_visible()
    checks = good.get_by_role("list", name="Checks of Aurora spot")
    expect(checks).to_contain_text("fits its 12 s slot")
    expect(checks).to_contain_text("LUFS after a")
    preview = good.get_by_label("Preview of Aurora spot")
    source = preview.get_attribute("src")
    assert source == f"/media/{web_server.track_ids['aurora.flac']}/original"
    assert httpx.get(f"{web_server.base_url}{source}").status_code == 200

    _add_creative(page, "Cascade spot", "30", "Cascade")
    bad = page.get_by_role("region", name="Creative Cascade spot")
    expect(bad.get_by_text("Invalid", exact=True)).to_be_visible()
    expect(bad.get_by_role("list", name="Checks of Cascade spot")).to_contain_text(
        "is more than 1.5 s short of its 30 s slot"
    )
    check_accessibility(page, "a campaign with a valid and an invalid creative")
    screenshot(page, "ad-campaign")

    # A second version of the good creative (through the API: the page shows versions),
    # then the first made current again from the page.
    campaign_id = page.url.rsplit("/", 1)[1]
    with web_server.api() as api:
        creatives = api.get(f"/api/v1/ads/campaigns/{campaign_id}/creatives").json()["items"]
        aurora = next(c for c in creatives if c["name"] == "Aurora spot")
        api.post(
            f"/api/v1/ads/creatives/{aurora['id']}/versions",
            json={"track_id": web_server.track_ids["cascade.flac"], "note": "short cut"},
        )
    page.reload()
    good.get_by_text("Versions (2)").click()
    expect(good.get_by_text("Invalid", exact=True)).to_be_visible()
    good.get_by_role("button", name="Make version 1 current").click()
    expect(good.get_by_text("Valid", exact=True)).to_be_visible()

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    with web_server.api() as api:
        assert api.get(f"/api/v1/ads/campaigns/{campaign_id}").json()["paused"] is True

    page.get_by_role("link", name="Ads", exact=True).first.click()
    row = page.get_by_role("row", name="Spring sale")
    expect(row).to_contain_text("Acme Drinks")
    expect(row).to_contain_text("Paused")
    check_accessibility(page, "the ads page with a campaign")
    screenshot(page, "ads")


def test_viewers_get_no_ad_pages(open_as) -> None:  # type: ignore[no-untyped-def]
    page = open_as("val", "/admin/ads").page
    expect(page.get_by_role("navigation").get_by_role("link", name="Ads")).to_have_count(0)
    expect(page.get_by_role("heading", name="Ads", level=1)).to_have_count(0)


def test_a_creatives_audio_uploaded_on_the_campaign_page_is_checked_once_transcoded(
    open_as, web_server: WebServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with web_server.api() as api:
        advertiser = api.post("/api/v1/ads/advertisers", json={"name": "Uploader"}).json()
        campaign = api.post(
            "/api/v1/ads/campaigns",
            json={"advertiser_id": advertiser["id"], "name": "Jingles",
                  "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"},
        ).json()  # fmt: skip
    page = open_as("eve", f"/admin/ads/{campaign['id']}").page
    expect(page.get_by_role("heading", name="Jingles", level=1)).to_be_visible()
    jingle = in_thread(make_audio, tmp_path / "jingle.flac", "flac", 15.0)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose files").click()
    chooser.value.set_files(str(jingle))
    form = page.get_by_role("form", name="Add a creative")
    # Once stored and catalogued, the upload is the chosen audio.
    expect(form.get_by_label("Audio track").locator("option:checked")).to_contain_text(
        "jingle", ignore_case=True, timeout=30_000
    )
    form.get_by_label("Name").fill("Jingle spot")
    form.get_by_label("Slot (seconds)").fill("15")
    form.get_by_role("button", name="Add creative").click()
    made = page.get_by_role("region", name="Creative Jingle spot")
    expect(made).to_be_visible()
    # Checking… until the transcode measured it; the page looks again by itself.
    expect(made.get_by_text("Valid", exact=True)).to_be_visible(timeout=60_000)
    expect(made.get_by_role("list", name="Checks of Jingle spot")).to_contain_text(
        "fits its 15 s slot"
    )
    check_accessibility(page, "a campaign page with an upload")
