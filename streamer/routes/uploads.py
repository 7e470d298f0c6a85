"""/api/v1/uploads: tus 1.0 resumable uploads (core, creation, creation-with-upload,
termination, checksum, expiration) into a library, and JSON views of upload state.

Protocol parsing lives in ``streamer.uploads.protocol``, staging (local files or object-store
pieces, one protocol) in ``streamer.uploads.stagings`` and the state transitions in
``streamer.uploads.service``; this module checks the caller and maps outcomes to responses.
Every response carries ``Tus-Resumable`` (the route class below adds it, errors included).
See docs/uploads.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from streamer.auth.access import Principal
from streamer.catalogue.repository import get_library
from streamer.db import Database, Upload
from streamer.db.models import utcnow
from streamer.errors import StorageError
from streamer.events.publish import EventPublisher
from streamer.http.content_types import AUDIO_EXTENSIONS
from streamer.http.dates import format_http_date
from streamer.routes.api_common import (
    PROBLEM,
    PROBLEM_RESPONSES,
    DatabaseDep,
    EventsDep,
    PrincipalDep,
    Problem,
    SettingsDep,
    StoresDep,
    actor,
    http_error,
    problem,
    require_access,
    validation_error,
)
from streamer.settings import Settings
from streamer.storage.registry import StoreRegistry
from streamer.uploads import protocol, service
from streamer.uploads.protocol import OFFSET_CONTENT_TYPE, TUS_VERSION, TusError
from streamer.uploads.sniff import SNIFF_BYTES, sniff
from streamer.uploads.staging import BodyTooLarge, UploadBusy
from streamer.uploads.stagings import Staging, UploadWriter, staging_for

__all__ = ["UploadOut", "uploads_router"]

_GONE = {"terminated": "was terminated", "expired": "has expired", "failed": "failed"}


class UploadOut(BaseModel):
    id: str
    library_id: str
    filename: str
    length: int
    offset: int
    status: service.UploadStatus
    error: str | None  # why a failed upload failed
    metadata: dict[str, Any]
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None  # for unfinished uploads
    key: str | None  # where a completed upload was stored in its library
    track_id: str | None
    urls: dict[str, str]

    @classmethod
    def of(cls, upload: Upload) -> UploadOut:
        urls = {"self": f"/api/v1/uploads/{upload.id}"}
        if upload.track_id:
            urls["track"] = f"/api/v1/tracks/{upload.track_id}"
        return cls(
            id=upload.id,
            library_id=upload.library_id,
            filename=upload.filename,
            length=upload.length,
            offset=upload.offset,
            status=upload.status,
            error=upload.error,
            metadata=upload.meta or {},
            created_by=upload.created_by,
            created_at=upload.created_at,
            updated_at=upload.updated_at,
            expires_at=upload.expires_at if upload.status == "receiving" else None,
            key=upload.key,
            track_id=upload.track_id,
            urls=urls,
        )


class TusRoute(APIRoute):
    """Adds Tus-Resumable to every response, errors (auth, validation) included, and
    answers TusError with its status as application/problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except TusError as exc:
                response = problem(exc.status, exc.detail)
                if exc.status == 412:
                    response.headers["Tus-Version"] = TUS_VERSION
            except StarletteHTTPException as exc:
                response = await http_error(request, exc)
            except RequestValidationError as exc:
                response = await validation_error(request, exc)
            response.headers["Tus-Resumable"] = TUS_VERSION
            return response

        return tus_handler


async def _staging(settings: SettingsDep, stores: StoresDep) -> Staging:
    return await staging_for(settings, stores)


StagingDep = Annotated[Staging, Depends(_staging)]


def _discovery(settings: Settings) -> dict[str, str]:
    return {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(protocol.EXTENSIONS),
        "Tus-Max-Size": str(settings.upload_max_bytes),
        "Tus-Checksum-Algorithm": ",".join(protocol.CHECKSUM_ALGORITHMS),
    }


def _expires(upload: Upload) -> str:
    return format_http_date(upload.expires_at.timestamp())


def _state_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset), "Cache-Control": "no-store"}
    if upload.status == "receiving":
        headers["Upload-Expires"] = _expires(upload)
    return headers


