"""EXT-X-DATERANGE tags (RFC 8216 §4.3.2.7): a named span of the presentation, such as
an ad, for players and measurement SDKs. A playlist that has one needs an
EXT-X-PROGRAM-DATE-TIME too (the dates are on its clock)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from packager.live import program_date_time

__all__ = ["daterange_tag", "program_date_time_tag"]

_CLIENT_ATTRIBUTE = re.compile(r"^X-[A-Z0-9-]+$")


def _quoted(value: str, what: str) -> str:
    if not value or any(char in value for char in '"\r\n'):
        raise ValueError(f"{what} must be a non-empty quoted-string: {value!r}")
    return f'"{value}"'


def daterange_tag(
    identifier: str,
    start: datetime,
    duration: float,
    *,
    kind: str,
    attributes: Mapping[str, str] | None = None,
) -> str:
    """``#EXT-X-DATERANGE`` for ``duration`` seconds from ``start``; ``kind`` is its CLASS
    and ``attributes`` client attributes (``X-...``), as quoted strings."""
    if not duration >= 0:
        raise ValueError(f"a date range lasts zero seconds or more, not {duration!r}")
    parts = [
        f"ID={_quoted(identifier, 'ID')}",
        f"CLASS={_quoted(kind, 'CLASS')}",
        f'START-DATE="{program_date_time(start)}"',
        f"DURATION={duration:.3f}",
    ]
    for name, value in (attributes or {}).items():
        if not _CLIENT_ATTRIBUTE.match(name):
            raise ValueError(f"a client attribute is named X-<A-Z0-9->: {name!r}")
        parts.append(f"{name}={_quoted(value, name)}")
    return "#EXT-X-DATERANGE:" + ",".join(parts)


def program_date_time_tag(instant: datetime) -> str:
    return f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(instant)}"
