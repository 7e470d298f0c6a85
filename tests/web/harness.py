"""A small server for testing the web admin's front end alone, without the streamer: the
admin's static files (streamer.admin.site, as served in production), the component tests'
pages under /components/, and a fake /api/v1 that answers with fixed JSON set by the test.

It starts in a thread in a second or less, so component, caching and visual tests stay
fast and their pages are deterministic (no live data, no transcodes).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.staticfiles import StaticFiles

from streamer.admin.site import STATIC, AdminSite
from streamer.types import Receive, Scope, Send
from tests.fixtures.servers import free_port

COMPONENTS = Path(__file__).parent / "components"


@dataclass
class Harness:
    base_url: str
    # path under /api/v1 (no query) -> (status, JSON body): what the fake API answers.
    api: dict[str, tuple[int, Any]] = field(default_factory=dict)
    # every path asked of the server, in order (with its query string, if any).
    requests: list[str] = field(default_factory=list)


class _App:
    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.admin = AdminSite(STATIC)
        self.components = StaticFiles(directory=COMPONENTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode()
        self.harness.requests.append(f"{path}?{query}" if query else path)
        if path.startswith("/components/"):
            scope = {**scope, "path": path.removeprefix("/components"), "root_path": ""}
            await self.components(scope, receive, send)
        elif path == "/api/v1/events":
            await _event_stream(receive, send)
        elif path.startswith("/api/v1/"):
            status, body = self.harness.api.get(path.removeprefix("/api/v1"), (404, None))
            await _json(send, status, body if body is not None else {"title": "Not Found"})
        else:
            await self.admin(scope, receive, send)


async def _json(send: Send, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    kind = b"application/json" if status < 400 else b"application/problem+json"
    headers = [(b"content-type", kind), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _event_stream(receive: Receive, send: Send) -> None:
    """Live events that never come: the stream opens (the admin shows "Live") and stays
    open until the browser leaves."""
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b": open\n\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


@contextmanager
def serve_harness() -> Iterator[Harness]:
    port = free_port()
    harness = Harness(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        _App(harness),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"harness-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the harness server did not start")
            time.sleep(0.02)
        yield harness
    finally:
        server.should_exit = True
        thread.join(timeout=10)
