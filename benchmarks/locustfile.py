"""Listeners for locust: Zipf popularity over the tracks, HLS at (sped-up) playback pace.

Run by benchmarks/cache.py, which writes the plan this file reads (``BENCH_PLAN``, JSON):
for each track, its master playlist, media playlist and segment URLs on the streamer, or
the rendition file and each segment's byte range for nginx (``BENCH_TARGET``). Each
simulated listener picks a track by Zipf popularity (s = ``BENCH_ZIPF``, 1.1), fetches the
master and media playlists (nginx serves copies of the streamer's as files), then the
segments in order, waiting ``BENCH_PACE`` seconds between them (real players wait about
6 s; the benchmark speeds that up to make load). Request names group the statistics:
master, media, segment. The streamer's segments are also counted a second time under
the tier its Cache-Status field names (``segment from memory``, ``... redis``,
``... storage``, ``... collapsed``), so cached and uncached latency can be read apart.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import random
from typing import Any

from locust import HttpUser, constant, events, task

_PLAN: dict[str, Any] = json.loads(open(os.environ["BENCH_PLAN"]).read())  # noqa: SIM115
_TARGET = os.environ.get("BENCH_TARGET", "streamer")
_PACE = float(os.environ.get("BENCH_PACE", "0.05"))
_ZIPF = float(os.environ.get("BENCH_ZIPF", "1.1"))
_TRACKS: list[dict[str, Any]] = _PLAN["tracks"]
_CUMULATIVE = list(itertools.accumulate(1.0 / (rank + 1) ** _ZIPF for rank in range(len(_TRACKS))))


_TIERS = {
    "detail=memory": "memory",
    "detail=redis": "redis",
    "stored": "storage",
    "collapsed": "collapsed",
}


@events.request.add_listener
def _count_by_tier(name: str, response: Any = None, **kwargs: Any) -> None:
    """Count each streamer segment again under the cache tier that answered it."""
    if name != "segment" or response is None or kwargs.get("exception"):
        return
    origin = response.headers.get("cache-status", "").split(",")[0]
    tier = next((t for mark, t in _TIERS.items() if origin.endswith(mark)), None)
    if tier is not None:
        events.request.fire(
            request_type="TIER",
            name=f"segment from {tier}",
            response_time=kwargs["response_time"],
            response_length=kwargs.get("response_length", 0),
            exception=None,
            context={},
        )


def _popular_track(rng: random.Random) -> dict[str, Any]:
    point = rng.random() * _CUMULATIVE[-1]
    return _TRACKS[bisect.bisect_left(_CUMULATIVE, point)]


class Listener(HttpUser):
    wait_time = constant(_PACE)

    def on_start(self) -> None:
        self.rng = random.Random()
        self._start_track()

    def _start_track(self) -> None:
        self.track = _popular_track(self.rng)
        self.position = 0
        self.client.get(self.track["master"], name="master")
        self.client.get(self.track["media"], name="media")

    @task
    def next_segment(self) -> None:
        segments = self.track["segments"]
        if self.position >= len(segments):
            self._start_track()
            segments = self.track["segments"]
        segment = segments[self.position]
        self.position += 1
        if _TARGET == "streamer":
            self.client.get(segment, name="segment")
        else:
            path, first, last = segment
            self.client.get(path, name="segment", headers={"Range": f"bytes={first}-{last}"})
