"""The transcode pipeline's two layouts against three sequential ffmpeg runs, per ffmpeg build.

    .venv/bin/python benchmarks/transcode.py [--seconds 600] [--samples 3] [--ffmpeg PATH ...]

Generates (once) a stereo 44.1 kHz FLAC of ``--seconds`` (music-like: chords plus pink
noise), then runs, for every ffmpeg given (default: the one on PATH and imageio-ffmpeg's
static build, when they differ), alternating, each in a fresh Python process so resource
figures do not mix:

- one: transcoder.run.transcode with the default ladder (AAC 64/128/256k, fragmented MP4),
  EBU R128 loudness and waveform peaks, in one ffmpeg process (the pipeline as it was);
- parallel: the same transcode in the parallel layout (a decoding process that also
  measures and draws peaks, one encoding process per rendition, raw PCM through pipes);
- sequential: three ffmpeg runs one after another, one AAC rendition each, same fMP4
  options, no loudness or peaks (a reference).

Prints wall time, x-realtime, CPU seconds (user+sys of the children) and the children's
peak RSS, medians over the samples, the builds side by side; ``*`` marks the layout
transcoder.run.choose_layout picks on this machine. The issue's goal: the
chosen layout at 40x realtime or better with both builds. A script, not a test: nothing
here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcoder.ffmpeg import ffmpeg_exe, ffmpeg_version  # noqa: E402
from transcoder.ladder import DEFAULT_LADDER, plan_outputs  # noqa: E402
from transcoder.run import Layout, choose_layout, transcode  # noqa: E402

DATA = ROOT / "benchmarks" / ".data" / "transcode"
MIX = "[1:a]aformat=channel_layouts=stereo[n];[0:a][n]amix=inputs=2:normalize=0"
MODES = ("one", "parallel", "sequential")
LABELS = {
    "one": "one process",
    "parallel": "parallel",
    "sequential": "3 x ffmpeg",
}


def make_source(seconds: int) -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"source-{seconds}s.flac"
    if path.exists():
        return path
    chord = "+".join(f"0.15*sin(2*PI*{f}*t)" for f in (220.0, 277.18, 329.63))
    tmp = path.with_suffix(".tmp.flac")
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"aevalsrc={chord}|{chord}:s=44100:d={seconds}",
         "-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:r=44100:a=0.05",
         "-filter_complex", MIX,
         "-c:a", "flac", str(tmp)],
        check=True, timeout=600,
    )  # fmt: skip
    tmp.replace(path)
    return path


def run_transcode(source: Path, seconds: int, exe: str, layout: Layout) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plans = plan_outputs(
            DEFAULT_LADDER, source_sample_rate=44100, source_channels=2, out_dir=out
        )
        result = asyncio.run(
            transcode(
                source,
                plans,
                work_dir=out,
                duration_hint=seconds,
                timeout=seconds,
                executable=exe,
                layout=layout,
            )
        )
        assert len(result.outputs) == 3


def run_sequential(source: Path, seconds: int, exe: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rendition in DEFAULT_LADDER:
            subprocess.run(
                [exe, "-nostdin", "-loglevel", "error", "-y", "-i", str(source),
                 "-c:a", "aac", "-b:a", str(rendition.bitrate), "-ar", "44100", "-ac", "2",
                 "-f", "mp4", "-frag_duration", "6000000",
                 "-movflags", "+empty_moov+default_base_moof", f"{tmp}/{rendition.name}.mp4"],
                check=True, timeout=seconds,
            )  # fmt: skip


def one(mode: str, source: Path, seconds: int, exe: str) -> dict[str, float]:
    """Run one mode in this (fresh) process and report its children's resources."""
    started = time.perf_counter()
    if mode == "sequential":
        run_sequential(source, seconds, exe)
    else:
        run_transcode(source, seconds, exe, "one" if mode == "one" else "parallel")
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,  # the largest child's, not their sum
    }


def default_builds() -> list[str]:
    """The ffmpeg on PATH and imageio-ffmpeg's, each once."""
    import imageio_ffmpeg

    found = [shutil.which("ffmpeg"), imageio_ffmpeg.get_ffmpeg_exe()]
    builds: list[str] = []
    for exe in found:
        if exe and os.path.realpath(exe) not in {os.path.realpath(b) for b in builds}:
            builds.append(exe)
    return builds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="source length (600)")
    parser.add_argument("--samples", type=int, default=3, help="runs per mode and build (3)")
    parser.add_argument(
        "--ffmpeg",
        action="append",
        metavar="PATH",
        help="an ffmpeg to measure; repeat for several (default: PATH's and imageio-ffmpeg's)",
    )
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    builds = args.ffmpeg or default_builds()
    source = make_source(args.seconds)
    if args.one:
        print(json.dumps(one(args.one, source, args.seconds, builds[0])))
        return
    versions = {exe: ffmpeg_version(exe) for exe in builds}
    chosen = choose_layout(cpus=len(os.sched_getaffinity(0)))
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for sample in range(args.samples):
        # Alternate the order so that neither a mode nor a build always runs first.
        order = [(exe, mode) for exe in builds for mode in MODES]
        if sample % 2:
            order.reverse()
        for exe, mode in order:
            out = subprocess.run(
                [sys.executable, __file__, "--seconds", str(args.seconds), "--one", mode,
                 "--ffmpeg", exe],
                check=True, capture_output=True, text=True, timeout=args.seconds * 4,
            )  # fmt: skip
            row = json.loads(out.stdout.strip().splitlines()[-1])
            results.setdefault((exe, mode), []).append(row)
            print(f"  {versions[exe].text} {mode}: {row}", file=sys.stderr)
    print(
        f"{args.seconds} s stereo 44.1 kHz FLAC, {os.cpu_count()} cores, medians of {args.samples}"
    )
    for exe in builds:
        print(f"  ffmpeg {versions[exe].text}: {exe}")
    header = f"{'':14}" + "".join(f" | {versions[exe].text[:36]:^36}" for exe in builds)
    print(header)
    print(f"{'':14}" + f" | {'wall s':>7} {'x-rt':>7} {'CPU s':>7} {'RSS MB':>7}  " * len(builds))
    for mode in MODES:
        line = f"{LABELS[mode]:14}"
        for exe in builds:
            rows = results[(exe, mode)]
            wall = statistics.median(r["wall"] for r in rows)
            cpu = statistics.median(r["cpu"] for r in rows)
            rss = statistics.median(r["rss_mb"] for r in rows)
            mark = "*" if chosen == mode else " "
            line += f" | {wall:7.2f} {args.seconds / wall:6.1f}x {cpu:7.2f} {rss:7.1f} {mark}"
        print(line)
    print("one process / parallel: 3 AAC renditions + EBU R128 loudness + waveform peaks;")
    print("3 x ffmpeg: one AAC rendition per run, one after another, nothing else;")
    print("* the layout transcoder.run.choose_layout picks on this machine.")


if __name__ == "__main__":
    main()
