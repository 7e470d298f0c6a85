"""The transcode pipeline against three sequential single-rendition ffmpeg runs.

    .venv/bin/python benchmarks/transcode.py [--seconds 600] [--samples 3]

Generates (once) a stereo 44.1 kHz FLAC of ``--seconds`` (music-like: chords plus pink
noise), then runs, alternating, each in a fresh Python process so resource figures do not
mix:

- pipeline: transcoder.run.transcode with the default ladder (AAC 64/128/256k, fragmented
  MP4), EBU R128 loudness and waveform peaks, one ffmpeg process;
- sequential: three ffmpeg runs one after another, one AAC rendition each, same fMP4
  options, no loudness or peaks.

Prints wall time, x-realtime, CPU seconds (user+sys of the children) and the children's
peak RSS, medians over the samples. The issue's goal: the pipeline at 40x realtime or
better with peak RSS under 200 MB. A script, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcoder.ffmpeg import ffmpeg_exe  # noqa: E402
from transcoder.ladder import DEFAULT_LADDER, plan_outputs  # noqa: E402
from transcoder.run import transcode  # noqa: E402

DATA = ROOT / "benchmarks" / ".data" / "transcode"
MIX = "[1:a]aformat=channel_layouts=stereo[n];[0:a][n]amix=inputs=2:normalize=0"


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


def run_pipeline(source: Path, seconds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plans = plan_outputs(
            DEFAULT_LADDER, source_sample_rate=44100, source_channels=2, out_dir=out
        )
        result = asyncio.run(
            transcode(source, plans, work_dir=out, duration_hint=seconds, timeout=seconds)
        )
        assert len(result.outputs) == 3


def run_sequential(source: Path, seconds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rendition in DEFAULT_LADDER:
            subprocess.run(
                [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(source),
                 "-c:a", "aac", "-b:a", str(rendition.bitrate), "-ar", "44100", "-ac", "2",
                 "-f", "mp4", "-frag_duration", "6000000",
                 "-movflags", "+empty_moov+default_base_moof", f"{tmp}/{rendition.name}.mp4"],
                check=True, timeout=seconds,
            )  # fmt: skip


def one(mode: str, source: Path, seconds: int) -> dict[str, float]:
    """Run one mode in this (fresh) process and report its children's resources."""
    started = time.perf_counter()
    (run_pipeline if mode == "pipeline" else run_sequential)(source, seconds)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="source length (600)")
    parser.add_argument("--samples", type=int, default=3, help="runs per mode (3)")
    parser.add_argument("--one", choices=["pipeline", "sequential"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = make_source(args.seconds)
    if args.one:
        print(json.dumps(one(args.one, source, args.seconds)))
        return
    results: dict[str, list[dict[str, float]]] = {"pipeline": [], "sequential": []}
    for sample in range(args.samples):
        for mode in ("pipeline", "sequential") if sample % 2 == 0 else ("sequential", "pipeline"):
            out = subprocess.run(
                [sys.executable, __file__, "--seconds", str(args.seconds), "--one", mode],
                check=True, capture_output=True, text=True, timeout=args.seconds * 4,
            )  # fmt: skip
            results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {mode}: {results[mode][-1]}", file=sys.stderr)
    print(f"{args.seconds} s stereo 44.1 kHz FLAC, {os.cpu_count()} cores, ffmpeg {ffmpeg_exe()}")
    print(f"medians of {args.samples}")
    print(f"{'':12} {'wall s':>8} {'x-realtime':>11} {'CPU s':>8} {'peak RSS MB':>12}")
    for mode, rows in results.items():
        wall = statistics.median(r["wall"] for r in rows)
        cpu = statistics.median(r["cpu"] for r in rows)
        rss = statistics.median(r["rss_mb"] for r in rows)
        label = "pipeline" if mode == "pipeline" else "3 x ffmpeg"
        print(f"{label:12} {wall:8.2f} {args.seconds / wall:10.1f}x {cpu:8.2f} {rss:12.1f}")
    print("pipeline: 3 AAC renditions + EBU R128 loudness + waveform peaks in one ffmpeg;")
    print("3 x ffmpeg: one AAC rendition per run, one after another, nothing else.")


if __name__ == "__main__":
    main()
