"""The timeline: what is on air between two instants, segment-exact, with the reason.

``plays(revisions, pools, start, end)`` returns the ``Play`` values overlapping
``[start, end)``, whole (the first may start before ``start``, the last end after ``end``).
The same inputs give the same plays on every node, and the cost depends on the window and
the pools, not on how long the schedule is or how old the channel is:

- Slots. The plan's occurrences near the window are resolved (``conflicts.resolve``) into
  pieces of air; instants no entry covers are gaps, filled by the plan's ``Fill``. Each
  piece has an ANCHOR, the instant its rotation is laid out from: an entry's occurrence
  start (also when it gets the air back after losing it to a higher priority), the entry's
  occurrence start for a ``loop`` fill (the entry goes on as if its slot had not ended), the
  gap's start for ``shuffle`` and ``fallback`` fills (the Unix epoch if no entry played in
  the year before the gap). A rotation repeats with a fixed period, so the track at an
  instant is arithmetic from the anchor (``rotation.Rotation.placed_from``).
- Boundaries. The live stream can only cut between segments. Where a piece ends inside a
  track, the track stops at its segment boundary NEAREST the piece's end (the earlier one
  on a tie); where a piece starts inside a track, that track starts at its segment boundary
  nearest the piece's start (if that is the track's end, the next track starts early). The
  play's ``start``/``end`` are the piece's instants, so plays stay contiguous on the air
  clock, and the audio of a cut play is early or late against that clock by at most half of
  the segment at the cut. It does not accumulate: every track not cut starts at its
  nominal instant.
- Revisions. Revision i goes on air at the first segment boundary, at or after its
  ``effective_from``, of what is on air then (the composed timeline of the revisions before
  it). Plays before that instant come from the older revisions, unchanged; the new plan's
  track in progress joins at its segment boundary nearest the switch. A revision made
  before the previous one went on air (two edits within one segment) replaces it.
- Merging. Two consecutive plays of the same track whose segments follow each other (a
  ``loop`` fill continuing the track in progress, an edit that does not touch the current
  slot) are one play: no discontinuity, reported under the first.

An entry whose playlist has no tracks (missing from ``pools`` or empty) is left out, as if
not scheduled; the fill plays instead. A gap with nothing to fill it is silent: no play.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from streamer.channels.conflicts import Piece, resolve
from streamer.channels.model import (
    ChannelPlan,
    Occurrence,
    PlanRevision,
    Play,
    PoolTrack,
    ScheduleEntry,
    check_utc,
)
from streamer.channels.recurrence import occurrences
from streamer.channels.rotation import Rotation, segment_edges_us

__all__ = ["FILL_LOOKBACK", "air_boundaries_us", "plan_plays", "plays", "to_datetime", "to_us"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
# How far back a gap looks for the entry that played before it (loop and shuffle fills).
FILL_LOOKBACK = timedelta(days=366)
_LOOKBACK_STEPS = (timedelta(days=1), timedelta(days=8), timedelta(days=32), FILL_LOOKBACK)


def to_us(instant: datetime) -> int:
    """Microseconds since the Unix epoch (exact integer arithmetic)."""
    return (instant - EPOCH) // _US


def to_datetime(microseconds: int) -> datetime:
    """The UTC instant ``microseconds`` after the Unix epoch."""
    return EPOCH + timedelta(microseconds=microseconds)


@dataclass(frozen=True, slots=True)
class _Slot:
    start: int
    end: int
    anchor: int
    rotation: Rotation
    entry_id: str | None
    playlist_id: str


def _pool(
    pools: Mapping[str, Sequence[PoolTrack]], playlist_id: str | None
) -> tuple[PoolTrack, ...]:
    if playlist_id is None:
        return ()
    return tuple(pools.get(playlist_id, ()))


def _longest_track_us(pools: Mapping[str, Sequence[PoolTrack]]) -> int:
    longest = 0
    for pool in pools.values():
        for track in pool:
            longest = max(longest, segment_edges_us(track)[-1])
    return longest


def _entry_rotation(
    plan: ChannelPlan, entry: ScheduleEntry, occurrence: Occurrence, pool: tuple[PoolTrack, ...]
) -> Rotation:
    return Rotation(
        pool=pool,
        order=entry.order,
        seed=f"{plan.seed}|{entry.id}|{occurrence.local_start.isoformat()}",
        rules=plan.rules,
        label=f"entry {entry.id} (playlist {entry.playlist_id}, priority {entry.priority})",
    )


def _playable(
    plan: ChannelPlan, pools: Mapping[str, Sequence[PoolTrack]], start: datetime, end: datetime
) -> list[Occurrence]:
    entries = tuple(entry for entry in plan.entries if _pool(pools, entry.playlist_id))
    return occurrences(entries, plan.timezone, start, end)


def _previous(
    plan: ChannelPlan, pools: Mapping[str, Sequence[PoolTrack]], before: datetime
) -> Piece | None:
    """The last piece of air ending at or before ``before``, within FILL_LOOKBACK."""
    for step in _LOOKBACK_STEPS:
        found = [o for o in _playable(plan, pools, before - step, before) if o.end <= before]
        # Occurrences running into ``before`` cannot precede a gap at ``before``; the
        # others are resolved among themselves (one ending later may have lost earlier).
        pieces = resolve(found)
        if pieces:
            return max(pieces, key=lambda piece: piece.end)
    return None


def _fill_slot(
    plan: ChannelPlan,
    pools: Mapping[str, Sequence[PoolTrack]],
    gap_start: int,
    gap_end: int,
    previous: Piece | None,
) -> _Slot | None:
    fill = plan.fill
    entries = {entry.id: entry for entry in plan.entries}
    if previous is not None and fill.mode in ("loop", "shuffle"):
        occurrence = previous.occurrence
        entry = entries[occurrence.entry_id]
        pool = _pool(pools, entry.playlist_id)
        if fill.mode == "loop":
            rotation = _entry_rotation(plan, entry, occurrence, pool)
            rotation = replace(rotation, label=f"gap filled by looping {rotation.label}")
            return _Slot(
                gap_start, gap_end, to_us(occurrence.start), rotation, None, entry.playlist_id
            )
        rotation = Rotation(
            pool=pool,
            order="shuffle",
            seed=f"{plan.seed}|fill|{gap_start}",
            rules=plan.rules,
            label=f"gap filled by shuffling playlist {entry.playlist_id} of entry {entry.id}",
        )
        return _Slot(gap_start, gap_end, gap_start, rotation, None, entry.playlist_id)
    pool = _pool(pools, fill.playlist_id)
    if not pool or fill.playlist_id is None:
        return None
    why = "fallback" if fill.mode == "fallback" else f"fallback ({fill.mode}: no entry before)"
    anchor = gap_start if previous is not None else 0
    rotation = Rotation(
        pool=pool,
        order="shuffle",
        seed=f"{plan.seed}|fill|{anchor}",
        rules=plan.rules,
        label=f"gap filled by the {why} playlist {fill.playlist_id}",
    )
    return _Slot(gap_start, gap_end, anchor, rotation, None, fill.playlist_id)


def _slots(
    plan: ChannelPlan, pools: Mapping[str, Sequence[PoolTrack]], low: int, high: int
) -> list[_Slot]:
    """The slots covering ``[low, high)``: entry pieces and fills, in order."""
    found = _playable(plan, pools, to_datetime(low), to_datetime(high))
    entries = {entry.id: entry for entry in plan.entries}
    slots: list[_Slot] = []
    cursor = low
    previous: Piece | None = None
    gap_from: int | None = None
    pieces = resolve(found)

    def close_gap(until: int) -> None:
        nonlocal gap_from
        if gap_from is None:
            return
        gap_start = gap_from
        before = previous
        if before is None or to_us(before.end) != gap_start:
            # The gap began before the window: find what played before it.
            before = _previous(plan, pools, to_datetime(gap_start))
            if before is not None:
                gap_start = to_us(before.end)
        slot = _fill_slot(plan, pools, gap_start, until, before)
        if slot is not None:
            slots.append(slot)
        gap_from = None

    for piece in pieces:
        piece_start, piece_end = to_us(piece.start), to_us(piece.end)
        if piece_start > cursor:
            gap_from = cursor
            close_gap(piece_start)
        occurrence = piece.occurrence
        entry = entries[occurrence.entry_id]
        rotation = _entry_rotation(plan, entry, occurrence, _pool(pools, entry.playlist_id))
        slots.append(
            _Slot(
                piece_start,
                piece_end,
                to_us(occurrence.start),
                rotation,
                entry.id,
                entry.playlist_id,
            )
        )
        previous = piece
        cursor = max(cursor, piece_end)
    if cursor < high:
        gap_from = cursor
        # Where the gap ends matters (its last track is cut there): look ahead for the next
        # occurrence, within the window the caller widened for that.
        close_gap(high)
    return slots


def _nearest(edges: Sequence[int], target: int) -> int:
    """Index of the edge nearest ``target`` (the earlier on a tie)."""
    index = bisect_left(edges, target)
    if index == 0:
        return 0
    if index == len(edges):
        return len(edges) - 1
    if edges[index] - target < target - edges[index - 1]:
        return index
    return index - 1


def _slot_plays(slot: _Slot, low: int, high: int, margin: int) -> list[Play]:
    """The plays of ``slot`` from about ``low`` that start before ``high``.

    A slot that began more than ``margin`` (longer than any track) before ``low`` is laid
    out from the track in progress at ``low``: how its first tracks were cut is long past.
    """
    result: list[Play] = []
    early_start: int | None = None
    begin = low if slot.start < low - margin else slot.start
    for placed in slot.rotation.placed_from(begin - slot.anchor):
        nominal = slot.anchor + placed.start_us
        edges = [nominal + edge for edge in placed.edges_us]
        first = 0
        start = nominal
        if nominal < slot.start:
            first = _nearest(edges, slot.start)
            start = slot.start
            if first == len(edges) - 1:
                # The nearest boundary is the track's end: the next track starts early.
                early_start = slot.start
                continue
        if early_start is not None:
            start, early_start = early_start, None
        if start >= slot.end or start >= high:
            break
        last = len(edges) - 1
        end = edges[-1]
        if edges[-1] > slot.end:
            last = _nearest(edges, slot.end)
            end = slot.end
        if last <= first:
            # Less than half a segment left: the play before takes the rest of the slot.
            if result:
                result[-1] = replace(result[-1], end=to_datetime(slot.end))
            break
        result.append(
            Play(
                track_id=placed.track.id,
                start=to_datetime(start),
                first_segment=first,
                segment_count=last - first,
                entry_id=slot.entry_id,
                playlist_id=slot.playlist_id,
                reason=placed.reason,
                end=to_datetime(end),
                anchor=None if edges[first] == start else to_datetime(edges[first]),
            )
        )
        if end >= slot.end:
            break
    return result


def _merge(found: list[Play], pools: Mapping[str, Sequence[PoolTrack]]) -> list[Play]:
    """Merge consecutive plays of the same track whose segments follow each other on one
    segment grid (one play has one grid: see ``Play.anchor``)."""
    result: list[Play] = []
    for play in found:
        if result:
            last = result[-1]
            if (
                last.track_id == play.track_id
                and last.end == play.start
                and last.first_segment + last.segment_count == play.first_segment
                and _grid_continues(last, play, _track_edges(pools, play.track_id))
            ):
                result[-1] = replace(
                    last, segment_count=last.segment_count + play.segment_count, end=play.end
                )
                continue
        result.append(play)
    return result


def _grid_continues(last: Play, play: Play, edges: Sequence[int]) -> bool:
    """Whether ``play`` starts on ``last``'s segment grid, where its segments would go on."""
    grid = to_us(last.start if last.anchor is None else last.anchor)
    following = grid + edges[play.first_segment] - edges[last.first_segment]
    return following == to_us(play.start if play.anchor is None else play.anchor)


