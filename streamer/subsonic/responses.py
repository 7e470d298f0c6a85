"""Subsonic responses: the ``subsonic-response`` envelope in JSON (``f=json``), JSONP
(``f=jsonp`` with ``callback``) or XML (the default), and the protocol's error codes.

One tree renders to both formats the way Subsonic servers do: a nested object becomes a
child element, a list of objects repeated child elements, a scalar an attribute, and a
list of scalars repeated elements holding text. Booleans are ``true``/``false`` in XML."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "API_VERSION",
    "GENERIC",
    "MISSING_PARAMETER",
    "NOT_AUTHORISED",
    "NOT_FOUND",
    "SERVER_NAME",
    "WRONG_CREDENTIALS",
    "SubsonicError",
    "failure",
    "render",
    "success",
]

API_VERSION = "1.16.1"
SERVER_NAME = "streamer"
SERVER_VERSION = "0.1.0"
XMLNS = "http://subsonic.org/restapi"

# The error codes of the protocol (OpenSubsonic's Error schema).
GENERIC = 0
MISSING_PARAMETER = 10
CLIENT_TOO_OLD = 20
SERVER_TOO_OLD = 30
WRONG_CREDENTIALS = 40
TOKEN_NOT_SUPPORTED = 41
MECHANISM_NOT_SUPPORTED = 42
CONFLICTING_MECHANISMS = 43
INVALID_API_KEY = 44
NOT_AUTHORISED = 50
NOT_FOUND = 70

_CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,99}$")


class SubsonicError(Exception):
    """A failed call: answered 200 with ``status="failed"`` (as the protocol wants), except
    where ``http_status`` says otherwise (rate limits: 429 with Retry-After)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        http_status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.headers = dict(headers or {})


def _envelope(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "version": API_VERSION,
        "type": SERVER_NAME,
        "serverVersion": SERVER_VERSION,
        "openSubsonic": True,
    }


def success(**content: Any) -> dict[str, Any]:
    """The ``subsonic-response`` object of a call that worked, with its elements."""
    return {**_envelope("ok"), **content}


def failure(error: SubsonicError) -> dict[str, Any]:
    return {**_envelope("failed"), "error": {"code": error.code, "message": error.message}}


def render(response: Mapping[str, Any], fmt: str | None, callback: str | None) -> tuple[bytes, str]:
    """The body and media type of ``response`` in the format the client asked for."""
    if fmt == "json":
        return _json(response), "application/json"
    if fmt == "jsonp":
        # The callback becomes script: only a plain JavaScript name is accepted.
        name = callback if callback and _CALLBACK.match(callback) else "callback"
        return name.encode() + b"(" + _json(response) + b");", "application/javascript"
    return _xml(response), "text/xml; charset=utf-8"


def _json(response: Mapping[str, Any]) -> bytes:
    body = {"subsonic-response": _drop_none(response)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _xml(response: Mapping[str, Any]) -> bytes:
    parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
    _element(parts, "subsonic-response", response, xmlns=XMLNS)
    return "".join(parts).encode()


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(parts: list[str], name: str, value: Any, *, xmlns: str | None = None) -> None:
    if not isinstance(value, Mapping):
        parts.append(f"<{name}>{escape(_scalar(value))}</{name}>")
        return
    attributes = f" xmlns={quoteattr(xmlns)}" if xmlns else ""
    children: list[tuple[str, Any]] = []
    text: str | None = None
    for key, item in value.items():
        if item is None:
            continue
        if key == "value" and not isinstance(item, (Mapping, list)):
            text = _scalar(item)  # an element's text (lyrics, a playlist's comment)
        elif isinstance(item, Mapping):
            children.append((key, item))
        elif isinstance(item, list):
            children.extend((key, entry) for entry in item)
        else:
            attributes += f" {key}={quoteattr(_scalar(item))}"
    if not children and text is None:
        parts.append(f"<{name}{attributes}/>")
        return
    parts.append(f"<{name}{attributes}>")
    if text is not None:
        parts.append(escape(text))
    for key, child in children:
        _element(parts, key, child)
    parts.append(f"</{name}>")
