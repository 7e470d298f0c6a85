"""Live events in the browser: the header's indicator, and events reaching useEvents."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import WebServer

# Subscribes through the admin's own module (a component using useEvents, rendered off
# screen) and keeps what arrives in window.received.
SUBSCRIBE = """async () => {
    const { h, render } = await import('preact');
    const { useEvents } = await import('/admin/js/events.js');
    window.received = [];
    function Probe() {
        useEvents(['job'], (event) => window.received.push(event));
        return null;
    }
    render(h(Probe, null), document.createElement('div'));
}"""


def test_the_header_shows_live_once_signed_in(open_as: Any) -> None:
    signed = open_as("ed")

    indicator = signed.page.get_by_title("Live updates")

    expect(indicator).to_have_text("Live")
    assert signed.errors.errors == []


def test_a_job_event_reaches_a_use_events_handler_while_the_page_is_open(
    open_as: Any, web_server: WebServer
) -> None:
    signed = open_as("eve")
    expect(signed.page.get_by_title("Live updates")).to_have_text("Live")
    signed.page.evaluate(SUBSCRIBE)

    with web_server.api() as api:
        response = api.post(
            "/api/v1/jobs", json={"track_id": web_server.track_ids["cascade.flac"], "force": True}
        )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]

    signed.page.wait_for_function(
        """(id) => window.received.some(
            (e) => e.type === 'job' && e.data.id === id && e.data.status === 'succeeded')""",
        arg=job_id,
        timeout=60_000,
    )
    statuses = signed.page.evaluate(
        "(id) => window.received.filter((e) => e.data.id === id).map((e) => e.data.status)",
        job_id,
    )
    assert statuses[0] == "queued"
    assert statuses[-1] == "succeeded"
    assert signed.errors.errors == []
