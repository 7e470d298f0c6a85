"""When a scheduled report's webhook is tried again (pure: no I/O).

A webhook that could not be reached, timed out, or answered 408, 425, 429 or a 5xx is
tried again later, five more times at most: after 1, 5 and 30 minutes, then 2 and 6 hours
(about nine hours in all, so a receiver down overnight still gets the morning's reports).
Any other answer is the receiver's final word (a 2xx delivered it; a 4xx says it will
never take it) and is not repeated. A ``Retry-After`` of the receiver's is kept when it
asks for longer than the next delay, up to a day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["RETRY_DELAYS", "next_attempt", "retryable"]

RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
_LONGEST_WAIT = timedelta(days=1)
_TRANSIENT = frozenset({408, 425, 429})


def retryable(status: int | None) -> bool:
    """Whether an attempt that ended with ``status`` (None: no answer) may succeed later."""
    return status is None or status in _TRANSIENT or 500 <= status <= 599


def next_attempt(
    attempts: int, status: int | None, at: datetime, retry_after: float | None = None
) -> datetime | None:
    """When to try again after ``attempts`` attempts, the last ending at ``at`` with
    ``status``; None when the webhook is delivered, refused for good, or out of tries."""
    if not retryable(status) or attempts < 1 or attempts > len(RETRY_DELAYS):
        return None
    wait = RETRY_DELAYS[attempts - 1]
    if retry_after is not None and retry_after > wait.total_seconds():
        wait = min(timedelta(seconds=retry_after), _LONGEST_WAIT)
    return at + wait
