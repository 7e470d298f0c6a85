"""One ffmpeg process per track: decode once, encode every rendition, measure, draw peaks.

The filter graph (built with ffmpeg-python)::

    [0:a] aresample=ochl=mono|stereo (downmix wider sources)
          asplit=N+2 ─┬─ rendition 1 ─> fragmented MP4  (-ar/-ac/-c:a per OutputPlan)
                      ├─ ...
                      ├─ rendition N ─> fragmented MP4
                      ├─ ebur128=peak=true ─> null muxer   (summary on stderr)
                      └─ pan to mono, aresample=4000 ─> raw s16le in work_dir (waveform)

ffmpeg 7 and newer run each encoder in its own thread, so one process keeps both cores
busy while decoding only once. Progress comes from ``-progress pipe:1`` on stdout; stderr
is drained continuously into a bounded buffer (its tail goes into errors, and the ebur128
summary is parsed from it). Every run has a deadline: on expiry ffmpeg is terminated,
then killed after a grace period; on cancellation it is killed at once. Either way
partial outputs are removed before the exception propagates.

Loudness is measured after the downmix, on what listeners of the renditions hear (and
what a normalisation gain would be applied to). A mono source is measured as one
channel, as EBU R128 prescribes (no dual-mono +3 dB).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import signal
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import ffmpeg

from transcoder.errors import (
    STDERR_TAIL_LINES,
    BadInput,
    FfmpegFailed,
    TranscodeError,
    TranscodeTimeout,
)
from transcoder.ffmpeg import ffmpeg_exe
from transcoder.ladder import OutputPlan
from transcoder.loudness import Loudness, LoudnessParseError, parse_ebur128_summary
from transcoder.waveform import WAVEFORM_SAMPLE_RATE, Peak, peaks_from_pcm

__all__ = [
    "RenditionOutput",
    "TranscodeResult",
    "build_command",
    "build_measure_command",
    "measure_loudness",
    "transcode",
]

# Lines of stderr kept while ffmpeg runs: the ebur128 summary (about 15 lines) and the
# per-output closing lines come last, so a few hundred lines always hold them.
_STDERR_LINES = 400
_STDERR_LINE_CHARS = 2000
_READ_CHUNK = 64 * 1024

# "-loglevel level+info" tags each message: "[ctx @ 0x..] [warning] text". Lines without a
# tag continue the previous message (the ebur128 summary is one multi-line message).
_LEVEL_TAG = re.compile(
    r"^((?:\[[^\]]* @ 0x[0-9a-f]+\] )*)\[(trace|debug|verbose|info|warning|error|fatal|panic)\] "
)
_PROBLEM_LEVELS = frozenset({"warning", "error", "fatal", "panic"})

# Messages that mean the source itself is unreadable: retrying cannot help.
_BAD_INPUT = re.compile(
    r"Invalid data found when processing input"
    r"|could not find codec parameters"
    r"|No such file or directory"
    r"|matches no streams"
    r"|does not contain any stream"
    r"|moov atom not found"
    r"|Permission denied"
    r"|Server returned 404"
    # ffmpeg 5.1's wording for bytes it misdetects as MP3 (9.0: "Invalid data found ...").
    r"|Failed to read frame size",
    re.IGNORECASE,
)

_ENCODERS = {"aac": "aac", "opus": "libopus", "flac": "flac"}


class RenditionOutput(NamedTuple):
    """A file the transcode wrote: its plan and its size in bytes."""

    plan: OutputPlan
    size: int


@dataclass(frozen=True)
class TranscodeResult:
    """What one run produced and what it cost."""

    outputs: list[RenditionOutput]
    loudness: Loudness
    peaks: list[Peak]  # (min, max) per bucket, in -1.0..1.0
    wall_seconds: float
    cpu_seconds: float | None  # user + system time of ffmpeg (None off Linux)


def build_command(
    source: str | os.PathLike[str],
    outputs: Sequence[OutputPlan],
    *,
    segment_seconds: float,
    waveform_path: Path,
    gain_db: float = 0.0,
    executable: str | None = None,
) -> list[str]:
    """The ffmpeg argument list for one run (see the module docstring for the graph).

    ``gain_db`` applies a linear gain to everything after the downmix (loudness
    normalisation): the renditions, the loudness measured and the waveform.
    """
    if not outputs:
        raise ValueError("no outputs to transcode to")
    channels = {plan.channels for plan in outputs}
    if len(channels) != 1 or not channels <= {1, 2}:
        raise ValueError(f"all outputs must share one channel count of 1 or 2, not {channels}")
    (channel_count,) = channels
    if segment_seconds <= 0:
        raise ValueError("segment_seconds must be positive")
    layout = "mono" if channel_count == 1 else "stereo"

    audio = ffmpeg.input(_input_url(source)).audio
    # A no-op for sources that already have the planned layout; swresample's default
    # matrix for wider ones.
    audio = audio.filter("aresample", ochl=layout)
    if gain_db:
        # volume's default precision converts to float samples: no clipping of the
        # intermediate, and the encoders take float input anyway.
        audio = audio.filter("volume", f"{gain_db:.2f}dB")
    branches = audio.filter_multi_output("asplit", len(outputs) + 2)
    nodes: list[Any] = []
    for index, plan in enumerate(outputs):
        nodes.append(
            ffmpeg.output(
                branches[index],
                str(plan.path),
                format="mp4",
                frag_duration=round(segment_seconds * 1_000_000),
                movflags="+empty_moov+default_base_moof",
                map_metadata="-1",
                map_chapters="-1",
                **_encoder_options(plan),
            )
        )
    # framelog=verbose keeps per-frame lines out of the info-level log on every ffmpeg
    # (the "quiet" value is newer than Debian's 5.1); the summary is logged at info.
    loudness = branches[len(outputs)].filter("ebur128", peak="true", framelog="verbose")
    nodes.append(ffmpeg.output(loudness, "-", format="null"))
    waveform = branches[len(outputs) + 1]
    if channel_count == 2:
        # The mean of both channels ("<" normalises the gains to sum to 1), not
        # swresample's -3 dB mono fold, so full scale stays full scale. ("<" also spares
        # an "=", which ffmpeg-python would escape twice over.)
        waveform = waveform.filter("pan", "mono|c0<c0+c1")
    waveform = waveform.filter("aresample", osr=WAVEFORM_SAMPLE_RATE)
    nodes.append(ffmpeg.output(waveform, str(waveform_path), format="s16le", acodec="pcm_s16le"))

    graph = ffmpeg.merge_outputs(*nodes).global_args(
        "-hide_banner", "-nostdin", "-loglevel", "level+info", "-nostats", "-progress", "pipe:1"
    )
    args: list[str] = graph.overwrite_output().compile(cmd=executable or ffmpeg_exe())
    return args


def build_measure_command(
    source: str | os.PathLike[str], *, channels: int, executable: str | None = None
) -> list[str]:
    """ffmpeg arguments that decode ``source``, downmix it as a transcode to ``channels``
    would, and log its EBU R128 summary: the first pass of loudness normalisation."""
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, not {channels}")
    audio = ffmpeg.input(_input_url(source)).audio
    measured = audio.filter("aresample", ochl="mono" if channels == 1 else "stereo").filter(
        "ebur128", peak="true", framelog="verbose"
    )
    graph = ffmpeg.output(measured, "-", format="null").global_args(
        "-hide_banner", "-nostdin", "-loglevel", "level+info", "-nostats"
    )
    args: list[str] = graph.compile(cmd=executable or ffmpeg_exe())
    return args


async def measure_loudness(
    source: str | os.PathLike[str],
    *,
    channels: int,
    timeout: float | None = None,  # noqa: ASYNC109 - stops ffmpeg gracefully, as transcode
    terminate_grace: float = 5.0,
    executable: str | None = None,
) -> Loudness:
    """Decode ``source`` once and measure its loudness as ``channels`` channels.

    Raises as :func:`transcode` does (BadInput, FfmpegFailed, TranscodeTimeout);
    cancellation kills ffmpeg and propagates.
    """
    args = await asyncio.to_thread(
        functools.partial(build_measure_command, source, channels=channels, executable=executable)
    )
    stderr = _StderrLog()
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise TranscodeError(f"cannot start ffmpeg {args[0]!r}: {exc}") from exc
    assert process.stderr is not None
    drain = asyncio.create_task(_drain(process.stderr, stderr))
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                await drain
                returncode = await process.wait()
        except TimeoutError as exc:
            timed_out = True
            raise TranscodeTimeout(
                f"measuring loudness took longer than {timeout:g} s; ffmpeg was stopped"
            ) from exc
        if returncode != 0:
            raise _failure(returncode, stderr)
        try:
            return parse_ebur128_summary("\n".join(stderr.lines))
        except LoudnessParseError as exc:
            raise FfmpegFailed(str(exc), returncode=0, stderr_lines=stderr.tail()) from exc
    finally:
        await _stop(process, terminate_first=timed_out, grace=terminate_grace)
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)


def _input_url(source: str | os.PathLike[str]) -> str:
    text = os.fspath(source)
    if "://" in text:
        return text
    # "file:" stops ffmpeg reading "AC:DC.mp3" as protocol "AC".
    return "file:" + text


def _encoder_options(plan: OutputPlan) -> dict[str, Any]:
    rendition = plan.rendition
    options: dict[str, Any] = {
        "c:a": _ENCODERS[rendition.codec],
        "ar": plan.sample_rate,
        "ac": plan.channels,
    }
    if rendition.bitrate is not None:
        options["b:a"] = rendition.bitrate
    if rendition.codec == "flac":
        # ffmpeg before 6 calls FLAC in MP4 experimental; bits are pinned so that
        # "experimental" cannot also mean 32-bit FLAC, which players reject.
        options["strict"] = "-2"
        if plan.bits_per_sample == 24:
            options["sample_fmt"] = "s32"
            options["bits_per_raw_sample"] = 24
        else:
            options["sample_fmt"] = "s16"
    return options


async def transcode(
    source: str | os.PathLike[str],
    outputs: Sequence[OutputPlan],
    *,
    work_dir: Path,
    segment_seconds: float = 6.0,
    duration_hint: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    # Its own deadline rather than the caller's asyncio.timeout: expiry must terminate
    # ffmpeg gracefully and surface as a retryable TranscodeTimeout, not a cancellation.
    timeout: float | None = None,  # noqa: ASYNC109
    waveform_points: int = 2000,
    terminate_grace: float = 5.0,
    gain_db: float = 0.0,
    executable: str | None = None,
) -> TranscodeResult:
    """Run one ffmpeg that writes every planned output; measure loudness and peaks.

    ``source`` is a local path or a URL ffmpeg reads (a presigned S3 URL, say).
    ``on_progress`` gets fractions of ``duration_hint`` that only grow, below 1.0 while
    ffmpeg runs and exactly 1.0 once when it has finished. ``timeout`` bounds the whole
    run (None: unbounded, for callers that bound it themselves). ``executable`` is the
    ffmpeg to run (default: :func:`transcoder.ffmpeg.ffmpeg_exe`).

    Raises :class:`BadInput` when ffmpeg cannot read the source, :class:`FfmpegFailed`
    for other failures, :class:`TranscodeTimeout` past the deadline; cancellation kills
    ffmpeg, removes partial outputs and propagates.
    """
    waveform_path = work_dir / f"waveform-{uuid.uuid4().hex}.s16le"
    # Locating ffmpeg searches PATH (stat calls): off the event loop.
    args = await asyncio.to_thread(
        functools.partial(
            build_command,
            source,
            outputs,
            segment_seconds=segment_seconds,
            waveform_path=waveform_path,
            gain_db=gain_db,
            executable=executable,
        )
    )
    created = [plan.path for plan in outputs] + [waveform_path]
    await asyncio.to_thread(_make_parents, created)
    progress = _Progress(duration_hint, on_progress)
    stderr = _StderrLog()
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:  # a missing or non-executable ffmpeg: the machine, not the file
        raise TranscodeError(f"cannot start ffmpeg {args[0]!r}: {exc}") from exc
    assert process.stdout is not None
    assert process.stderr is not None
    cpu = _CpuClock(process.pid)
    readers = [
        asyncio.create_task(_follow_progress(process.stdout, progress, cpu)),
        asyncio.create_task(_drain(process.stderr, stderr)),
    ]
    succeeded = False
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                # The readers end when ffmpeg closes its pipes, i.e. when it exits; a
                # failing progress callback ends the run early.
                for reader in readers:
                    await reader
                returncode = await process.wait()
        except TimeoutError as exc:
            timed_out = True
            raise TranscodeTimeout(f"ffmpeg ran longer than {timeout:g} s and was stopped") from exc
        wall = time.monotonic() - started
        if returncode != 0:
            raise _failure(returncode, stderr)
        try:
            loudness = parse_ebur128_summary("\n".join(stderr.lines))
        except LoudnessParseError as exc:
            raise FfmpegFailed(str(exc), returncode=0, stderr_lines=stderr.tail()) from exc
        peaks = await asyncio.to_thread(peaks_from_pcm, waveform_path, waveform_points)
        sizes = await asyncio.to_thread(_sizes, [plan.path for plan in outputs])
        progress.finish()
        succeeded = True
        return TranscodeResult(
            outputs=[
                RenditionOutput(plan, size) for plan, size in zip(outputs, sizes, strict=True)
            ],
            loudness=loudness,
            peaks=peaks,
            wall_seconds=wall,
            cpu_seconds=cpu.seconds,
        )
    finally:
        await _stop(process, terminate_first=timed_out, grace=terminate_grace)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.to_thread(_remove, [waveform_path] if succeeded else created)


class _StderrLog:
    """ffmpeg's log, bounded: the last lines, and apart from them the last problems.

    The problems (warnings and errors) make the tail an error carries: the cause of a
    failure is often followed by dozens of lines of stream descriptions.
    """

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self.problems: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._level = "info"

    def add(self, line: str) -> None:
        match = _LEVEL_TAG.match(line)
        if match:
            self._level = match.group(2)
            line = (match.group(1) or "") + line[match.end() :]
        self.lines.append(line)
        if self._level in _PROBLEM_LEVELS:
            self.problems.append(line)

    def tail(self) -> list[str]:
        return list(self.problems) or list(self.lines)[-STDERR_TAIL_LINES:]


def _failure(returncode: int, log: _StderrLog) -> FfmpegFailed:
    lines = log.tail()
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        return FfmpegFailed(
            f"ffmpeg was killed by signal {-returncode} {name}".strip(),
            returncode=returncode,
            stderr_lines=lines,
        )
    for line in [*log.problems, *log.lines]:
        match = _BAD_INPUT.search(line)
        if match:
            return BadInput(
                f"ffmpeg cannot read the source: {match.group(0)}",
                returncode=returncode,
                stderr_lines=lines,
            )
    return FfmpegFailed("ffmpeg failed", returncode=returncode, stderr_lines=lines)


async def _stop(
    process: asyncio.subprocess.Process, *, terminate_first: bool, grace: float
) -> None:
    """End ffmpeg if it still runs: SIGTERM and a grace period if asked, then SIGKILL."""
    if process.returncode is not None:
        return
    if terminate_first:
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            process.terminate()
            await asyncio.wait_for(process.wait(), grace)
            return
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    # SIGKILL cannot be ignored; the bound only guards against a wedged kernel.
    await asyncio.wait_for(process.wait(), max(grace, 5.0))


class _Progress:
    """Turns ffmpeg's out_time into fractions that only grow, with 1.0 reserved for done."""

    def __init__(self, duration: float | None, callback: Callable[[float], None] | None) -> None:
        self._duration = duration if duration and duration > 0 else None
        self._callback = callback
        self._last = -1.0
        self._finished = False
        self.out_time_us = 0

    def update(self, out_time_us: int) -> None:
        self.out_time_us = max(self.out_time_us, out_time_us)
        if self._duration is None:
            return
        fraction = min(0.999, max(0.0, out_time_us / 1e6 / self._duration))
        self._emit(fraction)

    def finish(self) -> None:
        if not self._finished:
            self._emit(1.0)
            self._finished = True

    def _emit(self, fraction: float) -> None:
        if fraction > self._last and self._callback is not None:
            self._last = fraction
            self._callback(fraction)


