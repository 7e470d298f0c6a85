"""Signing in to the web admin: the password, the second factor, the role's navigation."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Browser, expect

from tests.web.conftest import (
    PASSWORD,
    PageErrors,
    WebServer,
    check_accessibility,
    new_context,
    screenshot,
    totp_code,
)


def test_an_admin_signs_in_with_password_and_totp_code(
    browser: Browser, web_server: WebServer
) -> None:
    context = new_context(browser, web_server)
    page = context.new_page()
    errors = PageErrors(page)
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Streamer admin")).to_be_visible()
    check_accessibility(page, "the sign-in form")
    screenshot(page, "login")
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code_box = page.get_by_label("Code from your authenticator app")
    expect(code_box).to_be_visible()
    check_accessibility(page, "the second-factor form")
    screenshot(page, "login-second-factor")
    code_box.fill(totp_code(web_server.totp_secrets["ada"]))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/admin/library$"))
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")
    ).to_be_visible()
    context.close()
    assert errors.errors == []


def test_a_wrong_password_is_refused_with_a_message(
    browser: Browser, web_server: WebServer
) -> None:
    context = new_context(browser, web_server)
    page = context.new_page()
    page.goto("/admin/library")
    page.get_by_label("User name").fill("ed")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong")
    context.close()


def test_a_wrong_code_keeps_the_second_factor_step(browser: Browser, web_server: WebServer) -> None:
    context = new_context(browser, web_server)
    page = context.new_page()
    page.goto("/admin/library")
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    wrong = pyotp.TOTP(pyotp.random_base32()).now()
    page.get_by_label("Code from your authenticator app").fill(wrong)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Code from your authenticator app")).to_be_visible()
    context.close()


def test_a_viewer_sees_no_users_page_in_the_navigation(open_as) -> None:  # type: ignore[no-untyped-def]
    signed = open_as("val")
    nav = signed.page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Library")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    signed.page.goto("/admin/users")
    expect(signed.page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_the_account_page_passes_axe(open_as) -> None:  # type: ignore[no-untyped-def]
    signed = open_as("ed", "/admin/account")
    expect(signed.page.get_by_role("heading", name="Account")).to_be_visible()
    check_accessibility(signed.page, "the account page")
    screenshot(signed.page, "account")


def test_logging_out_returns_to_the_sign_in_form(open_as) -> None:  # type: ignore[no-untyped-def]
    signed = open_as("ed")
    signed.page.get_by_role("button", name="Log out").click()
    expect(signed.page.get_by_label("User name")).to_be_visible()
