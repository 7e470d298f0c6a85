"""Turning a request's credentials into a principal: a bearer API key or a session
cookie, with the CSRF check for cookie writes, the second-factor state, the 2FA policy
and the rate limits. Framework-free: the API's dependency maps failures to problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from sqlalchemy import select

from streamer.auth.access import Access, Principal, Role
from streamer.auth.apikeys import find_key
from streamer.auth.ratelimit import RateLimited, RateLimits, Rule
from streamer.auth.secrets import same
from streamer.auth.sessions import SessionPolicy, find_session
from streamer.db import Database, LibraryGrant, SecurityPolicy, User, UserSession

__all__ = ["CSRF_HEADER", "AuthFailure", "Authenticator", "Credentials", "Signed"]

CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthFailure(Exception):
    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Credentials:
    """What a request carries, read by the web layer."""

    method: str
    ip: str | None
    authorization: str | None
    cookie: str | None
    csrf: str | None
    origin: str | None
    host: str | None


@dataclass
class Signed:
    """A session that passed the checks, with its user (for the auth endpoints)."""

    session: UserSession
    user: User


class Authenticator:
    def __init__(self, db: Database, policy: SessionPolicy, limits: RateLimits) -> None:
        self.db = db
        self.policy = policy
        self.limits = limits

    async def principal(
        self,
        creds: Credentials,
        *,
        allow_pending: bool = False,
        allow_unenrolled: bool = False,
        recheck: bool = False,
    ) -> Principal:
        """The principal of a request, or AuthFailure (401, 403 or 429).

        ``allow_pending``: a session still waiting for its second factor is accepted
        (the second-factor endpoint). ``allow_unenrolled``: a user whose role requires
        2FA but who has not enrolled yet is accepted (the enrolment endpoints).
        ``recheck``: the same credentials again for a request already admitted (a long
        stream): no rate limit is counted and the session is not kept alive by it."""
        if not recheck:
            await self._limit(self.limits.ip, creds.ip or "-")
        if creds.authorization is not None:
            principal = await self._bearer(creds.authorization)
        elif creds.cookie:
            signed = await self.session(creds, allow_pending=allow_pending, touch=not recheck)
            await self._check_policy(signed.user, allow_unenrolled)
            principal = await self._user_principal(signed)
        else:
            raise _unauthenticated("sign in or send an API key (Authorization: Bearer ...)")
        if not recheck:
            await self._limit(self.limits.api, principal.kind, principal.id)
        return principal

    async def session(
        self, creds: Credentials, *, allow_pending: bool = False, touch: bool = True
    ) -> Signed:
        """The live session of a cookie request, CSRF-checked for writes; ``touch``
        counts the request as activity (the idle timeout starts again)."""
        if not creds.cookie:
            raise _unauthenticated("not signed in")
        found = await find_session(self.db, creds.cookie, self.policy, touch=touch)
        if found is None:
            raise _unauthenticated("the session has expired or was ended; sign in again")
        row, user = found
        if row.second_factor_pending and not allow_pending:
            raise _unauthenticated("the second factor is still to be given")
        if creds.method not in _SAFE_METHODS:
            _check_csrf(creds, row.csrf_token)
        return Signed(row, user)

    async def login_attempt(self, ip: str | None, name: str) -> None:
        """Before checking a password or second factor: AuthFailure (429) when a sign-in
        rule holds the attempt back (streamer.auth.login_rule)."""
        try:
            await self.limits.sign_in_attempt(ip, name)
        except RateLimited as exc:
            raise _too_many(exc) from None

    async def login_result(self, ip: str | None, name: str, *, ok: bool, complete: bool) -> None:
        """After the check: count a failure toward the account's backoff, or clear the
        address's failures on a success (``complete``: the user is signed in, so the
        address becomes known to the account)."""
        await self.limits.sign_in_result(ip, name, ok=ok, complete=complete)

    async def required_roles(self) -> frozenset[str]:
        async with self.db.session() as session:
            row = await session.get(SecurityPolicy, 1)
        return frozenset(row.require_2fa_roles) if row is not None else frozenset()

    async def _check_policy(self, user: User, allow_unenrolled: bool) -> None:
        if allow_unenrolled or user.totp_secret is not None:
            return
        if user.role in await self.required_roles():
            raise AuthFailure(
                403,
                f"the {user.role} role requires two-factor authentication: "
                "enrol at /api/v1/auth/totp",
            )

    async def _bearer(self, header: str) -> Principal:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _unauthenticated("use Authorization: Bearer <api key>")
        principal = await self.key_principal(key.strip())
        if principal is None:
            raise _unauthenticated("the API key is unknown, revoked or expired")
        return principal

    async def _user_principal(self, signed: Signed) -> Principal:
        return await self.user_principal(signed.user, signed.session)

    async def user_principal(self, user: User, signed_in: UserSession | None = None) -> Principal:
        """The principal of ``user`` with their library grants (admins: every library),
        signed in through the session ``signed_in`` or another way (an app password)."""
        grants: dict[str, Access] | None = None
        if user.role != "admin":
            async with self.db.session() as session:
                rows = await session.execute(
                    select(LibraryGrant.library_id, LibraryGrant.access).where(
                        LibraryGrant.user_id == user.id
                    )
                )
                grants = {lib: cast(Access, access) for lib, access in rows}
        return Principal(
            "user",
            user.id,
            user.name,
            cast(Role, user.role),
            grants,
            session_id=signed_in.id if signed_in is not None else None,
            csrf_token=signed_in.csrf_token if signed_in is not None else None,
        )

    async def count_request(self, ip: str | None) -> None:
        """Count a request toward its address's limit (AuthFailure 429 past it), for
        callers that check credentials of their own (the Subsonic API)."""
        await self._limit(self.limits.ip, ip or "-")

    async def count_principal(self, principal: Principal) -> None:
        """Count a request toward its principal's API limit (AuthFailure 429 past it)."""
        await self._limit(self.limits.api, principal.kind, principal.id)

    async def key_principal(self, key: str) -> Principal | None:
        """The principal of an API key, or None when it is unknown, revoked or expired."""
        row = await find_key(self.db, key)
        if row is None:
            return None
        grants = cast(dict[str, Access], row.libraries) if row.libraries is not None else None
        return Principal("apikey", row.id, row.name, cast(Role, row.role), grants)

    async def _limit(self, rule: Rule, *identity: str) -> None:
        try:
            await self.limits.hit(rule, *identity)
        except RateLimited as exc:
            raise _too_many(exc) from None


def _too_many(exc: RateLimited) -> AuthFailure:
    return AuthFailure(429, str(exc), {"Retry-After": str(exc.retry_after)})


def _unauthenticated(detail: str) -> AuthFailure:
    return AuthFailure(401, detail, {"WWW-Authenticate": 'Bearer realm="streamer"'})


def _check_csrf(creds: Credentials, expected: str) -> None:
    """Cookie writes must echo the session's CSRF token in a header (which a forged
    cross-site form cannot set) and, when the browser names an Origin, come from ours."""
    foreign = creds.origin and creds.host and creds.origin != "null"
    if foreign and urlsplit(creds.origin or "").netloc.lower() != (creds.host or "").lower():
        raise AuthFailure(403, "cross-origin request refused (CSRF)")
    if not creds.csrf or not same(creds.csrf, expected):
        raise AuthFailure(403, f"missing or wrong {CSRF_HEADER} header (CSRF)")
