"""The sign-in throttling rule, as pure functions (no I/O; the counting is in
streamer.auth.ratelimit).

Following OWASP's Authentication Cheat Sheet ("Login Throttling", "Account Lockout"):
counting failures only per address lets a botnet guess one account from many
addresses; locking the account after N failures lets any stranger lock its owner out.
So three rules, each answered 429 with Retry-After:

1. **Per address**: every attempt (password or second factor) from one address,
   ``rate_limit_login`` (10 a minute). It holds that address back, nobody else.
2. **Per account and address**: failed attempts on one account from one address,
   ``rate_limit_login_failures`` (5 in 15 minutes). A success clears it.
3. **Per account, with backoff**: once an account has had ``after`` failures (from any
   address) within the ``window``, each further failure makes the next attempt on it
   wait ``2 ** (failures - after)`` seconds, up to ``max_seconds``. The delay holds
   back only addresses that have **not** signed in to that account successfully in the
   last ``known_days`` days: the owner at a known address is never delayed, and a
   distributed guesser gets a handful of tries per window instead of thousands.
   ``after`` must be larger than rule 2's allowance, so one address alone can never start
   the backoff: a stranger hammering from one place is stopped by rules 1 and 2 and the
   owner signs in from anywhere else.

The same rules count attempts at the second factor, keyed by the user's name.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff", "held_back"]


@dataclass(frozen=True)
class Backoff:
    """Rule 3's parameters (see the module docstring)."""

    after: int = 10
    max_seconds: int = 300
    window: int = 900
    known_days: int = 30

    def __post_init__(self) -> None:
        if self.after < 1 or self.max_seconds < 1 or self.window < 1 or self.known_days < 0:
            raise ValueError("backoff parameters must be positive")

    def delay(self, failures: int) -> int:
        """Seconds to wait, after the account's ``failures``-th failure in the window,
        before its next attempt from an unknown address (0: no wait)."""
        over = failures - self.after
        if over < 0:
            return 0
        # Doubling from 1 s; the exponent is capped so a long attack cannot overflow it.
        return min(self.max_seconds, 1 << min(over, 40))


def held_back(*, waiting: float, known_address: bool) -> bool:
    """Whether rule 3 refuses an attempt: the account is still waiting and the address
    has not signed in to it before."""
    return waiting > 0 and not known_address
