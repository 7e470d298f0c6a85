"""Progressive transcodes made as they are sent: one ffmpeg writing MP3, Opus (in Ogg) or
AAC (ADTS) to its stdout, for players that ask for a format or a lower bitrate than the
original (the Subsonic API's ``stream``).

``choose`` decides, without I/O, whether a request gets the original or a transcode and
at which bitrate; ``stream`` runs ffmpeg and yields its output in chunks: bounded memory
(one pipe read at a time, at the reader's pace), a deadline, and ffmpeg killed when the
reader stops early (the client left) or is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from transcoder.errors import FfmpegFailed, TranscodeTimeout
from transcoder.ffmpeg import ffmpeg_exe

__all__ = ["BITRATES", "CHUNK", "FORMATS", "Format", "Progressive", "choose", "command", "stream"]


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    encoder: str
    muxer: str
    content_type: str
    suffix: str
    default_kbps: int
    max_kbps: int


FORMATS: dict[str, Format] = {
    "mp3": Format("mp3", "libmp3lame", "mp3", "audio/mpeg", "mp3", 192, 320),
    "opus": Format("opus", "libopus", "ogg", "audio/ogg", "opus", 128, 256),
    "aac": Format("aac", "aac", "adts", "audio/aac", "aac", 160, 320),
}
# The bitrates a transcode is made at (kbps): a request's maximum is rounded down to one,
# so that requests for 127 and 128 share one cached file.
BITRATES = (32, 48, 64, 96, 128, 160, 192, 256, 320)
# Source codecs each format name stands for, for "the original is already that format".
_SAME = {"mp3": {"mp3"}, "opus": {"opus"}, "aac": {"aac"}}
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Progressive:
    """A transcode to make: ``format`` at ``kbps``."""

    format: Format
    kbps: int

    @property
    def name(self) -> str:
        return f"{self.format.name}_{self.kbps}"


def _snap(kbps: int) -> int:
    return max([b for b in BITRATES if b <= kbps], default=BITRATES[0])


def choose(
    requested: str | None,
    max_kbps: int,
    *,
    source_codec: str | None,
    source_kbps: int | None,
    default: str = "mp3",
) -> Progressive | None:
    """The transcode a request asks for, or None for the original.

    ``requested``: a format name, "raw" (the original whatever the bitrate), or None (the
    original unless it is above ``max_kbps``, which is then met with ``default``).
    ``max_kbps`` 0 means no limit. Raises ValueError for a format not in FORMATS."""
    if requested == "raw":
        return None
    if requested is not None and requested not in FORMATS:
        raise ValueError(f"format must be raw or one of {', '.join(FORMATS)}, not {requested!r}")
    within = max_kbps <= 0 or (source_kbps is not None and source_kbps <= max_kbps)
    if requested is None and within:
        return None
    chosen = FORMATS[requested or default]
    if within and (source_codec or "") in _SAME[chosen.name]:
        return None  # already that format, at a rate the client accepts
    ceiling = chosen.default_kbps if max_kbps <= 0 else min(max_kbps, chosen.max_kbps)
    return Progressive(chosen, _snap(ceiling))


def command(executable: str, source: str, plan: Progressive, *, offset: float = 0.0) -> list[str]:
    """The ffmpeg command writing ``plan`` to stdout, from ``offset`` seconds in."""
    seek = ["-ss", f"{offset:.3f}"] if offset > 0 else []
    input_url = source if "://" in source else "file:" + os.fspath(source)
    channels = ["-ac", "2"]
    rate = ["-ar", "48000"] if plan.format.name == "opus" else []
    return [
        executable, "-hide_banner", "-nostdin", "-loglevel", "error",
        *seek, "-i", input_url,
        "-map", "0:a:0", "-map_metadata", "-1", "-vn", *channels, *rate,
        "-c:a", plan.format.encoder, "-b:a", f"{plan.kbps}k",
        "-f", plan.format.muxer, "pipe:1",
    ]  # fmt: skip


async def stream(
    source: str,
    plan: Progressive,
    *,
    offset: float = 0.0,
    timeout: float,  # noqa: ASYNC109 - ffmpeg is killed at the deadline, not cancelled
    executable: str | None = None,
) -> AsyncGenerator[bytes]:
    """ffmpeg's output for ``plan``, chunk by chunk. Raises FfmpegFailed when ffmpeg
    fails (after what it wrote), TranscodeTimeout past ``timeout`` seconds. Closing the
    iterator early (or cancelling its reader) kills ffmpeg."""
    process = await asyncio.create_subprocess_exec(
        *command(executable or ffmpeg_exe(), source, plan, offset=offset),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    errors: deque[str] = deque(maxlen=30)

    async def drain(stderr: asyncio.StreamReader) -> None:
        async for line in stderr:
            errors.append(line.decode("utf-8", "replace").rstrip())

    drainer = asyncio.create_task(drain(process.stderr))
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TranscodeTimeout(f"the transcode ran past {timeout:.0f} s")
            try:
                chunk = await asyncio.wait_for(process.stdout.read(CHUNK), left)
            except TimeoutError:
                raise TranscodeTimeout(f"the transcode ran past {timeout:.0f} s") from None
            if not chunk:
                break
            yield chunk
        returncode = await asyncio.wait_for(
            process.wait(), max(1.0, deadline - asyncio.get_running_loop().time())
        )
        await asyncio.wait_for(drainer, 5.0)
        if returncode != 0:
            raise FfmpegFailed("ffmpeg failed", returncode=returncode, stderr_lines=list(errors))
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)
        # Read the pipes to their end (a killed ffmpeg's is near): their transports
        # close then, and the process is reaped.
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(process.communicate(), 5.0)
