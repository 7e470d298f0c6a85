"""Upload rows and their transitions: create, advance, complete (or fail), terminate,
expire. Each transition that changes an upload's status writes exactly one audit entry in
the same transaction as the change; moving the offset is the transfer itself and is not
audited entry by entry.

Completion turns the staged bytes into a track: take them as one local file (the staging
file itself, or the pieces of an object-store staging put together), probe it (mutagen, as
the scan does), store it through the library's ObjectStore under ``uploads/<file name>``
(never replacing an existing object), catalogue that one key with the scan's own
machinery, queue its transcode, then delete what was staged. Completing or failing
publishes a live ``upload`` event (the track and its job publish their own).

Staging goes through the :class:`~streamer.uploads.stagings.Staging` protocol, so nothing
here depends on where partial bytes wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import or_, select, update

from streamer.auth.audit import Actor, record
from streamer.catalogue.scan import scan_objects
from streamer.db import Database, Library, Upload, track_id_for
from streamer.db.models import utcnow
from streamer.events.publish import EventPublisher, upload_event
from streamer.http.content_types import content_type_for
from streamer.jobs import RunnerConfig
from streamer.jobs.queue import queue_transcodes
from streamer.settings import Settings
from streamer.storage.base import ObjectInfo, ObjectNotFound, ObjectStore
from streamer.storage.registry import StoreRegistry
from streamer.uploads.protocol import safe_filename
from streamer.uploads.stagings import Staging, open_staging
from transcoder.probe import ProbeError, probe

__all__ = [
    "COMPLETION_LEASE",
    "UPLOAD_PREFIX",
    "UploadStatus",
    "claim_completion",
    "complete_upload",
    "create_upload",
    "expire_uploads",
    "expiry",
    "get_upload",
    "list_uploads",
    "move_offset",
    "refuse_upload",
    "release_completion",
    "terminate_upload",
]

logger = logging.getLogger("streamer.uploads")

UploadStatus = Literal["receiving", "completed", "failed", "terminated", "expired"]
UPLOAD_PREFIX = "uploads/"  # where completed uploads land in their library's store
_SYSTEM = Actor("system", None, "expire_uploads")
# How long a claimed completion (probe, store, catalogue) may take before another request
# or node may try it: generous, as a stalled claim only delays a crashed completion.
COMPLETION_LEASE = timedelta(minutes=10)


def _summary(upload: Upload) -> dict[str, Any]:
    return {
        "status": upload.status,
        "library_id": upload.library_id,
        "filename": upload.filename,
        "length": upload.length,
        "offset": upload.offset,
    }


async def create_upload(
    db: Database,
    staging: Staging,
    actor: Actor,
    *,
    library_id: str,
    filename: str,
    length: int,
    metadata: dict[str, str],
    expires_at: datetime,
) -> Upload:
    """A new upload with an empty staging file; audited as ``upload.create``."""
    upload = Upload(
        id=uuid.uuid4().hex,
        library_id=library_id,
        filename=filename,
        length=length,
        offset=0,
        meta=metadata,
        created_by=actor.id,
        expires_at=expires_at,
        status="receiving",
    )
    await staging.create(upload.id)
    async with db.session() as session, session.begin():
        session.add(upload)
        record(session, actor, "upload.create", "upload", upload.id, after=_summary(upload))
    return upload


async def get_upload(db: Database, upload_id: str) -> Upload | None:
    async with db.session() as session:
        return await session.get(Upload, upload_id)


async def list_uploads(
    db: Database,
    *,
    library_ids: frozenset[str] | None,
    created_by: str | None,
    limit: int,
    offset: int,
) -> list[Upload]:
    """Newest first: those in ``library_ids`` (None: every library), or made by
    ``created_by`` when given."""
    query = select(Upload).order_by(Upload.created_at.desc(), Upload.id)
    if library_ids is not None:
        query = query.where(Upload.library_id.in_(library_ids))
    if created_by is not None:
        query = query.where(Upload.created_by == created_by)
    async with db.session() as session:
        rows = await session.scalars(query.limit(limit).offset(offset))
        return list(rows)


async def move_offset(
    db: Database,
    upload: Upload,
    new_offset: int,
    expires_at: datetime,
    *,
    piece: str | None = None,
) -> bool:
    """Record bytes durably staged, and with object staging the ``piece`` holding them.

    Only from the offset we read (a compare-and-set), so a concurrent writer on another
    node cannot be overtaken; False if it moved first. The pieces we read are still the
    upload's when the offset is: they only ever change together with it, and the offset
    only grows.
    """
    values: dict[str, Any] = {"offset": new_offset, "expires_at": expires_at}
    if piece is not None:
        values["pieces"] = [*(upload.pieces or []), piece]
    if new_offset == upload.length:  # the last byte: this request completes the upload
        values["completing_until"] = utcnow() + COMPLETION_LEASE
    async with db.session() as session, session.begin():
        result = await session.execute(
            update(Upload)
            .where(
                Upload.id == upload.id,
                Upload.offset == upload.offset,
                Upload.status == "receiving",
            )
            .values(**values, updated_at=utcnow())
        )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for name, value in values.items():
        setattr(upload, name, value)
    return True


async def claim_completion(db: Database, upload: Upload, now: datetime | None = None) -> bool:
    """Claim the completion of a whole upload (a retry, or the recovery of a failed one)
    for COMPLETION_LEASE; False if another request or node holds it."""
    moment = now or utcnow()
    until = moment + COMPLETION_LEASE
    async with db.session() as session, session.begin():
        result = await session.execute(
            update(Upload)
            .where(
                Upload.id == upload.id,
                Upload.status == "receiving",
                Upload.offset == Upload.length,
                or_(Upload.completing_until.is_(None), Upload.completing_until < moment),
            )
            .values(completing_until=until)
        )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    upload.completing_until = until
    return True


async def release_completion(db: Database, upload: Upload) -> None:
    """Give a claimed completion back (it failed and may be tried again at once)."""
    async with db.session() as session, session.begin():
        await session.execute(
            update(Upload)
            .where(Upload.id == upload.id, Upload.status == "receiving")
            .values(completing_until=None)
        )
    upload.completing_until = None


async def _transition(
    db: Database,
    upload: Upload,
    actor: Actor,
    action: str,
    values: dict[str, Any],
    *,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Move a receiving upload to another status with its audit entry; False if it was
    no longer receiving (another request or node got there first)."""
    before = _summary(upload)
    async with db.session() as session, session.begin():
        result = await session.execute(
            update(Upload)
            .where(Upload.id == upload.id, Upload.status == "receiving")
            .values(**values, updated_at=utcnow())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        for name, value in values.items():
            setattr(upload, name, value)
        after = {**_summary(upload), **(extra or {})}
        record(session, actor, action, "upload", upload.id, before=before, after=after)
    return True


async def terminate_upload(db: Database, staging: Staging, upload: Upload, actor: Actor) -> bool:
    """tus termination: forget the partial data; audited as ``upload.terminate``."""
    done = await _transition(db, upload, actor, "upload.terminate", {"status": "terminated"})
    if done:
        await staging.remove(upload.id)
    return done


async def complete_upload(
    db: Database,
    stores: StoreRegistry,
    settings: Settings,
    staging: Staging,
    upload: Upload,
    actor: Actor,
    events: EventPublisher | None = None,
) -> Upload:
    """Turn a fully staged upload into a track (see the module docstring).

    Not audio: the upload becomes ``failed`` with the probe's reason (``upload.fail``)
    and nothing reaches the library. Otherwise ``completed`` with its key and track id
    (``upload.complete``). Storage errors propagate and leave the upload receiving at its
    full length, so a zero-byte PATCH at that offset tries the completion again.
    """
    async with staging.assembled(upload) as path:
        try:
            await asyncio.to_thread(_probe_sync, path, upload.filename, upload.length)
        except ProbeError as exc:
            return await _fail(
                db, staging, upload, actor, events, f"not playable audio: {exc.reason}"
            )
        library, store, info = await _store(db, stores, upload, path)
    report = await scan_objects(db, store, library, [info], events=events)
    if report.failed:
        # Probed fine above, so this is the stored copy misbehaving: keep the library
        # as it was and say why.
        await store.delete(info.key)
        reason = report.errors[0][1] if report.errors else "could not be catalogued"
        return await _fail(db, staging, upload, actor, events, reason)
    track_id = track_id_for(library.id, info.key)
    jobs = await queue_transcodes(
        db, RunnerConfig.from_settings(settings), track_ids=[track_id], events=events
    )
    await _transition(
        db,
        upload,
        actor,
        "upload.complete",
        {"status": "completed", "key": info.key, "track_id": track_id},
        extra={"job_ids": [job.id for job in jobs]},
    )
    await staging.remove(upload.id)
    await _announce(events, upload)
    return upload


async def _store(
    db: Database, stores: StoreRegistry, upload: Upload, path: Path
) -> tuple[Library, ObjectStore, ObjectInfo]:
    """Put the assembled file into its library's store under a free key."""
    async with db.session() as session:
        library = await session.get(Library, upload.library_id)
    if library is None:  # deleted meanwhile; the row goes with it by cascade
        raise LookupError("the upload's library no longer exists")
    store = await stores.get(library.root)
    key = await _free_key(store, upload)
    # The file is only deleted after this returns: a local library may link, not copy, it.
    info = await store.put_file(key, path, content_type=content_type_for(key), consume=True)
    return library, store, info


async def refuse_upload(
    db: Database,
    staging: Staging,
    upload: Upload,
    actor: Actor,
    events: EventPublisher | None,
    reason: str,
) -> Upload:
    """Fail a receiving upload whose first bytes are clearly not audio, as a failed
    completion does (``upload.fail``, the reason kept, what was staged deleted)."""
    return await _fail(db, staging, upload, actor, events, f"not playable audio: {reason}")


async def _fail(
    db: Database,
    staging: Staging,
    upload: Upload,
    actor: Actor,
    events: EventPublisher | None,
    reason: str,
) -> Upload:
    await _transition(db, upload, actor, "upload.fail", {"status": "failed", "error": reason})
    await staging.remove(upload.id)
    await _announce(events, upload)
    return upload


async def _announce(events: EventPublisher | None, upload: Upload) -> None:
    if events is not None and upload.status in ("completed", "failed"):
        await events.publish(upload_event(upload))


def _probe_sync(path: Path, name: str, size: int) -> None:
    with path.open("rb") as fh:
        probe(fh, name, size)


async def _free_key(store: ObjectStore, upload: Upload) -> str:
    """``uploads/<file name>``, or with the upload id added when that key is taken: an
    upload never replaces an object already in the library."""
    name = safe_filename(upload.filename)
    stem, ext = posixpath.splitext(name)
    for candidate in (name, f"{stem}-{upload.id[:8]}{ext}", f"{stem}-{upload.id}{ext}"):
        key = UPLOAD_PREFIX + candidate
        try:
            await store.stat(key)
        except ObjectNotFound:
            return key
    raise FileExistsError(f"every candidate key for {name!r} is taken")


async def expire_uploads(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    staging: Staging | None = None,
) -> int:
    """Expire unfinished uploads past their ``expires_at``: delete what they staged and
    mark them ``expired`` (one ``upload.expire`` entry each, by the system). Returns how
    many. Meant for ``streamer cleanup``; safe to run on many nodes at once. Without
    ``staging``, the one ``settings`` name is opened for the call."""
    moment = now or utcnow()
    async with db.session() as session:
        due = list(
            await session.scalars(
                select(Upload).where(Upload.status == "receiving", Upload.expires_at < moment)
            )
        )
    if not due:
        return 0
    expired = 0
    async with contextlib.AsyncExitStack() as stack:
        if staging is None:
            staging = await stack.enter_async_context(open_staging(settings))
        for upload in due:
            if await _transition(db, upload, _SYSTEM, "upload.expire", {"status": "expired"}):
                await staging.remove(upload.id)
                expired += 1
    if expired:
        logger.info("expired %d unfinished uploads", expired)
    return expired


def expiry(settings: Settings) -> datetime:
    """When an upload touched now expires."""
    return utcnow() + timedelta(seconds=settings.upload_expiry_seconds)
