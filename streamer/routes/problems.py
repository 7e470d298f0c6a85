"""Error responses as application/problem+json (RFC 9457), for plain ASGI routes."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from http import HTTPStatus

from streamer.errors import DatabaseUnavailable
from streamer.types import Reply, Send

logger = logging.getLogger("streamer.storage")


def problem_body(status: int, detail: str) -> bytes:
    return json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
        }
    ).encode()


def problem_reply(status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> Reply:
    """A problem+json answer as a whole :class:`Reply` (immediate answers)."""
    body = problem_body(status, detail)
    fields = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    return Reply(status, fields, body)


async def problem_response(
    send: Send, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    reply = problem_reply(status, detail, headers)
    await send({"type": "http.response.start", "status": status, "headers": reply.headers})
    await send({"type": "http.response.body", "body": reply.body})


async def storage_unavailable(
    send: Send, headers: Iterable[tuple[bytes, bytes]] = (), *, track_id: str | None = None
) -> None:
    """503 with Retry-After for a store, or the catalogue's database, that failed: logged
    with its cause (call it from the ``except`` block), never a 500."""
    database = isinstance(sys.exc_info()[1], DatabaseUnavailable)
    what = "the catalogue database is unavailable" if database else "storage unavailable"
    logger.warning(what, exc_info=True, extra={"track": track_id})
    await problem_response(send, 503, what, [(b"retry-after", b"5"), *headers])
