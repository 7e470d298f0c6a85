"""`streamer backup`: a consistent, backend-independent snapshot of the database and a
manifest of what the libraries' stores hold.

Layout of a backup (a directory, or the same tree in a .tar.gz)::

    manifest.json               format, time, app version, Alembic revision, counts and
                                the SHA-256 of every other file
    database/NN_<table>.jsonl   every row of every table, parents before children
    objects/<library>.jsonl     every object of each library: key, size, version, refs
    database.sqlite3            SQLite only: the online-backup copy the rows were read from
    derived/<library>/<key>     with --with-derived: copies of the derived objects

Media (source files) are never copied: they are the user's data, and S3 has its own
backups. The rows are read in one transaction: on PostgreSQL at REPEATABLE READ, on SQLite
from a copy made with the online backup API, so the server may keep running meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import make_url, select
from sqlalchemy.ext.asyncio import AsyncConnection

from streamer.db.engine import alembic_config
from streamer.db.models import Library, utcnow
from streamer.errors import MaintenanceError, ObjectChanged, ObjectNotFound, StorageError
from streamer.maintenance import tables as rows
from streamer.maintenance.objects import ObjectEntry, list_store, references
from streamer.settings import Settings
from streamer.storage.base import DERIVED_PREFIX, ObjectStore
from streamer.storage.factory import open_store

__all__ = ["BACKUP_FORMAT", "BackupReport", "LibraryObjects", "create_backup", "is_tarball"]

BACKUP_FORMAT = 1
_BATCH = 1000  # rows per hop between the loop and the writer thread
_CHUNK = 1 << 20


@dataclass
class LibraryObjects:
    """The manifest's summary of one library's store."""

    id: str
    root: str
    file: str | None  # objects/<id>.jsonl, None when the store could not be listed
    objects: int = 0
    derived: int = 0
    bytes: int = 0
    copied: int = 0  # derived objects copied (--with-derived)
    # Derived objects deleted or replaced between the listing and their copy (a cleanup or
    # a transcode on another node): left out of the manifest and the copies.
    vanished: int = 0
    error: str | None = None


@dataclass
class BackupReport:
    path: Path
    revision: str | None
    tables: dict[str, int]
    libraries: list[LibraryObjects]
    warnings: list[str] = field(default_factory=list)


def is_tarball(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz"))


def app_version() -> str:
    try:
        return version("streamer")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


async def create_backup(
    settings: Settings, dest: Path, *, with_derived: bool = False, now: datetime | None = None
) -> BackupReport:
    """Write a backup of ``settings``' database and libraries to ``dest``.

    ``dest`` is a directory (new, or empty) or a file ending in .tar.gz / .tgz (new).
    Raises MaintenanceError when it is in the way.
    """
    moment = now or utcnow()
    tarball = is_tarball(dest)
    await asyncio.to_thread(_check_destination, dest, tarball)
    work = (
        Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".backup-", dir=dest.parent))
        if tarball
        else dest
    )
    try:
        await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
        report = await _write_tree(settings, work, with_derived=with_derived, moment=moment)
        if tarball:
            await asyncio.to_thread(_pack, work, dest)
            report.path = dest
    finally:
        if tarball:
            await asyncio.to_thread(shutil.rmtree, work, True)
    return report


def _check_destination(dest: Path, tarball: bool) -> None:
    if tarball:
        if dest.exists():
            raise MaintenanceError(f"{dest} exists: give a new file name")
        if not dest.parent.is_dir():
            raise MaintenanceError(f"{dest.parent} is not a directory")
    elif dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise MaintenanceError(f"{dest} exists and is not an empty directory")


async def _write_tree(
    settings: Settings, work: Path, *, with_derived: bool, moment: datetime
) -> BackupReport:
    url = settings.effective_database_url
    warnings: list[str] = []
    async with _snapshot(url, work) as conn:
        revision = await rows.current_revision(conn)
        if revision is None:
            raise MaintenanceError("the database has never been migrated: nothing to back up")
        head = await asyncio.to_thread(_head_revision, url)
        found = await rows.reflect(conn)
        dumps = [await _dump_table(conn, table, work, n) for n, table in enumerate(found)]
        libraries = list(await conn.execute(select(Library.id, Library.root)))
        refs: dict[str, dict[str, list[str]]] = {}
        if revision == head:
            for library_id, _root in libraries:
                refs[library_id] = await references(conn, library_id)
        else:
            warnings.append(
                f"the database is at revision {revision}, not {head}: "
                "object references were not recorded (run `streamer migrate` first)"
            )
    summaries = []
    for library_id, root in libraries:
        summaries.append(
            await _dump_library(
                settings, work, library_id, root, refs.get(library_id, {}), with_derived
            )
        )
        if summaries[-1].error:
            warnings.append(f"library {root}: {summaries[-1].error}")
        if summaries[-1].vanished:
            warnings.append(
                f"library {root}: {summaries[-1].vanished} derived objects were deleted or "
                "replaced while the backup copied them (a cleanup or a transcode meanwhile): "
                "they are not in the backup"
            )
    manifest = {
        "format": BACKUP_FORMAT,
        "created_at": moment.isoformat(),
        "app_version": await asyncio.to_thread(app_version),  # reads package metadata
        "alembic_revision": revision,
        "database_backend": make_url(url).get_backend_name(),
        "tables": [
            {"name": d.name, "file": d.file, "rows": d.rows, "columns": d.columns} for d in dumps
        ],
        "libraries": [vars(s) for s in summaries],
        "with_derived": with_derived,
        "files": await asyncio.to_thread(_checksums, work),
    }
    await asyncio.to_thread(_write_json, work / "manifest.json", manifest)
    return BackupReport(work, revision, {d.name: d.rows for d in dumps}, summaries, warnings)


def _head_revision(url: str) -> str | None:
    # Imported here: serving workers import the CLI's modules and never need alembic
    # (about 10 MB each). Alembic reads the migration scripts from disk: blocking.
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


@asynccontextmanager
async def _snapshot(url: str, work: Path) -> AsyncIterator[AsyncConnection]:
    """A connection that sees one consistent state of the database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = parsed.database
        if not source or source == ":memory:":
            raise MaintenanceError(f"cannot back up the database {url}")
        copy = work / "database.sqlite3"
        await asyncio.to_thread(_sqlite_copy, Path(source), copy)
        url = f"sqlite+aiosqlite:///{copy}"
    engine = await rows.open_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Every SELECT of the backup sees the same snapshot, whatever commits meanwhile.
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn
    finally:
        await engine.dispose()


