"""Whether an uploaded creative may go on air, with a reason for every check (pure).

A creative version is a catalogued track; its checks read what the scan and the analysis
found in it:

- audio: the scan could read it as audio (its error otherwise);
- duration: it fits the slot it is sold for, a little short allowed (a "30 s spot" of
  28.5 s is common; one longer than the slot would push the programme back);
- sample rate and channels: what the ladder encodes without surprises (44.1 or 48 kHz,
  mono or stereo);
- loudness: at the programme's target after the same gain the player applies to tracks
  (``streamer.channels.loudness.level_gain``, true peak kept under -1 dBTP), within
  ``LOUDNESS_TOLERANCE`` LU. An ad mastered so hot that its peak limits the gain ends up
  quieter than the target; one that cannot reach the target is refused, not played off.

A check that waits for the analysis (loudness before it ran) is "pending", not failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from streamer.channels.loudness import level_gain

__all__ = [
    "CHANNELS",
    "LONG_BY",
    "LOUDNESS_TOLERANCE",
    "SAMPLE_RATES",
    "SHORT_BY",
    "Check",
    "CreativeFacts",
    "Validation",
    "validate",
]

LOUDNESS_TOLERANCE = 1.0  # LU either side of the target, after normalisation
SHORT_BY = 1.5  # seconds a creative may fall short of its slot
LONG_BY = 0.25  # and run over it (encoder padding, a trailing fade)
SAMPLE_RATES = (44_100, 48_000)
CHANNELS = (1, 2)

State = Literal["valid", "invalid", "pending"]


@dataclass(frozen=True, slots=True)
class CreativeFacts:
    """What the catalogue knows of a creative version's track."""

    status: str  # the track's: "ok", "error", "missing"
    error: str | None
    codec: str | None
    duration: float | None
    sample_rate: int | None
    channels: int | None
    loudness: float | None  # integrated, LUFS (None until analysed)
    true_peak: float | None  # dBTP
    analysed: bool  # the analysis ran (a silent track has no finite loudness)


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # audio | duration | sample_rate | channels | loudness
    state: State
    reason: str


@dataclass(frozen=True, slots=True)
class Validation:
    checks: tuple[Check, ...]

    @property
    def state(self) -> State:
        states = {c.state for c in self.checks}
        if "invalid" in states:
            return "invalid"
        return "pending" if "pending" in states else "valid"


def validate(facts: CreativeFacts, slot_seconds: float, target: float) -> Validation:
    """Every check of ``facts`` for a slot of ``slot_seconds`` at ``target`` LUFS."""
    if facts.status != "ok" or not facts.codec or not facts.duration:
        why = facts.error or (
            "the file is gone from its library" if facts.status == "missing" else "no audio found"
        )
        return Validation((Check("audio", "invalid", f"not playable audio: {why}"),))
    checks = [Check("audio", "valid", f"{facts.codec} audio")]
    checks.append(_duration(facts.duration, slot_seconds))
    checks.append(
        Check("sample_rate", "valid", f"{facts.sample_rate} Hz")
        if facts.sample_rate in SAMPLE_RATES
        else Check(
            "sample_rate",
            "invalid",
            f"{facts.sample_rate} Hz; creatives must be 44100 or 48000 Hz",
        )
    )
    checks.append(
        Check("channels", "valid", f"{facts.channels} channel(s)")
        if facts.channels in CHANNELS
        else Check("channels", "invalid", f"{facts.channels} channels; mono or stereo only")
    )
    checks.append(_loudness(facts, target))
    return Validation(tuple(checks))


def _duration(seconds: float, slot: float) -> Check:
    if seconds > slot + LONG_BY:
        return Check("duration", "invalid", f"{seconds:.2f} s is longer than its {slot:g} s slot")
    if seconds < slot - SHORT_BY:
        return Check(
            "duration",
            "invalid",
            f"{seconds:.2f} s is more than {SHORT_BY:g} s short of its {slot:g} s slot",
        )
    return Check("duration", "valid", f"{seconds:.2f} s fits its {slot:g} s slot")


def _loudness(facts: CreativeFacts, target: float) -> Check:
    if not facts.analysed:
        return Check("loudness", "pending", "waiting for the loudness analysis")
    if facts.loudness is None or not math.isfinite(facts.loudness):
        return Check("loudness", "invalid", "silent: no loudness could be measured")
    gain = level_gain(target, facts.loudness, 0.0, facts.true_peak)
    assert gain is not None  # a finite measure and a target always give one
    reached = facts.loudness + gain
    said = (
        f"{facts.loudness:.1f} LUFS measured, {reached:.1f} LUFS after a {gain:+.1f} dB gain "
        f"(target {target:g})"
    )
    if abs(reached - target) > LOUDNESS_TOLERANCE:
        limited = facts.true_peak is not None and gain < target - facts.loudness - 0.005
        peak = f"; its true peak of {facts.true_peak:.1f} dBTP limits the gain" if limited else ""
        return Check("loudness", "invalid", f"{said}{peak}")
    return Check("loudness", "valid", said)
