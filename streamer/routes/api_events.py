"""GET /api/v1/events: live updates as server-sent events (docs/api.md, "Live events").

Authentication is the API's (a session cookie or an API key); each event reaches only
those who may read its library. The stream itself is ``streamer.events.stream``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from streamer.auth.access import Principal
from streamer.auth.authenticate import AuthFailure
from streamer.events import EventHub
from streamer.events.sse import InvalidEventId, parse_event_id
from streamer.events.stream import EventStream, Recheck
from streamer.metrics import Metrics
from streamer.routes.api_common import AUTH_RESPONSES, PrincipalDep, SettingsDep, authenticator
from streamer.routes.api_common import credentials as read_credentials
from streamer.types import SHUTDOWN_STATE

__all__ = ["events_router"]

_DESCRIPTION = """\
A text/event-stream. Each message has `id` (an integer that only grows), `event` (the
type) and `data` (one line of JSON):

- `job`: `{id, track_id, library_id, kind, status, progress, error, attempts,
  cancel_requested}` on every status change, and about once a second while a running
  job makes progress;
- `scan`: `{library_id, state, processed, total, added, changed, failed, gone, error}`
  (state running, done or failed);
- `upload`: `{id, library_id, state, filename, track_id, error}` when an upload completed
  or failed;
- `track`: `{id, library_id, action}` (created, updated, deleted);
- `playlist`: `{id, library_id, action, revision}` (created, updated, deleted);
- `reset`: the events since the client's last one are no longer kept: reload everything.

Reconnect with `Last-Event-ID` (browsers do) to have what was missed replayed; the
backlog is bounded by age and count. Comments (`: ping`) keep an idle stream open.
"""

_STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The event stream (it does not end by itself).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **AUTH_RESPONSES,
}


def events_router() -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.get(
        "/events",
        response_class=EventStream,
        status_code=200,
        responses=_STREAM_RESPONSE,
        description=_DESCRIPTION,
        summary="Live events (server-sent events)",
    )
    async def events(
        request: Request,
        settings: SettingsDep,
        principal: PrincipalDep,
        last_event_id: Annotated[
            str | None,
            Query(
                max_length=40,
                description="resume after this event id (for a first connection; "
                "the Last-Event-ID header wins)",
            ),
        ] = None,
        last_event_id_header: Annotated[
            str | None,
            Header(alias="Last-Event-ID", max_length=40, description="resume after this id"),
        ] = None,
    ) -> Response:
        hub: EventHub = request.app.state.events
        metrics: Metrics = request.app.state.metrics
        raw = last_event_id_header if last_event_id_header is not None else last_event_id
        try:
            last_id, invalid = parse_event_id(raw), False
        except InvalidEventId:
            last_id, invalid = None, True
        shutdown = request.scope.get("state", {}).get(SHUTDOWN_STATE)
        return EventStream(
            hub,
            principal,
            _rechecker(request),
            last_id=last_id,
            invalid_id=invalid,
            heartbeat_seconds=settings.events_heartbeat_seconds,
            retry_seconds=settings.events_retry_seconds,
            shutdown=shutdown if isinstance(shutdown, asyncio.Event) else None,
            on_open=metrics.event_streams.inc,
        )

    return router


def _rechecker(request: Request) -> Recheck:
    """The caller's principal as its credentials stand now: None once they were revoked
    or expired (or the user lost the right to sign in). Not counted against rate
    limits, and a session is not kept alive by it: an open page is not activity."""
    auth = authenticator(request)
    creds = read_credentials(request)

    async def recheck() -> Principal | None:
        try:
            return await auth.principal(creds, recheck=True)
        except AuthFailure:
            return None

    return recheck
