"""The linear gain of loudness normalisation: to the target, never clipping, never
compressing (transcoder/normalise.py)."""

from __future__ import annotations

import pytest

from transcoder.loudness import Loudness
from transcoder.normalise import normalisation_gain


@pytest.mark.parametrize(
    ("integrated", "peak", "target", "gain"),
    [
        (-23.0, -10.0, -16.0, 7.0),  # quiet: raised to the target, peak -3 dBTP
        (-9.0, -0.1, -16.0, -7.0),  # loud: lowered, whatever its peak
        (-16.0, -1.0, -16.0, 0.0),  # already there
        (-23.0, -4.0, -16.0, 3.0),  # raising 7 dB would clip: held at the -1 dBTP ceiling
        (-23.0, -0.5, -16.0, 0.0),  # peak already over the ceiling: not raised at all
        (-23.0, 0.8, -16.0, 0.0),  # ... nor lowered to meet it (a gain, not a limiter)
        (-65.0, -60.0, -16.0, 40.0),  # near the gate: at most 40 dB
        (-20.333, -10.0, -16.0, 4.33),  # rounded to 0.01 dB
    ],
)
def test_gain(integrated: float, peak: float, target: float, gain: float) -> None:
    measured = Loudness(integrated_lufs=integrated, range_lu=3.0, true_peak_dbtp=peak)
    assert normalisation_gain(measured, target) == gain


def test_silence_gets_no_gain() -> None:
    silence = Loudness(integrated_lufs=None, range_lu=0.0, true_peak_dbtp=None)
    assert normalisation_gain(silence, -16.0) == 0.0


def test_a_lower_ceiling_holds_the_gain_back_further() -> None:
    measured = Loudness(integrated_lufs=-23.0, range_lu=3.0, true_peak_dbtp=-6.0)
    assert normalisation_gain(measured, -16.0, ceiling_dbtp=-2.0) == 4.0


def test_a_digitally_silent_peak_does_not_cap_the_gain() -> None:
    measured = Loudness(integrated_lufs=-30.0, range_lu=3.0, true_peak_dbtp=None)
    assert normalisation_gain(measured, -16.0) == 14.0
