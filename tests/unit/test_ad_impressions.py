"""Impressions and quartiles from delivery: the matching and counting rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamer.ads.impressions import AdDelivery, Placement, count_impressions

T0 = datetime(2026, 12, 7, 12, tzinfo=UTC)
AD = (6.0, 4.0)  # 25 and 50 % in the first segment, 75 and 100 % in the second


def place(order: int = 0, *, session: str = "s1", started: datetime = T0,
          durations: tuple[float, ...] = AD) -> Placement:  # fmt: skip
    return Placement(session, "L", started, order, "camp", "cre", "ad", durations)


def got(*segments: int, at: datetime = T0, listener: str = "L") -> list[AdDelivery]:
    return [AdDelivery(at + timedelta(seconds=n), listener, "ad", n) for n in segments]


@pytest.mark.parametrize(
    ("segments", "quartiles"),
    [((0, 1), 4), ((0,), 2), ((1,), None), ((), None)],
)
def test_an_impression_needs_the_first_segment_and_quartiles_follow_the_segments(
    segments: tuple[int, ...], quartiles: int | None
) -> None:
    found = count_impressions([place()], got(*segments))
    assert [i.quartiles for i in found] == ([] if quartiles is None else [quartiles])


def test_quartiles_fall_in_the_segment_that_holds_them() -> None:
    four = (2.5, 2.5, 2.5, 2.5)
    assert [i.quartiles for i in count_impressions([place(durations=four)], got(0, 1, 2))] == [3]


def test_the_same_ad_twice_is_two_impressions_only_when_it_came_twice() -> None:
    twice = [place(0), place(1)]
    assert len(count_impressions(twice, got(0, 1))) == 1
    both = got(0, 1) + got(0, 1, at=T0 + timedelta(minutes=5))
    assert [i.placement.order for i in count_impressions(twice, both)] == [0, 1]


def test_deliveries_out_of_the_sessions_time_or_of_another_listener_do_not_count() -> None:
    assert count_impressions([place()], got(0, at=T0 - timedelta(seconds=5))) == []
    assert count_impressions([place()], got(0, at=T0 + timedelta(hours=7))) == []
    assert count_impressions([place()], got(0, listener="M")) == []


def test_each_session_takes_its_own_deliveries() -> None:
    later = T0 + timedelta(minutes=30)
    placements = [place(session="a"), place(session="b", started=later)]
    found = count_impressions(placements, got(0, 1, at=later))
    assert [i.placement.session for i in found] == ["b"]