def _track_edges(pools: Mapping[str, Sequence[PoolTrack]], track_id: str) -> tuple[int, ...]:
    for pool in pools.values():
        for track in pool:
            if track.id == track_id:
                return segment_edges_us(track)
    raise ValueError(f"track {track_id} is in no pool")


def air_boundaries_us(play: Play, edges: Sequence[int]) -> list[int]:
    """The air instants (µs) of the segment boundaries of ``play``: its start, each
    boundary between its segments, and its end. ``edges`` are the track's edges."""
    start = to_us(play.start)
    grid = start if play.anchor is None else to_us(play.anchor)
    base = edges[play.first_segment]
    inner = [
        grid + edges[play.first_segment + index] - base for index in range(1, play.segment_count)
    ]
    return [start, *inner, to_us(play.end)]


def plan_plays(
    plan: ChannelPlan, pools: Mapping[str, Sequence[PoolTrack]], start: datetime, end: datetime
) -> list[Play]:
    """The plays of one plan (no revisions) overlapping ``[start, end)``, whole."""
    check_utc(start, "start")
    check_utc(end, "end")
    low, high = to_us(start), to_us(end)
    if high <= low:
        return []
    margin = _longest_track_us(pools) + 1
    found: list[Play] = []
    for slot in _slots(plan, pools, low - margin, high + margin):
        own = _slot_plays(slot, low - margin, high + margin, margin)
        if own:
            found.extend(own)
        elif found and to_us(found[-1].end) == slot.start:
            # A slot too short to hold half a segment: the play before covers it.
            found[-1] = replace(found[-1], end=to_datetime(slot.end))
    return [
        play for play in _merge(found, pools) if to_us(play.end) > low and to_us(play.start) < high
    ]


