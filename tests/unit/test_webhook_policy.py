"""When a scheduled report's webhook is tried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamer.analytics.webhook_policy import RETRY_DELAYS, next_attempt, retryable

AT = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "again"),
    [(None, True), (408, True), (425, True), (429, True), (500, True), (503, True),
     (599, True), (200, False), (204, False), (301, False), (400, False), (404, False),
     (410, False), (413, False)],
)  # fmt: skip
def test_only_what_may_pass_later_is_tried_again(status: int | None, again: bool) -> None:
    assert retryable(status) is again
    assert (next_attempt(1, status, AT) is not None) is again


def test_the_waits_grow_and_end_after_the_last() -> None:
    waits = [next_attempt(n, 503, AT) for n in range(1, len(RETRY_DELAYS) + 2)]
    assert waits[:-1] == [AT + delay for delay in RETRY_DELAYS]
    assert waits[-1] is None
    assert sum(RETRY_DELAYS, timedelta()) > timedelta(hours=8)  # a night's outage


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(30.0, timedelta(minutes=1)), (600.0, timedelta(minutes=10)),
     (10 * 86400.0, timedelta(days=1))],
)  # fmt: skip
def test_a_longer_retry_after_is_kept_up_to_a_day(retry_after: float, wait: timedelta) -> None:
    assert next_attempt(1, 429, AT, retry_after) == AT + wait


def test_an_attempt_count_out_of_range_gives_no_retry() -> None:
    assert next_attempt(0, 503, AT) is None
