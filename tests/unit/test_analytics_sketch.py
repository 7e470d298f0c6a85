"""Unique-listener sketches: exact while small, HyperLogLog beyond, merging as a union."""

from __future__ import annotations

import pytest

from streamer.analytics.sketch import EXACT_MAX, Sketch, listener_hash


def _sketch(names: range | list[str]) -> Sketch:
    sketch = Sketch()
    sketch.add_all(listener_hash(str(n)) for n in names)
    return sketch


def test_small_sets_are_exact_and_round_trip() -> None:
    sketch = _sketch(range(EXACT_MAX))
    assert sketch.exact
    assert sketch.estimate() == EXACT_MAX
    again = Sketch(bytes(sketch))
    assert again.exact
    assert again.estimate() == EXACT_MAX


def test_empty_sketch_is_empty_bytes() -> None:
    assert bytes(Sketch()) == b""
    assert Sketch(b"").estimate() == 0


def test_merging_is_a_union_not_a_sum() -> None:
    a, b = _sketch(range(30)), _sketch(range(20, 50))
    a.update(bytes(b))
    assert a.estimate() == 50


@pytest.mark.parametrize("n", [1_000, 20_000])
def test_large_sets_are_estimated_within_a_few_percent(n: int) -> None:
    sketch = _sketch(range(n))
    assert not sketch.exact
    assert abs(sketch.estimate() - n) / n < 0.08


def test_dense_merges_with_exact_and_dense() -> None:
    big = _sketch(range(5_000))
    other = _sketch(range(4_000, 9_000))
    small = _sketch(range(9_000, 9_010))
    big.update(other)
    big.update(small)
    assert abs(big.estimate() - 9_010) / 9_010 < 0.08
    merged = Sketch(bytes(small))
    merged.update(Sketch(bytes(big)))
    assert merged.estimate() == big.estimate()


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not a listener sketch"):
        Sketch(b"\x07abc")
