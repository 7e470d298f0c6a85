"""The bodies and answers of /api/v1/ads (streamer.routes.api_ads and
api_ad_creatives), with the checks they make on their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamer.db import AdCampaign, Advertiser

__all__ = [
    "AdvertiserIn",
    "AdvertiserOut",
    "AdvertiserPage",
    "AdvertiserPatch",
    "BreakIn",
    "CampaignIn",
    "CampaignOut",
    "CampaignPage",
    "CampaignPatch",
    "CapIn",
    "CheckOut",
    "ChosenOut",
    "CreativeIn",
    "CreativeOut",
    "CreativePage",
    "CreativePatch",
    "CurrentIn",
    "DaypartIn",
    "DecisionIn",
    "DecisionOut",
    "Limit",
    "ListenerIn",
    "Offset",
    "ReasonOut",
    "TargetingIn",
    "VersionIn",
    "VersionOut",
    "as_utc",
    "check_flight",
]

Name = Annotated[str, Field(min_length=1, max_length=200)]
Category = Annotated[str | None, Field(max_length=100)]
Id = Annotated[str, Field(min_length=1, max_length=32)]
Word = Annotated[str, Field(min_length=1, max_length=100)]
Words = Annotated[list[Word], Field(max_length=200)]
Priority = Literal["sponsorship", "standard", "house"]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


class AdvertiserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    category: Category = None


class AdvertiserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    category: Category = None
    clear_category: bool = False


class AdvertiserOut(BaseModel):
    id: str
    name: str
    category: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Advertiser) -> AdvertiserOut:
        return cls(
            id=row.id,
            name=row.name,
            category=row.category,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class AdvertiserPage(BaseModel):
    items: list[AdvertiserOut]
    total: int
    limit: int
    offset: int


class DaypartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)]
    start: Annotated[str, Field(description="HH:MM in the listener's zone")]
    end: Annotated[str, Field(description="HH:MM; before start: past midnight")]

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("a time of day as HH:MM")
        return value


class TargetingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: Words = []
    playlists: Words = []
    tags: Words = []
    countries: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]], Field(max_length=300)
    ] = []
    apps: Words = []
    devices: Words = []
    dayparts: Annotated[list[DaypartIn], Field(max_length=50)] = []


class CapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    impressions: Annotated[int, Field(ge=1, le=10_000)]
    window_seconds: Annotated[int, Field(ge=60, le=366 * 86400)]


Caps = Annotated[list[CapIn], Field(max_length=10)]
Goal = Annotated[int | None, Field(ge=1, le=10**12)]
Price = Annotated[float, Field(ge=0, le=1e9)]


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advertiser_id: Id
    name: Name
    priority: Priority = "standard"
    starts_at: datetime
    ends_at: datetime
    goal: Goal = None
    price_model: Literal["cpm", "flat"] = "cpm"
    price: Price = 0.0
    category: Category = None
    targeting: TargetingIn = TargetingIn()
    caps: Caps = []
    paused: bool = False

    @model_validator(mode="after")
    def _flight(self) -> CampaignIn:
        check_flight(self.starts_at, self.ends_at)
        return self


class CampaignPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    priority: Priority | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    goal: Goal = None
    clear_goal: bool = False
    price_model: Literal["cpm", "flat"] | None = None
    price: Price | None = None
    category: Category = None
    clear_category: bool = False
    targeting: TargetingIn | None = None
    caps: Caps | None = None
    paused: bool | None = None


class CampaignOut(BaseModel):
    id: str
    advertiser_id: str
    name: str
    priority: Priority
    starts_at: datetime
    ends_at: datetime
    goal: int | None
    price_model: str
    price: float
    category: str | None
    targeting: TargetingIn
    caps: list[CapIn]
    paused: bool
    served: int  # ads placed in listener sessions so far (pacing and the goal count these)
    revision: int
    created_at: datetime
    updated_at: datetime
    urls: dict[str, str]

    @classmethod
    def of(cls, row: AdCampaign) -> CampaignOut:
        return cls(
            id=row.id,
            advertiser_id=row.advertiser_id,
            name=row.name,
            priority=row.priority,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            goal=row.goal,
            price_model=row.price_model,
            price=row.price,
            category=row.category,
            targeting=TargetingIn.model_validate(row.targeting),
            caps=[CapIn.model_validate(cap) for cap in row.caps],
            paused=row.paused,
            served=row.served or 0,
            revision=row.revision,
            created_at=row.created_at,
            updated_at=row.updated_at,
            urls={
                "self": f"/api/v1/ads/campaigns/{row.id}",
                "creatives": f"/api/v1/ads/campaigns/{row.id}/creatives",
            },
        )


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    total: int
    limit: int
    offset: int


Slot = Annotated[float, Field(ge=1, le=600, description="seconds the creative is sold for")]
Note = Annotated[str, Field(max_length=500)]


class CreativeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    slot_seconds: Slot
    track_id: Id
    note: Note = ""


class CreativePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    slot_seconds: Slot | None = None


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_id: Id
    note: Note = ""


class CurrentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=1, le=1_000_000)]


class CheckOut(BaseModel):
    name: str
    state: Literal["valid", "invalid", "pending"]
    reason: str


class VersionOut(BaseModel):
    version: int
    track_id: str
    note: str
    created_by: str | None
    created_at: datetime
    current: bool


class CreativeOut(BaseModel):
    id: str
    campaign_id: str
    name: str
    slot_seconds: float
    current_version: int
    track_id: str | None
    duration: float | None
    state: Literal["valid", "invalid", "pending"]
    checks: list[CheckOut]
    versions: list[VersionOut]
    created_at: datetime
    updated_at: datetime
    urls: dict[str, str]


class CreativePage(BaseModel):
    items: list[CreativeOut]


class BreakIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: Annotated[float, Field(gt=0, le=900)]
    position: Literal["pre", "mid", "post", "channel"] = "mid"
    channel_id: Id | None = None
    playlist_id: Id | None = None
    tags: Words = []


class ListenerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session: Annotated[str, Field(min_length=1, max_length=200)]
    at: datetime | None = Field(None, description="default: now")
    timezone: Annotated[str, Field(max_length=64)] = "UTC"
    country: Annotated[str | None, Field(pattern=r"^[A-Z]{2}$")] = None
    app: Word | None = None
    device: Word | None = None
    heard: Annotated[
        dict[Id, Annotated[list[datetime], Field(max_length=1000)]],
        Field(max_length=1000, description="when each campaign was heard by this listener"),
    ] = {}


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: BreakIn = Field(alias="break")
    listener: ListenerIn
    delivered: Annotated[
        dict[Id, Annotated[int, Field(ge=0, le=10**12)]],
        Field(
            max_length=10_000,
            description="ads served so far per campaign (default: the stored counts)",
        ),
    ] = {}


class ChosenOut(BaseModel):
    campaign_id: str
    creative_id: str
    version: int
    track_id: str
    seconds: float


class ReasonOut(BaseModel):
    campaign_id: str
    chosen: bool
    why: str


class DecisionOut(BaseModel):
    ads: list[ChosenOut]
    seconds: float
    reasons: list[ReasonOut]


def as_utc(value: datetime) -> datetime:
    """An instant as aware UTC (a naive one is taken as UTC)."""
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise HTTPException(422, "an instant is out of range") from None


def check_flight(starts: datetime, ends: datetime, *, http: bool = False) -> None:
    """A flight ends after it starts and lasts at most ten years."""
    problem: str | None = None
    try:
        start, end = as_utc(starts), as_utc(ends)
        if end <= start:
            problem = "ends_at must be after starts_at"
        elif end - start > timedelta(days=3653) or end >= _LATEST:
            problem = "a flight lasts at most ten years"
    except HTTPException:
        problem = "an instant is out of range"
    if problem is not None:
        if http:
            raise HTTPException(422, problem)
        raise ValueError(problem)
