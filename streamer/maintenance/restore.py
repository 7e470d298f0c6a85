"""`streamer restore`: load a backup (see backup.py) into an empty database, on any backend.

Order: check the backup's checksums; refuse a database that holds rows (unless forced,
when its tables are dropped); migrate the empty database to the backup's Alembic revision;
load every table in the backup's (dependency) order in one transaction; migrate to head;
then compare the manifest of stored objects with what the stores hold now. Derived objects
missing from a store are put back from the backup when it carries them (``--with-derived``);
tracks whose derived objects are still missing get a forced transcode job, run by the
server or a worker.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, make_url, select, update

from streamer.analytics.repository import ensure_partitions
from streamer.auth.audit import Actor, write
from streamer.db import Database, migrate
from streamer.db.models import Library, Rendition
from streamer.db.schema import is_partition
from streamer.errors import MaintenanceError, StorageError
from streamer.jobs import RunnerConfig
from streamer.jobs.queue import queue_transcodes
from streamer.maintenance import tables as rows
from streamer.maintenance.backup import BACKUP_FORMAT, file_digest, is_tarball
from streamer.maintenance.objects import list_store, references
from streamer.settings import Settings
from streamer.storage.factory import open_store

__all__ = ["LibraryCheck", "RestoreReport", "read_manifest", "restore_backup"]

_BATCH = 1000
_LISTED = 20  # keys named per library in a report; the rest are counted


@dataclass
class LibraryCheck:
    """How one library's store compares with the backup's manifest of it."""

    id: str
    root: str
    objects: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # Tracks whose renditions, segment indexes or waveform are missing from the store.
    retranscode: list[str] = field(default_factory=list)
    put_back: int = 0  # derived objects copied back into the store from the backup
    error: str | None = None


@dataclass
class RestoreReport:
    revision: str
    tables: dict[str, int]
    libraries: list[LibraryCheck]
    queued: list[str]  # ids of the transcode jobs queued for tracks missing their outputs


async def restore_backup(
    settings: Settings, src: Path, *, force: bool = False, actor: Actor | None = None
) -> RestoreReport:
    """Restore the backup at ``src`` (a directory or .tar.gz) into settings' database.

    Raises MaintenanceError for a damaged backup or, unless ``force``, a database that
    already holds rows.
    """
    async with _opened(src) as root:
        manifest = await asyncio.to_thread(read_manifest, root)
        url = settings.effective_database_url
        await _prepare_target(url, force=force)
        revision = manifest["alembic_revision"]
        # Alembic is blocking and runs its own event loop for async URLs: off this loop.
        await asyncio.to_thread(migrate, url, revision)
        counts = await _load(url, root, manifest["tables"])
        await asyncio.to_thread(migrate, url)
        db = Database(url)
        try:
            checks = [
                await _check_library(db, settings, root, entry) for entry in manifest["libraries"]
            ]
            wanted = sorted({track for check in checks for track in check.retranscode})
            queued: list[str] = []
            if wanted:
                jobs = await queue_transcodes(
                    db, RunnerConfig.from_settings(settings), track_ids=wanted, force=True
                )
                queued = [job.id for job in jobs]
            await write(
                db,
                actor or Actor("cli", None, None),
                "maintenance.restore",
                "maintenance",
                None,
                after={
                    "revision": revision,
                    "created_at": manifest.get("created_at"),
                    "rows": sum(counts.values()),
                    "missing_objects": sum(len(c.missing) for c in checks),
                    "queued": len(queued),
                },
            )
        finally:
            await db.dispose()
    return RestoreReport(revision, counts, checks, queued)


@asynccontextmanager
async def _opened(src: Path) -> AsyncIterator[Path]:
    """The backup's tree: ``src`` itself, or a temporary extraction of the archive."""
    if not await asyncio.to_thread(src.exists):
        raise MaintenanceError(f"no backup at {src}")
    if not is_tarball(src):
        yield src
        return
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="streamer-restore-"))
    try:
        await asyncio.to_thread(_extract, src, work)
        yield work
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


