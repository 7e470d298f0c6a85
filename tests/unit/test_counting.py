"""The counting rules of docs/analytics.md, one test per rule, each named after it.

Track t1 is five minutes at 20,000 bytes a second (a minute: 1,200,000 bytes); listeners
are keys such as "L1" (contract D's hashed address + user agent)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from streamer.analytics.counting import (
    CountingRules,
    Download,
    Results,
    count,
    event_reason,
    finish,
    step,
    unique_listeners,
)
from streamer.analytics.counting_state import CounterState, StateError, from_json, to_json
from streamer.analytics.events import DeliveryEvent
from streamer.analytics.privacy import address_key, listener_id
from streamer.types import LIVE_WINDOW
from tests.fixtures.deliveries import (
    IPHONE,
    T0,
    TRACK_BYTES,
    canonical,
    delivery,
    opawg_bots,
    segment,
)

MINUTE = 1_200_000  # bytes of t1 that hold 60 seconds


def reasons(results: Results) -> list[str]:
    return [excluded.reason for excluded in results.excluded]


# Bots and agents (IAB 2.1 "filtering": known bots; OPAWG lists) ---------------------------


@pytest.mark.parametrize(("name", "user_agent"), opawg_bots(every=40))
def test_requests_from_opawg_bots_are_removed(name: str, user_agent: str) -> None:
    results = count([delivery(0, user_agent=user_agent)])
    assert (results.downloads, reasons(results)) == ((), ["bot"]), name


@pytest.mark.parametrize(
    ("user_agent", "reason"),
    [
        ("", "no-user-agent"),
        ("axios/1.6.0", "bot-library"),
        ("Mozilla/5.0 (compatible; NewPodcastBot/0.1)", "unknown-bot"),
    ],
)
def test_requests_without_an_agent_or_from_automation_are_removed(
    user_agent: str, reason: str
) -> None:
    assert reasons(count([delivery(0, user_agent=user_agent)])) == [reason]


# What an answer delivered -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "counts"),
    [(200, True), (206, True), (304, False), (404, False), (416, False), (500, False)],
)
def test_only_successful_answers_count(status: int, counts: bool) -> None:
    results = count([delivery(0, status=status)])
    assert (len(results.downloads), reasons(results)) == ((1, []) if counts else (0, ["status"]))


@pytest.mark.parametrize(
    ("start", "end", "preload"),
    [(0, 1, True), (0, 0, True), (5_000, 5_001, True), (0, 2, False), (0, MINUTE - 1, False)],
)
def test_preload_requests_of_two_bytes_or_fewer_do_not_count(
    start: int, end: int, preload: bool
) -> None:
    event = delivery(0, range_start=start, range_end=end)
    assert (event_reason(event) == "preload") is preload


def test_a_preload_then_a_real_request_is_one_download() -> None:
    results = count(
        [delivery(0, range_start=0, range_end=1), delivery(1, range_start=0, range_end=MINUTE - 1)]
    )
    assert (len(results.downloads), reasons(results)) == (1, ["preload"])
    assert results.downloads[0].events == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sent": 0}, "nothing-sent"),  # HEAD, or the client left at once
        ({"rendition": "playlist", "total_bytes": 900, "sent": 900}, "playlist"),
        ({"rendition": "aac_128", "segment": -1, "sent": 1_000}, "init-segment"),
        ({"total_bytes": None, "sent": 5_000_000}, "unknown-length"),
        ({"duration": None}, "unknown-length"),
        ({"kind": "channel", "subject_id": "c1"}, "not-a-track"),
        ({"range_start": TRACK_BYTES + 10, "range_end": TRACK_BYTES + 900}, "nothing-sent"),
    ],
)
def test_answers_without_countable_audio_are_left_out(
    fields: dict[str, object], reason: str
) -> None:
    assert reasons(count([delivery(0, **fields)])) == [reason]


# Downloads: a minute of audio within 24 hours --------------------------------------------


@pytest.mark.parametrize(("received", "counts"), [(MINUTE - 1, False), (MINUTE, True)])
def test_a_download_counts_at_one_minute_of_audio(received: int, counts: bool) -> None:
    results = count([delivery(0, range_start=0, range_end=received - 1)])
    assert len(results.downloads) == int(counts)
    assert reasons(results) == ([] if counts else ["under-a-minute"])


@pytest.mark.parametrize(("missing", "counts"), [(1, False), (0, True)])
def test_a_file_shorter_than_a_minute_counts_when_whole(missing: int, counts: bool) -> None:
    short = {"total_bytes": 900_000, "duration": 45.0}
    results = count([delivery(0, range_start=0, range_end=900_000 - 1 - missing, **short)])
    assert len(results.downloads) == int(counts)


def test_the_minute_is_the_union_of_ranges_overlaps_and_repeats_once() -> None:
    half = MINUTE // 2
    repeated = [delivery(s, range_start=0, range_end=half + 99_999) for s in range(3)]
    assert count(repeated).downloads == ()  # 700,000 bytes, three times
    overlapping = [*repeated, delivery(9, range_start=half, range_end=MINUTE - 1)]
    (download,) = count(overlapping).downloads
    assert (download.counted_at, download.events, download.seconds) == (
        T0 + timedelta(seconds=9),
        4,
        60.0,
    )


def test_ranges_anywhere_in_the_file_add_up() -> None:
    pieces = [
        delivery(0, range_start=3_000_000, range_end=3_599_999),
        delivery(5, range_start=0, range_end=599_999),
    ]
    assert len(count(pieces).downloads) == 1


def test_only_the_bytes_sent_count_when_the_client_leaves_early() -> None:
    assert count([delivery(0, sent=MINUTE - 1)]).downloads == ()
    assert len(count([delivery(0, sent=MINUTE)]).downloads) == 1


def test_partial_plays_under_a_minute_are_left_out_when_the_window_closes() -> None:
    plays = [delivery(s * 60, range_start=0, range_end=400_000) for s in range(3)]
    results = count(plays)
    assert (results.downloads, reasons(results)) == ((), ["under-a-minute"] * 3)


def test_requests_after_the_count_are_already_counted() -> None:
    results = count([delivery(0), delivery(60), delivery(3_600)])
    assert (len(results.downloads), reasons(results)) == (1, ["already-counted"] * 2)


@pytest.mark.parametrize(
    ("later", "downloads"),
    [(timedelta(hours=24) - timedelta(microseconds=1), 1), (timedelta(hours=24), 2)],
)
def test_the_window_is_24_hours_from_the_first_request(later: timedelta, downloads: int) -> None:
    again = delivery(later.total_seconds())
    results = count([delivery(0), again])
    assert len(results.downloads) == downloads
    if downloads == 2:
        assert results.downloads[1].start == again.at


def test_a_window_that_ends_short_does_not_carry_its_bytes_over() -> None:
    first = delivery(0, range_start=0, range_end=MINUTE // 2)
    second = delivery(24 * 3600, range_start=MINUTE // 2, range_end=MINUTE - 1)
    results = count([first, second])
    assert (results.downloads, reasons(results)) == ((), ["under-a-minute"] * 2)


def test_listeners_and_tracks_are_counted_apart() -> None:
    events = [
        delivery(0),
        delivery(1, listener="L2"),
        delivery(2, subject_id="t2"),
        delivery(3, listener="L2", subject_id="t2"),
    ]
    assert len(count(events).downloads) == 4


def test_ipv4_and_ipv6_devices_of_one_household_are_one_listener_each() -> None:
    # Contract D hashes the /64 of an IPv6 address (the /32 of IPv4) with the user agent:
    # two phones in one /64 with the same app are one listener; the same app over IPv4
    # is another (a different address).
    v6_phone_a = delivery(0, listener="hash(2001:db8:1:2::/64, iPhone)")
    v6_phone_b = delivery(5, listener="hash(2001:db8:1:2::/64, iPhone)", range_start=0, range_end=9)
    v4_phone = delivery(9, listener="hash(198.51.100.7, iPhone)")
    results = count([v6_phone_a, v6_phone_b, v4_phone])
    assert sorted(d.listener for d in results.downloads) == [
        "hash(198.51.100.7, iPhone)",
        "hash(2001:db8:1:2::/64, iPhone)",
    ]
    assert reasons(results) == ["already-counted"]


def test_the_capture_hash_makes_one_listener_of_a_64_and_keeps_ipv4_apart() -> None:
    # The same rule through [ancapture]'s hash (streamer.analytics.privacy).
    salt = b"one day's salt"

    def listener(host: str) -> str:
        key, _ = address_key(host)
        return listener_id(salt, key, IPHONE)

    events = [
        delivery(
            0, listener=listener("2001:db8:1:2:aaaa::1"), range_start=0, range_end=MINUTE // 2
        ),
        delivery(
            5, listener=listener("2001:db8:1:2:bbbb::9"), range_start=MINUTE // 2, range_end=MINUTE
        ),
        delivery(9, listener=listener("198.51.100.7")),
        delivery(12, listener=listener("::ffff:198.51.100.7")),  # the same IPv4 client
    ]
    results = count(events)
    assert len(results.downloads) == 2
    assert {d.events for d in results.downloads} == {1, 2}
    assert reasons(results) == ["already-counted"]


def test_two_representations_are_not_added_together() -> None:
    # 40 s of the original and 40 s of a rendition are 40 s of audio, not 80.
    events = [
        delivery(0, range_start=0, range_end=800_000 - 1),
        delivery(1, rendition="mp3_128", total_bytes=4_800_000, range_start=0, range_end=640_000),
    ]
    assert count(events).downloads == ()


def test_a_window_with_too_many_requests_short_of_a_minute_is_a_flood() -> None:
    rules = CountingRules(max_pending_events=3)
    tiny = [delivery(s, range_start=s * 10, range_end=s * 10 + 9) for s in range(5)]
    results = count(tiny, rules)
    assert sorted(reasons(results)) == ["request-flood"] * 2 + ["under-a-minute"] * 3


def test_a_download_carries_the_first_requests_agent_and_country() -> None:
    (download,) = count(
        [delivery(0, country="BE", range_start=0, range_end=9), delivery(1)]
    ).downloads
    assert download == Download(
        listener="L1",
        track_id="t1",
        start=T0,
        counted_at=T0 + timedelta(seconds=1),
        rendition="original",
        seconds=300.0,
        events=2,
        user_agent=download.user_agent,
        referrer=None,
        country="BE",
    )


# HLS listening sessions -------------------------------------------------------------------


def test_segments_make_one_session_with_their_listening_time() -> None:
    (session,) = count([segment(6 * n, n) for n in range(10)]).sessions
    assert (session.segments, session.requests, session.renditions) == (10, 10, ("aac_128",))
    assert session.seconds == 60.0
    assert (session.start, session.end) == (T0, T0 + timedelta(seconds=54))


def test_a_segment_at_two_renditions_or_twice_counts_once() -> None:
    events = [segment(0, 0), segment(1, 0, "aac_64"), segment(2, 0), segment(6, 1, "aac_64")]
    (session,) = count(events).sessions
    assert (session.segments, session.requests) == (2, 4)
    assert session.renditions == ("aac_128", "aac_64")
    assert session.seconds == 12.0


@pytest.mark.parametrize(
    ("pause", "sessions"),
    [(timedelta(minutes=30) - timedelta(microseconds=1), 1), (timedelta(minutes=30), 2)],
)
def test_a_session_ends_after_30_minutes_without_a_segment(pause: timedelta, sessions: int) -> None:
    events = [segment(0, 0), segment(pause.total_seconds(), 1)]
    assert len(count(events).sessions) == sessions


@pytest.mark.parametrize(
    ("last_segment", "quartile"),
    [(0, 0), (10, 0), (11, 1), (23, 1), (24, 2), (36, 3), (48, 3), (49, 4)],
)
def test_completion_quartiles_by_the_furthest_point_reached(
    last_segment: int, quartile: int
) -> None:
    # 50 segments of 6 s: segment n ends at (n + 1) * 6 s of 300 s; a mark is passed
    # within 4.5 s of it (half a segment and 0.5 % of the track: counting.py).
    events = [segment(n, n) for n in range(last_segment + 1)]
    (session,) = count(events, track_seconds={"t1": 300.0}.get).sessions
    assert session.quartile == quartile
    assert session.completion == pytest.approx((last_segment + 1) * 6 / 300)


def test_sessions_have_no_quartiles_without_the_tracks_duration() -> None:
    (session,) = count([segment(0, 49)]).sessions
    assert (session.duration, session.completion, session.quartile) == (None, None, None)


def test_a_segment_of_unknown_size_spans_a_nominal_segment() -> None:
    unknown = {"total_bytes": None, "duration": None, "sent": 96_000}
    events = [segment(n, n, **unknown) for n in (0, 1, 49)]
    (session,) = count(events, track_seconds={"t1": 300.0}.get).sessions
    assert (session.seconds, session.quartile) == (18.0, 4)


def test_a_segment_cut_short_counts_the_seconds_it_delivered() -> None:
    (session,) = count([segment(0, 0, sent=48_000)]).sessions
    assert session.seconds == 3.0


def test_channel_and_playlist_sessions_have_no_quartiles() -> None:
    events = [
        delivery(n * 6, kind="channel", subject_id="c1", segment=n, duration=None, sent=96_000)
        for n in range(5)
    ]
    (session,) = count(events).sessions
    assert (session.kind, session.seconds, session.quartile, session.completion) == (
        "channel",
        30.0,
        None,
        None,
    )


# Channels: a player polling the live window ------------------------------------------------


def poll(seconds: float, **fields: Any) -> DeliveryEvent:
    """Channel c1's media playlist answered to L1 ``seconds`` after T0 (a few KB)."""
    values: dict[str, Any] = {"kind": "channel", "subject_id": "c1", "rendition": LIVE_WINDOW,
                              "total_bytes": None, "duration": None, "sent": 1_500}  # fmt: skip
    return delivery(seconds, **{**values, **fields})


