"""GET /conversions/pixel.gif?campaign=&source=: a conversion recorded from a browser.

The page that converts (a sign-up, a purchase) embeds the pixel; the request's address
and user agent give the listener's hash of the day (never stored raw), the query its
campaign and source codes. The answer is a 1x1 transparent GIF that nobody may cache
(each load is a conversion). Codes longer than 100 characters are a 400 problem.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from streamer.analytics.conversions import record_conversion
from streamer.analytics.listener_data import listener_now
from streamer.db import Database
from streamer.routes.problems import problem_body

__all__ = ["PIXEL", "conversion_pixel"]

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_MAX_CODE = 100


async def conversion_pixel(request: Request) -> Response:
    campaign = request.query_params.get("campaign", "")
    source = request.query_params.get("source", "")
    if len(campaign) > _MAX_CODE or len(source) > _MAX_CODE:
        return Response(
            problem_body(400, f"campaign and source are at most {_MAX_CODE} characters"),
            status_code=400,
            media_type="application/problem+json",
        )
    db: Database = request.app.state.db
    now = datetime.now(UTC)
    host = request.client.host if request.client else None
    listener = await listener_now(db, host, request.headers.get("user-agent", ""), now)
    await record_conversion(
        db, listener=listener, campaign=campaign, source=source, via="pixel", at=now
    )
    return Response(
        PIXEL,
        media_type="image/gif",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
