"""Content types from outside names (object keys, uploaded file names): never an error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.http.content_types import DEFAULT_CONTENT_TYPE, content_type_for

extensions = st.sampled_from(["mp3", "MP3", "flac", "m4a", "opus", "m3u8", "", "tar.gz", "é"])


@given(st.text(), extensions)
def test_any_name_has_a_printable_content_type(stem: str, extension: str) -> None:
    for name in (stem, f"{stem}.{extension}", f"{extension}/{stem}"):
        content_type = content_type_for(name)
        assert content_type.isascii()
        assert content_type.isprintable()


@given(st.text().filter(lambda s: "." not in s and "/" not in s))
def test_a_name_without_an_extension_is_octet_stream(name: str) -> None:
    assert content_type_for(name) == DEFAULT_CONTENT_TYPE
