"""Advertisers, campaigns and creatives in the database, and what a decision reads of
them: every campaign with its creatives whose current version passes validation."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from streamer.ads.model import Campaign, Creative
from streamer.ads.stored import campaign_of
from streamer.ads.validation import Check, CreativeFacts, Validation, validate
from streamer.db import (
    AdCampaign,
    AdCreative,
    AdCreativeVersion,
    Advertiser,
    Database,
    Rendition,
    Track,
)

__all__ = [
    "CreativeState",
    "Inputs",
    "Placed",
    "creative_states",
    "decision_inputs",
    "new_id",
    "versions_of",
]


def new_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class CreativeState:
    """A creative's current version (None: its track was deleted) and its validation."""

    creative: AdCreative
    version: AdCreativeVersion | None
    track: Track | None
    validation: Validation


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a chosen creative's audio is: its version and track."""

    version: int
    track_id: str


_GONE = Validation((Check("audio", "invalid", "its current version's track was deleted"),))


async def creative_states(
    session: AsyncSession, creatives: Sequence[AdCreative], target: float
) -> dict[str, CreativeState]:
    """Each creative's current version, its track and the validation of that track."""
    if not creatives:
        return {}
    pairs = [(c.id, c.current_version) for c in creatives]
    versions = {
        v.creative_id: v
        for v in (
            await session.scalars(
                select(AdCreativeVersion).where(
                    tuple_(AdCreativeVersion.creative_id, AdCreativeVersion.version).in_(pairs)
                )
            )
        ).all()
    }
    track_ids = {v.track_id for v in versions.values()}
    tracks = {t.id: t for t in await _tracks(session, track_ids)}
    transcoded = set(
        (
            await session.scalars(
                select(Rendition.track_id).where(Rendition.track_id.in_(track_ids)).distinct()
            )
        ).all()
    ) if track_ids else set()  # fmt: skip
    states: dict[str, CreativeState] = {}
    for creative in creatives:
        version = versions.get(creative.id)
        track = tracks.get(version.track_id) if version is not None else None
        if version is None or track is None:
            states[creative.id] = CreativeState(creative, version, None, _GONE)
            continue
        facts = CreativeFacts(
            status=track.status,
            error=track.error,
            codec=track.codec,
            duration=track.duration,
            sample_rate=track.sample_rate,
            channels=track.channels,
            loudness=track.loudness_integrated,
            true_peak=track.true_peak,
            analysed=track.id in transcoded,
        )
        states[creative.id] = CreativeState(
            creative, version, track, validate(facts, creative.slot_seconds, target)
        )
    return states


async def _tracks(session: AsyncSession, ids: Iterable[str]) -> Sequence[Track]:
    wanted = list(ids)
    if not wanted:
        return []
    return (await session.scalars(select(Track).where(Track.id.in_(wanted)))).all()


async def versions_of(session: AsyncSession, creative_id: str) -> list[AdCreativeVersion]:
    return list(
        (
            await session.scalars(
                select(AdCreativeVersion)
                .where(AdCreativeVersion.creative_id == creative_id)
                .order_by(AdCreativeVersion.version)
            )
        ).all()
    )


@dataclass(frozen=True, slots=True)
class Inputs:
    """What decisions read: the campaigns, where each valid creative's audio is, and how
    many ads of each campaign were served so far (pacing, goals)."""

    campaigns: list[Campaign]
    placed: dict[str, Placed]
    served: dict[str, int]


async def decision_inputs(db: Database, target: float, now: datetime) -> Inputs:
    """Every campaign whose flight has not ended by ``now`` (ended ones can win nothing),
    with its valid creatives (in the order they were made), where each creative's audio
    is, and the campaigns' served counts."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(AdCampaign, Advertiser.category)
                .join(Advertiser, Advertiser.id == AdCampaign.advertiser_id)
                .where(AdCampaign.ends_at > now)
                .order_by(AdCampaign.id)
            )
        ).all()
        campaign_ids = [campaign.id for campaign, _ in rows]
        creatives = (
            (
                await session.scalars(
                    select(AdCreative)
                    .where(AdCreative.campaign_id.in_(campaign_ids))
                    .order_by(AdCreative.created_at, AdCreative.id)
                )
            ).all()
            if campaign_ids
            else []
        )
        states = await creative_states(session, creatives, target)
    placed: dict[str, Placed] = {}
    by_campaign: dict[str, list[Creative]] = {}
    for creative in creatives:
        state = states[creative.id]
        if state.validation.state != "valid" or state.track is None or state.version is None:
            continue
        assert state.track.duration is not None  # validation requires it
        by_campaign.setdefault(creative.campaign_id, []).append(
            Creative(creative.id, state.track.duration)
        )
        placed[creative.id] = Placed(state.version.version, state.track.id)
    campaigns = [
        campaign_of(
            campaign_id=campaign.id,
            name=campaign.name,
            priority=campaign.priority,
            starts=campaign.starts_at,
            ends=campaign.ends_at,
            creatives=by_campaign.get(campaign.id, ()),
            category=campaign.category or advertiser_category,
            goal=campaign.goal,
            targeting=campaign.targeting,
            caps=campaign.caps,
            paused=campaign.paused,
        )
        for campaign, advertiser_category in rows
    ]
    return Inputs(campaigns, placed, {campaign.id: campaign.served for campaign, _ in rows})
