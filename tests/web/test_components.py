"""The web admin's shared hooks and components (tests/web/components/components.test.js),
each rendered alone in Chromium from the admin's own modules: no streamer, no data. Every
exported ``test_*`` function there is a case here."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.web.harness import COMPONENTS, Harness, serve_harness

TESTS = re.findall(
    r"^export async function (test_\w+)\(", (COMPONENTS / "components.test.js").read_text(), re.M
)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with serve_harness() as harness:
        yield harness


@pytest.fixture(scope="module")
def page(browser: Browser, harness: Harness) -> Iterator[Page]:
    """One page for every case: each starts from an empty root and cleans up after itself."""
    context = browser.new_context(base_url=harness.base_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/components/index.html")
    page.wait_for_function("window.harnessReady === true", timeout=10_000)
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the harness page: {errors}"


def test_the_harness_finds_the_tests() -> None:
    assert len(TESTS) >= 10


@pytest.mark.parametrize("name", TESTS)
def test_component(page: Page, name: str) -> None:
    page.evaluate("(name) => window.runTest(name)", name)
