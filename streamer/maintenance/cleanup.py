"""`streamer cleanup`: remove what nothing needs any more, never a source file.

- expired uploads: unfinished tus uploads past their expiry (``expire_uploads``);
- leftover upload pieces (object-store staging): pieces no receiving upload records, such
  as those of a PATCH that crashed between storing and recording, or of an upload whose
  pieces could not be deleted when it ended;
- superseded renditions: rendition rows of a ladder other than the track's newest, which
  ``current_renditions`` (and so /hls and /media) never serves;
- orphaned derived objects under ``.streamer/tracks/``: old transcode runs and the folders
  of deleted tracks, i.e. objects no rendition row and no track's waveform refers to;
- orphaned covers under ``.streamer/covers/`` (content-addressed, shared by the tracks
  whose embedded art is the same): those no track refers to any more;
- expired sessions;
- listeners' ad sessions older than ``ads_session_days`` (the ad report reads 93 days at
  most; what they counted stays in the campaigns' served counts).

Two guards keep it from racing a transcode: tracks with a queued or running job are left
alone (a run uploads its objects before its rows commit), and objects younger than
``grace`` seconds are kept (nodes may still serve a replaced run from their caches).
One ``maintenance.cleanup`` audit entry records the counts of each real run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from streamer.auth.audit import Actor, write
from streamer.db import ACTIVE_JOB_STATUSES, AdSession, Database, Job, Library, Rendition, Upload
from streamer.db.models import UserSession, utcnow
from streamer.errors import StorageError
from streamer.maintenance.objects import references
from streamer.settings import Settings
from streamer.storage.base import DERIVED_PREFIX
from streamer.storage.factory import open_store
from streamer.uploads.pieces import ObjectStaging
from streamer.uploads.service import expire_uploads
from streamer.uploads.stagings import open_staging

__all__ = ["DEFAULT_GRACE_SECONDS", "CleanupReport", "Removal", "cleanup"]

_TRACKS_PREFIX = f"{DERIVED_PREFIX}tracks/"
_COVERS_PREFIX = f"{DERIVED_PREFIX}covers/"
DEFAULT_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class Removal:
    """One thing removed (or, in a dry run, to be removed)."""

    what: str  # "upload <id>", "rendition <id>" or the object's key
    detail: str  # the upload's file name, the rendition's track and name, the library
    size: int  # bytes freed


@dataclass
class CleanupReport:
    dry_run: bool
    uploads: list[Removal] = field(default_factory=list)
    pieces: list[Removal] = field(default_factory=list)  # leftover upload pieces
    renditions: list[Removal] = field(default_factory=list)  # superseded rows
    objects: list[Removal] = field(default_factory=list)  # orphaned derived objects
    young: int = 0  # orphaned derived objects kept because they are younger than grace
    sessions: int = 0
    ad_sessions: int = 0
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {
            "uploads": len(self.uploads),
            "renditions": len(self.renditions),
            "objects": len(self.objects),
            "object_bytes": sum(r.size for r in self.objects),
            "upload_bytes": sum(r.size for r in self.uploads),
            "pieces": len(self.pieces),
            "piece_bytes": sum(r.size for r in self.pieces),
            "young_objects": self.young,
            "sessions": self.sessions,
            "ad_sessions": self.ad_sessions,
            "errors": len(self.errors),
        }


async def cleanup(
    db: Database,
    settings: Settings,
    *,
    dry_run: bool = False,
    grace: float = DEFAULT_GRACE_SECONDS,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> CleanupReport:
    """Remove (or with ``dry_run`` only list) what nothing needs; see the module docstring."""
    moment = now or utcnow()
    report = CleanupReport(dry_run)
    await _uploads(db, settings, report, moment, grace)
    busy = await _busy_tracks(db)
    superseded = await _superseded(db, busy)
    report.renditions = [
        Removal(f"rendition {r.id}", f"{r.track_id} {r.name}", r.size) for r in superseded
    ]
    async with db.session() as session:
        libraries = list(await session.execute(select(Library.id, Library.root)))
    for library_id, root in libraries:
        await _orphans(db, settings, report, library_id, root, superseded, busy, grace, moment)
    async with db.session() as session:
        expired = (
            select(func.count()).select_from(UserSession).where(UserSession.expires_at < moment)
        )
        report.sessions = int(await session.scalar(expired) or 0)
        old_ads = AdSession.created_at < moment - timedelta(days=settings.ads_session_days)
        report.ad_sessions = int(
            await session.scalar(select(func.count()).select_from(AdSession).where(old_ads)) or 0
        )
        if not dry_run:
            await session.execute(delete(AdSession).where(old_ads))
            if superseded:
                await session.execute(
                    delete(Rendition).where(Rendition.id.in_([r.id for r in superseded]))
                )
            await session.execute(delete(UserSession).where(UserSession.expires_at < moment))
            await session.commit()
    if not dry_run:
        await write(
            db,
            actor or Actor("cli", None, None),
            "maintenance.cleanup",
            "maintenance",
            None,
            after=report.counts(),
        )
    return report


async def _uploads(
    db: Database, settings: Settings, report: CleanupReport, moment: datetime, grace: float
) -> None:
    async with db.session() as session:
        due = list(
            await session.scalars(
                select(Upload).where(Upload.status == "receiving", Upload.expires_at < moment)
            )
        )
    try:
        async with open_staging(settings) as staging:
            sizes = await staging.staged_sizes([u.id for u in due])
            report.uploads = [
                Removal(f"upload {u.id}", u.filename, sizes.get(u.id, 0)) for u in due
            ]
            if not report.dry_run and due:
                await expire_uploads(db, settings, now=moment, staging=staging)
            if isinstance(staging, ObjectStaging):
                await _leftover_pieces(db, staging, report, moment.timestamp() - grace)
    except StorageError as exc:
        report.errors.append(f"upload staging {settings.upload_staging}: {exc}")


async def _leftover_pieces(
    db: Database, staging: ObjectStaging, report: CleanupReport, cutoff: float
) -> None:
    """Pieces older than ``cutoff`` that no receiving upload records (its row's pieces).

    A PATCH stores its piece before the offset moves over it: the grace keeps such a
    piece, still to be recorded, from being taken for a leftover.
    """
    found = await staging.pieces()
    ids = sorted(found)
    recorded: dict[str, set[str]] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists
        async with db.session() as session:
            rows = await session.execute(
                select(Upload.id, Upload.pieces).where(
                    Upload.id.in_(ids[start : start + 500]), Upload.status == "receiving"
                )
            )
            recorded.update((upload_id, set(pieces or [])) for upload_id, pieces in rows)
    for upload_id in ids:
        kept = recorded.get(upload_id, set())
        for info in sorted(found[upload_id], key=lambda i: i.key):
            if info.mtime > cutoff or info.key.partition("/")[2] in kept:
                continue
            if not report.dry_run:
                await staging.store.delete(info.key)
            report.pieces.append(Removal(info.key, staging.store.url, info.size))


async def _busy_tracks(db: Database) -> set[str]:
    async with db.session() as session:
        return set(
            await session.scalars(select(Job.track_id).where(Job.status.in_(ACTIVE_JOB_STATUSES)))
        )


async def _superseded(db: Database, busy: set[str]) -> list[Rendition]:
    """Rendition rows of a ladder other than their track's newest (never served)."""
    async with db.session() as session:
        every = list(await session.scalars(select(Rendition).order_by(Rendition.id)))
    by_track: dict[str, list[Rendition]] = defaultdict(list)
    for row in every:
        by_track[row.track_id].append(row)
    out: list[Rendition] = []
    for track_id, renditions in by_track.items():
        if track_id in busy:
            continue
        # The same choice as renditions.ladder.newest_ladder, which current_renditions serves.
        newest = max(renditions, key=lambda r: r.created_at).ladder_hash
        out.extend(r for r in renditions if r.ladder_hash != newest)
    return out


async def _orphans(
    db: Database,
    settings: Settings,
    report: CleanupReport,
    library_id: str,
    root: str,
    superseded: list[Rendition],
    busy: set[str],
    grace: float,
    moment: datetime,
) -> None:
    async with db.engine.connect() as conn:
        refs = await references(conn, library_id)
    dropping = {f"rendition:{r.id}" for r in superseded}
    # Kept: every key some row will still refer to once the superseded rows are gone.
    kept = {key for key, holders in refs.items() if any(h not in dropping for h in holders)}
    cutoff = moment.timestamp() - grace
    store = open_store(root, settings)
    try:
        await store.open()
        found = [info async for info in store.iter_derived()]
        doomed = []
        for info in found:
            if info.key in kept:
                continue
            if info.key.startswith(_TRACKS_PREFIX):
                if info.key[len(_TRACKS_PREFIX) :].split("/", 1)[0] in busy:
                    continue
            elif not info.key.startswith(_COVERS_PREFIX):
                continue
            # A scan stores a cover before its track's row commits: the grace covers that.
            if info.mtime > cutoff:
                report.young += 1
                continue
            doomed.append(info)
        doomed.sort(key=lambda i: i.key)
        for info in doomed:
            if not report.dry_run:
                await store.delete(info.key)
            report.objects.append(Removal(info.key, root, info.size))
    except StorageError as exc:
        report.errors.append(f"{root}: {exc}")
    finally:
        await store.close()
