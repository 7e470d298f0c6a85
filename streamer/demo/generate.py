"""Making the files of a :class:`~streamer.demo.plan.LibraryPlan`: ffmpeg synthesises and
encodes each track (and each cover), mutagen tags it, broken files are written as planned.

ffmpeg runs as many at once as there are CPUs, each with a timeout (then killed).
Outputs are bit-exact (``-fflags +bitexact``: no encoder version strings, fixed Ogg
serial numbers), so one ffmpeg makes the same bytes from the same plan. A file already
in place is kept, which makes a second run cheap and an interrupted one resumable; each
file appears whole, renamed from a hidden temporary name. Blocking throughout: the CLI
runs it before anything else.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from streamer.demo.plan import BrokenPlan, CoverPlan, LibraryPlan, TrackPlan
from streamer.demo.tags import write_tags
from streamer.errors import StreamerError
from transcoder.ffmpeg import ffmpeg_exe

__all__ = [
    "MANIFEST",
    "DemoError",
    "Generated",
    "cover_command",
    "generate_library",
    "track_command",
]

MANIFEST = "demo-library.json"  # the plan, beside the files (not audio: scans skip it)
FFMPEG_TIMEOUT = 60.0  # seconds for a file, plus a second per minute of audio
_STDERR_TAIL = 2000  # characters of ffmpeg's stderr in an error

# format -> (muxer, encoder arguments)
_ENCODERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mp3": ("mp3", ("-c:a", "libmp3lame", "-q:a", "4")),  # VBR, with a Xing header
    "flac": ("flac", ("-c:a", "flac", "-sample_fmt", "s16")),
    "ogg": ("ogg", ("-c:a", "libvorbis", "-q:a", "4")),
    "opus": ("ogg", ("-c:a", "libopus", "-b:a", "96k")),
    "m4a": ("ipod", ("-c:a", "aac", "-b:a", "160k")),
    "wav": ("wav", ("-c:a", "pcm_s16le")),
}
_BITEXACT = ("-fflags", "+bitexact", "-flags", "+bitexact")

T = TypeVar("T")


class DemoError(StreamerError):
    """A file of a generated library could not be made (ffmpeg failed or timed out)."""


@dataclass(frozen=True)
class Generated:
    made: int  # files written by this run
    kept: int  # files already in place
    seconds: float


def track_command(track: TrackPlan, output: Path, *, ffmpeg: str = "ffmpeg") -> list[str]:
    """The ffmpeg command that synthesises ``track``'s sound and encodes it to ``output``:
    a chord of sine waves over pink noise, with a tremolo and fades."""
    tone, seconds, rate = track.tone, track.seconds, track.sample_rate
    inputs: list[str] = []
    for frequency in tone.frequencies:
        inputs += ["-f", "lavfi", "-i", f"sine=f={frequency}:r={rate}:d={seconds}"]
    sources = len(tone.frequencies)
    if tone.noise > 0:
        noise = f"anoisesrc=c=pink:r={rate}:a={tone.noise}:seed={tone.seed}:d={seconds}"
        inputs += ["-f", "lavfi", "-i", noise]
        sources += 1
    fade_in, fade_out = min(0.5, seconds / 4), min(1.0, seconds / 4)
    graph = (
        "".join(f"[{n}]" for n in range(sources))
        + f"amix=inputs={sources}:normalize=0,volume=0.9,tremolo=f={tone.tremolo}:d=0.3,"
        + f"afade=t=in:d={fade_in},afade=t=out:st={seconds - fade_out}:d={fade_out}"
    )
    muxer, encoder = _ENCODERS[track.format]
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        *inputs,
        "-filter_complex", graph,
        "-ac", str(track.channels), "-ar", str(rate),
        *encoder, *_BITEXACT,
        "-f", muxer, str(output),
    ]  # fmt: skip


def cover_command(cover: CoverPlan, *, ffmpeg: str = "ffmpeg") -> list[str]:
    """The ffmpeg command that draws ``cover`` (a two-colour gradient) to its stdout."""
    first, second = cover.colors
    source = f"gradients=s={cover.size}x{cover.size}:c0={first}:c1={second}:seed={cover.seed}:d=1"
    if cover.mime == "image/png":
        encoder = ["-c:v", "png", "-pix_fmt", "rgb24"]
    else:
        encoder = ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "4"]
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", source, "-frames:v", "1",
        *encoder, *_BITEXACT, "-f", "image2pipe", "-",
    ]  # fmt: skip


def generate_library(
    folder: Path,
    plan: LibraryPlan,
    *,
    jobs: int | None = None,
    on_file: Callable[[], None] | None = None,
    ffmpeg: str | None = None,
) -> Generated:
    """Make the files of ``plan`` under ``folder`` (created if missing), then write the
    plan beside them (:data:`MANIFEST`). ``jobs`` ffmpeg processes at once (default: the
    CPU count); ``on_file`` is called as each file is done, kept or made; ``ffmpeg`` is
    the binary (default: the one :func:`transcoder.ffmpeg.ffmpeg_exe` finds)."""
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    tracks = [t for t in plan.tracks if not _present(folder / t.path)]
    broken = [b for b in plan.broken if not (folder / b.path).exists()]
    kept = len(plan.tracks) + len(plan.broken) - len(tracks) - len(broken)
    for _ in range(kept):
        if on_file is not None:
            on_file()
    ffmpeg = ffmpeg_exe(ffmpeg)
    workers = max(1, jobs or os.cpu_count() or 1)
    with ThreadPoolExecutor(workers, thread_name_prefix="demo") as pool:
        needed = {t.cover.name: t.cover for t in tracks if t.cover is not None}
        drawn = _all(pool, [pool.submit(_cover, c, ffmpeg) for c in needed.values()])
        covers = dict(zip(needed, drawn, strict=True))
        work = [pool.submit(_track, folder, t, covers, ffmpeg) for t in tracks]
        work += [pool.submit(_broken, folder, b, ffmpeg) for b in broken]
        if on_file is not None:
            for future in work:
                future.add_done_callback(lambda f: _report(f, on_file))
        _all(pool, work)
    manifest: dict[str, object] = {
        "generator": "streamer demo",
        "fingerprint": plan.fingerprint(),
        "ffmpeg": _version(ffmpeg),  # the bytes depend on it
    }
    manifest.update(plan.describe())
    text = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    return Generated(len(tracks) + len(broken), kept, time.monotonic() - started)


def _all(pool: ThreadPoolExecutor, futures: list[Future[T]]) -> list[T]:
    """The results in order; on the first failure the rest are cancelled (those running
    finish) and it is raised."""
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future in done and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def _report(future: Future[None], on_file: Callable[[], None]) -> None:
    if not future.cancelled() and future.exception() is None:
        on_file()


def _present(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _run(command: list[str], what: str, timeout: float) -> bytes:
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        raise DemoError(f"ffmpeg took more than {timeout:.0f} s making {what}") from exc
    except OSError as exc:
        raise DemoError(f"cannot run ffmpeg ({command[0]}): {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-_STDERR_TAIL:]
        raise DemoError(f"ffmpeg failed making {what} (exit {done.returncode}): {tail}")
    return done.stdout


def _version(ffmpeg: str) -> str:
    """ffmpeg's first line of ``-version``, e.g. "ffmpeg version 5.1.9-0+deb12u1 ..."."""
    out = _run([ffmpeg, "-hide_banner", "-version"], "its version", FFMPEG_TIMEOUT)
    return out.decode(errors="replace").partition("\n")[0].partition(" Copyright")[0]


