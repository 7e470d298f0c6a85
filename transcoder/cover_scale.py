"""A cover scaled down for a player that asks for a size (Subsonic's getCoverArt): one
ffmpeg reading the image from stdin and writing a JPEG no wider or taller than ``size``
(never enlarged, aspect kept) to stdout, under a deadline, killed on cancel."""

from __future__ import annotations

import asyncio
import contextlib

from transcoder.errors import FfmpegFailed, TranscodeTimeout

__all__ = ["scale_cover"]


async def scale_cover(data: bytes, size: int, *, executable: str, timeout: float = 20.0) -> bytes:  # noqa: ASYNC109
    """The JPEG of ``data`` (any image ffmpeg reads) fitted into ``size`` x ``size``."""
    fit = (
        f"scale=w='min({size},iw)':h='min({size},ih)':force_original_aspect_ratio=decrease,"
        "format=yuvj420p"
    )
    process = await asyncio.create_subprocess_exec(
        executable, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-i", "pipe:0", "-frames:v", "1", "-vf", fit, "-c:v", "mjpeg", "-q:v", "3",
        "-f", "image2pipe", "pipe:1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(data), timeout)
    except TimeoutError:
        raise TranscodeTimeout(f"scaling a cover ran past {timeout:.0f} s") from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5.0)
    if process.returncode != 0 or not out:
        lines = err.decode("utf-8", "replace").splitlines()[-10:]
        raise FfmpegFailed("ffmpeg could not scale the cover", returncode=process.returncode or 0,
                           stderr_lines=lines)  # fmt: skip
    return out
