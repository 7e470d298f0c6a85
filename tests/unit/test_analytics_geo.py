"""Countries from a GeoLite2-style database: a small .mmdb written here with mmdb-writer,
read with the maxminddb package as a configured analytics_geoip_path is."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from streamer.analytics.geo import CountryLookup, country_code


@pytest.fixture(scope="module")
def lookup(tmp_path_factory: pytest.TempPathFactory) -> CountryLookup:
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-Country", ipv4_compatible=True)
    writer.insert_network(IPSet(["192.0.2.0/24"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["2001:db8:1::/48"]), {"country": {"iso_code": "jp"}})
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"registered_country": {"iso_code": "FR"}})
    path = Path(tmp_path_factory.mktemp("geoip")) / "countries.mmdb"
    writer.to_db_file(str(path))
    return CountryLookup(path)


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("192.0.2.77", "DE"),
        ("2001:db8:1:2::5", "JP"),
        ("198.51.100.1", "FR"),  # no country: the registered one
        ("203.0.113.1", None),  # not in the database
        (None, None),
    ],
)
def test_countries_from_the_database(
    lookup: CountryLookup, address: str | None, country: str | None
) -> None:
    assert lookup.country(address) == country


@pytest.mark.parametrize(
    ("value", "code"), [("de", "DE"), ("XX", None), ("T1", None), ("", None), ("DEU", None)]
)
def test_country_codes(value: str, code: str | None) -> None:
    assert country_code(value) == code
