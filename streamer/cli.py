"""`streamer serve | scan | transcode | worker | migrate | backup | restore | cleanup |
reindex | demo`: the command line.

Settings come from STREAMER_* variables, an optional TOML file (--config) and the flags,
in rising precedence. A bad setting is reported in one clear message and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib
import json
import logging
import os
import resource
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from streamer import cli_accounts, cli_demo, cli_logs, cli_maintenance
from streamer.analytics import command as analytics_command
from streamer.analytics.spool import Ingester, SpoolIngest
from streamer.catalogue.scan import ScanProgress, ScanReport, ensure_library, scan_library
from streamer.catalogue.scan_events import scan_done_event, scan_progress_event
from streamer.catalogue.scan_tasks import ScanTasks
from streamer.catalogue.watch import LibraryWatcher
from streamer.db import Database, migrate
from streamer.error_groups import ErrorGroupHandler, ErrorGroups
from streamer.error_tracking import start_error_tracking
from streamer.errors import CatalogueError, SettingsError, StorageError
from streamer.events.publish import EventPublisher, Outgoing, scan_event
from streamer.ffmpeg_check import UnsupportedFfmpeg, find_ffmpeg, log_ffmpeg
from streamer.jobs import RunnerConfig, queue_transcodes
from streamer.jobs.watch import TranscodeOutcome, watch_jobs
from streamer.logs import configure_logging
from streamer.request_limits import connections_allowed, descriptors_needed
from streamer.settings import Settings
from streamer.storage.factory import open_store
from streamer.storage.registry import StoreRegistry

# Nothing imported here may import prometheus_client: `serve` must set
# PROMETHEUS_MULTIPROC_DIR before the metrics module is first imported.

if TYPE_CHECKING:  # the runner brings taskiq: imported where jobs run, never in workers
    from streamer.jobs.runner import JobRunner


async def _import_runner() -> None:
    """Import the job runner (and taskiq) in a thread: a first import reads many files,
    which must not stall the event loop. The ``from`` imports after it find it loaded."""
    await asyncio.to_thread(importlib.import_module, "streamer.jobs.runner")


logger = logging.getLogger("streamer.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":  # it only makes files: no settings, no database
        return cli_demo.demo_command(args)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 2
    handler = {
        "serve": serve,
        "scan": scan,
        "transcode": transcode_command,
        "worker": worker_command,
        "migrate": migrate_command,
        **cli_accounts.COMMANDS,
        **cli_maintenance.COMMANDS,
        **cli_logs.COMMANDS,
        "analytics": _analytics,
    }[args.command]
    try:
        return handler(settings, args)
    except (CatalogueError, StorageError) as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamer", description="An origin server for audio.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML settings file (or STREAMER_CONFIG)")
    common.add_argument("--data-dir", type=Path, help="where the database and state live")
    common.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the data dir)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve_p = sub.add_parser("serve", parents=[common], help="serve libraries over HTTP")
    serve_p.add_argument(
        "--library",
        action="append",
        metavar="PATH",
        help="folder or s3://bucket/prefix (repeatable)",
    )
    serve_p.add_argument(
        "--demo", action="store_true", help="serve a generated demo library if none is given"
    )
    serve_p.add_argument("--host")
    serve_p.add_argument("--port", type=int)
    serve_p.add_argument("--workers", type=int, help="worker processes (default: CPU count)")
    serve_p.add_argument(
        "--no-scan", action="store_true", help="do not scan the libraries at start-up"
    )

    scan_p = sub.add_parser("scan", parents=[common], help="catalogue libraries and exit")
    scan_p.add_argument("paths", nargs="+", metavar="PATH", help="folder or s3://bucket/prefix")
    scan_p.add_argument("--no-progress", action="store_true", help="no progress bar")
    scan_p.add_argument(
        "--wait",
        action="store_true",
        help="then transcode what needs it, here, with a progress bar per job",
    )

    transcode_p = sub.add_parser(
        "transcode", parents=[common], help="transcode catalogued tracks into the HLS ladder"
    )
    transcode_p.add_argument("paths", nargs="*", metavar="PATH", help="only these libraries")
    transcode_p.add_argument("--track", action="append", metavar="ID", help="only these tracks")
    transcode_p.add_argument("--force", action="store_true", help="even if already transcoded")
    transcode_p.add_argument("--no-progress", action="store_true", help="no progress bar")

    worker_p = sub.add_parser(
        "worker", parents=[common], help="run queued jobs (transcodes) until stopped"
    )
    worker_p.add_argument("--concurrency", type=int, help="jobs at once (default: CPU count)")

    sub.add_parser("migrate", parents=[common], help="upgrade the database schema")
    cli_accounts.add_parsers(sub, common)
    cli_maintenance.add_parsers(sub, common)
    cli_logs.add_parser(sub, common)
    cli_demo.add_parser(sub)
    analytics_command.add_parser(sub, common)
    return parser


def _analytics(settings: Settings, args: argparse.Namespace) -> int:
    from streamer.analytics.iab_counter import load_counter  # the OPAWG lists: on demand

    return analytics_command.analytics_command(settings, args, load_counter)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": args.data_dir,
        "database_url": args.database_url,
    }
    if args.command == "worker" and args.concurrency:
        overrides["job_concurrency"] = args.concurrency
    if args.command == "serve":
        overrides.update(host=args.host, port=args.port, workers=args.workers)
        if args.library:
            overrides["libraries"] = [normalise_root(p) for p in args.library]
        if args.no_scan:
            overrides["scan_on_start"] = False
    return Settings.load(os.environ, args.config, **overrides)


def normalise_root(path: str) -> str:
    """Libraries are keyed by root: absolute real paths for folders, URLs as given."""
    if path.startswith("s3://"):
        return path.rstrip("/")
    return os.path.realpath(os.path.expanduser(path))


def migrate_command(settings: Settings, _args: argparse.Namespace) -> int:
    migrate(settings.effective_database_url)
    print("database is up to date", file=sys.stderr)
    return 0


def transcode_command(settings: Settings, args: argparse.Namespace) -> int:
    """Queue transcode jobs and run them here until they end; a bad file is reported and
    the others go on."""
    if not _check_ffmpeg(settings):
        return 2
    migrate(settings.effective_database_url)
    roots = [normalise_root(p) for p in args.paths]
    outcome = asyncio.run(
        run_transcodes(
            settings,
            roots=roots,
            track_ids=args.track or [],
            force=args.force,
            progress=not args.no_progress,
        )
    )
    return _report_transcodes(outcome)


def _report_transcodes(outcome: TranscodeOutcome) -> int:
    print(f"{outcome.succeeded} transcoded, {len(outcome.failed)} failed")
    for key, reason in outcome.failed:
        print(f"  failed: {key}: {reason}")
    return 0 if not outcome.failed else 1


async def run_transcodes(
    settings: Settings,
    *,
    roots: Sequence[str] = (),
    track_ids: Sequence[str] = (),
    force: bool = False,
    progress: bool = False,
) -> TranscodeOutcome:
    """Queue a job for every servable track (of ``roots`` / ``track_ids`` when given) whose
    current content has no renditions of the configured ladder, run the jobs in this
    process, and wait for them to end, with a progress bar per running job."""
    await _import_runner()
    from streamer.jobs.runner import JobRunner, make_warmer

    db = Database(settings.effective_database_url)
    stores = StoreRegistry(settings)
    # This process runs its own jobs only: other runners may share the database.
    runner = JobRunner(
        db,
        stores.get,
        RunnerConfig.from_settings(settings),
        recover_all=False,
        warmer=make_warmer(settings),
        events=EventPublisher(db, redis_url=settings.redis_url),
    )
    try:
        jobs = await runner.enqueue(roots=roots, track_ids=track_ids, force=force)
        await runner.start()
        return await watch_jobs(db, [job.id for job in jobs], progress=progress)
    finally:
        await runner.stop()
        await stores.close()
        await db.dispose()


def worker_command(settings: Settings, _args: argparse.Namespace) -> int:
    """Run jobs until SIGTERM or SIGINT; running jobs are then interrupted (ffmpeg killed)
    and queued again for another worker."""
    configure_logging(settings.log_level)
    start_error_tracking(settings, process="worker")
    if not _check_ffmpeg(settings):
        return 2
    migrate(settings.effective_database_url)
    asyncio.run(run_worker(settings))
    return 0


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await _import_runner()
    from streamer.jobs.runner import runner_for

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    db = Database(settings.effective_database_url)
    stores = StoreRegistry(settings)
    # Other workers may share the database: only stale "running" rows are taken over.
    runner = runner_for(db, stores.get, settings, recover_all=False)
    await runner.start()
    logger.info(
        "worker running",
        extra={"broker": settings.job_broker, "concurrency": settings.job_concurrency},
    )
    try:
        await stop.wait()
    finally:
        logger.info("worker stopping")
        await runner.stop()
        await stores.close()
        await db.dispose()


def scan(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.effective_database_url)
    roots = [normalise_root(p) for p in args.paths]
    reports = asyncio.run(scan_roots(settings, roots, progress=not args.no_progress, live=True))
    for root, report in zip(roots, reports, strict=True):
        print(
            f"{root}: {report.total} files, {report.added} added, {report.changed} changed, "
            f"{report.unchanged} unchanged, {report.gone} gone, {report.failed} failed "
            f"in {report.seconds:.1f} s"
        )
        for key, reason in report.errors[:20]:
            print(f"  failed: {key}: {reason}")
    if not args.wait:
        return 0
    outcome = asyncio.run(run_transcodes(settings, roots=roots, progress=not args.no_progress))
    return _report_transcodes(outcome)


async def scan_roots(
    settings: Settings, roots: Sequence[str], *, progress: bool, live: bool = False
) -> list[ScanReport]:
    """Scan ``roots`` one after another; with ``live``, publish scan and track events as
    a scan started through the API does (the start-up scan of `serve`)."""
    db = Database(settings.effective_database_url)
    events = EventPublisher(db, redis_url=settings.redis_url) if live else None
    reports = []
    try:
        for root in roots:
            store = open_store(root, settings)
            await store.open()
            bar = tqdm(
                desc=root, unit="file", disable=not progress, file=sys.stderr, dynamic_ncols=True
            )

            live_events = _LiveScan(events, asyncio.get_running_loop())

            def show(p: ScanProgress, bar: Any = bar, live_events: _LiveScan = live_events) -> None:
                if p.total is not None and bar.total != p.total:
                    bar.total = p.total
                bar.n = p.done
                bar.refresh()
                live_events.progress(p)

            try:
                library = await ensure_library(db, root)
                live_events.library_id = library.id
                await live_events.publish(scan_event(library.id, "running"))
                try:
                    report = await scan_library(
                        db,
                        store,
                        library,
                        concurrency=settings.scan_concurrency,
                        progress=show,
                        events=events,
                    )
                except Exception as exc:
                    await live_events.finished(None, str(exc))
                    raise
                await live_events.finished(report, None)
                reports.append(report)
            finally:
                bar.close()
                await store.close()
    finally:
        if events is not None:
            await events.close()
        await db.dispose()
    return reports


class _LiveScan:
    """Scan events of one CLI scan: running about once a second, then done or failed."""

    def __init__(self, events: EventPublisher | None, loop: asyncio.AbstractEventLoop) -> None:
        self.events = events
        self.loop = loop
        self.library_id = ""
        self.last: ScanProgress | None = None
        self._sent_at = 0.0
        self._pending: set[asyncio.Task[None]] = set()

    def progress(self, p: ScanProgress) -> None:
        self.last = p
        if self.events is None or not self.library_id or self.loop.time() - self._sent_at < 1:
            return
        self._sent_at = self.loop.time()
        event = scan_progress_event(self.library_id, p)
        task = self.loop.create_task(self.publish(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def publish(self, event: Outgoing) -> None:
        if self.events is not None:
            await self.events.publish(event)

    async def finished(self, report: ScanReport | None, error: str | None) -> None:
        await asyncio.gather(*self._pending, return_exceptions=True)
        if report is None:
            done = self.last.done if self.last is not None else 0
            total = self.last.total if self.last is not None else None
            event = scan_event(self.library_id, "failed", processed=done, total=total, error=error)
        else:
            event = scan_done_event(self.library_id, report)
        await self.publish(event)


def _check_ffmpeg(settings: Settings) -> bool:
    """Log the ffmpeg in use; False, after saying why, when it is missing or unsupported."""
    try:
        found = find_ffmpeg(settings.ffmpeg_path)
    except UnsupportedFfmpeg as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return False
    log_ffmpeg(found)
    return True


def serve(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging(settings.log_level)
    # The supervisor's errors (job runner, library watcher); workers start their own.
    start_error_tracking(settings, process="supervisor")
    if not _check_ffmpeg(settings):
        return 2
    if not settings.libraries and args.demo:
        from streamer.demo import make_demo_library

        folder = make_demo_library(settings.data_dir / "demo", ffmpeg=settings.ffmpeg_path)
        settings = settings.model_copy(update={"libraries": (str(folder.resolve()),)})
    migrate(settings.effective_database_url)
    settings = with_analytics_spool(settings)
    admin_url = f"http://{settings.host}:{settings.port}/admin/"
    block = None
    if not asyncio.run(cli_accounts.has_accounts(settings)):
        if args.demo:
            password = asyncio.run(cli_accounts.create_demo_admin(settings))
            print(
                "streamer: made a demo admin; how to sign in follows once the server is ready",
                file=sys.stderr,
            )
            block = sign_in_block(admin_url, cli_accounts.DEMO_ADMIN, password, settings)
        else:
            print(
                "streamer: no users or API keys yet; the admin API needs one: "
                "streamer user create NAME --role admin (or streamer apikey create ...)",
                file=sys.stderr,
            )
    else:
        print(f"streamer: web admin at {admin_url}", file=sys.stderr)
    background = Background(settings)
    background.start()
    if block is not None:
        threading.Thread(
            target=_announce_when_ready,
            args=(settings, block, background.settled),
            name="announce",
            daemon=True,
        ).start()
    try:
        return _run_uvicorn(settings)
    finally:
        background.stop()


def with_analytics_spool(settings: Settings) -> Settings:
    """With workers in processes of their own, they hand their delivery events to this
    one through a spool, which Background inserts (streamer.analytics.spool): the
    inserts then cost the serving workers nothing. One worker runs in this process: it
    inserts its own."""
    if settings.analytics_enabled and settings.workers > 1 and settings.analytics_spool_dir is None:
        spool = (settings.data_dir / "analytics-spool").resolve()
        return settings.model_copy(update={"analytics_spool_dir": spool})
    return settings


def sign_in_block(url: str, name: str, password: str, settings: Settings) -> str:
    """The demo admin's sign-in, framed to stand out from the log lines above it."""
    where = f" --data-dir {settings.data_dir.resolve()}"
    if settings.database_url:
        where += " --database-url ..."
    lines = [
        f"streamer is ready: web admin at {url}",
        f"  user name: {name}",
        f"  password:  {password}",
        "A demo account made because there was none; this password is shown only now.",
        "To set a new one later (asked for twice):",
        f"  streamer user set-password {name}{where}",
    ]
    rule = "=" * max(len(line) for line in lines)
    return "\n\n" + "\n".join([rule, *lines, rule]) + "\n\n"