def _extract(src: Path, work: Path) -> None:
    try:
        with tarfile.open(src, "r:gz") as archive:
            # The "data" filter refuses absolute paths, "..", links out and device files.
            archive.extractall(work, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise MaintenanceError(f"cannot read the archive {src}: {exc}") from exc


def read_manifest(root: Path) -> dict[str, Any]:
    """The backup's manifest, once every file matches its checksum (blocking)."""
    path = root / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MaintenanceError(f"{root} is not a streamer backup (manifest.json: {exc})") from exc
    if manifest.get("format") != BACKUP_FORMAT:
        raise MaintenanceError(f"unknown backup format {manifest.get('format')!r}")
    for name, expected in manifest.get("files", {}).items():
        file = root / name
        if not file.is_file():
            raise MaintenanceError(f"the backup is incomplete: {name} is missing")
        if file_digest(file) != expected["sha256"]:
            raise MaintenanceError(f"the backup is damaged: {name} does not match its checksum")
    return manifest


async def _prepare_target(url: str, *, force: bool) -> None:
    """Leave the target with no tables at all, or refuse if it holds rows."""
    database = make_url(url).database
    if url.startswith("sqlite") and database and database != ":memory:":
        # SQLite creates the file, not its folder (an empty data directory may be new).
        await asyncio.to_thread(Path(database).parent.mkdir, parents=True, exist_ok=True)
    engine = await rows.open_engine(url)
    try:
        async with engine.begin() as conn:
            found = await rows.reflect(conn)
            counts = {k: v for k, v in (await rows.count_rows(conn, found)).items() if v}
            if counts and not force:
                listed = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
                raise MaintenanceError(
                    f"the database is not empty ({listed}): restore into an empty database "
                    "(--data-dir EMPTY_DIR or --database-url URL), or pass --force to "
                    "replace everything in it"
                )
            await conn.run_sync(_drop_everything)
    finally:
        await engine.dispose()


def _drop_everything(sync: Connection) -> None:
    # Reflected fresh so alembic_version goes too: the load starts from revision zero.
    # Not the daily partitions of delivery_events: dropping their table drops them.
    metadata = MetaData()
    metadata.reflect(bind=sync, only=lambda name, _meta: not is_partition(name))
    metadata.drop_all(bind=sync)


async def _load(url: str, root: Path, dumped: list[dict[str, Any]]) -> dict[str, int]:
    engine = await rows.open_engine(url)
    counts: dict[str, int] = {}
    try:
        async with engine.begin() as conn:
            targets = {table.name: table for table in await rows.reflect(conn)}
            for entry in dumped:
                table = targets.get(entry["name"])
                if table is None:
                    raise MaintenanceError(
                        f"table {entry['name']} of the backup is not in the schema at its "
                        "revision: the backup does not belong to this version of streamer"
                    )
                kinds = entry["columns"]
                handle = await asyncio.to_thread((root / entry["file"]).open, encoding="utf-8")
                count = 0
                try:
                    while lines := await asyncio.to_thread(rows.read_lines, handle, _BATCH):
                        decoded = [rows.decode_row(line, kinds, table) for line in lines]
                        if table.name == "delivery_events":
                            # PostgreSQL: each day's partition before its rows.
                            days = {row["at"].date() for row in decoded}
                            await conn.run_sync(ensure_partitions, days)
                        await conn.execute(table.insert(), decoded)
                        count += len(lines)
                finally:
                    await asyncio.to_thread(handle.close)
                if count != entry["rows"]:
                    raise MaintenanceError(
                        f"{entry['file']} holds {count} rows, the manifest says {entry['rows']}"
                    )
                counts[entry["name"]] = count
            await rows.reset_sequences(conn, list(targets.values()))
    finally:
        await engine.dispose()
    return counts


async def _check_library(
    db: Database, settings: Settings, root: Path, entry: dict[str, Any]
) -> LibraryCheck:
    check = LibraryCheck(entry["id"], entry["root"])
    async with db.engine.connect() as conn:
        library = (
            await conn.execute(select(Library.root).where(Library.id == entry["id"]))
        ).scalar_one_or_none()
        refs = await references(conn, entry["id"])
    if library is None:
        check.error = "not in the restored database"
        return check
    recorded: dict[str, dict[str, Any]] = {}
    put_back: set[str] = set()
    if entry.get("file"):
        text = await asyncio.to_thread((root / entry["file"]).read_text, encoding="utf-8")
        recorded = {item["key"]: item for item in map(json.loads, text.splitlines()) if item}
    store = open_store(library, settings)
    try:
        await store.open()
        present = {info.key: info for info in await list_store(store)}
        copies = root / "derived" / entry["id"]
        for key, item in recorded.items():
            if key in present or not item.get("derived"):
                continue
            copy = copies / key
            if await asyncio.to_thread(copy.is_file):
                present[key] = await store.put_file(key, copy)
                put_back.add(key)
        check.put_back = len(put_back)
    except StorageError as exc:
        check.error = str(exc)
        return check
    finally:
        await store.close()
    if put_back:
        # Renditions name the store's version of their MP4, which a copy does not keep.
        async with db.session() as session, session.begin():
            for key in put_back:
                await session.execute(
                    update(Rendition)
                    .where(Rendition.key == key)
                    .values(version=present[key].version)
                )
    check.objects = len(present)
    for key, item in recorded.items():
        info = present.get(key)
        if info is None:
            check.missing.append(key)
        elif key in put_back:  # the backup's own (checksummed) bytes, with a new version
            continue
        elif info.size != item["size"] or info.version != item["version"]:
            check.changed.append(key)
    # Whatever the manifest says, a rendition row must find its objects to be served.
    broken: set[str] = set()
    for key, holders in refs.items():
        if key in present:
            continue
        if key not in recorded:
            check.missing.append(key)
        if any(holder.startswith(("rendition:", "waveform:")) for holder in holders):
            broken.add(key)
    check.retranscode = await _tracks_of(db, broken, refs)
    check.missing.sort()
    check.changed.sort()
    return check


async def _tracks_of(db: Database, keys: set[str], refs: dict[str, list[str]]) -> list[str]:
    """The tracks whose derived objects include one of ``keys``."""
    tracks: set[str] = set()
    rendition_ids: set[int] = set()
    for key in keys:
        for holder in refs.get(key, []):
            kind, _, ident = holder.partition(":")
            if kind == "waveform":
                tracks.add(ident)
            elif kind == "rendition":
                rendition_ids.add(int(ident))
    if rendition_ids:
        async with db.session() as session:
            tracks.update(
                await session.scalars(
                    select(Rendition.track_id).where(Rendition.id.in_(rendition_ids))
                )
            )
    return sorted(tracks)


def listed(keys: list[str]) -> list[str]:
    """The first keys of a long list, and how many more there are."""
    if len(keys) <= _LISTED:
        return keys
    return [*keys[:_LISTED], f"... and {len(keys) - _LISTED} more"]
