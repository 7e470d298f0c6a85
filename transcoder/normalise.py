"""Loudness normalisation: the one linear gain that brings a track to a target (pure).

Two passes: the first measures the source (``run.measure_loudness``), this module turns the
measurement into a gain, and the transcode applies it with ffmpeg's ``volume`` filter
before encoding. A linear gain changes level only, never dynamics (unlike ``loudnorm``'s
dynamic mode, which compresses). So that it cannot clip either, a gain that would lift the
true peak above ``ceiling_dbtp`` is reduced to meet it: such a track ends up quieter than
the target rather than squashed. Gains that lower the level are never limited.
"""

from __future__ import annotations

from transcoder.loudness import Loudness

__all__ = ["DEFAULT_CEILING_DBTP", "normalisation_gain"]

# EBU R128 / AES streaming recommendations put the true-peak ceiling at -1 dBTP.
DEFAULT_CEILING_DBTP = -1.0
_LARGEST_GAIN = 40.0  # dB; past this the "programme" is noise floor, not music


def normalisation_gain(
    measured: Loudness, target_lufs: float, *, ceiling_dbtp: float = DEFAULT_CEILING_DBTP
) -> float:
    """The gain in dB (rounded to 0.01) that takes ``measured`` to ``target_lufs``.

    Silence (no integrated loudness) gets 0. A positive gain is capped so the true peak
    stays at or below ``ceiling_dbtp`` (never below 0: a source already over the ceiling
    is not turned down to meet it, only not turned up), and at 40 dB.
    """
    if measured.integrated_lufs is None:
        return 0.0
    gain = target_lufs - measured.integrated_lufs
    if gain > 0:
        if measured.true_peak_dbtp is not None:
            gain = min(gain, max(ceiling_dbtp - measured.true_peak_dbtp, 0.0))
        gain = min(gain, _LARGEST_GAIN)
    return round(gain, 2)
