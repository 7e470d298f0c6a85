"""A bound on request bodies the API reads whole (JSON), as nginx's client_max_body_size.

The API parses a JSON body in memory: without a bound, one request could make a worker
hold any amount. A declared ``Content-Length`` over the bound is refused before a byte is
read; a chunked body is counted as it arrives and refused once it passes the bound. Either
way the answer is a 413 problem from the API's own handler. tus uploads stream to staging
in pieces and have their own limit (``upload_max_bytes``), so their paths are exempt.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException

from streamer.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, *, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt  # path prefixes, below the mount point

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if scope["type"] != "http" or path.startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self.app(scope, _refusing(limit), send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the body is over {limit} bytes (api_max_body_bytes)")


def _refusing(limit: int) -> Receive:
    async def refuse() -> Message:
        raise _too_large(limit)

    return refuse
