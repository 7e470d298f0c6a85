"""Counting after the IAB Tech Lab Podcast Measurement Technical Guidelines (v2.1), pure.

Delivery events (``streamer.analytics.events``) go in; downloads, HLS listening sessions
and, for every event that counts for neither, the reason why come out. docs/analytics.md
states each rule with the guideline it follows; in short, an event is first checked on
its own, in this order (the first reason that applies is the one given):

    status           not 200 or 206: nothing (or an error) was delivered
    no-user-agent    no User-Agent: nothing can be credited to it     } classify() of
    bot              in the OPAWG bots list                            } streamer.
    bot-library      an HTTP library the OPAWG lists mark as a bot     } analytics.agents
    unknown-bot      an unlisted agent calling itself bot/crawler/spider }
    playlist         an .m3u8 answer: no audio (a channel's live window is a poll,
                     below, when it answered 200, 206 or 304)
    init-segment     an HLS init section: no audio
    preload          a range of 2 bytes or fewer (bytes=0-1, the players' probe)
    nothing-sent     no body byte went out (HEAD, or the client left at once)
    unknown-length   a progressive answer without the representation's size or duration:
                     its bytes cannot be turned into seconds
    not-a-track      a progressive answer for a playlist or channel (no such route today)
    late             older than what the counter has already closed (see ``step``)

then, by what it delivered:

- progressive (``segment`` None): a **download** of the track is counted for a listener
  (contract D's ``listener``: hashed address /64 or /32 + User-Agent) once the union of
  the byte ranges they received of one representation, within one 24-hour window, covers
  a minute of audio, or the whole representation when it is shorter than a minute. Bytes
  become seconds in proportion: ``seconds = bytes / total_bytes * duration`` (headers such
  as ID3 tags and MP4 boxes count as audio; see docs/analytics.md). The window opens at
  the listener's first countable request for the track and lasts 24 hours; a request at
  or after its end opens a new window. Requests after the count, in the same window, are
  ``already-counted``; a window that closes short of a minute leaves its requests
  ``under-a-minute``; more than ``max_pending_events`` requests in one window without a
  minute are a ``request-flood``.
- HLS (``segment`` >= 0): segments go into a **listening session** per listener and
  subject (track, stitched playlist or channel, as the event names it). A session ends
  when the listener fetches nothing of that subject for ``session_gap`` (30 minutes). Its
  listening time is the union of the segments' time spans, a segment fetched twice or at
  two renditions counting once (segment n spans ``[n, n + 1) * segment_seconds``, the
  part sent in proportion to its bytes); for a track whose duration the caller gives
  (``track_seconds``), the furthest point reached gives the completion quartile (0 to 4:
  25, 50, 75, 100 % of the duration).
- a channel's live window (``rendition`` LIVE_WINDOW: its media playlist, which a player
  polls every few seconds while it plays; the segments it then fetches are the tracks'
  own, and count as the tracks' sessions): the polls make a **listening session of the
  channel**, with the same 30-minute gap. Its listening time runs from each poll to the
  next, at most two segment durations (a longer silence is a pause), and one segment
  duration after the last poll (what the player had buffered).

The counter is incremental, for a rollup that runs every hour and continues where it left
off: ``step(state, events, now)`` returns the results decided by ``now`` and the new state
(open windows and sessions only, serialisable with ``counting_state``). ``count(events)``
is the whole-list form, for tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from streamer.analytics.agents import AgentClassifier, default_classifier
from streamer.analytics.counting_state import (
    CounterState,
    DownloadKey,
    OpenSession,
    PendingDownload,
    SessionKey,
)
from streamer.analytics.events import DeliveryEvent
from streamer.analytics.intervals import add_byte_range, covered_bytes, covered_seconds
from streamer.types import LIVE_WINDOW, DeliveryKind

__all__ = [
    "QUARTILES",
    "CountingRules",
    "Download",
    "Excluded",
    "ListeningSession",
    "Reason",
    "Results",
    "TrackSeconds",
    "count",
    "event_reason",
    "finish",
    "step",
    "unique_listeners",
]

Reason = Literal[
    "status",
    "no-user-agent",
    "bot",
    "bot-library",
    "unknown-bot",
    "playlist",
    "init-segment",
    "preload",
    "nothing-sent",
    "unknown-length",
    "not-a-track",
    "late",
    "already-counted",
    "under-a-minute",
    "request-flood",
]

QUARTILES = (0.25, 0.5, 0.75, 1.0)
# A track's duration by id (the catalogue's), for completion quartiles: segment answers
# carry only their own seconds.
TrackSeconds = Callable[[str], float | None]
_COUNTED_STATUSES = frozenset({200, 206})
_POLL_STATUSES = frozenset({200, 206, 304})  # a revalidated window is a poll too


@dataclass(frozen=True, slots=True)
class CountingRules:
    """The thresholds (defaults: the guidelines' values and ours, docs/analytics.md)."""

    min_seconds: float = 60.0  # IAB: one minute of audio, or the whole file if shorter
    window: timedelta = timedelta(hours=24)  # IAB: one download per listener and 24 hours
    preload_bytes: int = 2  # a range this short or shorter is a pre-load probe
    session_gap: timedelta = timedelta(minutes=30)  # ours: the usual web-analytics gap
    # A segment without byte offsets spans [n, n+1) * segment_seconds (settings'
    # default); with offsets its span is proportional, like a download's bytes.
    segment_seconds: float = 6.0
    max_pending_events: int = 256  # ours: bounds the state of one window


@dataclass(frozen=True, slots=True)
class Download:
    """One IAB download: a listener got a minute of a track (or all of it) in a window.

    ``start`` is the window's first request, ``counted_at`` the request that completed the
    minute (rollups should bucket by it: it always falls in the batch that emits the
    download). ``seconds`` is what had been received when it was counted; ``events`` how
    many requests made it up. Agent facts are those of the first request.
    """

    listener: str
    track_id: str
    start: datetime
    counted_at: datetime
    rendition: str
    seconds: float
    events: int
    user_agent: str
    referrer: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class ListeningSession:
    """Segments of one subject delivered to one listener without a 30-minute pause.

    ``seconds`` is the union of the segments' time spans, ``segments`` the distinct
    segments, ``requests`` every segment request (repeats and rendition switches
    included). A channel's session made of polls of its live window has the polls as
    ``requests``, no segments, and the listening time the polls span. ``completion`` is
    the furthest fraction of the track reached and ``quartile`` how many of 25/50/75/100 %
    it passed (None for playlists and channels, and for a track whose duration
    ``track_seconds`` did not give). ``duration`` is that duration.
    """

    listener: str
    kind: DeliveryKind
    subject_id: str
    start: datetime
    end: datetime
    seconds: float
    segments: int
    requests: int
    renditions: tuple[str, ...]
    duration: float | None
    completion: float | None
    quartile: int | None
    user_agent: str
    referrer: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class Excluded:
    """An event that counts for no download and no session, and why."""

    event: DeliveryEvent
    reason: Reason


@dataclass(frozen=True, slots=True)
class Results:
    """What one step decided. Every event handed in ends up in exactly one place: a
    download's ``events``, a session's ``requests``, ``excluded``, or the state (an open
    window or session), to be decided by a later step."""

    downloads: tuple[Download, ...] = ()
    sessions: tuple[ListeningSession, ...] = ()
    excluded: tuple[Excluded, ...] = ()


@dataclass(slots=True)
class _Work:
    """The state a step builds: a copy of the caller's maps, whose entries are copied the
    first time this step changes them (the caller's entries are never changed)."""

    state: CounterState
    track_seconds: TrackSeconds | None = None
    own_downloads: set[DownloadKey] = field(default_factory=set)
    own_sessions: set[SessionKey] = field(default_factory=set)

    def download(self, key: DownloadKey) -> PendingDownload | None:
        pending = self.state.downloads.get(key)
        if pending is not None and key not in self.own_downloads:
            pending = self.state.downloads[key] = pending.copy()
            self.own_downloads.add(key)
        return pending

    def new_download(self, key: DownloadKey, pending: PendingDownload) -> None:
        self.state.downloads[key] = pending
        self.own_downloads.add(key)

    def session(self, key: SessionKey) -> OpenSession | None:
        session = self.state.sessions.get(key)
        if session is not None and key not in self.own_sessions:
            session = self.state.sessions[key] = session.copy()
            self.own_sessions.add(key)
        return session

    def new_session(self, key: SessionKey, session: OpenSession) -> None:
        self.state.sessions[key] = session
        self.own_sessions.add(key)


@dataclass(slots=True)
class _Collector:
    downloads: list[Download] = field(default_factory=list)
    sessions: list[ListeningSession] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)

    def results(self) -> Results:
        return Results(tuple(self.downloads), tuple(self.sessions), tuple(self.excluded))


