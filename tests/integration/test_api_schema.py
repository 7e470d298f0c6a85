"""schemathesis against the live OpenAPI document: generated requests to every operation
(valid and invalid) never get a 5xx, and every response matches the document (status
codes, content types, bodies). Run through schemathesis's own CLI, a real client.

GET /events is left out: its answer never ends, and schemathesis reads whole bodies (each
request would wait for its timeout). tests/integration/test_events.py covers it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.settings import Settings
from tests.fixtures.servers import scan_roots, serve_in_thread

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)


@pytest.mark.slow
@pytest.mark.timeout(900)  # every operation of the API, fuzzed: minutes on a busy machine
def test_no_server_errors_and_responses_match_the_schema(
    tmp_path: Path, audio_samples: dict[str, Path]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    for fmt in ("mp3", "flac"):
        shutil.copy(audio_samples[fmt], library / f"sample.{fmt}")
    settings = Settings.load(
        {}, data_dir=tmp_path / "data", workers=1, rate_limit_api="100000/minute",
        rate_limit_ip="100000/minute", rate_limit_login="100000/minute",
        library_parents=[str(tmp_path)],
    )  # fmt: skip
    scan_roots(settings, [str(library)])
    with serve_in_thread(settings) as server:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{server.base_url}/api/v1/openapi.json",
                "--url", f"{server.base_url}/api/v1",
                "--header", f"Authorization: Bearer {server.api_key}",
                "--exclude-path", "/events",
                "--checks", CHECKS,
                "--max-examples", "25",
                "--seed", "1",  # the same requests every run: a failure reproduces
                "--phases", "examples,fuzzing",
                "--request-timeout", "10",
                "--workers", "1",
                "--no-color",
            ],
            capture_output=True, text=True, timeout=840, cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
