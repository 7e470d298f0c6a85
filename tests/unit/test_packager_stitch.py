"""The stitcher joins tracks' segments into one stream: discontinuities between parts, an
EXT-X-MAP per part, durations kept; every playlist parses back with m3u8."""

from __future__ import annotations

import m3u8
import pytest

from packager import InitSection, Part, Segment, common_renditions, stitched_playlist
from packager.stitch import stitched_segments


def _part(track: str, durations: list[float]) -> Part:
    return Part(
        InitSection(f"../{track}/init.mp4?v=t{track}"),
        [Segment(d, f"../{track}/seg_{n}.m4s?v=t{track}") for n, d in enumerate(durations)],
    )


def test_parts_are_joined_with_a_discontinuity_and_a_map_each() -> None:
    text = stitched_playlist([_part("a", [6.0, 2.5]), _part("b", [4.0]), _part("c", [6.0, 1.0])])
    playlist = m3u8.loads(text)
    assert [s.uri for s in playlist.segments] == [
        "../a/seg_0.m4s?v=ta",
        "../a/seg_1.m4s?v=ta",
        "../b/seg_0.m4s?v=tb",
        "../c/seg_0.m4s?v=tc",
        "../c/seg_1.m4s?v=tc",
    ]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True, True, False]
    assert [s.init_section.uri for s in playlist.segments] == [
        "../a/init.mp4?v=ta",
        "../a/init.mp4?v=ta",
        "../b/init.mp4?v=tb",
        "../c/init.mp4?v=tc",
        "../c/init.mp4?v=tc",
    ]
    assert text.count("#EXT-X-MAP") == 3
    assert sum(s.duration for s in playlist.segments) == pytest.approx(19.5)
    assert playlist.target_duration == 6
    assert playlist.is_endlist
    # The discontinuity comes before the new map, which belongs to the new part.
    assert '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="../b/init.mp4?v=tb"' in text


def test_the_same_track_twice_in_a_row_names_its_map_again() -> None:
    text = stitched_playlist([_part("a", [3.0]), _part("a", [3.0])])
    assert text.count("#EXT-X-MAP") == 2
    assert text.count("#EXT-X-DISCONTINUITY") == 1


def test_flags_given_on_input_segments_are_replaced() -> None:
    odd = Part(
        InitSection("a/init.mp4"),
        [Segment(1.0, "a/0", discontinuity=True), Segment(1.0, "a/1", init=InitSection("x"))],
    )
    first, second = stitched_segments([odd])
    assert not first.discontinuity
    assert first.init == InitSection("a/init.mp4")
    assert not second.discontinuity
    assert second.init is None


def test_empty_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        stitched_playlist([])
    with pytest.raises(ValueError, match="at least one segment"):
        Part(InitSection("a/init.mp4"), [])


@pytest.mark.parametrize(
    ("renditions", "expected"),
    [
        ([["aac_128", "aac_64", "flac"], ["aac_64", "aac_128"]], ["aac_128", "aac_64"]),
        ([["aac_64"], ["flac"]], []),
        ([["aac_64", "opus"]], ["aac_64", "opus"]),
        ([], []),
    ],
)
def test_common_renditions_are_those_every_part_has(
    renditions: list[list[str]], expected: list[str]
) -> None:
    assert common_renditions(renditions) == expected
