"""Pseudonymous listeners: what an address and a user agent become before they are kept.

The IAB guidelines count one listener per address and user agent, with IPv6 addresses
truncated to their /64 (a household's or a phone's prefix: the interface part changes by
the hour). The key is that truncated address (IPv4 whole, /32) and the user agent; the
listener id stored with every event is a keyed BLAKE2b hash of it under the salt of the
event's UTC day. A day's salt is random, shared by every node through the database and
deleted a day after the day ends: from then on nobody, the operator included, can tell
whose events they were. The raw address is kept beside the hash for 24 hours only.

Pure functions; the salts' rows live in streamer.analytics.repository.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import date

__all__ = ["LISTENER_HEX", "address_key", "listener_id", "salt_day"]

LISTENER_HEX = 32  # characters: 16 bytes of hash


def address_key(host: str | None) -> tuple[bytes, str | None]:
    """``(key, address)`` for a client host: the key the listener hash is made of (the
    packed address, truncated to /64 for IPv6) and the address as it may be kept for 24
    hours (normalised; None when ``host`` is not an IP address, such as a Unix socket's
    client or a junk X-Forwarded-For, whose text then serves as the key)."""
    if not host:
        return b"", None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.encode("utf-8", "replace")[:255], None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:  # ::ffff:192.0.2.1 is an IPv4 client on a dual-stack socket
            return mapped.packed, str(mapped)
        return address.packed[:8], str(address)
    return address.packed, str(address)


def listener_id(salt: bytes, key: bytes, user_agent: str) -> str:
    """The pseudonymous listener of ``key`` (from :func:`address_key`) and ``user_agent``
    under one day's ``salt``: 32 hex characters."""
    digest = hashlib.blake2b(key, digest_size=LISTENER_HEX // 2, key=salt[:64])
    digest.update(b"\0")
    digest.update(user_agent.encode("utf-8", "replace"))
    return digest.hexdigest()


def salt_day(day: date) -> str:
    """A day's key in the salts table (YYYY-MM-DD, UTC)."""
    return day.isoformat()