class _CpuClock:
    """User + system seconds of a running process, sampled from /proc (Linux).

    asyncio reaps the child without its rusage, so the last sample taken while it ran
    stands in: a lower bound, short by whatever ffmpeg spent after it (up to one
    progress period, 0.5 s, when the final sample comes too late to find the process).
    """

    def __init__(self, pid: int) -> None:
        self._path = Path(f"/proc/{pid}/stat")
        self.seconds: float | None = None

    def sample(self) -> None:
        """Blocking: call in a worker thread."""
        try:
            text = self._path.read_text()
        except OSError:
            return  # exited already, or no /proc
        fields = text[text.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        self.seconds = ticks / os.sysconf("SC_CLK_TCK")


async def _follow_progress(
    stream: asyncio.StreamReader, progress: _Progress, cpu: _CpuClock
) -> None:
    async for line in _lines(stream):
        key, _, value = line.partition("=")
        if key == "out_time_us":
            if value.strip().lstrip("-").isdigit():
                progress.update(int(value))
        elif key == "progress":
            await asyncio.to_thread(cpu.sample)


async def _drain(stream: asyncio.StreamReader, log: _StderrLog) -> None:
    async for line in _lines(stream):
        log.add(line)


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Lines of a pipe, each cut to a bounded length (readline would fail on huge lines)."""
    pending = b""
    while True:
        chunk = await stream.read(_READ_CHUNK)
        if not chunk:
            break
        pending += chunk
        *complete, pending = re.split(rb"\r\n|\r|\n", pending)
        for raw in complete:
            yield raw[:_STDERR_LINE_CHARS].decode("utf-8", "replace")
        pending = pending[-_STDERR_LINE_CHARS:]
    if pending:
        yield pending.decode("utf-8", "replace")


def _make_parents(paths: list[Path]) -> None:
    for parent in {path.parent for path in paths}:
        parent.mkdir(parents=True, exist_ok=True)


def _sizes(paths: list[Path]) -> list[int]:
    return [path.stat().st_size for path in paths]


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
