"""The access log writes one JSON object per line, in batches."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from streamer.access_log import AccessLog

REQUEST: dict[str, Any] = {
    "request_id": "r1",
    "method": "GET",
    "path": '/media/"ça"\\va/original',
    "route": "/media/{track_id}/original",
    "status": 206,
    "sent": 100,
    "seconds": 0.0012345,
    "client": "127.0.0.1",
}


def test_without_an_event_loop_lines_are_written_at_once() -> None:
    stream = io.StringIO()
    AccessLog(stream).write(**REQUEST)
    assert stream.getvalue().endswith("\n")


def test_each_line_is_a_json_object_with_every_field() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.write(**REQUEST)
    log.flush()
    line = json.loads(stream.getvalue())
    assert line["path"] == REQUEST["path"]
    assert line["msg"] == f"GET {REQUEST['path']} 206"
    assert line["ms"] == pytest.approx(1.2345, abs=0.001)
    assert line["client"] == "127.0.0.1"
    assert line["logger"] == "streamer.access"
    assert line["ts"].endswith("Z")


async def test_lines_are_written_when_the_buffer_fills() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, max_lines=3)
    for _ in range(2):
        log.write(**REQUEST)
    assert stream.getvalue() == ""
    log.write(**REQUEST)
    assert len(stream.getvalue().splitlines()) == 3


async def test_lines_are_written_within_the_flush_interval() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, flush_interval=0.05)
    log.write(**{**REQUEST, "client": None})
    assert stream.getvalue() == ""
    await asyncio.sleep(0.15)
    assert json.loads(stream.getvalue())["client"] is None


@pytest.mark.parametrize(
    "path", ["/media/abc/original", '/a"b', "/a\\b", "/tab\there", "/ünï", "/ctl\x01", "/emoji🎵"]
)
def test_any_path_gives_valid_json(path: str) -> None:
    stream = io.StringIO()
    AccessLog(stream).write(**{**REQUEST, "path": path})
    line = json.loads(stream.getvalue())
    assert line["path"] == path
    assert line["msg"] == f"GET {path} 206"
