"""The gain that brings a track to a channel's loudness target (pure; no I/O).

A track's rendition plays at its measured integrated loudness (EBU R128, of the source)
plus the normalisation gain applied when it was encoded (``renditions.gain_db``). A channel
with a ``loudness_target`` asks the player to apply the difference, lowered where needed
so that the source's true peak, with both gains, stays under -1 dBTP (EBU R128's ceiling
for distribution: a louder setting would clip). Silence or an unmeasured track gets no
gain (None): the player leaves it as it is.
"""

from __future__ import annotations

import math

__all__ = ["PEAK_CEILING_DBTP", "level_gain"]

PEAK_CEILING_DBTP = -1.0


def level_gain(
    target: float | None,
    integrated: float | None,
    applied_db: float,
    true_peak: float | None,
) -> float | None:
    """The gain in dB (two decimals) that takes a rendition to ``target`` LUFS, or None."""
    if target is None or integrated is None or not math.isfinite(integrated):
        return None
    gain = target - (integrated + applied_db)
    if true_peak is not None and math.isfinite(true_peak):
        gain = min(gain, PEAK_CEILING_DBTP - (true_peak + applied_db))
    return round(gain, 2)
