"""Creative validation: one check per property, each with its reason; loudness judged
after the gain the player would apply (true peak under -1 dBTP)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from streamer.ads.model import Daypart, FrequencyCap, Priority
from streamer.ads.stored import campaign_of, caps_of, targeting_of
from streamer.ads.validation import CreativeFacts, validate

GOOD = CreativeFacts(
    status="ok",
    error=None,
    codec="flac",
    duration=29.6,
    sample_rate=44_100,
    channels=2,
    loudness=-21.0,
    true_peak=-15.0,
    analysed=True,
)


def states(facts: CreativeFacts, slot: float = 30, target: float = -16) -> dict[str, str]:
    return {c.name: c.state for c in validate(facts, slot, target).checks}


def test_a_well_made_creative_passes_every_check() -> None:
    result = validate(GOOD, 30, -16)
    assert result.state == "valid"
    assert [c.name for c in result.checks] == [
        "audio", "duration", "sample_rate", "channels", "loudness",
    ]  # fmt: skip
    loudness = result.checks[-1].reason
    assert loudness == "-21.0 LUFS measured, -16.0 LUFS after a +5.0 dB gain (target -16)"


@pytest.mark.parametrize(
    ("seconds", "state"),
    [(28.5, "valid"), (28.49, "invalid"), (30.25, "valid"), (30.26, "invalid"), (15, "invalid")],
)
def test_duration_may_fall_a_little_short_of_the_slot_but_never_run_over(
    seconds: float, state: str
) -> None:
    assert states(replace(GOOD, duration=seconds))["duration"] == state


@pytest.mark.parametrize(("rate", "state"), [(44_100, "valid"), (48_000, "valid"),
                                             (22_050, "invalid"), (96_000, "invalid")])  # fmt: skip
def test_sample_rates_are_those_the_ladder_encodes(rate: int, state: str) -> None:
    assert states(replace(GOOD, sample_rate=rate))["sample_rate"] == state


@pytest.mark.parametrize(("channels", "state"), [(1, "valid"), (2, "valid"), (6, "invalid")])
def test_mono_or_stereo(channels: int, state: str) -> None:
    assert states(replace(GOOD, channels=channels))["channels"] == state


@pytest.mark.parametrize(
    ("loudness", "peak", "state"),
    [
        (-9.0, -0.1, "valid"),  # too loud: turned down, always reachable
        (-30.0, -25.0, "valid"),  # quiet with headroom: turned up
        (-30.0, -3.0, "invalid"),  # quiet and peaky: the ceiling stops the gain 12 LU short
        (-17.5, -1.0, "invalid"),  # already at the ceiling: no gain, 1.5 LU short
        (-16.8, -1.0, "valid"),  # no gain either, but within 1 LU
    ],
)
def test_loudness_is_judged_after_the_players_gain_within_one_lu(
    loudness: float, peak: float, state: str
) -> None:
    assert states(replace(GOOD, loudness=loudness, true_peak=peak))["loudness"] == state


def test_a_peak_that_limits_the_gain_is_named_in_the_reason() -> None:
    (check,) = [
        c for c in validate(replace(GOOD, loudness=-30, true_peak=-3), 30, -16).checks
        if c.name == "loudness"
    ]  # fmt: skip
    assert check.reason.endswith("its true peak of -3.0 dBTP limits the gain")


def test_loudness_waits_for_the_analysis_and_the_creative_is_pending() -> None:
    result = validate(replace(GOOD, analysed=False, loudness=None), 30, -16)
    assert result.state == "pending"
    assert result.checks[-1].reason == "waiting for the loudness analysis"


def test_silence_is_invalid() -> None:
    assert states(replace(GOOD, loudness=None))["loudness"] == "invalid"


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (replace(GOOD, status="error", error="invalid data found"), "invalid data found"),
        (replace(GOOD, status="missing"), "the file is gone from its library"),
        (replace(GOOD, codec=None), "no audio found"),
    ],
)
def test_what_is_not_audio_fails_the_first_check_alone(facts: CreativeFacts, reason: str) -> None:
    result = validate(facts, 30, -16)
    assert result.state == "invalid"
    assert [c.name for c in result.checks] == ["audio"]
    assert reason in result.checks[0].reason


def test_invalid_wins_over_pending() -> None:
    facts = replace(GOOD, analysed=False, duration=5.0)
    assert validate(facts, 30, -16).state == "invalid"


def test_stored_targeting_and_caps_become_the_decisions_values() -> None:
    targeting = targeting_of(
        {"countries": ["FR"], "tags": ["jazz"],
         "dayparts": [{"days": [4, 5], "start": "22:00", "end": "02:30"}]}
    )  # fmt: skip
    assert targeting.countries == frozenset({"FR"})
    assert targeting.channels == frozenset()
    assert targeting.dayparts == (Daypart(frozenset({4, 5}), time(22), time(2, 30)),)
    assert caps_of([{"impressions": 3, "window_seconds": 86400}]) == (
        FrequencyCap(3, timedelta(days=1)),
    )
    campaign = campaign_of(
        campaign_id="c", name="n", priority="house",
        starts=datetime(2026, 1, 1, tzinfo=UTC), ends=datetime(2027, 1, 1, tzinfo=UTC),
        creatives=(), category=None, goal=None, targeting={}, caps=[], paused=False,
    )  # fmt: skip
    assert campaign.priority == Priority.HOUSE