def event_reason(
    event: DeliveryEvent,
    classifier: AgentClassifier | None = None,
    rules: CountingRules = CountingRules(),
) -> Reason | None:
    """Why ``event`` cannot count, judged on its own (the first rule of the module
    docstring's list that applies), or None when it may count."""
    poll = event.rendition == LIVE_WINDOW
    if event.status not in (_POLL_STATUSES if poll else _COUNTED_STATUSES):
        return "status"
    agent = (classifier or default_classifier()).classify(event.user_agent, event.referrer)
    if agent.bot_reason is not None:
        return agent.bot_reason
    if poll:
        return None if event.kind == "channel" else "playlist"
    if event.rendition == "playlist":
        return "playlist"
    if event.segment is not None and event.segment < 0:
        return "init-segment"
    if (
        event.range_start is not None
        and event.range_end is not None
        and event.range_end - event.range_start + 1 <= rules.preload_bytes
    ):
        return "preload"
    if event.sent <= 0 or _delivered(event) is None:
        return "nothing-sent"
    if event.segment is None:
        if not event.total_bytes or not event.duration or event.duration <= 0:
            return "unknown-length"
        if event.kind != "track":
            return "not-a-track"
    return None


def _delivered(event: DeliveryEvent) -> tuple[int, int] | None:
    """The inclusive byte span of the representation this event actually delivered: the
    range asked for (the whole representation when none), cut to the bytes sent."""
    start = event.range_start or 0
    if event.range_end is not None:
        end = event.range_end
    elif event.total_bytes:
        end = event.total_bytes - 1
    else:
        end = start + event.sent - 1
    end = min(end, start + event.sent - 1)
    if event.total_bytes:
        end = min(end, event.total_bytes - 1)
    return (start, end) if end >= start else None


