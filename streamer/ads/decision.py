"""Which ads fill a break for one listener, and why (pure; the API shows the reasons).

1. Eligible: not paused, in its flight, targeting holds, under every frequency cap, and
   (with a goal) not already at it.
2. Ordered: priority tier first; within standard, the campaign furthest behind its even
   pace first (delivered over due by now); then a hash of the session and the campaign,
   so ties fall alike on every node and for every decision of a session, and differ
   between sessions (no campaign always wins a tie).
3. Filled in that order: a campaign's first creative that fits the time left, skipping a
   category already in the break (competitive separation). A standard campaign ahead of
   its pace by more than ``AHEAD`` waits: it goes in before the house ads (a paying ad
   before a filler) or, without house ads, into the room left at the end.

The same inputs give the same answer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamer.ads.model import Break, Campaign, Listener, Priority

__all__ = ["AHEAD", "Chosen", "Decision", "Reason", "decide", "pace"]

AHEAD = 1.10  # a campaign more than 10 % ahead of its even pace waits


@dataclass(frozen=True, slots=True)
class Chosen:
    campaign: str
    creative: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a campaign is or is not in the break: ``chosen`` and one sentence."""

    campaign: str
    chosen: bool
    why: str


@dataclass(frozen=True, slots=True)
class Decision:
    ads: tuple[Chosen, ...]
    reasons: tuple[Reason, ...]  # one per campaign considered, in the order considered

    @property
    def seconds(self) -> float:
        return sum(ad.seconds for ad in self.ads)


def pace(campaign: Campaign, delivered: int, listener: Listener) -> float | None:
    """Delivered over due: 1.0 on pace, below behind, above ahead; None without a goal."""
    if campaign.goal is None:
        return None
    flight = (campaign.ends - campaign.starts).total_seconds()
    elapsed = (listener.now - campaign.starts).total_seconds()
    due = campaign.goal * min(max(elapsed / flight, 0.0), 1.0) if flight > 0 else campaign.goal
    return delivered / due if due > 0 else float("inf")


def _tie(session: str, campaign: str) -> str:
    return hashlib.sha256(f"{session}\x1f{campaign}".encode()).hexdigest()


def _ineligible(campaign: Campaign, slot: Break, listener: Listener, delivered: int) -> str | None:
    now = listener.now
    if campaign.paused:
        return "paused"
    if now < campaign.starts:
        return "its flight has not started"
    if now >= campaign.ends:
        return "its flight has ended"
    if campaign.goal is not None and delivered >= campaign.goal:
        return f"its goal of {campaign.goal} impressions is met"
    if not campaign.creatives:
        return "it has no creative"
    target = campaign.targeting
    if target.channels and slot.channel not in target.channels:
        return "targets other channels"
    if target.playlists and slot.playlist not in target.playlists:
        return "targets other playlists"
    if target.tags and not (target.tags & slot.tags):
        return "targets programmes with other tags"
    for name, wanted, value in (
        ("country", target.countries, listener.country),
        ("app", target.apps, listener.app),
        ("device", target.devices, listener.device),
    ):
        if wanted and value not in wanted:
            return f"targets another {name}"
    if target.dayparts and not any(part.holds(now) for part in target.dayparts):
        return "targets other dayparts"
    heard = listener.heard.get(campaign.id, ())
    for cap in campaign.caps:
        recent = sum(1 for at in heard if now - at < cap.window)
        if recent >= cap.impressions:
            return f"frequency cap: {recent} of {cap.impressions} in {cap.window}"
    return None


def decide(
    slot: Break,
    listener: Listener,
    campaigns: Sequence[Campaign],
    delivered: Mapping[str, int],
) -> Decision:
    """The ads for ``slot`` and a reason for every campaign (see the module docstring).
    ``delivered``: impressions each campaign has had so far (for goals and pacing)."""
    reasons: dict[str, Reason] = {}
    eligible: list[tuple[Campaign, float | None]] = []
    for campaign in sorted(campaigns, key=lambda c: c.id):
        count = delivered.get(campaign.id, 0)
        why = _ineligible(campaign, slot, listener, count)
        if why is not None:
            reasons[campaign.id] = Reason(campaign.id, False, why)
        else:
            eligible.append((campaign, pace(campaign, count, listener)))

    def order(item: tuple[Campaign, float | None]) -> tuple[int, float, str]:
        campaign, ratio = item
        behind = ratio if ratio is not None and campaign.priority == Priority.STANDARD else 0.0
        return (-campaign.priority, behind, _tie(listener.session, campaign.id))

    eligible.sort(key=order)
    fill = _Fill(slot.seconds, reasons)
    waiting: list[tuple[Campaign, float]] = []  # ahead of pace: before house ads only
    for campaign, ratio in eligible:
        if campaign.priority == Priority.HOUSE and waiting:
            for late, late_ratio in waiting:
                fill.place(late, f"ahead of its pace ({late_ratio:.2f}), placed before house ads")
            waiting = []
        if ratio is not None and ratio > AHEAD and campaign.priority == Priority.STANDARD:
            waiting.append((campaign, ratio))
            reasons[campaign.id] = Reason(
                campaign.id, False, f"ahead of its pace ({ratio:.2f} of what is due)"
            )
            continue
        fill.place(campaign, _why_chosen(campaign, ratio))
    for late, late_ratio in waiting:
        fill.place(late, f"ahead of its pace ({late_ratio:.2f}), but room was left")
    considered = {c.id for c, _ in eligible}
    ordered = [reasons[c.id] for c, _ in eligible]
    ordered += [r for r in reasons.values() if r.campaign not in considered]
    return Decision(tuple(fill.chosen), tuple(ordered))


class _Fill:
    """The break being filled: time left, categories in it, the ads chosen."""

    def __init__(self, seconds: float, reasons: dict[str, Reason]) -> None:
        self.left = seconds
        self.reasons = reasons
        self.categories: set[str] = set()
        self.chosen: list[Chosen] = []

    def place(self, campaign: Campaign, why: str) -> None:
        """Put the campaign's first creative that fits, or say why it cannot go in."""
        if campaign.category is not None and campaign.category in self.categories:
            self.reasons[campaign.id] = Reason(
                campaign.id, False, f"another {campaign.category} ad is in this break"
            )
            return
        creative = next((c for c in campaign.creatives if c.seconds <= self.left + 1e-9), None)
        if creative is None:
            self.reasons[campaign.id] = Reason(
                campaign.id, False, f"no creative fits the {self.left:.1f} s left"
            )
            return
        self.chosen.append(Chosen(campaign.id, creative.id, creative.seconds))
        self.reasons[campaign.id] = Reason(campaign.id, True, why)
        self.left -= creative.seconds
        if campaign.category is not None:
            self.categories.add(campaign.category)


def _why_chosen(campaign: Campaign, ratio: float | None) -> str:
    tier = campaign.priority.name.lower()
    if ratio is None:
        return f"{tier}, eligible"
    return f"{tier}, {ratio:.2f} of its due impressions delivered"
