"""Visual regression: pages of the web admin, and its plots, at desktop and phone width,
compared with the baselines in tests/web/baselines/ pixel by pixel.

The pages are made deterministic rather than the tolerance loose: fixed data from the
harness's fake API (tests/web/harness.py), a frozen clock, a fixed locale and time zone,
no animations. A page that differs fails with a diff image (changed pixels in red over
the faded baseline) and the new screenshot, under .visual-diffs/. `make screenshots`
(scripts/screenshots sets SCREENSHOTS_DIR) writes new baselines on purpose: look at them
before committing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import DESKTOP, PHONE, ROOT
from tests.web.harness import Harness, serve_harness

BASELINES = Path(__file__).parent / "baselines"
DIFFS = Path(os.environ.get("VISUAL_DIFF_DIR", ROOT / ".visual-diffs"))
UPDATE = bool(os.environ.get("SCREENSHOTS_DIR"))  # set by scripts/screenshots
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# A pixel counts as changed when a channel moves by more than this (of 255): anti-aliasing
# noise stays under it, a changed colour or a moved edge does not.
CHANNEL_TOLERANCE = 16
# The share of changed pixels a page may have: 0.05 % (a few hundred of a desktop page).
CHANGED_SHARE = 0.0005

ED = {
    "user_id": "u-ed",
    "name": "ed",
    "role": "admin",
    "second_factor_required": False,
    "totp_enabled": True,
    "must_enrol_totp": False,
    "csrf_token": "csrf",
}
LIBRARIES = [
    {
        "id": "lib-music",
        "name": "Music",
        "root": "/srv/media/music",
        "created_at": "2026-10-02T08:00:00Z",
        "last_scan_at": "2026-11-30T21:15:00Z",
        "last_scan": {
            "state": "done",
            "seconds": 4.2,
            "added": 120,
            "changed": 3,
            "unchanged": 1480,
            "gone": 2,
            "failed": 1,
            "errors": [["broken/track.mp3", "not audio"]],
        },
    },
    {
        "id": "lib-talks",
        "name": "Talks",
        "root": "s3://talks/episodes",
        "created_at": "2026-11-20T10:30:00Z",
        "last_scan_at": "2026-12-01T11:58:00Z",
        "last_scan": {"state": "running", "done": 40, "total": 160},
    },
    {
        "id": "lib-new",
        "name": "Incoming",
        "root": "/srv/media/incoming",
        "created_at": "2026-12-01T11:00:00Z",
        "last_scan_at": None,
        "last_scan": None,
    },
]
USERS = {
    "items": [
        {
            "id": "u-ed",
            "name": "ed",
            "role": "admin",
            "disabled": False,
            "totp_enabled": True,
            "libraries": {},
            "created_at": "2026-10-01T09:00:00Z",
            "last_login_at": "2026-12-01T11:30:00Z",
        },
        {
            "id": "u-eve",
            "name": "eve",
            "role": "editor",
            "disabled": False,
            "totp_enabled": False,
            "libraries": {"lib-music": "write", "lib-talks": "read"},
            "created_at": "2026-10-05T09:00:00Z",
            "last_login_at": None,
        },
        {
            "id": "u-val",
            "name": "val",
            "role": "viewer",
            "disabled": True,
            "totp_enabled": False,
            "libraries": {"lib-talks": "read"},
            "created_at": "2026-11-05T09:00:00Z",
            "last_login_at": "2026-11-06T18:45:00Z",
        },
    ],
    "total": 3,
    "limit": 50,
    "offset": 0,
}
API_KEYS = [
    {
        "id": "k-cdn",
        "name": "CDN purge",
        "prefix": "sk_3f9a",
        "role": "editor",
        "libraries": None,
        "created_by": "u-ed",
        "created_at": "2026-11-01T09:00:00Z",
        "expires_at": "2027-11-01T00:00:00Z",
        "last_used_at": "2026-12-01T10:00:00Z",
        "revoked_at": None,
    },
    {
        "id": "k-backup",
        "name": "Backups",
        "prefix": "sk_77c1",
        "role": "viewer",
        "libraries": {"lib-music": "read"},
        "created_by": "u-ed",
        "created_at": "2026-11-10T09:00:00Z",
        "expires_at": None,
        "last_used_at": None,
        "revoked_at": None,
    },
]
SIGNED_IN: dict[str, tuple[int, Any]] = {
    "/auth/session": (200, ED),
    "/libraries": (200, LIBRARIES),
    "/users": (200, USERS),
    "/security": (200, {"require_2fa_roles": ["admin"]}),
    "/apikeys": (200, API_KEYS),
}
SIGNED_OUT: dict[str, tuple[int, Any]] = {
    "/auth/session": (401, {"title": "Unauthorized", "status": 401}),
}


def ready_login(page: Page) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def ready_libraries(page: Page) -> None:
    expect(page.locator(".live-live")).to_be_visible()
    expect(page.get_by_role("row")).to_have_count(4)


def ready_users(page: Page) -> None:
    expect(page.locator(".live-live")).to_be_visible()
    expect(page.locator("tr[data-user]")).to_have_count(3)
    expect(page.locator("tr[data-key]")).to_have_count(2)
    expect(page.get_by_role("checkbox", name="admins")).to_be_checked()


def ready_plots(page: Page) -> None:
    """The plots are drawn at their measured widths (useWidth), not the fallback."""
    expect(page.locator("figure.plot svg")).to_have_count(3)
    page.wait_for_function(
        """() => [...document.querySelectorAll('figure.plot')].every((figure) =>
            Number(figure.querySelector('svg').getAttribute('width'))
                === Math.round(figure.clientWidth))"""
    )


PAGES: dict[str, tuple[str, dict[str, tuple[int, Any]], Callable[[Page], None]]] = {
    "login": ("/admin/", SIGNED_OUT, ready_login),
    # LinePlot and BarPlot, shared by pages, with fixed data (tests/web/components/gallery.js).
    "plots": ("/components/gallery.html", SIGNED_OUT, ready_plots),
    "libraries": ("/admin/libraries", SIGNED_IN, ready_libraries),
    "users": ("/admin/users", SIGNED_IN, ready_users),
}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with serve_harness() as harness:
        yield harness


def changed_pixels(baseline: Image.Image, actual: Image.Image) -> Image.Image:
    """A mask (mode "1") of the pixels where some channel differs by more than the
    tolerance; both images the same size."""
    red, green, blue = ImageChops.difference(baseline, actual).split()
    most = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return most.point(lambda value: 255 if value > CHANNEL_TOLERANCE else 0).convert("1")


def diff_image(baseline: Image.Image, actual: Image.Image) -> tuple[Image.Image, int]:
    """The faded baseline with changed pixels in red (on a canvas fitting both images),
    and how many pixels changed."""
    size = (max(baseline.width, actual.width), max(baseline.height, actual.height))
    padded = [Image.new("RGB", size, "white") for _ in range(2)]
    padded[0].paste(baseline)
    padded[1].paste(actual)
    mask = changed_pixels(padded[0], padded[1])
    if baseline.size != actual.size:  # where only one image has pixels, all changed
        outside = Image.new("1", size, 1)
        outside.paste(
            0, (0, 0, *(min(a, b) for a, b in zip(baseline.size, actual.size, strict=True)))
        )
        mask = ImageChops.logical_or(mask, outside)
    faded = Image.blend(padded[0], Image.new("RGB", size, "white"), 0.7)
    faded.paste((220, 0, 0), mask=mask)
    return faded, mask.histogram()[-1]


def compare_with_baseline(png: bytes, name: str) -> None:
    baseline_path = BASELINES / f"{name}.png"
    if UPDATE:
        BASELINES.mkdir(parents=True, exist_ok=True)
        baseline_path.write_bytes(png)
        return
    assert baseline_path.exists(), f"no baseline {baseline_path}: run `make screenshots`"
    actual = Image.open(io.BytesIO(png)).convert("RGB")
    baseline = Image.open(baseline_path).convert("RGB")
    diff, changed = diff_image(baseline, actual)
    allowed = int(CHANGED_SHARE * baseline.width * baseline.height)
    if baseline.size == actual.size and changed <= allowed:
        return
    DIFFS.mkdir(parents=True, exist_ok=True)
    diff_path = DIFFS / f"{name}-diff.png"
    diff.save(diff_path)
    (DIFFS / f"{name}-actual.png").write_bytes(png)
    raise AssertionError(
        f"{name} differs from its baseline: {changed} pixels changed (at most {allowed}), "
        f"size {actual.size} against {baseline.size}. Diff image: {diff_path}; "
        f"if the change is meant, `make screenshots` updates {baseline_path}"
    )


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_page_looks_as_its_baseline(
    browser: Browser, harness: Harness, name: str, width: str
) -> None:
    path, api, ready = PAGES[name]
    harness.api.clear()
    harness.api.update(api)
    context = browser.new_context(
        base_url=harness.base_url,
        viewport=WIDTHS[width],
        device_scale_factor=1,
        locale="en-GB",
        timezone_id="UTC",
        color_scheme="light",
        reduced_motion="reduce",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.clock.set_fixed_time(NOW)
    try:
        page.goto(path)
        ready(page)
        png = page.screenshot(full_page=True, animations="disabled", caret="hide")
    finally:
        context.close()
    assert errors == []
    compare_with_baseline(png, f"{name}-{width}")


def _image(
    size: tuple[int, int] = (40, 30), colour: tuple[int, int, int] = (240, 240, 240)
) -> Image.Image:
    return Image.new("RGB", size, colour)


def test_identical_images_have_no_changed_pixel() -> None:
    assert diff_image(_image(), _image())[1] == 0


def test_a_channel_moving_within_the_tolerance_is_not_a_change() -> None:
    near = _image(colour=(240 - CHANNEL_TOLERANCE, 240, 240))
    assert diff_image(_image(), near)[1] == 0


def test_changed_pixels_are_counted_and_drawn_red() -> None:
    actual = _image()
    actual.paste((31, 79, 209), (10, 10, 14, 12))  # 4 x 2 pixels of another colour
    diff, changed = diff_image(_image(), actual)
    assert changed == 8
    assert diff.getpixel((11, 11)) == (220, 0, 0)


def test_pixels_only_one_image_has_are_changes() -> None:
    assert diff_image(_image((40, 30)), _image((40, 35)))[1] == 40 * 5
