"""Overlapping occurrences: which one holds the air, and why.

Where occurrences overlap, one wins each instant, decided by these keys in turn (the first
that differs decides; the reason names it):

1. higher ``priority``;
2. the shorter occurrence (the more specific booking: a 1-hour show inside a 6-hour block);
3. the later start (the one that begins takes over from the one in progress);
4. the smaller entry id (only so that the result is always the same).

The loser keeps the air around the winner: before the winner starts and after it ends, if
its own occurrence still runs. When it gets the air back it goes on where its own running
order is at that instant, as if it had played underneath (see docs/channels.md,
"Conflicts"), so resolution never depends on history.

``resolve`` gives the pieces of air (``Piece``), ``overlaps`` each pair of overlapping
occurrences with its winner and reason, and ``reports`` a per-occurrence summary for a
calendar (on air for its whole span or not, whom it conflicts with, why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from streamer.channels.model import Occurrence

__all__ = [
    "Overlap",
    "Piece",
    "Report",
    "beats",
    "overlaps",
    "reports",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class Piece:
    """``occurrence`` holds the air over ``[start, end)``."""

    start: datetime
    end: datetime
    occurrence: Occurrence


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two occurrences overlap over ``[start, end)``; ``winner`` holds the air there."""

    start: datetime
    end: datetime
    winner: Occurrence
    loser: Occurrence
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    """What a calendar shows for one occurrence: ``wins`` when it holds the air over its
    whole span; ``on_air`` the parts it holds; ``conflicts_with`` the entry ids of the
    occurrences it overlaps; ``reason`` in words."""

    occurrence: Occurrence
    wins: bool
    on_air: tuple[tuple[datetime, datetime], ...]
    conflicts_with: tuple[str, ...]
    reason: str


def _key(occurrence: Occurrence) -> tuple[int, object, object, str]:
    # Sorted ascending: the smallest key wins.
    return (
        -occurrence.priority,
        occurrence.end - occurrence.start,
        -occurrence.start.timestamp(),
        occurrence.entry_id,
    )


def beats(winner: Occurrence, loser: Occurrence) -> str:
    """Why ``winner`` wins over ``loser`` (``ValueError`` if it does not)."""
    if _key(winner) >= _key(loser):
        raise ValueError(f"{winner.entry_id} does not win over {loser.entry_id}")
    if winner.priority != loser.priority:
        return f"priority {winner.priority} over {loser.priority}"
    win_length = winner.end - winner.start
    lose_length = loser.end - loser.start
    if win_length != lose_length:
        return f"same priority; shorter ({win_length} < {lose_length})"
    if winner.start != loser.start:
        return "same priority and length; starts later"
    return f"same priority, length and start; entry id {winner.entry_id!r} sorts first"


def resolve(found: Sequence[Occurrence]) -> list[Piece]:
    """The air, in order: who holds it from when to when. Instants that no occurrence
    covers are absent (gaps, for the fill)."""
    edges = sorted({edge for occurrence in found for edge in (occurrence.start, occurrence.end)})
    pieces: list[Piece] = []
    for low, high in pairwise(edges):
        covering = [o for o in found if o.start <= low and o.end >= high]
        if not covering:
            continue
        winner = min(covering, key=_key)
        last = pieces[-1] if pieces else None
        if last is not None and last.occurrence == winner and last.end == low:
            pieces[-1] = Piece(last.start, high, winner)
        else:
            pieces.append(Piece(low, high, winner))
    return pieces


def overlaps(found: Sequence[Occurrence]) -> list[Overlap]:
    """Every pair of occurrences that overlap, with its winner and why, by start."""
    ordered = sorted(found, key=lambda o: (o.start, o.entry_id))
    result: list[Overlap] = []
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if second.start >= first.end:
                break
            winner, loser = sorted((first, second), key=_key)
            result.append(
                Overlap(
                    start=max(first.start, second.start),
                    end=min(first.end, second.end),
                    winner=winner,
                    loser=loser,
                    reason=beats(winner, loser),
                )
            )
    return result


def reports(found: Sequence[Occurrence]) -> list[Report]:
    """One report per occurrence, in the order given."""
    pieces = resolve(found)
    pairs = overlaps(found)
    result: list[Report] = []
    for occurrence in found:
        on_air = tuple(
            (piece.start, piece.end) for piece in pieces if piece.occurrence == occurrence
        )
        held = sum(((end - start) for start, end in on_air), start=occurrence.end - occurrence.end)
        wins = held == occurrence.end - occurrence.start
        mine = [pair for pair in pairs if occurrence in (pair.winner, pair.loser)]
        others = tuple(
            sorted(
                {
                    (pair.loser if pair.winner == occurrence else pair.winner).entry_id
                    for pair in mine
                }
            )
        )
        if not mine:
            reason = "no conflict"
        else:
            lines = []
            for pair in mine:
                if pair.winner == occurrence:
                    lines.append(f"wins over {pair.loser.entry_id}: {pair.reason}")
                else:
                    lines.append(f"loses to {pair.winner.entry_id}: {pair.reason}")
            reason = "; ".join(lines)
        result.append(Report(occurrence, wins, on_air, others, reason))
    return result
