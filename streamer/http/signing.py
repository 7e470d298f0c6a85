"""Signed URLs: an HMAC token with an expiry and a path scope (pure; no I/O).

A token is ``{expires}.{scope}.{signature}`` in the ``token`` query parameter:

- ``expires``: Unix seconds after which the token is refused;
- ``scope``: what the token opens, base64url without padding: a path prefix such as
  ``/media/{id}/``, or ``track:{id}``, which opens ``/hls/{id}/``, ``/media/{id}/`` and
  the track's stream with ads, ``/hls/ads/{id}/`` (a master playlist's relative URLs,
  byte-range playlists' renditions included), or ``playlist:{id}``, which opens the
  playlist played as one stream, ``/hls/playlists/{id}/``, and with ads,
  ``/hls/ads/playlists/{id}/``;
- ``signature``: HMAC-SHA256 of ``"{expires}\\n{scope path}"`` with the shared secret,
  hex. The same construction is easy to mint at a CDN edge or in another service.

Playlists served to a signed request carry the request's token on every URL they give
(``sign_playlist``), so a player that fetched a signed master plays the whole stream.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["TokenError", "make_token", "sign_playlist", "verify_token"]

_TOKEN = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{1,2000})\.([0-9a-f]{64})$")


class TokenError(Exception):
    """The token is missing, malformed, expired, for another path, or forged."""


def _signature(secret: bytes, expires: int, scope: str) -> str:
    return hmac.new(secret, f"{expires}\n{scope}".encode(), hashlib.sha256).hexdigest()


def make_token(secret: bytes, scope: str, expires: int) -> str:
    """A token opening ``scope`` (a path prefix, ``track:{id}`` or ``playlist:{id}``) until
    ``expires`` (Unix seconds)."""
    if not scope.startswith(("/", "track:", "playlist:")):
        raise ValueError("a scope is an absolute path prefix, track:{id} or playlist:{id}")
    encoded = base64.urlsafe_b64encode(scope.encode()).decode().rstrip("=")
    return f"{expires}.{encoded}.{_signature(secret, expires, scope)}"


def verify_token(secret: bytes, token: str | None, path: str, now: float) -> None:
    """Raise TokenError unless ``token`` opens ``path`` at time ``now``."""
    if not token:
        raise TokenError("this URL must be signed (token missing)")
    match = _TOKEN.match(token)
    if match is None:
        raise TokenError("malformed token")
    expires = int(match.group(1))
    try:
        padded = match.group(2) + "=" * (-len(match.group(2)) % 4)
        scope = base64.urlsafe_b64decode(padded).decode()
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed token") from None
    expected = _signature(secret, expires, scope)
    # Compare the signature before anything else can differ in timing.
    if not hmac.compare_digest(expected, match.group(3)):
        raise TokenError("bad signature")
    if expires < now:
        raise TokenError("token expired")
    if ".." in path or not any(path.startswith(prefix) for prefix in _prefixes(scope)):
        raise TokenError("token is for another path")


def _prefixes(scope: str) -> tuple[str, ...]:
    if scope.startswith("track:"):
        track = scope[len("track:") :]
        if not track or "/" in track:
            return ()
        return (f"/hls/{track}/", f"/media/{track}/", f"/hls/ads/{track}/")
    if scope.startswith("playlist:"):
        playlist = scope[len("playlist:") :]
        if not playlist or "/" in playlist:
            return ()
        return (f"/hls/playlists/{playlist}/", f"/hls/ads/playlists/{playlist}/")
    return (scope,)


def sign_playlist(text: str, token: str) -> str:
    """``text`` with ``token`` added to every URL it gives (URI lines and URI="...")."""
    suffix = f"token={token}"
    lines = []
    for line in text.split("\n"):
        if line and not line.startswith("#"):
            line = f"{line}{'&' if '?' in line else '?'}{suffix}"
        elif 'URI="' in line:
            line = re.sub(
                r'URI="([^"]*)"',
                lambda m: f'URI="{m.group(1)}{"&" if "?" in m.group(1) else "?"}{suffix}"',
                line,
            )
        lines.append(line)
    return "\n".join(lines)
