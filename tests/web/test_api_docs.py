"""/api/v1/docs: Swagger UI 5 (vendored from npm) renders the OpenAPI 3.1 document and its
"Try it out" reaches the API with the browser's session."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from tests.web.conftest import WebServer, new_context


def test_the_docs_page_renders_every_tag_and_runs_a_request(open_as: Any) -> None:
    signed = open_as("ed", "/api/v1/docs")
    page = signed.page
    expect(page.get_by_role("heading", name="Streamer admin API")).to_be_visible(timeout=20_000)
    operation = page.locator("#operations-tracks-list_tracks_tracks_get")
    expect(operation).to_be_visible()
    operation.locator(".opblock-summary-control").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("200")


def test_the_docs_page_needs_credentials(browser: Browser, web_server: WebServer) -> None:
    context = new_context(browser, web_server)
    response = context.request.get("/api/v1/docs")
    assert response.status == 401
    assert response.headers["content-type"] == "application/problem+json"
    context.close()
