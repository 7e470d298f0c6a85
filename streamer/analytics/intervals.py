"""Unions of intervals, for what a listener received: byte ranges (inclusive integer ends,
as HTTP writes them) and time spans (half-open, in seconds). Pure and small: overlapping
and repeated pieces count once, which is what the counting rules need."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["add_byte_range", "covered_bytes", "covered_seconds"]


def add_byte_range(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """``ranges`` (sorted, disjoint, not adjacent, inclusive ends) with ``[start, end]``
    merged in; adjacent ranges join (``0-9`` and ``10-19`` are ``0-19``). A new list."""
    merged: list[tuple[int, int]] = []
    placed = False
    for low, high in ranges:
        if high + 1 < start:
            merged.append((low, high))
        elif end + 1 < low:
            if not placed:
                merged.append((start, end))
                placed = True
            merged.append((low, high))
        else:
            start, end = min(start, low), max(end, high)
    if not placed:
        merged.append((start, end))
        merged.sort()
    return merged


def covered_bytes(ranges: Iterable[tuple[int, int]]) -> int:
    """How many bytes disjoint inclusive ranges hold."""
    return sum(high - low + 1 for low, high in ranges)


def covered_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """The length of the union of half-open spans ``[start, end)``, in any order."""
    total = 0.0
    current_start = current_end = None
    for start, end in sorted(spans):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total
