"""The rules of a smart playlist: their JSON shape, what each field accepts, validation.

A rule is a tree of conditions under ``all`` (and) / ``any`` (or) groups, with an order,
a limit and optionally the libraries it draws from::

    {"match": {"all": [
        {"field": "genre", "op": "is", "value": "Jazz"},
        {"any": [{"field": "year", "op": "between", "value": [1955, 1965]},
                 {"field": "labels", "op": "contains", "value": "classic"}]}]},
     "order": [{"field": "random", "seed": "monday"}],
     "limit": 50}

Each field has a type (text, number, date, list) that decides its operators and the value
each operator takes (:data:`OPERATORS`, :func:`parse_value`). Everything is checked here,
as pydantic validators, so a rule that passes compiles (streamer.playlists.compile) and
the API answers a bad one with 422 naming the place and the reason. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "FIELDS",
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "OPERATORS",
    "RULE_EXAMPLES",
    "SORTABLE",
    "AllGroup",
    "AnyGroup",
    "Condition",
    "FieldType",
    "Node",
    "OrderKey",
    "Rule",
    "field_type",
    "parse_value",
    "shuffle_key",
]

FieldType = Literal["text", "number", "date", "list"]
Operator = Literal[
    "is",
    "is_not",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "in",
    "not_in",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "before",
    "after",
    "in_the_last",
    "not_in_the_last",
    "is_empty",
    "is_not_empty",
]

# The fields a condition may name, with their types. ``tag:{name}`` names any tag the scan
# read from the file (its first value, as text).
FIELDS: Mapping[str, FieldType] = {
    "title": "text",
    "artist": "text",
    "album": "text",
    "album_artist": "text",
    "genre": "text",
    "path": "text",
    "codec": "text",
    "labels": "list",
    "year": "number",
    "duration": "number",
    "loudness": "number",
    # Declared for rules written now; reads 0 until analytics counts plays.
    "play_count": "number",
    "track_number": "number",
    "disc_number": "number",
    "bitrate": "number",
    "added": "date",
}
_TAG_FIELD = re.compile(r"^tag:([A-Za-z0-9_.\- ]{1,64})$")

OPERATORS: Mapping[FieldType, tuple[Operator, ...]] = {
    "text": (
        "is",
        "is_not",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "in",
        "not_in",
        "is_empty",
        "is_not_empty",
    ),
    "number": ("is", "is_not", "lt", "lte", "gt", "gte", "between", "is_empty", "is_not_empty"),
    "date": ("before", "after", "between", "in_the_last", "not_in_the_last"),
    "list": ("contains", "not_contains", "in", "not_in", "is_empty", "is_not_empty"),
}
# Fields an order may name (a list has no order of its own), and "random".
SORTABLE = frozenset(name for name, kind in FIELDS.items() if kind != "list")

MAX_DEPTH = 6  # groups inside groups: more is a mistake, not a rule
MAX_CONDITIONS = 200
MAX_DAYS = 36_600  # a century: "in the last N days"

Scalar = StrictStr | StrictInt | StrictFloat
Value = Scalar | Annotated[list[Scalar], Field(max_length=100)] | None


def field_type(name: str) -> FieldType | None:
    """The type of a field, or None for a name no field has."""
    if name in FIELDS:
        return FIELDS[name]
    if _TAG_FIELD.match(name):
        return "text"
    return None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expects a text value")
    if not 1 <= len(value) <= 500:
        raise ValueError("expects a text of 1 to 500 characters")
    if "\0" in value:  # no tag holds one (the scan strips them); PostgreSQL refuses them
        raise ValueError("expects a text without NUL characters")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expects a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("expects a finite number")
    return float(value)


def _instant(value: object) -> datetime:
    """An ISO date (its 00:00 UTC) or date-time (UTC when it carries no offset)."""
    if not isinstance(value, str):
        raise ValueError("expects an ISO date (2026-01-31) or date-time")
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date (2026-01-31) or date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _pair(value: object) -> tuple[object, object]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("expects two values, [low, high]")
    return value[0], value[1]


def parse_value(kind: FieldType, op: Operator, value: object) -> Any:
    """The value of a condition, typed for its field and operator (a float, a UTC
    datetime, a text, a tuple of them, or None). Raises ValueError saying what it expects.
    """
    if op in ("is_empty", "is_not_empty"):
        if value is not None:
            raise ValueError(f"{op} takes no value")
        return None
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"{op} expects a list of 1 to 100 texts")
        return tuple(_text(item) for item in value)
    if op == "between":
        low, high = _pair(value)
        parse = _instant if kind == "date" else _number
        bounds = (parse(low), parse(high))
        if bounds[0] > bounds[1]:  # type: ignore[operator]
            raise ValueError("between expects [low, high] with low <= high")
        return bounds
    if op in ("in_the_last", "not_in_the_last"):
        days = _number(value)
        if not 0 < days <= MAX_DAYS:
            raise ValueError(f"{op} expects a number of days above 0, at most {MAX_DAYS}")
        return days
    if kind == "date":
        return _instant(value)
    if kind == "number":
        return _number(value)
    return _text(value)


class Condition(BaseModel):
    """One test of a track: ``field`` ``op`` ``value``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"field": "genre", "op": "is", "value": "Jazz"},
                {"field": "year", "op": "between", "value": [1990, 1999]},
                {"field": "added", "op": "in_the_last", "value": 30},
                {"field": "tag:mood", "op": "contains", "value": "calm"},
                {"field": "album", "op": "is_empty"},
            ]
        },
    )

    field: Annotated[
        str,
        Field(
            max_length=70,
            description="a field of FIELDS (title, artist, album, album_artist, genre, "
            "path, codec, labels, year, duration, loudness, play_count, track_number, "
            "disc_number, bitrate, added) or tag:{name} for any tag of the file",
        ),
    ]
    op: Operator
    value: Value = Field(
        default=None,
        description="text, number, ISO date, [low, high] for between, a list for in, "
        "days for in_the_last; none for is_empty",
    )

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        if field_type(name) is None:
            known = ", ".join(FIELDS)
            raise ValueError(f"unknown field {name!r}; fields are {known}, or tag:{{name}}")
        return name

    @model_validator(mode="after")
    def _operator_and_value(self) -> Condition:
        kind = field_type(self.field)
        assert kind is not None  # the field validator ran first
        if self.op not in OPERATORS[kind]:
            allowed = ", ".join(OPERATORS[kind])
            raise ValueError(
                f"operator {self.op!r} does not apply to the {kind} field {self.field!r}; "
                f"use one of {allowed}"
            )
        try:
            parse_value(kind, self.op, self.value)
        except ValueError as exc:
            raise ValueError(f"{self.field} {self.op}: {exc}") from None
        return self

    def typed_value(self) -> Any:
        """The value parsed for the field and operator (see :func:`parse_value`)."""
        kind = field_type(self.field)
        assert kind is not None
        return parse_value(kind, self.op, self.value)


