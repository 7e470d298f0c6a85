"""SQLAlchemy models of the catalogue. Every schema change comes with an Alembic migration."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

TrackStatus = Literal["ok", "error", "gone"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE_JOB_STATUSES = ("queued", "running")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


def library_id_for(root: str) -> str:
    """Stable id of a library from its root, so re-adding a folder keeps its tracks' URLs."""
    return hashlib.sha256(root.encode()).hexdigest()[:12]


def track_id_for(library_id: str, key: str) -> str:
    """Stable, opaque id of a track: media URLs carry ids, never paths."""
    return hashlib.sha256(f"{library_id}\0{key}".encode()).hexdigest()[:16]


# What track_id_for gives: URLs with anything else name no track (answered without a query).
TRACK_ID = re.compile(r"^[0-9a-f]{16}$")


class Library(Base):
    __tablename__ = "libraries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    root: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_scan_at: Mapped[datetime | None] = mapped_column(default=None)
    # Summary of the last scan: counts of added, changed, unchanged, gone, failed.
    last_scan: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Track(Base):
    __tablename__ = "tracks"
    __table_args__ = (
        Index("ix_tracks_library_key", "library_id", "key", unique=True),
        Index("ix_tracks_library_status", "library_id", "status"),
        Index("ix_tracks_codec", "codec"),
        Index("ix_tracks_status_id", "status", "id"),
        # One (column, id) index per sort of GET /tracks: the id breaks ties, so a page is
        # an index range walked in either direction and a cursor resumes inside it.
        Index("ix_tracks_title_id", "title", "id"),
        Index("ix_tracks_artist_id", "artist", "id"),
        Index("ix_tracks_album_id", "album", "id"),
        Index("ix_tracks_genre_id", "genre", "id"),
        Index("ix_tracks_year_id", "year", "id"),
        Index("ix_tracks_duration_id", "duration", "id"),
        Index("ix_tracks_created_id", "created_at", "id"),
        Index("ix_tracks_scanned_id", "scanned_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)  # path relative to the library root
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(Text, default=None)

    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)
    version: Mapped[str] = mapped_column(String(128))  # the store's identity of the bytes
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    content_type: Mapped[str] = mapped_column(String(100))

    duration: Mapped[float | None] = mapped_column(Float, default=None)
    codec: Mapped[str | None] = mapped_column(String(32), default=None)
    bitrate: Mapped[int | None] = mapped_column(Integer, default=None)
    sample_rate: Mapped[int | None] = mapped_column(Integer, default=None)
    channels: Mapped[int | None] = mapped_column(Integer, default=None)
    bits_per_sample: Mapped[int | None] = mapped_column(Integer, default=None)

    title: Mapped[str | None] = mapped_column(Text, default=None)
    artist: Mapped[str | None] = mapped_column(Text, default=None)
    album: Mapped[str | None] = mapped_column(Text, default=None)
    album_artist: Mapped[str | None] = mapped_column(Text, default=None)
    genre: Mapped[str | None] = mapped_column(Text, default=None)
    year: Mapped[int | None] = mapped_column(Integer, default=None)
    track_number: Mapped[int | None] = mapped_column(Integer, default=None)
    disc_number: Mapped[int | None] = mapped_column(Integer, default=None)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cover_mime: Mapped[str | None] = mapped_column(String(64), default=None)
    cover_size: Mapped[int | None] = mapped_column(Integer, default=None)
    # The embedded cover, stored by the scan as a derived object named by its content.
    cover_key: Mapped[str | None] = mapped_column(Text, default=None)

    # Measured by the transcode pipeline (EBU R128), None until transcoded or for silence.
    loudness_integrated: Mapped[float | None] = mapped_column(Float, default=None)
    loudness_range: Mapped[float | None] = mapped_column(Float, default=None)
    true_peak: Mapped[float | None] = mapped_column(Float, default=None)
    waveform_key: Mapped[str | None] = mapped_column(Text, default=None)  # peaks JSON object

    # User labels ("tags" of the API's tag filter), edited through the API only. The list is
    # what the API shows and search reads; track_labels holds the same pairs, indexed.
    labels: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))
    # Metadata fields edited through the API, with their values: a rescan of a changed file
    # reads its tags again, and these win over them, so an edit is never undone.
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    # Incremented by every edit through the API: the track's strong ETag.
    row_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackLabel(Base):
    """One label of a track: the index behind GET /tracks?tag= (a JSON list has none)."""

    __tablename__ = "track_labels"
    __table_args__ = (Index("ix_track_labels_label_track", "label", "track_id"),)

    track_id: Mapped[str] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(64), primary_key=True)


