"""`streamer serve | scan | migrate`: the command line.

Settings come from STREAMER_* variables, an optional TOML file (--config) and the flags,
in rising precedence. A bad setting is reported in one clear message and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tqdm import tqdm

from streamer.catalogue.scan import ScanProgress, ScanReport, ensure_library, scan_library
from streamer.db import Database, Library, Rendition, Track, migrate
from streamer.errors import CatalogueError, SettingsError, StorageError
from streamer.logs import configure_logging
from streamer.renditions.outputs import SEGMENT_SECONDS, source_hash, transcode_track
from streamer.settings import Settings
from streamer.storage.factory import open_store
from transcoder.errors import TranscodeError
from transcoder.ladder import DEFAULT_LADDER, ladder_hash

# Nothing imported here may import prometheus_client: `serve` must set
# PROMETHEUS_MULTIPROC_DIR before the metrics module is first imported.

logger = logging.getLogger("streamer.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 2
    handler = {
        "serve": serve,
        "scan": scan,
        "transcode": transcode_command,
        "migrate": migrate_command,
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

    transcode_p = sub.add_parser(
        "transcode", parents=[common], help="transcode catalogued tracks into the HLS ladder"
    )
    transcode_p.add_argument("paths", nargs="*", metavar="PATH", help="only these libraries")
    transcode_p.add_argument("--track", action="append", metavar="ID", help="only these tracks")
    transcode_p.add_argument("--force", action="store_true", help="even if already transcoded")
    transcode_p.add_argument("--no-progress", action="store_true", help="no progress bar")

    sub.add_parser("migrate", parents=[common], help="upgrade the database schema")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": args.data_dir,
        "database_url": args.database_url,
    }
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
    """Transcode tracks one after another (the job queue of the transcode issue will
    replace this loop); a bad file is reported and the others go on."""
    migrate(settings.effective_database_url)
    roots = [normalise_root(p) for p in args.paths]
    done, failed = asyncio.run(
        transcode_tracks(
            settings,
            roots=roots,
            track_ids=args.track or [],
            force=args.force,
            progress=not args.no_progress,
        )
    )
    print(f"{done} transcoded, {len(failed)} failed")
    for track_id, reason in failed:
        print(f"  failed: {track_id}: {reason}")
    return 0 if not failed else 1


async def transcode_tracks(
    settings: Settings,
    *,
    roots: Sequence[str] = (),
    track_ids: Sequence[str] = (),
    force: bool = False,
    progress: bool = False,
) -> tuple[int, list[tuple[str, str]]]:
    """Transcode every servable track (of ``roots`` / ``track_ids`` when given) whose
    current content has no renditions for the default ladder yet."""
    current = ladder_hash(DEFAULT_LADDER, SEGMENT_SECONDS)
    db = Database(settings.effective_database_url)
    work_dir = settings.data_dir / "work"
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    done, failed = 0, []
    try:
        query = (
            select(Track, Library.root)
            .join(Library, Library.id == Track.library_id)
            .where(Track.status == "ok")
            .order_by(Track.id)
        )
        if roots:
            query = query.where(Library.root.in_(roots))
        if track_ids:
            query = query.where(Track.id.in_(track_ids))
        async with db.session() as session:
            rows = (await session.execute(query)).all()
            have = set(
                (
                    await session.execute(
                        select(Rendition.track_id, Rendition.content_hash).where(
                            Rendition.ladder_hash == current
                        )
                    )
                ).all()
            )
        for track, root in rows:
            if not force and (track.id, source_hash(track)) in have:
                continue
            store = open_store(root, settings)
            await store.open()
            bar = tqdm(total=100, desc=track.key, unit="%", disable=not progress, file=sys.stderr)

            def show(fraction: float, bar: Any = bar) -> None:
                bar.n = round(fraction * 100)
                bar.refresh()

            try:
                await transcode_track(db, store, track, work_dir=work_dir, on_progress=show)
                done += 1
            except (TranscodeError, StorageError, ValueError) as exc:
                failed.append((track.id, f"{track.key}: {exc}"))
            finally:
                bar.close()
                await store.close()
    finally:
        await db.dispose()
    return done, failed


def scan(settings: Settings, args: argparse.Namespace) -> int:
    migrate(settings.effective_database_url)
    roots = [normalise_root(p) for p in args.paths]
    reports = asyncio.run(scan_roots(settings, roots, progress=not args.no_progress))
    for root, report in zip(roots, reports, strict=True):
        print(
            f"{root}: {report.total} files, {report.added} added, {report.changed} changed, "
            f"{report.unchanged} unchanged, {report.gone} gone, {report.failed} failed "
            f"in {report.seconds:.1f} s"
        )
        for key, reason in report.errors[:20]:
            print(f"  failed: {key}: {reason}")
    return 0


async def scan_roots(
    settings: Settings, roots: Sequence[str], *, progress: bool
) -> list[ScanReport]:
    db = Database(settings.effective_database_url)
    reports = []
    try:
        for root in roots:
            store = open_store(root, settings)
            await store.open()
            bar = tqdm(
                desc=root, unit="file", disable=not progress, file=sys.stderr, dynamic_ncols=True
            )

            def show(p: ScanProgress, bar: Any = bar) -> None:
                if p.total is not None and bar.total != p.total:
                    bar.total = p.total
                bar.n = p.done
                bar.refresh()

            try:
                library = await ensure_library(db, root)
                reports.append(
                    await scan_library(
                        db, store, library, concurrency=settings.scan_concurrency, progress=show
                    )
                )
            finally:
                bar.close()
                await store.close()
    finally:
        await db.dispose()
    return reports


def serve(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging(settings.log_level)
    if not settings.libraries and args.demo:
        from streamer.demo import make_demo_library

        folder = make_demo_library(settings.data_dir / "demo")
        settings = settings.model_copy(update={"libraries": (str(folder.resolve()),)})
    migrate(settings.effective_database_url)
    if settings.libraries and settings.scan_on_start:
        # Scan in the supervisor while the workers start: tracks become servable as they
        # are catalogued (workers look new ids up in the database).
        threading.Thread(
            target=_scan_in_background, args=(settings,), name="scan", daemon=True
        ).start()
    return _run_uvicorn(settings)


def _scan_in_background(settings: Settings) -> None:
    try:
        reports = asyncio.run(scan_roots(settings, settings.libraries, progress=False))
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
    try:
        done, failed = asyncio.run(transcode_tracks(settings, roots=settings.libraries))
    except Exception:  # as above: the originals are served whatever happens here
        logger.exception("transcoding failed")
        return
    for track_id, reason in failed:
        logger.warning("transcode failed", extra={"track": track_id, "reason": reason})
    logger.info("transcoded", extra={"transcoded": done, "failed": len(failed)})


def _run_uvicorn(settings: Settings) -> int:
    import uvicorn

    from streamer.serving import StreamerHttpProtocol

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
        lifespan="on",
        http=StreamerHttpProtocol,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips) or None,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
