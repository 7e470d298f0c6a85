"""The web admin's files are cached for good under content-hashed URLs: a second load
asks the server for the document alone, not for each module down the chain of imports
(streamer.admin.versions). Served by the admin's own static site (tests/web/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.web.harness import Harness, serve_harness

FILES = (".js", ".mjs", ".css")


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with serve_harness() as harness:
        harness.api["/auth/session"] = (401, {"title": "Unauthorized", "status": 401})
        yield harness


def files_asked(harness: Harness, since: int) -> list[str]:
    return [path for path in harness.requests[since:] if path.split("?", 1)[0].endswith(FILES)]


def test_every_module_and_style_sheet_is_asked_for_by_its_content_hash(
    browser: Browser, harness: Harness
) -> None:
    context = browser.new_context(base_url=harness.base_url)
    page = context.new_page()
    since = len(harness.requests)
    page.goto("/admin/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    asked = files_asked(harness, since)
    assert any(path.startswith("/admin/vendor/preact.mjs?v=") for path in asked)
    assert any(path.startswith("/admin/js/pages/login.js?v=") for path in asked)
    assert [path for path in asked if "?v=" not in path] == []
    context.close()


@pytest.mark.parametrize("how", ["navigate", "reload"])
def test_a_second_load_asks_for_no_module_or_style_sheet(
    browser: Browser, harness: Harness, how: str
) -> None:
    context = browser.new_context(base_url=harness.base_url)
    page = context.new_page()
    page.goto("/admin/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    since = len(harness.requests)
    if how == "reload":
        page.reload()
    else:
        page.goto("/admin/library")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert files_asked(harness, since) == []
    assert harness.requests[since].startswith("/admin/")  # the document, revalidated
    context.close()