class Rendition(Base):
    """One encoded rendition of a track: a fragmented MP4 and its segment index, both
    stored in the library's store under the derived prefix (.streamer/)."""

    __tablename__ = "renditions"
    __table_args__ = (
        Index("ix_renditions_track_ladder_name", "track_id", "ladder_hash", "name", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))  # "aac_128": the URL segment
    codec: Mapped[str] = mapped_column(String(16))  # aac | flac | opus
    codecs: Mapped[str] = mapped_column(String(64))  # RFC 6381, for HLS CODECS
    bitrate: Mapped[int | None] = mapped_column(Integer, default=None)  # the target
    peak_bitrate: Mapped[int] = mapped_column(Integer)  # HLS BANDWIDTH
    average_bitrate: Mapped[int] = mapped_column(Integer)  # HLS AVERAGE-BANDWIDTH
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)  # seconds of content, priming excluded
    size: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(Text)  # the fragmented MP4
    index_key: Mapped[str] = mapped_column(Text)  # its segment index (JSON)
    version: Mapped[str] = mapped_column(String(128))  # the store's version of the MP4
    content_hash: Mapped[str] = mapped_column(String(64))  # of the source transcoded
    ladder_hash: Mapped[str] = mapped_column(String(64))
    # Loudness normalisation applied before encoding, in dB (0: levels kept).
    gain_db: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A unit of background work on a track (today: transcoding it into the ladder).

    The row is the job's record of truth, whichever process runs it: the runner claims a
    queued row, reports progress and a heartbeat into it, and finishes it. Cancel and retry
    requests from any node are writes to the row.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_run_after", "status", "run_after"),
        Index("ix_jobs_track_created", "track_id", "created_at"),
        Index("ix_jobs_created", "created_at"),
        # At most one queued or running job per track, even when two nodes enqueue at once.
        Index(
            "ux_jobs_active_track",
            "track_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="transcode")
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started so far
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)  # retry backoff
    content_hash: Mapped[str] = mapped_column(String(64))  # the source it was queued for
    ladder_hash: Mapped[str] = mapped_column(String(64))
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, default=None)  # human-readable reason
    stderr_tail: Mapped[str | None] = mapped_column(Text, default=None)  # ffmpeg's last lines
    worker: Mapped[str | None] = mapped_column(String(128), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    # When a runner last sent it to the shared broker (Redis stream); None: not yet.
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- identity, access and audit (streamer/auth) ----------------------------------------

Role = Literal["admin", "editor", "viewer"]
LibraryAccess = Literal["none", "read", "write", "manage"]


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # TOTP: the confirmed secret, and a secret being enrolled until its first code.
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    # The time step of the last accepted code: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Hashes of the unused single-use recovery codes.
    recovery_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Sessions created before this instant are void ("log out everywhere", password change).
    sessions_valid_after: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class LibraryGrant(Base):
    """A user's access to one library; no row means none (admins manage every library)."""

    __tablename__ = "library_grants"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    library_id: Mapped[str] = mapped_column(
        ForeignKey("libraries.id", ondelete="CASCADE"), primary_key=True
    )
    access: Mapped[str] = mapped_column(String(16))


class UserSession(Base):
    """A cookie session. The cookie holds a random token; the row holds its SHA-256."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    # Password checked, second factor still to come: nothing else is allowed.
    second_factor_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()  # absolute expiry
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)


class ApiKey(Base):
    """A bearer key with a role and, optionally, a set of libraries. Only its SHA-256 is
    stored (keys are 256-bit random, so a fast hash is safe and cheap per request)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32))  # shown in lists to recognise a key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # None: every library (up to the role); else {library_id: access}.
    libraries: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AppPassword(Base):
    """A password a user makes for one Subsonic player (streamer.auth.app_passwords). The
    protocol's token form sends md5(password + salt), which only a server that knows the
    password can check: so app passwords are random, made by the server, good for /rest
    only and revocable one by one, and account passwords never serve there."""

    __tablename__ = "app_passwords"
    __table_args__ = (Index("ix_app_passwords_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class SubsonicStar(Base):
    """An artist, album or song a Subsonic listener starred (``owner``: a user's id, or
    ``key:`` and the id of an API key made for no user). Artist and album ids are the
    Subsonic API's tag-derived ids (streamer.subsonic.ids)."""

    __tablename__ = "subsonic_stars"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # artist | album | song
    item_id: Mapped[str] = mapped_column(String(2048), primary_key=True)
    starred_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubsonicPlay(Base):
    """A play a Subsonic player scrobbled (``scrobble`` with submission): play counts,
    recently played and most played albums."""

    __tablename__ = "subsonic_plays"
    __table_args__ = (
        Index("ix_subsonic_plays_owner_track", "owner", "track_id"),
        Index("ix_subsonic_plays_owner_played", "owner", "played_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    played_at: Mapped[datetime] = mapped_column()
    client: Mapped[str] = mapped_column(String(100), default="")


class SubsonicNowPlaying(Base):
    """What each player of each listener said it is playing (``scrobble`` without
    submission), for getNowPlaying; one row per listener and player, replaced."""

    __tablename__ = "subsonic_now_playing"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(100), primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()


class AuditEntry(Base):
    """One mutation: who, what, on which target, the state before and after, from where."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_actor_at", "actor_id", "at"),
        Index("ix_audit_target", "target_type", "target_id"),
        Index("ix_audit_action_at", "action", "at"),
        Index("ix_audit_request", "request_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))  # user | apikey | cli | system
    actor_id: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_name: Mapped[str | None] = mapped_column(String(100), default=None)
    action: Mapped[str] = mapped_column(String(64))  # "user.create", "track.update", ...
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)


class SecurityPolicy(Base):
    """Server-wide security choices admins make through the API (one row, id 1)."""

    __tablename__ = "security_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    require_2fa_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Upload(Base):
    """A tus upload (streamer/uploads, /api/v1/uploads): its place in a library and how
    far it has come. Partial bytes live in a staging file named by the id under
    ``data_dir/uploads``, or (``upload_staging`` an object store URL) in one object per
    PATCH, the ``pieces``; ``offset`` counts only bytes durably staged, so it is where a
    client resumes, after a dropped connection or a restart alike."""

    __tablename__ = "uploads"
    __table_args__ = (
        Index("ix_uploads_library_created", "library_id", "created_at"),
        Index("ix_uploads_created_by", "created_by"),
        Index("ix_uploads_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(Text)  # as the client named it (metadata)
    length: Mapped[int] = mapped_column(BigInteger)  # Upload-Length
    offset: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes durably staged
    # The decoded Upload-Metadata; "metadata" is reserved on declarative classes.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(32), default=None)  # principal id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    # receiving | completed | failed | terminated | expired
    status: Mapped[str] = mapped_column(String(16), default="receiving")
    error: Mapped[str | None] = mapped_column(Text, default=None)  # why it failed
    key: Mapped[str | None] = mapped_column(Text, default=None)  # where it was stored
    track_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Object staging only: the names of the committed pieces, in offset order; they
    # change with the offset in one compare-and-set (streamer/uploads/pieces.py).
    pieces: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # A whole upload's completion is claimed until then: by the request that brought the
    # last byte, a retry, or the recovery of failed completions (streamer.uploads.recovery).
    completing_until: Mapped[datetime | None] = mapped_column(default=None)


# --- playlists (streamer/playlists) ----------------------------------------------------


class Playlist(Base):
    """An ordered list of tracks, played as one HLS stream. Its library decides who may see
    (read) and change (write) it.

    ``revision`` is the revision the playlist shows now (undo and redo move it);
    ``last_revision`` is the highest number ever given, so a new edit after an undo takes a
    number no earlier state had, and an ETag (the revision) never names two contents.
    """

    __tablename__ = "playlists"
    __table_args__ = (Index("ix_playlists_library", "library_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    last_revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # A smart playlist's rule (streamer.playlists.rules; its items are computed, none
    # stored); None: an ordinary playlist.
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class PlaylistItem(Base):
    """One entry of a playlist: positions run 0..n-1 (a track may appear more than once)."""

    __tablename__ = "playlist_items"
    __table_args__ = (Index("ix_playlist_items_track", "track_id"),)

    playlist_id: Mapped[str] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))


class PlaylistRevision(Base):
    """A snapshot of a playlist after one change, for its history, undo and redo."""

    __tablename__ = "playlist_revisions"

    playlist_id: Mapped[str] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    track_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # smart only
    action: Mapped[str] = mapped_column(String(32))  # the audit action that made it
    actor_name: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- live events (streamer/events) -----------------------------------------------------


class Event(Base):
    """One live event (GET /api/v1/events): a job's progress, a scan, an upload, a track
    or playlist change. The table is the bus between processes and nodes: publishers
    insert, every worker reads ``WHERE id > last`` and fans out to its streams. Ids only
    grow (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so a client's Last-Event-ID
    always means the same place; old rows are pruned by age and count."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_created", "created_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    type: Mapped[str] = mapped_column(String(16))
    # Whose readers may see it; None: admins only.
    library_id: Mapped[str | None] = mapped_column(String(32), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- analytics: delivery events (streamer/analytics/capture.py, issue 17) ---------------


class DeliveryEventRow(Base):
    """One media or HLS answer (contract D of issue 17), written in batches by each
    worker's capture. ``ip`` is the client's raw address, cleared after 24 hours;
    ``listener`` the day's salted hash of the address (IPv6 /64) and user agent, which
    stays. On PostgreSQL the table is partitioned by day on ``at`` (migration 0013,
    streamer/analytics/repository.py): its primary key is then (id, at), which a
    partitioned table needs and the models cannot say for one backend only."""

    __tablename__ = "delivery_events"
    # One index, on time: every read (counting, rollups, maintenance, deletion on
    # request, whose hashes only exist for the days whose salts are kept) is by time, and
    # each index more is paid on every insert.
    __table_args__ = (Index("ix_delivery_events_at", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column()
    node: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # track | playlist | channel
    subject_id: Mapped[str] = mapped_column(String(64))
    rendition: Mapped[str] = mapped_column(String(64))
    segment: Mapped[int | None] = mapped_column(Integer, default=None)
    range_start: Mapped[int | None] = mapped_column(BigInteger, default=None)
    range_end: Mapped[int | None] = mapped_column(BigInteger, default=None)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[int] = mapped_column(Integer)
    sent: Mapped[int] = mapped_column(BigInteger)
    user_agent: Mapped[str] = mapped_column(Text)
    referrer: Mapped[str | None] = mapped_column(Text, default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    listener: Mapped[str] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2), default=None)


class AnalyticsSpoolFile(Base):
    """A spool file whose events are in delivery_events (streamer/analytics/spool.py):
    written in the same transaction as its rows, so a file found again after a crash
    between that commit and its deletion is deleted, not inserted twice. Pruned after
    ``spool.NAMES_KEPT_DAYS``."""

    __tablename__ = "analytics_spool_files"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AnalyticsSpoolBacklog(Base):
    """Per node, the oldest event still waiting in its spool (None: none waits), written
    with each batch the node's ingester inserts. A rollup counts no further than the
    oldest of these (reported within ``spool.BACKLOG_FRESH``), so events inserted late,
    when the ingester yields its CPU to the serving workers, are still counted."""

    __tablename__ = "analytics_spool_backlog"

    node: Mapped[str] = mapped_column(String(100), primary_key=True)
    oldest_at: Mapped[datetime | None] = mapped_column(default=None)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalyticsSalt(Base):
    """The secret salt of one UTC day's listener hashes, shared by every node. Deleted
    once the day is over by more than a day: the hashes of older events can then no
    longer be linked to an address."""

    __tablename__ = "analytics_salts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD (UTC)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- analytics: rollups, dashboards, scheduled reports, conversions (streamer/analytics) --


class _RollupColumns:
    """What an hourly and a daily rollup row share: one period (UTC start), one subject,
    one combination of dimensions ('' where unknown, so the unique key never holds NULL),
    and the sums of that cell. No per-listener data: ``listener_sketch`` is a
    HyperLogLog-style sketch (streamer/analytics/sketch.py) from which unique listeners
    across rows are estimated; hashes cannot be read back out of it."""

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    period: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))  # track | playlist | channel
    subject_id: Mapped[str] = mapped_column(String(64))
    app: Mapped[str] = mapped_column(String(100), default="")
    device: Mapped[str] = mapped_column(String(64), default="")
    os: Mapped[str] = mapped_column(String(64), default="")
    browser: Mapped[str] = mapped_column(String(64), default="")
    country: Mapped[str] = mapped_column(String(8), default="")
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    listeners: Mapped[int] = mapped_column(Integer, default=0)  # unique in this cell
    listener_sketch: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    listening_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    # Sessions that reached 25 %, 50 %, 75 % and 100 % of the subject's duration.
    q1: Mapped[int] = mapped_column(Integer, default=0)
    q2: Mapped[int] = mapped_column(Integer, default=0)
    q3: Mapped[int] = mapped_column(Integer, default=0)
    q4: Mapped[int] = mapped_column(Integer, default=0)


_ROLLUP_KEY = ("period", "kind", "subject_id", "app", "device", "os", "browser", "country")


class AnalyticsHourly(_RollupColumns, Base):
    __tablename__ = "analytics_hourly"
    __table_args__ = (
        Index("ux_analytics_hourly_key", *_ROLLUP_KEY, unique=True),
        Index("ix_analytics_hourly_subject", "kind", "subject_id", "period"),
    )


class AnalyticsDaily(_RollupColumns, Base):
    """Derived from the hourly rows of one UTC day (never from raw events)."""

    __tablename__ = "analytics_daily"
    __table_args__ = (
        Index("ux_analytics_daily_key", *_ROLLUP_KEY, unique=True),
        Index("ix_analytics_daily_subject", "kind", "subject_id", "period"),
    )


class RollupState(Base):
    """Where a rollup stands and who runs it: the lease (owner until a time) makes one
    node do the work, the watermark ((at, id) of the last event read) lets the next run
    continue where this one stopped, and the counter's serialised state carries what
    counting needs across runs (open sessions, partial downloads)."""

    __tablename__ = "analytics_rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    watermark_at: Mapped[datetime | None] = mapped_column(default=None)
    watermark_id: Mapped[int] = mapped_column(BigInteger, default=0)
    counter: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    # The earliest UTC day whose daily rows are older than its hourly ones (None: none).
    daily_dirty_from: Mapped[datetime | None] = mapped_column(default=None)
    events_read: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Dashboard(Base):
    """A user's own dashboard: named views (metric, filters, grouping, chart, place)."""

    __tablename__ = "analytics_dashboards"
    __table_args__ = (Index("ix_analytics_dashboards_owner", "owner_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64))  # "user:<id>" or "apikey:<id>"
    owner_name: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    views: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ScheduledReport(Base):
    """A report query run every day or week; runs are stored and, with a webhook, POSTed."""

    __tablename__ = "analytics_scheduled_reports"
    __table_args__ = (Index("ix_analytics_scheduled_due", "next_run_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64))
    owner_name: Mapped[str] = mapped_column(String(100))
    # The principal's readable libraries when saved (None: all), so runs see what it saw.
    libraries: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    cadence: Mapped[str] = mapped_column(String(8))  # daily | weekly
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    webhook_url: Mapped[str | None] = mapped_column(Text, default=None)
    next_run_at: Mapped[datetime] = mapped_column()
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReportRun(Base):
    """One generated report of a schedule, and what its webhook answered."""

    __tablename__ = "analytics_report_runs"
    __table_args__ = (
        Index("ix_analytics_report_runs_schedule", "schedule_id", "created_at"),
        Index("ix_analytics_report_runs_webhook_next", "webhook_next_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    schedule_id: Mapped[str] = mapped_column(
        ForeignKey("analytics_scheduled_reports.id", ondelete="CASCADE")
    )
    period_from: Mapped[datetime] = mapped_column()
    period_to: Mapped[datetime] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    webhook_status: Mapped[int | None] = mapped_column(Integer, default=None)
    webhook_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Tries of the webhook so far, and when the next is due (None: delivered, refused for
    # good, or out of tries: streamer/analytics/webhook_policy.py).
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    webhook_next_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversion(Base):
    """A conversion (pixel or server-to-server postback) with its campaign/source code."""

    __tablename__ = "analytics_conversions"
    __table_args__ = (
        Index("ix_analytics_conversions_at", "at"),
        Index("ix_analytics_conversions_listener", "listener"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    campaign: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(100), default="")
    listener: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(8))  # pixel | postback
    value: Mapped[float | None] = mapped_column(Float, default=None)


# --- channels (streamer/channels) ------------------------------------------------------


class Channel(Base):
    """A scheduled radio channel, played out as live HLS (/live/{id}/...).

    ``revision`` is the channel's ETag: every change of the channel or of one of its
    schedule entries increments it and writes a :class:`ChannelPlan` row, the plan as it
    stands from then on. Channels are server-wide (no library): any principal reads them,
    editors and admins change them; entries name playlists the editor can read.
    """

    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))  # IANA zone of the entries' wall times
    fill_mode: Mapped[str] = mapped_column(String(16), default="loop")  # loop|shuffle|fallback
    fill_playlist_id: Mapped[str | None] = mapped_column(String(32), default=None)
    track_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    artist_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    # Target loudness in LUFS for loudness-matched playout; None: levels as transcoded.
    loudness_target: Mapped[float | None] = mapped_column(Float, default=None)
    seed: Mapped[str] = mapped_column(String(64))  # shuffles are reproducible on every node
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelEntry(Base):
    """One schedule entry: a playlist from ``start`` (local wall time in the channel's
    zone, stored as ISO text without offset: it is not an instant) for a duration,
    repeated by an RFC 5545 RRULE except on the EXDATEs."""

    __tablename__ = "channel_entries"
    __table_args__ = (Index("ix_channel_entries_channel", "channel_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # No foreign key: a deleted playlist leaves the slot to the channel's fill.
    playlist_id: Mapped[str] = mapped_column(String(32))
    start: Mapped[str] = mapped_column(String(32))  # "2026-12-07T14:00:00"
    duration_seconds: Mapped[float] = mapped_column(Float)
    rrule: Mapped[str | None] = mapped_column(Text, default=None)
    exdates: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    order: Mapped[str] = mapped_column(String(16), default="sequential")  # or shuffle
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelPlan(Base):
    """The channel's plan (entries, fill, rules, the pools' track lists) from
    ``effective_from`` on. Rows are only added: an edit takes effect at a segment
    boundary after every node has seen it, so what went out is never recomputed
    differently. Old rows are kept as long as history reaches back."""

    __tablename__ = "channel_plans"

    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[datetime] = mapped_column()
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelPlayed(Base):
    """A play of a channel announced as a live ``channel`` event: the row is the claim
    (the first node to insert it publishes; the others find it there), and what the
    channel played, as announced. Pruned after ``channel_history_days``."""

    __tablename__ = "channel_played"
    __table_args__ = (Index("ix_channel_played_started", "started_at"),)

    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    started_at: Mapped[datetime] = mapped_column(primary_key=True)
    track_id: Mapped[str] = mapped_column(String(32))
    entry_id: Mapped[str | None] = mapped_column(String(32), default=None)
    playlist_id: Mapped[str | None] = mapped_column(String(32), default=None)


class ChannelCheckpoint(Base):
    """Sequence numbers of a channel's live stream at a segment boundary
    (``streamer.channels.sequence``): the segment starting at ``at`` has media sequence
    ``media_sequence``, after ``discontinuity_sequence`` discontinuities. Every node
    computes the same values from the plan rows, so writers insert-or-ignore."""

    __tablename__ = "channel_checkpoints"

    channel_id: Mapped[str] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(primary_key=True)
    media_sequence: Mapped[int] = mapped_column(BigInteger)
    discontinuity_sequence: Mapped[int] = mapped_column(BigInteger)


class Advertiser(Base):
    """Who pays for campaigns (streamer.ads). Ads are server-wide, like channels: editors
    and admins manage them."""

    __tablename__ = "ad_advertisers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The default competitive category of its campaigns (no two of one category in a break).
    category: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AdCampaign(Base):
    """A campaign: flight, goal, price, priority tier, targeting and caps (their JSON
    shapes are ``streamer.ads.stored``'s). ``revision`` is its ETag; every node reads the
    row at each decision, so a pause or a new cap holds from the next break on."""

    __tablename__ = "ad_campaigns"
    __table_args__ = (Index("ix_ad_campaigns_advertiser", "advertiser_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    advertiser_id: Mapped[str] = mapped_column(ForeignKey("ad_advertisers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(16))  # sponsorship | standard | house
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    goal: Mapped[int | None] = mapped_column(BigInteger, default=None)  # impressions
    price_model: Mapped[str] = mapped_column(String(16), default="cpm")  # cpm | flat
    price: Mapped[float] = mapped_column(Float, default=0.0)  # per mille, or the whole flight
    category: Mapped[str | None] = mapped_column(String(100), default=None)
    targeting: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    caps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ads of the campaign placed in listener sessions so far (added as each session is
    # stored): what pacing and the goal count (the report counts delivered impressions).
    served: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AdCreative(Base):
    """An ad of a campaign, sold for a slot of ``slot_seconds``. Its audio is a catalogued
    track (uploaded like any other, transcoded to the same ladder); each replacement is a
    new version, and ``current_version`` can be set back to an earlier one."""

    __tablename__ = "ad_creatives"
    __table_args__ = (Index("ix_ad_creatives_campaign", "campaign_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("ad_campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    slot_seconds: Mapped[float] = mapped_column(Float)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AdCreativeVersion(Base):
    """One version of a creative: the track that holds its audio. Deleting the track
    deletes the version; a creative whose current version is gone is invalid until it
    gets a new one or is set back to another."""

    __tablename__ = "ad_creative_versions"
    __table_args__ = (Index("ix_ad_creative_versions_track", "track_id"),)

    creative_id: Mapped[str] = mapped_column(
        ForeignKey("ad_creatives.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdTrackBreaks(Base):
    """Where a track takes ads (streamer.ads.breaks): pre-roll, mid-rolls at a time or a
    cue point, post-roll, each with the seconds it may fill."""

    __tablename__ = "ad_track_breaks"

    track_id: Mapped[str] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    breaks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AdPlaylistBreaks(Base):
    """Where a playlist played as one stream takes ads (streamer.ads.breaks): pre-roll,
    between items (after every n), post-roll."""

    __tablename__ = "ad_playlist_breaks"

    playlist_id: Mapped[str] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    breaks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AdSession(Base):
    """One listener's session of a track or a playlist with ads (``kind``, ``subject_id``):
    the ads decided for each break when it started, so every rendition's playlist, every
    reload and every node lists the same ones (``plan``: streamer.ads.sessions).
    ``listener`` is analytics' listener of the day (a salted hash, never the address):
    frequency caps read a listener's recent sessions."""

    __tablename__ = "ad_sessions"
    __table_args__ = (Index("ix_ad_sessions_listener", "listener", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # track | playlist: what the session plays
    subject_id: Mapped[str] = mapped_column(String(32))
    listener: Mapped[str | None] = mapped_column(String(64), default=None)
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