_READY_WAIT_SECONDS = 120.0


def _announce_when_ready(settings: Settings, block: str, settled: threading.Event) -> None:
    """Print ``block`` once a worker answers /healthz and the start-up scan and its
    transcodes are done (so it comes after their log lines), or after a bounded wait.
    With several workers, one that starts late (uvicorn restarts a worker that is slow to
    answer its health check) may still log its start after the block."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # a wildcard: ask over loopback
        host = "127.0.0.1" if host != "::" else "::1"
    deadline = time.monotonic() + _READY_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(host, settings.port, timeout=2.0)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    # Let the worker write this probe's access line (flushed within
                    # 0.5 s, streamer.access_log) so that it comes before the block.
                    time.sleep(1.0)
                    break
            finally:
                connection.close()
        except OSError:
            pass
        time.sleep(0.2)
    settled.wait(timeout=max(0.0, deadline - time.monotonic()))
    sys.stderr.write(block)
    sys.stderr.flush()


class Background:
    """What the supervisor does beside serving, in a thread with its own event loop: the
    job runner (embedded mode), and the start-up scan whose new tracks it queues.

    Tracks become servable as they are catalogued and as HLS as their jobs finish (the
    workers look ids up in the database). Stopping interrupts running jobs; they are
    queued again and resume at the next start.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="background", daemon=True)
        self._ready = threading.Event()
        # Set once the start-up scan (and, embedded, the transcodes it queued) has ended.
        self.settled = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:  # the server keeps serving the catalogue; the log says why
            logger.exception("background work failed")

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        settings = self.settings
        if settings.workers > 1:
            # The workers are other processes: this one's errors (the embedded job runner,
            # the library watcher) join theirs in the admin's error groups. With one
            # worker, the app runs here and its own handler counts them.
            async with _error_groups(settings.data_dir / "metrics"):
                await self._work(settings)
        else:
            await self._work(settings)

    async def _work(self, settings: Settings) -> None:
        assert self._stop is not None
        db = Database(settings.effective_database_url)
        stores = StoreRegistry(settings)
        runner = None
        if settings.jobs_in_process:
            await _import_runner()
            from streamer.jobs.runner import runner_for

            runner = runner_for(db, stores.get, settings, recover_all=True)
            await runner.start()
        watcher: LibraryWatcher | None = None
        events: EventPublisher | None = None
        spool: SpoolIngest | None = None
        if settings.analytics_enabled and settings.analytics_spool_dir is not None:
            ingester = Ingester(
                settings.effective_database_url,
                settings.analytics_spool_dir,
                settings.node_name or socket.gethostname(),
            )
            spool = SpoolIngest(
                ingester,
                every=settings.analytics_flush_seconds,
                nice=settings.analytics_spool_nice,
            )
            spool.start()
        try:
            if settings.watch_libraries:
                # Before the start-up scan: a change made while it runs is scanned after it.
                try:
                    for root in settings.libraries:
                        await ensure_library(db, root)
                except Exception:  # the watcher finds the libraries when it can read them
                    logger.warning("could not record the libraries before watching", exc_info=True)
                events = EventPublisher(db, redis_url=settings.redis_url)
                scans = ScanTasks(db, stores, settings, events=events)
                watcher = LibraryWatcher(db, scans, settings)
                watcher.start()
            try:
                if settings.libraries and settings.scan_on_start:
                    await self._scan_and_queue(db, runner)
            finally:
                self.settled.set()
            await self._stop.wait()
        finally:
            if spool is not None:
                await spool.close()  # the workers have stopped: their last batches are in
            if watcher is not None:
                await watcher.close()
            if events is not None:
                await events.close()
            if runner is not None:
                await runner.stop()
            await stores.close()
            await db.dispose()

    async def _scan_and_queue(self, db: Database, runner: JobRunner | None) -> None:
        settings = self.settings
        try:
            reports = await scan_roots(settings, settings.libraries, progress=False, live=True)
        except Exception:  # the server keeps serving what is catalogued; the log says why
            logger.exception("library scan failed")
            return
        for root, report in zip(settings.libraries, reports, strict=True):
            logger.info(
                "scanned %s",
                root,
                extra={"library": root, **{k: v for k, v in vars(report).items() if k != "errors"}},
            )
        if not settings.transcode_on_start:
            return
        if runner is not None:
            jobs = await runner.enqueue(roots=settings.libraries)
            logger.info("queued transcodes", extra={"jobs": len(jobs)})
            # Ended jobs log a line each: the demo's sign-in block waits for them.
            try:
                async with asyncio.timeout(_READY_WAIT_SECONDS):
                    await watch_jobs(db, [job.id for job in jobs], progress=False)
            except TimeoutError:
                pass  # they go on; only the wait for them ends
            return
        # `streamer worker` processes run them.
        events = EventPublisher(db, redis_url=settings.redis_url)
        try:
            jobs = await queue_transcodes(
                db,
                RunnerConfig.from_settings(settings),
                roots=settings.libraries,
                events=events,
            )
        finally:
            await events.close()
        logger.info("queued transcodes", extra={"jobs": len(jobs)})


