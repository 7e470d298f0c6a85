"""`streamer logs FILE`: what a server's JSON log says, read in one pass.

The analysis is streamer.maintenance.log_report's; this module reads the file (``-`` for
stdin, ``.gz`` for a rotated one) line by line and prints the report as text or JSON.
A file that cannot be read, or a bad option, exits 2 with one line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from streamer.maintenance.log_report import (
    BUCKETS,
    LogReport,
    analyse,
    parse_bucket,
    report_as_dict,
)
from streamer.settings import Settings

__all__ = ["COMMANDS", "add_parser", "logs_command", "render_text"]


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 instant (2026-12-01T10:00:00Z): {text!r}"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _bucket(text: str) -> timedelta:
    try:
        return parse_bucket(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    logs_p = sub.add_parser(
        "logs",
        parents=[common],
        help="summarise a JSON log file: statuses, slow routes, errors, traffic over time",
        description="Read a log the server wrote (JSON lines) and report the status mix, "
        "the slowest routes (p50/p95/p99), the most frequent errors and the requests per "
        "time bucket. Lines that are not JSON log lines are skipped and counted.",
    )
    logs_p.add_argument(
        "file", metavar="FILE", help="a log file (.gz read as gzip), or - for stdin"
    )
    logs_p.add_argument("--format", choices=("text", "json"), default="text")
    logs_p.add_argument(
        "--since", type=_instant, metavar="INSTANT", help="only lines at or after it (ISO 8601)"
    )
    logs_p.add_argument(
        "--until", type=_instant, metavar="INSTANT", help="only lines before it (ISO 8601)"
    )
    logs_p.add_argument(
        "--bucket",
        type=_bucket,
        metavar="SIZE",
        help=f"requests per bucket of this size ({', '.join(BUCKETS)}; default: from the span)",
    )
    logs_p.add_argument(
        "--top", type=int, default=10, metavar="N", help="routes and errors listed (default: 10)"
    )


@contextmanager
def _lines(name: str) -> Iterator[TextIO]:
    if name == "-":
        yield sys.stdin
        return
    path = Path(name)
    # errors="replace": one line of bad bytes is skipped as garbage, not the end of the run.
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as stream:
            yield stream
    else:
        with path.open(encoding="utf-8", errors="replace") as stream:
            yield stream


def logs_command(_settings: Settings, args: argparse.Namespace) -> int:
    if args.top < 1:
        print("streamer: --top must be at least 1", file=sys.stderr)
        return 2
    try:
        with _lines(args.file) as stream:
            report = analyse(
                stream, since=args.since, until=args.until, bucket=args.bucket, top=args.top
            )
    except (OSError, EOFError) as exc:  # EOFError: a truncated .gz
        print(f"streamer: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.format == "json":
            json.dump(report_as_dict(report), sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(render_text(report))
        sys.stdout.flush()
    except BrokenPipeError:  # `streamer logs ... | head`
        return 0
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {"logs": logs_command}


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}"


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _bucket_name(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def render_text(report: LogReport) -> str:
    out: list[str] = []
    add = out.append
    add(
        f"{report.lines:,} lines: {report.requests:,} requests, {report.error_lines:,} "
        f"error lines, {report.other_lines:,} other log lines, {report.skipped:,} skipped "
        f"(not JSON log lines), {report.filtered:,} outside --since/--until"
    )
    if report.first is not None and report.last is not None:
        span = (report.last - report.first).total_seconds()
        add(f"from {_when(report.first)} to {_when(report.last)} ({_span(span)})")

    add("")
    add("Status mix")
    if not report.status_classes:
        add("  no requests")
    for name, count in report.status_classes.items():
        add(f"  {name}  {count:>12,}  {count / report.requests:6.1%}")
    if report.top_statuses:
        add("  top: " + ", ".join(f"{status} ({count:,})" for status, count in report.top_statuses))

    add("")
    add(f"Slowest routes (by p95, of {_count(report.routes, 'route')})")
    if report.slowest_routes:
        width = max(len("route"), *(len(t.route) for t in report.slowest_routes))
        add(
            f"  {'route':<{width}}  {'count':>10}  {'p50 ms':>9}  {'p95 ms':>9}  "
            f"{'p99 ms':>9}  {'max ms':>9}"
        )
        for t in report.slowest_routes:
            add(
                f"  {t.route:<{width}}  {t.count:>10,}  {_ms(t.p50_ms):>9}  {_ms(t.p95_ms):>9}  "
                f"{_ms(t.p99_ms):>9}  {_ms(t.max_ms):>9}"
            )
    else:
        add("  no requests")

    add("")
    add(f"Top errors (of {_count(report.error_groups, 'kind')})")
    if not report.top_errors:
        add("  no error lines")
    for error in report.top_errors:
        what = f"{error.type}: {error.message}" if error.type else error.message
        add(f"  {error.count:,} x {what}")
        add(f"      at {error.place}" if error.type else f"      logged by {error.place}")
        request = f", request {error.sample_request_id}" if error.sample_request_id else ""
        add(f"      first {_when(error.first_seen)}, last {_when(error.last_seen)}{request}")
        if error.type:
            add(f"      logged as: {error.sample_message}")

    add("")
    add(f"Requests per {_bucket_name(report.bucket_seconds)}")
    if not report.buckets:
        add("  no lines")
    most = max((b.requests for b in report.buckets), default=0)
    for b in report.buckets:
        bar = "#" * round(40 * b.requests / most) if most else ""
        add(
            f"  {b.start.strftime('%Y-%m-%dT%H:%MZ')}  {b.requests:>10,}  "
            f"5xx {b.server_errors:>6,}  errors {b.error_lines:>6,}  {bar}"
        )
    return "\n".join(out) + "\n"
