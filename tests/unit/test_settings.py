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
        ({"STREAMER_UPLOAD_STAGING": "somewhere"}, "STREAMER_UPLOAD_STAGING"),
        ({"STREAMER_UPLOAD_STAGING": "s3://"}, "'local', 's3://bucket/prefix'"),
        ({"STREAMER_UPLOAD_STAGING": "file://relative"}, "file:///absolute/path"),
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


@pytest.mark.parametrize("value", ["local", "s3://bucket", "s3://bucket/tus/", "file:///srv/x"])
def test_upload_staging_is_local_or_an_object_store_url(value: str) -> None:
    assert Settings.load({"STREAMER_UPLOAD_STAGING": value}).upload_staging == value


def test_uploads_are_staged_locally_by_default() -> None:
    assert Settings.load({}).upload_staging == "local"


def test_settings_are_frozen() -> None:
    settings = Settings.load({})
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_the_example_config_file_is_valid() -> None:
    example = Path(__file__).parents[2] / "config" / "streamer.example.toml"
    settings = Settings.load({}, example)
    assert settings.ladder == ("aac_64", "aac_128", "aac_256")


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("aac_96,flac,opus_64", ("aac_96", "flac", "opus_64")),
        ('["aac_128"]', ("aac_128",)),
    ],
)
def test_the_ladder_comes_from_the_environment(value: str, names: tuple[str, ...]) -> None:
    settings = Settings.load({"STREAMER_LADDER": value})
    assert tuple(r.name for r in settings.renditions) == names


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mp3_128", "unknown rendition 'mp3_128'"),
        ("aac_128,aac_128", "names a rendition twice"),
        ("aac_2", "bitrate must be 6000..512000"),
        ("[]", "at least one rendition"),
    ],
)
def test_a_bad_ladder_is_refused_with_the_reason(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match="STREAMER_LADDER") as caught:
        Settings.load({"STREAMER_LADDER": value})
    assert message in str(caught.value)
