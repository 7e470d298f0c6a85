"""Media playlists, RFC 8216 §4.3.3 and rfc8216bis: each test is named for the rule it checks.

Every playlist is parsed back with the m3u8 library (strictly, so an unknown line fails) and
the parsed values are checked, not only the text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import m3u8
import pytest

from packager import ByteRange, InitSection, Segment, media_playlist

INIT = InitSection("init.mp4")


def segments_of(*durations: float) -> list[Segment]:
    return [Segment(duration, f"seg_{n}.m4s") for n, duration in enumerate(durations)]


def parsed(text: str) -> Any:
    """The playlist as m3u8 reads it, after a strict parse that rejects unknown lines."""
    m3u8.parse(text, strict=True)
    return m3u8.loads(text)


def extinf_values(text: str) -> list[str]:
    return [
        line.removeprefix("#EXTINF:").rstrip(",")
        for line in text.splitlines()
        if line.startswith("#EXTINF:")
    ]


# --- the whole playlist -------------------------------------------------------------------


def test_vod_fmp4_playlist_is_written_exactly() -> None:
    text = media_playlist(INIT, segments_of(6.0, 6.0, 2.5))
    assert text == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-TARGETDURATION:6\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MAP:URI="init.mp4"\n'
        "#EXTINF:6.000,\nseg_0.m4s\n"
        "#EXTINF:6.000,\nseg_1.m4s\n"
        "#EXTINF:2.500,\nseg_2.m4s\n"
        "#EXT-X-ENDLIST\n"
    )


def test_every_line_ends_with_lf_and_none_with_cr() -> None:
    text = media_playlist(INIT, segments_of(6.0, 1.0))
    assert text.endswith("\n")
    assert "\r" not in text
    assert text.startswith("#EXTM3U\n")


def test_parsed_playlist_has_the_segments_in_order() -> None:
    playlist = parsed(media_playlist(INIT, segments_of(6.0, 6.0, 2.5)))
    assert [s.uri for s in playlist.segments] == ["seg_0.m4s", "seg_1.m4s", "seg_2.m4s"]
    assert [s.duration for s in playlist.segments] == [6.0, 6.0, 2.5]
    assert playlist.media_sequence == 0


# --- EXT-X-VERSION ------------------------------------------------------------------------


@pytest.mark.parametrize("version", [6, 7, 8])
def test_version_is_written_as_given(version: int) -> None:
    assert parsed(media_playlist(INIT, segments_of(6.0), version=version)).version == version


@pytest.mark.parametrize("version", [0, 3, 5])
def test_version_below_6_is_rejected_because_ext_x_map_needs_6(version: int) -> None:
    with pytest.raises(ValueError, match="EXT-X-VERSION"):
        media_playlist(INIT, segments_of(6.0), version=version)


# --- EXT-X-TARGETDURATION (§4.3.3.1) ------------------------------------------------------


@pytest.mark.parametrize(
    ("durations", "target"),
    [
        ((6.0,), 6),
        ((6.4999,), 6),
        ((6.5,), 7),
        ((5.9,), 6),
        ((6.0000227,) * 3, 6),
        ((6.0, 6.0, 0.02), 6),
        ((4.0, 6.4999, 3.0), 6),
        ((2.0, 6.5, 6.0), 7),
        ((10.0, 6.0), 10),
    ],
)
def test_target_duration_is_the_largest_extinf_rounded_half_up(
    durations: Sequence[float], target: int
) -> None:
    playlist = parsed(media_playlist(INIT, segments_of(*durations)))
    assert playlist.target_duration == target
    assert all(math.floor(s.duration + 0.5) <= target for s in playlist.segments)


def test_target_duration_follows_the_printed_extinf_not_the_true_duration() -> None:
    # 6.4999996 s prints as 6.500000, which a client rounds to 7.
    text = media_playlist(INIT, segments_of(6.4999996))
    assert extinf_values(text) == ["6.500"]
    assert parsed(text).target_duration == 7


@pytest.mark.parametrize("durations", [(0.02,), (0.4,), (0.000001,)])
def test_target_duration_is_never_zero(durations: Sequence[float]) -> None:
    assert parsed(media_playlist(INIT, segments_of(*durations))).target_duration == 1


# --- EXTINF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "printed"),
    [
        (6.0, "6.000"),
        (6.5, "6.500"),
        (0.02, "0.020"),
        (6.0000227, "6.000023"),
        (10.123456789, "10.123457"),
        (0.000001, "0.000001"),
        (1234.5, "1234.500"),
    ],
)
def test_extinf_is_a_decimal_float_to_the_microsecond_with_at_least_3_decimals(
    duration: float, printed: str
) -> None:
    assert extinf_values(media_playlist(INIT, segments_of(duration))) == [printed]


def test_sum_of_printed_extinf_over_3_hours_is_within_1_ms_of_the_true_total() -> None:
    durations = [6.0000227] * 1800
    text = media_playlist(INIT, segments_of(*durations))
    printed_total = sum(Decimal(value) for value in extinf_values(text))
    true_total = Decimal("6.0000227") * 1800
    assert abs(printed_total - true_total) < Decimal("0.001")
    # Error diffusion keeps it to the last printed digit, however long the track.
    assert abs(printed_total - true_total) <= Decimal("0.0000005")
    assert math.isclose(sum(s.duration for s in parsed(text).segments), 10800.04086, abs_tol=1e-3)


def test_each_printed_extinf_is_within_a_microsecond_of_its_segment() -> None:
    durations = [6.0000227, 5.9999991, 0.0213333, 6.0106667, 3.3333333] * 40
    values = extinf_values(media_playlist(INIT, segments_of(*durations)))
    for duration, value in zip(durations, values, strict=True):
        assert abs(Decimal(value) - Decimal(repr(duration))) <= Decimal("0.000001")


def test_segment_start_times_match_the_media_within_half_a_microsecond() -> None:
    durations = [1.0000004] * 500
    values = extinf_values(media_playlist(INIT, segments_of(*durations)))
    start = Decimal(0)
    for n, value in enumerate(values, start=1):
        start += Decimal(value)
        assert abs(start - Decimal("1.0000004") * n) <= Decimal("0.0000005")


# --- EXT-X-PLAYLIST-TYPE, EXT-X-ENDLIST, EXT-X-INDEPENDENT-SEGMENTS --------------------


@pytest.mark.parametrize(
    ("playlist_type", "end_list"),
    [("VOD", True), ("EVENT", True), ("EVENT", False), (None, True), (None, False)],
)
def test_playlist_type_and_endlist_are_written_as_asked(playlist_type: Any, end_list: bool) -> None:
    text = media_playlist(INIT, segments_of(6.0), playlist_type=playlist_type, end_list=end_list)
    playlist = parsed(text)
    assert playlist.playlist_type == (playlist_type.lower() if playlist_type else None)
    assert playlist.is_endlist is end_list
    assert text.endswith("#EXT-X-ENDLIST\n") is end_list


def test_vod_playlist_without_endlist_is_rejected() -> None:
    with pytest.raises(ValueError, match="ENDLIST"):
        media_playlist(INIT, segments_of(6.0), playlist_type="VOD", end_list=False)


@pytest.mark.parametrize("independent", [True, False])
def test_independent_segments_tag_follows_the_flag(independent: bool) -> None:
    text = media_playlist(INIT, segments_of(6.0), independent=independent)
    assert parsed(text).is_independent_segments is independent


# --- EXT-X-MAP and EXT-X-BYTERANGE ----------------------------------------------------------


@pytest.mark.parametrize(
    ("init", "tag", "byterange"),
    [
        (InitSection("init.mp4"), '#EXT-X-MAP:URI="init.mp4"', None),
        (
            InitSection("128k.mp4", ByteRange(812, 0)),
            '#EXT-X-MAP:URI="128k.mp4",BYTERANGE="812@0"',
            "812@0",
        ),
    ],
)
def test_map_names_the_init_section_and_its_byterange(
    init: InitSection, tag: str, byterange: str | None
) -> None:
    text = media_playlist(init, segments_of(6.0))
    assert tag in text.splitlines()
    section = parsed(text).segments[0].init_section
    assert section.uri == init.uri
    assert section.byterange == byterange


def test_segment_byteranges_always_carry_an_explicit_offset() -> None:
    segments = [
        Segment(6.0, "128k.mp4", ByteRange(96_000, 812)),
        Segment(6.0, "128k.mp4", ByteRange(96_100, 96_812)),
        Segment(1.5, "128k.mp4", ByteRange(24_000, 192_912)),
    ]
    text = media_playlist(InitSection("128k.mp4", ByteRange(812, 0)), segments)
    assert [line for line in text.splitlines() if line.startswith("#EXT-X-BYTERANGE")] == [
        "#EXT-X-BYTERANGE:96000@812",
        "#EXT-X-BYTERANGE:96100@96812",
        "#EXT-X-BYTERANGE:24000@192912",
    ]
    playlist = parsed(text)
    assert [s.byterange for s in playlist.segments] == ["96000@812", "96100@96812", "24000@192912"]
    assert {s.uri for s in playlist.segments} == {"128k.mp4"}


def test_byterange_tag_sits_between_extinf_and_uri() -> None:
    segment = Segment(6.0, "a.mp4", ByteRange(10, 20))
    lines = media_playlist(InitSection("a.mp4", ByteRange(20, 0)), [segment]).splitlines()
    at = lines.index("#EXTINF:6.000,")
    assert lines[at : at + 3] == ["#EXTINF:6.000,", "#EXT-X-BYTERANGE:10@20", "a.mp4"]


def test_segments_without_byterange_have_no_byterange_tag() -> None:
    text = media_playlist(INIT, segments_of(6.0, 6.0))
    assert "#EXT-X-BYTERANGE" not in text
    assert [s.byterange for s in parsed(text).segments] == [None, None]


# --- EXT-X-DISCONTINUITY and a change of EXT-X-MAP ------------------------------------------


def test_discontinuity_precedes_the_new_map_and_the_extinf() -> None:
    other = InitSection("ad.mp4", ByteRange(700, 0))
    segments = [
        Segment(6.0, "track/seg_0.m4s"),
        Segment(4.0, "ad.mp4", ByteRange(5000, 700), discontinuity=True, init=other),
        Segment(6.0, "track2/seg_0.m4s", discontinuity=True, init=InitSection("track2/init.mp4")),
    ]
    text = media_playlist(InitSection("track/init.mp4"), segments)
    lines = text.splitlines()
    first = lines.index("#EXT-X-DISCONTINUITY")
    assert lines[first : first + 5] == [
        "#EXT-X-DISCONTINUITY",
        '#EXT-X-MAP:URI="ad.mp4",BYTERANGE="700@0"',
        "#EXTINF:4.000,",
        "#EXT-X-BYTERANGE:5000@700",
        "ad.mp4",
    ]
    assert lines[first + 5 : first + 9] == [
        "#EXT-X-DISCONTINUITY",
        '#EXT-X-MAP:URI="track2/init.mp4"',
        "#EXTINF:6.000,",
        "track2/seg_0.m4s",
    ]
    playlist = parsed(text)
    assert [s.discontinuity for s in playlist.segments] == [False, True, True]
    assert [s.init_section.uri for s in playlist.segments] == [
        "track/init.mp4",
        "ad.mp4",
        "track2/init.mp4",
    ]
    assert playlist.segments[1].init_section.byterange == "700@0"


def test_discontinuity_without_an_init_change_writes_no_map() -> None:
    segments = [Segment(6.0, "a.m4s"), Segment(6.0, "b.m4s", discontinuity=True)]
    text = media_playlist(INIT, segments)
    assert text.count("#EXT-X-MAP") == 1
    assert [s.discontinuity for s in parsed(text).segments] == [False, True]


def test_map_is_not_repeated_when_a_segment_names_the_init_in_effect() -> None:
    segments = [Segment(6.0, "a.m4s", init=InitSection("init.mp4")), Segment(6.0, "b.m4s")]
    assert media_playlist(InitSection("init.mp4"), segments).count("#EXT-X-MAP") == 1


def test_map_change_applies_to_the_segments_after_it() -> None:
    segments = [
        Segment(6.0, "a.m4s"),
        Segment(6.0, "b.m4s", init=InitSection("b.mp4")),
        Segment(6.0, "c.m4s"),
    ]
    playlist = parsed(media_playlist(INIT, segments))
    assert [s.init_section.uri for s in playlist.segments] == ["init.mp4", "b.mp4", "b.mp4"]


# --- invalid input ------------------------------------------------------------------------

NAN = float("nan")
INF = float("inf")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: media_playlist(INIT, []), id="no segments"),
        pytest.param(lambda: Segment(0.0, "a.m4s"), id="zero duration"),
        pytest.param(lambda: Segment(-6.0, "a.m4s"), id="negative duration"),
        pytest.param(lambda: Segment(NAN, "a.m4s"), id="nan duration"),
        pytest.param(lambda: Segment(INF, "a.m4s"), id="infinite duration"),
        pytest.param(lambda: media_playlist(INIT, segments_of(1e-7)), id="under a microsecond"),
        pytest.param(lambda: Segment(6.0, ""), id="empty uri"),
        pytest.param(lambda: Segment(6.0, "a.m4s\n#EXT-X-ENDLIST"), id="uri with lf"),
        pytest.param(lambda: Segment(6.0, "a.m4s\r"), id="uri with cr"),
        pytest.param(lambda: Segment(6.0, "#a.m4s"), id="uri reads as a tag"),
        pytest.param(lambda: Segment(6.0, " a.m4s"), id="uri with whitespace"),
        pytest.param(lambda: InitSection('in"it.mp4'), id="map uri with quote"),
        pytest.param(lambda: InitSection("init.mp4\n"), id="map uri with lf"),
        pytest.param(lambda: InitSection(""), id="empty map uri"),
        pytest.param(lambda: ByteRange(0, 0), id="empty byterange"),
        pytest.param(lambda: ByteRange(-1, 0), id="negative byterange length"),
        pytest.param(lambda: ByteRange(10, -1), id="negative byterange offset"),
        pytest.param(
            lambda: media_playlist(INIT, segments_of(6.0), playlist_type="LIVE"),  # type: ignore[arg-type]
            id="unknown playlist type",
        ),
    ],
)
def test_invalid_input_raises_value_error(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        make()


def test_inputs_are_frozen() -> None:
    segment = Segment(6.0, "a.m4s")
    with pytest.raises(AttributeError):
        segment.duration = 1.0  # type: ignore[misc]
