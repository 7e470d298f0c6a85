"""tus 1.0 header rules, one test per rule, without HTTP."""

from __future__ import annotations

import base64
import hashlib

import pytest

from streamer.uploads.protocol import (
    HUGE,
    TusError,
    check_version,
    encode_metadata,
    parse_checksum,
    parse_length,
    parse_metadata,
    parse_offset,
    safe_filename,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_only_version_1_0_0_is_spoken() -> None:
    check_version("1.0.0")
    for other in (None, "0.2.2", "1.0"):
        with pytest.raises(TusError) as refused:
            check_version(other)
        assert refused.value.status == 412


@pytest.mark.parametrize("value", [None, "", "-1", "1.5", "abc", "1e30", "+1", "1 0", "\u00b2"])
def test_lengths_and_offsets_are_non_negative_integers(value: str | None) -> None:
    for parse in (parse_offset, lambda v: parse_length(v, 10**30)):
        with pytest.raises(TusError) as refused:
            parse(value)
        assert refused.value.status == 400


def test_a_length_over_the_limit_is_a_413() -> None:
    assert parse_length("100", 100) == 100
    with pytest.raises(TusError) as refused:
        parse_length("101", 100)
    assert refused.value.status == 413


@pytest.mark.parametrize("value", ["101", str(10**15), str(10**30), "9" * 5000])
def test_a_length_over_the_limit_is_a_413_however_many_digits_it_has(value: str) -> None:
    with pytest.raises(TusError) as refused:
        parse_length(value, 100)
    assert refused.value.status == 413
    assert "exceeds the limit of 100 bytes" in refused.value.detail
    assert len(refused.value.detail) < 120


def test_leading_zeros_do_not_make_a_length_too_large() -> None:
    assert parse_length("0" * 30 + "100", 100) == 100
    assert parse_offset("0" * 30) == 0


@pytest.mark.parametrize("value", [str(10**19), str(10**30), "9" * 5000])
def test_an_offset_of_any_size_is_read_as_past_every_upload(value: str) -> None:
    assert parse_offset(value) == HUGE


def test_metadata_values_are_base64_and_may_be_empty() -> None:
    header = f"filename {b64('é song.flac')},library {b64('abc')},is_confidential"
    assert parse_metadata(header) == {
        "filename": "é song.flac",
        "library": "abc",
        "is_confidential": "",
    }
    assert parse_metadata(encode_metadata(parse_metadata(header))) == parse_metadata(header)
    assert parse_metadata(None) == {}


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("a !!!", id="not base64"),
        pytest.param(f"a {b64('x')},a {b64('y')}", id="duplicate key"),
        pytest.param("a b c", id="three parts"),
        pytest.param(f"a,{b64('x')} {b64('y')}", id="key not a token"),
        pytest.param("a " + base64.b64encode(b"\xff").decode(), id="not UTF-8"),
    ],
)
def test_malformed_metadata_is_a_400(header: str) -> None:
    with pytest.raises(TusError) as refused:
        parse_metadata(header)
    assert refused.value.status == 400


# Found by test_tus_protocol_properties.py: base64.b64decode raises a plain ValueError (not
# binascii.Error) for a str with non-ASCII characters, and header values arrive as latin-1.
@pytest.mark.parametrize("value", ["a \xe9", "filename Zm9v\xff", "a \u20ac"])
def test_a_non_ascii_metadata_value_is_a_400(value: str) -> None:
    with pytest.raises(TusError) as refused:
        parse_metadata(value)
    assert refused.value.status == 400


@pytest.mark.parametrize("value", ["sha1 \xe9", "sha256 AAAA\xff", "md5 \u20ac"])
def test_a_non_ascii_checksum_digest_is_a_400(value: str) -> None:
    with pytest.raises(TusError) as refused:
        parse_checksum(value)
    assert refused.value.status == 400


def test_a_checksum_names_an_offered_algorithm_and_a_digest_of_its_size() -> None:
    digest = hashlib.sha256(b"x").digest()
    checksum = parse_checksum(f"sha256 {base64.b64encode(digest).decode()}")
    assert checksum is not None
    assert checksum.digest == digest
    assert parse_checksum(None) is None
    for bad in ("crc32 AAAA", "sha1 AAAA", "sha1", "md5 !!!"):
        with pytest.raises(TusError) as refused:
            parse_checksum(bad)
        assert refused.value.status == 400


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("song.flac", "song.flac"),
        ("../../etc/passwd.mp3", "passwd.mp3"),
        ("C:\\music\\a.mp3", "a.mp3"),
        (".hidden.mp3", "hidden.mp3"),
        ("a\x00b?.mp3", "a_b_.mp3"),
        ("x" * 300 + ".flac", "x" * 145 + ".flac"),
    ],
)
def test_file_names_become_one_safe_key_component(given: str, safe: str) -> None:
    assert safe_filename(given) == safe


@pytest.mark.parametrize("given", ["", "...", "dir/", " . "])
def test_a_file_name_with_nothing_left_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="nothing usable"):
        safe_filename(given)
