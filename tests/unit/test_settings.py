"""Settings: read once from TOML, environment and overrides, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.errors import SettingsError
from streamer.settings import Settings


def test_defaults_need_no_environment() -> None:
    settings = Settings.load({})
    assert settings.port == 8000
    assert settings.libraries == ()
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_environment_overrides_toml_and_flags_override_environment(tmp_path: Path) -> None:
    config = tmp_path / "streamer.toml"
    config.write_text('port = 9000\nlibraries = ["/a"]\nmax_ranges = 4\n')
    settings = Settings.load(
        {"STREAMER_PORT": "9100", "STREAMER_MAX_RANGES": "8"}, config, max_ranges=2
    )
    assert settings.port == 9100
    assert settings.libraries == ("/a",)
    assert settings.max_ranges == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("/a,/b", ("/a", "/b")), ('["/a", "s3://b/p"]', ("/a", "s3://b/p")), ("", ())],
)
def test_list_settings_accept_commas_or_json(raw: str, expected: tuple[str, ...]) -> None:
    assert Settings.load({"STREAMER_LIBRARIES": raw}).libraries == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"STREAMER_PORT": "eighty"}, "STREAMER_PORT"),
        ({"STREAMER_PORT": "70000"}, "less than or equal to 65535"),
        ({"STREAMER_LOG_LEVEL": "loud"}, "STREAMER_LOG_LEVEL"),
        ({"STREAMER_PROT": "80"}, "unknown setting STREAMER_PROT"),
        ({"STREAMER_LIBRARIES": "[oops"}, "not valid JSON"),
    ],
)
def test_bad_setting_is_a_clear_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(environ)


def test_unreadable_or_invalid_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read config file"):
        Settings.load({}, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load({"STREAMER_CONFIG": str(bad)})


def test_settings_are_frozen() -> None:
    settings = Settings.load({})
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]
