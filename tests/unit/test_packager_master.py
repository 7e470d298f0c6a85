"""Master playlists, RFC 8216 §4.3.4 and rfc8216bis: each test is named for the rule it checks.

Every playlist is parsed back with the m3u8 library (strictly, so an unknown line fails) and
the parsed values are checked, not only the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import m3u8
import pytest

from packager import Variant, master_playlist

LADDER = [
    Variant(
        uri="aac_128k/index.m3u8", bandwidth=141_000, average_bandwidth=132_000, codecs="mp4a.40.2"
    ),
    Variant(
        uri="aac_64k/index.m3u8", bandwidth=72_000, average_bandwidth=66_000, codecs="mp4a.40.2"
    ),
    Variant(
        uri="aac_256k/index.m3u8", bandwidth=280_000, average_bandwidth=262_000, codecs="mp4a.40.2"
    ),
]


def parsed(text: str) -> Any:
    """The playlist as m3u8 reads it, after a strict parse that rejects unknown lines."""
    m3u8.parse(text, strict=True)
    return m3u8.loads(text)


def stream_inf_attributes(text: str) -> list[dict[str, str]]:
    """Each EXT-X-STREAM-INF's attributes by name (values here hold no commas)."""
    return [
        dict(pair.split("=", 1) for pair in line.removeprefix("#EXT-X-STREAM-INF:").split(","))
        for line in text.splitlines()
        if line.startswith("#EXT-X-STREAM-INF:")
    ]


def test_audio_ladder_is_written_exactly() -> None:
    assert master_playlist(LADDER[:2]) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=141000,AVERAGE-BANDWIDTH=132000,CODECS="mp4a.40.2"\n'
        "aac_128k/index.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=72000,AVERAGE-BANDWIDTH=66000,CODECS="mp4a.40.2"\n'
        "aac_64k/index.m3u8\n"
    )


def test_parsed_variants_carry_bandwidth_average_bandwidth_and_codecs() -> None:
    playlist = parsed(master_playlist(LADDER))
    assert playlist.is_variant
    assert [
        (p.uri, p.stream_info.bandwidth, p.stream_info.average_bandwidth)
        for p in playlist.playlists
    ] == [
        ("aac_128k/index.m3u8", 141_000, 132_000),
        ("aac_64k/index.m3u8", 72_000, 66_000),
        ("aac_256k/index.m3u8", 280_000, 262_000),
    ]
    assert {p.stream_info.codecs for p in playlist.playlists} == {"mp4a.40.2"}


def test_variants_keep_the_given_order_so_the_first_is_where_clients_start() -> None:
    for ladder in (LADDER, LADDER[::-1]):
        playlist = parsed(master_playlist(ladder))
        assert [p.uri for p in playlist.playlists] == [v.uri for v in ladder]


@pytest.mark.parametrize("version", [3, 7, 9])
def test_version_is_written_as_given(version: int) -> None:
    assert parsed(master_playlist(LADDER, version=version)).version == version


@pytest.mark.parametrize("independent", [True, False])
def test_independent_segments_tag_follows_the_flag(independent: bool) -> None:
    text = master_playlist(LADDER, independent=independent)
    assert parsed(text).is_independent_segments is independent


@pytest.mark.parametrize("codecs", ["mp4a.40.2", "mp4a.40.5", "fLaC", "Opus"])
def test_codecs_is_a_quoted_string(codecs: str) -> None:
    text = master_playlist([Variant(uri="r/index.m3u8", bandwidth=1_000_000, codecs=codecs)])
    assert stream_inf_attributes(text)[0]["CODECS"] == f'"{codecs}"'
    assert parsed(text).playlists[0].stream_info.codecs == codecs


def test_average_bandwidth_is_left_out_when_unknown() -> None:
    text = master_playlist([Variant(uri="flac/index.m3u8", bandwidth=900_000, codecs="fLaC")])
    assert "AVERAGE-BANDWIDTH" not in text
    assert parsed(text).playlists[0].stream_info.average_bandwidth is None


def test_audio_variant_writes_only_stream_inf_attributes_and_no_resolution() -> None:
    variant = Variant(
        uri="opus/index.m3u8",
        bandwidth=110_000,
        average_bandwidth=96_000,
        codecs="Opus",
        name="Opus 96k",
        sample_rate=48_000,
        channels=2,
    )
    text = master_playlist([variant])
    # NAME, CHANNELS and SAMPLE-RATE are EXT-X-MEDIA attributes, not EXT-X-STREAM-INF ones.
    assert list(stream_inf_attributes(text)[0]) == ["BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS"]
    assert "Opus 96k" not in text
    assert parsed(text).playlists[0].stream_info.resolution is None


def test_every_line_ends_with_lf_and_none_with_cr() -> None:
    text = master_playlist(LADDER)
    assert text.startswith("#EXTM3U\n")
    assert text.endswith("\n")
    assert "\r" not in text


# --- invalid input ------------------------------------------------------------------------


def variant(**changes: Any) -> Variant:
    fields: dict[str, Any] = {"uri": "r/index.m3u8", "bandwidth": 140_000, "codecs": "mp4a.40.2"}
    return Variant(**(fields | changes))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: master_playlist([]), id="no variants"),
        pytest.param(lambda: master_playlist(LADDER, version=0), id="version 0"),
        pytest.param(lambda: variant(bandwidth=0), id="zero bandwidth"),
        pytest.param(lambda: variant(bandwidth=-1), id="negative bandwidth"),
        pytest.param(lambda: variant(bandwidth=True), id="bool bandwidth"),
        pytest.param(lambda: variant(average_bandwidth=0), id="zero average bandwidth"),
        pytest.param(lambda: variant(average_bandwidth=150_000), id="average above peak"),
        pytest.param(lambda: variant(codecs=""), id="empty codecs"),
        pytest.param(lambda: variant(codecs='mp4a.40.2"'), id="codecs with quote"),
        pytest.param(lambda: variant(codecs="mp4a.40.2\n"), id="codecs with lf"),
        pytest.param(lambda: variant(uri=""), id="empty uri"),
        pytest.param(lambda: variant(uri="r/index.m3u8\n#EXTINF:1,"), id="uri with lf"),
        pytest.param(lambda: variant(uri="#r/index.m3u8"), id="uri reads as a tag"),
        pytest.param(lambda: variant(name='say "hi"'), id="name with quote"),
        pytest.param(lambda: variant(sample_rate=0), id="zero sample rate"),
        pytest.param(lambda: variant(channels=-2), id="negative channels"),
    ],
)
def test_invalid_input_raises_value_error(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        make()
