"""Live media playlists (RFC 8216 §4.3.3, §6.2.1-2): each test names the rule it checks.

Every playlist is parsed back with the m3u8 library, strictly, and the parsed values are
checked as a client would see them across successive reloads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import m3u8
import pytest

from packager import (
    InitSection,
    Level,
    LiveSegment,
    Segment,
    live_playlist,
    live_window,
    media_playlist,
)
from packager.live import program_date_time

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def parsed(text: str) -> Any:
    m3u8.parse(text, strict=True)
    return m3u8.loads(text)


def stream(tracks: list[tuple[str, list[float]]], start: datetime = T0) -> list[LiveSegment]:
    """Tracks played back to back, numbered from 0, as the channel timeline gives them."""
    result: list[LiveSegment] = []
    at = start
    for name, durations in tracks:
        offset = 0.0
        for index, duration in enumerate(durations):
            end = at + timedelta(seconds=duration)
            result.append(
                LiveSegment(
                    Segment(
                        duration,
                        f"/hls/{name}/aac/seg_{index}.m4s",
                        discontinuity=index == 0,
                        init=InitSection(f"/hls/{name}/aac/init.mp4"),
                    ),
                    sequence=len(result),
                    start=at,
                    end=end,
                    offset=offset,
                )
            )
            offset += duration
            at = end
    return result


STREAM = stream([("a", [6.0] * 5 + [2.5]), ("b", [6.0] * 4), ("c", [6.0] * 6)])


def window_at(seconds: float, length: float = 18) -> list[LiveSegment]:
    return live_window(STREAM, T0 + timedelta(seconds=seconds), length)


def text_at(seconds: float, length: float = 18) -> str:
    return live_playlist(
        window_at(seconds, length),
        discontinuity_sequence=_disc(seconds, length),
        target_duration_s=6,
    )


def _disc(seconds: float, length: float) -> int:
    window = window_at(seconds, length)
    first = STREAM.index(window[0])
    return sum(item.segment.discontinuity for item in STREAM[:first])


def test_live_playlist_is_written_exactly() -> None:
    text = live_playlist(STREAM[4:8], discontinuity_sequence=1, target_duration_s=6)
    assert text == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-TARGETDURATION:6\n"
        "#EXT-X-MEDIA-SEQUENCE:4\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MAP:URI="/hls/a/aac/init.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-06-01T12:00:24.000Z\n"
        "#EXTINF:6.000,\n/hls/a/aac/seg_4.m4s\n"
        "#EXTINF:2.500,\n/hls/a/aac/seg_5.m4s\n"
        "#EXT-X-DISCONTINUITY\n"
        '#EXT-X-MAP:URI="/hls/b/aac/init.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-06-01T12:00:32.500Z\n"
        "#EXTINF:6.000,\n/hls/b/aac/seg_0.m4s\n"
        "#EXTINF:6.000,\n/hls/b/aac/seg_1.m4s\n"
    )


def test_no_endlist_and_no_playlist_type_in_a_live_playlist() -> None:
    playlist = parsed(text_at(40))
    assert not playlist.is_endlist
    assert playlist.playlist_type is None


def test_identical_inputs_give_identical_bytes() -> None:
    assert text_at(47.3) == text_at(47.3)


def test_window_ends_at_the_last_segment_fully_gone_out() -> None:
    window = window_at(40)
    assert window[-1].end <= T0 + timedelta(seconds=40)
    nxt = STREAM[STREAM.index(window[-1]) + 1]
    assert nxt.end > T0 + timedelta(seconds=40)


def test_window_lasts_at_least_the_asked_seconds_once_the_stream_allows() -> None:
    for seconds in range(30, 90, 5):
        window = window_at(seconds, 18)
        total = sum((s.end - s.start).total_seconds() for s in window)
        assert total >= 18
    assert window_at(3) == []
    assert len(window_at(7)) == 1


def test_a_segment_keeps_its_sequence_number_as_the_window_slides() -> None:
    seen: dict[str, int] = {}
    for seconds in range(20, 100, 3):
        playlist = parsed(text_at(seconds))
        for number, segment in enumerate(playlist.segments, start=playlist.media_sequence):
            assert seen.setdefault(segment.uri, number) == number


def test_discontinuity_sequence_counts_discontinuities_that_left_the_window() -> None:
    previous_first = None
    previous_disc = 0
    for seconds in range(20, 100, 1):
        playlist = parsed(text_at(seconds))
        disc = playlist.discontinuity_sequence or 0
        first = playlist.media_sequence
        if previous_first is not None and first > previous_first:
            removed = STREAM[previous_first:first]
            assert disc == previous_disc + sum(s.segment.discontinuity for s in removed)
        assert disc >= previous_disc
        previous_first, previous_disc = first, disc


def test_program_date_time_on_the_first_segment_and_each_discontinuity() -> None:
    playlist = parsed(live_playlist(STREAM[3:12], discontinuity_sequence=0, target_duration_s=6))
    dated = [s for s in playlist.segments if s.program_date_time is not None]
    assert [s.uri for s in dated] == [
        "/hls/a/aac/seg_3.m4s",
        "/hls/b/aac/seg_0.m4s",
        "/hls/c/aac/seg_0.m4s",
    ]
    assert dated[1].program_date_time == T0 + timedelta(seconds=32.5)


def test_each_track_change_has_a_discontinuity_and_its_map() -> None:
    playlist = parsed(live_playlist(STREAM[3:12], discontinuity_sequence=0, target_duration_s=6))
    changes = [s for s in playlist.segments if s.discontinuity]
    assert [s.init_section.uri for s in changes] == ["/hls/b/aac/init.mp4", "/hls/c/aac/init.mp4"]


def test_target_duration_is_fixed_by_the_caller_and_never_exceeded() -> None:
    assert (
        parsed(
            live_playlist(STREAM[:3], discontinuity_sequence=0, target_duration_s=10)
        ).target_duration
        == 10
    )
    long = stream([("x", [7.6, 6.0])])
    assert (
        parsed(live_playlist(long, discontinuity_sequence=0, target_duration_s=6)).target_duration
        == 8
    )


def test_extinf_in_a_window_is_the_same_as_in_the_tracks_own_playlist() -> None:
    odd = stream([("x", [0.1] * 30)])
    vod = media_playlist(InitSection("/hls/x/aac/init.mp4"), [item.segment for item in odd])
    vod_extinf = [line for line in vod.splitlines() if line.startswith("#EXTINF")]
    for first in range(0, 25, 4):
        text = live_playlist(odd[first : first + 5], discontinuity_sequence=0, target_duration_s=1)
        live_extinf = [line for line in text.splitlines() if line.startswith("#EXTINF")]
        assert live_extinf == vod_extinf[first : first + 5]


def test_program_date_time_is_utc_milliseconds() -> None:
    instant = datetime(2026, 6, 1, 14, 0, 0, 123_987, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert program_date_time(instant) == "2026-06-01T14:00:00.123Z"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: live_playlist([], discontinuity_sequence=0, target_duration_s=6), "at least one"),
        (
            lambda: live_playlist(
                [STREAM[0], STREAM[2]], discontinuity_sequence=0, target_duration_s=6
            ),
            "follow",
        ),
        (
            lambda: live_playlist(STREAM[:2], discontinuity_sequence=-1, target_duration_s=6),
            "negative",
        ),
        (
            lambda: live_playlist(STREAM[:2], discontinuity_sequence=0, target_duration_s=0),
            "positive",
        ),
        (
            lambda: live_playlist(
                STREAM[:2], discontinuity_sequence=0, target_duration_s=6, version=5
            ),
            "VERSION",
        ),
        (lambda: live_window(STREAM, T0, 0), "positive"),
        (lambda: LiveSegment(Segment(1.0, "s"), -1, T0, T0), "negative"),
        (lambda: LiveSegment(Segment(1.0, "s"), 0, T0.replace(tzinfo=None), T0), "aware"),
        (lambda: LiveSegment(Segment(1.0, "s"), 0, T0, T0 - timedelta(seconds=1)), "before"),
    ],
)
def test_bad_input_is_a_value_error(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_a_window_must_name_its_init_sections() -> None:
    bare = [LiveSegment(Segment(6.0, "s0"), 0, T0, T0 + timedelta(seconds=6))]
    with pytest.raises(ValueError, match="init"):
        live_playlist(bare, discontinuity_sequence=0, target_duration_s=6)
    joined = [STREAM[0], LiveSegment(Segment(6.0, "s1", discontinuity=True), 1, T0, T0)]
    with pytest.raises(ValueError, match="without its init"):
        live_playlist(joined, discontinuity_sequence=0, target_duration_s=6)


def _levelled(items: list[LiveSegment]) -> list[LiveSegment]:
    """Each track's play levelled: a gain of -3.5 dB for a, +2 dB for b, from its start."""
    gains = {"a": -3.5, "b": 2.0, "c": 0.0}
    starts: dict[str, datetime] = {}
    out = []
    for item in STREAM:
        name = item.segment.uri.split("/")[2]
        starts.setdefault(name, item.start)
        out.append(replace(item, level=Level(gains[name], starts[name])))
    return [out[STREAM.index(item)] for item in items]


