"""Errors grouped by type and place, with counts, first and last seen and a sample request.

What the admin shows when no Sentry DSN is configured (and beside it when one is). Three
sources feed it:
- every ERROR log record with an exception: grouped by the exception's type and the
  innermost frame of our code it passed through (``module.function``; the line of the
  latest one is kept as the sample, since lines move between releases and functions
  rarely do);
- every other ERROR log record: grouped by logger and the place that logged it;
- every 5xx answer no exception explains (a 503 while storage is away): grouped as
  ``HTTP 503`` at its route template.
An exception logged twice (by the API's handler, then again on its way out) counts once.

Each worker keeps at most ``max_groups`` groups (the least recently seen go first) and
shares them with the node's other workers like the recent errors
(:mod:`streamer.worker_files`); ``read`` merges them. Messages keep their first 300
characters, digits and hex ids folded so that one bug with many ids is one group.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict, cast

from streamer.logs import request_id_var
from streamer.worker_files import WorkerFiles

__all__ = [
    "ErrorGroup",
    "ErrorGroupHandler",
    "ErrorGroups",
    "exception_place",
    "fold_message",
]

FILE_PREFIX = "error-groups-"
OUR_PACKAGES = ("streamer", "transcoder", "packager")
_MARK = "_streamer_grouped"  # set on an exception once it is counted
_FOLD = re.compile(r"\b(?:[0-9a-f]{8,}|\d+)\b", re.IGNORECASE)


class ErrorGroup(TypedDict):
    type: str  # an exception's qualified name, "log: <logger>" or "HTTP <status>"
    place: str  # module.function, or a route template for HTTP groups
    where: str  # the latest sample's file:line ("" for HTTP groups)
    message: str  # the latest sample's message, folded
    count: int
    first_seen: float  # Unix seconds
    last_seen: float
    request_id: str | None  # the latest sample's request, when it had one


def fold_message(message: str) -> str:
    """Digits and long hex ids as ``#``: the same error about two tracks is one group."""
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return _FOLD.sub("#", first_line)[:300]


def _type_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def exception_place(tb: TracebackType | None) -> tuple[str, str]:
    """(module.function, file:line) of the innermost frame in our packages, else of the
    innermost frame at all."""
    frames = list(traceback.extract_tb(tb)) if tb is not None else []
    ours = [f for f in frames if _is_ours(f.filename)]
    if not (ours or frames):
        return "unknown", ""
    frame = (ours or frames)[-1]
    return f"{_module_of(frame.filename)}.{frame.name}", f"{_short(frame.filename)}:{frame.lineno}"


def _is_ours(filename: str) -> bool:
    parts = Path(filename).parts
    return any(package in parts for package in OUR_PACKAGES) and "site-packages" not in parts


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for index, part in enumerate(parts):
        if part in OUR_PACKAGES:
            return "/".join(parts[index:])
    return Path(filename).name


def _module_of(filename: str) -> str:
    return _short(filename).removesuffix(".py").replace("/", ".")


class ErrorGroups:
    def __init__(
        self, directory: str | Path | None, *, max_groups: int = 200, prefix: str = FILE_PREFIX
    ) -> None:
        self.max_groups = max_groups
        self._groups: OrderedDict[tuple[str, str], ErrorGroup] = OrderedDict()
        self._explained: OrderedDict[str, None] = OrderedDict()  # request ids with an exception
        self._lock = threading.Lock()  # log records arrive from threads too
        # Every file under FILE_PREFIX is read: the supervisor's prefix extends it.
        assert prefix.startswith(FILE_PREFIX)
        self._files = WorkerFiles(directory, prefix, read_prefix=FILE_PREFIX)

    def note_exception(self, exc: BaseException, request_id: str | None) -> None:
        if getattr(exc, _MARK, False):
            return
        with contextlib.suppress(AttributeError):  # no __dict__: it may count twice
            setattr(exc, _MARK, True)
        place, where = exception_place(exc.__traceback__)
        self._note(_type_name(type(exc)), place, where, fold_message(str(exc)), request_id)
        if request_id is not None:
            with self._lock:
                self._explained[request_id] = None
                while len(self._explained) > 1000:
                    self._explained.popitem(last=False)

    def note_record(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        request_id = request_id_var.get()
        if exc is not None:
            self.note_exception(exc, request_id)
            return
        place = f"{record.module}.{record.funcName}"
        where = f"{_short(record.pathname)}:{record.lineno}"
        message = fold_message(record.getMessage())
        self._note(f"log: {record.name}", place, where, message, request_id)

    def note_response(self, status: int, route: str, request_id: str) -> None:
        """A 5xx answer: counted unless an exception of the same request already was."""
        with self._lock:
            if self._explained.pop(request_id, "absent") is None:
                return
        self._note(f"HTTP {status}", route, "", "", request_id)

    def _note(
        self, kind: str, place: str, where: str, message: str, request_id: str | None
    ) -> None:
        now = time.time()
        with self._lock:
            key = (kind, place)
            group = self._groups.pop(key, None)
            if group is None:
                group = ErrorGroup(
                    type=kind,
                    place=place,
                    where=where,
                    message=message,
                    count=0,
                    first_seen=now,
                    last_seen=now,
                    request_id=request_id,
                )
            group["count"] += 1
            group["last_seen"] = now
            group["where"], group["message"] = where, message
            group["request_id"] = request_id or group["request_id"]
            self._groups[key] = group  # the most recently seen last
            while len(self._groups) > self.max_groups:
                self._groups.popitem(last=False)
            self._files.changed()

    def flush(self) -> None:
        self._files.flush(self._snapshot)

    def _snapshot(self) -> list[ErrorGroup]:
        with self._lock:
            return [ErrorGroup(**group) for group in self._groups.values()]

    def read(self) -> list[ErrorGroup]:
        """The node's groups, most recently seen first (blocking when shared: call it in
        a thread)."""
        merged: dict[tuple[str, str], ErrorGroup] = {}
        for group in [*self._snapshot(), *_valid(self._files.others())]:
            key = (group["type"], group["place"])
            found = merged.get(key)
            if found is None:
                merged[key] = ErrorGroup(**group)
                continue
            latest = group if group["last_seen"] > found["last_seen"] else found
            merged[key] = ErrorGroup(
                type=found["type"],
                place=found["place"],
                where=latest["where"],
                message=latest["message"],
                count=found["count"] + group["count"],
                first_seen=min(found["first_seen"], group["first_seen"]),
                last_seen=latest["last_seen"],
                request_id=latest["request_id"],
            )
        return sorted(merged.values(), key=lambda g: g["last_seen"], reverse=True)


def _valid(loaded: list[Any]) -> list[ErrorGroup]:
    fields = set(ErrorGroup.__annotations__)
    return [
        cast(ErrorGroup, item)
        for values in loaded
        if isinstance(values, list)
        for item in values
        if isinstance(item, dict) and set(item) == fields
    ]


class ErrorGroupHandler(logging.Handler):
    """Feeds ERROR log records (of every logger) to ``groups``."""

    def __init__(self, groups: ErrorGroups) -> None:
        super().__init__(level=logging.ERROR)
        self.groups = groups

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.groups.note_record(record)
        except Exception:  # counting an error must never raise another
            self.handleError(record)
