"""Overlapping occurrences: the winner by the documented keys, the loser around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamer.channels.conflicts import beats, overlaps, reports, resolve
from streamer.channels.model import Occurrence


def at(hour: float) -> datetime:
    return datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=hour)


def occ(entry: str, start: float, end: float, priority: int = 0) -> Occurrence:
    return Occurrence(
        entry, f"pl-{entry}", priority, at(start), at(end), at(start).replace(tzinfo=None)
    )


def air(found: list[Occurrence]) -> list[tuple[str, float, float]]:
    base = at(0)
    return [
        (
            piece.occurrence.entry_id,
            (piece.start - base) / timedelta(hours=1),
            (piece.end - base) / timedelta(hours=1),
        )
        for piece in resolve(found)
    ]


def test_no_overlap_keeps_both_and_leaves_the_gap() -> None:
    assert air([occ("a", 1, 2), occ("b", 3, 4)]) == [("a", 1, 2), ("b", 3, 4)]


def test_higher_priority_wins_and_the_loser_fills_around_it() -> None:
    found = [occ("block", 0, 6, priority=0), occ("show", 2, 3, priority=5)]
    assert air(found) == [("block", 0, 2), ("show", 2, 3), ("block", 3, 6)]


@pytest.mark.parametrize(
    ("first", "second", "winner", "why"),
    [
        (occ("a", 0, 2, 1), occ("b", 1, 3, 2), "b", "priority 2 over 1"),
        (occ("a", 0, 4), occ("b", 1, 2), "b", "shorter"),
        (occ("a", 0, 2), occ("b", 1, 3), "b", "starts later"),
        (occ("b", 0, 2), occ("a", 0, 2), "a", "entry id 'a' sorts first"),
    ],
)
def test_tie_breaks_in_order(first: Occurrence, second: Occurrence, winner: str, why: str) -> None:
    (pair,) = overlaps([first, second])
    assert pair.winner.entry_id == winner
    assert why in pair.reason
    # The order the occurrences are given in does not matter.
    assert air([first, second]) == air([second, first])


def test_reports_say_who_wins_and_why() -> None:
    found = [occ("block", 0, 6), occ("show", 2, 3, priority=5)]
    block, show = reports(found)
    assert show.wins
    assert show.conflicts_with == ("block",)
    assert show.reason == "wins over block: priority 5 over 0"
    assert not block.wins
    assert block.on_air == ((at(0), at(2)), (at(3), at(6)))
    assert "loses to show" in block.reason


def test_a_lone_occurrence_wins_without_conflict() -> None:
    (only,) = reports([occ("a", 0, 1)])
    assert only.wins
    assert only.reason == "no conflict"
    assert only.conflicts_with == ()


def test_three_way_overlap_is_resolved_per_instant() -> None:
    found = [occ("low", 0, 10), occ("mid", 2, 8, 1), occ("high", 4, 5, 2)]
    assert air(found) == [
        ("low", 0, 2),
        ("mid", 2, 4),
        ("high", 4, 5),
        ("mid", 5, 8),
        ("low", 8, 10),
    ]
    assert len(overlaps(found)) == 3


def test_beats_rejects_a_loser_as_winner() -> None:
    with pytest.raises(ValueError, match="does not win"):
        beats(occ("a", 0, 1, 0), occ("b", 0, 1, 1))
