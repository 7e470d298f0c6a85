"""Listeners: addresses truncated (IPv6 to /64), hashed with the user agent under a daily
salt; rows built from captured deliveries with the right fields."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from streamer.analytics.privacy import address_key, listener_id
from streamer.analytics.rows import COLUMNS, USER_AGENT_MAX, RowMaker
from streamer.types import Delivery

SALT = b"s" * 32
OTHER_SALT = b"t" * 32


def _listener(host: str, agent: str = "Player/1", salt: bytes = SALT) -> str:
    return listener_id(salt, address_key(host)[0], agent)


def test_two_addresses_in_one_ipv6_64_are_one_listener() -> None:
    assert _listener("2001:db8:1:2::5") == _listener("2001:db8:1:2:aaaa:bbbb:cccc:dddd")


def test_another_ipv6_64_is_another_listener() -> None:
    assert _listener("2001:db8:1:2::5") != _listener("2001:db8:1:3::5")


def test_ipv4_addresses_are_kept_whole() -> None:
    assert _listener("192.0.2.1") != _listener("192.0.2.2")


def test_an_ipv4_mapped_address_is_its_ipv4_client() -> None:
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")
    assert address_key("::ffff:192.0.2.1")[1] == "192.0.2.1"


def test_another_user_agent_is_another_listener() -> None:
    assert _listener("192.0.2.1", "Player/1") != _listener("192.0.2.1", "Player/2")


def test_another_days_salt_gives_another_listener() -> None:
    assert _listener("192.0.2.1", salt=SALT) != _listener("192.0.2.1", salt=OTHER_SALT)


def test_a_listener_is_32_hex_characters() -> None:
    value = _listener("2001:db8::1")
    assert len(value) == 32
    int(value, 16)


@pytest.mark.parametrize(
    ("host", "kept"),
    [
        ("2001:DB8::1", "2001:db8::1"),  # normalised
        ("192.0.2.7", "192.0.2.7"),
        ("not-an-address", None),  # junk from a proxy header: hashed, never kept
        (None, None),  # a Unix socket's client
    ],
)
def test_what_address_is_kept(host: str | None, kept: str | None) -> None:
    assert address_key(host)[1] == kept


def _maker(**kwargs: object) -> tuple[RowMaker, list[date]]:
    asked: list[date] = []

    def salt_for(day: date) -> bytes:
        asked.append(day)
        return SALT if len(asked) == 1 else OTHER_SALT

    return RowMaker("node-a", salt_for, **kwargs), asked  # type: ignore[arg-type]


DELIVERY = Delivery("track", "0123456789abcdef", "aac_64", 3, None, None, 4096, 6.0)
NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()


def test_a_row_has_every_field_in_order() -> None:
    maker, _ = _maker()
    headers = [
        (b"host", b"example.org"),
        (b"user-agent", b"Player/1"),
        (b"referer", b"https://example.org/"),
        (b"cf-ipcountry", b"DE"),  # not trusted by default
    ]
    (row,) = maker.rows([(NOON, DELIVERY, 200, 4096, headers, ("2001:db8::1", 1))])
    values = dict(zip(COLUMNS, row, strict=True))
    assert values == {
        "at": NOON,
        "node": "node-a",
        "kind": "track",
        "subject_id": "0123456789abcdef",
        "rendition": "aac_64",
        "segment": 3,
        "range_start": None,
        "range_end": None,
        "total_bytes": 4096,
        "duration": 6.0,
        "status": 200,
        "sent": 4096,
        "user_agent": "Player/1",
        "referrer": "https://example.org/",
        "ip": "2001:db8::1",
        "listener": _listener("2001:db8::1"),
        "country": None,
    }


@pytest.mark.parametrize(
    ("header", "value", "country"),
    [
        (b"cf-ipcountry", b"de", "DE"),
        (b"cloudfront-viewer-country", b"JP", "JP"),
        (b"cf-ipcountry", b"XX", None),  # Cloudflare: unknown
        (b"cf-ipcountry", b"T1", None),  # Cloudflare: Tor
        (b"cf-ipcountry", b"Germany", None),
    ],
)
def test_a_trusted_country_header(header: bytes, value: bytes, country: str | None) -> None:
    maker, _ = _maker(trust_country_header=True)
    (row,) = maker.rows([(NOON, DELIVERY, 200, 1, [(header, value)], ("192.0.2.1", 1))])
    assert row[COLUMNS.index("country")] == country


def test_the_geoip_lookup_answers_without_a_trusted_header() -> None:
    looked_up: list[str | None] = []

    def geo(address: str | None) -> str | None:
        looked_up.append(address)
        return "FR"

    maker, _ = _maker(geo=geo)
    batch = [(NOON, DELIVERY, 200, 1, [], ("192.0.2.1", 1))] * 3
    rows = maker.rows(batch)
    assert [r[COLUMNS.index("country")] for r in rows] == ["FR", "FR", "FR"]
    assert looked_up == ["192.0.2.1"]  # a client's repeated requests: looked up once


def test_a_new_day_takes_its_own_salt() -> None:
    maker, asked = _maker()
    midnight = datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC).timestamp()
    client = ("192.0.2.1", 1)
    rows = maker.rows(
        [(NOON, DELIVERY, 200, 1, [], client), (midnight, DELIVERY, 200, 1, [], client)]
    )
    assert asked == [date(2026, 12, 6), date(2026, 12, 7)]
    listeners = [r[COLUMNS.index("listener")] for r in rows]
    assert listeners == [_listener("192.0.2.1", ""), _listener("192.0.2.1", "", OTHER_SALT)]


def test_long_user_agents_are_cut_and_missing_ones_are_empty() -> None:
    maker, _ = _maker()
    long = [(b"user-agent", b"x" * 5000)]
    rows = maker.rows([(NOON, DELIVERY, 200, 1, long, None), (NOON, DELIVERY, 200, 1, [], None)])
    agents = [r[COLUMNS.index("user_agent")] for r in rows]
    assert [len(a) for a in agents] == [USER_AGENT_MAX, 0]
    assert [r[COLUMNS.index("ip")] for r in rows] == [None, None]


@pytest.mark.parametrize("pg", [False, True])
def test_times_are_written_as_each_database_reads_them(pg: bool) -> None:
    from streamer.analytics.repository import TimeText

    text_of = TimeText(pg=pg)
    zone = "+00" if pg else ""
    assert text_of(NOON) == f"2026-12-06 12:00:00.000000{zone}"
    assert text_of(NOON + 0.25) == f"2026-12-06 12:00:00.250000{zone}"
    assert text_of(NOON + 61.5) == f"2026-12-06 12:01:01.500000{zone}"
