"""/api/v1/auth: signing in and out, the second factor, passwords and TOTP enrolment.

Login is two steps when the user has TOTP: the password opens a session that can do
nothing but give the second factor; the code (or a recovery code) replaces it with a
full one. Every step issues a new session id. Attempts are rate limited per address, per
account and address, and per account with a backoff that spares addresses the account
signed in from before (streamer.auth.login_rule); failures do not say whether the name
exists.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from streamer.auth import totp
from streamer.auth.audit import Actor, record, write
from streamer.auth.authenticate import AuthFailure, Signed
from streamer.auth.secrets import check_password, hash_password
from streamer.auth.sessions import SESSION_COOKIE, end_all, end_session, start_session
from streamer.auth.users import check_new_password, user_view
from streamer.db import Database, User
from streamer.db.models import utcnow
from streamer.routes.api_common import (
    AUTH_RESPONSES,
    PROBLEM_RESPONSES,
    DatabaseDep,
    SettingsDep,
    as_http,
    authenticator,
    client_ip,
    credentials,
)
from streamer.routes.api_common import settings as app_settings
from streamer.settings import Settings

__all__ = ["auth_router"]


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


class SecondFactorIn(BaseModel):
    code: str | None = Field(None, max_length=16, description="a 6-digit TOTP code")
    recovery_code: str | None = Field(None, max_length=32)


class SessionOut(BaseModel):
    user_id: str
    name: str
    role: Literal["admin", "editor", "viewer"]
    second_factor_required: bool  # give it at POST /auth/second-factor
    totp_enabled: bool
    must_enrol_totp: bool  # the role requires 2FA and the user has none yet
    csrf_token: str  # send as X-CSRF-Token on every write made with the cookie
    url_signing: bool = Field(
        description="URL signing is on: media and HLS URLs need a token, which "
        "GET /tracks/{id}/signed gives (off, they are public and /signed answers 409)"
    )


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TotpEnrolOut(BaseModel):
    secret: str
    otpauth_uri: str  # for an authenticator app (as a QR code)


class CodeIn(BaseModel):
    code: str = Field(min_length=6, max_length=16)


class PasswordConfirmIn(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]  # each works once; shown only now


async def _signed(request: Request) -> Signed:
    """A full session (not an API key): these endpoints act on the signed-in user."""
    try:
        return await authenticator(request).session(credentials(request))
    except AuthFailure as exc:
        raise as_http(exc) from None


async def _pending(request: Request) -> Signed:
    try:
        return await authenticator(request).session(credentials(request), allow_pending=True)
    except AuthFailure as exc:
        raise as_http(exc) from None


SignedDep = Annotated[Signed, Depends(_signed)]
PendingDep = Annotated[Signed, Depends(_pending)]


def _actor(request: Request, user: User) -> Actor:
    return Actor("user", user.id, user.name, client_ip(request))


async def _change_user(
    db: Database,
    request: Request,
    user: User,
    action: str,
    values: dict[str, Any],
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Apply ``values`` to the user's row and record ``action``, in one transaction."""
    async with db.session() as session, session.begin():
        if values:
            await session.execute(update(User).where(User.id == user.id).values(**values))
        record(session, _actor(request, user), action, "user", user.id, before=before, after=after)


def _set_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    secure = settings.cookie_secure == "always" or (
        settings.cookie_secure == "auto" and request.url.scheme == "https"
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_seconds,
        path="/",
        httponly=True,
        secure=secure,
        samesite="lax",
    )


async def _session_out(request: Request, user: User, csrf_token: str, pending: bool) -> SessionOut:
    required = user.role in await authenticator(request).required_roles()
    return SessionOut(
        user_id=user.id,
        name=user.name,
        role=user.role,
        second_factor_required=pending,
        totp_enabled=user.totp_secret is not None,
        must_enrol_totp=required and user.totp_secret is None,
        csrf_token=csrf_token,
        url_signing=bool(app_settings(request).url_signing_secret),
    )


