"""Piece names and spans of object-store staging (streamer/uploads/pieces.py): pure."""

from __future__ import annotations

import pytest

from streamer.uploads.pieces import ObjectStaging, piece_name, piece_spans


def test_a_piece_name_sorts_as_its_offset_and_carries_a_token() -> None:
    assert piece_name(1234, "ab12") == "0000000000001234-ab12"
    names = [piece_name(offset) for offset in (10, 2, 300_000)]
    assert sorted(names) == [names[1], names[0], names[2]]


def test_two_pieces_at_one_offset_get_different_names() -> None:
    assert piece_name(0) != piece_name(0)


def test_spans_are_the_distances_between_offsets_and_to_the_end() -> None:
    pieces = [piece_name(0, "a"), piece_name(10, "b"), piece_name(25, "c")]
    assert piece_spans(pieces, 40) == [(pieces[0], 10), (pieces[1], 15), (pieces[2], 15)]


def test_no_pieces_span_nothing() -> None:
    assert piece_spans([], 0) == []


@pytest.mark.parametrize(
    ("pieces", "end"),
    [
        pytest.param([], 5, id="bytes but no piece"),
        pytest.param([piece_name(3, "a")], 5, id="not from 0"),
        pytest.param([piece_name(0, "a"), piece_name(0, "b")], 5, id="two at one offset"),
        pytest.param([piece_name(0, "a"), piece_name(9, "b")], 5, id="past the end"),
        pytest.param(["../x"], 5, id="not a piece name"),
    ],
)
def test_inconsistent_pieces_are_refused(pieces: list[str], end: int) -> None:
    with pytest.raises(ValueError, match="piece"):
        piece_spans(pieces, end)


@pytest.mark.parametrize("upload_id", ["", "../etc", "a/b", "a b"])
def test_a_prefix_is_built_only_from_an_upload_id(upload_id: str) -> None:
    with pytest.raises(ValueError, match="invalid upload id"):
        ObjectStaging.prefix(upload_id)
