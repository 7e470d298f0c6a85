"""The rollup's counter: IAB counting (streamer/analytics/counting.py) turned into cells.

Each batch of raw events is one ``step`` of the counter, its ``now`` the time of the
batch's last event (the next batch starts at or after it); the run's last step moves
``now`` to the rollup's horizon so that windows and sessions ended by then are closed.
What counting decided becomes ``Contribution``s:

- a download, in the hour of the request that completed its minute (``counted_at``);
- a listening session, in the hour it started: one session, its listening seconds and
  the completion quartile it reached, all at ``start`` (a three-hour session of a
  channel counts its three hours in its first hour).

Dimensions come from the first request's agent (OPAWG lists): app (an app, else an HTTP
library), device, os, browser, and the country the capture recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from streamer.analytics.agents import AgentClassifier, default_classifier
from streamer.analytics.cells import Contribution
from streamer.analytics.counting import Results, step
from streamer.analytics.counting_state import CounterState, from_json, to_json
from streamer.analytics.raw_events import RawEvent

__all__ = ["IabCounter", "load_counter"]


class IabCounter:
    def __init__(self, state: bytes, classifier: AgentClassifier | None = None) -> None:
        self.state = from_json(json.loads(state)) if state else CounterState()
        self.classifier = classifier or default_classifier()
        self.durations: Mapping[str, float] = {}  # the last batch's tracks

    def feed(
        self, events: Sequence[RawEvent], durations: Mapping[str, float]
    ) -> list[Contribution]:
        if not events:
            return []
        self.durations = durations
        results, self.state = step(
            self.state,
            [r.event for r in events],
            events[-1].at,
            classifier=self.classifier,
            track_seconds=durations.get,
        )
        return self._contributions(results)

    def advance(self, now: datetime) -> list[Contribution]:
        if self.state.watermark is not None and now <= self.state.watermark:
            return []
        results, self.state = step(
            self.state, [], now, classifier=self.classifier, track_seconds=self.durations.get
        )
        return self._contributions(results)

    def dumps(self) -> bytes:
        return json.dumps(to_json(self.state), separators=(",", ":")).encode()

    def _contribution(
        self,
        at: datetime,
        kind: str,
        subject_id: str,
        listener: str,
        agent: tuple[str, str | None, str | None],  # user agent, referrer, country
        **counts: float,
    ) -> Contribution:
        user_agent, referrer, country = agent
        found = self.classifier.classify(user_agent, referrer)
        return Contribution(
            at,
            kind,
            subject_id,
            listener,
            app=found.app or found.library or "",
            device=found.device or "",
            os=found.os or "",
            browser=found.browser or "",
            country=(country or "").upper(),
            downloads=int(counts.get("downloads", 0)),
            listening_seconds=counts.get("seconds", 0.0),
            sessions=int(counts.get("sessions", 0)),
            quartiles=int(counts.get("quartiles", 0)),
        )

    def _contributions(self, results: Results) -> list[Contribution]:
        out = [
            self._contribution(
                d.counted_at,
                "track",
                d.track_id,
                d.listener,
                (d.user_agent, d.referrer, d.country),
                downloads=1,
            )
            for d in results.downloads
        ]
        out.extend(
            self._contribution(
                s.start,
                s.kind,
                s.subject_id,
                s.listener,
                (s.user_agent, s.referrer, s.country),
                seconds=s.seconds,
                sessions=1,
                quartiles=s.quartile or 0,
            )
            for s in results.sessions
        )
        return out


def load_counter(state: bytes) -> IabCounter:
    return IabCounter(state)
