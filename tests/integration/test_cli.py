"""The command line: serve (several workers), scan with a summary, migrate, clear errors."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from streamer.cli import main
from streamer.demo import SERVE_DEMO_TRACKS
from streamer.settings import Settings
from tests.fixtures.audio import awkward_files, unknown_codec_wav
from tests.fixtures.servers import serve_in_process, serve_in_thread


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAMER_PORT": "eighty"}, "STREAMER_PORT"),
        ({"STREAMER_WORKERS": "0"}, "STREAMER_WORKERS"),
        ({"STREAMER_NOPE": "1"}, "unknown setting STREAMER_NOPE"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_clear_message(
    env: dict[str, str], message: str
) -> None:
    result = _cli("serve", "--no-scan", env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker", "transcode"])
@pytest.mark.parametrize(
    ("version_line", "message"),
    [
        (
            "ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright",
            "ffmpeg 4.4.2-0ubuntu0.22.04.1 is too old",
        ),
        ("ffprobe version 5.1.9", "not ffmpeg"),
        (None, "is not an executable file"),
    ],
)
def test_an_unsupported_ffmpeg_stops_start_up_with_a_clear_message(
    command: str, version_line: str | None, message: str, tmp_path: Path
) -> None:
    fake = tmp_path / "ffmpeg"
    if version_line is not None:
        fake.write_text(f"#!/bin/sh\necho '{version_line}'\n")
        fake.chmod(0o755)
    data = str(tmp_path / "data")
    result = _cli(command, "--data-dir", data, env={"STREAMER_FFMPEG_PATH": str(fake)})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_scan_catalogues_and_reports_failures(
    tmp_path: Path, audio_samples: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(audio_samples["flac"], library / "good.flac")
    awkward_files(library)
    data = str(tmp_path / "data")
    assert main(["scan", str(library), "--data-dir", data, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"2 added, 0 changed, 0 unchanged, 0 gone, 5 failed", out), out
    assert "failed: empty.mp3: " in out
    assert main(["scan", str(library), "--data-dir", data, "--no-progress"]) == 0
    assert "0 added, 0 changed, 7 unchanged" in capsys.readouterr().out


def test_scan_of_a_missing_folder_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["scan", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path / "data"), "--no-progress"]
    )
    assert code == 1
    assert "nowhere" in capsys.readouterr().err


def test_migrate_creates_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert (tmp_path / "streamer.db").exists()
    assert "up to date" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_with_two_workers_serves_the_demo_library_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    args = ["--demo", "--workers", "2", "--data-dir", str(tmp_path / "data")]
    minted = _cli("apikey", "create", "--name", "t", "--role", "viewer", *args[-2:])
    assert minted.returncode == 0, minted.stderr
    auth = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    with serve_in_process(args, tmp_path / "serve.log") as server:
        base_url, process = server.base_url, server.process
        deadline = time.monotonic() + 60
        tracks: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            tracks = httpx.get(f"{base_url}/api/v1/tracks", headers=auth).json()["items"]
            if len(tracks) == SERVE_DEMO_TRACKS and all(t["status"] == "ok" for t in tracks):
                break
            time.sleep(0.2)
        assert len(tracks) == SERVE_DEMO_TRACKS
        for track in tracks:
            response = httpx.get(
                f"{base_url}{track['urls']['original']}", headers={"Range": "bytes=0-99"}
            )
            assert response.status_code == 206
            assert len(response.content) == 100
        # Both workers' requests are aggregated in one /metrics.
        for _ in range(20):
            httpx.get(f"{base_url}/healthz")
        # The supervisor transcodes the demo after scanning it: HLS appears on its own.
        master = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            master = httpx.get(f"{base_url}/hls/{tracks[-1]['id']}/master.m3u8")
            if master.status_code == 200:
                break
            time.sleep(0.5)
        assert master is not None
        assert master.status_code == 200
        assert "#EXT-X-STREAM-INF" in master.text
        # Workers add their tallies every second: wait for both to have reported.
        count = 0.0
        deadline = time.monotonic() + 10
        while count < 20 and time.monotonic() < deadline:
            metrics = httpx.get(f"{base_url}/metrics").text
            match = re.search(
                r'streamer_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)',
                metrics,
            )
            count = float(match.group(1)) if match else 0.0
            time.sleep(0.2)
        assert count == 20
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert '"logger": "streamer.access"' in server.logs()


@pytest.mark.slow
def test_transcode_makes_tracks_playable_as_hls_and_skips_them_next_time(
    tmp_path: Path, audio_samples: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(audio_samples["flac"], library / "good.flac")
    (library / "bad.mp3").write_bytes(b"not audio")
    data = str(tmp_path / "data")
    assert main(["scan", str(library), "--data-dir", data, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["transcode", "--data-dir", data, "--no-progress"]) == 0
    assert "1 transcoded, 0 failed" in capsys.readouterr().out
    assert main(["transcode", "--data-dir", data, "--no-progress"]) == 0
    assert "0 transcoded, 0 failed" in capsys.readouterr().out
    settings = Settings.load({}, data_dir=Path(data))
    with serve_in_thread(settings) as server, server.api() as client:
        track = client.get("/api/v1/tracks", params={"status": "ok"}).json()["items"][0]
        master = client.get(f"/hls/{track['id']}/master.m3u8")
        assert master.status_code == 200
        assert master.text.count("#EXT-X-STREAM-INF") == 3
        assert track["loudness"] is not None
        assert track["renditions"] is None  # pages leave them out
        detail = client.get(f"/api/v1/tracks/{track['id']}").json()
        assert detail["urls"]["hls"] == f"/hls/{track['id']}/master.m3u8"
        names = [r["name"] for r in detail["renditions"]]
        assert names == ["aac_128", "aac_256", "aac_64"]
        for rendition in detail["renditions"]:
            assert rendition["codecs"] == "mp4a.40.2"
            playlist = client.get(rendition["urls"]["playlist"])
            assert playlist.status_code == 200
            assert client.head(rendition["urls"]["progressive"]).headers["content-length"] == str(
                rendition["size"]
            )


@pytest.mark.slow
def test_scan_wait_transcodes_with_a_bar_per_job_and_reports_failures(
    tmp_path: Path, audio_samples: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(audio_samples["mp3"], library / "good.mp3")
    unknown_codec_wav(library / "unknown-codec.wav")
    data = str(tmp_path / "data")

    status = main(["scan", str(library), "--data-dir", data, "--wait"])

    captured = capsys.readouterr()
    assert status == 1
    assert "1 transcoded, 1 failed" in captured.out
    assert "failed: unknown-codec.wav: ffmpeg cannot read the source" in captured.out
    assert "succeeded: good.mp3" in captured.err
    assert "jobs: 100%" in captured.err


def test_apikey_create_prints_only_the_key_and_it_opens_the_api(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    minted = _cli("apikey", "create", "--name", "ci", "--role", "admin", *data)
    assert minted.returncode == 0, minted.stderr
    key = minted.stdout.strip()
    assert minted.stdout == key + "\n"
    assert key.startswith("stk_")
    assert "not shown again" in minted.stderr
    settings = Settings.load({}, data_dir=tmp_path / "data")
    with serve_in_thread(settings) as server:
        response = httpx.get(
            f"{server.base_url}/api/v1/users", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200


def test_user_create_reads_the_password_from_stdin_and_the_user_can_sign_in(
    tmp_path: Path,
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    created = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "user", "create", "ada", "--role", "admin",
         "--password-stdin", *data],
        input="a long enough secret\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    again = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "user", "create", "ada", "--role", "admin",
         "--password-stdin", *data],
        input="a long enough secret\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 1
    assert "exists already" in again.stderr
    settings = Settings.load({}, data_dir=tmp_path / "data")
    with serve_in_thread(settings) as server:
        login = httpx.post(
            f"{server.base_url}/api/v1/auth/login",
            json={"name": "ada", "password": "a long enough secret"},
        )
        assert login.status_code == 200
        assert login.json()["role"] == "admin"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["user", "create", "bob", "--role", "admin", "--password-stdin"],
            "short\n",
            "at least 10",
        ),
        (["user", "create", "bob", "--role", "boss", "--password-stdin"], "", "invalid choice"),
        (["user", "set-password", "bob", "--password-stdin"], "short\n", "at least 10"),
        (["user", "disable"], "", "the following arguments are required: name"),
        (
            ["apikey", "create", "--name", "x", "--role", "admin", "--library", "lib=own"],
            "",
            "ID=read",
        ),
        (
            ["apikey", "create", "--name", "x", "--role", "admin", "--expires-days", "0"],
            "",
            "1 or more",
        ),
    ],
)
def test_account_commands_refuse_bad_input_clearly(
    tmp_path: Path, args: list[str], stdin: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli", *args, "--data-dir", str(tmp_path)],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_serve_without_accounts_says_how_to_make_the_first(tmp_path: Path) -> None:
    args = ["--no-scan", "--workers", "1", "--data-dir", str(tmp_path / "data")]
    with serve_in_process(args, tmp_path / "serve.log") as server:
        logs = server.logs()
    assert "streamer user create NAME --role admin" in logs


_SIGN_IN_BLOCK = re.compile(
    r"\n\n(=+)\nstreamer is ready: web admin at (\S+)\n"
    r"  user name: (\S+)\n  password:  (\S+)\n"
    r".*shown only now\.\n.*\n  streamer user set-password admin --data-dir \S+\n\1\n\n$"
)


@pytest.mark.slow
def test_serve_demo_ends_its_output_with_the_demo_admins_sign_in_once_ready(
    tmp_path: Path,
) -> None:
    # As `make serve` on a fresh clone: scan and transcode the demo. One worker: with
    # more, uvicorn may restart one that is slow to start (under load) after the block.
    args = ["--demo", "--workers", "1", "--data-dir", str(tmp_path / "data")]
    with serve_in_process(args, tmp_path / "serve.log") as server:
        found = None
        deadline = time.monotonic() + 150
        while found is None and time.monotonic() < deadline:
            found = _SIGN_IN_BLOCK.search(server.logs())  # only once it is the last thing
            time.sleep(0.05)
        logs = server.logs()
        assert found is not None, logs[-3000:]
        found = _SIGN_IN_BLOCK.search(logs)  # still last, before the first request
        assert found is not None, logs[-3000:]
        # After the migrations, the workers' start-up and the demo's transcodes: last.
        assert logs.index("Running upgrade") < found.start()
        assert logs.count('"msg": "job succeeded"') == SERVE_DEMO_TRACKS
        assert "Application startup complete" in logs[: found.start()]
        assert '"GET /healthz 200"' in logs[: found.start()]  # the readiness probe
        url, name, password = found.group(2, 3, 4)
        assert url == f"{server.base_url}/admin/"
        assert name == "admin"
        assert password not in logs[: found.start()]  # shown only in the block
        response = httpx.post(
            f"{server.base_url}/api/v1/auth/login", json={"name": name, "password": password}
        )
        assert response.status_code == 200
        assert response.json()["role"] == "admin"
