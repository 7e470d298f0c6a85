"""Errors grouped by type and place: what groups together, what counts once, what the
node's workers share."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from streamer.error_groups import (
    ErrorGroupHandler,
    ErrorGroups,
    _short,
    exception_place,
    fold_message,
)
from streamer.logs import request_id_var


def raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:  # the traceback is what is under test
        return caught


def a_failing_lookup(track: str) -> Exception:
    return raised(KeyError(f"track {track} not in index 7f3a9c21d4e5"))


@pytest.mark.parametrize(
    ("message", "folded"),
    [
        ("track 01J9ZK3 is gone", "track 01J9ZK3 is gone"),  # mixed ids keep letters
        ("no rendition 42 of 7f3a9c21d4e5b6a7", "no rendition # of #"),
        ("first line\nsecond line", "first line"),
        ("", ""),
        ("x" * 400, "x" * 300),
    ],
)
def test_messages_fold_ids_and_keep_one_short_line(message: str, folded: str) -> None:
    assert fold_message(message) == folded


def test_the_place_is_the_innermost_frame_of_our_code_not_the_library_below_it() -> None:
    with pytest.raises(TypeError) as caught:
        _short(None)  # type: ignore[arg-type]  # pathlib raises, below our frame
    place, where = exception_place(caught.value.__traceback__)
    assert place == "streamer.error_groups._short"
    assert where.startswith("streamer/error_groups.py:")


def test_without_our_code_the_place_is_the_innermost_frame() -> None:
    place, where = exception_place(a_failing_lookup("a").__traceback__)
    assert place == "test_error_groups.raised"
    assert where.startswith("test_error_groups.py:")


def test_an_exception_without_a_traceback_has_an_unknown_place() -> None:
    assert exception_place(None) == ("unknown", "")


def test_one_bug_about_many_tracks_is_one_group() -> None:
    groups = ErrorGroups(None)
    for track in ("a", "b", "c"):
        groups.note_exception(a_failing_lookup(track), request_id=f"req-{track}")
    [group] = groups.read()
    assert group["type"] == "KeyError"
    assert group["count"] == 3
    assert group["request_id"] == "req-c"  # the latest
    assert group["first_seen"] <= group["last_seen"]


def test_an_exception_logged_twice_counts_once() -> None:
    groups = ErrorGroups(None)
    exc = a_failing_lookup("a")
    groups.note_exception(exc, "req-1")
    groups.note_exception(exc, "req-1")  # logged again on its way out
    assert [g["count"] for g in groups.read()] == [1]


def test_a_server_error_explained_by_an_exception_is_not_counted_again() -> None:
    groups = ErrorGroups(None)
    groups.note_exception(a_failing_lookup("a"), "req-1")
    groups.note_response(500, "/api/v1/tracks/{track_id}", "req-1")
    assert [g["type"] for g in groups.read()] == ["KeyError"]


def test_a_server_error_without_an_exception_is_grouped_by_status_and_route() -> None:
    groups = ErrorGroups(None)
    for request in ("r1", "r2"):
        groups.note_response(503, "/media/{track_id}/original", request)
    [group] = groups.read()
    assert (group["type"], group["place"], group["count"]) == (
        "HTTP 503",
        "/media/{track_id}/original",
        2,
    )


def test_log_records_feed_the_groups_with_their_request_id() -> None:
    groups = ErrorGroups(None)
    logger = logging.getLogger("tests.error_groups")
    handler = ErrorGroupHandler(groups)
    logger.addHandler(handler)
    token = request_id_var.set("req-9")
    try:
        logger.warning("not an error")
        logger.error("could not write batch %d", 12)
        try:
            raise ValueError("bad tag")
        except ValueError:
            logger.exception("scan failed")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    found = {g["type"]: g for g in groups.read()}
    assert set(found) == {"log: tests.error_groups", "ValueError"}
    logged = found["log: tests.error_groups"]
    assert logged["message"] == "could not write batch #"
    assert (
        logged["place"]
        == "test_error_groups.test_log_records_feed_the_groups_with_their_request_id"
    )
    assert {g["request_id"] for g in found.values()} == {"req-9"}


def test_the_least_recently_seen_groups_go_first_past_the_limit() -> None:
    groups = ErrorGroups(None, max_groups=2)
    for route in ("/a", "/b", "/a", "/c"):
        groups.note_response(500, route, "r")
    assert [g["place"] for g in groups.read()] == ["/c", "/a"]


def test_other_workers_groups_are_merged(tmp_path: Path) -> None:
    groups = ErrorGroups(tmp_path)
    groups.note_response(503, "/media/{track_id}/original", "mine")
    groups.flush()  # no event loop: written at once
    [mine] = json.loads((tmp_path / f"error-groups-{os.getpid()}.json").read_text())
    other = {**mine, "count": 4, "first_seen": mine["first_seen"] - 60, "request_id": "theirs"}
    other["last_seen"] = mine["last_seen"] + 1
    (tmp_path / "error-groups-1.json").write_text(json.dumps([other]))
    (tmp_path / "error-groups-2.json").write_text("[{half a fi")  # being replaced: skipped
    [group] = groups.read()
    assert group["count"] == 5
    assert group["first_seen"] == other["first_seen"]
    assert group["request_id"] == "theirs"  # the latest one's


def test_a_worker_reads_the_supervisors_groups(tmp_path: Path) -> None:
    supervisor = ErrorGroups(tmp_path, prefix="error-groups-supervisor-")
    supervisor.note_response(500, "job runner", "job-1")
    supervisor.flush()
    worker = ErrorGroups(tmp_path)
    assert [g["place"] for g in worker.read()] == ["job runner"]


async def test_the_supervisor_shares_what_it_logs_within_a_second(tmp_path: Path) -> None:
    from streamer.cli import _error_groups

    async with _error_groups(tmp_path):
        logging.getLogger("streamer.jobs").error("the runner lost its database")
        for _ in range(30):
            await asyncio.sleep(0.1)
            if list(tmp_path.glob("error-groups-supervisor-*.json")):
                break
    [group] = _read(tmp_path)
    assert group["type"] == "log: streamer.jobs"
    assert group["message"] == "the runner lost its database"


def _read(folder: Path) -> list[dict[str, object]]:
    return [g for f in folder.glob("error-groups-*.json") for g in json.loads(f.read_text())]
