"""`streamer backup | restore | cleanup | reindex`: keeping an installation safe and tidy.

Reports go to stdout, problems to stderr. Bad input (a destination in use, a damaged
backup, a non-empty database without --force) exits 2 with one clear line; a database
that fails under reindex exits 1 with one line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from streamer.auth.audit import Actor
from streamer.catalogue.search_index import ReindexReport, rebuild_search_index
from streamer.db import Database, migrate
from streamer.errors import MaintenanceError
from streamer.maintenance import CleanupReport, cleanup, create_backup, restore_backup
from streamer.maintenance.cleanup import DEFAULT_GRACE_SECONDS
from streamer.maintenance.restore import listed
from streamer.maintenance.retention import backup_name, expired
from streamer.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]


def _actor() -> Actor:
    try:
        return Actor("cli", None, getpass.getuser())
    except (KeyError, OSError):  # no name for this uid (containers)
        return Actor("cli", None, None)


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    backup_p = sub.add_parser(
        "backup",
        parents=[common],
        help="snapshot the database and a manifest of the stored objects",
    )
    where = backup_p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "dest", type=Path, metavar="DEST", nargs="?", help="a new directory or .tar.gz"
    )
    where.add_argument(
        "--into",
        type=Path,
        metavar="DIR",
        help="write DIR/streamer-<UTC time>.tar.gz (scheduled backups; see --keep)",
    )
    backup_p.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="with --into: after a good backup, delete all but the newest N in DIR",
    )
    backup_p.add_argument(
        "--with-derived",
        action="store_true",
        help="also copy the derived objects (.streamer/: renditions, indexes, covers)",
    )

    restore_p = sub.add_parser(
        "restore", parents=[common], help="load a backup into an empty database"
    )
    restore_p.add_argument("src", type=Path, metavar="SRC", help="a backup directory or .tar.gz")
    restore_p.add_argument(
        "--force", action="store_true", help="replace everything in a database that has rows"
    )

    cleanup_p = sub.add_parser(
        "cleanup",
        parents=[common],
        help="remove expired uploads and sessions, and orphaned renditions",
    )
    cleanup_p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    cleanup_p.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="keep derived objects younger than this (default: %(default)s)",
    )

    sub.add_parser(
        "reindex",
        parents=[common],
        help="rebuild the track search index from the tracks table",
        description="Rebuild the track search index from the tracks table: SQLite's FTS5 "
        "table in one transaction, PostgreSQL's with REINDEX INDEX CONCURRENTLY. "
        "The server may keep running.",
    )


def backup_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.keep is not None and (args.into is None or args.keep < 1):
        print("streamer: --keep needs --into and a count of at least 1", file=sys.stderr)
        return 2
    dest = args.dest
    if args.into is not None:
        args.into.mkdir(parents=True, exist_ok=True)
        dest = args.into / backup_name(datetime.now(UTC))
    try:
        report = asyncio.run(create_backup(settings, dest, with_derived=args.with_derived))
    except MaintenanceError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 2
    rows = sum(report.tables.values())
    print(f"backup written to {report.path} (revision {report.revision})")
    print(f"  database: {rows} rows in {len(report.tables)} tables")
    for library in report.libraries:
        state = (
            f"error: {library.error}"
            if library.error
            else (f"{library.objects} objects ({library.derived} derived), {_size(library.bytes)}")
        )
        print(f"  {library.root}: {state}")
        if library.copied:
            print(f"    {library.copied} derived objects copied")
    for warning in report.warnings:
        print(f"streamer: warning: {warning}", file=sys.stderr)
    failed = any(library.error for library in report.libraries)
    if args.keep is not None and not failed:  # a failed backup deletes nothing
        for name in expired((p.name for p in args.into.iterdir()), args.keep):
            (args.into / name).unlink()
            print(f"  deleted the older backup {name}")
    return 1 if failed else 0


def restore_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(restore_backup(settings, args.src, force=args.force, actor=_actor()))
    except MaintenanceError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 2
    rows = sum(report.tables.values())
    print(
        f"restored {rows} rows in {len(report.tables)} tables (backup revision {report.revision})"
    )
    problems = False
    for check in report.libraries:
        if check.error:
            problems = True
            print(f"  {check.root}: cannot check: {check.error}")
            continue
        if check.put_back:
            print(f"  {check.root}: {check.put_back} derived objects put back from the backup")
        if not check.missing and not check.changed:
            print(f"  {check.root}: all {check.objects} objects present")
            continue
        problems = True
        print(f"  {check.root}: {len(check.missing)} missing, {len(check.changed)} changed")
        for key in listed(check.missing):
            print(f"    missing: {key}")
        for key in listed(check.changed):
            print(f"    changed: {key}")
    if report.queued:
        print(
            f"  {len(report.queued)} tracks miss their renditions: transcodes queued "
            "(run `streamer serve` or `streamer worker`, or `streamer transcode --force`)"
        )
    return 1 if problems else 0


def cleanup_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.grace < 0:
        print("streamer: --grace must be 0 or more", file=sys.stderr)
        return 2
    migrate(settings.effective_database_url)

    async def run() -> CleanupReport:
        db = Database(settings.effective_database_url)
        try:
            return await cleanup(
                db, settings, dry_run=args.dry_run, grace=args.grace, actor=_actor()
            )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    verb = "would remove" if args.dry_run else "removed"
    for title, removals in (
        ("expired uploads", report.uploads),
        ("leftover upload pieces", report.pieces),
        ("superseded renditions", report.renditions),
        ("orphaned derived objects", report.objects),
    ):
        print(f"{verb} {len(removals)} {title} ({_size(sum(r.size for r in removals))})")
        for removal in removals:
            print(f"  {removal.what}  {removal.detail}  {_size(removal.size)}")
    if report.young:
        # Else an orphan just made (a track deleted a minute ago) looks overlooked.
        print(
            f"kept {report.young} orphaned derived objects younger than --grace ({args.grace:g} s)"
        )
    print(f"{verb} {report.sessions} expired sessions")
    print(f"{verb} {report.ad_sessions} ad sessions older than {settings.ads_session_days} days")
    for error in report.errors:
        print(f"streamer: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def reindex_command(settings: Settings, _args: argparse.Namespace) -> int:
    url = settings.effective_database_url

    async def run() -> ReindexReport:
        db = Database(url)
        try:
            return await rebuild_search_index(db.engine)
        finally:
            await db.dispose()

    database = make_url(url).database
    if url.startswith("sqlite") and not (database and Path(database).is_file()):
        # Rather than a new, empty database made where a mistyped --data-dir points.
        print(f"streamer: no database at {database}", file=sys.stderr)
        return 2
    try:
        migrate(url)  # the index is the one the schema's head defines
        report = asyncio.run(run())
    except (SQLAlchemyError, OSError) as exc:
        print(f"streamer: cannot rebuild the search index: {_reason(exc)}", file=sys.stderr)
        return 1
    print(report.describe())
    return 0


def _reason(exc: BaseException) -> str:
    """The driver's own words, on one line (SQLAlchemy's add the statement and a link)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


COMMANDS = {
    "backup": backup_command,
    "restore": restore_command,
    "cleanup": cleanup_command,
    "reindex": reindex_command,
}
