"""/api/v1/analytics/conversions (server-to-server postbacks) and
/api/v1/analytics/listeners (a listener's data deleted on request).

A postback names the listener by the address and user agent their player used, as the
advertiser's server saw them; the conversion is stored under that listener's hash of the
day, never the address (streamer/analytics/listener_data.py). Editors and admins post
conversions; only admins delete a listener's data, and the deletion is audited without
the address.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, field_validator

from streamer.analytics.conversions import record_conversion
from streamer.analytics.listener_data import forget_listener, listener_now
from streamer.analytics.listeners import NotAnAddress
from streamer.auth.audit import write as audit_write
from streamer.routes.api_common import PROBLEM_RESPONSES, AdminDep, DatabaseDep, PrincipalDep, actor

__all__ = ["ConversionIn", "conversions_router"]

Code = Annotated[str, Field(max_length=100)]


class _Listener(BaseModel):
    ip: Annotated[str, Field(max_length=45)]
    user_agent: Annotated[str, Field(max_length=1000)]

    @field_validator("ip")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError as exc:
            raise ValueError("not an IP address") from exc


class ConversionIn(_Listener):
    campaign: Code = ""
    source: Code = ""
    value: Annotated[float | None, Field(ge=0, le=1e12)] = None
    at: datetime | None = None  # default: now


class ConversionOut(BaseModel):
    id: int
    at: datetime
    campaign: str
    source: str


class ListenerIn(_Listener):
    pass


class ForgottenOut(BaseModel):
    events_deleted: int
    conversions_deleted: int
    # The UTC days whose events could still be linked to the listener (salts are kept a
    # day after each day; older events cannot be linked to anyone). Rollups hold no
    # per-listener data.
    days: list[str]


def conversions_router() -> APIRouter:
    router = APIRouter(prefix="/analytics", tags=["analytics"])

    @router.post(
        "/conversions", response_model=ConversionOut, status_code=201, responses=PROBLEM_RESPONSES
    )
    async def post_conversion(
        body: ConversionIn, db: DatabaseDep, principal: PrincipalDep
    ) -> ConversionOut:
        """Record a conversion of the listener at ``ip`` with ``user_agent``."""
        if not principal.can_write:
            raise HTTPException(403, "viewers may not record conversions")
        now = datetime.now(UTC)
        at = body.at or now
        try:
            at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
        except OverflowError:
            raise HTTPException(422, "at is out of range") from None
        listener = await listener_now(db, body.ip, body.user_agent, now)
        row_id = await record_conversion(
            db,
            listener=listener,
            campaign=body.campaign,
            source=body.source,
            via="postback",
            at=at,
            value=body.value,
        )
        return ConversionOut(id=row_id, at=at, campaign=body.campaign, source=body.source)

    @router.delete("/listeners", response_model=ForgottenOut, responses=PROBLEM_RESPONSES)
    async def delete_listener(
        body: ListenerIn, request: Request, db: DatabaseDep, principal: AdminDep
    ) -> ForgottenOut:
        """Delete the raw delivery events and conversions of one listener (GDPR erasure)."""
        try:
            done = await forget_listener(db, body.ip, body.user_agent)
        except NotAnAddress as exc:
            raise HTTPException(422, str(exc)) from None
        await audit_write(
            db,
            actor(request, principal),
            "analytics.listener.delete",
            "listener",
            None,
            after={"events": done.events, "conversions": done.conversions},
        )
        return ForgottenOut(
            events_deleted=done.events, conversions_deleted=done.conversions, days=done.days
        )

    return router