def _cover(cover: CoverPlan, ffmpeg: str) -> bytes:
    return _run(cover_command(cover, ffmpeg=ffmpeg), cover.name, FFMPEG_TIMEOUT)


def _encode(track: TrackPlan, output: Path, ffmpeg: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    timeout = FFMPEG_TIMEOUT + track.seconds / 60
    _run(track_command(track, output, ffmpeg=ffmpeg), track.path, timeout)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.stem}.part{path.suffix}")


def _track(folder: Path, track: TrackPlan, covers: dict[str, bytes], ffmpeg: str) -> None:
    path = folder / track.path
    temporary = _temporary(path)
    try:
        _encode(track, temporary, ffmpeg)
        cover = covers[track.cover.name] if track.cover is not None else None
        write_tags(temporary, track.format, track.tags, cover)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _broken(folder: Path, broken: BrokenPlan, ffmpeg: str) -> None:
    path = folder / broken.path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        if broken.kind == "truncated" and broken.source is not None:
            _encode(broken.source, temporary, ffmpeg)
            data = temporary.read_bytes()
            data = data[: len(data) * broken.size // 100]
        elif broken.kind == "random":
            data = random.Random(broken.seed).randbytes(broken.size)
        else:
            data = b""
        temporary.write_bytes(data)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
