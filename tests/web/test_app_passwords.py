"""The account page's app passwords: a user makes one for a Subsonic player, sees it once,
the player signs in with it, and revoking it locks the player out."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.web.conftest import WebServer, check_accessibility, screenshot


def _ping(web_server: WebServer, user: str, password: str) -> str:
    answer = httpx.get(
        f"{web_server.base_url}/rest/ping",
        params={"u": user, "p": password, "c": "test", "v": "1.16.1", "f": "json"},
    ).json()["subsonic-response"]
    return "ok" if answer["status"] == "ok" else str(answer["error"]["code"])


def test_an_app_password_is_made_shown_once_used_and_revoked(
    open_as, web_server: WebServer
) -> None:  # type: ignore[no-untyped-def]
    signed = open_as("eve", "/admin/account")
    page = signed.page
    section = page.get_by_role("region", name="App passwords")
    expect(section).to_contain_text(web_server.base_url)
    section.get_by_label("Player").fill("Feishin on the laptop")
    section.get_by_role("button", name="Make a password").click()
    shown = section.get_by_test_id("app-password")
    expect(shown).to_be_visible()
    password = shown.inner_text().strip()
    assert len(password) == 24
    listed = section.get_by_role("list", name="Your app passwords")
    expect(listed).to_contain_text("Feishin on the laptop")
    check_accessibility(page, "the account page with an app password")
    screenshot(page, "account-app-passwords")
    assert _ping(web_server, "eve", password) == "ok"

    page.reload()  # shown once: gone after a reload, still listed
    expect(section.get_by_test_id("app-password")).to_have_count(0)
    expect(listed).to_contain_text("last used")
    section.get_by_role("button", name="Revoke Feishin on the laptop").click()
    expect(section.get_by_text("No app passwords yet.")).to_be_visible()
    assert _ping(web_server, "eve", password) == "40"
