"""Shared fixtures. Real servers and real audio are built by the plugins in tests/fixtures/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from blockbuster import BlockBuster
from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.server_logs",
    "tests.fixtures.servers",
    "tests.fixtures.subsonic",
    "tests.fixtures.audio",
    "tests.fixtures.ffmpeg",
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
]

# Property tests (tests/unit/test_*_properties.py) try a fixed number of examples, chosen
# the same way on every run (derandomize), so `make test` stays bounded and reproducible;
# no example database, so nothing is written to the work tree. No deadline and no too_slow
# health check: timings on a shared CI machine are noise. HYPOTHESIS_PROFILE=explore
# searches longer, at random.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=20_000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Folders by how long their modules take, slowest first.
_FOLDER_ORDER = {"web": 0, "integration": 1, "unit": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser and end-to-end modules first: scripts/test hands whole files to two
    workers (pytest-xdist, --dist loadfile), so long modules start early and the many
    quick unit tests fill in at the end. The order within a file is kept."""
    items.sort(key=lambda item: _FOLDER_ORDER.get(item.path.parent.name, 1))


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    """Fail any test in which our code blocks the event loop (as aiohttp's suite does)."""
    if "allow_blocking" in request.keywords:
        yield None
        return
    bb = BlockBuster(["streamer", "transcoder", "packager"])
    # coverage.py's tracer takes its data lock on every new code object; with several
    # threads running Python (a server thread, the job runner's) it can be held for a
    # moment. That is the measurement, not our code. Since coverage 7.18 the tracer calls
    # the lock's acquire itself (no Python frame of coverage's to exempt), and a thread's
    # tracer keeps the acquire it found when the thread started, this very checker
    # included: so the exemption is by lock, and is in place before activation.
    acquire = bb.functions["threading.Lock.acquire"]
    acquire.can_block_predicate = _but_coverage_lock(acquire.can_block_predicate)
    bb.activate()
    try:
        # The hot path may read a small range of a local file on the loop: it is in the
        # page cache, as nginx does without aio threads (DESIGN.md, "The hot path").
        # (blockbuster does not watch os.pread; the exemption covers os.read fallbacks.)
        bb.functions["os.read"].can_block_in("streamer/page_cache.py", "read_inline")
        # Likewise a small body of a local file sent with sendfile on the loop, once the
        # page cache is known to hold it (streamer/serving.py).
        bb.functions["os.sendfile"].can_block_in("streamer/serving.py", "_send_file")
        bb.functions["os.sendfile"].can_block_in("streamer/serving.py", "_stream_file")
        # SQLAlchemy's SQLite dialect makes the database path absolute when an engine is
        # built: a getcwd, not I/O that can stall.
        bb.functions["os.path.abspath"].can_block_in("streamer/db/engine.py", "__init__")
        yield bb
    finally:
        bb.deactivate()


def _coverage_data_lock() -> object | None:
    """The lock coverage.py's tracers take while they record (None when not measuring)."""
    try:
        import coverage
    except ImportError:
        return None
    current = coverage.Coverage.current()
    return getattr(getattr(current, "_collector", None), "data_lock", None)


def _but_coverage_lock(predicate: Callable[..., bool]) -> Callable[..., bool]:
    lock = _coverage_data_lock()

    def can_block(candidate: object, *args: Any, **kwargs: Any) -> bool:
        return (lock is not None and candidate is lock) or predicate(candidate, *args, **kwargs)

    return can_block
