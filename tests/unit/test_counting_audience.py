"""A simulated audience counted exactly as the guidelines say (issue 17, "How we will
know"): a shuffled log of listeners who download, play a little, come back the next day or
listen over HLS, with pre-loads, duplicate and overlapping ranges, rendition switches,
IPv4 and IPv6 households, and bots taken from the OPAWG examples."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from streamer.analytics.counting import count, unique_listeners
from streamer.analytics.events import DeliveryEvent
from tests.fixtures.deliveries import T0, TRACK_BYTES, delivery, opawg_bots, segment

MINUTE = 1_200_000


def _downloader(listener: str, at: float) -> list[DeliveryEvent]:
    """A podcast app: the bytes=0-1 probe, then the file in three ranges, the first one
    fetched twice, the last overlapping the second."""
    return [
        delivery(at, listener=listener, range_start=0, range_end=1),
        delivery(at + 1, listener=listener, range_start=0, range_end=999_999),
        delivery(at + 2, listener=listener, range_start=0, range_end=999_999),
        delivery(at + 3, listener=listener, range_start=1_000_000, range_end=3_999_999),
        delivery(at + 4, listener=listener, range_start=3_000_000, range_end=TRACK_BYTES - 1),
    ]


def _sampler(listener: str, at: float) -> list[DeliveryEvent]:
    """Fifty seconds heard, in two overlapping ranges: under a minute."""
    return [
        delivery(at, listener=listener, range_start=0, range_end=599_999),
        delivery(at + 20, listener=listener, range_start=400_000, range_end=999_999),
    ]


def _hls(listener: str, at: float, pause: float) -> list[DeliveryEvent]:
    """Twenty segments (two minutes), switching down to aac_64 at segment 10 (fetched at
    both renditions), with a pause of ``pause`` seconds after segment 14."""
    events = []
    for n in range(20):
        offset = at + n * 6 + (pause if n >= 15 else 0)
        events.append(segment(offset, n, "aac_128" if n <= 10 else "aac_64", listener=listener))
    events.append(segment(at + 10 * 6 + 1, 10, "aac_64", listener=listener))
    return events


def _audience() -> list[DeliveryEvent]:
    rng = random.Random(17)
    events: list[DeliveryEvent] = []
    for i in range(15):  # one download each
        events += _downloader(f"v4-{i}", rng.uniform(0, 3_600))
    for i in range(10):  # under a minute: nothing
        events += _sampler(f"v6-sampler-{i}", rng.uniform(0, 3_600))
    for i in range(5):  # two phones of one IPv6 /64 with one app: one listener, and again
        household = f"v6-household-{i}"  # the next day (25 h later): two downloads
        at = rng.uniform(0, 3_600)
        events += _downloader(household, at) + _downloader(household, at + 600)
        events += _downloader(household, at + 25 * 3_600)
    for i in range(5):  # HLS, a 10-minute pause: one session
        events += _hls(f"hls-{i}", rng.uniform(0, 3_600), pause=600)
    for i in range(5):  # HLS, a 40-minute pause: two sessions
        events += _hls(f"hls-gap-{i}", rng.uniform(0, 3_600), pause=2_400)
    for name, user_agent in opawg_bots(every=12):
        events.append(
            delivery(rng.uniform(0, 3_600), listener=f"bot-{name}", user_agent=user_agent)
        )
    rng.shuffle(events)
    return events


def test_the_simulated_audience_is_counted_rule_by_rule() -> None:
    events = _audience()
    bots = len(opawg_bots(every=12))
    results = count(events, track_seconds={"t1": 300.0}.get)

    assert len(results.downloads) == 15 + 5 * 2
    assert Counter(d.listener.split("-")[0] for d in results.downloads) == {"v4": 15, "v6": 10}
    assert Counter(excluded.reason for excluded in results.excluded) == {
        "bot": bots,
        "preload": 15 + 5 * 3,
        # The last range of each download; the second phone's four ranges the same day.
        "already-counted": 15 + 5 * (1 + 4 + 1),
        "under-a-minute": 10 * 2,
    }

    sessions = sorted(results.sessions, key=lambda s: (s.listener, s.start))
    assert len(sessions) == 5 + 5 * 2
    joined = [s for s in sessions if not s.listener.startswith("hls-gap")]
    assert {(s.segments, s.requests, s.quartile) for s in joined} == {(20, 21, 1)}
    assert all(s.seconds == 120.0 for s in joined)
    split = [s for s in sessions if s.listener.startswith("hls-gap")]
    assert sorted({(s.segments, s.requests) for s in split}) == [(5, 5), (15, 16)]
    assert sum(s.requests for s in sessions) + sum(d.events for d in results.downloads) + len(
        results.excluded
    ) == len(events)

    day = T0 + timedelta(days=1)
    assert unique_listeners(results.downloads, results.sessions, T0, day) == 15 + 5 + 5 + 5
