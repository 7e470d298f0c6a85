"""EBU R128 loudness from the summary ffmpeg's ``ebur128`` filter logs (pure parsing).

With ``ebur128=peak=true:framelog=quiet`` ffmpeg 9 logs, at level info, when the filter
closes::

    [Parsed_ebur128_1 @ 0x...] Summary:

      Integrated loudness:
        I:         -21.8 LUFS
        Threshold: -31.8 LUFS

      Loudness range:
        LRA:         0.0 LU
        Threshold: -41.8 LUFS
        LRA low:   -21.8 LUFS
        LRA high:  -21.8 LUFS

      True peak:
        Peak:      -21.1 dBFS

(``peak=sample`` adds a "Sample peak:" section with its own "Peak:" line; the true-peak
line says dBFS but is dBTP.) Silence gives "I: -70.0 LUFS" with "Threshold: 0.0 LUFS" (no
block passed the absolute gate) and "Peak: -inf dBFS"; both are reported as ``None``.
Other threads may log lines in between, so the parser keys on section headers rather
than on line positions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Loudness", "LoudnessParseError", "parse_ebur128_summary"]

# EBU R128's absolute gate: programme loudness at or below it is "no loudness at all".
ABSOLUTE_GATE_LUFS = -70.0

_SUMMARY = re.compile(r"ebur128.*\]\s*Summary:\s*$")
_VALUE = re.compile(r"^\s*(I|LRA|Peak):\s*(-?inf|[-+]?\d+(?:\.\d+)?)\s*(LUFS|LU|dBFS|dBTP)\s*$")
_SECTIONS = {
    "Integrated loudness:": "integrated",
    "Loudness range:": "range",
    "True peak:": "true_peak",
    "Sample peak:": "sample_peak",
}


class LoudnessParseError(ValueError):
    """The text holds no complete ebur128 summary."""


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurements of a programme."""

    integrated_lufs: float | None  # None: silence (nothing above the -70 LUFS gate)
    range_lu: float
    true_peak_dbtp: float | None  # None: digital silence (-inf)


def parse_ebur128_summary(stderr_text: str) -> Loudness:
    """Read the last ebur128 summary in ``stderr_text``; raise LoudnessParseError if absent."""
    lines = stderr_text.splitlines()
    start = None
    for index in range(len(lines) - 1, -1, -1):
        if _SUMMARY.search(lines[index]):
            start = index
            break
    if start is None:
        raise LoudnessParseError("no ebur128 summary in ffmpeg's log")
    values: dict[str, float] = {}
    section = None
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped in _SECTIONS:
            section = _SECTIONS[stripped]
            continue
        match = _VALUE.match(line)
        if match is None or section is None:
            continue
        label, number = match.group(1), match.group(2)
        key = {"I": "integrated", "LRA": "range", "Peak": section}[label]
        if key == section and key not in values:
            values[key] = float(number)  # float() reads "-inf" too
    missing = [key for key in ("integrated", "range", "true_peak") if key not in values]
    if missing:
        raise LoudnessParseError(f"incomplete ebur128 summary: no {', '.join(missing)}")
    integrated = values["integrated"]
    peak = values["true_peak"]
    return Loudness(
        integrated_lufs=None if integrated <= ABSOLUTE_GATE_LUFS else integrated,
        range_lu=values["range"],
        true_peak_dbtp=None if math.isinf(peak) else peak,
    )
