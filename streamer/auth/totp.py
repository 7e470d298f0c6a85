"""TOTP second factor (RFC 6238, pyotp) and single-use recovery codes.

A code is accepted within one 30 s step either side (clock drift) and only once: the
last accepted step is remembered per user, so a code seen over a shoulder cannot be
replayed in the same window.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pyotp

from streamer.auth.secrets import same

__all__ = [
    "ISSUER",
    "RECOVERY_CODES",
    "hash_recovery_code",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "use_recovery_code",
    "verify_code",
]

ISSUER = "streamer"
RECOVERY_CODES = 10
_STEP = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)


def verify_code(
    secret: str, code: str, last_step: int | None, now: float | None = None
) -> int | None:
    """The time step ``code`` is valid for (to remember), or None when it is wrong or
    was already used (its step is not after ``last_step``)."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    step = int(moment // _STEP)
    for candidate in (step, step - 1, step + 1):
        if same(totp.at(candidate * _STEP), code):
            if last_step is not None and candidate <= last_step:
                return None
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Codes to show once, like ``k7q2-9xhz-mw4p``."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
        for _ in range(RECOVERY_CODES)
    ]


def hash_recovery_code(code: str) -> str:
    normal = code.strip().lower().replace(" ", "")
    return hashlib.sha256(normal.encode()).hexdigest()


def use_recovery_code(stored: list[str], code: str) -> list[str] | None:
    """The remaining hashes once ``code`` is used, or None if it is not one of them."""
    wanted = hash_recovery_code(code)
    for index, candidate in enumerate(stored):
        if same(candidate, wanted):
            return stored[:index] + stored[index + 1 :]
    return None
