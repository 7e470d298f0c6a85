"""Which scheduled backups `streamer backup --into DIR --keep N` deletes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamer.maintenance.retention import backup_name, expired


def test_a_backup_is_named_by_its_utc_time() -> None:
    at = datetime(2026, 12, 7, 3, 4, 5, tzinfo=UTC)
    assert backup_name(at) == "streamer-20261207T030405Z.tar.gz"


@pytest.mark.parametrize(
    ("present", "keep", "deleted"),
    [
        ([], 3, []),
        (["streamer-20260102T000000Z.tar.gz"], 1, []),
        (
            ["streamer-20260103T000000Z.tar.gz", "streamer-20260101T000000Z.tar.gz",
             "streamer-20260102T000000Z.tar.gz"],
            2,
            ["streamer-20260101T000000Z.tar.gz"],
        ),
        # Files of any other name are never ours to delete.
        (["notes.txt", "streamer-manual.tar.gz", "streamer-20260101T000000Z.tar.gz"], 1, []),
    ],
)  # fmt: skip
def test_only_backups_past_the_newest_n_are_deleted(
    present: list[str], keep: int, deleted: list[str]
) -> None:
    assert expired(present, keep) == deleted


def test_keeping_none_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        expired(["streamer-20260101T000000Z.tar.gz"], 0)
