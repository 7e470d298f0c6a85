"""The S3 client's bounds come from the settings: how long a listener's request may wait
on an endpoint that does not answer is the operator's choice."""

from __future__ import annotations

import pytest

from streamer.settings import Settings, SettingsError
from streamer.storage.factory import open_store
from streamer.storage.s3 import S3Store


def test_the_s3_timeouts_and_attempts_are_the_settings() -> None:
    settings = Settings.load(
        {
            "STREAMER_S3_CONNECT_TIMEOUT": "1.5",
            "STREAMER_S3_READ_TIMEOUT": "4",
            "STREAMER_S3_MAX_ATTEMPTS": "1",
        }
    )
    store = open_store("s3://music/library", settings)
    assert isinstance(store, S3Store)
    assert (store.connect_timeout, store.read_timeout, store.max_attempts) == (1.5, 4.0, 1)


def test_without_settings_the_defaults_hold() -> None:
    store = open_store("s3://music", Settings.load({}))
    assert isinstance(store, S3Store)
    assert (store.connect_timeout, store.read_timeout, store.max_attempts) == (5.0, 30.0, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [("STREAMER_S3_MAX_ATTEMPTS", "0"), ("STREAMER_S3_CONNECT_TIMEOUT", "0")],
)
def test_bounds_that_would_never_try_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.load({name: value})
