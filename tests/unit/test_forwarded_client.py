"""Immediate answers see the client uvicorn's proxy-headers middleware would give the app."""

from __future__ import annotations

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from streamer.serving import _forwarded_client
from streamer.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    return None


def scope(client: str, *headers: tuple[bytes, bytes]) -> Scope:
    return {"type": "http", "client": (client, 5000), "scheme": "http", "headers": list(headers)}


def test_no_rewrite_without_the_proxy_middleware() -> None:
    assert _forwarded_client(app) is None


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", b"203.0.113.9", "203.0.113.9"),  # a trusted proxy
        ("127.0.0.1", b"198.51.100.1, 203.0.113.9", "203.0.113.9"),  # nearest untrusted hop
        ("192.0.2.7", b"203.0.113.9", "192.0.2.7"),  # an untrusted peer cannot claim one
    ],
)
def test_the_client_is_rewritten_as_uvicorn_would(
    peer: str, forwarded: bytes, expected: str
) -> None:
    rewrite = _forwarded_client(ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1"))  # type: ignore[arg-type]
    assert rewrite is not None
    request = scope(peer, (b"x-forwarded-for", forwarded), (b"x-forwarded-proto", b"https"))
    rewrite(request)
    assert request["client"][0] == expected
    assert request["scheme"] == ("https" if peer == "127.0.0.1" else "http")
