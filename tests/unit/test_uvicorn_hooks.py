"""The fence around uvicorn's internals (streamer.uvicorn_hooks): the installed uvicorn
has every hook, field and constant streamer.serving builds on, and the checker names
what a uvicorn without them lacks, so such a uvicorn fails here and `streamer serve`
refuses it (issue 15, part 2)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import httptools
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from streamer import cli, uvicorn_hooks
from streamer.serving import StreamerHttpProtocol
from streamer.settings import Settings


def assert_fenced(**classes: Any) -> None:
    """Fail, naming what is missing, unless every hook is there."""
    missing = uvicorn_hooks.missing(**classes)
    assert not missing, uvicorn_hooks.refusal(uvicorn.__version__, missing)


def test_the_installed_uvicorn_has_every_hook() -> None:
    assert_fenced()


def test_every_protocol_method_the_subclass_overrides_is_fenced() -> None:
    overridden = {
        name
        for name, value in vars(StreamerHttpProtocol).items()
        if callable(value) and name in vars(HttpToolsProtocol)
    }
    assert overridden <= set(uvicorn_hooks.PROTOCOL_METHODS)


class NoAsgiTaskHook(HttpToolsProtocol):
    """uvicorn 0.30 to 0.35: no ``_start_asgi_task`` (an override would never run)."""

    _start_asgi_task = None  # type: ignore[assignment]


class OnHeaderChanged(HttpToolsProtocol):
    def on_header(self, name: bytes) -> None:  # type: ignore[override]
        pass


class CycleWithoutFields:
    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}

    async def send(self, message: Any) -> None:
        pass


class ServerStateWithoutDefaultHeaders:
    def __init__(self) -> None:
        self.connections: set[Any] = set()


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ({"protocol": NoAsgiTaskHook}, "NoAsgiTaskHook._start_asgi_task is missing"),
        (
            {"protocol": OnHeaderChanged},
            "OnHeaderChanged.on_header takes (self, name), not (self, name, value)",
        ),
        (
            {"cycle": CycleWithoutFields},
            "CycleWithoutFields.response_started is no longer set by __init__",
        ),
        (
            {"server_state": ServerStateWithoutDefaultHeaders},
            "ServerStateWithoutDefaultHeaders.default_headers is no longer set by __init__",
        ),
        ({"status_line": {}}, "STATUS_LINE is no longer a mapping of status codes"),
        (
            {"parser_module": types.ModuleType("httptools")},
            "httptools.HttpParserInvalidMethodError is missing",
        ),
    ],
    ids=["private hook", "signature", "cycle field", "server state", "constant", "parser"],
)
def test_the_checker_names_what_a_broken_uvicorn_lacks(broken: dict[str, Any], named: str) -> None:
    missing = uvicorn_hooks.missing(**broken)
    assert any(problem.startswith(named) for problem in missing), missing


def test_a_stub_protocol_without_the_private_hook_fails_the_fence() -> None:
    """The installed-uvicorn test above, run against a deliberately broken stub."""
    with pytest.raises(AssertionError, match=r"NoAsgiTaskHook\._start_asgi_task is missing"):
        assert_fenced(protocol=NoAsgiTaskHook)


def test_the_installed_parser_errors_are_the_ones_checked() -> None:
    assert not uvicorn_hooks.missing(parser_module=httptools)


def test_serve_refuses_to_start_on_a_uvicorn_without_the_hooks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        uvicorn_hooks, "missing", lambda: ["HttpToolsProtocol._start_asgi_task is missing"]
    )

    def run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("uvicorn was started")

    monkeypatch.setattr(uvicorn, "run", run)
    settings = Settings.load({}, data_dir=tmp_path / "data")
    assert cli._run_uvicorn(settings) == 2
    err = capsys.readouterr().err
    assert f"uvicorn {uvicorn.__version__} lacks" in err
    assert "_start_asgi_task is missing" in err
    assert "pyproject.toml" in err
