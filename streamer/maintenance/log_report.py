"""What a server's JSON log says: the status mix, the slowest routes, the top errors and the
requests over time (``streamer logs``).

Pure: :func:`analyse` takes an iterable of lines (a file, stdin, a list in a test) and
returns a :class:`LogReport`; reading and printing are streamer.cli_logs'. It reads the
lines once, in order, keeping only bounded state, so a log of any size can be piped in.

The lines it understands are the two kinds the server writes (streamer.logs and
streamer.access_log): request lines, from the ``streamer.access`` logger, with ``route``,
``status`` and ``ms``; and log lines at level ``error`` or ``critical``, whose ``exc`` (a
formatted traceback, when an exception was logged) names the error's type and place. Every
line has ``ts``, ``level``, ``logger`` and ``msg``, and ``request_id`` when it was written
during a request.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "BUCKETS",
    "DurationSketch",
    "ErrorGroup",
    "LogReport",
    "RouteTiming",
    "TimeBucket",
    "analyse",
    "default_bucket",
    "error_kind",
    "parse_bucket",
    "report_as_dict",
]

ACCESS_LOGGER = "streamer.access"
ERROR_LEVELS = frozenset({"error", "critical"})

# Shown by --bucket's help; any whole number of minutes, hours or days is accepted.
BUCKETS = ("1m", "5m", "15m", "1h", "1d")
_MINUTE = 60

# Distinct error groups kept; beyond it further kinds are counted together as one, so a
# log whose messages defeat the normalisation below cannot grow memory without bound.
MAX_ERROR_GROUPS = 10_000


class DurationSketch:
    """Durations in logarithmic buckets (as DDSketch does), for percentiles in bounded
    memory.

    Why not keep the samples: a busy route logs millions of lines. Why not a fixed-size
    reservoir: it is random (two runs over one file would disagree) and keeps few samples
    of the tail, so its p99 is the least accurate figure it gives. Buckets whose bounds
    grow by a constant ratio keep every percentile within ``RELATIVE_ERROR`` of a true
    sample (tail included), deterministically, in at most about a thousand counters per
    route between a microsecond and a day. Answers are clamped to the smallest and largest
    duration seen, so one sample, or many equal ones, come back exactly.
    """

    RELATIVE_ERROR = 0.01
    _GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
    _LOG_GAMMA = math.log(_GAMMA)
    _SMALLEST = 0.001  # ms; anything below (a cached answer rounded to 0.000) counts as 0

    def __init__(self) -> None:
        self.count = 0
        self.minimum = math.inf
        self.maximum = -math.inf
        self._zeros = 0
        self._buckets: Counter[int] = Counter()

    def add(self, ms: float) -> None:
        self.count += 1
        self.minimum = min(self.minimum, ms)
        self.maximum = max(self.maximum, ms)
        if ms < self._SMALLEST:
            self._zeros += 1
        else:
            self._buckets[math.ceil(math.log(ms) / self._LOG_GAMMA)] += 1

    def quantile(self, q: float) -> float:
        """The nearest-rank q-quantile (0 < q <= 1): the smallest duration at or above which
        lie q of the samples. NaN when there are none."""
        if self.count == 0:
            return math.nan
        rank = max(1, math.ceil(q * self.count))
        seen = self._zeros
        if seen >= rank:
            return self._clamp(0.0)
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                # The bucket (gamma^(i-1), gamma^i] answers with the value whose relative
                # distance to both bounds is RELATIVE_ERROR.
                return self._clamp(2 * self._GAMMA**index / (self._GAMMA + 1))
        return self.maximum  # not reached: the buckets hold every sample

    def _clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)


@dataclass(frozen=True)
class RouteTiming:
    route: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class ErrorGroup:
    """Error lines of one kind: the same exception type, message and place, or for a
    message logged without an exception, the same logger and message."""

    type: str | None  # the exception's class; None: no exception was logged
    message: str  # numbers and ids replaced by placeholders (see _template)
    place: str  # "file:line in function" of the innermost frame, or the logger's name
    count: int
    first_seen: datetime
    last_seen: datetime
    sample_request_id: str | None  # the first line's, when it was written during a request
    sample_message: str  # the first line's msg, as written


@dataclass(frozen=True)
class TimeBucket:
    start: datetime
    requests: int
    server_errors: int  # requests answered 5xx
    error_lines: int


@dataclass(frozen=True)
class LogReport:
    lines: int  # every line read
    skipped: int  # not a JSON log object with a valid ts
    filtered: int  # outside --since/--until
    requests: int
    error_lines: int
    other_lines: int  # log lines that are neither requests nor errors
    first: datetime | None  # of the lines kept
    last: datetime | None
    status_classes: dict[str, int]  # "2xx": count, in class order
    top_statuses: list[tuple[int, int]]  # (status, count), most frequent first
    slowest_routes: list[RouteTiming]  # by p95, slowest first
    routes: int  # distinct route templates (slowest_routes holds the top ones)
    top_errors: list[ErrorGroup]  # most frequent first
    error_groups: int  # distinct groups (top_errors holds the top ones)
    bucket_seconds: int
    buckets: list[TimeBucket] = field(default_factory=list)


def parse_bucket(text: str) -> timedelta:
    """``5m``, ``1h``, ``1d``: a whole number of minutes, hours or days."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"a bucket is a number of minutes, hours or days (1m, 5m, 1h): {text!r}")
    unit = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
    return int(match[1]) * unit[match[2]]


