"""Captured deliveries into rows of ``delivery_events``: the writer thread's pure step.

On the event loop a finished request costs one append of values already at hand
(:data:`Captured`); everything derived from them is worked out here, in batches, off the
loop: the user agent, referrer and country header picked from
the request's header list, the address normalised and truncated, the listener hash under
the day's salt, the country. A batch's clients repeat (a player fetches segment after
segment), so what an address and user agent give is remembered in a :class:`RowMaker`
until the day changes. A row's time stays seconds since the epoch (UTC): the repository
writes it in each database's form (streamer.analytics.repository.time_text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from streamer.analytics.geo import COUNTRY_HEADERS, country_code
from streamer.analytics.privacy import address_key, listener_id
from streamer.types import Delivery

__all__ = ["COLUMNS", "Captured", "RowMaker", "day_of"]

# What ObserveMiddleware's recorder appends: (time.time(), delivery, status, bytes sent,
# the request's header list, scope["client"]).
Captured = tuple[float, Delivery, int, int, list[tuple[bytes, bytes]], tuple[str, int] | None]

# The columns of a row, in the order RowMaker gives them.
COLUMNS = (
    "at",
    "node",
    "kind",
    "subject_id",
    "rendition",
    "segment",
    "range_start",
    "range_end",
    "total_bytes",
    "duration",
    "status",
    "sent",
    "user_agent",
    "referrer",
    "ip",
    "listener",
    "country",
)

USER_AGENT_MAX = 512  # characters kept of a user agent
REFERRER_MAX = 1024
MEMO_MAX = 50_000  # addresses and user agents remembered within a day

Row = tuple[Any, ...]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_of(at: float) -> date:
    """The UTC day of a time in seconds since the epoch."""
    return date.fromordinal(_EPOCH_ORDINAL + int(at // 86400))


class RowMaker:
    """Rows from captured deliveries, for one node.

    ``salt_for(day)`` gives a UTC day's salt (from the database: the writer caches it);
    ``trust_country_header`` takes the CDN's country header at its word; ``geo``, when
    given, looks up an address's country when no trusted header said it."""

    def __init__(
        self,
        node: str,
        salt_for: Callable[[date], bytes],
        *,
        trust_country_header: bool = False,
        geo: Callable[[str | None], str | None] | None = None,
    ) -> None:
        self.node = node
        self.salt_for = salt_for
        self.trust_country_header = trust_country_header
        self.geo = geo
        self._day: int | None = None  # days since the epoch
        self._salt = b""
        # (host, user agent, country header) -> (ip, listener, country), for self._day
        self._memo: dict[tuple[str | None, str, bytes | None], tuple[str | None, str, str | None]]
        self._memo = {}

    def rows(self, captured: Iterable[Captured]) -> list[Row]:
        node = self.node
        trust = self.trust_country_header
        memo = self._memo
        rows: list[Row] = []
        for at, delivery, status, sent, headers, client in captured:
            day = int(at // 86400)
            if day != self._day:
                self._day, self._salt = day, self.salt_for(day_of(at))
                memo.clear()
            agent = referrer = header_country = None
            for name, value in headers:
                if name == b"user-agent":
                    agent = value
                elif name == b"referer":
                    referrer = value
                elif trust and name in COUNTRY_HEADERS:
                    header_country = value
            user_agent = agent.decode("latin-1")[:USER_AGENT_MAX] if agent else ""
            host = client[0] if client else None
            key = (host, user_agent, header_country)
            known = memo.get(key)
            if known is None:
                known = self._listener(host, user_agent, header_country)
                if len(memo) >= MEMO_MAX:
                    memo.clear()
                memo[key] = known
            ip, listener, country = known
            rows.append(
                (
                    at,
                    node,
                    delivery.kind,
                    delivery.subject_id,
                    delivery.rendition,
                    delivery.segment,
                    delivery.range_start,
                    delivery.range_end,
                    delivery.total_bytes,
                    delivery.duration,
                    status,
                    sent,
                    user_agent,
                    referrer.decode("latin-1")[:REFERRER_MAX] if referrer else None,
                    ip,
                    listener,
                    country,
                )
            )
        return rows

    def _listener(
        self, host: str | None, user_agent: str, header_country: bytes | None
    ) -> tuple[str | None, str, str | None]:
        key, ip = address_key(host)
        country = country_code(header_country.decode("latin-1")) if header_country else None
        if country is None and self.geo is not None:
            country = self.geo(ip)
        return ip, listener_id(self._salt, key, user_agent), country
