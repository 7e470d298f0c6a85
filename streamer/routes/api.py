"""The admin JSON API at /api/v1 (FastAPI): the catalogue (read-only for now) and jobs.

Every endpoint takes the caller's principal through one dependency, so authentication and
per-library permissions slot in later without touching the handlers. Errors are
application/problem+json (RFC 9457).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

import streamer.catalogue.repository as repository
import streamer.catalogue.search as search
from streamer.catalogue.editing import etag_of
from streamer.db import Database, Library, Rendition, Track
from streamer.errors import ObjectNotFound, StorageError
from streamer.http.signing import make_token
from streamer.jobs import rows as job_rows
from streamer.routes.api_ad_breaks import ad_breaks_router
from streamer.routes.api_ad_creatives import ad_creatives_router
from streamer.routes.api_ad_reports import ad_reports_router
from streamer.routes.api_ads import ads_router
from streamer.routes.api_analytics import analytics_router
from streamer.routes.api_app_passwords import app_passwords_router
from streamer.routes.api_audit import audit_router
from streamer.routes.api_auth import auth_router
from streamer.routes.api_cache import cache_router
from streamer.routes.api_channels import channels_router
from streamer.routes.api_common import (
    PROBLEM,
    PROBLEM_RESPONSES,
    DatabaseDep,
    PrincipalDep,
    SettingsDep,
    StoresDep,
    http_error,
    internal_error,
    require_access,
    validation_error,
)
from streamer.routes.api_conversions import conversions_router
from streamer.routes.api_dashboards import dashboards_router
from streamer.routes.api_events import events_router
from streamer.routes.api_jobs import JobOut, jobs_router
from streamer.routes.api_libraries import libraries_router
from streamer.routes.api_playlists import playlists_router
from streamer.routes.api_scheduled_reports import scheduled_reports_router
from streamer.routes.api_stats import stats_router
from streamer.routes.api_track_edits import track_edits_router
from streamer.routes.api_users import users_router
from streamer.routes.uploads import uploads_router

_MAX_WAVEFORM_BYTES = 4 * 1024 * 1024  # 2,000 points take about 30 KB


class CoverOut(BaseModel):
    mime: str
    size: int | None


class LoudnessOut(BaseModel):
    integrated_lufs: float | None
    range_lu: float | None
    true_peak_dbtp: float | None


class RenditionOut(BaseModel):
    name: str
    codec: str
    codecs: str
    bitrate: int | None
    peak_bitrate: int
    average_bitrate: int
    sample_rate: int
    channels: int
    duration: float
    size: int
    gain_db: float  # loudness normalisation applied before encoding
    urls: dict[str, str]

    @classmethod
    def of(cls, rendition: Rendition) -> RenditionOut:
        track_id, name = rendition.track_id, rendition.name
        return cls(
            name=name,
            codec=rendition.codec,
            codecs=rendition.codecs,
            bitrate=rendition.bitrate,
            peak_bitrate=rendition.peak_bitrate,
            average_bitrate=rendition.average_bitrate,
            sample_rate=rendition.sample_rate,
            channels=rendition.channels,
            duration=rendition.duration,
            size=rendition.size,
            gain_db=rendition.gain_db,
            urls={
                "playlist": f"/hls/{track_id}/{name}/index.m3u8",
                "progressive": f"/media/{track_id}/{name}.m4a",
            },
        )


class TrackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    library_id: str
    path: str
    status: Literal["ok", "error", "gone"]
    error: str | None
    size: int
    content_type: str
    duration: float | None
    codec: str | None
    bitrate: int | None
    sample_rate: int | None
    channels: int | None
    bits_per_sample: int | None
    title: str | None
    artist: str | None
    album: str | None
    album_artist: str | None
    genre: str | None
    year: int | None
    track_number: int | None
    disc_number: int | None
    tags: dict[str, Any]  # the file's own tags, as read by the scan
    labels: list[str]  # user labels: what ?tag= filters on, edited through the API
    edited: list[str]  # fields edited through the API, which a rescan keeps
    version: int  # the row version: the ETag is "<id>.<version>"
    cover: CoverOut | None
    loudness: LoudnessOut | None
    # Listed on GET /tracks/{id} only (None in pages): the newest ladder's renditions.
    renditions: list[RenditionOut] | None = None
    # The track's newest job (transcoding state and progress), if it ever had one.
    job: JobOut | None = None
    urls: dict[str, str]
    scanned_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, track: Track) -> TrackOut:
        return cls(
            id=track.id,
            library_id=track.library_id,
            path=track.key,
            status=track.status,
            error=track.error,
            size=track.size,
            content_type=track.content_type,
            duration=track.duration,
            codec=track.codec,
            bitrate=track.bitrate,
            sample_rate=track.sample_rate,
            channels=track.channels,
            bits_per_sample=track.bits_per_sample,
            title=track.title,
            artist=track.artist,
            album=track.album,
            album_artist=track.album_artist,
            genre=track.genre,
            year=track.year,
            track_number=track.track_number,
            disc_number=track.disc_number,
            tags=track.tags or {},
            labels=list(track.labels or []),
            edited=sorted(track.overrides or {}),
            version=track.row_version,
            cover=CoverOut(mime=track.cover_mime, size=track.cover_size)
            if track.cover_mime
            else None,
            loudness=LoudnessOut(
                integrated_lufs=track.loudness_integrated,
                range_lu=track.loudness_range,
                true_peak_dbtp=track.true_peak,
            )
            if track.loudness_range is not None
            else None,
            urls=_track_urls(track),
            scanned_at=track.scanned_at,
            updated_at=track.updated_at,
        )


def _track_urls(track: Track) -> dict[str, str]:
    urls = {"original": f"/media/{track.id}/original"}
    if track.cover_key:
        urls["cover"] = f"/media/{track.id}/cover"
    if track.waveform_key:
        urls["waveform"] = f"/api/v1/tracks/{track.id}/waveform"
    return urls


class WaveformOut(BaseModel):
    """Peaks for drawing: ``points`` equal slices of the track, each [min, max] in -1..1."""

    duration: float | None
    points: list[tuple[float, float]]


class SignedOut(BaseModel):
    """URLs of a track that work until ``expires`` (Unix seconds) with URL signing on."""

    expires: int
    token: str  # opens /hls/{id}/ and /media/{id}/: add ?token= to any of their URLs
    urls: dict[str, str]


class TrackPage(BaseModel):
    items: list[TrackOut]
    total: int
    limit: int
    offset: int
    # Pass as ?cursor= (with the same filters and sort) for the next page; None: the last.
    next_cursor: str | None = None


SortName = Literal[
    "title", "-title", "artist", "-artist", "album", "-album", "year", "-year",
    "duration", "-duration", "created_at", "-created_at", "scanned_at", "-scanned_at",
]  # fmt: skip


class LibraryOut(BaseModel):
    id: str
    name: str
    root: str
    created_at: datetime
    last_scan_at: datetime | None
    last_scan: dict[str, Any] | None

    @classmethod
    def of(cls, library: Library) -> LibraryOut:
        return cls(
            id=library.id,
            name=library.name,
            root=library.root,
            created_at=library.created_at,
            last_scan_at=library.last_scan_at,
            last_scan=library.last_scan,
        )


def document_common_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Name the errors every operation of a kind can answer, which FastAPI leaves out:
    400 for a body that is not JSON, 412 for If-Match and tus preconditions, and the
    HTTP layer's refusals of an oversized or slow request (streamer.request_limits; plain
    text, for they are answered before the request reaches the API)."""
    problem = {"$ref": "#/components/schemas/Problem"}
    text = {"text/plain": {"schema": {"type": "string"}}}
    refusals = [
        ("414", "The request target (URL) is longer than request_line_max"),
        ("431", "A header field, or all of them, exceed the request header limits"),
    ]
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            params = {p.get("name", "").lower() for p in operation.get("parameters", [])}
            wanted = []
            if "requestBody" in operation:
                wanted.append(("400", "The body is not valid JSON"))
                wanted.append(("413", "The body is over api_max_body_bytes"))
            if "if-match" in params or path.startswith("/uploads"):
                wanted.append(("412", "A precondition failed"))
            for status, description in wanted:
                responses.setdefault(
                    status,
                    {"description": description, "content": {PROBLEM: {"schema": problem}}},
                )
            timed_out = [("408", "The request's body stalled (client_body_timeout)")]
            for status, description in refusals + (timed_out if "requestBody" in operation else []):
                responses.setdefault(status, {"description": description, "content": text})
    return spec


