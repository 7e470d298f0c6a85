"""A playlist's state and the edits on it, as pure functions (no database).

Positions count from 0. Each edit returns a new :class:`Snapshot` or raises
:class:`EditError` (a position out of range), which the API answers with 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["EditError", "Snapshot", "insert", "move", "remove"]


class EditError(ValueError):
    """The edit does not fit the playlist (a position out of range)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a revision records: everything undo and redo restore."""

    name: str
    description: str
    track_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "track_ids": list(self.track_ids),
        }


def _check(position: int, upper: int, what: str) -> None:
    if not 0 <= position <= upper:
        raise EditError(f"{what} {position} is out of range 0..{upper}")


def insert(state: Snapshot, track_ids: Sequence[str], position: int | None = None) -> Snapshot:
    """``track_ids`` inserted before ``position`` (None: appended)."""
    items = list(state.track_ids)
    at = len(items) if position is None else position
    _check(at, len(items), "position")
    items[at:at] = track_ids
    return replace(state, track_ids=tuple(items))


def move(state: Snapshot, source: int, target: int) -> Snapshot:
    """The item at ``source`` moved so that it ends up at ``target``."""
    items = list(state.track_ids)
    if not items:
        raise EditError("the playlist is empty")
    _check(source, len(items) - 1, "from")
    _check(target, len(items) - 1, "to")
    items.insert(target, items.pop(source))
    return replace(state, track_ids=tuple(items))


def remove(state: Snapshot, position: int) -> Snapshot:
    """The item at ``position`` removed."""
    items = list(state.track_ids)
    if not items:
        raise EditError("the playlist is empty")
    _check(position, len(items) - 1, "position")
    del items[position]
    return replace(state, track_ids=tuple(items))
