"""Small helpers the plain-ASGI routes share: the request fields they read, values of
the query string, and sending a whole :class:`~streamer.types.Reply`."""

from __future__ import annotations

from streamer.types import Reply, Scope, Send

__all__ = ["query_value", "request_headers", "send_reply", "version_query"]

_INTERESTING = frozenset(
    {
        b"range",
        b"if-range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"origin",
        b"access-control-request-method",
        b"access-control-request-headers",
    }
)


def request_headers(scope: Scope) -> dict[str, str]:
    """The request fields the media routes look at, by lowercase name."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _INTERESTING:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            # Repeated fields combine with commas (RFC 9110 section 5.3).
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


async def send_reply(send: Send, reply: Reply) -> None:
    """Send a whole :class:`Reply` over ASGI (the ASGI path's copy of an immediate answer)."""
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
    await send({"type": "http.response.body", "body": reply.body})


def version_query(query: bytes) -> str | None:
    """The ``v`` of a query string, or None."""
    return query_value(query, b"v")


def query_value(query: bytes, wanted: bytes) -> str | None:
    """The first value of parameter ``wanted`` in a query string, or None."""
    if not query:
        return None
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name == wanted:
            return value.decode("latin-1")
    return None
