"""What campaigns delivered over a period: from the ad sessions started in it and the
delivery events of their ads (streamer.ads.impressions), with inventory and fill rate,
revenue, pacing against the goal and return on spend from analytics' conversions.

Read on request, bounded: the period is at most ``MAX_DAYS`` days, and only delivery
events of tracks that hold creatives are read (by time, the raw events' one index).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from streamer.ads.forecast import DayInventory
from streamer.ads.impressions import WINDOW, AdDelivery, Impression, Placement, count_impressions
from streamer.analytics.agents import default_classifier
from streamer.analytics.counting import event_reason
from streamer.analytics.events import DeliveryEvent
from streamer.analytics.raw_events import event_of
from streamer.db import AdCampaign, AdCreativeVersion, AdSession, Conversion, Database
from streamer.db import DeliveryEventRow as Row

__all__ = [
    "MAX_DAYS",
    "CampaignFigures",
    "Inventory",
    "Report",
    "campaign_report",
    "inventory_history",
]

MAX_DAYS = 93
_QUERY_SECONDS = 60.0


@dataclass
class CampaignFigures:
    campaign_id: str
    name: str
    placed: int = 0
    impressions: int = 0
    reach: int = 0  # distinct listeners with an impression
    quartiles: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # 25/50/75/100 %
    goal: int | None = None
    pacing: float | None = None  # impressions over what is due by the period's end
    revenue: float = 0.0
    conversions: int = 0
    conversion_value: float = 0.0

    @property
    def frequency(self) -> float | None:
        return self.impressions / self.reach if self.reach else None

    @property
    def return_on_spend(self) -> float | None:
        return self.conversion_value / self.revenue if self.revenue > 0 else None


@dataclass
class Inventory:
    sessions: int = 0
    breaks: int = 0
    filled: int = 0  # breaks with at least one ad
    seconds_offered: float = 0.0
    seconds_filled: float = 0.0

    @property
    def fill_rate(self) -> float | None:
        return self.filled / self.breaks if self.breaks else None


@dataclass
class Report:
    start: datetime
    end: datetime
    inventory: Inventory
    campaigns: list[CampaignFigures]


async def campaign_report(db: Database, start: datetime, end: datetime) -> Report:
    """The report of ad sessions started in ``[start, end)`` (see the module docstring)."""
    if end <= start or end - start > timedelta(days=MAX_DAYS):
        raise ValueError(f"a report covers up to {MAX_DAYS} days, ending after it starts")
    async with asyncio.timeout(_QUERY_SECONDS), db.session() as session:
        sessions = (
            await session.execute(
                select(AdSession.id, AdSession.listener, AdSession.created_at, AdSession.plan)
                .where(AdSession.created_at >= start, AdSession.created_at < end)
                .order_by(AdSession.created_at)
            )
        ).all()
        campaigns = list((await session.scalars(select(AdCampaign))).all())
        ad_tracks = set(
            (await session.scalars(select(AdCreativeVersion.track_id).distinct())).all()
        )
        rows = (
            (
                await session.execute(
                    select(Row)
                    .where(Row.at >= start, Row.at < end + WINDOW, Row.kind == "track")
                    .where(Row.subject_id.in_(ad_tracks), Row.segment >= 0)
                )
            )
            .scalars()
            .all()
            if ad_tracks
            else []
        )
        events = [event_of(row) for row in rows]
        conversions = (
            await session.execute(
                select(Conversion.campaign, func.count(), func.sum(Conversion.value))
                .where(Conversion.at >= start, Conversion.at < end)
                .group_by(Conversion.campaign)
            )
        ).all()
    deliveries = await asyncio.to_thread(_countable, events)
    inventory = Inventory(sessions=len(sessions))
    placements: list[Placement] = []
    placed: dict[str, int] = defaultdict(int)
    for session_id, listener, created, plan in sessions:
        order = 0
        for brk in plan:
            inventory.breaks += 1
            inventory.seconds_offered += float(brk["seconds"])
            if brk["ads"]:
                inventory.filled += 1
            for ad in brk["ads"]:
                inventory.seconds_filled += float(ad["seconds"])
                placed[ad["campaign"]] += 1
                segments = tuple(ad.get("segments") or [float(ad["seconds"])])
                placements.append(
                    Placement(
                        session_id,
                        listener or "",
                        created,
                        order,
                        ad["campaign"],
                        ad["creative"],
                        ad["track"],
                        segments,
                    )
                )
                order += 1
    impressions = count_impressions(placements, deliveries)
    by_conversion = {code: (int(n), float(v or 0.0)) for code, n, v in conversions}
    figures = [
        _figures(
            c,
            placed[c.id],
            [i for i in impressions if i.placement.campaign == c.id],
            by_conversion,
            end,
        )
        for c in sorted(campaigns, key=lambda c: (c.name, c.id))
        if placed[c.id] or (c.starts_at < end and c.ends_at > start)
    ]
    return Report(start, end, inventory, figures)


def _countable(events: Sequence[DeliveryEvent]) -> list[AdDelivery]:
    """The deliveries analytics would count (its bot rules), as whole segments."""
    classifier = default_classifier()
    found = []
    for event in events:
        if event_reason(event, classifier) is not None or event.segment is None:
            continue
        if event.total_bytes and event.sent < event.total_bytes:
            continue  # the client left inside the segment
        found.append(AdDelivery(event.at, event.listener, event.subject_id, event.segment))
    return found


def _figures(
    campaign: AdCampaign,
    placed: int,
    impressions: Sequence[Impression],
    conversions: dict[str, tuple[int, float]],
    end: datetime,
) -> CampaignFigures:
    figures = CampaignFigures(campaign.id, campaign.name, placed=placed, goal=campaign.goal)
    figures.impressions = len(impressions)
    figures.reach = len({i.placement.listener for i in impressions})
    for impression in impressions:
        for k in range(impression.quartiles):
            figures.quartiles[k] += 1
    if campaign.price_model == "cpm":
        figures.revenue = round(figures.impressions * campaign.price / 1000, 2)
    else:
        figures.revenue = campaign.price
    if campaign.goal is not None:
        flight = (campaign.ends_at - campaign.starts_at).total_seconds()
        elapsed = (min(end, campaign.ends_at) - campaign.starts_at).total_seconds()
        due = campaign.goal * min(max(elapsed / flight, 0.0), 1.0) if flight > 0 else campaign.goal
        figures.pacing = round(figures.impressions / due, 3) if due > 0 else None
    count, value = conversions.get(campaign.id, conversions.get(campaign.name, (0, 0.0)))
    figures.conversions, figures.conversion_value = count, value
    return figures


async def inventory_history(
    db: Database, start: datetime, end: datetime
) -> dict[date, DayInventory]:
    """What the sessions started in ``[start, end)`` offered, by UTC day."""
    history: dict[date, DayInventory] = {}
    async with asyncio.timeout(_QUERY_SECONDS), db.session() as session:
        rows = await session.stream(
            select(AdSession.created_at, AdSession.plan).where(
                AdSession.created_at >= start, AdSession.created_at < end
            )
        )
        async for created, plan in rows:
            day = created.astimezone(UTC).date()
            known = history.get(day, DayInventory())
            history[day] = DayInventory(
                known.breaks + len(plan),
                known.filled + sum(1 for brk in plan if brk["ads"]),
                known.seconds + sum(float(brk["seconds"]) for brk in plan),
            )
    return history
