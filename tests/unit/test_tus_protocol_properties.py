"""tus headers under generated input: only TusError escapes, and metadata round-trips.

Header values reach the parsers as latin-1 text (ASGI decodes bytes that way), so any code
point up to U+00FF is possible; arbitrary text covers that and more.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from streamer.uploads.protocol import (
    CHECKSUM_ALGORITHMS,
    TusError,
    check_version,
    encode_metadata,
    parse_checksum,
    parse_length,
    parse_metadata,
    parse_offset,
    safe_filename,
)

T = TypeVar("T")
latin1 = st.text(alphabet=st.characters(max_codepoint=0xFF))
header_values = st.one_of(st.none(), st.text(), latin1)
keys = st.from_regex(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}", fullmatch=True)
# Near misses: well-formed keys with values that are base64, almost base64 or not ASCII.
encoded = st.one_of(
    st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode()),
    st.from_regex(r"[A-Za-z0-9+/=]{0,12}", fullmatch=True),
    latin1,
)
pairs = st.tuples(keys, encoded).map(lambda pair: " ".join(pair).strip())
metadata_values = st.one_of(header_values, st.lists(pairs, max_size=4).map(",".join))
checksum_values = st.one_of(
    header_values,
    st.tuples(st.sampled_from(["sha1", "SHA256", "md5", "crc32", ""]), encoded).map(" ".join),
)


def _outcome(call: Callable[[], T]) -> tuple[T | None, int | None]:
    """What a parser gives: (result, None), or (None, status) for a TusError."""
    try:
        return call(), None
    except TusError as exc:
        return None, exc.status


@given(header_values)
def test_any_version_is_ours_or_a_412(value: str | None) -> None:
    assert _outcome(lambda: check_version(value))[1] in (None, 412)


@given(header_values, st.integers(0, 2**64))
def test_any_length_is_a_count_within_the_limit_or_a_tus_error(
    value: str | None, limit: int
) -> None:
    length, status = _outcome(lambda: parse_length(value, limit))
    if length is None:
        assert status in (400, 413)
        return
    assert value is not None
    assert 0 <= length <= limit
    assert length == int(value.strip())


@given(header_values)
def test_any_offset_is_a_count_or_a_400(value: str | None) -> None:
    offset, status = _outcome(lambda: parse_offset(value))
    assert status == 400 if offset is None else offset >= 0


@given(metadata_values)
def test_any_metadata_is_a_dict_of_text_or_a_400(value: str | None) -> None:
    metadata, status = _outcome(lambda: parse_metadata(value))
    if metadata is None:
        assert status == 400
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())


@given(st.dictionaries(keys, st.text(max_size=40), max_size=8))
def test_encoded_metadata_parses_back(metadata: dict[str, str]) -> None:
    assert parse_metadata(encode_metadata(metadata)) == metadata


@given(checksum_values)
def test_any_checksum_is_none_a_checksum_or_a_400(value: str | None) -> None:
    checksum, status = _outcome(lambda: parse_checksum(value))
    if status is not None:
        assert status == 400
        return
    assert (checksum is None) == (value is None)


@given(st.sampled_from(sorted(CHECKSUM_ALGORITHMS)), st.binary(max_size=64), st.booleans())
def test_a_formatted_checksum_parses_back(algorithm: str, data: bytes, upper: bool) -> None:
    digest = hashlib.new(algorithm, data).digest()
    name = algorithm.upper() if upper else algorithm
    checksum = parse_checksum(f"{name} {base64.b64encode(digest).decode()}")
    assert checksum is not None
    assert (checksum.algorithm, checksum.digest) == (algorithm, digest)


@given(st.text(), st.integers(1, 200))
def test_any_file_name_is_one_safe_component_or_a_value_error(name: str, limit: int) -> None:
    try:
        safe = safe_filename(name, limit=limit)
    except ValueError:
        return
    assert safe not in ("", ".", "..")
    assert not safe.startswith(".")
    assert safe == safe.strip()
    assert not set(safe) & set('/\\:*?"<>|\0\r\n')
    assert len(safe) <= max(limit, 17)
    assert safe_filename(safe, limit=limit) == safe
