"""Which scheduled backups to delete: keep the newest ``keep`` (pure).

``streamer backup --into DIR --keep N`` names each backup ``streamer-<UTC time>.tar.gz``,
so names sort by time; files of any other name in the folder are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

__all__ = ["NAME", "backup_name", "expired"]

NAME = re.compile(r"^streamer-(\d{8}T\d{6}Z)\.tar\.gz$")


def backup_name(at: datetime) -> str:
    return f"streamer-{at.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def expired(names: Iterable[str], keep: int) -> list[str]:
    """The backups past the newest ``keep``, oldest first."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    ours = sorted(name for name in names if NAME.match(name))
    return ours[: max(0, len(ours) - keep)]
