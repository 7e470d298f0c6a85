"""Counting under generated logs: what it finds does not depend on the order of a batch or
on where the hourly batches split the log (through the stored JSON state), it counts at
most one download per listener, track and 24 hours, every event is accounted for once,
and unions of byte ranges match a naive byte-set model."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.analytics.counting import Results, count, finish, step
from streamer.analytics.counting_state import CounterState, from_json, to_json
from streamer.analytics.events import DeliveryEvent
from streamer.analytics.intervals import add_byte_range, covered_bytes, covered_seconds
from tests.fixtures.deliveries import IPHONE, TRACK_BYTES, canonical, delivery, segment

# Three days, to the millisecond: windows and sessions open and close inside.
SPAN_MS = 3 * 24 * 3600 * 1000
moments = st.integers(min_value=0, max_value=SPAN_MS).map(lambda ms: ms / 1000)
listeners = st.sampled_from(["L1", "L2", "L3"])
agents = st.sampled_from([IPHONE, IPHONE, IPHONE, "curl/8.4.0", ""])


@st.composite
def progressive(draw: st.DrawFn) -> DeliveryEvent:
    start = draw(st.integers(min_value=0, max_value=TRACK_BYTES - 1))
    length = draw(st.sampled_from([1, 2, 3, 300_000, 700_000, 1_300_000, TRACK_BYTES]))
    end = min(start + length, TRACK_BYTES) - 1
    return delivery(
        draw(moments),
        listener=draw(listeners),
        user_agent=draw(agents),
        subject_id=draw(st.sampled_from(["t1", "t2"])),
        range_start=start,
        range_end=end,
        status=draw(st.sampled_from([206, 206, 206, 200, 404])),
        sent=draw(st.sampled_from([end - start + 1, (end - start + 1) // 2])),
    )


@st.composite
def hls(draw: st.DrawFn) -> DeliveryEvent:
    return segment(
        draw(moments),
        draw(st.integers(min_value=-1, max_value=49)),
        draw(st.sampled_from(["aac_128", "aac_64"])),
        listener=draw(listeners),
        user_agent=draw(agents),
    )


logs = st.lists(st.one_of(progressive(), hls()), max_size=40)


def accounted(results: Results) -> int:
    return (
        sum(d.events for d in results.downloads)
        + sum(s.requests for s in results.sessions)
        + len(results.excluded)
    )


# Fewer examples than the profile's 200: each one counts a whole log (the suite's time).
@settings(max_examples=50)
@given(logs, st.randoms(use_true_random=False))
def test_counting_does_not_depend_on_the_order_of_events(
    events: list[DeliveryEvent], rng: random.Random
) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert canonical(count(shuffled)) == canonical(count(events))


@settings(max_examples=60)
@given(logs, st.lists(moments, max_size=6))
def test_batches_through_stored_state_count_as_the_whole_log(
    events: list[DeliveryEvent], cuts: list[float]
) -> None:
    if not events:
        return
    first = min(e.at for e in events)
    last = max(e.at for e in events) + timedelta(microseconds=1)
    bounds = sorted(
        {first + timedelta(seconds=c) for c in cuts if first + timedelta(seconds=c) < last}
    )
    bounds.append(last)
    state = CounterState()
    found = Results()
    previous = None
    for bound in bounds:
        batch = [e for e in events if (previous is None or e.at >= previous) and e.at < bound]
        results, state = step(from_json(to_json(state)), batch, bound)
        found = _plus(found, results)
        previous = bound
    found = _plus(found, finish(state))
    assert canonical(found) == canonical(count(events))
    assert accounted(found) == len(events)


@settings(max_examples=50)
@given(logs)
def test_one_download_per_listener_track_and_24_hours(events: list[DeliveryEvent]) -> None:
    results = count(events)
    assert accounted(results) == len(events)
    starts: dict[tuple[str, str], list[datetime]] = {}
    for download in results.downloads:
        starts.setdefault((download.listener, download.track_id), []).append(download.start)
    for times in starts.values():
        ordered = sorted(times)
        assert all(b - a >= timedelta(hours=24) for a, b in itertools.pairwise(ordered))
    windows = {
        (e.listener, e.subject_id, (e.at - events[0].at) // timedelta(hours=24)) for e in events
    }
    assert len(results.downloads) <= len(windows) + len(
        {(e.listener, e.subject_id) for e in events}
    )


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 40)), max_size=30))
def test_a_union_of_byte_ranges_holds_each_byte_once(pieces: list[tuple[int, int]]) -> None:
    ranges: list[tuple[int, int]] = []
    model: set[int] = set()
    for start, length in pieces:
        ranges = add_byte_range(ranges, start, start + length)
        model.update(range(start, start + length + 1))
    assert covered_bytes(ranges) == len(model)
    assert ranges == sorted(ranges)
    assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(ranges))


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 40)), max_size=30))
def test_a_union_of_time_spans_counts_each_second_once(pieces: list[tuple[int, int]]) -> None:
    model = {t for start, length in pieces for t in range(start, start + length)}
    spans = [(float(start), float(start + length)) for start, length in pieces]
    assert covered_seconds(spans) == len(model)


def _plus(a: Results, b: Results) -> Results:
    return Results(a.downloads + b.downloads, a.sessions + b.sessions, a.excluded + b.excluded)
