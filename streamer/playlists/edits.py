"""A playlist's state and the edits on it, as pure functions (no database).

Positions count from 0. Each edit returns a new :class:`Snapshot` or raises
:class:`EditError` (a position out of range), which the API answers with 422, or
:class:`ComputedItems` (the items of a smart playlist come from its rule), answered 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ComputedItems", "EditError", "Snapshot", "insert", "move", "remove", "replace_items"]


class EditError(ValueError):
    """The edit does not fit the playlist (a position out of range)."""


class ComputedItems(Exception):
    """Items edited on a smart playlist: they are its rule's result (HTTP 409)."""

    def __init__(self) -> None:
        super().__init__(
            "this is a smart playlist: its items are computed from its rules; "
            "change the rules instead (PATCH rules)"
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a revision records: everything undo and redo restore."""

    name: str
    description: str
    track_ids: tuple[str, ...]
    # A smart playlist's rule as stored (streamer.playlists.rules); None: ordinary.
    rules: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "track_ids": list(self.track_ids),
            "rules": self.rules,
        }


def _stored_items(state: Snapshot) -> None:
    if state.rules is not None:
        raise ComputedItems


def _check(position: int, upper: int, what: str) -> None:
    if not 0 <= position <= upper:
        raise EditError(f"{what} {position} is out of range 0..{upper}")


def insert(state: Snapshot, track_ids: Sequence[str], position: int | None = None) -> Snapshot:
    """``track_ids`` inserted before ``position`` (None: appended)."""
    _stored_items(state)
    items = list(state.track_ids)
    at = len(items) if position is None else position
    _check(at, len(items), "position")
    items[at:at] = track_ids
    return replace(state, track_ids=tuple(items))


def move(state: Snapshot, source: int, target: int) -> Snapshot:
    """The item at ``source`` moved so that it ends up at ``target``."""
    _stored_items(state)
    items = list(state.track_ids)
    if not items:
        raise EditError("the playlist is empty")
    _check(source, len(items) - 1, "from")
    _check(target, len(items) - 1, "to")
    items.insert(target, items.pop(source))
    return replace(state, track_ids=tuple(items))


def remove(state: Snapshot, position: int) -> Snapshot:
    """The item at ``position`` removed."""
    _stored_items(state)
    items = list(state.track_ids)
    if not items:
        raise EditError("the playlist is empty")
    _check(position, len(items) - 1, "position")
    del items[position]
    return replace(state, track_ids=tuple(items))


def replace_items(state: Snapshot, track_ids: Sequence[str]) -> Snapshot:
    """The items replaced by ``track_ids``, in this order."""
    _stored_items(state)
    return replace(state, track_ids=tuple(track_ids))