def _rebase(play: Play, at: int, edges: Sequence[int]) -> Play | None:
    """``play`` joined at air instant ``at`` (inside it): from its segment boundary nearest
    ``at``; None if that is its end."""
    boundaries = air_boundaries_us(play, edges)
    index = _nearest(boundaries, at)
    if index >= play.segment_count:
        return None
    grid = to_us(play.start if play.anchor is None else play.anchor)
    joined = grid + edges[play.first_segment + index] - edges[play.first_segment]
    return replace(
        play,
        start=to_datetime(at),
        first_segment=play.first_segment + index,
        segment_count=play.segment_count - index,
        anchor=None if joined == at else to_datetime(joined),
    )


def _cut(play: Play, at: int, edges: Sequence[int]) -> Play | None:
    """``play`` stopped at air instant ``at`` (a boundary of it, or the nearest one)."""
    boundaries = air_boundaries_us(play, edges)
    index = _nearest(boundaries[:-1], at) if at < to_us(play.end) else play.segment_count
    if index == 0:
        return None
    return replace(play, segment_count=index, end=to_datetime(at))


def _compose(
    switches: Sequence[tuple[int, ChannelPlan]],
    pools: Mapping[str, Sequence[PoolTrack]],
    low: int,
    high: int,
) -> list[Play]:
    """The plays over ``[low, high)`` when plan j holds the air from its switch instant
    (the first plan from before ``low``)."""
    result: list[Play] = []
    for index, (begins, plan) in enumerate(switches):
        ends = switches[index + 1][0] if index + 1 < len(switches) else None
        lo = low if index == 0 else max(low, begins)
        hi = high if ends is None else min(high, ends)
        if hi <= lo:
            continue
        joined_early = False
        for play in plan_plays(plan, pools, to_datetime(lo), to_datetime(hi)):
            piece: Play | None = play
            edges = _track_edges(pools, play.track_id)
            if index > 0 and to_us(play.start) < begins:
                piece = _rebase(play, begins, edges)
                if piece is None:
                    # The nearest boundary was the end of the track in progress: the next
                    # track starts early, at the switch.
                    joined_early = True
                    continue
            elif joined_early:
                # Started early, at the switch, on its own grid: the difference falls on
                # its first segment and its decode timeline runs on into the next play.
                grid = play.start if play.anchor is None else play.anchor
                piece = replace(
                    play,
                    start=to_datetime(begins),
                    anchor=None if to_us(grid) == begins else grid,
                )
            joined_early = False
            if piece is not None and ends is not None and to_us(piece.end) > ends:
                piece = _cut(piece, ends, edges)
            if piece is not None and (ends is None or to_us(piece.start) < ends):
                result.append(piece)
    return _merge(result, pools)


