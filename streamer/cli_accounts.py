"""`streamer user ...` and `streamer apikey ...`: bootstrapping accounts from a shell,
and getting back in: `user set-password` (asked twice, or --password-stdin; never from
argv, which other users see in ``ps``), `user disable` and `user enable`.

`apikey create` prints only the key on stdout (messages go to stderr), so scripts can
capture it: KEY=$(streamer apikey create --name ci --role admin).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import cast, get_args

from sqlalchemy import select

from streamer.auth.access import ACCESS_LEVELS, ROLES, Access, Role
from streamer.auth.audit import Actor
from streamer.auth.users import (
    UserExists,
    check_new_password,
    create_key,
    create_user,
    set_disabled,
    set_password,
)
from streamer.db import ApiKey, Database, User, migrate
from streamer.db.models import utcnow
from streamer.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]

_CLI = Actor("cli", None, getpass.getuser() if hasattr(getpass, "getuser") else None)


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    user_p = sub.add_parser("user", help="manage users")
    user_sub = user_p.add_subparsers(dest="user_command", required=True)
    create_p = user_sub.add_parser("create", parents=[common], help="create a user")
    create_p.add_argument("name")
    create_p.add_argument("--role", choices=ROLES, required=True)
    create_p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (else it is asked for twice)",
    )
    password_p = user_sub.add_parser(
        "set-password",
        parents=[common],
        help="set a user's password (asked for twice, or --password-stdin); ends their sessions",
    )
    password_p.add_argument("name")
    password_p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (else it is asked for twice)",
    )
    disable_p = user_sub.add_parser(
        "disable",
        parents=[common],
        help="refuse a user's sign-ins, end their sessions, stop the API keys they made",
    )
    disable_p.add_argument("name")
    enable_p = user_sub.add_parser(
        "enable", parents=[common], help="let a disabled user sign in again"
    )
    enable_p.add_argument("name")

    key_p = sub.add_parser("apikey", help="manage API keys")
    key_sub = key_p.add_subparsers(dest="apikey_command", required=True)
    mint_p = key_sub.add_parser(
        "create", parents=[common], help="create an API key and print it (only once)"
    )
    mint_p.add_argument("--name", required=True)
    mint_p.add_argument("--role", choices=ROLES, required=True)
    mint_p.add_argument(
        "--library",
        action="append",
        metavar="ID[=ACCESS]",
        help=f"limit the key to this library (repeatable; access {'|'.join(ACCESS_LEVELS[1:])},"
        " default read)",
    )
    mint_p.add_argument("--expires-days", type=int, metavar="N", help="expire after N days")


def user_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.user_command in ("disable", "enable"):
        return _set_disabled(settings, args.name, disabled=args.user_command == "disable")
    password = _new_password(args.password_stdin)
    if password is None:
        return 2
    if args.user_command == "set-password":
        return _set_password(settings, args.name, password)
    migrate(settings.effective_database_url)

    async def run() -> str:
        db = Database(settings.effective_database_url)
        try:
            user = await create_user(db, args.name, password, cast(Role, args.role), _CLI)
            return user.id
        finally:
            await db.dispose()

    try:
        user_id = asyncio.run(run())
    except (UserExists, ValueError) as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 1
    print(f"created {args.role} {args.name} ({user_id})", file=sys.stderr)
    return 0


def _new_password(from_stdin: bool) -> str | None:
    """The new password, from stdin or asked for twice (never from argv, which ``ps``
    shows); None after saying why it is refused."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("streamer: the passwords differ", file=sys.stderr)
            return None
    try:
        check_new_password(password)
    except ValueError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return None
    return password


def _on_database(settings: Settings, action: Callable[[Database], Awaitable[bool]]) -> bool:
    """Migrate, then run ``action`` on the database and give back what it says."""
    migrate(settings.effective_database_url)

    async def run() -> bool:
        db = Database(settings.effective_database_url)
        try:
            return await action(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _set_password(settings: Settings, name: str, password: str) -> int:
    if not _on_database(settings, lambda db: set_password(db, name, password, _CLI)):
        print(f"streamer: no user named {name!r}", file=sys.stderr)
        return 1
    print(f"password of {name} set; their sessions were ended", file=sys.stderr)
    return 0


def _set_disabled(settings: Settings, name: str, *, disabled: bool) -> int:
    if not _on_database(settings, lambda db: set_disabled(db, name, disabled, _CLI)):
        print(f"streamer: no user named {name!r}", file=sys.stderr)
        return 1
    if disabled:
        print(
            f"disabled {name}: sign-ins refused, sessions ended, the API keys they made "
            "stop working (until `streamer user enable`)",
            file=sys.stderr,
        )
    else:
        print(f"enabled {name}", file=sys.stderr)
    return 0


def apikey_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        libraries = _libraries(args.library)
    except ValueError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 2
    if args.expires_days is not None and args.expires_days < 1:
        print("streamer: --expires-days must be 1 or more", file=sys.stderr)
        return 2
    expires = utcnow() + timedelta(days=args.expires_days) if args.expires_days else None
    migrate(settings.effective_database_url)

    async def run() -> str:
        db = Database(settings.effective_database_url)
        try:
            secret, _row = await create_key(
                db, args.name, cast(Role, args.role), _CLI, libraries=libraries, expires_at=expires
            )
            return secret
        finally:
            await db.dispose()

    try:
        secret = asyncio.run(run())
    except ValueError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return 1
    print(secret)
    print(
        f"created {args.role} key {args.name!r}: store it now, it is not shown again",
        file=sys.stderr,
    )
    return 0


def _libraries(specs: list[str] | None) -> dict[str, Access] | None:
    if not specs:
        return None
    out: dict[str, Access] = {}
    for spec in specs:
        library, _, access = spec.partition("=")
        access = access or "read"
        if access not in get_args(Access) or access == "none" or not library:
            raise ValueError(f"--library {spec!r}: use ID or ID=read|write|manage")
        out[library] = cast(Access, access)
    return out


async def has_accounts(settings: Settings) -> bool:
    """Whether any user or API key exists (so `serve` can say how to make the first)."""
    db = Database(settings.effective_database_url)
    try:
        async with db.session() as session:
            user = await session.scalar(select(User.id).limit(1))
            key = await session.scalar(select(ApiKey.id).limit(1))
        return user is not None or key is not None
    finally:
        await db.dispose()


DEMO_ADMIN = "admin"


async def create_demo_admin(settings: Settings) -> str:
    """An admin named ``admin`` with a random password, returned to print once: `serve
    --demo` makes it when there is no account, so the first run can open the web admin."""
    password = secrets.token_urlsafe(12)
    db = Database(settings.effective_database_url)
    try:
        await create_user(db, DEMO_ADMIN, password, "admin", _CLI)
    finally:
        await db.dispose()
    return password


COMMANDS = {"user": user_command, "apikey": apikey_command}
