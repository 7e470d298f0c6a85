"""/api/v1/channels: scheduled channels, their schedule entries, what they play.

Access: channels are server-wide. Every principal reads them (viewers included); editors
and admins change them (403 for viewers). An entry (or the fill) names a playlist the
editor can read (422 otherwise, as for an unknown one). Track titles and artists in
previews, now playing and history are shown only to those who can read the track's
library (others see the track id).

Optimistic concurrency: every response about one channel (or one of its entries) carries
``ETag: "{revision}"`` of the channel; a write with ``If-Match`` that no longer matches
answers 412 with the current ETag. Every mutation leaves one audit entry (``channel.*``)
and takes effect on air at a segment boundary after every node has seen it
(docs/channels.md). Wall times (``start``, ``exdates``) are local to the channel's zone
and have no offset; instants in answers carry the offset of the ``tz`` asked for.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.auth.access import Principal
from streamer.channels import repository
from streamer.channels.repository import ChannelState, RevisionConflict
from streamer.channels.service import ChannelService, PlayInfo, ScheduleError
from streamer.channels.validation import (
    MAX_DURATION,
    YEARS,
    InvalidSchedule,
    check_rrule,
    check_timezone,
    format_local,
    parse_local,
    zone,
)
from streamer.db import Channel, ChannelEntry, Playlist
from streamer.routes.api_common import (
    CONFLICT_RESPONSES,
    PROBLEM,
    PROBLEM_RESPONSES,
    DatabaseDep,
    PrincipalDep,
    Problem,
    actor,
)
from streamer.routes.revision_tags import (
    if_match_revisions,
    precondition_failed,
    revision_etag,
)

__all__ = ["ChannelOut", "channels_router"]

IfMatch = Annotated[str | None, Header(description='"{revision}" as the ETag gave it')]
WRITE_RESPONSES = {**CONFLICT_RESPONSES, 412: {"model": Problem, "content": {PROBLEM: {}}}}
FillMode = Literal["loop", "shuffle", "fallback"]
Order = Literal["sequential", "shuffle"]
PlaylistId = Annotated[str, Field(min_length=1, max_length=32)]
LocalTime = Annotated[
    str,
    Field(
        min_length=10,
        max_length=32,
        description="wall time in the channel's zone, ISO 8601 without offset",
        examples=["2026-12-07T14:00:00"],
    ),
]
Zone = Annotated[
    str | None,
    Query(max_length=64, description="IANA time zone of the answer's instants (default UTC)"),
]
MAX_SPAN = timedelta(days=31)  # of occurrences, previews and history at once
_MAX_PREVIEW_SPAN = timedelta(days=2)


class Fill(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: FillMode = "loop"
    playlist_id: PlaylistId | None = None


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 0
    artist_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 0


class ChannelOut(BaseModel):
    id: str
    name: str
    timezone: str
    fill: Fill
    rules: Rules
    loudness_target: float | None
    revision: int
    created_at: datetime
    updated_at: datetime
    urls: dict[str, str]

    @classmethod
    def of(cls, channel: Channel) -> ChannelOut:
        return cls(
            id=channel.id,
            name=channel.name,
            timezone=channel.timezone,
            fill=Fill(mode=channel.fill_mode, playlist_id=channel.fill_playlist_id),
            rules=Rules(track_minutes=channel.track_minutes, artist_minutes=channel.artist_minutes),
            loudness_target=channel.loudness_target,
            revision=channel.revision,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
            urls={
                "self": f"/api/v1/channels/{channel.id}",
                "live": f"/live/{channel.id}/master.m3u8",
                "entries": f"/api/v1/channels/{channel.id}/entries",
                "now": f"/api/v1/channels/{channel.id}/now",
            },
        )


class ChannelPage(BaseModel):
    items: list[ChannelOut]
    total: int
    limit: int
    offset: int


Loudness = Annotated[float | None, Field(ge=-70, le=0, description="LUFS; null: off")]


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    fill: Fill = Fill()
    rules: Rules = Rules()
    loudness_target: Loudness = None


class ChannelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    timezone: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    fill: Fill | None = None
    rules: Rules | None = None
    loudness_target: Loudness = None
    clear_loudness_target: bool = False


class EntryOut(BaseModel):
    id: str
    playlist_id: str
    start: str
    duration_seconds: float
    rrule: str | None
    exdates: list[str]
    priority: int
    order: Order

    @classmethod
    def of(cls, entry: ChannelEntry) -> EntryOut:
        return cls(
            id=entry.id,
            playlist_id=entry.playlist_id,
            start=entry.start,
            duration_seconds=entry.duration_seconds,
            rrule=entry.rrule,
            exdates=list(entry.exdates),
            priority=entry.priority,
            order=entry.order,
        )


Duration = Annotated[float, Field(gt=0, le=MAX_DURATION.total_seconds())]
Priority = Annotated[int, Field(ge=-1000, le=1000)]
Exdates = Annotated[list[LocalTime], Field(max_length=1000)]
Rrule = Annotated[str | None, Field(max_length=500, examples=["FREQ=WEEKLY;BYDAY=MO,WE"])]


class EntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playlist_id: PlaylistId
    start: LocalTime
    duration_seconds: Duration
    rrule: Rrule = None
    exdates: Exdates = []
    priority: Priority = 0
    order: Order = "sequential"


class EntryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playlist_id: PlaylistId | None = None
    start: LocalTime | None = None
    duration_seconds: Duration | None = None
    rrule: Rrule = None
    clear_rrule: bool = False
    exdates: Exdates | None = None
    priority: Priority | None = None
    order: Order | None = None


class OccurrenceOut(BaseModel):
    entry_id: str
    playlist_id: str
    start: datetime
    end: datetime
    priority: int
    wins: bool
    conflicts_with: list[str]
    reason: str


class TrackPlayOut(BaseModel):
    track_id: str
    title: str | None
    artist: str | None
    start: datetime
    end: datetime
    entry_id: str | None
    playlist_id: str | None
    reason: str


class NowOut(BaseModel):
    channel_id: str
    at: datetime
    track: TrackPlayOut | None
    started_at: datetime | None
    ends_at: datetime | None
    next: list[TrackPlayOut]


def channels_router() -> APIRouter:
    router = APIRouter(prefix="/channels", tags=["channels"])

    @router.get("", response_model=ChannelPage, responses=PROBLEM_RESPONSES)
    async def list_channels(
        db: DatabaseDep,
        _principal: PrincipalDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> ChannelPage:
        """Every channel, by name."""
        rows, total = await repository.list_channels(db, limit=limit, offset=offset)
        return ChannelPage(
            items=[ChannelOut.of(c) for c in rows], total=total, limit=limit, offset=offset
        )

    @router.post("", response_model=ChannelOut, status_code=201, responses=WRITE_RESPONSES)
    async def create_channel(
        body: ChannelCreate,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
    ) -> ChannelOut:
        """Create a channel (editors and admins)."""
        _require_writer(principal)
        await _in_thread(check_timezone, body.timezone)
        channel = Channel(
            name=body.name,
            timezone=body.timezone,
            fill_mode=body.fill.mode,
            fill_playlist_id=body.fill.playlist_id,
            track_minutes=body.rules.track_minutes,
            artist_minutes=body.rules.artist_minutes,
            loudness_target=body.loudness_target,
        )
        service = _service(request)

        async def plan_for(
            session: AsyncSession, state: ChannelState
        ) -> tuple[dict[str, Any], datetime]:
            await _check_fill(session, principal, state.channel)
            return await service.plan_for(session, state)

        try:
            state = await repository.create(db, actor(request, principal), channel, plan_for)
        except ScheduleError as exc:
            raise HTTPException(422, str(exc)) from None
        service.invalidate(state.channel.id)
        response.headers["location"] = f"/api/v1/channels/{state.channel.id}"
        return _answer(response, state)

    @router.get("/{channel_id}", response_model=ChannelOut, responses=PROBLEM_RESPONSES)
    async def get_channel(
        channel_id: str, response: Response, db: DatabaseDep, _principal: PrincipalDep
    ) -> ChannelOut:
        """One channel."""
        return _answer(response, await _get(db, channel_id))

    @router.patch("/{channel_id}", response_model=ChannelOut, responses=WRITE_RESPONSES)
    async def patch_channel(
        channel_id: str,
        body: ChannelPatch,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> ChannelOut:
        """Change the channel's name, zone, fill, rules or loudness target."""
        _require_writer(principal)
        if body.timezone is not None:
            await _in_thread(check_timezone, body.timezone)

        async def mutate(session: AsyncSession, state: ChannelState) -> None:
            channel = state.channel
            if body.name is not None:
                channel.name = body.name
            if body.timezone is not None:
                channel.timezone = body.timezone
            if body.fill is not None:
                channel.fill_mode = body.fill.mode
                channel.fill_playlist_id = body.fill.playlist_id
                await _check_fill(session, principal, channel)
            if body.rules is not None:
                channel.track_minutes = body.rules.track_minutes
                channel.artist_minutes = body.rules.artist_minutes
            if body.loudness_target is not None:
                channel.loudness_target = body.loudness_target
            elif body.clear_loudness_target:
                channel.loudness_target = None

        state = await _change(
            request, db, principal, channel_id, "channel.update", mutate, if_match
        )
        return _answer(response, state)

    @router.delete("/{channel_id}", status_code=204, responses=WRITE_RESPONSES)
    async def delete_channel(
        channel_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> Response:
        """Delete the channel, its schedule and plan history (it goes off air)."""
        _require_writer(principal)
        try:
            await repository.delete_channel(
                db, actor(request, principal), channel_id, if_match=if_match_revisions(if_match)
            )
        except LookupError:
            raise HTTPException(404, "no such channel") from None
        except RevisionConflict as exc:
            raise precondition_failed(exc) from None
        _service(request).invalidate(channel_id)
        return Response(status_code=204)

    @router.get("/{channel_id}/entries", response_model=list[EntryOut], responses=PROBLEM_RESPONSES)
    async def list_entries(
        channel_id: str, response: Response, db: DatabaseDep, _principal: PrincipalDep
    ) -> list[EntryOut]:
        """The channel's schedule entries, by start."""
        state = await _get(db, channel_id)
        response.headers.update(revision_etag(state.channel.revision))
        return [EntryOut.of(e) for e in state.entries]

    @router.post(
        "/{channel_id}/entries", response_model=EntryOut, status_code=201,
        responses=WRITE_RESPONSES,
    )  # fmt: skip
    async def create_entry(
        channel_id: str,
        body: EntryCreate,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> EntryOut:
        """Add a schedule entry."""
        _require_writer(principal)
        start = _checked(parse_local, body.start)
        exdates = [format_local(_checked(parse_local, e, "exdates")) for e in body.exdates]
        if body.rrule is not None:
            _checked(check_rrule, body.rrule, start)
        entry = ChannelEntry(
            id=repository.new_id(),
            channel_id=channel_id,
            playlist_id=body.playlist_id,
            start=format_local(start),
            duration_seconds=body.duration_seconds,
            rrule=_rule_text(body.rrule),
            exdates=exdates,
            priority=body.priority,
            order=body.order,
        )

        async def mutate(session: AsyncSession, state: ChannelState) -> None:
            if len(state.entries) >= repository.MAX_ENTRIES:
                raise ScheduleError(f"a channel has at most {repository.MAX_ENTRIES} entries")
            await _check_playlist(session, principal, body.playlist_id)
            session.add(entry)

        state = await _change(
            request, db, principal, channel_id, "channel.entry.create", mutate, if_match
        )
        response.headers.update(revision_etag(state.channel.revision))
        response.headers["location"] = f"/api/v1/channels/{channel_id}/entries/{entry.id}"
        return EntryOut.of(_entry(state, entry.id))

    @router.get(
        "/{channel_id}/entries/{entry_id}", response_model=EntryOut, responses=PROBLEM_RESPONSES
    )
    async def get_entry(
        channel_id: str,
        entry_id: str,
        response: Response,
        db: DatabaseDep,
        _principal: PrincipalDep,
    ) -> EntryOut:
        """One schedule entry."""
        state = await _get(db, channel_id)
        response.headers.update(revision_etag(state.channel.revision))
        return EntryOut.of(_entry(state, entry_id))

    @router.patch(
        "/{channel_id}/entries/{entry_id}", response_model=EntryOut, responses=WRITE_RESPONSES
    )
    async def patch_entry(
        channel_id: str,
        entry_id: str,
        body: EntryPatch,
        request: Request,
        response: Response,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> EntryOut:
        """Change a schedule entry (move, resize, recurrence, exceptions, priority)."""
        _require_writer(principal)

        async def mutate(session: AsyncSession, state: ChannelState) -> None:
            entry = _entry(state, entry_id)
            if body.playlist_id is not None and body.playlist_id != entry.playlist_id:
                await _check_playlist(session, principal, body.playlist_id)
                entry.playlist_id = body.playlist_id
            start = parse_local(body.start) if body.start is not None else None
            if start is not None:
                entry.start = format_local(start)
            if body.duration_seconds is not None:
                entry.duration_seconds = body.duration_seconds
            if body.rrule is not None:
                entry.rrule = _rule_text(body.rrule)
            elif body.clear_rrule:
                entry.rrule = None
            if entry.rrule is not None:
                check_rrule(entry.rrule, parse_local(entry.start))
            if body.exdates is not None:
                entry.exdates = [format_local(parse_local(e, "exdates")) for e in body.exdates]
            if body.priority is not None:
                entry.priority = body.priority
            if body.order is not None:
                entry.order = body.order

        state = await _change(
            request, db, principal, channel_id, "channel.entry.update", mutate, if_match
        )
        response.headers.update(revision_etag(state.channel.revision))
        return EntryOut.of(_entry(state, entry_id))

    @router.delete("/{channel_id}/entries/{entry_id}", status_code=204, responses=WRITE_RESPONSES)
    async def delete_entry(
        channel_id: str,
        entry_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        if_match: IfMatch = None,
    ) -> Response:
        """Remove a schedule entry."""
        _require_writer(principal)

        async def mutate(session: AsyncSession, state: ChannelState) -> None:
            await session.delete(_entry(state, entry_id))

        state = await _change(
            request, db, principal, channel_id, "channel.entry.delete", mutate, if_match
        )
        return Response(status_code=204, headers=revision_etag(state.channel.revision))

    @router.get(
        "/{channel_id}/occurrences",
        response_model=list[OccurrenceOut],
        responses=PROBLEM_RESPONSES,
    )
    async def occurrences(
        channel_id: str,
        request: Request,
        db: DatabaseDep,
        _principal: PrincipalDep,
        start: Annotated[datetime, Query(alias="from", description="instant (with offset)")],
        end: Annotated[datetime, Query(alias="to", description="instant (with offset)")],
        tz: Zone = None,
    ) -> list[OccurrenceOut]:
        """The entries' occurrences between two instants, conflicts included: which one
        wins an overlap and why (what a calendar shows)."""
        state = await _get(db, channel_id)
        start, end, where = await _interval(start, end, tz, MAX_SPAN)
        found = await asyncio.to_thread(_service(request).occurrences, state, start, end)
        return [
            OccurrenceOut(
                entry_id=o.entry_id,
                playlist_id=o.playlist_id,
                start=o.start.astimezone(where),
                end=o.end.astimezone(where),
                priority=o.priority,
                wins=o.wins,
                conflicts_with=list(o.conflicts_with),
                reason=o.reason,
            )
            for o in found
        ]

    @router.get(
        "/{channel_id}/preview", response_model=list[TrackPlayOut], responses=PROBLEM_RESPONSES
    )
    async def preview(
        channel_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        start: Annotated[datetime, Query(alias="from", description="instant (with offset)")],
        end: Annotated[datetime, Query(alias="to", description="instant (with offset)")],
        tz: Zone = None,
    ) -> list[TrackPlayOut]:
        """What plays between two instants (at most two days), track by track, with the
        reason each was chosen, as the channel's plan stands now."""
        await _get(db, channel_id)
        start, end, where = await _interval(start, end, tz, _MAX_PREVIEW_SPAN)
        plays = await _service(request).plays(channel_id, start, end)
        return _plays_out(plays, where, principal)

    @router.get(
        "/{channel_id}/history", response_model=list[TrackPlayOut], responses=PROBLEM_RESPONSES
    )
    async def history(
        channel_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        start: Annotated[datetime, Query(alias="from", description="instant (with offset)")],
        end: Annotated[
            datetime | None, Query(alias="to", description="instant (default: now)")
        ] = None,
        tz: Zone = None,
    ) -> list[TrackPlayOut]:
        """What played between two instants (at most two days, not after now)."""
        await _get(db, channel_id)
        service = _service(request)
        now = service.clock()
        start, end, where = await _interval(start, end or now, tz, _MAX_PREVIEW_SPAN)
        if start >= now:
            return []
        plays = await service.plays(channel_id, start, min(end, now))
        return _plays_out([p for p in plays if p.start < now], where, principal)

    @router.get("/{channel_id}/now", response_model=NowOut, responses=PROBLEM_RESPONSES)
    async def now_playing(
        channel_id: str,
        request: Request,
        db: DatabaseDep,
        principal: PrincipalDep,
        tz: Zone = None,
        count: Annotated[int, Query(ge=0, le=20, description="upcoming tracks")] = 3,
    ) -> NowOut:
        """What plays now and the next ``count`` tracks."""
        await _get(db, channel_id)
        where = await _in_thread(zone, tz or "UTC")
        service = _service(request)
        at = service.clock()
        plays = await service.plays(channel_id, at, at + timedelta(hours=2))
        out = _plays_out(plays[: count + 1], where, principal)
        current = out[0] if out and plays[0].start <= at else None
        upcoming = out[1:] if current is not None else out[:count]
        return NowOut(
            channel_id=channel_id,
            at=at.astimezone(where),
            track=current,
            started_at=current.start if current else None,
            ends_at=current.end if current else None,
            next=upcoming,
        )

    return router


def _service(request: Request) -> ChannelService:
    service: ChannelService = request.app.state.channels
    return service


def _require_writer(principal: Principal) -> None:
    if not principal.can_write:
        raise HTTPException(403, "viewers may not change channels")


def _checked(check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except InvalidSchedule as exc:
        raise HTTPException(422, str(exc)) from None


async def _in_thread(check: Any, *args: Any) -> Any:
    """A zone check off the loop: the first use of a zone reads the tz database."""
    try:
        return await asyncio.to_thread(check, *args)
    except InvalidSchedule as exc:
        raise HTTPException(422, str(exc)) from None


def _rule_text(rule: str | None) -> str | None:
    if rule is None:
        return None
    text = rule.strip()
    return text[6:] if text.upper().startswith("RRULE:") else text


async def _get(db: Any, channel_id: str) -> ChannelState:
    state = await repository.get(db, channel_id)
    if state is None:
        raise HTTPException(404, "no such channel")
    return state


def _entry(state: ChannelState, entry_id: str) -> ChannelEntry:
    for entry in state.entries:
        if entry.id == entry_id:
            return entry
    raise HTTPException(404, "no such schedule entry")


async def _check_playlist(session: AsyncSession, principal: Principal, playlist_id: str) -> None:
    library = await session.scalar(select(Playlist.library_id).where(Playlist.id == playlist_id))
    if library is None or not principal.allows(library, "read"):
        raise ScheduleError(f"no such playlist: {playlist_id}")


async def _check_fill(session: AsyncSession, principal: Principal, channel: Channel) -> None:
    if channel.fill_mode == "fallback" and channel.fill_playlist_id is None:
        raise ScheduleError("fill mode fallback needs a playlist_id")
    if channel.fill_playlist_id is not None:
        await _check_playlist(session, principal, channel.fill_playlist_id)


async def _change(
    request: Request,
    db: Any,
    principal: Principal,
    channel_id: str,
    action: str,
    mutate: repository.Mutate,
    if_match: str | None,
) -> ChannelState:
    service = _service(request)
    try:
        state = await repository.change(
            db,
            actor(request, principal),
            channel_id,
            action,
            mutate,
            service.plan_for,
            if_match=if_match_revisions(if_match),
        )
    except LookupError:
        raise HTTPException(404, "no such channel") from None
    except RevisionConflict as exc:
        raise precondition_failed(exc) from None
    except (ScheduleError, InvalidSchedule) as exc:
        raise HTTPException(422, str(exc)) from None
    service.invalidate(channel_id)
    return state


async def _interval(
    start: datetime, end: datetime, tz: str | None, longest: timedelta
) -> tuple[datetime, datetime, Any]:
    where = await _in_thread(zone, tz or "UTC")
    # An instant without offset is read in the zone asked for.
    start = start if start.tzinfo else start.replace(tzinfo=where)
    end = end if end.tzinfo else end.replace(tzinfo=where)
    try:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(422, "from and to must be instants from 1971 to 2200") from None
    if not (YEARS[0] <= start.year and end.year <= YEARS[1]):
        raise HTTPException(422, "from and to must be instants from 1971 to 2200")
    if end <= start:
        raise HTTPException(422, "to must be after from")
    if end - start > longest:
        raise HTTPException(422, f"at most {longest.days} days at once")
    return start, end, where


def _plays_out(plays: list[PlayInfo], where: Any, principal: Principal) -> list[TrackPlayOut]:
    out = []
    for play in plays:
        visible = play.library_id is not None and principal.allows(play.library_id, "read")
        out.append(
            TrackPlayOut(
                track_id=play.track_id,
                title=play.title if visible else None,
                artist=play.artist if visible else None,
                start=play.start.astimezone(where),
                end=play.end.astimezone(where),
                entry_id=play.entry_id,
                playlist_id=play.playlist_id,
                reason=play.reason,
            )
        )
    return out


def _answer(response: Response, state: ChannelState) -> ChannelOut:
    response.headers.update(revision_etag(state.channel.revision))
    return ChannelOut.of(state.channel)
