"""Who is calling /rest: OpenSubsonic's ``apiKey`` (this server's API keys), or ``u`` with
an app password as ``p`` (plain or ``enc:`` hex) or as ``t`` and ``s`` (token and salt).
Failures are the protocol's error codes; a wrong app password counts toward the
account's sign-in backoff as a wrong password does on /api/v1."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from streamer.auth.access import Principal
from streamer.auth.app_passwords import check_app_password
from streamer.auth.audit import Actor, write
from streamer.auth.authenticate import Authenticator, AuthFailure
from streamer.db import ApiKey, User
from streamer.subsonic.responses import (
    CONFLICTING_MECHANISMS,
    GENERIC,
    INVALID_API_KEY,
    MISSING_PARAMETER,
    WRONG_CREDENTIALS,
    SubsonicError,
)

__all__ = ["Caller", "authenticate"]


@dataclass(frozen=True)
class Caller:
    """The principal of a call, and the user name players are shown (getUser)."""

    principal: Principal
    username: str
    user_id: str | None  # None: an API key made by the CLI, for no user


def _password(value: str) -> str | None:
    """``p`` as sent: plain, or ``enc:`` and the password's UTF-8 bytes in hex."""
    if not value.startswith("enc:"):
        return value
    try:
        return bytes.fromhex(value[4:]).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _too_many(exc: AuthFailure) -> SubsonicError:
    """A rate limit: the protocol has no code for it, so 429 with the generic code."""
    return SubsonicError(
        GENERIC,
        exc.detail,
        http_status=exc.status,
        headers=exc.headers,
    )


async def authenticate(auth: Authenticator, params: Mapping[str, str], ip: str | None) -> Caller:
    """The caller of a /rest request, or SubsonicError."""
    try:
        await auth.count_request(ip)
    except AuthFailure as exc:
        raise _too_many(exc) from None
    api_key = params.get("apiKey")
    name = params.get("u")
    if api_key is not None:
        if name is not None:
            raise SubsonicError(CONFLICTING_MECHANISMS, "send apiKey without u")
        caller = await _by_key(auth, api_key)
    elif name is not None:
        caller = await _by_app_password(auth, name, params, ip)
    else:
        raise SubsonicError(MISSING_PARAMETER, "send apiKey, or u with an app password")
    try:
        await auth.count_principal(caller.principal)
    except AuthFailure as exc:
        raise _too_many(exc) from None
    return caller


async def _by_key(auth: Authenticator, key: str) -> Caller:
    principal = await auth.key_principal(key)
    if principal is None:
        raise SubsonicError(INVALID_API_KEY, "the API key is unknown, revoked or expired")
    async with auth.db.session() as session:
        maker = await session.scalar(
            select(User).join(ApiKey, ApiKey.created_by == User.id).where(ApiKey.id == principal.id)
        )
    if maker is None:
        return Caller(principal, principal.name, None)
    return Caller(principal, maker.name, maker.id)


async def _by_app_password(
    auth: Authenticator, name: str, params: Mapping[str, str], ip: str | None
) -> Caller:
    raw, token, salt = params.get("p"), params.get("t"), params.get("s")
    if raw is None and (token is None or salt is None):
        raise SubsonicError(MISSING_PARAMETER, "send p, or t and s, with u")
    password = _password(raw) if raw is not None else None
    checked = await check_app_password(
        auth.db,
        name,
        password=password,
        token=None if raw is not None else token,
        salt=None if raw is not None else salt,
    )
    if checked is None:
        # Players send credentials with every call, so only failures count as sign-in
        # attempts (a right app password, 119 random bits, is never a lucky guess):
        # past the sign-in limits, wrong ones are answered 429.
        try:
            await auth.login_attempt(ip, name)
        except AuthFailure as exc:
            raise _too_many(exc) from None
        await auth.login_result(ip, name, ok=False, complete=False)
        actor = Actor("user", None, name, ip)
        await write(auth.db, actor, "auth.login_failed", "user", None, after={"via": "subsonic"})
        raise SubsonicError(
            WRONG_CREDENTIALS,
            "wrong username or app password (Subsonic players sign in with an app "
            "password made in the admin, or an API key)",
        )
    principal = await auth.user_principal(checked.user)
    return Caller(principal, checked.user.name, checked.user.id)
