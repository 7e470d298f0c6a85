"""The ads of one listener session, decided break by break when it starts (pure).

Each break is decided with what the session's earlier breaks placed counted as heard and
delivered, so a cap of one an hour holds within the session and pacing sees its own ads.
The plan is what the session's playlists list; stored with the session, it is the same
on every reload, every rendition and every node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from streamer.ads.breaks import PlacedBreak
from streamer.ads.decision import Decision, decide
from streamer.ads.model import Break, Campaign, Listener

__all__ = ["PlannedAd", "PlannedBreak", "plan_session"]


@dataclass(frozen=True, slots=True)
class PlannedAd:
    campaign: str
    creative: str
    version: int
    track: str
    seconds: float


@dataclass(frozen=True, slots=True)
class PlannedBreak:
    place: PlacedBreak
    ads: tuple[PlannedAd, ...]
    decision: Decision


def plan_session(
    breaks: Sequence[PlacedBreak],
    listener: Listener,
    campaigns: Sequence[Campaign],
    delivered: Mapping[str, int],
    placed: Mapping[str, tuple[int, str]],
    tags: frozenset[str] = frozenset(),
    playlist: str | None = None,
) -> list[PlannedBreak]:
    """``placed``: creative id -> (current version, track) of every valid creative;
    ``tags`` the programme's (its tracks' labels), ``playlist`` the playlist it plays."""
    heard = {k: tuple(v) for k, v in listener.heard.items()}
    counts = dict(delivered)
    planned: list[PlannedBreak] = []
    for number, place in enumerate(breaks):
        slot = Break(
            f"{place.position}-{number}",
            place.seconds,
            place.position,
            playlist=playlist,
            tags=tags,
        )
        decision = decide(slot, replace(listener, heard=heard), campaigns, counts)
        ads = []
        for ad in decision.ads:
            version, track = placed[ad.creative]
            ads.append(PlannedAd(ad.campaign, ad.creative, version, track, ad.seconds))
            heard[ad.campaign] = (*heard.get(ad.campaign, ()), listener.now)
            counts[ad.campaign] = counts.get(ad.campaign, 0) + 1
        planned.append(PlannedBreak(place, tuple(ads), decision))
    return planned