def test_polls_of_a_channels_window_are_a_session_of_the_channel() -> None:
    # hls.js polls about every half target duration: 3 s for 6-second segments.
    (session,) = count([poll(3 * n) for n in range(21)]).sessions
    assert (session.kind, session.subject_id, session.requests) == ("channel", "c1", 21)
    # From the first poll to the last (60 s), and the last one's segment (6 s).
    assert (session.seconds, session.segments, session.quartile) == (66.0, 0, None)


@pytest.mark.parametrize(("status", "counts"), [(200, True), (304, True), (404, False)])
def test_a_revalidated_window_is_a_poll_and_an_error_is_not(status: int, counts: bool) -> None:
    results = count([poll(0, status=status, sent=0 if status == 304 else 1_500)])
    assert (len(results.sessions), reasons(results)) == ((1, []) if counts else (0, ["status"]))


def test_a_silence_longer_than_two_segments_is_a_pause_in_the_listening() -> None:
    # Polls for 30 s, 40 s without one, then 30 s more: 30 + 12 (the most a gap between
    # two polls credits) + 30 + 6 (the last poll's segment).
    events = [poll(3 * n) for n in range(11)] + [poll(70 + 3 * n) for n in range(11)]
    (session,) = count(events).sessions
    assert session.seconds == 78.0


