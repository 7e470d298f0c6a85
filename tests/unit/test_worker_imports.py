"""A serving worker imports the app and, through multiprocessing's spawn, the CLI module.
What only the supervisor, a job worker or a maintenance command uses stays out of it:
each of these costs 5-20 MB of RSS in every worker (docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What a uvicorn worker process runs before serving: the console script's module, the app.
WORKER_IMPORTS = "import streamer.cli, streamer.app, streamer.serving"


@pytest.mark.parametrize(
    "module",
    [
        "taskiq",  # the job runner's transport (with aiohttp, zmq)
        "aiohttp",
        "alembic",  # migrations run in the supervisor before the workers start
        "aioboto3",  # S3 libraries import it when their store is opened
    ],
)
def test_a_serving_worker_does_not_import(module: str) -> None:
    probe = f"{WORKER_IMPORTS}; import sys; print({module!r} in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "False"
