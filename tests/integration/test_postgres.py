"""The catalogue and the server on PostgreSQL (STREAMER_DATABASE_URL), not just SQLite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streamer.settings import Settings
from tests.fixtures.audio import awkward_files
from tests.fixtures.servers import scan_roots, serve_in_thread


@pytest.fixture
def library(tmp_path: Path, audio_samples: dict[str, Path]) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    for fmt in ("mp3", "flac", "m4a"):
        shutil.copy(audio_samples[fmt], folder / f"sample.{fmt}")
    awkward_files(folder / "awkward")
    return folder


def test_scan_and_serve_from_postgresql(tmp_path: Path, library: Path, postgres_url: str) -> None:
    settings = Settings.load({"STREAMER_DATABASE_URL": postgres_url}, data_dir=tmp_path / "data")
    (first,) = scan_roots(settings, [str(library)])
    assert first.added == 4  # three samples and the awkward set's valid unicode-named file
    assert first.failed == 5
    (again,) = scan_roots(settings, [str(library)])
    assert again.unchanged == 9
    assert again.added == again.changed == 0
    with serve_in_thread(settings) as server, server.api() as client:
        page = client.get("/api/v1/tracks", params={"status": "ok", "q": "SAMPLE.F"}).json()
        assert [item["path"] for item in page["items"]] == ["sample.flac"]
        url = page["items"][0]["urls"]["original"]
        response = client.get(url, headers={"Range": "bytes=0-99"})
        assert response.status_code == 206
        assert response.content == (library / "sample.flac").read_bytes()[:100]
        ready = client.get("/readyz").json()
        assert ready["checks"]["database"] == "ok"
