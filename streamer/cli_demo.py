"""`streamer demo PATH`: generate an audio library of any size and mix from a seed, for
development, benchmarks and bug reports (streamer.demo). It needs no settings or
database: it only makes files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from streamer.demo import (
    FORMATS,
    LENGTHS,
    MANIFEST,
    DemoError,
    LibraryPlan,
    generate_library,
    plan_library,
)

__all__ = ["add_parser", "demo_command"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo_p = sub.add_parser(
        "demo",
        help="generate an audio library of any size and mix, reproducibly from a seed",
        description="Generate a library of real, tagged audio files (with covers, in several "
        "formats and lengths, and broken files if asked) under PATH. The same seed and "
        "options give the same names and tags, and with the same ffmpeg the same bytes; "
        "files already there are kept, so an interrupted run can be resumed. The plan is "
        f"written to PATH/{MANIFEST}.",
    )
    demo_p.add_argument("path", type=Path, metavar="PATH", help="an empty or new folder")
    demo_p.add_argument("--tracks", type=_count, default=20, help="playable files (default 20)")
    demo_p.add_argument("--seed", type=int, default=0, help="the seed (default 0)")
    demo_p.add_argument(
        "--formats",
        type=_formats,
        default=FORMATS,
        metavar="LIST",
        help=f"comma-separated, from {','.join(FORMATS)} (default: all)",
    )
    demo_p.add_argument(
        "--broken",
        type=_count,
        default=0,
        help="files with an audio extension that are not playable: truncated, random bytes, "
        "empty, in turn (default 0)",
    )
    demo_p.add_argument(
        "--lengths",
        choices=LENGTHS,
        default="mixed",
        help="short: 0.2 to 10 s; mixed: mostly 1.5 to 5.5 min, some under 2 s, some up to "
        "an hour (default)",
    )
    demo_p.add_argument("--jobs", type=_count, help="ffmpeg processes at once (default: CPUs)")
    demo_p.add_argument("--no-progress", action="store_true", help="no progress bar")


def demo_command(args: argparse.Namespace) -> int:
    plan = plan_library(
        args.tracks, seed=args.seed, formats=args.formats, broken=args.broken, lengths=args.lengths
    )
    folder: Path = args.path
    refusal = _refusal(folder, plan)
    if refusal is not None:
        print(f"streamer: {refusal}", file=sys.stderr)
        return 2
    total = len(plan.tracks) + len(plan.broken)
    with tqdm(total=total, unit="file", disable=args.no_progress, file=sys.stderr) as bar:
        try:
            done = generate_library(folder, plan, jobs=args.jobs, on_file=lambda: bar.update())
        except DemoError as exc:
            bar.close()
            print(f"streamer: {exc}", file=sys.stderr)
            return 1
    minutes = sum(track.seconds for track in plan.tracks) / 60
    covers = _plural(len(plan.covers), "cover")
    print(
        f"{folder}: {len(plan.tracks)} tracks ({minutes:.1f} min, {covers}, "
        f"{', '.join(plan.formats)}), {len(plan.broken)} broken; {done.made} made, "
        f"{done.kept} already there, in {done.seconds:.1f} s"
    )
    print(f"seed {plan.seed}, fingerprint {plan.fingerprint()[:16]}")
    print(f"serve it: streamer serve --library {folder}")
    return 0


def _refusal(folder: Path, plan: LibraryPlan) -> str | None:
    """Why files must not be generated into ``folder``: it holds other files (a real
    library, perhaps), or a library generated with other options."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{folder} is not a folder"
    manifest = folder / MANIFEST
    if not manifest.exists():
        if any(folder.iterdir()):
            return f"{folder} is not empty and holds no generated library: choose a new folder"
        return None
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{manifest} cannot be read ({exc}): remove it or choose a new folder"
    if earlier.get("fingerprint") != plan.fingerprint():
        return (
            f"{folder} holds a library generated with other options (seed "
            f"{earlier.get('seed')}, {len(earlier.get('tracks', []))} tracks): "
            "choose a new folder"
        )
    return None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    unknown = [name for name in chosen if name not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(FORMATS)}"
        )
    return chosen