def _sqlite_copy(source: Path, copy: Path) -> None:
    """SQLite's online backup: a consistent copy even while the server writes."""
    if not source.is_file():
        raise MaintenanceError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)
        # A standalone file: no -wal or -shm beside it when it is opened again.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


async def _dump_table(conn: AsyncConnection, table: Any, work: Path, n: int) -> rows.TableDump:
    kinds = rows.column_kinds(table)
    name = f"database/{n:02d}_{table.name}.jsonl"
    path = work / name
    await asyncio.to_thread(path.parent.mkdir, exist_ok=True)
    handle = await asyncio.to_thread(path.open, "w", encoding="utf-8")
    count = 0
    try:
        keys = list(table.primary_key.columns)
        result = await conn.stream(table.select().order_by(*keys))
        async for batch in result.mappings().partitions(_BATCH):
            lines = [rows.encode_row(dict(row), kinds) for row in batch]
            await asyncio.to_thread(_write_lines, handle, lines)
            count += len(lines)
    finally:
        await asyncio.to_thread(handle.close)
    return rows.TableDump(table.name, name, kinds, count)


def _write_lines(handle: TextIO, lines: list[str]) -> None:
    handle.write("".join(line + "\n" for line in lines))


async def _dump_library(
    settings: Settings,
    work: Path,
    library_id: str,
    root: str,
    refs: dict[str, list[str]],
    with_derived: bool,
) -> LibraryObjects:
    summary = LibraryObjects(library_id, root, None)
    store = open_store(root, settings)
    try:
        await store.open()
        infos = await list_store(store)
        entries = [
            ObjectEntry(
                info.key,
                info.size,
                info.version,
                info.key.startswith(DERIVED_PREFIX),
                refs.get(info.key, []),
            )
            for info in infos
        ]
        if with_derived:
            kept = []
            for entry in entries:
                if entry.derived:
                    try:
                        await _copy_object(store, entry, work / "derived" / library_id / entry.key)
                    except (ObjectNotFound, ObjectChanged):
                        summary.vanished += 1
                        continue
                    summary.copied += 1
                kept.append(entry)
            entries = kept
        name = f"objects/{library_id}.jsonl"
        lines = [json.dumps(e.as_json(), ensure_ascii=False) for e in entries]
        await asyncio.to_thread(_write_file_lines, work / name, lines)
        summary.file = name
        summary.objects = len(entries)
        summary.derived = sum(e.derived for e in entries)
        summary.bytes = sum(e.size for e in entries)
    except StorageError as exc:
        # One unreachable library does not spoil the backup of the others.
        summary.error = str(exc)
    finally:
        await store.close()
    return summary


def _write_file_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        _write_lines(handle, lines)


async def _copy_object(store: ObjectStore, entry: ObjectEntry, target: Path) -> None:
    """Copy the listed version of the object, in bounded chunks; nothing is left at
    ``target`` when it fails (ObjectNotFound, ObjectChanged: no longer that object)."""
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    handle = await asyncio.to_thread(target.open, "wb")
    try:
        chunks = store.iter_range(
            entry.key, 0, entry.size, version=entry.version, chunk_size=_CHUNK
        )
        async for chunk in chunks:
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(target.unlink, True)
        raise
    await asyncio.to_thread(handle.close)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _checksums(work: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for directory, _dirs, files in os.walk(work):
        for name in sorted(files):
            path = Path(directory) / name
            relative = path.relative_to(work).as_posix()
            if relative == "manifest.json":
                continue
            out[relative] = {"sha256": file_digest(path), "size": path.stat().st_size}
    return dict(sorted(out.items()))


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _pack(work: Path, dest: Path) -> None:
    """Write the tree into ``dest`` atomically: a partial archive never has its name."""
    partial = dest.with_name(f".{dest.name}.partial")
    try:
        with tarfile.open(partial, "w:gz") as archive:
            for entry in sorted(work.iterdir()):
                archive.add(entry, arcname=entry.name)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
