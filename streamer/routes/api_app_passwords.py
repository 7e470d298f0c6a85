"""/api/v1/users/{user_id}/app-passwords: the passwords Subsonic players sign in with
(streamer.auth.app_passwords). A user manages their own (``me`` stands for the signed-in
user); admins manage anyone's. The secret is in the creation response only."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from streamer.auth.access import Principal
from streamer.auth.app_passwords import (
    create_app_password,
    list_app_passwords,
    revoke_app_password,
)
from streamer.db import User
from streamer.routes.api_common import PROBLEM_RESPONSES, DatabaseDep, PrincipalDep, actor

__all__ = ["app_passwords_router"]


class AppPasswordIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="the player it is for")


class AppPasswordOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class AppPasswordCreated(AppPasswordOut):
    password: str = Field(description="shown once: the player's password for /rest")


def _owner(principal: Principal, user_id: str) -> str:
    """The user whose app passwords the call is about, or 403/404."""
    if user_id == "me":
        if principal.kind != "user":
            raise HTTPException(403, "app passwords belong to users: sign in, or name the user")
        return principal.id
    if principal.is_admin or (principal.kind == "user" and principal.id == user_id):
        return user_id
    raise HTTPException(403, "only admins manage other users' app passwords")


def app_passwords_router() -> APIRouter:
    router = APIRouter(tags=["users"])

    async def known(db: DatabaseDep, user_id: str) -> None:
        async with db.session() as session:
            if await session.get(User, user_id) is None:
                raise HTTPException(404, "no such user")

    @router.get(
        "/users/{user_id}/app-passwords",
        response_model=list[AppPasswordOut],
        responses=PROBLEM_RESPONSES,
    )
    async def list_passwords(
        user_id: str, db: DatabaseDep, principal: PrincipalDep
    ) -> list[AppPasswordOut]:
        """The user's app passwords, oldest first (never the passwords)."""
        owner = _owner(principal, user_id)
        await known(db, owner)
        rows = await list_app_passwords(db, owner)
        return [AppPasswordOut.model_validate(row, from_attributes=True) for row in rows]

    @router.post(
        "/users/{user_id}/app-passwords",
        response_model=AppPasswordCreated,
        status_code=201,
        responses=PROBLEM_RESPONSES,
    )
    async def add_password(
        user_id: str,
        body: AppPasswordIn,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> AppPasswordCreated:
        """A new app password for one player; the response holds it, once."""
        owner = _owner(principal, user_id)
        await known(db, owner)
        secret, row = await create_app_password(db, owner, body.name, actor(request, principal))
        out = AppPasswordOut.model_validate(row, from_attributes=True)
        return AppPasswordCreated(password=secret, **out.model_dump())

    @router.delete(
        "/users/{user_id}/app-passwords/{password_id}",
        status_code=204,
        responses=PROBLEM_RESPONSES,
    )
    async def revoke_password(
        user_id: str,
        password_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> Response:
        """Revoke one app password: its player is refused from the next request."""
        owner = _owner(principal, user_id)
        if not await revoke_app_password(db, owner, password_id, actor(request, principal)):
            raise HTTPException(404, "no such app password")
        return Response(status_code=204)

    return router
