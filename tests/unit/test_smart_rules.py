"""The JSON shape of smart playlist rules (streamer.playlists.rules): what validates, and
the message that says why the rest does not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from streamer.playlists.edits import ComputedItems, Snapshot, insert, move, remove, replace_items
from streamer.playlists.rules import (
    FIELDS,
    MAX_DEPTH,
    OPERATORS,
    RULE_EXAMPLES,
    Condition,
    Rule,
    field_type,
    parse_value,
)


def _error(rule: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate(rule)
    return " ".join(error["msg"] for error in caught.value.errors())


@pytest.mark.parametrize("name", list(RULE_EXAMPLES))
def test_the_documented_examples_validate_and_round_trip(name: str) -> None:
    rule = Rule.model_validate(RULE_EXAMPLES[name]["value"])
    assert Rule.model_validate(rule.stored()) == rule


def test_field_types() -> None:
    assert field_type("genre") == "text"
    assert field_type("labels") == "list"
    assert field_type("added") == "date"
    assert field_type("tag:musicbrainz_artistid") == "text"
    assert field_type("tag:") is None
    assert field_type("tag:a'b") is None
    assert field_type("colour") is None
    assert set(FIELDS.values()) == set(OPERATORS)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"field": "colour", "op": "is", "value": "red"}, "unknown field 'colour'"),
        ({"field": "year", "op": "contains", "value": "9"}, "does not apply to the number field"),
        ({"field": "title", "op": "gt", "value": 3}, "does not apply to the text field"),
        ({"field": "added", "op": "is", "value": "2026-01-01"}, "does not apply to the date"),
        ({"field": "labels", "op": "starts_with", "value": "a"}, "does not apply to the list"),
        ({"field": "title", "op": "is", "value": 3}, "expects a text value"),
        ({"field": "title", "op": "is", "value": ""}, "1 to 500 characters"),
        ({"field": "title", "op": "is"}, "expects a text value"),
        ({"field": "title", "op": "is", "value": "a\x00b"}, "without NUL"),
        ({"field": "year", "op": "gt", "value": "1990"}, "expects a number"),
        ({"field": "year", "op": "gt", "value": True}, "Input should be"),
        ({"field": "year", "op": "between", "value": [1, 2, 3]}, "two values"),
        ({"field": "year", "op": "between", "value": [2000, 1990]}, "low <= high"),
        ({"field": "added", "op": "before", "value": "yesterday"}, "not an ISO date"),
        ({"field": "added", "op": "in_the_last", "value": 0}, "above 0"),
        ({"field": "added", "op": "in_the_last", "value": 10**6}, "at most"),
        ({"field": "title", "op": "in", "value": []}, "a list of 1 to 100"),
        ({"field": "title", "op": "in", "value": "a"}, "a list of 1 to 100"),
        ({"field": "title", "op": "is_empty", "value": "a"}, "takes no value"),
        ({"field": "title", "op": "like", "value": "a"}, "Input should be"),
        ({"field": "title", "op": "is", "value": "a", "extra": 1}, "Extra inputs"),
    ],
)
def test_bad_conditions_say_why(condition: dict[str, Any], message: str) -> None:
    assert message in _error({"match": condition})


def test_groups_nest_and_are_bounded() -> None:
    deep: dict[str, Any] = {"field": "year", "op": "is", "value": 1}
    for n in range(MAX_DEPTH):
        deep = {"all" if n % 2 else "any": [deep]}
    Rule.model_validate({"match": deep})
    assert "nest at most" in _error({"match": {"all": [deep]}})
    many = [{"field": "year", "op": "is", "value": n} for n in range(150)]
    assert "at most 200 conditions" in _error({"match": {"all": [{"any": many}, {"all": many}]}})
    assert "Extra inputs" in _error({"match": {"all": [], "any": []}})


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ([{"field": "labels"}], "cannot order by 'labels'"),
        ([{"field": "random"}, {"field": "year"}], "stands alone"),
        ([{"field": "year", "seed": "x"}], "random order only"),
        ([{"field": "year", "direction": "up"}], "Input should be"),
    ],
)
def test_bad_orders(order: list[dict[str, Any]], message: str) -> None:
    assert message in _error({"order": order})


def test_values_are_typed() -> None:
    assert parse_value("number", "between", [1, 2.5]) == (1.0, 2.5)
    assert parse_value("date", "before", "2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_value("date", "after", "2026-01-31T10:00:00+02:00") == datetime(
        2026, 1, 31, 8, tzinfo=UTC
    )
    assert parse_value("text", "in", ["a", "b"]) == ("a", "b")
    assert parse_value("text", "is_empty", None) is None
    condition = Condition(field="added", op="in_the_last", value=30)
    assert condition.typed_value() == 30.0


def test_the_items_of_a_smart_playlist_are_not_edited() -> None:
    smart = Snapshot("s", "", (), {"match": {"all": []}})
    edits: list[Callable[[], Snapshot]] = [
        lambda: insert(smart, ["a"]),
        lambda: move(smart, 0, 0),
        lambda: remove(smart, 0),
        lambda: replace_items(smart, []),
    ]
    for edit in edits:
        with pytest.raises(ComputedItems, match="smart playlist"):
            edit()
    plain = Snapshot("p", "", ("a",))
    assert replace_items(plain, ["b"]).track_ids == ("b",)
    assert plain.as_dict()["rules"] is None