def _node_kind(value: object) -> str:
    if isinstance(value, dict):
        return "all" if "all" in value else "any" if "any" in value else "condition"
    if isinstance(value, AllGroup):
        return "all"
    return "any" if isinstance(value, AnyGroup) else "condition"


class AllGroup(BaseModel):
    """Every condition holds (and). An empty ``all`` matches every track."""

    model_config = ConfigDict(extra="forbid")

    all: Annotated[list[Node], Field(max_length=MAX_CONDITIONS)]


class AnyGroup(BaseModel):
    """At least one condition holds (or). An empty ``any`` matches no track."""

    model_config = ConfigDict(extra="forbid")

    any: Annotated[list[Node], Field(max_length=MAX_CONDITIONS)]


Node = Annotated[
    Annotated[Condition, Tag("condition")]
    | Annotated[AllGroup, Tag("all")]
    | Annotated[AnyGroup, Tag("any")],
    Discriminator(_node_kind),
]
AllGroup.model_rebuild()
AnyGroup.model_rebuild()


class OrderKey(BaseModel):
    """One key of the order. ``random`` (with a ``seed``; the same seed gives the same
    order) stands alone."""

    model_config = ConfigDict(extra="forbid")

    field: Annotated[str, Field(max_length=70, description="a sortable field, or random")]
    direction: Literal["asc", "desc"] = "asc"
    seed: Annotated[
        str | None, Field(max_length=64, description="random only: the shuffle's seed")
    ] = None

    @model_validator(mode="after")
    def _sortable(self) -> OrderKey:
        if self.field == "random":
            return self
        if self.field not in SORTABLE and not _TAG_FIELD.match(self.field):
            known = ", ".join(sorted(SORTABLE))
            raise ValueError(f"cannot order by {self.field!r}; use one of {known}, or random")
        if self.seed is not None:
            raise ValueError("seed goes with the random order only")
        return self