@contextlib.asynccontextmanager
async def _error_groups(directory: Path) -> AsyncIterator[None]:
    groups = ErrorGroups(directory, prefix="error-groups-supervisor-")
    handler = ErrorGroupHandler(groups)
    logging.getLogger().addHandler(handler)

    async def flush_every_second() -> None:
        while True:
            await asyncio.sleep(1.0)
            groups.flush()  # writes in a thread, and only after a change

    flusher = asyncio.create_task(flush_every_second())
    try:
        yield
    finally:
        flusher.cancel()
        logging.getLogger().removeHandler(handler)


def raise_open_file_limit() -> int:
    """Raise this process's (and its workers') open-file limit to the hard limit, as nginx's
    worker_rlimit_nofile does: a listener holds a socket, and while it waits for a slow
    network a second descriptor (streamer.serving), so the usual soft limit of 1,024 would
    refuse new connections at about 500 listeners per worker. The new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def fit_connections_to_descriptors(settings: Settings) -> Settings:
    """Raise the open-file limit, then check that it holds ``max_connections_per_worker``;
    when it does not, run with the cap it holds (a full worker then answers 503 instead of
    failing to accept) and say what limit the configured cap needs."""
    limit = raise_open_file_limit()
    finite = None if limit == resource.RLIM_INFINITY else limit
    configured = settings.max_connections_per_worker
    open_files = settings.open_file_cache_size
    allowed = connections_allowed(configured, finite, open_files)
    if allowed == configured:
        return settings
    logger.warning(
        "open-file limit is too low for the connection cap",
        extra={
            "limit": limit,
            "max_connections_per_worker": configured or "no cap",
            "running_with": allowed,
            "hint": "raise the hard limit (ulimit -Hn, LimitNOFILE) to at least "
            f"{descriptors_needed(configured or allowed, open_files)}, "
            "or lower max_connections_per_worker",
        },
    )
    return settings.model_copy(update={"max_connections_per_worker": allowed})


def _run_uvicorn(settings: Settings) -> int:
    import uvicorn

    from streamer import uvicorn_hooks
    from streamer.serving import StreamerHttpProtocol

    missing = uvicorn_hooks.missing()
    if missing:
        # Refused, not degraded: the request limits live in the same hooks (operations.md).
        print(uvicorn_hooks.refusal(uvicorn.__version__, missing), file=sys.stderr)
        return 2
    settings = fit_connections_to_descriptors(settings)
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    # Worker processes aggregate their metrics through files here (prometheus-client's
    # multiprocess mode) and read the settings from JSON: both must be in the environment
    # before the workers start.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    os.environ["STREAMER__SETTINGS_JSON"] = json.dumps(settings.model_dump(mode="json"))
    logger.info(
        "serving",
        extra={
            "host": settings.host,
            "port": settings.port,
            "workers": settings.workers,
            "libraries": settings.libraries,
        },
    )
    uvicorn.run(
        "streamer.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        # uvicorn's default (5 s) kills a worker still starting on a loaded machine (its
        # lifespan scans, migrates and opens stores) and starts another, over and over.
        timeout_worker_healthcheck=30,
        lifespan="on",
        http=StreamerHttpProtocol,
        ws="none",  # no WebSocket routes (live events are SSE): saves importing websockets
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips) or None,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
