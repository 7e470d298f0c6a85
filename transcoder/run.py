"""A track's transcode: decode once, encode every rendition, measure, draw peaks.

The filter graph (built with ffmpeg-python)::

    [0:a] aresample=ochl=mono|stereo (downmix wider sources)
          asplit=N+2 ─┬─ rendition 1 ─> fragmented MP4  (-ar/-ac/-c:a per OutputPlan)
                      ├─ ...
                      ├─ rendition N ─> fragmented MP4
                      ├─ ebur128=peak=true ─> null muxer   (summary on stderr)
                      └─ pan to mono, aresample=4000 ─> raw s16le in work_dir (waveform)

It runs in one of two layouts (:func:`choose_layout`). "one": a single ffmpeg runs all of
it. "parallel", on more than one CPU: the same graph in a decoding process writes each
rendition's samples, resampled and in the encoder's sample format, as raw PCM into a pipe,
and one encoding process per rendition turns its pipe into the fragmented MP4. ffmpeg 5.1
encodes every rendition on its one main thread, and even 7 and newer, which thread their
encoders, feed them all from one filter-graph thread, so separate processes are the faster
with both. The encoders get the very samples the one-process layout hands its encoders, so
the renditions come out the same; the source is still read once (it may be a FIFO or a
presigned URL).

Progress comes from ``-progress pipe:1`` of the process that reads the source; every
stderr is drained continuously into a bounded buffer (its tail goes into errors, and the
ebur128 summary is parsed from it). Every run has a deadline: on expiry every ffmpeg is
terminated, then killed after a grace period; on cancellation, or when one of them fails,
they are killed at once. Either way partial outputs are removed before the exception
propagates.

Loudness is measured after the downmix, on what listeners of the renditions hear (and
what a normalisation gain would be applied to). A mono source is measured as one
channel, as EBU R128 prescribes (no dual-mono +3 dB).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
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
from typing import Any, Literal, NamedTuple

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
    "Layout",
    "RenditionOutput",
    "TranscodeResult",
    "build_command",
    "build_decode_command",
    "build_encode_command",
    "build_measure_command",
    "choose_layout",
    "measure_loudness",
    "transcode",
]

Layout = Literal["one", "parallel"]

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

_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-loglevel", "level+info", "-nostats")
# Room in each pipe of the parallel layout (Linux's unprivileged maximum): the decoder
# writes the renditions' pipes in turn on one thread, so slack lets each encoder run on
# while the decoder waits on another's.
_PIPE_BYTES = 1 << 20


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
    """The ffmpeg argument list of a one-process run (see the module docstring for the graph).

    ``gain_db`` applies a linear gain to everything after the downmix (loudness
    normalisation): the renditions, the loudness measured and the waveform.
    """
    _check_segment(segment_seconds)

    def encode(branch: Any, index: int, plan: OutputPlan) -> Any:
        return ffmpeg.output(
            branch, str(plan.path), **_fmp4_options(segment_seconds), **_encoder_options(plan)
        )

    nodes = _graph(source, outputs, waveform_path=waveform_path, gain_db=gain_db, sink=encode)
    graph = ffmpeg.merge_outputs(*nodes).global_args(*_GLOBAL_ARGS, "-progress", "pipe:1")
    args: list[str] = graph.overwrite_output().compile(cmd=executable or ffmpeg_exe())
    return args


def build_decode_command(
    source: str | os.PathLike[str],
    outputs: Sequence[OutputPlan],
    *,
    pipe_fds: Sequence[int],
    waveform_path: Path,
    gain_db: float = 0.0,
    executable: str | None = None,
) -> list[str]:
    """The decoding process of a parallel run: :func:`build_command`'s graph, with each
    rendition's branch written to the file descriptor at its index in ``pipe_fds`` as raw
    PCM (:func:`build_encode_command` reads it) instead of being encoded."""
    if len(pipe_fds) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs need as many pipes, not {len(pipe_fds)}")

    def raw(branch: Any, index: int, plan: OutputPlan) -> Any:
        # The output's -ar/-ac and sample format make the graph resample and convert here,
        # exactly as it does for an encoder in the one-process layout.
        return ffmpeg.output(
            branch,
            f"pipe:{pipe_fds[index]}",
            format=_pcm_format(plan),
            ar=plan.sample_rate,
            ac=plan.channels,
        )

    nodes = _graph(source, outputs, waveform_path=waveform_path, gain_db=gain_db, sink=raw)
    graph = ffmpeg.merge_outputs(*nodes).global_args(*_GLOBAL_ARGS, "-progress", "pipe:1")
    args: list[str] = graph.overwrite_output().compile(cmd=executable or ffmpeg_exe())
    return args


def build_encode_command(
    plan: OutputPlan, *, segment_seconds: float, executable: str | None = None
) -> list[str]:
    """An encoding process of a parallel run: raw PCM on stdin, as
    :func:`build_decode_command` writes it for ``plan``, into ``plan``'s fragmented MP4."""
    _check_segment(segment_seconds)
    audio = ffmpeg.input(
        "pipe:0", format=_pcm_format(plan), ar=plan.sample_rate, ac=plan.channels
    ).audio
    output = ffmpeg.output(
        audio, str(plan.path), **_fmp4_options(segment_seconds), **_encoder_options(plan)
    )
    args: list[str] = (
        output.global_args(*_GLOBAL_ARGS).overwrite_output().compile(cmd=executable or ffmpeg_exe())
    )
    return args


