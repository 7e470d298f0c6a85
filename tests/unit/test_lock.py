"""requirements/ holds what `make venv`, CI and the image install: exact versions compiled
from pyproject.toml by `make lock`. A dependency added to pyproject.toml without
recompiling would be missing from every fresh install, so the lock is checked against it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The lock is compiled for Python 3.11 on Linux (the Makefile's COMPILE).
ENVIRONMENT = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}

RUNTIME = [Requirement(text) for text in PROJECT["dependencies"]]
DEV = [Requirement(text) for text in PROJECT["optional-dependencies"]["dev"]]
BENCH = [Requirement(text) for text in PROJECT["optional-dependencies"]["bench"]]


def pins(name: str) -> dict[str, Version]:
    text = (ROOT / "requirements" / name).read_text()
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", text, re.MULTILINE)
    return {canonicalize_name(package): Version(version) for package, version in found}


LOCK, RUNTIME_LOCK, BENCH_LOCK = pins("lock.txt"), pins("runtime.txt"), pins("bench.txt")


def _unmet(requirements: list[Requirement], locked: dict[str, Version]) -> list[str]:
    unmet = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate(ENVIRONMENT):
            continue
        version = locked.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{requirement} (locked: {version or 'missing'})")
    return unmet


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [(RUNTIME + DEV, LOCK), (RUNTIME, RUNTIME_LOCK), (RUNTIME + DEV + BENCH, BENCH_LOCK)],
    ids=["lock.txt", "runtime.txt", "bench.txt"],
)
def test_every_dependency_is_locked_within_its_bounds(
    requirements: list[Requirement], lock: dict[str, Version]
) -> None:
    assert _unmet(requirements, lock) == [], "pyproject.toml changed: run `make lock`"


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, BENCH_LOCK], ids=["runtime.txt", "bench.txt"])
def test_the_locks_agree_on_every_version(lock: dict[str, Version]) -> None:
    differ = {name: (v, LOCK[name]) for name, v in lock.items() if LOCK.get(name, v) != v}

    assert differ == {}, "run `make lock`"


def test_the_image_gets_no_dev_tools() -> None:
    dev_only = {canonicalize_name(r.name) for r in DEV} - set(RUNTIME_LOCK)

    assert {"pytest", "ruff", "mypy"} <= dev_only


# watchfiles is not among them: the library watcher uses it (streamer/catalogue/watch.py).
@pytest.mark.parametrize("extra", ["websockets", "python-dotenv"])
def test_the_server_installs_none_of_uvicorns_unused_extras(extra: str) -> None:
    assert extra not in RUNTIME_LOCK
