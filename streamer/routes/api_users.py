"""/api/v1/users and /api/v1/apikeys: accounts, their library access and keys (admins).

Secrets never leave: password hashes, TOTP secrets and key hashes are not in any
response; a key's secret is in the creation response only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select

from streamer.auth.access import Access, Role
from streamer.auth.audit import record
from streamer.auth.secrets import hash_password
from streamer.auth.sessions import end_all
from streamer.auth.users import (
    NAME_PATTERN,
    UserExists,
    check_new_password,
    create_key,
    create_user,
    key_view,
    user_view,
)
from streamer.db import ApiKey, Library, LibraryGrant, User
from streamer.db.models import utcnow
from streamer.routes.api_common import (
    CONFLICT_RESPONSES,
    PROBLEM_RESPONSES,
    AdminDep,
    DatabaseDep,
    actor,
)

__all__ = ["users_router"]

Grant = Literal["read", "write", "manage"]


class UserOut(BaseModel):
    id: str
    name: str
    role: Role
    disabled: bool
    totp_enabled: bool
    libraries: dict[str, Grant]  # library id -> access (admins: every library)
    created_at: datetime
    last_login_at: datetime | None


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class UserIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    libraries: dict[str, Grant] = Field(default_factory=dict)


class UserPatch(BaseModel):
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=1024)
    reset_totp: bool = False  # a user who lost the device enrols again


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    role: Role
    libraries: dict[str, Grant] | None  # None: every library the role allows
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown once: store it now


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    libraries: dict[str, Grant] | None = None
    expires_at: datetime | None = None


def _key_out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        role=row.role,
        libraries=row.libraries,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def _user_out(db: DatabaseDep, user: User) -> UserOut:
    async with db.session() as session:
        rows = await session.execute(
            select(LibraryGrant.library_id, LibraryGrant.access).where(
                LibraryGrant.user_id == user.id
            )
        )
        grants = dict(rows.all())
    return UserOut(
        id=user.id,
        name=user.name,
        role=user.role,
        disabled=user.disabled,
        totp_enabled=user.totp_secret is not None,
        libraries=grants,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


async def _known_libraries(db: DatabaseDep, ids: set[str]) -> None:
    if not ids:
        return
    async with db.session() as session:
        found = set((await session.scalars(select(Library.id).where(Library.id.in_(ids)))).all())
    if missing := sorted(ids - found):
        raise HTTPException(422, f"no such library: {', '.join(missing)}")


def users_router() -> APIRouter:
    router = APIRouter(tags=["users"])

    @router.get("/users", response_model=UserPage, responses=PROBLEM_RESPONSES)
    async def list_users(
        db: DatabaseDep, _admin: AdminDep, limit: int = 50, offset: int = 0
    ) -> UserPage:
        """Every user, by name."""
        limit, offset = max(1, min(limit, 500)), max(0, offset)
        async with db.session() as session:
            total = await session.scalar(select(func.count()).select_from(User))
            users = (
                await session.scalars(select(User).order_by(User.name).limit(limit).offset(offset))
            ).all()
        items = [await _user_out(db, user) for user in users]
        return UserPage(items=items, total=int(total or 0), limit=limit, offset=offset)

    @router.post("/users", response_model=UserOut, status_code=201, responses=CONFLICT_RESPONSES)
    async def add_user(body: UserIn, request: Request, db: DatabaseDep, admin: AdminDep) -> UserOut:
        """Create a user with a role and access to some libraries."""
        await _known_libraries(db, set(body.libraries))
        try:
            user = await create_user(
                db, body.name, body.password, body.role, actor(request, admin),
                grants=body.libraries,
            )  # fmt: skip
        except UserExists as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return await _user_out(db, user)

    @router.get("/users/{user_id}", response_model=UserOut, responses=PROBLEM_RESPONSES)
    async def get_user(user_id: str, db: DatabaseDep, _admin: AdminDep) -> UserOut:
        """One user."""
        return await _user_out(db, await _get_user(db, user_id))

    @router.patch("/users/{user_id}", response_model=UserOut, responses=PROBLEM_RESPONSES)
    async def patch_user(
        user_id: str, body: UserPatch, request: Request, db: DatabaseDep, admin: AdminDep
    ) -> UserOut:
        """Change a user's role, disable or enable them, set a password, reset TOTP.
        A new password, a disabling or a TOTP reset ends the user's sessions."""
        if body.password is not None:
            try:
                check_new_password(body.password)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
        demoting = body.disabled or (body.role is not None and body.role != "admin")
        if admin.kind == "user" and admin.id == user_id and demoting:
            raise HTTPException(409, "admins cannot demote or disable themselves")
        new_hash = await hash_password(body.password) if body.password is not None else None
        end_sessions = bool(new_hash or body.disabled or body.reset_totp)
        async with db.session() as session, session.begin():
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise HTTPException(404, "no such user")
            before = user_view(user)
            if body.role is not None:
                user.role = body.role
            if body.disabled is not None:
                user.disabled = body.disabled
            if new_hash is not None:
                user.password_hash = new_hash
            if body.reset_totp:
                user.totp_secret = None
                user.totp_pending_secret = None
                user.totp_last_step = None
                user.recovery_codes = []
            if end_sessions:
                user.sessions_valid_after = utcnow()
            after = user_view(user)
            if new_hash is not None:
                after["password_changed"] = True
            record(session, actor(request, admin), "user.update", "user", user.id,
                   before=before, after=after)  # fmt: skip
        if end_sessions:
            await end_all(db, user_id, at=user.sessions_valid_after)
        return await _user_out(db, user)

    @router.put("/users/{user_id}/libraries", response_model=UserOut, responses=PROBLEM_RESPONSES)
    async def set_grants(
        user_id: str,
        body: dict[str, Grant],
        request: Request,
        db: DatabaseDep,
        admin: AdminDep,
    ) -> UserOut:
        """Replace the user's library access: ``{library_id: read|write|manage}``;
        libraries left out get none."""
        await _known_libraries(db, set(body))
        async with db.session() as session, session.begin():
            user = await session.get(User, user_id)
            if user is None:
                raise HTTPException(404, "no such user")
            rows = await session.execute(
                select(LibraryGrant.library_id, LibraryGrant.access).where(
                    LibraryGrant.user_id == user_id
                )
            )
            before = dict(rows.all())
            await session.execute(delete(LibraryGrant).where(LibraryGrant.user_id == user_id))
            for library_id, access in body.items():
                session.add(LibraryGrant(user_id=user_id, library_id=library_id, access=access))
            record(session, actor(request, admin), "user.libraries", "user", user_id,
                   before=before, after=dict(body))  # fmt: skip
        return await _user_out(db, user)

    @router.delete("/users/{user_id}", status_code=204, responses=CONFLICT_RESPONSES)
    async def delete_user(
        user_id: str, request: Request, db: DatabaseDep, admin: AdminDep
    ) -> Response:
        """Delete a user, their sessions and grants."""
        if admin.kind == "user" and admin.id == user_id:
            raise HTTPException(409, "admins cannot delete themselves")
        async with db.session() as session, session.begin():
            user = await session.get(User, user_id)
            if user is None:
                raise HTTPException(404, "no such user")
            record(session, actor(request, admin), "user.delete", "user", user_id,
                   before=user_view(user))  # fmt: skip
            await session.delete(user)
        return Response(status_code=204)

    @router.get("/apikeys", response_model=list[ApiKeyOut], responses=PROBLEM_RESPONSES)
    async def list_keys(db: DatabaseDep, _admin: AdminDep) -> list[ApiKeyOut]:
        """Every API key (never the secrets), newest first."""
        async with db.session() as session:
            rows = (await session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))).all()
        return [_key_out(row) for row in rows]

    @router.post(
        "/apikeys", response_model=ApiKeyCreated, status_code=201, responses=PROBLEM_RESPONSES
    )
    async def add_key(
        body: ApiKeyIn, request: Request, db: DatabaseDep, admin: AdminDep
    ) -> ApiKeyCreated:
        """Create a key; the response holds the secret, which is never shown again."""
        if body.libraries is not None:
            await _known_libraries(db, set(body.libraries))
        if body.expires_at is not None and body.expires_at <= utcnow():
            raise HTTPException(422, "expires_at is in the past")
        libraries: dict[str, Access] | None = dict(body.libraries) if body.libraries else None
        secret, row = await create_key(
            db, body.name, body.role, actor(request, admin), libraries=libraries,
            expires_at=body.expires_at,
        )  # fmt: skip
        return ApiKeyCreated(key=secret, **_key_out(row).model_dump())

    @router.delete("/apikeys/{key_id}", status_code=204, responses=PROBLEM_RESPONSES)
    async def revoke_key(
        key_id: str, request: Request, db: DatabaseDep, admin: AdminDep
    ) -> Response:
        """Revoke a key: it stops working at once. Revoking twice changes nothing."""
        async with db.session() as session, session.begin():
            row = await session.get(ApiKey, key_id)
            if row is None:
                raise HTTPException(404, "no such API key")
            if row.revoked_at is None:
                before = key_view(row)
                row.revoked_at = utcnow()
                record(session, actor(request, admin), "apikey.revoke", "apikey", key_id,
                       before=before, after=key_view(row))  # fmt: skip
        return Response(status_code=204)

    return router


async def _get_user(db: DatabaseDep, user_id: str) -> User:
    async with db.session() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    return user