def choose_layout(*, cpus: int) -> Layout:
    """How to run transcodes on a machine with ``cpus`` CPUs (pure).

    Parallel processes wherever there is a second CPU, with every ffmpeg measured (5.1,
    which encodes every rendition on its one main thread, and 9.0, which threads its
    encoders but keeps them waiting on one filter-graph thread: docs/performance.md); one
    process on one CPU, where the pipes would only add work.
    """
    return "parallel" if cpus >= 2 else "one"


def _check_segment(segment_seconds: float) -> None:
    if segment_seconds <= 0:
        raise ValueError("segment_seconds must be positive")


def _graph(
    source: str | os.PathLike[str],
    outputs: Sequence[OutputPlan],
    *,
    waveform_path: Path,
    gain_db: float,
    sink: Callable[[Any, int, OutputPlan], Any],
) -> list[Any]:
    """The output nodes of the graph: ``sink`` makes each rendition's, then loudness and
    the waveform."""
    if not outputs:
        raise ValueError("no outputs to transcode to")
    channels = {plan.channels for plan in outputs}
    if len(channels) != 1 or not channels <= {1, 2}:
        raise ValueError(f"all outputs must share one channel count of 1 or 2, not {channels}")
    (channel_count,) = channels
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
    nodes: list[Any] = [sink(branches[index], index, plan) for index, plan in enumerate(outputs)]
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
    return nodes


def _fmp4_options(segment_seconds: float) -> dict[str, Any]:
    return {
        "format": "mp4",
        "frag_duration": round(segment_seconds * 1_000_000),
        "movflags": "+empty_moov+default_base_moof",
        "map_metadata": "-1",
        "map_chapters": "-1",
    }


