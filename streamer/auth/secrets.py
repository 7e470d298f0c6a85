"""Random tokens, their stored hashes, and password hashing (argon2id).

Session tokens and API keys are 256-bit random strings, so a SHA-256 of them is safe to
store and cheap to look up on every request. Passwords are low-entropy and get argon2id,
which costs tens of milliseconds of CPU: it runs in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "check_password",
    "hash_password",
    "hash_token",
    "needs_rehash",
    "new_id",
    "new_token",
    "same",
]

_HASHER = PasswordHasher()
# Verifying against this when a user does not exist costs the same as a real check, so
# timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_id() -> str:
    return secrets.token_hex(8)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def check_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no stored hash, as slow as a real check."""

    def verify() -> bool:
        try:
            return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
