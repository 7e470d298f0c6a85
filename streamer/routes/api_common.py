"""What every part of the admin API shares: the caller's principal and the checks on it,
the database and the settings as dependencies, and errors as application/problem+json
(RFC 9457).

Every endpoint but sign-in takes ``PrincipalDep`` (or ``AdminDep``): a request without
valid credentials never reaches a handler. Handlers check library access with
``require_access``: no read access answers 404, as if the target did not exist, so ids
in foreign libraries cannot be probed; read access without enough rights answers 403.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from streamer.auth.access import Access, Principal
from streamer.auth.audit import Actor, actor_of
from streamer.auth.authenticate import CSRF_HEADER, Authenticator, AuthFailure, Credentials
from streamer.auth.sessions import SESSION_COOKIE
from streamer.db import Database
from streamer.db.availability import database_unavailable
from streamer.events.publish import EventPublisher
from streamer.observe import mark_answered
from streamer.settings import Settings
from streamer.storage.registry import StoreRegistry

__all__ = [
    "AUTH_RESPONSES",
    "CONFLICT_RESPONSES",
    "PROBLEM",
    "PROBLEM_RESPONSES",
    "AdminDep",
    "DatabaseDep",
    "EventsDep",
    "Principal",
    "PrincipalDep",
    "Problem",
    "SettingsDep",
    "StoresDep",
    "actor",
    "as_http",
    "authenticator",
    "client_ip",
    "credentials",
    "current_principal",
    "http_error",
    "internal_error",
    "problem",
    "require_access",
    "validation_error",
]

PROBLEM = "application/problem+json"
logger = logging.getLogger("streamer.api")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def credentials(request: Request) -> Credentials:
    return Credentials(
        method=request.method,
        ip=client_ip(request),
        authorization=request.headers.get("authorization"),
        cookie=request.cookies.get(SESSION_COOKIE),
        csrf=request.headers.get(CSRF_HEADER),
        origin=request.headers.get("origin"),
        host=request.headers.get("host"),
    )


def authenticator(request: Request) -> Authenticator:
    value: Authenticator = request.app.state.auth
    return value


def as_http(exc: AuthFailure) -> HTTPException:
    return HTTPException(exc.status, exc.detail, headers=exc.headers or None)


async def current_principal(request: Request) -> Principal:
    try:
        principal = await authenticator(request).principal(credentials(request))
    except AuthFailure as exc:
        raise as_http(exc) from None
    request.state.principal = principal
    return principal


async def current_admin(request: Request) -> Principal:
    principal = await current_principal(request)
    if not principal.is_admin:
        raise HTTPException(403, "only admins may do this")
    return principal


def require_access(principal: Principal, library_id: str, want: Access, what: str) -> None:
    """Raise unless ``principal`` has ``want`` access to the library: 404 ("no such
    ``what``") without read access, 403 with read access but too little."""
    if not principal.allows(library_id, "read"):
        raise HTTPException(404, f"no such {what}")
    if not principal.allows(library_id, want):
        # "this library", not "this library's library"; "this track's library" otherwise.
        owner = "this library" if what == "library" else f"this {what}'s library"
        raise HTTPException(403, f"{want} access to {owner} is needed")


def actor(request: Request, principal: Principal) -> Actor:
    """The audit log's actor for a request."""
    return actor_of(principal, client_ip(request))


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


PrincipalDep = Annotated[Principal, Depends(current_principal)]
AdminDep = Annotated[Principal, Depends(current_admin)]


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def stores(request: Request) -> StoreRegistry:
    value: StoreRegistry = request.app.state.stores
    return value


def events(request: Request) -> EventPublisher:
    """Publishes live events from this worker (``streamer.events``)."""
    publisher: EventPublisher = request.app.state.events.publisher
    return publisher


DatabaseDep = Annotated[Database, Depends(database)]
EventsDep = Annotated[EventPublisher, Depends(events)]
SettingsDep = Annotated[Settings, Depends(settings)]
StoresDep = Annotated[StoreRegistry, Depends(stores)]


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}} for status in (401, 403, 429)
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
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


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """Every method some route of this path takes (RFC 9110 §15.5.6). Starlette names only
    those of the first route whose path matched, and a path often has one route per
    method (in routers FastAPI includes lazily): so each method is asked for in turn."""
    routes = request.app.router.routes
    methods = {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered as a problem without details. The
    database being unreachable is not a bug: 503 with Retry-After, logged as a warning."""
    mark_answered(exc)  # logged here, once; streamer.observe lets it end with the answer
    if database_unavailable(exc):
        logger.warning("database unavailable in %s %s: %s", request.method, request.url.path, exc)
        response = problem(503, "the database is unavailable; try again shortly")
        response.headers["Retry-After"] = "5"
        return response
    logger.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "an internal error occurred; it has been logged")


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    if any(error["type"] == "json_invalid" for error in errors):
        # Syntax, not meaning: RFC 9110's 400, as the API description promises.
        return problem(400, "the body is not valid JSON", errors)
    return problem(422, "the request is not valid", errors)