def _pcm_format(plan: OutputPlan) -> str:
    """The raw sample format a rendition's samples cross a pipe in: the one its encoder takes
    (float for AAC and Opus, FLAC's pinned integer format), so nothing is converted twice."""
    if plan.rendition.codec == "flac":
        return "s32le" if plan.bits_per_sample == 24 else "s16le"
    return "f32le"


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
    graph = ffmpeg.output(measured, "-", format="null").global_args(*_GLOBAL_ARGS)
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
    layout: Layout | None = None,
) -> TranscodeResult:
    """Write every planned output from one decode of ``source``; measure loudness and peaks.

    ``source`` is a local path or a URL ffmpeg reads (a presigned S3 URL, say).
    ``on_progress`` gets fractions of ``duration_hint`` that only grow, below 1.0 while
    ffmpeg runs and exactly 1.0 once when it has finished. ``timeout`` bounds the whole
    run (None: unbounded, for callers that bound it themselves). ``executable`` is the
    ffmpeg to run (default: :func:`transcoder.ffmpeg.ffmpeg_exe`); ``layout`` how to run it
    (default: :func:`choose_layout` for the CPUs this process may use).

    Raises :class:`BadInput` when ffmpeg cannot read the source, :class:`FfmpegFailed`
    for other failures, :class:`TranscodeTimeout` past the deadline; cancellation kills
    ffmpeg, removes partial outputs and propagates.
    """
    # Locating ffmpeg searches PATH (stat calls): off the event loop.
    exe = executable if executable else await asyncio.to_thread(ffmpeg_exe, None)
    if layout is None:
        layout = choose_layout(cpus=len(os.sched_getaffinity(0)))
    waveform_path = work_dir / f"waveform-{uuid.uuid4().hex}.s16le"
    created = [plan.path for plan in outputs] + [waveform_path]
    pipes: list[tuple[int, int]] = []
    try:
        if layout == "one":
            args = build_command(
                source,
                outputs,
                segment_seconds=segment_seconds,
                waveform_path=waveform_path,
                gain_db=gain_db,
                executable=exe,
            )
            commands = [_Command(args, progress=True)]
        else:
            encoders = [
                build_encode_command(plan, segment_seconds=segment_seconds, executable=exe)
                for plan in outputs
            ]
            pipes = [_pipe() for _ in outputs]
            writers = tuple(write for _, write in pipes)
            decoder = build_decode_command(
                source,
                outputs,
                pipe_fds=writers,
                waveform_path=waveform_path,
                gain_db=gain_db,
                executable=exe,
            )
            commands = [_Command(decoder, pass_fds=writers, progress=True)] + [
                _Command(args, stdin=read) for args, (read, _) in zip(encoders, pipes, strict=True)
            ]
        await asyncio.to_thread(_make_parents, created)
    except BaseException:
        _close([fd for pair in pipes for fd in pair])
        raise
    progress = _Progress(duration_hint, on_progress)
    started = time.monotonic()
    succeeded = False
    try:
        logs, cpu_seconds = await _run_processes(
            commands,
            parent_fds=[fd for pair in pipes for fd in pair],
            progress=progress,
            timeout=timeout,
            terminate_grace=terminate_grace,
        )
        wall = time.monotonic() - started
        # The first process runs the graph's analysis branches in either layout.
        try:
            loudness = parse_ebur128_summary("\n".join(logs[0].lines))
        except LoudnessParseError as exc:
            raise FfmpegFailed(str(exc), returncode=0, stderr_lines=logs[0].tail()) from exc
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
            cpu_seconds=cpu_seconds,
        )
    finally:
        await asyncio.to_thread(_remove, [waveform_path] if succeeded else created)


def _pipe() -> tuple[int, int]:
    read, write = os.pipe()  # not inherited but by the child given it (pass_fds, stdin)
    with contextlib.suppress(OSError):  # a lower limit only costs some overlap
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    return read, write


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


@dataclass(frozen=True)
class _Command:
    """One ffmpeg of a run: its arguments, its stdin, the descriptors it inherits, and
    whether it reports ``-progress`` on stdout."""

    args: list[str]
    stdin: int = asyncio.subprocess.DEVNULL
    pass_fds: tuple[int, ...] = ()
    progress: bool = False


