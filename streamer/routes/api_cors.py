"""CORS for the admin API, for clients on other origins (a separate front end, a tus
uploader embedded in another site): off unless ``api_cors_allow_origins`` lists origins.

Preflights allow the methods and request fields the API and tus 1.0 use; answers expose
the fields a tus client and an optimistic-concurrency editor must read. Credentials are
never allowed (no ``Access-Control-Allow-Credentials``): browsers then send no cookies, so
cross-origin requests authenticate with ``Authorization: Bearer`` keys only, and a listed
origin cannot act with an admin's session cookie.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

__all__ = ["ALLOW_HEADERS", "EXPOSE_HEADERS", "with_api_cors"]

ALLOW_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
    "Last-Event-ID",
    # tus 1.0 (core, creation, checksum, termination)
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Defer-Length",
    "X-HTTP-Method-Override",
)
EXPOSE_HEADERS = (
    "ETag",
    "Location",
    "Retry-After",
    "X-Request-ID",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
)


def with_api_cors(app: ASGIApp, origins: Sequence[str], max_age: int) -> ASGIApp:
    """``app`` answering CORS for ``origins`` (``*``: any), or ``app`` itself if none."""
    if not origins:
        return app
    return CORSMiddleware(
        app,
        allow_origins=list(origins),
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        allow_credentials=False,
        max_age=max_age,
    )
