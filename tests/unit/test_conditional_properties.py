"""Entity-tags and preconditions under generated input: nothing escapes, tag lists round-trip."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.http.conditional import (
    evaluate_preconditions,
    if_range_allows,
    make_etag,
    parse_etag_list,
)
from streamer.http.dates import format_http_date

ETAGC = "".join(chr(c) for c in range(0x21, 0x7F) if c != 0x22)
tokens = st.text(alphabet=ETAGC, min_size=1, max_size=20)
ows = st.sampled_from(["", " ", "\t", " \t "])
# Pieces of entity-tags shuffled, besides arbitrary text: near misses find more.
pieces = st.sampled_from(['"', "W/", "w/", ",", " ", "\t", "*", "a", "é", "\x00", '""', 'W/"x"'])
field_values = st.one_of(st.text(), st.lists(pieces, max_size=16).map("".join))
tags = st.tuples(st.booleans(), tokens)
methods = st.sampled_from(["GET", "HEAD", "PUT", "DELETE", "POST"])
CONDITIONS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
LAST_MODIFIED = 1_700_000_000


def _etag(weak: bool, token: str) -> str:
    return ("W/" if weak else "") + make_etag(token)


@given(field_values)
def test_any_field_value_parses_to_star_or_well_formed_tags(value: str) -> None:
    parsed = parse_etag_list(value)
    if parsed == "*":
        return
    for weak, opaque in parsed:
        assert isinstance(weak, bool)
        assert len(opaque) >= 2
        assert opaque[0] == opaque[-1] == '"'
        assert set(opaque[1:-1]) <= set(ETAGC)


@given(st.lists(st.tuples(tags, ows, ows), min_size=1, max_size=8), st.integers(0, 3))
def test_a_formatted_tag_list_parses_back_to_the_same_tags(
    elements: list[tuple[tuple[bool, str], str, str]], empty: int
) -> None:
    # OWS around each element and empty list elements are allowed (RFC 9110 §5.6.1).
    value = ",".join(before + _etag(*tag) + after for tag, before, after in elements)
    value = "," * empty + value + "," * empty
    expected = [(weak, f'"{token}"') for (weak, token), _, _ in elements]
    assert parse_etag_list(value) == expected


@given(st.text())
def test_make_etag_accepts_only_etagc_tokens(token: str) -> None:
    try:
        etag = make_etag(token)
    except ValueError:
        assert not token or not set(token) <= set(ETAGC)
        return
    assert parse_etag_list(etag) == [(False, etag)]


@given(
    methods,
    st.dictionaries(st.sampled_from(CONDITIONS), field_values, max_size=4),
    tags,
)
def test_any_preconditions_give_412_304_or_carry_on(
    method: str, headers: dict[str, str], etag: tuple[bool, str]
) -> None:
    result = evaluate_preconditions(method, headers, _etag(*etag), LAST_MODIFIED)
    assert result in (None, 304, 412)
    if result == 304:
        assert method in ("GET", "HEAD")


@given(methods, tags, st.lists(tags, max_size=4))
def test_if_match_with_our_strong_tag_never_fails(
    method: str, etag: tuple[bool, str], others: list[tuple[bool, str]]
) -> None:
    token = etag[1]
    value = ", ".join(_etag(*tag) for tag in [*others, (False, token)])
    result = evaluate_preconditions(method, {"if-match": value}, _etag(False, token), 0)
    assert result is None


@given(tags, st.lists(tags, max_size=4))
def test_if_none_match_with_our_tag_is_not_modified_weak_or_strong(
    etag: tuple[bool, str], others: list[tuple[bool, str]]
) -> None:
    value = ", ".join(_etag(*tag) for tag in [*others, etag])
    weak, token = etag
    assert evaluate_preconditions("GET", {"if-none-match": value}, _etag(not weak, token), 0) == 304


@given(st.one_of(st.none(), field_values), tags)
def test_if_range_never_fails_and_a_weak_tag_never_allows(
    value: str | None, etag: tuple[bool, str]
) -> None:
    allowed = if_range_allows(value, _etag(*etag), LAST_MODIFIED)
    assert isinstance(allowed, bool)
    if etag[0] and value is not None and value.strip(" \t").startswith(('"', 'W/"')):
        assert not allowed


@given(tokens, st.integers(0, 2**35))
def test_if_range_allows_exactly_our_strong_tag_or_our_date(token: str, seconds: int) -> None:
    etag = make_etag(token)
    assert if_range_allows(etag, etag, seconds)
    assert not if_range_allows("W/" + etag, etag, seconds)
    assert if_range_allows(format_http_date(seconds), etag, seconds)
    assert not if_range_allows(format_http_date(seconds + 1), etag, seconds)