@pytest.mark.parametrize(
    ("pause", "sessions"),
    [(timedelta(minutes=30) - timedelta(microseconds=1), 1), (timedelta(minutes=30), 2)],
)
def test_a_channel_session_ends_after_30_minutes_without_a_poll(
    pause: timedelta, sessions: int
) -> None:
    assert len(count([poll(0), poll(pause.total_seconds())]).sessions) == sessions


def test_bots_polling_a_channel_and_a_channels_master_playlist_do_not_count() -> None:
    bot = "Googlebot/2.1 (+http://www.google.com/bot.html)"
    results = count([poll(0, user_agent=bot), poll(1, rendition="playlist")])
    assert (results.sessions, reasons(results)) == ((), ["bot", "playlist"])


def test_polls_continue_a_session_across_steps() -> None:
    first, state = step(
        CounterState(), [poll(3 * n) for n in range(11)], T0 + timedelta(seconds=31)
    )
    later = [poll(33 + 3 * n) for n in range(10)]
    second, state = step(state, later, T0 + timedelta(seconds=61))
    (session,) = finish(state).sessions
    assert (first.sessions, second.sessions) == ((), ())
    assert (session.requests, session.seconds) == (21, 66.0)


def test_downloads_and_sessions_of_one_listener_are_apart() -> None:
    results = count([delivery(0), segment(1, 0)])
    assert (len(results.downloads), len(results.sessions)) == (1, 1)


