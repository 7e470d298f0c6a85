"""Figures read at scrape time: dependencies, job queue, uploads, catalogue, disks, keys.

The request counters (streamer.metrics) are counted as requests pass. These are states,
read when /metrics is asked: whether the database, each library's storage and Redis
answer, the job queue by kind and status with the age of its oldest due job, uploads and
tracks by status, free space where the server writes, and the next API key expiry.
Jobs and uploads come from the database, so they cover every runner (the embedded one
and ``streamer worker`` processes on other machines, which expose no endpoint); every
node reports the same figures (dashboards and alerts take ``max`` over instances).

A snapshot is read at most every ``max_age`` seconds per worker (a scrape every few
seconds from several Prometheus servers costs a handful of small queries), each part
bounded in time; what cannot be read is left out of the answer and the dependency check
says why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from streamer.analytics.realtime_share import Realtime
from streamer.cache.redis_tier import RedisTier
from streamer.db import Database
from streamer.db.models import ApiKey, Channel, Job, Track, Upload
from streamer.dependencies import Check, check_database, check_redis, check_storage
from streamer.storage.registry import StoreRegistry
from streamer.uploads.service import UploadStatus

__all__ = ["StateProbe", "StateSnapshot", "state_families"]

logger = logging.getLogger("streamer.metrics")

# Every status is reported, 0 when no row has it: an absent series and a zero differ in
# PromQL (rates, ratios and alerts over a status nobody has reached yet would see nothing).
JOB_KINDS = ("transcode",)
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
UPLOAD_STATUSES: tuple[str, ...] = get_args(UploadStatus)
TRACK_STATUSES = ("ok", "error")


@dataclass
class StateSnapshot:
    checks: list[Check] = field(default_factory=list)
    # Whether the database figures below were read (all of them): else they are left out
    # of the answer rather than shown as zeros.
    database_read: bool = False
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) -> n
    oldest_due_job_seconds: float | None = None  # None: nothing is waiting
    uploads: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, int] = field(default_factory=dict)
    channels: int | None = None
    next_key_expiry: float | None = None  # Unix seconds of the first active key to expire
    disks: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (free, size)
    listeners_now: int | None = None
    listeners_scope: str = "node"
    # pid -> (role, resident bytes, CPU seconds): the supervisor and its workers
    processes: dict[int, tuple[str, int, float]] = field(default_factory=dict)


def state_families(snap: StateSnapshot) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """The snapshot as Prometheus gauge families (pure)."""
    up = GaugeMetricFamily(
        "streamer_dependency_up",
        "1 when the dependency answered its last check, else 0.",
        labels=["dependency", "target"],
    )
    seconds = GaugeMetricFamily(
        "streamer_dependency_check_seconds",
        "How long the last check of the dependency took.",
        labels=["dependency", "target"],
    )
    for check in snap.checks:
        up.add_metric([check.dependency, check.target], 1.0 if check.ok else 0.0)
        seconds.add_metric([check.dependency, check.target], check.seconds)
    yield up
    yield seconds
    if snap.database_read:
        jobs = GaugeMetricFamily(
            "streamer_jobs", "Background jobs by kind and status.", labels=["kind", "status"]
        )
        kinds = sorted({*JOB_KINDS, *(kind for kind, _ in snap.jobs)})
        for kind in kinds:
            for status in sorted({*JOB_STATUSES, *(s for k, s in snap.jobs if k == kind)}):
                jobs.add_metric([kind, status], snap.jobs.get((kind, status), 0))
        yield jobs
        yield GaugeMetricFamily(
            "streamer_jobs_oldest_due_seconds",
            "Age of the oldest queued job that is due to run (0 when none waits).",
            value=snap.oldest_due_job_seconds or 0.0,
        )
        yield _by_status(
            "streamer_uploads", "tus uploads by status.", snap.uploads, UPLOAD_STATUSES
        )
        yield _by_status(
            "streamer_tracks", "Catalogued tracks by status.", snap.tracks, TRACK_STATUSES
        )
    if snap.channels is not None:
        yield GaugeMetricFamily("streamer_channels", "Radio channels.", value=snap.channels)
    if snap.next_key_expiry is not None:
        yield GaugeMetricFamily(
            "streamer_api_key_next_expiry_timestamp_seconds",
            "When the first active API key with an expiry expires (Unix seconds).",
            value=snap.next_key_expiry,
        )
    if snap.disks:
        free = GaugeMetricFamily(
            "streamer_disk_free_bytes",
            "Free bytes on the file system of a folder the server writes or reads.",
            labels=["path"],
        )
        size = GaugeMetricFamily(
            "streamer_disk_size_bytes", "Size of that file system.", labels=["path"]
        )
        for path, (free_bytes, size_bytes) in sorted(snap.disks.items()):
            free.add_metric([path], free_bytes)
            size.add_metric([path], size_bytes)
        yield free
        yield size
    if snap.processes:
        memory = GaugeMetricFamily(
            "streamer_process_resident_memory_bytes",
            "Resident memory of the node's processes: the supervisor and each worker.",
            labels=["role", "pid"],
        )
        cpu = CounterMetricFamily(
            "streamer_process_cpu_seconds",
            "CPU time (user and system) of the node's processes.",
            labels=["role", "pid"],
        )
        for pid, (role, resident, used) in sorted(snap.processes.items()):
            memory.add_metric([role, str(pid)], resident)
            cpu.add_metric([role, str(pid)], used)
        yield memory
        yield cpu
    if snap.listeners_now is not None:
        listeners = GaugeMetricFamily(
            "streamer_listeners_now",
            "Distinct listeners seen in the last minute (scope: this node, or the cluster "
            "through Redis).",
            labels=["scope"],
        )
        listeners.add_metric([snap.listeners_scope], snap.listeners_now)
        yield listeners


def _by_status(
    name: str, doc: str, counts: dict[str, int], known: Iterable[str]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["status"])
    for status in sorted({*known, *counts}):
        family.add_metric([status], counts.get(status, 0))
    return family


class _Snapshotted(Collector):
    def __init__(self, snap: StateSnapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        return state_families(self.snap)


class StateProbe:
    """Reads :class:`StateSnapshot` at most every ``max_age`` seconds (one read at a time)."""

    def __init__(
        self,
        db: Database,
        stores: StoreRegistry,
        *,
        data_dir: Path,
        redis: RedisTier | None,
        realtime: Realtime | None,
        max_age: float = 5.0,
    ) -> None:
        self.db = db
        self.stores = stores
        self.data_dir = data_dir
        self.redis = redis
        self.realtime = realtime
        self.max_age = max_age
        self._snap: StateSnapshot | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def exposition(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshotted(await self.snapshot()))
        return generate_latest(registry)

    async def snapshot(self) -> StateSnapshot:
        async with self._lock:
            if self._snap is None or time.monotonic() - self._read_at >= self.max_age:
                self._snap = await self._read()
                self._read_at = time.monotonic()
            return self._snap

    async def _read(self) -> StateSnapshot:
        snap = StateSnapshot()
        database = await check_database(self.db)
        snap.checks.append(database)
        storage = await check_storage(self.db, self.stores)
        snap.checks.extend(storage)
        if self.redis is not None:
            snap.checks.append(await check_redis(self.redis))
        if database.ok:
            try:
                async with asyncio.timeout(3.0):
                    await self._read_database(snap)
            except Exception:  # the figures are left out; the next scrape tries again
                logger.warning("could not read the state figures", exc_info=True)
        local = [self.data_dir, *(Path(c.target) for c in storage if "://" not in c.target)]
        snap.disks = await asyncio.to_thread(_disk_usage, local)
        snap.processes = await asyncio.to_thread(node_processes)
        if self.realtime is not None:
            try:
                found, scope = await self.realtime.snapshot()
                snap.listeners_now, snap.listeners_scope = found.listeners_now, scope
            except Exception:  # Redis away: the realtime figures say nothing this time
                logger.warning("could not read the listeners now", exc_info=True)
        return snap

    async def _read_database(self, snap: StateSnapshot) -> None:
        now = datetime.now(UTC)
        async with self.db.session() as session:
            rows = await session.execute(
                select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
            )
            snap.jobs = {(str(k), str(s)): int(n) for k, s, n in rows.tuples()}
            oldest = await session.scalar(
                select(func.min(Job.run_after)).where(Job.status == "queued", Job.run_after <= now)
            )
            if oldest is not None:
                snap.oldest_due_job_seconds = max(0.0, (now - oldest).total_seconds())
            for column, into in ((Upload.status, snap.uploads), (Track.status, snap.tracks)):
                counted = await session.execute(select(column, func.count()).group_by(column))
                into.update({str(status): int(n) for status, n in counted.tuples()})
            snap.channels = await session.scalar(select(func.count()).select_from(Channel))
            expiry = await session.scalar(
                select(func.min(ApiKey.expires_at)).where(
                    ApiKey.revoked_at.is_(None),
                    ApiKey.expires_at.is_not(None),
                    ApiKey.expires_at > now,
                )
            )
            if expiry is not None:
                snap.next_key_expiry = expiry.timestamp()
        snap.database_read = True


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def node_processes(proc: Path = Path("/proc")) -> dict[int, tuple[str, int, float]]:
    """This worker's supervisor and every worker under it, from /proc (Linux; empty
    elsewhere, or when run without a supervisor): prometheus-client's multiprocess mode
    exposes no process metrics, and memory per worker is what a leak shows in."""
    supervisor = os.getppid()
    found: dict[int, tuple[str, int, float]] = {}
    children: list[int] = []
    try:
        for task in (proc / str(supervisor) / "task").iterdir():
            children += [int(pid) for pid in (task / "children").read_text().split()]
    except OSError:
        return {}
    for pid, role in [(supervisor, "supervisor"), *((child, "worker") for child in children)]:
        try:
            fields = (proc / str(pid) / "stat").read_text().rpartition(")")[2].split()
            resident = int((proc / str(pid) / "statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue  # a worker that just ended
        # After the name: state is field 3, utime 14 and stime 15 (proc(5)), so 11 and 12.
        found[pid] = (role, resident, (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def _disk_usage(paths: Iterable[Path]) -> dict[str, tuple[int, int]]:
    usage: dict[str, tuple[int, int]] = {}
    for path in paths:
        try:
            found = shutil.disk_usage(path)
        except OSError:  # a folder not made yet, or a mount that went away
            continue
        usage[os.fspath(path)] = (found.free, found.total)
    return usage
