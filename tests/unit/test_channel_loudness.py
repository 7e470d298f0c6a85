"""The gain that levels a track to a channel's loudness target."""

from __future__ import annotations

import pytest

from streamer.channels.loudness import level_gain


@pytest.mark.parametrize(
    ("target", "integrated", "applied", "peak", "gain"),
    [
        (-16.0, -23.0, 0.0, -10.0, 7.0),  # quiet track raised
        (-16.0, -9.5, 0.0, -0.2, -6.5),  # loud track lowered
        (-16.0, -23.0, 7.0, -10.0, 0.0),  # already normalised to the target
        (-14.0, -23.0, 0.0, -4.0, 3.0),  # raised only as far as the peak allows
        (-14.0, -20.0, -3.0, -2.0, 4.0),  # the encoding's gain counts for the peak too
        (-16.0, -16.004, 0.0, None, 0.0),  # no peak measured: the target alone
    ],
)
def test_the_gain_reaches_the_target_under_the_peak_ceiling(
    target: float, integrated: float, applied: float, peak: float | None, gain: float
) -> None:
    assert level_gain(target, integrated, applied, peak) == pytest.approx(gain)


@pytest.mark.parametrize(
    ("target", "integrated"), [(None, -20.0), (-16.0, None), (-16.0, float("-inf"))]
)
def test_no_target_or_no_measure_is_no_gain(target: float | None, integrated: float | None) -> None:
    assert level_gain(target, integrated, 0.0, -1.0) is None
