"""/api/v1/audit (the audit log, filtered, as JSON pages or exported as CSV or JSON
lines) and /api/v1/security (server-wide policy: the roles that must use 2FA). Admins."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select, select

from streamer.auth.access import Role
from streamer.auth.audit import record
from streamer.db import AuditEntry, Database, SecurityPolicy
from streamer.routes.api_common import PROBLEM_RESPONSES, AdminDep, DatabaseDep, actor

__all__ = ["audit_router"]

_EXPORT_BATCH = 500
_COLUMNS = (
    "id", "at", "actor_type", "actor_id", "actor_name", "action", "target_type",
    "target_id", "before", "after", "request_id", "ip",
)  # fmt: skip


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip: str | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: int | None  # pass as ?cursor= for the next (older) page


class PolicyOut(BaseModel):
    require_2fa_roles: list[Role]


def _filtered(
    actor_id: str | None,
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
    request_id: str | None = None,
) -> Select[AuditEntry]:
    query = select(AuditEntry)
    if request_id is not None:
        query = query.where(AuditEntry.request_id == request_id)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action is not None:
        # "user." matches every user action; a full name matches itself.
        if action.endswith("."):
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == action)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    return query


def _row(entry: AuditEntry) -> dict[str, Any]:
    return AuditOut.model_validate(entry, from_attributes=True).model_dump(mode="json")


async def _batches(db: Database, query: Select[AuditEntry]) -> AsyncIterator[list[AuditEntry]]:
    """Everything the query matches, newest first, in bounded batches (keyset paging)."""
    cursor: int | None = None
    while True:
        page = query if cursor is None else query.where(AuditEntry.id < cursor)
        async with db.session() as session:
            rows = list(
                (
                    await session.scalars(page.order_by(AuditEntry.id.desc()).limit(_EXPORT_BATCH))
                ).all()
            )
        if not rows:
            return
        yield rows
        cursor = rows[-1].id


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit",
        response_model=AuditPage,
        responses={
            **PROBLEM_RESPONSES,
            200: {"content": {"text/csv": {}, "application/x-ndjson": {}}},
        },
    )
    async def audit_log(
        db: DatabaseDep,
        _admin: AdminDep,
        actor_id: Annotated[str | None, Query(max_length=32)] = None,
        action: Annotated[
            str | None, Query(max_length=64, description="or a prefix: 'user.'")
        ] = None,
        target_type: Annotated[str | None, Query(max_length=32)] = None,
        target_id: Annotated[str | None, Query(max_length=64)] = None,
        request_id: Annotated[
            str | None,
            Query(max_length=64, description="the changes one request made (X-Request-Id)"),
        ] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        format: Literal["json", "csv", "jsonl"] = "json",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[int | None, Query(ge=1)] = None,
    ) -> Any:
        """Audit entries, newest first, filtered. ``format=csv`` or ``jsonl`` exports
        every match as a download (streamed, no paging)."""
        query = _filtered(actor_id, action, target_type, target_id, since, until, request_id)
        if format == "json":
            page = query if cursor is None else query.where(AuditEntry.id < cursor)
            async with db.session() as session:
                rows = list(
                    (await session.scalars(page.order_by(AuditEntry.id.desc()).limit(limit))).all()
                )
            return AuditPage(
                items=[AuditOut.model_validate(r, from_attributes=True) for r in rows],
                next_cursor=rows[-1].id if len(rows) == limit else None,
            )
        if format == "jsonl":

            async def lines() -> AsyncIterator[bytes]:
                async for rows in _batches(db, query):
                    yield "".join(
                        json.dumps(_row(r), separators=(",", ":")) + "\n" for r in rows
                    ).encode()

            return StreamingResponse(
                lines(),
                media_type="application/x-ndjson",
                headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
            )

        async def csv_rows() -> AsyncIterator[bytes]:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(_COLUMNS)
            async for rows in _batches(db, query):
                for r in rows:
                    values = _row(r)
                    writer.writerow(
                        json.dumps(values[c])
                        if c in ("before", "after") and values[c] is not None
                        else values[c]
                        for c in _COLUMNS
                    )
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
            if out.tell():
                yield out.getvalue().encode()

        return StreamingResponse(
            csv_rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )

    @router.get(
        "/security", response_model=PolicyOut, responses=PROBLEM_RESPONSES, tags=["security"]
    )
    async def get_policy(db: DatabaseDep, _admin: AdminDep) -> PolicyOut:
        """The server-wide security policy."""
        async with db.session() as session:
            row = await session.get(SecurityPolicy, 1)
        return PolicyOut(require_2fa_roles=list(row.require_2fa_roles) if row else [])

    @router.put(
        "/security", response_model=PolicyOut, responses=PROBLEM_RESPONSES, tags=["security"]
    )
    async def put_policy(
        body: PolicyOut, request: Request, db: DatabaseDep, admin: AdminDep
    ) -> PolicyOut:
        """Set the policy. Users of a role that requires 2FA and have none can only
        enrol (POST /auth/totp) until they have."""
        roles: list[str] = sorted(set(body.require_2fa_roles))
        async with db.session() as session, session.begin():
            row = await session.get(SecurityPolicy, 1, with_for_update=True)
            before = {"require_2fa_roles": list(row.require_2fa_roles) if row else []}
            if row is None:
                row = SecurityPolicy(id=1, require_2fa_roles=roles)
                session.add(row)
            else:
                row.require_2fa_roles = roles
            record(session, actor(request, admin), "security.update", "security", "1",
                   before=before, after={"require_2fa_roles": roles})  # fmt: skip
        return PolicyOut.model_validate({"require_2fa_roles": roles})

    return router