def default_bucket(span: timedelta) -> timedelta:
    """A bucket giving roughly 30 to 300 rows for the log's span."""
    for limit, bucket in (
        (timedelta(hours=2), timedelta(minutes=1)),
        (timedelta(hours=12), timedelta(minutes=5)),
        (timedelta(days=7), timedelta(hours=1)),
    ):
        if span <= limit:
            return bucket
    return timedelta(days=1)


def analyse(
    lines: Iterable[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: timedelta | None = None,
    top: int = 10,
) -> LogReport:
    """Read ``lines`` once. ``since`` is inclusive and ``until`` exclusive (aware
    datetimes; naive ones are taken as UTC). ``bucket``: None chooses one from the span of
    the kept lines (:func:`default_bucket`). ``top`` bounds the routes, statuses and
    errors listed."""
    if bucket is not None and (bucket.total_seconds() % _MINUTE or bucket <= timedelta(0)):
        raise ValueError("a bucket is a whole number of minutes")
    since, until = _utc(since), _utc(until)
    total = skipped = filtered = requests = error_lines = other = 0
    first: datetime | None = None
    last: datetime | None = None
    statuses: Counter[int] = Counter()
    # One sketch per route template: templates are few by design (the metrics' labels,
    # streamer.observe.route_template), unlike paths.
    sketches: dict[str, DurationSketch] = {}
    errors = _ErrorGroups()
    # Counted by the minute whatever the bucket: the default is known only at the end,
    # and every bucket is a whole number of minutes. Bounded by the span, not the lines.
    minutes: dict[int, list[int]] = {}  # epoch minute -> [requests, 5xx, error lines]

    for line in lines:
        total += 1
        entry = _entry(line)
        when = _timestamp(entry) if entry is not None else None
        if entry is None or when is None:
            skipped += 1
            continue
        if (since is not None and when < since) or (until is not None and when >= until):
            filtered += 1
            continue
        first = when if first is None or when < first else first
        last = when if last is None or when > last else last
        per_minute = minutes.setdefault(int(when.timestamp()) // _MINUTE, [0, 0, 0])
        status = entry.get("status")
        if entry.get("logger") == ACCESS_LOGGER and isinstance(status, int):
            requests += 1
            statuses[status] += 1
            per_minute[0] += 1
            if status >= 500:
                per_minute[1] += 1
            ms = entry.get("ms")
            if isinstance(ms, int | float) and math.isfinite(ms) and ms >= 0:
                route = str(entry.get("route", "unmatched"))
                sketch = sketches.get(route)
                if sketch is None:
                    sketch = sketches[route] = DurationSketch()
                sketch.add(float(ms))
        elif str(entry.get("level", "")).lower() in ERROR_LEVELS:
            error_lines += 1
            per_minute[2] += 1
            errors.add(entry, when)
        else:
            other += 1

    classes: Counter[str] = Counter()
    for status, count in statuses.items():
        classes[f"{status // 100}xx"] += count
    timings = [
        RouteTiming(
            route,
            sketch.count,
            # To the microsecond, as the log writes them: more digits would be noise.
            round(sketch.quantile(0.50), 3),
            round(sketch.quantile(0.95), 3),
            round(sketch.quantile(0.99), 3),
            sketch.maximum,
        )
        for route, sketch in sketches.items()
    ]
    timings.sort(key=lambda t: (-t.p95_ms, -t.count, t.route))
    if bucket is None:
        span = (last - first) if first is not None and last is not None else timedelta(0)
        bucket = default_bucket(span)
    return LogReport(
        lines=total,
        skipped=skipped,
        filtered=filtered,
        requests=requests,
        error_lines=error_lines,
        other_lines=other,
        first=first,
        last=last,
        status_classes=dict(sorted(classes.items())),
        top_statuses=sorted(statuses.items(), key=lambda item: (-item[1], item[0]))[:top],
        slowest_routes=timings[:top],
        routes=len(timings),
        top_errors=errors.top(top),
        error_groups=len(errors),
        bucket_seconds=int(bucket.total_seconds()),
        buckets=_buckets(minutes, int(bucket.total_seconds()) // _MINUTE),
    )


def report_as_dict(report: LogReport) -> dict[str, Any]:
    """The report as JSON-ready values: instants in ISO 8601 (UTC), NaN as null."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat().replace("+00:00", "Z")
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return value

    result: dict[str, Any] = plain(asdict(report))
    result["top_statuses"] = [
        {"status": status, "count": count} for status, count in report.top_statuses
    ]
    return result


def _entry(line: str) -> Mapping[str, Any] | None:
    line = line.strip()
    if not line.startswith("{"):  # cheap: most garbage (tracebacks, banners) stops here
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _timestamp(entry: Mapping[str, Any]) -> datetime | None:
    ts = entry.get("ts")
    if not isinstance(ts, str):
        return None
    try:
        return _utc(datetime.fromisoformat(ts))
    except ValueError:
        return None


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _buckets(minutes: Mapping[int, list[int]], width: int) -> list[TimeBucket]:
    """Every bucket from the first minute's to the last's, empty ones included, so the
    series shows quiet periods as zeros rather than leaving them out."""
    if not minutes:
        return []
    sums: dict[int, list[int]] = {}
    for minute, counts in minutes.items():
        row = sums.setdefault(minute // width, [0, 0, 0])
        for i, value in enumerate(counts):
            row[i] += value
    low, high = min(sums), max(sums)
    return [
        TimeBucket(
            datetime.fromtimestamp(index * width * _MINUTE, UTC), *sums.get(index, [0, 0, 0])
        )
        for index in range(low, high + 1)
    ]


# A traceback's frames and its last line ("ValueError: boom", or a dotted class name).
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$', re.M)
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
# Parts of a message that differ between occurrences of one error: ids, numbers, quoted
# values. Replaced so that "track 12 failed" and "track 13 failed" form one group.
_VARIABLE = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<n>"),
    (re.compile(r"'[^']*'"), "'…'"),
]


def _template(message: str) -> str:
    for pattern, placeholder in _VARIABLE:
        message = pattern.sub(placeholder, message)
    return message


def _shorten(path: str) -> str:
    """A frame's file from the package on: installed packages after site-packages/, the
    project's own after the folder that holds it (streamer/, transcoder/, packager/)."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    for package in ("/streamer/", "/transcoder/", "/packager/", "/tests/"):
        if package in path:
            return package.lstrip("/") + path.rsplit(package, 1)[1]
    return path


def error_kind(entry: Mapping[str, Any]) -> tuple[str | None, str, str]:
    """(type, message template, place) of an error line."""
    exc = entry.get("exc")
    if isinstance(exc, str) and exc.strip():
        frames = list(_FRAME.finditer(exc))
        # The exception's line is the first unindented one after the innermost frame (its
        # source line and ^^^ markers are indented; a message may run on over lines).
        tail = exc[frames[-1].end() :] if frames else exc
        first = next((line for line in tail.splitlines() if line and not line[0].isspace()), "")
        match = _EXCEPTION.match(first.strip())
        if match is not None:
            place = (
                f"{_shorten(frames[-1]['file'])}:{frames[-1]['line']} in "
                f"{frames[-1]['func'].strip()}"
                if frames
                else str(entry.get("logger", ""))
            )
            return match["type"], _template(match["message"] or ""), place
    return None, _template(str(entry.get("msg", ""))), str(entry.get("logger", ""))


@dataclass(slots=True)
class _Group:
    count: int
    first_seen: datetime
    last_seen: datetime
    sample_request_id: str | None
    sample_message: str


class _ErrorGroups:
    def __init__(self) -> None:
        self._groups: dict[tuple[str | None, str, str], _Group] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, entry: Mapping[str, Any], when: datetime) -> None:
        key = error_kind(entry)
        if key not in self._groups and len(self._groups) >= MAX_ERROR_GROUPS:
            key = (None, "(further kinds of error, not told apart)", "")
        request_id = entry.get("request_id")
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = _Group(
                1,
                when,
                when,
                str(request_id) if request_id is not None else None,
                str(entry.get("msg", "")),
            )
            return
        group.count += 1
        group.first_seen = min(group.first_seen, when)
        group.last_seen = max(group.last_seen, when)
        if group.sample_request_id is None and request_id is not None:
            group.sample_request_id = str(request_id)

    def top(self, n: int) -> list[ErrorGroup]:
        ranked = sorted(self._groups.items(), key=lambda item: (-item[1].count, item[1].first_seen))
        return [
            ErrorGroup(
                kind,
                message,
                place,
                group.count,
                group.first_seen,
                group.last_seen,
                group.sample_request_id,
                group.sample_message,
            )
            for (kind, message, place), group in ranked[:n]
        ]
