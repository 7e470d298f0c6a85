"""Bounds on what a client may make a worker hold, and the arithmetic behind them.

The HTTP protocol (streamer.serving) counts a request's head as llhttp's callbacks arrive
and asks these functions for a verdict; a per-worker sweep asks them whether a connection
has been slow for too long. Nothing here does I/O or reads a clock: times are passed in.

The limits follow nginx: ``large_client_header_buffers`` (request line 414, a header field
or the whole header block 431), ``client_header_timeout``, ``client_body_timeout`` and
``worker_connections`` (see docs/http.md for the answers given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamer.settings import Settings

URI_TOO_LONG = 414
FIELDS_TOO_LARGE = 431
TIMED_OUT = 408


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """One worker's limits (settings ``request_*``, ``client_*_timeout``,
    ``max_connections_per_worker``)."""

    line_max: int = 8 * 1024  # the request target (the URL) -> 414
    field_max: int = 8 * 1024  # one header field, name and value -> 431
    block_max: int = 32 * 1024  # the whole header block -> 431
    count_max: int = 100  # header fields -> 431
    header_timeout: float = 30.0  # from a request's first byte (or the connection's start)
    body_timeout: float = 60.0  # largest gap between two reads of a body
    connections_max: int = 8192  # open connections per worker; 0: no cap

    @property
    def head_max(self) -> int:
        """Bytes a head may take on the wire before it is refused unfinished (llhttp
        holds an unfinished field in memory, so this bounds what a connection holds)."""
        return self.line_max + self.block_max + 64  # 64: method, version, line ends

    @property
    def sweep_seconds(self) -> float:
        """How often a worker looks for slow connections: a quarter of the shortest
        timeout, between 0.1 and 1 s (a timeout fires at most this late)."""
        return min(1.0, max(0.1, min(self.header_timeout, self.body_timeout) / 4))


def header_verdict(limits: RequestLimits, count: int, block: int, field: int) -> int:
    """0 while a head of ``count`` fields and ``block`` bytes whose latest field is
    ``field`` bytes long is within the limits, else the status that refuses it."""
    if field > limits.field_max or block > limits.block_max or count > limits.count_max:
        return FIELDS_TOO_LARGE
    return 0


def unfinished_head_verdict(limits: RequestLimits, line: int, received: int) -> int:
    """0 while an unfinished head of ``received`` bytes (``line`` of them the request
    target) may still grow, else the status that refuses it."""
    if line > limits.line_max:
        return URI_TOO_LONG
    if received > limits.head_max:
        return FIELDS_TOO_LARGE
    return 0


def timed_out(since: float | None, now: float, timeout: float) -> bool:
    """Whether a wait that began at ``since`` (None: no wait) has lasted ``timeout``."""
    return since is not None and now - since >= timeout


class Throttle:
    """At most one report per ``seconds``: :meth:`due` counts events and says, when a
    report is due, how many happened since the last one (else 0)."""

    __slots__ = ("_count", "_last", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._count = 0
        self._last: float | None = None

    def due(self, now: float) -> int:
        self._count += 1
        if self._last is not None and now - self._last < self.seconds:
            return 0
        self._last = now
        count, self._count = self._count, 0
        return count


# Descriptors a worker holds besides its connections and open media files: the database
# and Redis pools, log and metrics files, the listening socket, ffmpeg's pipes.
DESCRIPTOR_RESERVE = 256


def descriptors_needed(connections: int, open_files: int) -> int:
    """Descriptors a worker needs for ``connections`` at once: two each (the socket, and
    the duplicate the loop watches while a slow reader keeps it waiting), the open-file
    cache's files and the reserve."""
    return 2 * connections + open_files + DESCRIPTOR_RESERVE


def connections_allowed(configured: int, descriptor_limit: int | None, open_files: int) -> int:
    """The per-worker connection cap to run with: ``configured`` when the open-file limit
    (None: unlimited) holds that many connections, else as many as it holds, so a full
    worker answers 503 rather than failing to accept (EMFILE). ``configured`` 0 (no cap)
    under a finite limit also becomes what the limit holds; never 0 (that means no cap)."""
    if descriptor_limit is None:
        return configured
    fits = max(1, (descriptor_limit - open_files - DESCRIPTOR_RESERVE) // 2)
    return fits if configured == 0 else min(configured, fits)


def request_limits(settings: Settings) -> RequestLimits:
    """The protocol's limits from the settings (the app puts them in its lifespan state)."""
    return RequestLimits(
        line_max=settings.request_line_max,
        field_max=settings.request_header_field_max,
        block_max=settings.request_headers_max,
        count_max=settings.request_header_count_max,
        header_timeout=settings.client_header_timeout,
        body_timeout=settings.client_body_timeout,
        connections_max=settings.max_connections_per_worker,
    )
