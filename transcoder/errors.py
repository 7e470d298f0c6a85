"""The exception hierarchy of the transcoder.

    TranscodeError                 base; ``retryable`` says whether trying again may help
    ├── FfmpegFailed               ffmpeg exited non-zero (return code, stderr tail); retryable
    │   └── BadInput               ffmpeg cannot read or decode the source; not retryable
    ├── TranscodeTimeout           the run passed its deadline and was stopped; retryable
    └── TranscodeCancelled         the job layer's record of a cancel asked for; not retryable

``transcode()`` itself lets ``asyncio.CancelledError`` through (after killing ffmpeg and
removing partial outputs), as asyncio code must; the job layer may translate that into
:class:`TranscodeCancelled`. Lower-layer errors are chained with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BadInput",
    "FfmpegFailed",
    "TranscodeCancelled",
    "TranscodeError",
    "TranscodeTimeout",
]

# How many lines of ffmpeg's stderr an error carries: enough for the cause, small enough
# to store in a job row.
STDERR_TAIL_LINES = 30


class TranscodeError(Exception):
    """Base class of every error the transcoder raises on purpose."""

    retryable: bool = True


class FfmpegFailed(TranscodeError):
    """ffmpeg exited with a non-zero status; ``stderr_tail`` holds its last lines."""

    def __init__(self, reason: str, *, returncode: int, stderr_lines: Iterable[str] = ()) -> None:
        lines = list(stderr_lines)[-STDERR_TAIL_LINES:]
        self.reason = reason
        self.returncode = returncode
        self.stderr_tail = "\n".join(lines)
        message = f"{reason} (ffmpeg exit status {returncode})"
        if self.stderr_tail:
            message += "\n" + self.stderr_tail
        super().__init__(message)


class BadInput(FfmpegFailed):
    """ffmpeg cannot open or decode the source: retrying the same bytes cannot help."""

    retryable = False


class TranscodeTimeout(TranscodeError):
    """The run took longer than its deadline; ffmpeg was stopped and outputs removed."""


class TranscodeCancelled(TranscodeError):
    """The run was cancelled on request (raised by the job layer, not by ``transcode``)."""

    retryable = False