async def _run_processes(
    commands: Sequence[_Command],
    *,
    parent_fds: Sequence[int],
    progress: _Progress,
    timeout: float | None,  # noqa: ASYNC109 - expiry terminates gracefully (see transcode)
    terminate_grace: float,
) -> tuple[list[_StderrLog], float | None]:
    """Start every command, wait until all have exited, and return their logs and CPU time.

    ``parent_fds`` (the pipes between them) are closed here once every child holds its
    ends: an encoder sees the end of its input only when no writer is left open. Raises
    the first failure (the reader of the source's own when it could not read it), or
    TranscodeTimeout; every process is stopped before this returns or raises.
    """
    processes: list[asyncio.subprocess.Process] = []
    logs = [_StderrLog() for _ in commands]
    drains: list[asyncio.Task[None]] = []
    tasks: list[asyncio.Task[Any]] = []
    timed_out = False
    try:
        try:
            for command in commands:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        *command.args,
                        stdin=command.stdin,
                        stdout=asyncio.subprocess.PIPE
                        if command.progress
                        else asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.PIPE,
                        pass_fds=command.pass_fds,
                    )
                )
        except OSError as exc:  # a missing or non-executable ffmpeg: the machine, not the file
            raise TranscodeError(f"cannot start ffmpeg {command.args[0]!r}: {exc}") from exc
        finally:
            _close(parent_fds)
        cpu = _CpuClock([process.pid for process in processes])
        readers: list[asyncio.Task[None]] = []
        for process, command, log in zip(processes, commands, logs, strict=True):
            assert process.stderr is not None
            drains.append(asyncio.create_task(_drain(process.stderr, log)))
            if command.progress:
                assert process.stdout is not None
                readers.append(asyncio.create_task(_follow_progress(process.stdout, progress, cpu)))
        waits = [asyncio.create_task(process.wait()) for process in processes]
        tasks = [*drains, *readers, *waits]
        try:
            async with asyncio.timeout(timeout):
                failed = await _wait_all([*drains, *readers], waits)
                if failed is not None:
                    # The others cannot finish without it (or it without them): stop them,
                    # then read every log to its end before choosing what to report.
                    await _stop_all(processes, terminate_first=False, grace=terminate_grace)
                    await asyncio.gather(*drains)
        except TimeoutError as exc:
            timed_out = True
            raise TranscodeTimeout(f"ffmpeg ran longer than {timeout:g} s and was stopped") from exc
        if failed is not None:
            codes = [process.returncode for process in processes]
            raise _blame(failed, codes, logs)
        return logs, cpu.seconds
    finally:
        await _stop_all(processes, terminate_first=timed_out, grace=terminate_grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _wait_all(
    readers: Sequence[asyncio.Task[None]], waits: Sequence[asyncio.Task[int]]
) -> int | None:
    """Wait for every reader and process; return the index of the first process seen to
    exit non-zero as soon as it does, None when all succeeded. A reader's exception (a
    failing progress callback) propagates."""
    pending: set[asyncio.Task[Any]] = {*readers, *waits}
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            result = task.result()
            if task in waits and result != 0:
                return waits.index(task)
    return None


def _blame(
    failed: int, returncodes: Sequence[int | None], logs: Sequence[_StderrLog]
) -> FfmpegFailed:
    """The error to raise when process ``failed`` was the first seen to fail.

    The first process reads the source: when it could not, the others only lost their
    input, so its BadInput wins whichever was seen first (BadInput is not retried).
    """
    first = returncodes[0]
    if first is not None and first != 0:
        error = _failure(first, logs[0])
        if isinstance(error, BadInput):
            return error
    code = returncodes[failed]
    # An encoder reads only its pipe: "No such file or directory" from it is about its
    # output, never the source, so it is retryable.
    return _failure(
        code if code is not None else -signal.SIGKILL, logs[failed], reads_source=failed == 0
    )


async def _stop_all(
    processes: Sequence[asyncio.subprocess.Process], *, terminate_first: bool, grace: float
) -> None:
    await asyncio.gather(
        *(_stop(process, terminate_first=terminate_first, grace=grace) for process in processes)
    )


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


def _failure(returncode: int, log: _StderrLog, *, reads_source: bool = True) -> FfmpegFailed:
    lines = log.tail()
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        return FfmpegFailed(
            f"ffmpeg was killed by signal {-returncode} {name}".strip(),
            returncode=returncode,
            stderr_lines=lines,
        )
    for line in [*log.problems, *log.lines] if reads_source else []:
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
    """User + system seconds of running processes, sampled from /proc (Linux).

    asyncio reaps each child without its rusage, so the last sample taken while it ran
    stands in: a lower bound, short by whatever each ffmpeg spent after it (up to one
    progress period, 0.5 s, when the final sample comes too late to find the process;
    longer for an encoder of the parallel layout that outlives the decoder's last report).
    """

    def __init__(self, pids: Sequence[int]) -> None:
        self._paths = [Path(f"/proc/{pid}/stat") for pid in pids]
        self._last: dict[Path, float] = {}
        self.seconds: float | None = None

    def sample(self) -> None:
        """Blocking: call in a worker thread."""
        for path in self._paths:
            try:
                text = path.read_text()
            except OSError:
                continue  # exited already, or no /proc
            fields = text[text.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
            self._last[path] = ticks / os.sysconf("SC_CLK_TCK")
        if self._last:
            self.seconds = sum(self._last.values())


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