RULE_EXAMPLES: dict[str, dict[str, Any]] = {
    "jazz": {
        "summary": "Jazz of the fifties and sixties, or labelled classic, shuffled",
        "value": {
            "match": {
                "all": [
                    {"field": "genre", "op": "is", "value": "Jazz"},
                    {
                        "any": [
                            {"field": "year", "op": "between", "value": [1950, 1969]},
                            {"field": "labels", "op": "contains", "value": "classic"},
                        ]
                    },
                ]
            },
            "order": [{"field": "random", "seed": "monday"}],
            "limit": 50,
        },
    },
    "recent": {
        "summary": "Added in the last 30 days, newest first",
        "value": {
            "match": {"all": [{"field": "added", "op": "in_the_last", "value": 30}]},
            "order": [{"field": "added", "direction": "desc"}],
            "limit": 100,
        },
    },
    "loud": {
        "summary": "Short, loud tracks from two libraries",
        "value": {
            "match": {
                "all": [
                    {"field": "duration", "op": "lt", "value": 240},
                    {"field": "loudness", "op": "gt", "value": -10},
                ]
            },
            "order": [{"field": "loudness", "direction": "desc"}],
            "libraries": ["3f2a9c0d1b7e", "8c1d2e3f4a5b"],
        },
    },
}


class Rule(BaseModel):
    """A smart playlist's rule: which tracks (``match``), in which order, how many, from
    which libraries (None: the playlist's own library)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [example["value"] for example in RULE_EXAMPLES.values()]},
    )

    match: Node = Field(default_factory=lambda: AllGroup(all=[]))
    order: Annotated[list[OrderKey], Field(max_length=5)] = []
    limit: Annotated[int | None, Field(ge=1, le=5_000)] = None
    libraries: Annotated[
        list[Annotated[str, Field(max_length=32)]] | None,
        Field(min_length=1, max_length=100, description="None: the playlist's library"),
    ] = None

    @model_validator(mode="after")
    def _bounded(self) -> Rule:
        depth, count = _measure(self.match)
        if depth > MAX_DEPTH:
            raise ValueError(f"groups nest at most {MAX_DEPTH} deep")
        if count > MAX_CONDITIONS:
            raise ValueError(f"a rule holds at most {MAX_CONDITIONS} conditions")
        if any(key.field == "random" for key in self.order) and len(self.order) > 1:
            raise ValueError("the random order stands alone")
        return self

    def stored(self) -> dict[str, Any]:
        """The JSON stored in playlists.rules (and given back by the API)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


def _measure(node: Condition | AllGroup | AnyGroup) -> tuple[int, int]:
    """(depth of groups, number of conditions) of a tree."""
    if isinstance(node, Condition):
        return 0, 1
    children: Sequence[Condition | AllGroup | AnyGroup] = (
        node.all if isinstance(node, AllGroup) else node.any
    )
    depth, count = 0, 0
    for child in children:
        d, c = _measure(child)
        depth, count = max(depth, d), count + c
    return depth + 1, count


def shuffle_key(seed: str, track_id: str) -> bytes:
    """Where a track falls in the random order of ``seed``: the same on every node and
    database (SQLite has no hash function to do this in SQL)."""
    return hashlib.sha256(f"{seed}\0{track_id}".encode()).digest()
