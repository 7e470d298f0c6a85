"""The ad decision (streamer.ads.decision, pure): eligibility by flight, targeting, caps
and goals; order by priority, pacing and a per-session tie-break; filling with
competitive separation; the same answer for the same inputs, with a reason for each
campaign."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from streamer.ads.decision import decide, pace
from streamer.ads.model import (
    Break,
    Campaign,
    Creative,
    Daypart,
    FrequencyCap,
    Listener,
    Priority,
    Targeting,
)

NOW = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)  # a Monday evening
DAY = timedelta(days=1)


def campaign(name: str, **fields: object) -> Campaign:
    values: dict[str, object] = {
        "id": name,
        "name": name,
        "priority": Priority.STANDARD,
        "starts": NOW - 5 * DAY,
        "ends": NOW + 5 * DAY,
        "creatives": (Creative(f"{name}-30", 30.0),),
    }
    values.update(fields)
    return Campaign(**values)  # type: ignore[arg-type]


SLOT = Break("b1", 60.0, channel="ch1", playlist="pl1", tags=frozenset({"jazz"}))
LISTENER = Listener("session-1", NOW, country="DE", app="Overcast", device="phone")


def chosen(decision: object) -> list[str]:
    return [ad.campaign for ad in decision.ads]  # type: ignore[attr-defined]


def reason(decision: object, name: str) -> str:
    return next(r.why for r in decision.reasons if r.campaign == name)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"paused": True}, "paused"),
        ({"starts": NOW + DAY}, "its flight has not started"),
        ({"ends": NOW}, "its flight has ended"),
        ({"goal": 100}, "its goal of 100 impressions is met"),
        ({"creatives": ()}, "it has no creative"),
        ({"targeting": Targeting(channels=frozenset({"ch2"}))}, "targets other channels"),
        ({"targeting": Targeting(playlists=frozenset({"pl2"}))}, "targets other playlists"),
        ({"targeting": Targeting(tags=frozenset({"rock"}))}, "targets programmes with other tags"),
        ({"targeting": Targeting(countries=frozenset({"FR"}))}, "targets another country"),
        ({"targeting": Targeting(apps=frozenset({"Spotify"}))}, "targets another app"),
        ({"targeting": Targeting(devices=frozenset({"tv"}))}, "targets another device"),
        (
            {"targeting": Targeting(dayparts=(Daypart(frozenset({0}), time(6), time(9)),))},
            "targets other dayparts",
        ),
    ],
)
def test_an_ineligible_campaign_is_left_out_with_its_reason(
    fields: dict[str, object], why: str
) -> None:
    decision = decide(SLOT, LISTENER, [campaign("a", **fields)], {"a": 100})
    assert chosen(decision) == []
    assert reason(decision, "a") == why


@pytest.mark.parametrize(
    "targeting",
    [
        Targeting(channels=frozenset({"ch1"}), countries=frozenset({"DE", "AT"})),
        Targeting(tags=frozenset({"jazz", "blues"}), apps=frozenset({"Overcast"})),
        Targeting(dayparts=(Daypart(frozenset({0}), time(18), time(23)),)),
        Targeting(dayparts=(Daypart(frozenset({0}), time(22), time(2)),)),
    ],
    ids=["channel-country", "tags-app", "evening", "overnight-from-sunday"],
)
def test_targeting_that_holds_admits_the_campaign(targeting: Targeting) -> None:
    listener = LISTENER
    if targeting.dayparts and targeting.dayparts[0].start == time(22):
        # Monday 01:00 is in Sunday's 22:00-02:00 span... with Sunday (6) listed.
        targeting = Targeting(dayparts=(Daypart(frozenset({6}), time(22), time(2)),))
        listener = replace(LISTENER, now=datetime(2026, 12, 7, 1, 0, tzinfo=UTC))
    decision = decide(SLOT, listener, [campaign("a", targeting=targeting)], {})
    assert chosen(decision) == ["a"]


def test_a_frequency_cap_counts_only_impressions_inside_its_window() -> None:
    cap = FrequencyCap(3, DAY)
    capped = campaign("a", caps=(cap,))
    heard = (NOW - timedelta(hours=30), NOW - timedelta(hours=5), NOW - timedelta(hours=1))
    twice = replace(LISTENER, heard={"a": heard})
    assert chosen(decide(SLOT, twice, [capped], {})) == ["a"]
    thrice = replace(LISTENER, heard={"a": (*heard, NOW - timedelta(minutes=5))})
    decision = decide(SLOT, thrice, [capped], {})
    assert chosen(decision) == []
    assert reason(decision, "a").startswith("frequency cap: 3 of 3")


def test_priority_tiers_come_in_order() -> None:
    campaigns = [
        campaign("house", priority=Priority.HOUSE),
        campaign("standard"),
        campaign("sponsor", priority=Priority.SPONSORSHIP),
    ]
    slot = replace(SLOT, seconds=90.0)
    assert chosen(decide(slot, LISTENER, campaigns, {})) == ["sponsor", "standard", "house"]


def test_the_campaign_furthest_behind_its_pace_goes_first() -> None:
    # Half the flight is gone: 500 of 1000 are due.
    behind = campaign("behind", goal=1000)
    on_pace = campaign("on-pace", goal=1000)
    decision = decide(replace(SLOT, seconds=30.0), LISTENER, [on_pace, behind], {
        "behind": 200, "on-pace": 500})  # fmt: skip
    assert chosen(decision) == ["behind"]
    assert pace(behind, 200, LISTENER) == pytest.approx(0.4)
    assert reason(decision, "on-pace") == "no creative fits the 0.0 s left"


def test_a_campaign_ahead_of_pace_waits_for_house_ads_but_not_for_room() -> None:
    ahead = campaign("ahead", goal=1000)  # 700 delivered of 500 due
    house = campaign("house", priority=Priority.HOUSE)
    other = campaign("other")
    one = replace(SLOT, seconds=30.0)
    assert chosen(decide(one, LISTENER, [ahead, other, house], {"ahead": 700})) == ["other"]
    assert chosen(decide(one, LISTENER, [ahead, house], {"ahead": 700})) == ["ahead"]
    two = decide(SLOT, LISTENER, [ahead, other], {"ahead": 700})
    assert chosen(two) == ["other", "ahead"]
    assert "room was left" in reason(two, "ahead")


def test_one_ad_of_a_category_per_break() -> None:
    cola = campaign("cola", category="soft drinks")
    lemonade = campaign("lemonade", category="soft drinks")
    bank = campaign("bank", category="finance")
    decision = decide(replace(SLOT, seconds=90.0), LISTENER, [cola, lemonade, bank], {})
    assert len(chosen(decision)) == 2
    assert "bank" in chosen(decision)
    left_out = next(n for n in ("cola", "lemonade") if n not in chosen(decision))
    assert reason(decision, left_out) == "another soft drinks ad is in this break"


def test_the_first_creative_that_fits_the_time_left_is_used() -> None:
    long_and_short = campaign("a", creatives=(Creative("a-60", 60.0), Creative("a-15", 15.0)))
    decision = decide(replace(SLOT, seconds=45.0), LISTENER, [campaign("b"), long_and_short], {})
    assert [(ad.campaign, ad.creative) for ad in decision.ads] in (
        [("b", "b-30"), ("a", "a-15")],
        [("a", "a-15"), ("b", "b-30")],
    )
    assert decision.seconds == 45.0


def test_the_same_inputs_give_the_same_answer_whatever_their_order() -> None:
    campaigns = [campaign(f"c{n}", category=f"k{n % 3}") for n in range(12)]
    first = decide(SLOT, LISTENER, campaigns, {})
    for seed in range(5):
        shuffled = campaigns[:]
        random.Random(seed).shuffle(shuffled)
        assert decide(SLOT, LISTENER, shuffled, {}) == first


def test_ties_fall_by_session_so_no_campaign_always_wins() -> None:
    a, b = campaign("a"), campaign("b")
    one = replace(SLOT, seconds=30.0)
    winners = {
        chosen(decide(one, replace(LISTENER, session=f"s{n}"), [a, b], {}))[0] for n in range(20)
    }
    assert winners == {"a", "b"}


def test_every_campaign_considered_has_one_reason() -> None:
    campaigns = [campaign("a"), campaign("b", paused=True), campaign("c", category="x"),
                 campaign("d", category="x")]  # fmt: skip
    decision = decide(SLOT, LISTENER, campaigns, {})
    assert sorted(r.campaign for r in decision.reasons) == ["a", "b", "c", "d"]
    assert {r.campaign for r in decision.reasons if r.chosen} == set(chosen(decision))
