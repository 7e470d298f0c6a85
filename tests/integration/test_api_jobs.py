"""/api/v1/jobs and what transcoding adds to tracks, against `serve`'s own background work.

The fixture runs what `streamer serve` runs: the supervisor's Background (start-up scan,
queued transcodes, the embedded job runner) beside the app on uvicorn over loopback.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.cli import Background, normalise_root
from streamer.db import migrate
from streamer.settings import Settings
from tests.fixtures.audio import make_audio, unknown_codec_wav
from tests.fixtures.servers import serve_in_thread

Json = dict[str, Any]
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Live:
    client: httpx.Client
    ids: dict[str, str]  # file name -> track id

    def job_of(self, name: str) -> Json:
        items = self.client.get("/api/v1/jobs", params={"track": self.ids[name]}).json()["items"]
        assert items, name
        job: Json = items[0]
        return job

    def wait(self, job_id: str, until: Callable[[Json], bool] | None = None) -> Json:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job: Json = self.client.get(f"/api/v1/jobs/{job_id}").json()
            if (until or (lambda j: j["status"] in TERMINAL))(job):
                return job
            time.sleep(0.05)
        raise TimeoutError(job_id)


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, audio_samples: dict[str, Path]
) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("api-jobs")
    library = base / "library"
    library.mkdir()
    shutil.copy(audio_samples["mp3"], library / "cover.mp3")  # tagged, with a PNG cover
    shutil.copy(audio_samples["wav"], library / "plain.wav")  # no cover
    make_audio(library / "long.flac", "flac", 150.0, frequency=220)
    unknown_codec_wav(library / "unknown-codec.wav")
    settings = Settings.load(
        {},
        data_dir=base / "data",
        libraries=[normalise_root(str(library))],
        job_poll_seconds=0.05,
        job_concurrency=2,
    )
    migrate(settings.effective_database_url)
    background = Background(settings)
    background.start()
    try:
        with serve_in_thread(settings) as server, server.api() as client:
            deadline = time.monotonic() + 30
            tracks: list[Json] = []
            while time.monotonic() < deadline and len(tracks) < 4:
                tracks = client.get("/api/v1/tracks").json()["items"]
                time.sleep(0.05)
            yield Live(client, {t["path"]: t["id"] for t in tracks})
    finally:
        background.stop()


def test_the_start_up_scan_queues_a_job_per_track_that_runs_to_the_end(live: Live) -> None:
    job = live.wait(live.job_of("cover.mp3")["id"])

    assert job["status"] == "succeeded"
    assert (job["progress"], job["attempts"], job["error"]) == (1.0, 1, None)
    assert job["urls"]["track"] == f"/api/v1/tracks/{live.ids['cover.mp3']}"


def test_a_track_shows_its_job_loudness_waveform_and_hls_once_transcoded(live: Live) -> None:
    live.wait(live.job_of("cover.mp3")["id"])

    track = live.client.get(f"/api/v1/tracks/{live.ids['cover.mp3']}").json()

    assert track["job"]["status"] == "succeeded"
    assert track["loudness"]["integrated_lufs"] < 0
    assert set(track["urls"]) == {"original", "cover", "waveform", "hls"}
    waveform = live.client.get(track["urls"]["waveform"])
    assert waveform.status_code == 200
    body = waveform.json()
    assert body["duration"] == pytest.approx(2.0, abs=0.1)
    assert 0 < len(body["points"]) <= 2000
    assert all(-1.0 <= low <= high <= 1.0 for low, high in body["points"])
    assert max(high for _, high in body["points"]) > 0.05  # an 1/8-scale sine, not silence


def test_track_pages_carry_each_tracks_newest_job(live: Live) -> None:
    items = live.client.get("/api/v1/tracks").json()["items"]

    assert {item["path"] for item in items if item["job"] is not None} == set(live.ids)


def test_bad_input_fails_its_job_with_ffmpegs_reason_and_the_track_says_why(live: Live) -> None:
    job = live.wait(live.job_of("unknown-codec.wav")["id"])

    assert (job["status"], job["attempts"]) == ("failed", 1)
    assert job["error"].startswith("ffmpeg cannot read the source")
    # ffmpeg's words: "no decoder found" (9.x), "Decoder (codec none) not found" (5.1).
    assert re.search(r"(?i)no decoder found|decoder \(codec \w+\) not found", job["stderr_tail"])
    track = live.client.get(f"/api/v1/tracks/{live.ids['unknown-codec.wav']}").json()
    assert track["status"] == "error"
    assert track["error"].startswith("ffmpeg cannot decode it")
    # The server goes on serving the others.
    original = f"/media/{live.ids['cover.mp3']}/original"
    assert live.client.get(original).status_code == 200


def test_the_embedded_cover_is_served_with_ranges_and_validators(
    live: Live, sample_cover: bytes
) -> None:
    url = f"/media/{live.ids['cover.mp3']}/cover"

    whole = live.client.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "image/png"
    assert whole.content == sample_cover
    part = live.client.get(url, headers={"Range": "bytes=0-7"})
    assert (part.status_code, part.content) == (206, sample_cover[:8])
    again = live.client.get(url, headers={"If-None-Match": whole.headers["etag"]})
    assert again.status_code == 304


def test_a_track_without_a_cover_has_none_to_serve(live: Live) -> None:
    response = live.client.get(f"/media/{live.ids['plain.wav']}/cover")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "the track has no cover"


def test_jobs_filter_by_status_and_track(live: Live) -> None:
    live.wait(live.job_of("unknown-codec.wav")["id"])

    failed = live.client.get("/api/v1/jobs", params={"status": "failed"}).json()
    assert {job["track_id"] for job in failed["items"]} >= {live.ids["unknown-codec.wav"]}
    assert all(job["status"] == "failed" for job in failed["items"])
    one = live.client.get("/api/v1/jobs", params={"track": live.ids["cover.mp3"]}).json()
    assert {job["track_id"] for job in one["items"]} == {live.ids["cover.mp3"]}


def test_queueing_a_transcode_of_a_transcoded_track_needs_force(live: Live) -> None:
    track_id = live.ids["plain.wav"]
    live.wait(live.job_of("plain.wav")["id"])

    refused = live.client.post("/api/v1/jobs", json={"track_id": track_id})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"

    forced = live.client.post("/api/v1/jobs", json={"track_id": track_id, "force": True})
    assert forced.status_code == 201
    assert forced.json()["status"] in ("queued", "running")
    # While it is queued or running, asking again returns the same job.
    same = live.client.post("/api/v1/jobs", json={"track_id": track_id, "force": True})
    if same.status_code == 200:
        assert same.json()["id"] == forced.json()["id"]
    else:  # it finished in between: a new one was queued
        assert same.status_code == 201
    assert live.wait(forced.json()["id"])["status"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "status"),
    [({"track_id": "0123456789abcdef"}, 404), ({}, 422), ({"track_id": 5}, 422)],
)
def test_queueing_a_transcode_rejects_bad_requests(live: Live, body: Json, status: int) -> None:
    response = live.client.post("/api/v1/jobs", json=body)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_cancelling_a_running_job_through_the_api(live: Live) -> None:
    job = live.job_of("long.flac")
    live.wait(job["id"], lambda j: j["progress"] > 0 or j["status"] in TERMINAL)

    asked = live.client.post(f"/api/v1/jobs/{job['id']}/cancel")

    assert asked.status_code == 200
    assert asked.json()["cancel_requested"] is True
    done = live.wait(job["id"])
    assert (done["status"], done["error"]) == ("cancelled", "cancelled")
    track = live.client.get(f"/api/v1/tracks/{live.ids['long.flac']}").json()
    assert track["renditions"] == []
    # Cancelled jobs can be retried; this one then runs to the end.
    retried = live.client.post(f"/api/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("queued", 0)
    assert live.wait(job["id"])["status"] == "succeeded"


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_job_actions_on_an_unknown_job_are_404(live: Live, action: str) -> None:
    response = live.client.post(f"/api/v1/jobs/{'0' * 32}/{action}")

    assert response.status_code == 404
    assert response.json()["detail"] == "no such job"


@pytest.mark.parametrize(("action", "word"), [("cancel", "succeeded"), ("retry", "succeeded")])
def test_job_actions_that_do_not_fit_the_state_are_409(live: Live, action: str, word: str) -> None:
    job = live.wait(live.job_of("cover.mp3")["id"])

    response = live.client.post(f"/api/v1/jobs/{job['id']}/{action}")

    assert response.status_code == 409
    assert word in response.json()["detail"]
