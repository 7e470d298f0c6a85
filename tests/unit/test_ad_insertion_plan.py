"""Break placement, a session's decisions break by break, and the session's playlist:
pure functions tested as functions (the server and ffmpeg: test_ad_insertion.py)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import m3u8
import pytest

from packager import daterange_tag
from streamer.ads.breaks import BreakSpec, PlacedBreak, place_between_items, place_breaks
from streamer.ads.model import Campaign, Creative, FrequencyCap, Listener, Priority
from streamer.ads.session_plan import plan_session
from streamer.ads.session_stream import SessionAd, SessionBreak, session_playlist
from streamer.renditions.catalog import Playlist, RenditionEntry, TrackRenditions
from transcoder.fmp4 import Fragment, SegmentIndex

SIX = [6.0] * 10  # a 60 s programme of 6 s segments


@pytest.mark.parametrize(
    ("spec", "boundary"),
    [
        (BreakSpec("pre", 30), 0),
        (BreakSpec("post", 30), 10),
        (BreakSpec("mid", 30, at=30.0), 5),
        (BreakSpec("mid", 30, at=32.9), 5),  # nearest boundary
        (BreakSpec("mid", 30, at=33.1), 6),
        (BreakSpec("mid", 30, at=0.0), 1),  # a mid-roll never becomes a pre-roll
        (BreakSpec("mid", 30, at=600.0), 9),  # nor a post-roll
    ],
)
def test_a_break_falls_on_a_segment_boundary(spec: BreakSpec, boundary: int) -> None:
    (placed,) = place_breaks([spec], SIX)
    assert placed.boundary == boundary
    assert placed.offset == pytest.approx(6.0 * boundary)


def test_breaks_on_one_boundary_become_one_as_long_as_the_longest() -> None:
    placed = place_breaks(
        [BreakSpec("mid", 15, at=29.0), BreakSpec("mid", 60, at=31.0), BreakSpec("pre", 10)], SIX
    )
    assert [(p.position, p.boundary, p.seconds) for p in placed] == [
        ("pre", 0, 10),
        ("mid", 5, 60),
    ]


def test_a_one_segment_programme_has_no_mid_roll() -> None:
    assert place_breaks([BreakSpec("mid", 30, at=1.0)], [6.0]) == []
    assert place_breaks([BreakSpec("mid", 30, at=1.0)], []) == []


NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def _campaign(name: str, *, caps: tuple[FrequencyCap, ...] = ()) -> Campaign:
    return Campaign(
        id=name,
        name=name,
        priority=Priority.STANDARD,
        starts=NOW - timedelta(days=1),
        ends=NOW + timedelta(days=1),
        creatives=(Creative(f"{name}-spot", 10.0),),
        caps=caps,
    )


def test_a_cap_holds_across_the_breaks_of_one_session() -> None:
    breaks = place_breaks([BreakSpec("pre", 10), BreakSpec("mid", 10, at=30.0)], SIX)
    capped = _campaign("capped", caps=(FrequencyCap(1, timedelta(hours=1)),))
    placed = {"capped-spot": (1, "t1")}
    planned = plan_session(breaks, Listener("s", NOW), [capped], {}, placed)
    assert [[a.campaign for a in b.ads] for b in planned] == [["capped"], []]
    assert "frequency cap" in planned[1].decision.reasons[0].why


def test_a_planned_ad_names_its_version_and_track() -> None:
    planned = plan_session(
        place_breaks([BreakSpec("pre", 10)], SIX),
        Listener("s", NOW),
        [_campaign("a")],
        {},
        {"a-spot": (3, "trk")},
    )
    (ad,) = planned[0].ads
    assert (ad.campaign, ad.creative, ad.version, ad.track, ad.seconds) == (
        "a",
        "a-spot",
        3,
        "trk",
        10,
    )


def _track(track_id: str, segments: int, seconds: float = 6.0) -> TrackRenditions:
    timescale = 44_100
    step = round(seconds * timescale)
    fragments = tuple(Fragment(1000 + n * 100, 100, n * step, step, 1) for n in range(segments))
    index = SegmentIndex(timescale, 1000, fragments, "mp4a.40.2", 44_100, 2, 2048)
    empty = Playlist.of("")
    entry = RenditionEntry("aac_128", "k", "v", f"tok{track_id[:3]}", index, empty, empty)
    return TrackRenditions(track_id, "/lib", {"aac_128": entry}, empty, 0.0)


PROGRAMME = _track("p" * 16, 10)
AD = _track("a" * 16, 2, 5.0)


def test_the_session_playlist_puts_each_ad_between_discontinuities_on_one_timeline() -> None:
    breaks = [
        SessionBreak(0, (SessionAd("camp", "cre", 2, AD.track_id),)),
        SessionBreak(5, (SessionAd("camp", "cre", 2, AD.track_id),)),
    ]
    text = session_playlist("aac_128", [PROGRAMME], breaks, {AD.track_id: AD}, NOW)
    playlist = m3u8.loads(text)
    tracks = [re.search(r"/seg/([a-z]+)/", s.uri).group(1)[0] for s in playlist.segments]  # type: ignore[union-attr]
    assert "".join(tracks) == "aa" + "ppppp" + "aa" + "ppppp"
    assert text.count("#EXT-X-DISCONTINUITY") == 3
    # Decode time runs on: each segment's t is the previous one's plus its media.
    times = [int(s.uri.rsplit("&t=", 1)[1]) for s in playlist.segments]
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert steps == [5 * 44_100] * 2 + [6 * 44_100] * 5 + [5 * 44_100] * 2 + [6 * 44_100] * 4
    # The second ad starts after the first ad and half the programme, on the session clock
    # (presented time: the priming of the first segment of each part is not presented).
    ranges = re.findall(r'START-DATE="([^"]+)"', text)
    assert ranges[0] == "2026-12-07T12:00:00.000Z"
    assert text.startswith("#EXTM3U")
    assert text.index("#EXT-X-PROGRAM-DATE-TIME:2026-12-07T12:00:00.000Z") < text.index("#EXTINF")


def test_an_ad_without_the_rendition_is_left_out() -> None:
    breaks = [SessionBreak(0, (SessionAd("camp", "cre", 1, "gone" * 4),))]
    text = session_playlist("aac_128", [PROGRAMME], breaks, {}, NOW)
    assert "#EXT-X-DATERANGE" not in text
    assert "#EXT-X-DISCONTINUITY" not in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"identifier": 'a"b'}, "ID"),
        ({"attributes": {"x-lower": "v"}}, "client attribute"),
        ({"duration": -1.0}, "zero seconds or more"),
    ],
)
def test_a_date_range_refuses_what_would_not_parse(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"identifier": "ad-0", "start": NOW, "duration": 10.0}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        daterange_tag(kind="com.streamer.ad", **arguments)  # type: ignore[arg-type]


def test_placed_breaks_are_values() -> None:
    assert PlacedBreak("pre", 0, 0.0, 10.0) == PlacedBreak("pre", 0, 0.0, 10.0)


@pytest.mark.parametrize(
    ("spec", "boundaries"),
    [
        (BreakSpec("pre", 30), [0]),
        (BreakSpec("post", 30), [10]),
        (BreakSpec("between", 30, every=1), [2, 5, 9]),
        (BreakSpec("between", 30, every=2), [5]),
        (BreakSpec("between", 30, every=4), []),  # never after the last item
    ],
)
def test_a_playlists_breaks_fall_between_its_items(spec: BreakSpec, boundaries: list[int]) -> None:
    items = [[6.0, 6.0], [6.0] * 3, [6.0] * 4, [6.0]]  # 2, 3, 4 and 1 segments
    assert [p.boundary for p in place_between_items([spec], items)] == boundaries


def test_a_playlist_session_plays_its_tracks_with_the_ads_between_them() -> None:
    other = _track("q" * 16, 3)
    breaks = [SessionBreak(10, (SessionAd("camp", "cre", 1, AD.track_id),))]
    text = session_playlist("aac_128", [PROGRAMME, other], breaks, {AD.track_id: AD}, NOW)
    playlist = m3u8.loads(text)
    tracks = [re.search(r"/seg/([a-z]+)/", s.uri).group(1)[0] for s in playlist.segments]  # type: ignore[union-attr]
    assert "".join(tracks) == "p" * 10 + "aa" + "qqq"
    times = [int(s.uri.rsplit("&t=", 1)[1]) for s in playlist.segments]
    assert times == sorted(times)
    assert text.count("#EXT-X-DISCONTINUITY") == 2
