"""Scheduled reports: definitions, the runs the periodic task generates, their webhooks.

A due schedule is claimed by moving its ``next_run_at`` forward with a compare-and-set
(``WHERE next_run_at = <the value read>``), so one node runs each occurrence. The run's
report is computed as the schedule's owner saw things when saving it (the libraries
stored with it), stored in ``analytics_report_runs`` and, with a webhook, POSTed as JSON
within ``webhook_timeout``; the webhook's status or error is stored with the run. A
failure that may pass (no answer, 408, 425, 429, a 5xx) is tried again later, five more
times over about nine hours (streamer.analytics.webhook_policy): ``retry_webhooks`` claims
a due retry with a compare-and-set that also leases it (a node that dies mid-POST leaves it
to another after the lease), so each retry is sent by one node. The run is kept either way
and can be fetched from the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from streamer.analytics.periods import load_zone
from streamer.analytics.report_model import ReportQuery
from streamer.analytics.reports import report
from streamer.analytics.schedule_times import Cadence, covered, next_run
from streamer.analytics.webhook_policy import next_attempt
from streamer.db import Database, ReportRun, ScheduledReport

__all__ = [
    "RUN_DELAY",
    "ScheduleSpec",
    "create",
    "delete",
    "get",
    "list_for",
    "list_runs",
    "query_of",
    "retry_webhooks",
    "run_due",
    "run_schedule",
    "update_schedule",
]

RUN_DELAY = timedelta(minutes=15)
logger = logging.getLogger("streamer.analytics.schedules")
_USER_AGENT = "streamer-scheduled-reports/1"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    query: dict[str, Any]  # metric, interval, group_by, filters, limit, compare, moving_average
    cadence: Cadence
    timezone: str
    webhook_url: str | None


def query_of(stored: dict[str, Any], start: datetime, end: datetime, tz: str) -> ReportQuery:
    return ReportQuery(
        metric=stored["metric"],
        start=start,
        end=end,
        interval=stored.get("interval", "day"),
        tz=tz,
        group_by=stored.get("group_by", "none"),
        filters=dict(stored.get("filters") or {}),
        limit=int(stored.get("limit", 10)),
        compare=bool(stored.get("compare", False)),
        moving_average=int(stored.get("moving_average", 0)),
    )


async def list_for(db: Database, owner_id: str | None) -> list[ScheduledReport]:
    """The owner's schedules (None: everyone's, for admins)."""
    async with db.session() as session:
        query = select(ScheduledReport).order_by(ScheduledReport.name, ScheduledReport.id)
        if owner_id is not None:
            query = query.where(ScheduledReport.owner_id == owner_id)
        return list(await session.scalars(query))


async def get(db: Database, owner_id: str | None, schedule_id: str) -> ScheduledReport | None:
    async with db.session() as session:
        row = await session.get(ScheduledReport, schedule_id)
    if row is None or (owner_id is not None and row.owner_id != owner_id):
        return None
    return row


async def create(
    db: Database,
    owner_id: str,
    owner_name: str,
    libraries: list[str] | None,
    spec: ScheduleSpec,
    now: datetime,
) -> ScheduledReport:
    await load_zone(spec.timezone)
    row = ScheduledReport(
        id=secrets.token_hex(8),
        owner_id=owner_id,
        owner_name=owner_name,
        libraries=libraries,
        name=spec.name,
        query=spec.query,
        cadence=spec.cadence,
        timezone=spec.timezone,
        webhook_url=spec.webhook_url,
        next_run_at=next_run(now, spec.cadence, spec.timezone, RUN_DELAY),
    )
    async with db.session() as session, session.begin():
        session.add(row)
    return row


async def update_schedule(
    db: Database, owner_id: str | None, schedule_id: str, spec: ScheduleSpec, now: datetime
) -> ScheduledReport | None:
    await load_zone(spec.timezone)
    async with db.session() as session, session.begin():
        row = await session.get(ScheduledReport, schedule_id, with_for_update=True)
        if row is None or (owner_id is not None and row.owner_id != owner_id):
            return None
        if (row.cadence, row.timezone) != (spec.cadence, spec.timezone):
            row.next_run_at = next_run(now, spec.cadence, spec.timezone, RUN_DELAY)
        row.name, row.query, row.cadence = spec.name, spec.query, spec.cadence
        row.timezone, row.webhook_url = spec.timezone, spec.webhook_url
    return row


async def delete(db: Database, owner_id: str | None, schedule_id: str) -> bool:
    async with db.session() as session, session.begin():
        row = await session.get(ScheduledReport, schedule_id)
        if row is None or (owner_id is not None and row.owner_id != owner_id):
            return False
        await session.delete(row)
    return True


async def list_runs(db: Database, schedule_id: str, limit: int = 50) -> list[ReportRun]:
    async with db.session() as session:
        rows = await session.scalars(
            select(ReportRun)
            .where(ReportRun.schedule_id == schedule_id)
            .order_by(ReportRun.id.desc())
            .limit(limit)
        )
        return list(rows)


async def run_due(
    db: Database, now: datetime, *, webhook_timeout: float = 10.0, limit: int = 20
) -> list[ReportRun]:
    """Run every schedule due at ``now`` that this node claims; the runs made."""
    async with db.session() as session:
        due = list(
            await session.scalars(
                select(ScheduledReport)
                .where(ScheduledReport.next_run_at <= now)
                .order_by(ScheduledReport.next_run_at)
                .limit(limit)
            )
        )
    runs = []
    for schedule in due:
        due_at = schedule.next_run_at
        await load_zone(schedule.timezone)
        following = next_run(max(now, due_at), schedule.cadence, schedule.timezone, RUN_DELAY)  # type: ignore[arg-type]
        async with db.session() as session, session.begin():
            claimed = await session.execute(
                update(ScheduledReport)
                .where(ScheduledReport.id == schedule.id, ScheduledReport.next_run_at == due_at)
                .values(next_run_at=following, last_run_at=now)
            )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue  # another node took this occurrence
        runs.append(
            await run_schedule(db, schedule, due_at, webhook_timeout=webhook_timeout, now=now)
        )
    return runs


async def run_schedule(
    db: Database,
    schedule: ScheduledReport,
    due_at: datetime,
    *,
    webhook_timeout: float = 10.0,
    now: datetime | None = None,
) -> ReportRun:
    """Generate, store and (with a webhook) send the report of the occurrence due at
    ``due_at``; a retry of the webhook is timed from ``now`` (the clock's by default)."""
    await load_zone(schedule.timezone)
    start, end = covered(due_at.astimezone(UTC), schedule.cadence, schedule.timezone, RUN_DELAY)  # type: ignore[arg-type]
    query = query_of(schedule.query, start, end, schedule.timezone)
    result = await report(db, query, schedule.libraries)
    run = ReportRun(schedule_id=schedule.id, period_from=start, period_to=end, result=result)
    async with db.session() as session, session.begin():
        session.add(run)
    if schedule.webhook_url:
        sent_at = now or datetime.now(UTC)
        await _deliver(db, schedule, run, schedule.webhook_url, sent_at, seconds=webhook_timeout)
    return run


def _payload(schedule: ScheduledReport, run: ReportRun) -> dict[str, Any]:
    return {
        "schedule": {"id": schedule.id, "name": schedule.name},
        "run": run.id,
        "from": run.period_from.isoformat(),
        "to": run.period_to.isoformat(),
        "report": run.result,
    }


async def _deliver(
    db: Database,
    schedule: ScheduledReport,
    run: ReportRun,
    url: str,
    now: datetime,
    *,
    seconds: float,
) -> None:
    """POST the run to ``url`` once and store the outcome, with when to try again."""
    status, error, retry_after = await post_webhook(url, _payload(schedule, run), seconds=seconds)
    attempts = run.webhook_attempts + 1
    following = next_attempt(attempts, status, now, retry_after) if error else None
    async with db.session() as session, session.begin():
        await session.execute(
            update(ReportRun)
            .where(ReportRun.id == run.id)
            .values(
                webhook_status=status,
                webhook_error=error,
                webhook_attempts=attempts,
                webhook_next_at=following,
            )
        )
    run.webhook_status, run.webhook_error = status, error
    run.webhook_attempts, run.webhook_next_at = attempts, following


async def retry_webhooks(
    db: Database, now: datetime, *, webhook_timeout: float = 10.0, limit: int = 20
) -> list[ReportRun]:
    """Try again the webhooks whose retry is due at ``now`` and that this node claims;
    the runs tried."""
    async with db.session() as session:
        due = (
            await session.execute(
                select(ReportRun, ScheduledReport)
                .join(ScheduledReport, ReportRun.schedule_id == ScheduledReport.id)
                .where(ReportRun.webhook_next_at <= now)
                .order_by(ReportRun.webhook_next_at)
                .limit(limit)
            )
        ).all()
    # Another node may take a retry over once this lease has run out (this one died).
    lease = now + timedelta(seconds=2 * webhook_timeout + 60)
    tried = []
    for run, schedule in due:
        async with db.session() as session, session.begin():
            claimed = await session.execute(
                update(ReportRun)
                .where(
                    ReportRun.id == run.id,
                    ReportRun.webhook_attempts == run.webhook_attempts,
                    ReportRun.webhook_next_at == run.webhook_next_at,
                )
                .values(webhook_next_at=lease if schedule.webhook_url else None)
            )
        if not claimed.rowcount or not schedule.webhook_url:  # type: ignore[attr-defined]
            continue  # another node's, or the webhook was removed since
        await _deliver(db, schedule, run, schedule.webhook_url, now, seconds=webhook_timeout)
        tried.append(run)
    return tried


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a 3xx is the webhook's answer, not somewhere else to post to


def _post(url: str, body: bytes, seconds: float) -> tuple[int, float | None]:
    """The status and the Retry-After (seconds; the date form is not read) of a POST."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=seconds) as response:
            status: int = response.status
            return status, None
    except urllib.error.HTTPError as exc:
        wait = (exc.headers.get("Retry-After") or "").strip() if exc.headers else ""
        return exc.code, float(wait) if wait.isdigit() else None


async def post_webhook(
    url: str, payload: dict[str, Any], *, seconds: float
) -> tuple[int | None, str | None, float | None]:
    """POST ``payload`` as JSON (in a thread: the standard library's client blocks),
    within ``seconds``; (status, None, None) on a 2xx, (status or None, why, the
    receiver's Retry-After) otherwise."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    try:
        status, retry_after = await asyncio.wait_for(
            asyncio.to_thread(_post, url, body, seconds), seconds + 1
        )
    except (OSError, TimeoutError, ValueError) as exc:
        logger.warning("webhook of a scheduled report failed: %s", exc)
        return None, f"{type(exc).__name__}: {exc}"[:1000], None
    if 200 <= status < 300:
        return status, None, None
    return status, f"HTTP {status}", retry_after
