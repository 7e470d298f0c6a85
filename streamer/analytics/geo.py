"""Which country a delivery came from: a CDN's header, or a GeoLite2 database.

A CDN in front of the origin can say where the client is (Cloudflare's ``CF-IPCountry``,
CloudFront's ``CloudFront-Viewer-Country``). Only trust it behind such a CDN
(``analytics_trust_country_header``): a client reaching the origin directly could send
any value. Otherwise, or when the header is missing, a MaxMind GeoLite2 Country or City
database (``analytics_geoip_path``, read with the ``maxminddb`` package, memory-mapped)
answers from the address. Lookups run in the capture's writer thread, never on the loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["COUNTRY_HEADERS", "CountryLookup", "country_code"]

# Lower-case, as ASGI gives header names.
COUNTRY_HEADERS = (b"cf-ipcountry", b"cloudfront-viewer-country")


def country_code(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code from a header or a database, or None. Cloudflare's
    ``XX`` (unknown) and ``T1`` (Tor) are no country."""
    if not value or len(value) != 2 or not value.isascii() or not value.isalpha():
        return None
    code = value.upper()
    return None if code == "XX" else code


class CountryLookup:
    """Countries from a GeoLite2 (or compatible) .mmdb file. Blocking: opening reads
    the file's metadata and lookups read its pages, so both belong in a thread."""

    def __init__(self, path: Path) -> None:
        import maxminddb  # imported here: only nodes with a database file load it

        self._reader = maxminddb.open_database(str(path))

    def country(self, address: str | None) -> str | None:
        if address is None:
            return None
        try:
            record: Any = self._reader.get(address)
        except ValueError:  # not an address the database can look up
            return None
        if not isinstance(record, dict):
            return None
        for field in ("country", "registered_country"):
            entry = record.get(field)
            if isinstance(entry, dict):
                code = country_code(entry.get("iso_code"))
                if code is not None:
                    return code
        return None

    def close(self) -> None:
        self._reader.close()
