"""Streaming chunk sizes: small for slow readers, large for fast ones, within a budget."""

from __future__ import annotations

from streamer.routes.media_body import Pace as _Pace


def test_pace_starts_small_and_grows_while_the_client_keeps_up() -> None:
    pace = _Pace(lambda: 256 * 1024)
    assert pace.size == 16 * 1024
    sizes = []
    for _ in range(16):
        pace.adjust(waited=False)
        sizes.append(pace.size)
    assert sizes[2] == 16 * 1024  # no growth before a streak
    assert sizes[3] == 32 * 1024
    assert sizes[-1] == 256 * 1024  # capped


def test_pace_halves_when_the_client_is_slower_but_never_below_the_minimum() -> None:
    pace = _Pace(lambda: 256 * 1024)
    pace.size = 256 * 1024
    for expected in (128, 64, 32, 16, 16):
        pace.adjust(waited=True)
        assert pace.size == expected * 1024


def test_pace_follows_a_shrinking_ceiling() -> None:
    ceiling = [1024 * 1024]
    pace = _Pace(lambda: ceiling[0])
    pace.size = 1024 * 1024
    ceiling[0] = 32 * 1024  # many more streams now share the budget
    pace.adjust(waited=False)
    assert pace.size == 32 * 1024