def _needed_bytes(total_bytes: int, duration: float, rules: CountingRules) -> int:
    """Bytes of a representation that make a minute of audio (all of them when shorter)."""
    if duration <= rules.min_seconds:
        return total_bytes
    return min(total_bytes, math.ceil(rules.min_seconds / duration * total_bytes))


def _order(event: DeliveryEvent) -> tuple[object, ...]:
    """A total order on events: time first, then every field, so that a batch's result
    does not depend on the order its events arrive in."""
    return (
        event.at,
        event.listener,
        event.kind,
        event.subject_id,
        event.rendition,
        -2 if event.segment is None else event.segment,
        -1 if event.range_start is None else event.range_start,
        -1 if event.range_end is None else event.range_end,
        event.total_bytes or 0,
        event.duration or 0.0,
        event.status,
        event.sent,
        event.user_agent,
        event.referrer or "",
        event.country or "",
    )


def step(
    state: CounterState,
    events: Iterable[DeliveryEvent],
    now: datetime,
    rules: CountingRules = CountingRules(),
    classifier: AgentClassifier | None = None,
    track_seconds: TrackSeconds | None = None,
) -> tuple[Results, CounterState]:
    """Count ``events`` on top of ``state`` and close what has ended by ``now``.

    ``now`` is the end of the period the batch covers: the batch's events are at or
    before it, the next batch's at or after it (the rollup reads events by ``at`` once
    the capture has flushed them; ``now`` may be the last event's time). Windows that end
    and sessions idle for ``session_gap`` by ``now`` are closed; the rest stays in the new
    state. An event older than the previous step's ``now`` is ``late``: what it belonged
    to may be closed already; an event after ``now`` is a ValueError (nothing is
    counted). ``state`` itself is not changed. ``track_seconds`` gives a track's duration
    for completion quartiles (without it, sessions have none).
    """
    classifier = classifier or default_classifier()
    ordered = sorted(events, key=_order)
    if ordered and ordered[-1].at > now:
        # Counting it now would decide windows and sessions before the events between
        # ``now`` and it are seen: the result would depend on where batches split.
        raise ValueError(f"an event at {ordered[-1].at.isoformat()}, after now ({now.isoformat()})")
    work = _Work(state.copy(), track_seconds)
    out = _Collector()
    for event in ordered:
        if state.watermark is not None and event.at < state.watermark:
            out.excluded.append(Excluded(event, "late"))
            continue
        reason = event_reason(event, classifier, rules)
        if reason is not None:
            out.excluded.append(Excluded(event, reason))
        elif event.rendition == LIVE_WINDOW:
            _poll_event(work, event, rules, out)
        elif event.segment is None:
            _download_event(work, event, rules, out)
        else:
            _session_event(work, event, rules, out)
    _close(work.state, now, rules, out)
    if state.watermark is None or now > state.watermark:
        work.state.watermark = now
    return out.results(), work.state


