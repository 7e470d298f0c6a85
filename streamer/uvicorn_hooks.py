"""The fence around uvicorn's internals that streamer.serving builds on.

uvicorn's httptools protocol has no public extension API: the subclass overrides private
methods, reads and writes fields of the protocol and of its request cycle, and uses a
module constant. Any of them may change in a minor release, and an override that is no
longer called switches a feature off without a word. :func:`missing` names every hook,
field and constant that is absent or changed shape; `streamer serve` refuses to start when
the list is not empty (docs/operations.md), and tests/unit/test_uvicorn_hooks.py fails.

Fields are found as the attributes a class's ``__init__`` assigns (its STORE_ATTR
instructions), so a field that uvicorn stops setting is reported even if the class
still mentions it elsewhere.
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

# Methods of HttpToolsProtocol overridden or called, with their parameters.
PROTOCOL_METHODS: Mapping[str, tuple[str, ...]] = {
    "connection_made": ("self", "transport"),
    "connection_lost": ("self", "exc"),
    "data_received": ("self", "data"),  # replaced: limits, 501, no upgrade warning
    "eof_received": ("self",),  # answers still owed go out after a half-close
    "on_message_begin": ("self",),
    "on_url": ("self", "url"),
    "on_header": ("self", "name", "value"),
    "on_headers_complete": ("self",),
    "on_response_complete": ("self",),
    "_start_asgi_task": ("self", "cycle", "app"),  # private: immediate answers, zero-copy
    "_unset_keepalive_if_required": ("self",),  # private: data_received calls it
    "send_400_response": ("self", "msg"),
    "shutdown": ("self",),
}
# Fields of HttpToolsProtocol the subclass reads.
PROTOCOL_FIELDS = (
    "app",
    "app_state",
    "connections",
    "cycle",
    "flow",
    "logger",
    "loop",
    "parser",
    "pipeline",  # requests queued behind a streamed body (eof_received)
    "server_state",
    "tasks",  # a streamed body's task joins them: shutdown waits for it
    "transport",
)
# Fields of RequestResponseCycle the subclass reads or writes (``send`` is replaced).
CYCLE_FIELDS = (
    "chunked_encoding",
    "disconnected",
    "expected_content_length",
    "keep_alive",
    "message_event",
    "more_body",
    "response_complete",
    "response_started",
    "scope",
    "waiting_for_100_continue",
)
CYCLE_METHODS: Mapping[str, tuple[str, ...]] = {"send": ("self", "message")}
SERVER_STATE_FIELDS = ("connections", "default_headers")
FLOW_FIELDS = ("read_paused",)
FLOW_METHODS: Mapping[str, tuple[str, ...]] = {"pause_reading": ("self",)}
PARSER_ERRORS = ("HttpParserError", "HttpParserInvalidMethodError", "HttpParserUpgrade")


def missing(
    protocol: type[Any] = HttpToolsProtocol,
    cycle: type[Any] = RequestResponseCycle,
    server_state: type[Any] = ServerState,
    flow: type[Any] = FlowControl,
    status_line: Any = STATUS_LINE,
    parser_module: ModuleType = httptools,
) -> list[str]:
    """What streamer.serving needs and these classes lack, one sentence each; empty when
    all is there. The defaults are the installed uvicorn's and httptools'."""
    problems = _methods(protocol, PROTOCOL_METHODS) + _fields(protocol, PROTOCOL_FIELDS)
    problems += _methods(cycle, CYCLE_METHODS) + _fields(cycle, CYCLE_FIELDS)
    problems += _fields(server_state, SERVER_STATE_FIELDS)
    problems += _methods(flow, FLOW_METHODS) + _fields(flow, FLOW_FIELDS)
    if not (
        isinstance(status_line, Mapping)
        and all(isinstance(status_line.get(code), bytes) for code in (200, 408, 414, 431, 501))
        and status_line[200].startswith(b"HTTP/1.1 200")
    ):
        problems.append("STATUS_LINE is no longer a mapping of status codes to status lines")
    for name in PARSER_ERRORS:
        error = getattr(parser_module, name, None)
        if not (isinstance(error, type) and issubclass(error, Exception)):
            problems.append(f"httptools.{name} is missing")
    return problems


def refusal(version: str, missing: list[str]) -> str:
    """Why `streamer serve` does not start with this uvicorn, for the terminal."""
    lines = "\n".join(f"  - {problem}" for problem in missing)
    return (
        f"streamer: uvicorn {version} lacks what the server's HTTP protocol builds on"
        f" (streamer.serving):\n{lines}\n"
        "Install a uvicorn within the bounds in pyproject.toml (docs/operations.md)."
    )


def _methods(cls: type[Any], methods: Mapping[str, tuple[str, ...]]) -> list[str]:
    problems = []
    for name, parameters in methods.items():
        method = getattr(cls, name, None)
        if not callable(method):
            problems.append(f"{cls.__name__}.{name} is missing")
            continue
        found = tuple(inspect.signature(method).parameters)
        if found != parameters:
            problems.append(
                f"{cls.__name__}.{name} takes ({', '.join(found)}), not ({', '.join(parameters)})"
            )
    return problems


def _fields(cls: type[Any], fields: tuple[str, ...]) -> list[str]:
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    stored = (
        {i.argval for i in dis.get_instructions(code) if i.opname == "STORE_ATTR"}
        if code is not None
        else set()
    )
    return [
        f"{cls.__name__}.{name} is no longer set by __init__"
        for name in fields
        if name not in stored
    ]
