"""What every part of the admin API shares: the caller's principal, the database and the
settings as dependencies, and errors as application/problem+json (RFC 9457)."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from streamer.db import Database
from streamer.settings import Settings
from streamer.storage.registry import StoreRegistry

__all__ = [
    "CONFLICT_RESPONSES",
    "PROBLEM",
    "PROBLEM_RESPONSES",
    "DatabaseDep",
    "Principal",
    "PrincipalDep",
    "Problem",
    "SettingsDep",
    "StoresDep",
    "current_principal",
    "http_error",
    "problem",
    "validation_error",
]

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Principal:
    """Who is calling. Anonymous read access until authentication lands (issue 5)."""

    name: str = "anonymous"
    can_read_all: bool = True


async def current_principal() -> Principal:
    return Principal()


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def stores(request: Request) -> StoreRegistry:
    value: StoreRegistry = request.app.state.stores
    return value


DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(settings)]
StoresDep = Annotated[StoreRegistry, Depends(stores)]


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "content": {PROBLEM: {}}},
    422: {"model": Problem, "content": {PROBLEM: {}}},
}
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    409: {"model": Problem, "content": {PROBLEM: {}}},
}


def problem(
    status: int, detail: str | None, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM)


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    return problem(422, "the request is not valid", errors)
