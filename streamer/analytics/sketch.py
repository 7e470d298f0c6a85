"""Unique-listener sketches: exact for small audiences, HyperLogLog beyond (pure).

A rollup row cannot keep the set of its listeners (too big, and per-listener data has no
business in aggregates), yet unique listeners over a week are not the sum of seven days.
So every row keeps a sketch of its listeners' hashes that merges like a set:

- up to ``EXACT_MAX`` listeners, the sorted 64-bit hashes themselves (tag 1): counts are
  exact, which is what small stations and tests see;
- beyond, a HyperLogLog of ``2**PRECISION`` one-byte registers (tag 2), with the
  small-range (linear counting) correction: a standard error of about 1.04 / sqrt(1024),
  3.3 %.

Merging is a union (exact + exact stays exact while small enough) or a register-wise max.
A 64-bit hash of a salted listener hash cannot be turned back into an address.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

__all__ = ["EXACT_MAX", "PRECISION", "Sketch", "listener_hash"]

EXACT_MAX = 64
PRECISION = 10
_M = 1 << PRECISION
_EXACT, _DENSE = 1, 2
_MASK = (1 << 64) - 1
_ALPHA = 0.7213 / (1 + 1.079 / _M)


def listener_hash(listener: str) -> int:
    """A 64-bit hash of a listener id (itself a salted hash), spread evenly for HLL."""
    return int.from_bytes(hashlib.blake2b(listener.encode(), digest_size=8).digest(), "big")


class Sketch:
    """A mergeable set of listener hashes; ``bytes(sketch)`` stores it, ``Sketch(data)``
    reads it back (an empty ``data`` is the empty set)."""

    __slots__ = ("_exact", "_registers")

    def __init__(self, data: bytes = b"") -> None:
        self._exact: set[int] | None = set()
        self._registers: bytearray | None = None
        if not data:
            return
        if data[0] == _EXACT and (len(data) - 1) % 8 == 0:
            self._exact = {int.from_bytes(data[i : i + 8], "big") for i in range(1, len(data), 8)}
        elif data[0] == _DENSE and len(data) == _M + 1:
            self._exact = None
            self._registers = bytearray(data[1:])
        else:
            raise ValueError("not a listener sketch")

    def add(self, value: int) -> None:
        if self._exact is not None:
            self._exact.add(value & _MASK)
            if len(self._exact) > EXACT_MAX:
                self._densify()
        else:
            assert self._registers is not None
            _add_register(self._registers, value)

    def add_all(self, values: Iterable[int]) -> None:
        for value in values:
            self.add(value)

    def update(self, other: Sketch | bytes) -> None:
        """Merge ``other`` into this sketch (a set union)."""
        if isinstance(other, bytes):
            if not other:
                return
            other = Sketch(other)
        if other._exact is not None:
            self.add_all(other._exact)
            return
        assert other._registers is not None
        if self._exact is not None:
            self._densify()
        assert self._registers is not None
        self._registers = bytearray(map(max, self._registers, other._registers))

    def _densify(self) -> None:
        registers = bytearray(_M)
        for value in self._exact or ():
            _add_register(registers, value)
        self._exact, self._registers = None, registers

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def estimate(self) -> int:
        """The number of distinct listeners: exact while small, estimated beyond."""
        if self._exact is not None:
            return len(self._exact)
        assert self._registers is not None
        total = math.fsum(2.0**-r for r in self._registers)
        raw = _ALPHA * _M * _M / total
        zeros = self._registers.count(0)
        if raw <= 2.5 * _M and zeros:
            raw = _M * math.log(_M / zeros)
        return round(raw)

    def __bytes__(self) -> bytes:
        if self._exact is not None:
            if not self._exact:
                return b""
            return bytes([_EXACT]) + b"".join(v.to_bytes(8, "big") for v in sorted(self._exact))
        assert self._registers is not None
        return bytes([_DENSE]) + bytes(self._registers)

    def __len__(self) -> int:
        return self.estimate()


def _add_register(registers: bytearray, value: int) -> None:
    value &= _MASK
    index = value >> (64 - PRECISION)
    rest = (value << PRECISION) & _MASK
    rank = min(64 - PRECISION, 64 - rest.bit_length()) + 1
    if rank > registers[index]:
        registers[index] = rank
