"""Users, API keys and the two-factor policy in a real browser (admins only)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Browser, expect

from tests.fixtures.servers import bearer
from tests.web.conftest import (
    DESKTOP,
    PASSWORD,
    PHONE,
    PageErrors,
    WebServer,
    check_accessibility,
    new_context,
    screenshot,
)


def _new_user(page: Any, name: str, password: str, role: str, library: str | None) -> None:
    page.get_by_role("button", name="New user").click()
    dialog = page.get_by_role("dialog", name="New user")
    dialog.get_by_label("User name").fill(name)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_label("Role", exact=True).select_option(role)
    if library is not None:
        dialog.get_by_label("library", exact=True).select_option(library)
    dialog.get_by_role("button", name="Create user").click()


def test_an_admin_creates_a_user_with_a_read_grant_who_can_sign_in_and_see_the_library(
    open_as: Any, browser: Browser, web_server: WebServer
) -> None:
    signed = open_as("ed", "/admin/users")
    page = signed.page
    _new_user(page, "nora", PASSWORD, "viewer", "read")
    expect(page.get_by_text("User nora created.")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(r"^nora "))
    expect(row).to_contain_text("viewer")
    expect(row).to_contain_text("library: read")
    expect(row).to_contain_text("Never")  # not signed in yet

    context = new_context(browser, web_server)
    new = context.new_page()
    errors = PageErrors(new)
    new.goto("/admin/dashboard")
    new.get_by_label("User name").fill("nora")
    new.get_by_label("Password").fill(PASSWORD)
    new.get_by_role("button", name="Sign in").click()
    expect(new.get_by_role("heading", name="Dashboard")).to_be_visible()
    storage = new.get_by_role("region", name="Storage", exact=True)
    bars = storage.get_by_role("img", name=re.compile(r"^Storage per library: library "))
    expect(bars).to_be_visible()
    libraries = context.request.get("/api/v1/libraries").json()
    assert [lib["id"] for lib in libraries] == [web_server.library_id]
    context.close()
    assert errors.errors == []


def test_a_taken_name_and_a_short_password_are_explained_at_their_fields(open_as: Any) -> None:
    signed = open_as("ed", "/admin/users")
    page = signed.page
    _new_user(page, "val", "short", "viewer", None)
    dialog = page.get_by_role("dialog", name="New user")
    password = dialog.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(re.compile("at least 10 characters"))
    expect(password).to_be_focused()
    password.fill(PASSWORD)
    dialog.get_by_role("button", name="Create user").click()
    name = dialog.get_by_label("User name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_accessible_description(re.compile("a user named 'val' exists already"))
    expect(page.get_by_text("Not saved: a user named 'val' exists already")).to_be_visible()


def test_an_admin_changes_a_role_and_grants_and_disables_a_user(
    open_as: Any, web_server: WebServer
) -> None:
    with web_server.api() as client:
        made = client.post(
            "/api/v1/users", json={"name": "otto", "password": PASSWORD, "role": "viewer"}
        )
        assert made.status_code == 201
    signed = open_as("ed", "/admin/users")
    page = signed.page
    page.get_by_role("button", name="Edit otto").click()
    dialog = page.get_by_role("dialog", name="Edit otto")
    dialog.get_by_label("Role", exact=True).select_option("editor")
    dialog.get_by_label("library", exact=True).select_option("write")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_text("User otto saved.")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(r"^otto "))
    expect(row).to_contain_text("library: write")
    page.get_by_role("button", name="Disable otto").click()
    expect(row).to_contain_text("Disabled")
    with web_server.api() as client:
        otto = client.get(f"/api/v1/users/{made.json()['id']}").json()
    assert (otto["role"], otto["libraries"], otto["disabled"]) == (
        "editor",
        {web_server.library_id: "write"},
        True,
    )
    refused = httpx.post(
        f"{web_server.base_url}/api/v1/auth/login", json={"name": "otto", "password": PASSWORD}
    )
    assert refused.status_code == 401
    page.get_by_role("button", name="Enable otto").click()
    expect(row).to_contain_text("Active")


def test_deleting_a_user_asks_first(open_as: Any, web_server: WebServer) -> None:
    with web_server.api() as client:
        client.post("/api/v1/users", json={"name": "gone", "password": PASSWORD, "role": "viewer"})
    signed = open_as("ed", "/admin/users")
    page = signed.page
    page.get_by_role("button", name="Delete gone").click()
    confirm = page.get_by_role("dialog", name="Delete user")
    expect(confirm).to_contain_text("Delete gone?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("row", name=re.compile(r"^gone "))).to_be_visible()
    page.get_by_role("button", name="Delete gone").click()
    confirm.get_by_role("button", name="Delete user").click()
    expect(page.get_by_text("User gone deleted.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^gone "))).to_have_count(0)
    with web_server.api() as client:
        names = [u["name"] for u in client.get("/api/v1/users").json()["items"]]
    assert "gone" not in names


def test_a_new_api_key_is_shown_once_works_and_is_refused_once_revoked(
    open_as: Any, web_server: WebServer
) -> None:
    signed = open_as("ed", "/admin/users")
    signed.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = signed.page
    page.get_by_role("button", name="New API key").click()
    dialog = page.get_by_role("dialog", name="New API key")
    dialog.get_by_label("Name").fill("nightly export")
    dialog.get_by_label("Role", exact=True).select_option("viewer")
    dialog.get_by_label("Only the libraries chosen").check()
    dialog.get_by_label("library", exact=True).select_option("read")
    dialog.get_by_role("button", name="Create key").click()
    created = page.get_by_role("dialog", name="API key created")
    expect(created).to_contain_text("shown only this once")
    secret = created.get_by_label("API key “nightly export” (viewer)").input_value()
    assert secret.startswith("stk_")
    created.get_by_role("button", name="Copy").click()
    expect(created.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "users-new-key")

    works = httpx.get(f"{web_server.base_url}/api/v1/libraries", headers=bearer(secret))
    assert works.status_code == 200
    assert [lib["id"] for lib in works.json()] == [web_server.library_id]

    created.get_by_role("button", name="Done").click()
    expect(created).to_be_hidden()
    assert secret not in page.content()
    row = page.get_by_role("row", name=re.compile(r"^nightly export "))
    expect(row).to_contain_text(secret[:12])  # the prefix, to recognise it by
    expect(row).to_contain_text("library: read")
    expect(row).to_contain_text("Active")

    page.get_by_role("button", name="Revoke nightly export").click()
    confirm = page.get_by_role("dialog", name="Revoke API key")
    confirm.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("Key nightly export revoked.")).to_be_visible()
    expect(row).to_contain_text("Revoked")
    refused = httpx.get(f"{web_server.base_url}/api/v1/libraries", headers=bearer(secret))
    assert refused.status_code == 401


def test_the_two_factor_policy_toggle_persists(open_as: Any, web_server: WebServer) -> None:
    signed = open_as("ed", "/admin/users")
    page = signed.page
    try:
        page.get_by_label("viewers").check()
        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_text("Two-factor policy saved.")).to_be_visible()
        page.reload()
        expect(page.get_by_label("viewers")).to_be_checked()
        expect(page.get_by_label("editors")).not_to_be_checked()
        with web_server.api() as client:
            assert client.get("/api/v1/security").json() == {"require_2fa_roles": ["viewer"]}
    finally:
        with web_server.api() as client:  # the other tests' viewers sign in without 2FA
            client.put("/api/v1/security", json={"require_2fa_roles": []})


def test_the_users_page_and_its_dialogs_pass_axe(open_as: Any) -> None:
    signed = open_as("ed", "/admin/users")
    page = signed.page
    expect(page.get_by_role("row", name=re.compile(r"^val "))).to_be_visible()
    expect(page.get_by_label("viewers")).to_be_visible()
    check_accessibility(page, "the users page")
    page.set_viewport_size(PHONE)  # tables scroll sideways there
    check_accessibility(page, "the users page at phone width")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "users")
    page.get_by_role("button", name="New user").click()
    check_accessibility(page, "the new user dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Edit val").click()
    check_accessibility(page, "the edit user dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="New API key").click()
    page.get_by_label("Only the libraries chosen").check()
    check_accessibility(page, "the new API key dialog")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Delete val").click()
    expect(page.get_by_role("dialog", name="Delete user")).to_be_visible()
    check_accessibility(page, "the delete confirmation")