async def _upload_for(
    db: Database, principal: Principal, upload_id: str, want: str, *, live: bool
) -> Upload:
    """The upload, if the caller may ``want`` its library. ``live``: one that can still
    take bytes (404 unknown, 410 terminated, expired or failed)."""
    upload = await service.get_upload(db, upload_id) if upload_id.isalnum() else None
    if upload is None:
        raise HTTPException(404, "no such upload")
    require_access(principal, upload.library_id, want, "upload")  # type: ignore[arg-type]
    if live:
        if upload.status == "receiving" and upload.expires_at <= utcnow():
            raise HTTPException(410, "the upload has expired")
        if upload.status in _GONE:
            detail = f"the upload {_GONE[upload.status]}"
            raise HTTPException(410, f"{detail}: {upload.error}" if upload.error else detail)
    return upload


def _offset_body(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OFFSET_CONTENT_TYPE:
        raise TusError(415, f"the body must be {OFFSET_CONTENT_TYPE}")
    return True


class _Transfer:
    """One request's bytes into an upload: the shared body of PATCH and of a POST with
    creation-with-upload. Returns the response's status and extra headers."""

    def __init__(
        self,
        request: Request,
        db: Database,
        settings: Settings,
        stores: StoreRegistry,
        staging: Staging,
        principal: Principal,
        events: EventPublisher,
    ) -> None:
        self.request = request
        self.db = db
        self.settings = settings
        self.stores = stores
        self.staging = staging
        self.events = events
        self.actor = actor(request, principal)

    async def run(self, upload: Upload, checksum: protocol.Checksum | None) -> Response | None:
        """Stage the body; complete the upload if it is whole. A response when the
        request must fail, None on success (the caller answers)."""
        remaining = upload.length - upload.offset
        declared = self.request.headers.get("content-length")
        # At most 20 digits are read: more are past any remaining size anyway.
        digits = declared.strip().lstrip("0")[:20] if declared is not None else ""
        if digits.isascii() and digits.isdigit() and int(digits) > remaining:
            raise TusError(413, f"the body is larger than the {remaining} bytes still expected")
        try:
            writer = await self.staging.open_writer(upload.id, upload.offset)
        except UploadBusy:
            raise TusError(423, "another request is writing this upload; try again") from None
        try:
            try:
                return await self._stage(writer, upload, checksum, remaining)
            except StorageError as exc:
                # Object staging only (local staging raises OSError): the bytes of this
                # request were not kept, the offset did not move; the client resends them.
                raise HTTPException(
                    503, f"upload staging unavailable: {exc}", {"Retry-After": "5"}
                ) from exc
            finally:
                await writer.close()
        except _NotAudio as exc:
            return await self._refuse(upload, exc.reason)

    async def _refuse(self, upload: Upload, reason: str) -> Response:
        """The first bytes are clearly not audio: the upload fails now, as a failed
        completion would, and the connection closes rather than take the rest."""
        await service.refuse_upload(self.db, self.staging, upload, self.actor, self.events, reason)
        response = problem(422, upload.error)
        response.headers.update(_state_headers(upload))
        response.headers["Connection"] = "close"
        return response

    async def _stage(
        self,
        writer: UploadWriter,
        upload: Upload,
        checksum: protocol.Checksum | None,
        remaining: int,
    ) -> Response | None:
        hasher = checksum.new() if checksum is not None else None
        retry = remaining == 0  # all bytes were staged before: a completion tried again
        body: AsyncIterator[bytes] = self.request.stream()
        if upload.offset == 0:
            body = _sniffed(body, upload.length)
        try:
            await writer.receive(body, remaining, hasher)
        except ClientDisconnect:
            # Keep what arrived, so the client resumes from there; a chunk that carried a
            # checksum cannot be verified in part, so it is dropped whole.
            if checksum is not None:
                await writer.rollback()
            else:
                await self._commit(writer, upload)
            return Response(status_code=400)  # nobody is listening
        except BodyTooLarge:
            await writer.rollback()
            raise TusError(
                413, f"the body is larger than the {remaining} bytes still expected"
            ) from None
        except BaseException:
            await writer.rollback()
            raise
        if checksum is not None and hasher is not None and hasher.digest() != checksum.digest:
            await writer.rollback()
            # 460 Checksum Mismatch is tus's own status; HTTPStatus does not know it.
            return _checksum_mismatch(checksum.algorithm)
        await self._commit(writer, upload)
        if upload.offset == upload.length:
            # The request that moved the offset to the end claimed the completion with it;
            # a retry claims it here, unless another request or node is completing it.
            if retry and not await service.claim_completion(self.db, upload):
                raise TusError(423, "the upload is being completed; ask for its state later")
            return await self._complete(upload)
        return None

    async def _commit(self, writer: UploadWriter, upload: Upload) -> None:
        if writer.position == upload.offset:
            return
        await writer.sync()
        if not await service.move_offset(
            self.db, upload, writer.position, service.expiry(self.settings), piece=writer.piece
        ):
            await writer.rollback()
            raise TusError(409, "the upload moved on meanwhile; ask for its offset again")

    async def _complete(self, upload: Upload) -> Response | None:
        try:
            await service.complete_upload(
                self.db, self.stores, self.settings, self.staging, upload, self.actor, self.events
            )
        except StorageError as exc:
            # The bytes are all staged: a zero-byte PATCH at this offset tries again, and
            # so does the server's own recovery (streamer.uploads.recovery) meanwhile.
            await service.release_completion(self.db, upload)
            raise HTTPException(503, f"storage unavailable: {exc}", {"Retry-After": "5"}) from exc
        if upload.status == "failed":
            response = problem(422, upload.error)
            response.headers.update(_state_headers(upload))
            return response
        return None


class _NotAudio(Exception):
    """An upload's first bytes are clearly not audio (streamer.uploads.sniff)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _sniffed(chunks: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    """``chunks``, the body that starts an upload, with its first bytes held back until
    sniff() has judged them (SNIFF_BYTES at most, or the whole body if shorter): raises
    _NotAudio before the writer has seen a byte of a body that is clearly not audio."""
    held: list[bytes] | None = []
    size = 0
    try:
        async for chunk in chunks:
            if held is None:
                yield chunk
                continue
            held.append(chunk)
            size += len(chunk)
            if size >= min(SNIFF_BYTES, length):
                await _judge(b"".join(held), whole=size >= length)
                for part in held:
                    yield part
                held = None
    except _NotAudio:
        raise
    except Exception:
        # The client went away: what arrived is kept for it to resume from, if it may be
        # audio (the writer keeps what it got before the error).
        if held:
            await _judge(b"".join(held), whole=False)
            for part in held:
                yield part
        raise
    if held:
        await _judge(b"".join(held), whole=size >= length)
        for part in held:
            yield part


async def _judge(head: bytes, *, whole: bool) -> None:
    # A worker thread: a head of many 0xFF bytes takes sniff() a good fraction of 0.1 s.
    verdict = await asyncio.to_thread(sniff, head, whole=whole)
    if verdict.kind == "not audio":
        raise _NotAudio(f"not an audio file ({verdict.what})")


def _checksum_mismatch(algorithm: str) -> Response:
    # 460 Checksum Mismatch is tus's own status, unknown to HTTPStatus (and to problem()).
    body = Problem(
        title="Checksum Mismatch",
        status=460,
        detail=f"the chunk's {algorithm} does not match Upload-Checksum; it was discarded",
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=460, media_type=PROBLEM)


def uploads_router() -> APIRouter:
    router = APIRouter(prefix="/uploads", tags=["uploads"], route_class=TusRoute)

    @router.options("", status_code=204)
    @router.options("/{upload_id}", status_code=204, include_in_schema=False)
    async def discover(settings: SettingsDep) -> Response:
        """tus discovery: version, extensions, size limit, checksum algorithms. No
        credentials needed (browsers send it as a CORS preflight)."""
        return Response(status_code=204, headers=_discovery(settings))

    @router.post("", status_code=201, responses=PROBLEM_RESPONSES)
    async def create(
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        stores: StoresDep,
        staging: StagingDep,
        principal: PrincipalDep,
        events: EventsDep,
    ) -> Response:
        """tus creation (and creation-with-upload). Upload-Metadata needs ``filename`` (an
        audio file name) and ``library`` (a library id with write access)."""
        headers = request.headers
        protocol.check_version(headers.get("tus-resumable"))
        length = protocol.parse_length(headers.get("upload-length"), settings.upload_max_bytes)
        metadata = protocol.parse_metadata(headers.get("upload-metadata"))
        library_id, filename = metadata.get("library"), metadata.get("filename")
        if not library_id or not filename:
            raise TusError(400, "Upload-Metadata needs 'filename' and 'library' (a library id)")
        require_access(principal, library_id, "write", "library")
        if await get_library(db, library_id) is None:
            raise HTTPException(404, "no such library")
        try:
            name = protocol.safe_filename(filename)
        except ValueError as exc:
            raise TusError(400, str(exc)) from None
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        if extension not in AUDIO_EXTENSIONS:
            allowed = ", ".join(sorted(AUDIO_EXTENSIONS))
            raise TusError(400, f"{filename!r} is not an audio file name (one of: {allowed})")
        has_body = int(headers.get("content-length") or 0) > 0 or "transfer-encoding" in headers
        checksum = protocol.parse_checksum(headers.get("upload-checksum"))
        if has_body:
            _offset_body(request)
        upload = await service.create_upload(
            db,
            staging,
            actor(request, principal),
            library_id=library_id,
            filename=filename,
            length=length,
            metadata=metadata,
            expires_at=service.expiry(settings),
        )
        location = f"{str(request.url.replace(query=None)).rstrip('/')}/{upload.id}"
        failed: Response | None = None
        if has_body or length == 0:
            transfer = _Transfer(request, db, settings, stores, staging, principal, events)
            failed = await transfer.run(upload, checksum if has_body else None)
        if failed is not None:
            failed.headers["Location"] = location
            return failed
        return Response(status_code=201, headers={"Location": location, **_state_headers(upload)})

    @router.head("/{upload_id}", responses=PROBLEM_RESPONSES)
    async def offset(
        upload_id: str, request: Request, db: DatabaseDep, principal: PrincipalDep
    ) -> Response:
        """tus core: where to resume (Upload-Offset), with Upload-Length and expiry."""
        protocol.check_version(request.headers.get("tus-resumable"))
        upload = await _upload_for(db, principal, upload_id, "write", live=True)
        headers = {**_state_headers(upload), "Upload-Length": str(upload.length)}
        if request.headers.get("upload-metadata") is None and upload.meta:
            headers["Upload-Metadata"] = protocol.encode_metadata(upload.meta)
        return Response(status_code=200, headers=headers)

    @router.patch("/{upload_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def append(
        upload_id: str,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        stores: StoresDep,
        staging: StagingDep,
        principal: PrincipalDep,
        events: EventsDep,
    ) -> Response:
        """tus core: append the body at Upload-Offset (409 elsewhere). The request that
        brings the last byte completes the upload: 204 when it became a track, 422 with
        the reason when it is not audio (the upload is then ``failed``). The request that
        starts the upload answers 422 at once when its first bytes are clearly not audio
        (docs/uploads.md, "Refused at the first bytes")."""
        headers = request.headers
        protocol.check_version(headers.get("tus-resumable"))
        _offset_body(request)
        claimed = protocol.parse_offset(headers.get("upload-offset"))
        checksum = protocol.parse_checksum(headers.get("upload-checksum"))
        upload = await _upload_for(db, principal, upload_id, "write", live=True)
        if upload.status == "completed":
            raise TusError(409, "the upload is already complete")
        if claimed != upload.offset:
            shown = protocol.shown_number(headers.get("upload-offset", ""))
            raise TusError(
                409, f"Upload-Offset {shown} does not match the upload's {upload.offset}"
            )
        transfer = _Transfer(request, db, settings, stores, staging, principal, events)
        failed = await transfer.run(upload, checksum)
        if failed is not None:
            return failed
        return Response(status_code=204, headers=_state_headers(upload))

    @router.delete("/{upload_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def terminate(
        upload_id: str,
        request: Request,
        db: DatabaseDep,
        staging: StagingDep,
        principal: PrincipalDep,
    ) -> Response:
        """tus termination: discard an unfinished upload (later requests get 410). A
        completed upload is part of its library (409): delete the track instead."""
        protocol.check_version(request.headers.get("tus-resumable"))
        upload = await _upload_for(db, principal, upload_id, "write", live=True)
        if upload.status == "completed":
            raise TusError(409, "the upload is complete; its file belongs to the library now")
        if not await service.terminate_upload(db, staging, upload, actor(request, principal)):
            raise HTTPException(410, "the upload is no longer in progress")
        return Response(status_code=204)

    @router.get("", response_model=list[UploadOut], responses=PROBLEM_RESPONSES)
    async def list_all(
        db: DatabaseDep,
        principal: PrincipalDep,
        mine: Annotated[bool, Query(description="only the caller's own uploads")] = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> list[UploadOut]:
        """Uploads into the libraries the caller may read, newest first."""
        uploads = await service.list_uploads(
            db,
            library_ids=principal.readable_libraries(),
            created_by=principal.id if mine else None,
            limit=limit,
            offset=offset,
        )
        return [UploadOut.of(upload) for upload in uploads]

    @router.get("/{upload_id}", response_model=UploadOut, responses=PROBLEM_RESPONSES)
    async def get_one(upload_id: str, db: DatabaseDep, principal: PrincipalDep) -> UploadOut:
        """One upload's state: progress, and once finished its track or why it failed."""
        return UploadOut.of(await _upload_for(db, principal, upload_id, "read", live=False))

    return router