def auth_router() -> APIRouter:
    router = APIRouter(prefix="/auth", tags=["auth"])

    @router.post("/login", response_model=SessionOut, responses=PROBLEM_RESPONSES)
    async def login(
        body: LoginIn, request: Request, response: Response, db: DatabaseDep, settings: SettingsDep
    ) -> SessionOut:
        """Check a name and password and start a session (a cookie). With TOTP on, the
        session can only give the second factor until it has."""
        auth = authenticator(request)
        ip = client_ip(request)
        try:
            await auth.login_attempt(ip, body.name)
        except AuthFailure as exc:
            raise as_http(exc) from None
        async with db.session() as session:
            found = await session.scalar(select(User).where(User.name == body.name))
        good = await check_password(found.password_hash if found else None, body.password)
        ok = found is not None and good and not found.disabled
        # With TOTP on, the address becomes known only once the second factor is given.
        complete = ok and found is not None and found.totp_secret is None
        await auth.login_result(ip, body.name, ok=ok, complete=complete)
        if found is None or not ok:
            await write(
                db, Actor("user", found.id if found else None, body.name, ip),
                "auth.login_failed", "user", found.id if found else None,
            )  # fmt: skip
            raise HTTPException(401, "wrong name or password")
        pending = found.totp_secret is not None
        token, row = await start_session(
            db,
            found,
            auth.policy,
            second_factor_pending=pending,
            ip=ip,
            user_agent=request.headers.get("user-agent"),
            replaces=request.cookies.get(SESSION_COOKIE),
        )
        await _change_user(
            db, request, found, "auth.login", {} if pending else {"last_login_at": utcnow()},
            after={"second_factor_pending": pending},
        )  # fmt: skip
        _set_cookie(response, request, settings, token)
        return await _session_out(request, found, row.csrf_token, pending)

    @router.post("/second-factor", response_model=SessionOut, responses=PROBLEM_RESPONSES)
    async def second_factor(
        body: SecondFactorIn,
        request: Request,
        response: Response,
        signed: PendingDep,
        db: DatabaseDep,
        settings: SettingsDep,
    ) -> SessionOut:
        """Complete a login with a TOTP code or a single-use recovery code."""
        auth = authenticator(request)
        user = signed.user
        if not signed.session.second_factor_pending or user.totp_secret is None:
            raise HTTPException(409, "this session needs no second factor")
        if (body.code is None) == (body.recovery_code is None):
            raise HTTPException(422, "give exactly one of code and recovery_code")
        try:
            await auth.login_attempt(client_ip(request), user.name)
        except AuthFailure as exc:
            raise as_http(exc) from None
        values: dict[str, Any] = {"last_login_at": utcnow()}
        if body.code is not None:
            step = totp.verify_code(user.totp_secret, body.code, user.totp_last_step)
            if step is None:
                await write(db, _actor(request, user), "auth.second_factor_failed", "user", user.id)
                await auth.login_result(client_ip(request), user.name, ok=False, complete=False)
                raise HTTPException(401, "wrong or already used code")
            values["totp_last_step"] = step
        else:
            assert body.recovery_code is not None
            left = totp.use_recovery_code(list(user.recovery_codes), body.recovery_code)
            if left is None:
                await write(db, _actor(request, user), "auth.second_factor_failed", "user", user.id)
                await auth.login_result(client_ip(request), user.name, ok=False, complete=False)
                raise HTTPException(401, "wrong or already used recovery code")
            values["recovery_codes"] = left
        await auth.login_result(client_ip(request), user.name, ok=True, complete=True)
        token, row = await start_session(
            db,
            user,
            auth.policy,
            second_factor_pending=False,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            replaces=request.cookies.get(SESSION_COOKIE),
        )
        await _change_user(
            db, request, user, "auth.second_factor", values,
            after={"method": "totp" if body.code is not None else "recovery_code"},
        )  # fmt: skip
        _set_cookie(response, request, settings, token)
        return await _session_out(request, user, row.csrf_token, False)

    @router.get("/session", response_model=SessionOut, responses=AUTH_RESPONSES)
    async def current_session(request: Request, signed: PendingDep) -> SessionOut:
        """Who is signed in, and the CSRF token for writes."""
        return await _session_out(
            request,
            signed.user,
            signed.session.csrf_token,
            signed.session.second_factor_pending,
        )

    @router.post("/logout", status_code=204, responses=AUTH_RESPONSES)
    async def logout(request: Request, signed: PendingDep, db: DatabaseDep) -> Response:
        """End this session."""
        await end_session(db, signed.session.id)
        await write(db, _actor(request, signed.user), "auth.logout", "user", signed.user.id)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.post("/logout-everywhere", status_code=204, responses=AUTH_RESPONSES)
    async def logout_everywhere(request: Request, signed: SignedDep, db: DatabaseDep) -> Response:
        """End every session of the signed-in user, on every device, this one included."""
        await end_all(db, signed.user.id)
        await write(
            db, _actor(request, signed.user), "auth.logout_everywhere", "user", signed.user.id
        )
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.post("/password", response_model=SessionOut, responses=PROBLEM_RESPONSES)
    async def change_password(
        body: PasswordIn,
        request: Request,
        response: Response,
        signed: SignedDep,
        db: DatabaseDep,
        settings: SettingsDep,
    ) -> SessionOut:
        """Change the password; every other session ends, this one gets a new id."""
        user = signed.user
        if not await check_password(user.password_hash, body.current_password):
            raise HTTPException(403, "the current password is wrong")
        try:
            check_new_password(body.new_password)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        new_hash = await hash_password(body.new_password)
        now = utcnow()
        await _change_user(
            db,
            request,
            user,
            "user.password",
            {"password_hash": new_hash, "sessions_valid_after": now},
        )
        await end_all(db, user.id, at=now)
        auth = authenticator(request)
        token, row = await start_session(
            db, user, auth.policy, second_factor_pending=False, ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
        _set_cookie(response, request, settings, token)
        return await _session_out(request, user, row.csrf_token, False)

    @router.post("/totp", response_model=TotpEnrolOut, responses=PROBLEM_RESPONSES)
    async def enrol_totp(request: Request, signed: SignedDep, db: DatabaseDep) -> TotpEnrolOut:
        """Start TOTP enrolment: a new secret, active once a code from it is confirmed."""
        user = signed.user
        if user.totp_secret is not None:
            raise HTTPException(409, "TOTP is on already; turn it off first")
        secret = totp.new_secret()
        await _change_user(db, request, user, "user.totp_enrol", {"totp_pending_secret": secret})
        return TotpEnrolOut(secret=secret, otpauth_uri=totp.provisioning_uri(secret, user.name))

    @router.post("/totp/confirm", response_model=RecoveryCodesOut, responses=PROBLEM_RESPONSES)
    async def confirm_totp(
        body: CodeIn, request: Request, signed: SignedDep, db: DatabaseDep
    ) -> RecoveryCodesOut:
        """Confirm enrolment with a first code; returns the recovery codes, once."""
        user = signed.user
        if user.totp_pending_secret is None:
            raise HTTPException(409, "no TOTP enrolment in progress; POST /auth/totp first")
        step = totp.verify_code(user.totp_pending_secret, body.code, None)
        if step is None:
            raise HTTPException(422, "wrong code: check the authenticator app's clock")
        codes = totp.new_recovery_codes()
        before = user_view(user)
        await _change_user(
            db, request, user, "user.totp_on",
            {
                "totp_secret": user.totp_pending_secret,
                "totp_pending_secret": None,
                "totp_last_step": step,
                "recovery_codes": [totp.hash_recovery_code(c) for c in codes],
            },
            before=before, after={**before, "totp": True},
        )  # fmt: skip
        return RecoveryCodesOut(recovery_codes=codes)

    @router.post("/totp/disable", status_code=204, responses=PROBLEM_RESPONSES)
    async def disable_totp(
        body: PasswordConfirmIn, request: Request, signed: SignedDep, db: DatabaseDep
    ) -> Response:
        """Turn TOTP off (the password confirms it)."""
        user = signed.user
        if not await check_password(user.password_hash, body.password):
            raise HTTPException(403, "the password is wrong")
        if user.totp_secret is None:
            raise HTTPException(409, "TOTP is not on")
        await _change_user(
            db, request, user, "user.totp_off",
            {"totp_secret": None, "totp_last_step": None, "recovery_codes": []},
        )  # fmt: skip
        return Response(status_code=204)

    @router.post("/recovery-codes", response_model=RecoveryCodesOut, responses=PROBLEM_RESPONSES)
    async def new_recovery_codes(
        body: CodeIn, request: Request, signed: SignedDep, db: DatabaseDep
    ) -> RecoveryCodesOut:
        """Replace the recovery codes (a current TOTP code confirms it)."""
        user = signed.user
        if user.totp_secret is None:
            raise HTTPException(409, "TOTP is not on")
        step = totp.verify_code(user.totp_secret, body.code, user.totp_last_step)
        if step is None:
            raise HTTPException(403, "wrong or already used code")
        codes = totp.new_recovery_codes()
        await _change_user(
            db, request, user, "user.recovery_codes",
            {"totp_last_step": step, "recovery_codes": [totp.hash_recovery_code(c) for c in codes]},
        )  # fmt: skip
        return RecoveryCodesOut(recovery_codes=codes)

    return router