def test_a_level_is_a_date_range_with_the_gain_from_its_plays_start() -> None:
    text = live_playlist(_levelled(STREAM[4:8]), discontinuity_sequence=1, target_duration_s=6)
    lines = text.split("\n")
    assert lines[7:9] == [
        "#EXT-X-PROGRAM-DATE-TIME:2026-06-01T12:00:24.000Z",
        '#EXT-X-DATERANGE:ID="level-1780315200000",CLASS="org.streamer.level",'
        'START-DATE="2026-06-01T12:00:00.000Z",X-GAIN-DB="-3.50"',
    ]
    assert '#EXT-X-DATERANGE:ID="level-1780315232500",CLASS="org.streamer.level",' in text
    assert 'START-DATE="2026-06-01T12:00:32.500Z",X-GAIN-DB="+2.00"' in text
    ranges = parsed(text).segments[0].dateranges  # a strict parser takes it
    assert [(r.id, r.x_client_attrs) for r in ranges] == [
        ("level-1780315200000", [("x_gain_db", '"-3.50"')])
    ]


def test_a_level_keeps_its_id_and_start_as_the_window_slides() -> None:
    earlier = live_playlist(_levelled(STREAM[1:4]), discontinuity_sequence=0, target_duration_s=6)
    later = live_playlist(_levelled(STREAM[3:5]), discontinuity_sequence=0, target_duration_s=6)
    tag = [line for line in earlier.split("\n") if line.startswith("#EXT-X-DATERANGE")]
    assert tag == [line for line in later.split("\n") if line.startswith("#EXT-X-DATERANGE")]


@pytest.mark.parametrize("gain", [float("nan"), float("inf")])
def test_a_level_needs_a_finite_gain(gain: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Level(gain, T0)
