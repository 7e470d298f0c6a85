"""Each package's __all__ lists exactly its public names, sorted (as httpx checks its own)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "package",
    [
        "streamer.http",
        "streamer.storage",
        "streamer.db",
        "packager",
        "transcoder",
        "streamer.renditions",
        "streamer.uploads",
        "streamer.maintenance",
        "streamer.events",
        "streamer.demo",
    ],
)
def test_all_is_sorted_and_complete(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda name: (not name.isupper(), name))
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(package)
    }
    assert public <= set(exported)
    for name in exported:
        assert hasattr(module, name)