def finish(state: CounterState, rules: CountingRules = CountingRules()) -> Results:
    """Close every open window and session (the end of a whole-list count)."""
    out = _Collector()
    _close(state.copy(), None, rules, out)
    return out.results()


def count(
    events: Iterable[DeliveryEvent],
    rules: CountingRules = CountingRules(),
    classifier: AgentClassifier | None = None,
    track_seconds: TrackSeconds | None = None,
) -> Results:
    """Every event of a whole log counted at once: ``step`` then ``finish``."""
    ordered = sorted(events, key=_order)
    if not ordered:
        return Results()
    now = ordered[-1].at + timedelta(microseconds=1)
    first, state = step(CounterState(), ordered, now, rules, classifier, track_seconds)
    last = finish(state, rules)
    return Results(
        first.downloads + last.downloads,
        first.sessions + last.sessions,
        first.excluded + last.excluded,
    )


# Downloads ------------------------------------------------------------------------------


def _download_event(
    work: _Work, event: DeliveryEvent, rules: CountingRules, out: _Collector
) -> None:
    key: DownloadKey = (event.listener, event.subject_id)
    pending = work.download(key)
    if pending is not None and event.at >= pending.start + rules.window:
        _close_download(pending, out)
        pending = None
    if pending is None:
        pending = PendingDownload(start=event.at)
        work.new_download(key, pending)
    if pending.counted:
        out.excluded.append(Excluded(event, "already-counted"))
        return
    if len(pending.events) >= rules.max_pending_events:
        out.excluded.append(Excluded(event, "request-flood"))
        return
    span = _delivered(event)
    # event_reason has checked all three.
    assert span is not None
    assert event.total_bytes
    assert event.duration
    representation = (event.rendition, event.total_bytes, event.duration)
    ranges = add_byte_range(pending.ranges.get(representation, []), *span)
    pending.ranges[representation] = ranges
    pending.events.append(event)
    received = covered_bytes(ranges)
    if received < _needed_bytes(event.total_bytes, event.duration, rules):
        return
    first = pending.events[0]
    out.downloads.append(
        Download(
            listener=event.listener,
            track_id=event.subject_id,
            start=pending.start,
            counted_at=event.at,
            rendition=event.rendition,
            seconds=received / event.total_bytes * event.duration,
            events=len(pending.events),
            user_agent=first.user_agent,
            referrer=first.referrer,
            country=first.country,
        )
    )
    # Once counted, the window only needs to remember that it was.
    pending.counted = True
    pending.events = []
    pending.ranges = {}


def _close_download(pending: PendingDownload, out: _Collector) -> None:
    out.excluded.extend(Excluded(event, "under-a-minute") for event in pending.events)


# Sessions -------------------------------------------------------------------------------


def _segment_span(event: DeliveryEvent, rules: CountingRules) -> tuple[float, float]:
    """The time span in the track, in seconds, of what a segment answer delivered.

    The HLS route reports a segment as its own representation: ``total_bytes`` and
    ``duration`` are the segment's, offsets are into it. Segment n starts at
    ``n * segment_seconds`` (the packager cuts fragments of that length; they run a few
    milliseconds longer, aligned to audio frames) and the part delivered is proportional
    to the bytes sent. Without the segment's size and seconds it spans a whole nominal
    segment."""
    assert event.segment is not None
    base = event.segment * rules.segment_seconds
    span = _delivered(event)
    if span is not None and event.total_bytes and event.duration:
        low, high = span
        return (
            base + low / event.total_bytes * event.duration,
            base + (high + 1) / event.total_bytes * event.duration,
        )
    return base, base + (event.duration or rules.segment_seconds)


def _session_for(
    work: _Work, event: DeliveryEvent, rules: CountingRules, out: _Collector
) -> tuple[OpenSession, bool]:
    """The listener's open session of the event's subject, closing one idle for the gap;
    True when it is new (opened by this event)."""
    key: SessionKey = (event.listener, event.kind, event.subject_id)
    session = work.session(key)
    if session is not None and event.at - session.last >= rules.session_gap:
        out.sessions.append(_session(key, session, rules))
        session = None
    if session is not None:
        return session, False
    session = OpenSession(
        start=event.at,
        last=event.at,
        user_agent=event.user_agent,
        referrer=event.referrer,
        country=event.country,
    )
    work.new_session(key, session)
    return session, True


