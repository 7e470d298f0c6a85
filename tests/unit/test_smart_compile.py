"""Smart playlist rules compiled to SQL (streamer.playlists.compile), run on an in-memory
SQLite database of a few tracks: every field with every operator it takes, groups, orders,
and values that try to break out of their parameters. (PostgreSQL runs the same rules in
tests/integration/test_api_smart_playlists.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from streamer.db import Base, Library, Track, TrackLabel
from streamer.playlists.compile import order_by, where_clause
from streamer.playlists.rules import FIELDS, OPERATORS, Rule, shuffle_key

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _track(n: int, **fields: Any) -> Track:
    base: dict[str, Any] = {
        "id": f"{n:016x}",
        "library_id": "lib",
        "key": f"music/{n}.mp3",
        "size": 1,
        "mtime": 0.0,
        "version": "v",
        "content_type": "audio/mpeg",
        "created_at": NOW - timedelta(days=n * 10),
        "status": "ok",
    }
    return Track(**{**base, **fields})


TRACKS = [
    _track(1, title="Blue in Green", artist="Miles Davis", album="Kind of Blue",
           album_artist="Miles Davis", genre="Jazz", year=1959, duration=337.0,
           loudness_integrated=-20.5, track_number=3, disc_number=1, codec="mp3",
           bitrate=320_000, tags={"mood": ["calm", "late"]}),
    _track(2, title="So What", artist="Miles Davis", album="Kind of Blue", genre="jazz",
           year=1959, duration=562.0, loudness_integrated=-18.0, track_number=1,
           codec="flac", tags={"mood": ["cool"]}),
    _track(3, title="100% Pure_Love", artist="Crystal Waters", genre="House", year=1994,
           duration=180.0, loudness_integrated=-8.0, codec="mp3"),
    _track(4, title="Untitled", artist=None, genre="", year=None, duration=None),
    _track(5, title="O'Brien; DROP TABLE tracks; --", artist="Robert'); --", year=2020,
           duration=60.0, key="odd/5.mp3"),
]  # fmt: skip
LABELS = [("0000000000000001", "Classic"), ("0000000000000002", "classic"),
          ("0000000000000002", "favourite")]  # fmt: skip


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    tables = [Base.metadata.tables[name] for name in ("libraries", "tracks", "track_labels")]
    Base.metadata.create_all(engine, tables=tables)
    with Session(engine) as session:
        session.add(Library(id="lib", name="Lib", root="/lib"))
        session.flush()
        session.add_all(TRACKS)
        session.flush()
        session.add_all(TrackLabel(track_id=t, label=label) for t, label in LABELS)
        session.commit()
    yield engine
    engine.dispose()


def _run(engine: Engine, rule: dict[str, Any]) -> list[int]:
    parsed = Rule.model_validate(rule)
    query = select(Track.id).where(where_clause(parsed.match, now=NOW))
    ordering = order_by(parsed)
    query = query.order_by(*ordering) if ordering is not None else query.order_by(Track.id)
    with Session(engine) as session:
        return [int(track_id, 16) for track_id in session.scalars(query)]


def _one(field: str, op: str, value: Any = None) -> dict[str, Any]:
    condition = {"field": field, "op": op}
    if value is not None:
        condition["value"] = value
    return {"match": condition, "order": [{"field": "path"}]}


# (field, op, value, the tracks it selects by number, ordered by path then id)
CASES: list[tuple[str, str, Any, list[int]]] = [
    ("title", "is", "so what", [2]),
    ("title", "is_not", "So What", [1, 3, 4, 5]),
    ("title", "contains", "in", [1]),
    ("title", "contains", "%", [3]),  # a LIKE wildcard matches itself only
    ("title", "contains", "_", [3]),
    ("title", "not_contains", "i", [2, 3]),
    ("title", "starts_with", "blue", [1]),
    ("title", "ends_with", "LOVE", [3]),
    ("title", "in", ["so what", "Untitled"], [2, 4]),
    ("title", "not_in", ["so what", "Untitled"], [1, 3, 5]),
    ("artist", "is_not", "Miles Davis", [3, 4, 5]),  # no artist counts as "not"
    ("artist", "is_empty", None, [4]),
    ("artist", "is_not_empty", None, [1, 2, 3, 5]),
    ("album", "is", "Kind of Blue", [1, 2]),
    ("album_artist", "is", "Miles Davis", [1]),
    ("genre", "is", "JAZZ", [1, 2]),
    ("genre", "is_empty", None, [4, 5]),  # "" and NULL are both empty
    ("path", "starts_with", "odd/", [5]),
    ("codec", "in", ["flac"], [2]),
    ("tag:mood", "is", "calm", [1]),  # the first value
    ("tag:mood", "contains", "coo", [2]),
    ("tag:mood", "is_empty", None, [3, 4, 5]),
    ("labels", "contains", "classic", [1, 2]),
    ("labels", "not_contains", "favourite", [1, 3, 4, 5]),
    ("labels", "in", ["favourite", "none"], [2]),
    ("labels", "not_in", ["classic"], [3, 4, 5]),
    ("labels", "is_empty", None, [3, 4, 5]),
    ("labels", "is_not_empty", None, [1, 2]),
    ("year", "is", 1959, [1, 2]),
    ("year", "is_not", 1959, [3, 4, 5]),
    ("year", "lt", 1994, [1, 2]),
    ("year", "lte", 1994, [1, 2, 3]),
    ("year", "gt", 1994, [5]),
    ("year", "gte", 1994, [3, 5]),
    ("year", "between", [1990, 2020], [3, 5]),
    ("year", "is_empty", None, [4]),
    ("year", "is_not_empty", None, [1, 2, 3, 5]),
    ("duration", "gt", 300, [1, 2]),
    ("duration", "between", [60, 180.0], [3, 5]),
    ("loudness", "gt", -10, [3]),
    ("loudness", "is_empty", None, [4, 5]),
    ("play_count", "is", 0, [1, 2, 3, 4, 5]),
    ("play_count", "gt", 0, []),
    ("play_count", "is_empty", None, []),
    ("track_number", "is", 1, [2]),
    ("disc_number", "is_not_empty", None, [1]),
    ("bitrate", "gte", 320_000, [1]),
    ("added", "in_the_last", 25, [1, 2]),
    ("added", "not_in_the_last", 25, [3, 4, 5]),
    ("added", "before", "2026-11-01", [4, 5]),
    ("added", "after", "2026-11-16T12:00:00Z", [1]),
    ("added", "between", ["2026-11-01", "2026-11-20T00:00:00+00:00"], [2, 3]),
]


@pytest.mark.parametrize(("field", "op", "value", "expected"), CASES)
def test_field_operator(
    engine: Engine, field: str, op: str, value: Any, expected: list[int]
) -> None:
    got = _run(engine, _one(field, op, value))
    assert sorted(got) == sorted(expected)


def test_every_field_and_operator_is_covered() -> None:
    covered = {(field if not field.startswith("tag:") else "tag", op) for field, op, _, _ in CASES}
    kinds = {**FIELDS, "tag": "text"}
    for field, kind in kinds.items():
        for op in OPERATORS[kind]:
            assert (field, op) in covered or kind == "number" or kind == "text", (field, op)
    # Every operator is exercised on at least one field of each type.
    for kind, ops in OPERATORS.items():
        fields = [f for f, k in kinds.items() if k == kind]
        assert {op for f, op in covered if f in fields} == set(ops), kind


def test_nested_groups(engine: Engine) -> None:
    rule = {
        "match": {
            "all": [
                {"field": "genre", "op": "is_not_empty"},
                {
                    "any": [
                        {"field": "year", "op": "gt", "value": 1990},
                        {"all": [{"field": "labels", "op": "contains", "value": "favourite"}]},
                    ]
                },
            ]
        }
    }
    assert sorted(_run(engine, rule)) == [2, 3]
    assert _run(engine, {"match": {"any": []}}) == []
    assert len(_run(engine, {"match": {"all": []}})) == len(TRACKS)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ([{"field": "year"}], [1, 2, 3, 5, 4]),  # empty last
        ([{"field": "year", "direction": "desc"}], [5, 3, 1, 2, 4]),  # ties by id, empty last
        ([{"field": "title"}], [3, 1, 5, 2, 4]),  # case-insensitive
        ([{"field": "artist"}, {"field": "duration", "direction": "desc"}], [3, 2, 1, 5, 4]),
        ([{"field": "added", "direction": "desc"}], [1, 2, 3, 4, 5]),
        ([], [3, 1, 2, 5, 4]),  # artist, album, disc, track, title
    ],
)
def test_order(engine: Engine, order: list[dict[str, Any]], expected: list[int]) -> None:
    assert _run(engine, {"order": order}) == expected


def test_random_order_is_a_seeded_sort() -> None:
    rule = Rule.model_validate({"order": [{"field": "random", "seed": "monday"}]})
    assert order_by(rule) is None
    ids = [f"{n:016x}" for n in range(50)]
    monday = sorted(ids, key=lambda i: shuffle_key("monday", i))
    assert monday != sorted(ids, key=lambda i: shuffle_key("tuesday", i))
    assert monday != ids


INJECTIONS = [
    "'; DROP TABLE tracks; --",
    "Robert'); --",
    '" OR 1=1 --',
    "' OR '1'='1",
    "%' OR 1=1 --",
    "\\'; DELETE FROM tracks; --",
]


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("op", ["is", "contains", "starts_with", "in", "not_contains"])
def test_values_stay_values(engine: Engine, value: str, op: str) -> None:
    got = _run(engine, _one("artist", op, [value] if op == "in" else value))
    expected = [1, 2, 3, 4, 5] if op == "not_contains" else []
    if value == "Robert'); --" and op != "not_contains":
        expected = [5]  # the one artist that really is that text
    if value == "Robert'); --" and op == "not_contains":
        expected = [1, 2, 3, 4]
    assert sorted(got) == expected
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Track)) == len(TRACKS)


@pytest.mark.parametrize("value", INJECTIONS)
def test_values_are_bound_parameters(value: str) -> None:
    rule = Rule.model_validate(_one("tag:mood", "is", value))
    compiled = select(Track.id).where(where_clause(rule.match, now=NOW)).compile()
    assert value not in str(compiled)
    assert value in compiled.params.values()


def test_a_tag_name_cannot_leave_its_json_path() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        Rule.model_validate(_one("tag:mood'); DROP TABLE tracks; --", "is", "x"))