def _first_boundary(
    found: Sequence[Play], pools: Mapping[str, Sequence[PoolTrack]], at: int
) -> int:
    """The first segment boundary at or after ``at`` of the plays ``found`` (``at`` itself
    in silence)."""
    for play in found:
        if to_us(play.start) <= at < to_us(play.end):
            boundaries = air_boundaries_us(play, _track_edges(pools, play.track_id))
            return boundaries[bisect_left(boundaries, at)]
    return at


def plays(
    revisions: Sequence[PlanRevision],
    pools: Mapping[str, Sequence[PoolTrack]],
    start: datetime,
    end: datetime,
) -> list[Play]:
    """What is on air over ``[start, end)``: whole plays, in order.

    ``revisions`` are the channel's plans with the instants they were made (any order);
    ``pools`` maps every playlist id the plans use to its tracks (with segment durations).
    Only the revisions near the window matter: the last made at least two track lengths
    before ``start`` and those after it, so the service may pass just those.
    """
    check_utc(start, "start")
    check_utc(end, "end")
    if not revisions:
        return []
    ordered = sorted(revisions, key=lambda revision: revision.effective_from)
    low, high = to_us(start), to_us(end)
    margin = 2 * (_longest_track_us(pools) + 1)
    half = margin // 2
    keys = [to_us(revision.effective_from) for revision in ordered]
    # The revision on air at ``low - margin`` is one of those made by then; its switch
    # depends on the one before it only if they were made within a margin of each other,
    # so walk back to an edit made well after its predecessor: from there the switches
    # are the same whichever window is asked for.
    first = max(0, bisect_right(keys, low - margin) - 1)
    while first > 0 and keys[first] - keys[first - 1] <= margin:
        first -= 1
    if first == 0:
        switches = [(keys[0], ordered[0].plan)]
    else:
        before = ordered[first - 1].plan
        own = plan_plays(
            before, pools, to_datetime(keys[first] - half), to_datetime(keys[first] + half)
        )
        switches = [
            (keys[first - 1], before),
            (_first_boundary(own, pools, keys[first]), ordered[first].plan),
        ]
    for index in range(first + 1, len(ordered)):
        made = keys[index]
        if made >= high + margin:
            break
        on_air = _compose(switches, pools, made - half, made + half)
        switch = _first_boundary(on_air, pools, made)
        # A revision superseded before it went on air never airs.
        while len(switches) > 1 and switches[-1][0] >= switch:
            switches.pop()
        switches.append((switch, ordered[index].plan))
    composed = _compose(switches, pools, low - margin, high + margin)
    return [play for play in composed if to_us(play.end) > low and to_us(play.start) < high]
