"""The access log: one JSON line per request, written in batches.

Going through the logging module cost about half of a small request's time (a LogRecord,
caller lookup, a formatter, a flush per line), so access lines are formatted directly and
written like nginx's ``access_log ... buffer= flush=``: when the buffer fills, or at most
``flush_interval`` seconds after the first buffered line, and at shutdown. Lines carry the
same fields as the JSON logs of streamer.logs.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import TextIO

from streamer.batching import FlushTimer
from streamer.logs import iso_timestamp

# Printable ASCII without the two characters JSON strings must escape.
_PLAIN = re.compile(r"[ !#-\[\]-~]*").fullmatch


class AccessLog:
    def __init__(
        self, stream: TextIO | None = None, *, max_lines: int = 256, flush_interval: float = 0.5
    ) -> None:
        self.stream = stream
        self.max_lines = max_lines
        self.flush_interval = flush_interval
        self._lines: list[str] = []
        self._timer = FlushTimer(self.flush, flush_interval)

    def write(
        self,
        *,
        request_id: str,
        method: str,
        path: str,
        route: str,
        status: int,
        sent: int,
        seconds: float,
        client: str | None,
    ) -> None:
        now = time.time()
        # Paths are nearly always plain ASCII: quote those directly and leave escaping to
        # json.dumps for the rest. Method (an HTTP token), route (a template), request id
        # (checked in observe.py) and client address need no escaping.
        if _PLAIN(path):
            quoted_path, msg = f'"{path}"', f'"{method} {path} {status}"'
        else:
            quoted_path = json.dumps(path, ensure_ascii=False)
            msg = json.dumps(f"{method} {path} {status}", ensure_ascii=False)
        quoted_client = f'"{client}"' if client is not None else "null"
        self._lines.append(
            f'{{"ts": "{iso_timestamp(now)}", "level": "info", "logger": "streamer.access", '
            f'"msg": {msg}, "request_id": "{request_id}", "method": "{method}", '
            f'"path": {quoted_path}, "route": "{route}", "status": {status}, '
            f'"bytes": {sent}, "ms": {seconds * 1000:.3f}, "client": {quoted_client}}}\n'
        )
        if len(self._lines) >= self.max_lines:
            self.flush()
        else:
            self._timer.due()

    def flush(self) -> None:
        self._timer.cancel()
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream = self.stream or sys.stderr
        # One write of a few KB to stderr (a pipe or a file): the cost nginx pays too.
        stream.write("".join(lines))
        stream.flush()
