"""/api/v1/libraries writes: add (admins), rename (manage), remove (admins), and scans
started and watched through the API (write to start, read to watch)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from streamer.auth.audit import record
from streamer.catalogue.scan import ensure_library
from streamer.catalogue.scan_tasks import ScanBusy, ScanTasks, is_running
from streamer.db import Library, Track, library_id_for
from streamer.errors import StorageError
from streamer.routes.api_common import (
    CONFLICT_RESPONSES,
    PROBLEM_RESPONSES,
    AdminDep,
    DatabaseDep,
    PrincipalDep,
    SettingsDep,
    StoresDep,
    actor,
    require_access,
)
from streamer.settings import Settings

__all__ = ["libraries_router"]


class LibraryIn(BaseModel):
    root: Annotated[str, Field(min_length=1, max_length=1000, description="folder or s3://")]
    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class LibraryPatch(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class ScanOut(BaseModel):
    library_id: str
    running: bool
    state: dict[str, Any] | None  # progress while running; the summary once done


def _library_view(library: Library) -> dict[str, Any]:
    return {"name": library.name, "root": library.root}


def _check_root(root: str, settings: Settings) -> str:
    """The normalised root, or 422/403 with the reason it cannot be a library."""
    if root.startswith("s3://"):
        bucket = root[5:].split("/", 1)[0]
        if not bucket:
            raise HTTPException(422, "an s3:// root names a bucket: s3://bucket/prefix")
        return root.rstrip("/")
    if "://" in root:
        raise HTTPException(422, "a root is an absolute folder path or s3://bucket/prefix")
    if not os.path.isabs(root):
        raise HTTPException(422, "a folder root must be an absolute path")
    real = os.path.realpath(root)
    parents = [os.path.realpath(p) for p in settings.library_parents]
    if real not in settings.libraries and not any(
        real == p or real.startswith(p.rstrip(os.sep) + os.sep) for p in parents
    ):
        raise HTTPException(
            403, "folders the API may add must lie inside library_parents (a setting)"
        )
    return real


def libraries_router() -> APIRouter:
    router = APIRouter(prefix="/libraries", tags=["libraries"])

    @router.post("", status_code=201, responses=CONFLICT_RESPONSES)
    async def add_library(
        body: LibraryIn,
        request: Request,
        db: DatabaseDep,
        settings: SettingsDep,
        stores: StoresDep,
        admin: AdminDep,
    ) -> dict[str, Any]:
        """Add a folder (inside ``library_parents``) or an S3 prefix as a library. The
        storage must answer; start a scan with POST /libraries/{id}/scan."""
        # realpath reads symlinks: off the loop.
        root = await asyncio.to_thread(_check_root, body.root, settings)
        if not root.startswith("s3://") and not await asyncio.to_thread(os.path.isdir, root):
            raise HTTPException(422, f"{root} is not a folder")
        try:
            store = await stores.get(root)
            await store.check()
        except StorageError as exc:
            raise HTTPException(422, f"the storage does not answer: {exc}") from None
        async with db.session() as session:
            if await session.get(Library, library_id_for(root)) is not None:
                raise HTTPException(409, "this root is a library already")
        library = await ensure_library(db, root, body.name)
        async with db.session() as session, session.begin():
            record(session, actor(request, admin), "library.create", "library", library.id,
                   after=_library_view(library))  # fmt: skip
        return {"id": library.id, "name": library.name, "root": library.root}

    @router.patch("/{library_id}", responses=PROBLEM_RESPONSES)
    async def rename_library(
        library_id: str,
        body: LibraryPatch,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> dict[str, Any]:
        """Rename a library (manage access)."""
        require_access(principal, library_id, "manage", "library")
        async with db.session() as session, session.begin():
            library = await session.get(Library, library_id)
            if library is None:
                raise HTTPException(404, "no such library")
            before = _library_view(library)
            library.name = body.name
            record(session, actor(request, principal), "library.update", "library", library_id,
                   before=before, after=_library_view(library))  # fmt: skip
        return {"id": library.id, "name": library.name, "root": library.root}

    @router.delete("/{library_id}", status_code=204, responses=CONFLICT_RESPONSES)
    async def remove_library(
        library_id: str, request: Request, db: DatabaseDep, admin: AdminDep
    ) -> Response:
        """Remove a library from the catalogue with its tracks, renditions and jobs
        (rows only: no file is deleted). 409 while it is being scanned."""
        async with db.session() as session, session.begin():
            library = await session.get(Library, library_id, with_for_update=True)
            if library is None:
                raise HTTPException(404, "no such library")
            if is_running(library.last_scan):
                raise HTTPException(409, "the library is being scanned")
            tracks = await session.scalar(
                select(func.count()).select_from(Track).where(Track.library_id == library_id)
            )
            record(session, actor(request, admin), "library.delete", "library", library_id,
                   before={**_library_view(library), "tracks": tracks})  # fmt: skip
            await session.delete(library)
        return Response(status_code=204)

    @router.post("/{library_id}/scan", status_code=202, response_model=ScanOut,
                 responses=CONFLICT_RESPONSES)  # fmt: skip
    async def start_scan(
        library_id: str, request: Request, db: DatabaseDep, principal: PrincipalDep
    ) -> ScanOut:
        """Scan the library in the background (write access); then queue transcodes of
        what changed. 409 if a scan of it is running."""
        require_access(principal, library_id, "write", "library")
        async with db.session() as session:
            library = await session.get(Library, library_id)
        if library is None:
            raise HTTPException(404, "no such library")
        scans: ScanTasks = request.app.state.scans
        try:
            state = await scans.start(library)
        except ScanBusy as exc:
            raise HTTPException(409, str(exc)) from None
        async with db.session() as session, session.begin():
            record(session, actor(request, principal), "library.scan", "library", library_id)
        return ScanOut(library_id=library_id, running=True, state=state)

    @router.get("/{library_id}/scan", response_model=ScanOut, responses=PROBLEM_RESPONSES)
    async def scan_status(library_id: str, db: DatabaseDep, principal: PrincipalDep) -> ScanOut:
        """The running scan's progress, or the last scan's summary."""
        require_access(principal, library_id, "read", "library")
        async with db.session() as session:
            library = await session.get(Library, library_id)
        if library is None:
            raise HTTPException(404, "no such library")
        return ScanOut(
            library_id=library_id, running=is_running(library.last_scan), state=library.last_scan
        )

    return router