# The incremental counter -------------------------------------------------------------------


def test_step_continues_from_a_stored_state() -> None:
    events = [
        delivery(0, range_start=0, range_end=MINUTE // 2),
        segment(10, 0),
        delivery(4_000, range_start=MINUTE // 2, range_end=MINUTE),
        segment(4_000, 1),
    ]
    hour = T0 + timedelta(hours=1)
    first, state = step(CounterState(), events[:2], hour)
    assert (first.downloads, len(first.sessions)) == ((), 1)  # idle 30 min by 09:00
    stored = from_json(to_json(state))
    second, state = step(stored, events[2:], hour + timedelta(hours=1))
    assert (len(second.downloads), len(second.sessions)) == (1, 1)
    assert finish(state) == Results()
    assert state.downloads  # the counted window stays until 24 h after 08:00


def test_step_leaves_its_input_state_alone() -> None:
    _, state = step(CounterState(), [delivery(0, range_start=0, range_end=9)], T0 + timedelta(1))
    before = to_json(state)
    step(state, [delivery(3600 * 30)], T0 + timedelta(days=2))
    assert to_json(state) == before


def test_events_older_than_the_last_step_are_late() -> None:
    _, state = step(CounterState(), [delivery(0)], T0 + timedelta(hours=1))
    results, _ = step(state, [delivery(60, listener="L2")], T0 + timedelta(hours=2))
    assert reasons(results) == ["late"]


def test_events_after_now_are_refused() -> None:
    state = CounterState()
    with pytest.raises(ValueError, match="after now"):
        step(state, [delivery(0), delivery(7_200)], T0 + timedelta(hours=1))
    assert to_json(state) == to_json(CounterState())


def test_every_event_is_accounted_for_once() -> None:
    events = [
        delivery(0, range_start=0, range_end=1),
        delivery(1),
        delivery(2),
        delivery(3, listener="L2", range_start=0, range_end=99),
        segment(4, 0),
        segment(5, 0, "aac_64"),
        delivery(6, user_agent="curl/8"),
    ]
    results = count(events)
    accounted = (
        sum(d.events for d in results.downloads)
        + sum(s.requests for s in results.sessions)
        + len(results.excluded)
    )
    assert accounted == len(events)


def test_count_does_not_depend_on_the_order_of_the_log() -> None:
    events = [
        delivery(s, range_start=s * 100_000, range_end=s * 100_000 + 199_999) for s in range(13)
    ]
    assert canonical(count(events)) == canonical(count(list(reversed(events))))


# Unique listeners ---------------------------------------------------------------------------


def test_unique_listeners_of_a_period() -> None:
    results = count(
        [
            delivery(0),
            delivery(10, listener="L2"),
            segment(20, 0),  # L1 again, by HLS
            segment(7200, 0, listener="L3"),  # two hours later
        ]
    )
    hour = T0 + timedelta(hours=1)
    assert unique_listeners(results.downloads, results.sessions, T0, hour) == 2
    assert (
        unique_listeners(results.downloads, results.sessions, hour, hour + timedelta(hours=2)) == 1
    )


@pytest.mark.parametrize(
    "data",
    [
        {"version": 99},
        {"version": 1},
        {"version": 1, "watermark": "soon", "downloads": [], "sessions": []},
    ],
)
def test_stored_state_of_another_version_or_broken_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(StateError):
        from_json(data)
