"""CORS for the media and HLS routes: the fields of each response, and the preflight.

Players on other origins (hls.js, MediaSource, Resource Timing) read the range and
validator fields, so those are exposed; Timing-Allow-Origin lets them measure downloads.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.types import Send

__all__ = ["ALLOW", "ALLOWED_REQUEST_HEADERS", "EXPOSE", "Cors", "CorsPolicy"]

ALLOW = b"GET, HEAD, OPTIONS"
EXPOSE = (
    b"Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified, X-Request-ID, Cache-Status"
)
ALLOWED_REQUEST_HEADERS = (
    "range, if-range, if-match, if-none-match, if-modified-since, if-unmodified-since, x-request-id"
)

# Fields added to a response (CORS, and the purge keys and Cache-Status that ride along).
Cors = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """The origins allowed to read media (``*`` for any) and how long a preflight holds."""

    allow_origins: tuple[str, ...]
    max_age: bytes

    def headers(self, origin: str | None) -> Cors:
        """The CORS fields of a response to a request from ``origin``, with
        Timing-Allow-Origin so players can measure their downloads (Resource Timing)."""
        allowed = self.allow_origins
        if "*" in allowed:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", EXPOSE),
                (b"timing-allow-origin", b"*"),
            ]
        vary = (b"vary", b"Origin")
        if origin is not None and origin in allowed:
            named = origin.encode("latin-1")
            return [
                (b"access-control-allow-origin", named),
                (b"access-control-expose-headers", EXPOSE),
                (b"timing-allow-origin", named),
                vary,
            ]
        return [vary]

    async def preflight(self, send: Send, headers: dict[str, str], cors: Cors) -> None:
        """Answer OPTIONS, a CORS preflight included."""
        response = [(b"allow", ALLOW), *cors]
        if "access-control-request-method" in headers and any(
            name == b"access-control-allow-origin" for name, _ in cors
        ):
            response += [
                (b"access-control-allow-methods", ALLOW),
                (b"access-control-allow-headers", ALLOWED_REQUEST_HEADERS.encode()),
                (b"access-control-max-age", self.max_age),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": response})
        await send({"type": "http.response.body", "body": b""})
