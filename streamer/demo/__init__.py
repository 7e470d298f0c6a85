"""Generated audio libraries of any size and mix, reproducible from a seed: for
development, benchmarks, bug reports, and the demo library of `make serve`.

:func:`plan_library` draws the plan (pure); :func:`generate_library` makes the files with
ffmpeg and mutagen; `streamer demo PATH` is the command (streamer/cli_demo.py).
"""

from __future__ import annotations

from pathlib import Path

from streamer.demo.generate import MANIFEST, DemoError, Generated, generate_library
from streamer.demo.plan import (
    BROKEN_KINDS,
    FORMATS,
    LENGTHS,
    BrokenPlan,
    CoverPlan,
    LibraryPlan,
    TrackPlan,
    plan_library,
)

__all__ = [
    "BROKEN_KINDS",
    "FORMATS",
    "LENGTHS",
    "MANIFEST",
    "SERVE_DEMO_TRACKS",
    "BrokenPlan",
    "CoverPlan",
    "DemoError",
    "Generated",
    "LibraryPlan",
    "TrackPlan",
    "generate_library",
    "make_demo_library",
    "plan_library",
]

# `streamer serve --demo`: six short tracks, no broken files; the seed is one whose six
# tracks use every format and both kinds of cover (PNG and JPEG).
SERVE_DEMO_TRACKS = 6
SERVE_DEMO_SEED = 511


def make_demo_library(folder: Path, *, ffmpeg: str | None = None) -> Path:
    """Create (once) the demo library of `streamer serve --demo` under ``folder`` with
    ``ffmpeg`` (default: the one :func:`transcoder.ffmpeg.ffmpeg_exe` finds)."""
    plan = plan_library(SERVE_DEMO_TRACKS, seed=SERVE_DEMO_SEED, lengths="short")
    generate_library(folder, plan, ffmpeg=ffmpeg)
    return folder
