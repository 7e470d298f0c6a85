"""The arithmetic of bounded requests (streamer.request_limits), as the protocol asks it."""

from __future__ import annotations

import pytest

from streamer.request_limits import (
    DESCRIPTOR_RESERVE,
    FIELDS_TOO_LARGE,
    URI_TOO_LONG,
    RequestLimits,
    Throttle,
    connections_allowed,
    descriptors_needed,
    header_verdict,
    timed_out,
    unfinished_head_verdict,
)

LIMITS = RequestLimits(line_max=100, field_max=50, block_max=200, count_max=5)


@pytest.mark.parametrize(
    ("count", "block", "field", "verdict"),
    [
        (1, 10, 10, 0),
        (5, 200, 50, 0),  # every limit reached, none passed
        (1, 51, 51, FIELDS_TOO_LARGE),  # one field too long
        (6, 60, 10, FIELDS_TOO_LARGE),  # too many fields
        (5, 201, 41, FIELDS_TOO_LARGE),  # the block too large
    ],
)
def test_header_verdict(count: int, block: int, field: int, verdict: int) -> None:
    assert header_verdict(LIMITS, count, block, field) == verdict


@pytest.mark.parametrize(
    ("line", "received", "verdict"),
    [
        (10, 100, 0),
        (100, LIMITS.head_max, 0),
        (101, 101, URI_TOO_LONG),  # the target first: 414 even when the head is huge too
        (101, 10**9, URI_TOO_LONG),
        (10, LIMITS.head_max + 1, FIELDS_TOO_LARGE),  # an unfinished field or block
    ],
)
def test_unfinished_head_verdict(line: int, received: int, verdict: int) -> None:
    assert unfinished_head_verdict(LIMITS, line, received) == verdict


def test_an_unfinished_head_may_take_the_target_and_the_block() -> None:
    assert LIMITS.head_max >= LIMITS.line_max + LIMITS.block_max


@pytest.mark.parametrize(
    ("since", "now", "verdict"), [(None, 100.0, False), (0.0, 1.9, False), (0.0, 2.0, True)]
)
def test_timed_out(since: float | None, now: float, verdict: bool) -> None:
    assert timed_out(since, now, 2.0) is verdict


@pytest.mark.parametrize(
    ("header", "body", "seconds"), [(2.0, 60.0, 0.5), (60.0, 30.0, 1.0), (0.2, 0.2, 0.1)]
)
def test_the_sweep_is_a_quarter_of_the_shortest_timeout_within_bounds(
    header: float, body: float, seconds: float
) -> None:
    limits = RequestLimits(header_timeout=header, body_timeout=body)
    assert limits.sweep_seconds == seconds


def test_throttle_reports_once_per_period_with_the_count_since() -> None:
    throttle = Throttle(60.0)
    assert throttle.due(0.0) == 1
    assert [throttle.due(t) for t in (1.0, 2.0, 59.0)] == [0, 0, 0]
    assert throttle.due(60.0) == 4  # three held back and this one
    assert throttle.due(61.0) == 0


def test_a_connection_needs_two_descriptors_besides_the_files_and_the_reserve() -> None:
    assert descriptors_needed(8192, 1024) == 2 * 8192 + 1024 + DESCRIPTOR_RESERVE


@pytest.mark.parametrize(
    ("configured", "limit", "allowed"),
    [
        (8192, None, 8192),  # unlimited: as configured
        (8192, 1_048_576, 8192),  # a container's limit holds it
        (8192, descriptors_needed(8192, 1024), 8192),  # exactly enough
        (8192, descriptors_needed(8192, 1024) - 1, 8191),  # one short: one connection less
        (8192, 16_000, (16_000 - 1024 - DESCRIPTOR_RESERVE) // 2),
        (8192, 1024, 1),  # not even the files fit: one (0 would mean no cap)
        (0, None, 0),  # no cap and no limit
        (0, 65_536, (65_536 - 1024 - DESCRIPTOR_RESERVE) // 2),  # no cap: what fits
    ],
)
def test_connections_allowed_fit_the_open_file_limit(
    configured: int, limit: int | None, allowed: int
) -> None:
    assert connections_allowed(configured, limit, 1024) == allowed
