"""Metadata: SQLAlchemy models, the async engine and Alembic migrations."""

from __future__ import annotations

from streamer.db.engine import Database, migrate
from streamer.db.models import (
    ACTIVE_JOB_STATUSES,
    ApiKey,
    AuditEntry,
    Base,
    Job,
    JobStatus,
    Library,
    LibraryAccess,
    LibraryGrant,
    Playlist,
    PlaylistItem,
    PlaylistRevision,
    Rendition,
    Role,
    SecurityPolicy,
    Track,
    Upload,
    User,
    UserSession,
    library_id_for,
    track_id_for,
)

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Database",
    "Job",
    "JobStatus",
    "Library",
    "LibraryAccess",
    "LibraryGrant",
    "Playlist",
    "PlaylistItem",
    "PlaylistRevision",
    "Rendition",
    "Role",
    "SecurityPolicy",
    "Track",
    "Upload",
    "User",
    "UserSession",
    "library_id_for",
    "migrate",
    "track_id_for",
]