def _session_event(
    work: _Work, event: DeliveryEvent, rules: CountingRules, out: _Collector
) -> None:
    session, new = _session_for(work, event, rules, out)
    if new and event.kind == "track" and work.track_seconds is not None:
        session.duration = work.track_seconds(event.subject_id)
    session.last = event.at
    session.requests += 1
    if event.rendition not in session.renditions:
        session.renditions.append(event.rendition)
    assert event.segment is not None
    start, end = _segment_span(event, rules)
    # The first delivery of a segment number gives its span: the same segment at another
    # rendition (or again) covers the same audio and must not add time.
    session.spans.setdefault(event.segment, (start, end))
    session.reached = max(session.reached or 0.0, end)


def _poll_event(work: _Work, event: DeliveryEvent, rules: CountingRules, out: _Collector) -> None:
    """A player asked for a channel's live window (see the module docstring)."""
    session, new = _session_for(work, event, rules, out)
    if new:
        session.renditions.append(LIVE_WINDOW)
    else:
        since = (session.last - session.start).total_seconds()
        until = (event.at - session.start).total_seconds()
        _add_span(session.spans, since, min(until, since + 2 * rules.segment_seconds))
    session.last = event.at
    session.requests += 1


def _add_span(spans: dict[int, tuple[float, float]], low: float, high: float) -> None:
    """Add ``[low, high)`` to runs numbered 0, 1, ... in time order, extending the last
    run when they touch (a player polling steadily keeps one run, not one per poll)."""
    if high <= low:
        return
    if spans:
        last = len(spans) - 1
        begin, end = spans[last]
        if low <= end:
            spans[last] = (begin, max(end, high))
            return
    spans[len(spans)] = (low, high)


def _quartile(reached: float, duration: float, rules: CountingRules) -> int:
    """How many of the 25/50/75/100 % marks ``reached`` seconds passed. The slack (half a
    segment and 0.5 % of the track) absorbs the nominal segment starts' drift from the
    real fragments (a few milliseconds each) and the last segment's rounding."""
    slack = rules.segment_seconds / 2 + 0.005 * duration
    return sum(1 for q in QUARTILES if reached >= q * duration - slack)


def _session(key: SessionKey, session: OpenSession, rules: CountingRules) -> ListeningSession:
    listener, kind, subject_id = key
    completion = quartile = None
    if kind == "track" and session.duration and session.reached is not None:
        completion = min(1.0, session.reached / session.duration)
        quartile = _quartile(session.reached, session.duration, rules)
    spans = list(session.spans.values())
    polls = LIVE_WINDOW in session.renditions
    if polls:  # the last poll's segment, which the player had buffered
        last = (session.last - session.start).total_seconds()
        spans.append((last, last + rules.segment_seconds))
    return ListeningSession(
        listener=listener,
        kind=kind,
        subject_id=subject_id,
        start=session.start,
        end=session.last,
        seconds=covered_seconds(spans),
        segments=0 if polls else len(session.spans),
        requests=session.requests,
        renditions=tuple(session.renditions),
        duration=session.duration,
        completion=completion,
        quartile=quartile,
        user_agent=session.user_agent,
        referrer=session.referrer,
        country=session.country,
    )


# Closing --------------------------------------------------------------------------------


def _close(work: CounterState, now: datetime | None, rules: CountingRules, out: _Collector) -> None:
    """Close windows that end, and sessions idle for the gap, by ``now`` (all when None)."""
    for key, pending in list(work.downloads.items()):
        if now is None or now >= pending.start + rules.window:
            _close_download(pending, out)
            del work.downloads[key]
    for skey, session in list(work.sessions.items()):
        if now is None or now - session.last >= rules.session_gap:
            out.sessions.append(_session(skey, session, rules))
            del work.sessions[skey]


# Unique listeners -----------------------------------------------------------------------


def unique_listeners(
    downloads: Iterable[Download],
    sessions: Iterable[ListeningSession],
    start: datetime,
    end: datetime,
) -> int:
    """How many distinct listeners had a counted download (``counted_at``) or a session
    (overlapping) in ``[start, end)``. Listener keys rotate daily (contract D), so a
    period longer than a day counts a person once per day they listened: an upper bound."""
    keys = {d.listener for d in downloads if start <= d.counted_at < end}
    keys.update(s.listener for s in sessions if s.start < end and s.end >= start)
    return len(keys)