async def _full_track(db: Database, track: Track) -> TrackOut:
    out = TrackOut.of(track)
    renditions = await repository.current_renditions(db, track.id)
    out.renditions = [RenditionOut.of(r) for r in renditions]
    if renditions:
        out.urls["hls"] = f"/hls/{track.id}/master.m3u8"
    job = (await job_rows.latest_jobs(db, [track.id])).get(track.id)
    out.job = JobOut.of(job) if job is not None else None
    return out


async def _render_track(db: Database, track_id: str) -> dict[str, Any]:
    track = await repository.get_track(db, track_id)
    if track is None:  # deleted between the edit and this read
        raise HTTPException(404, "no such track")
    return (await _full_track(db, track)).model_dump(mode="json")


def create_api() -> FastAPI:
    """The /api/v1 application; the outer app sets ``state.db`` before serving."""
    api = FastAPI(
        title="Streamer admin API",
        version="1",
        # The API is mounted at /api/v1: clients of the spec (Swagger UI's "Try it out",
        # code generators) need the prefix.
        servers=[{"url": "/api/v1"}],
        # Served below behind credentials, like everything else in the API.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        exception_handlers={
            StarletteHTTPException: http_error,
            RequestValidationError: validation_error,
            Exception: internal_error,
        },
    )

    @api.get("/tracks", response_model=TrackPage, responses=PROBLEM_RESPONSES, tags=["tracks"])
    async def list_tracks(
        db: DatabaseDep,
        principal: PrincipalDep,
        library: Annotated[str | None, Query(description="library id")] = None,
        codec: Annotated[str | None, Query(max_length=32)] = None,
        status: Annotated[Literal["ok", "error", "gone"] | None, Query()] = None,
        q: Annotated[
            str | None,
            Query(
                max_length=200,
                description="words that must each begin a word of the title, artist, "
                "album, labels or path (case-insensitive)",
            ),
        ] = None,
        tag: Annotated[
            list[str] | None,
            Query(max_length=64, description="a label; repeat for several (see tags_mode)"),
        ] = None,
        tags_mode: Annotated[
            Literal["any", "all"], Query(description="any: one of the tags; all: every one")
        ] = "any",
        genre: Annotated[str | None, Query(max_length=200)] = None,
        year_min: Annotated[int | None, Query(ge=0, le=9999)] = None,
        year_max: Annotated[int | None, Query(ge=0, le=9999)] = None,
        duration_min: Annotated[float | None, Query(ge=0, description="seconds")] = None,
        duration_max: Annotated[float | None, Query(ge=0, description="seconds")] = None,
        sort: Annotated[
            SortName, Query(description="field to sort by, '-' first for descending")
        ] = "-scanned_at",
        cursor: Annotated[
            str | None,
            Query(max_length=2000, description="next_cursor of the previous page"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> TrackPage:
        """List the tracks the caller may read: searched, filtered (all filters combine),
        sorted (ties broken by id), paged by ``cursor`` (or by ``offset``, not both)."""
        if cursor and offset:
            raise HTTPException(422, "pass either cursor or offset, not both")
        where = search.TrackFilter(
            readable=principal.readable_libraries(),
            library=library,
            q=q,
            tags=tag or (),
            tags_mode=tags_mode,
            genre=genre,
            year_min=year_min,
            year_max=year_max,
            duration_min=duration_min,
            duration_max=duration_max,
            codec=codec,
            status=status,
        )
        try:
            found = await search.search_tracks(
                db, where, sort=sort, limit=limit, offset=offset, cursor=cursor
            )
        except search.InvalidCursor as exc:
            raise HTTPException(422, str(exc)) from None
        jobs = await job_rows.latest_jobs(db, [t.id for t in found.tracks])
        items = []
        for track in found.tracks:
            out = TrackOut.of(track)
            job = jobs.get(track.id)
            out.job = JobOut.of(job) if job is not None else None
            items.append(out)
        return TrackPage(
            items=items,
            total=found.total,
            limit=limit,
            offset=offset,
            next_cursor=found.next_cursor,
        )

    @api.get(
        "/tracks/{track_id}", response_model=TrackOut, responses=PROBLEM_RESPONSES, tags=["tracks"]
    )
    async def get_track(
        track_id: str, db: DatabaseDep, principal: PrincipalDep, response: Response
    ) -> TrackOut:
        """One track with its metadata, labels, scan status, loudness, renditions, newest
        job and media URLs (original, HLS, cover, waveform). ``ETag`` names the row
        version, which every edit increments: send it as ``If-Match`` to PATCH."""
        track = await repository.get_track(db, track_id)
        if track is None:
            raise HTTPException(404, "no such track")
        require_access(principal, track.library_id, "read", "track")
        response.headers["ETag"] = etag_of(track.id, track.row_version)
        return await _full_track(db, track)

    @api.get(
        "/tracks/{track_id}/signed",
        response_model=SignedOut,
        responses={**PROBLEM_RESPONSES, 409: {"content": {PROBLEM: {}}}},
        tags=["tracks"],
    )
    async def sign_track(
        track_id: str,
        db: DatabaseDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        seconds: Annotated[int | None, Query(ge=60, le=7 * 86400)] = None,
    ) -> SignedOut:
        """Signed URLs of the track (HLS master, original), valid for ``seconds``
        (default ``signed_url_seconds``). 409 when URL signing is off."""
        if not settings.url_signing_secret:
            raise HTTPException(409, "URL signing is off (url_signing_secret is not set)")
        track = await repository.get_track(db, track_id)
        if track is None:
            raise HTTPException(404, "no such track")
        require_access(principal, track.library_id, "read", "track")
        expires = int(time.time()) + (seconds or settings.signed_url_seconds)
        token = make_token(settings.url_signing_secret.encode(), f"track:{track_id}", expires)
        return SignedOut(
            expires=expires,
            token=token,
            urls={
                "hls": f"/hls/{track_id}/master.m3u8?token={token}",
                "original": f"/media/{track_id}/original?token={token}",
            },
        )

    @api.get(
        "/tracks/{track_id}/waveform",
        response_model=WaveformOut,
        responses={**PROBLEM_RESPONSES, 503: {"content": {PROBLEM: {}}}},
        tags=["tracks"],
    )
    async def get_waveform(
        track_id: str, db: DatabaseDep, stores: StoresDep, principal: PrincipalDep
    ) -> Response:
        """The track's waveform peaks, measured when it was transcoded."""
        found = await repository.get_track_with_root(db, track_id)
        if found is not None:
            require_access(principal, found[0].library_id, "read", "track")
        key = found[0].waveform_key if found is not None else None
        if found is None or key is None:
            raise HTTPException(404, "no waveform for this track (not transcoded yet?)")
        track, root = found
        try:
            store = await stores.get(root)
            info = await store.stat(key)
            if info.size > _MAX_WAVEFORM_BYTES:
                raise HTTPException(500, "the stored waveform is too large")
            raw = await store.read(key, 0, info.size)
        except ObjectNotFound:
            raise HTTPException(404, "the waveform is gone; transcode the track again") from None
        except StorageError:
            raise HTTPException(503, "storage unavailable", headers={"Retry-After": "5"}) from None
        points = json.loads(raw)["points"]
        body = json.dumps({"duration": track.duration, "points": points}, separators=(",", ":"))
        return Response(body, media_type="application/json")

    @api.get("/libraries", response_model=list[LibraryOut], tags=["libraries"])
    async def list_libraries(db: DatabaseDep, principal: PrincipalDep) -> list[LibraryOut]:
        """Every library the caller may read, with the summary of its last scan."""
        libraries = await repository.list_libraries(db, principal.readable_libraries())
        return [LibraryOut.of(lib) for lib in libraries]

    @api.get(
        "/libraries/{library_id}",
        response_model=LibraryOut,
        responses=PROBLEM_RESPONSES,
        tags=["libraries"],
    )
    async def get_library(library_id: str, db: DatabaseDep, principal: PrincipalDep) -> LibraryOut:
        """One library."""
        require_access(principal, library_id, "read", "library")
        library = await repository.get_library(db, library_id)
        if library is None:
            raise HTTPException(404, "no such library")
        return LibraryOut.of(library)

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi(_principal: PrincipalDep) -> JSONResponse:
        if api.openapi_schema is None:
            api.openapi_schema = document_common_errors(api.openapi())
        return JSONResponse(api.openapi_schema)

    @api.get("/docs", include_in_schema=False)
    async def docs(_principal: PrincipalDep) -> HTMLResponse:
        # Swagger UI 5 (it renders OpenAPI 3.1) from the admin's vendored npm files.
        return get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="Streamer API",
            swagger_js_url="/admin/vendor/swagger-ui-bundle.js",
            swagger_css_url="/admin/vendor/swagger-ui.css",
            swagger_favicon_url="/admin/favicon.svg",
        )

    api.include_router(auth_router())
    api.include_router(users_router())
    api.include_router(app_passwords_router())
    api.include_router(audit_router())
    api.include_router(libraries_router())
    api.include_router(jobs_router())
    api.include_router(cache_router())
    api.include_router(stats_router())
    api.include_router(uploads_router())
    api.include_router(playlists_router())
    api.include_router(channels_router())
    api.include_router(track_edits_router(_render_track))
    api.include_router(events_router())
    api.include_router(analytics_router())
    api.include_router(conversions_router())
    api.include_router(dashboards_router())
    api.include_router(scheduled_reports_router())
    api.include_router(ads_router())
    api.include_router(ad_creatives_router())
    api.include_router(ad_breaks_router())
    api.include_router(ad_reports_router())
    return api
