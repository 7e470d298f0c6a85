"""One /rest call as the methods see it: the caller, the parameters (each name with its
values, as players repeat ``id`` and ``songId``), the services, and typed readers that
answer the protocol's errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streamer.db import Database
from streamer.subsonic.catalog import Catalog, Scope
from streamer.subsonic.credentials import Caller
from streamer.subsonic.listening import Listening
from streamer.subsonic.responses import GENERIC, MISSING_PARAMETER, SubsonicError
from transcoder.progressive import Progressive

__all__ = ["Answer", "Call", "CoverAnswer", "MediaAnswer", "Method", "Services", "TranscodeAnswer"]


@dataclass(frozen=True)
class Services:
    db: Database
    catalog: Catalog
    listening: Listening
    transcodes_on: bool = True  # False: stream sends originals whatever is asked


@dataclass(frozen=True)
class Call:
    caller: Caller
    params: Mapping[str, list[str]]
    services: Services
    ip: str | None = None

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    @property
    def listening(self) -> Listening:
        return self.services.listening

    @property
    def owner(self) -> str:
        """Whose stars and plays: the user, or the API key made for no user."""
        caller = self.caller
        return caller.user_id if caller.user_id is not None else f"key:{caller.principal.id}"

    def all(self, name: str) -> list[str]:
        return [v for v in self.params.get(name, []) if v != ""]

    def get(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise SubsonicError(MISSING_PARAMETER, f"required parameter is missing: {name}")
        return value

    def integer(self, name: str, default: int | None, *, low: int = 0) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise SubsonicError(GENERIC, f"{name} must be an integer, not {value[:40]!r}") from None
        if number < low:
            raise SubsonicError(GENERIC, f"{name} must be at least {low}")
        return number

    def scope_all(self) -> Scope:
        """Every library the caller may read, whatever musicFolderId says."""
        return Scope(self.caller.principal.readable_libraries())

    def scope(self) -> Scope:
        return Scope(
            self.caller.principal.readable_libraries(), self.integer("musicFolderId", None)
        )


@dataclass(frozen=True)
class MediaAnswer:
    """Answer with the media endpoint's answer for ``path`` (ranges, conditional
    requests and delivery events as for /media)."""

    path: str


@dataclass(frozen=True)
class TranscodeAnswer:
    """Answer with ``plan`` of the track made as it is sent (or kept from before)."""

    track_id: str
    plan: Progressive
    offset: float = 0.0


@dataclass(frozen=True)
class CoverAnswer:
    """Answer with the track's embedded cover fitted into ``size`` pixels."""

    track_id: str
    size: int


Answer = dict[str, Any] | MediaAnswer | TranscodeAnswer | CoverAnswer
Method = Callable[[Call], Awaitable[Answer]]
