"""Bodies of local files on the ASGI path go out with sendfile from the protocol (ASGI's
``http.response.zerocopy``, streamer/serving.py): the bytes are the file's, the metrics and
the access log count them, a reader slower than the socket gets every byte, one that
leaves ends the response quietly. Real uvicorn over loopback, real files."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer import serving
from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread


@dataclass
class Site:
    server: RunningServer
    file: Path
    url: str  # path of the file's original
    sendfile_calls: list[int]
    waits: list[int]  # one entry per wait for the socket to take more
    # Until this monotonic time, sendfile takes nothing (EAGAIN) though the socket is
    # writable: the kernel short of TCP memory. Refused calls are counted in ``refused``.
    refuse_until: list[float]
    refused: list[int]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("zerocopy")
    library = base / "library"
    library.mkdir()
    # About 5 MB: far over inline_read_max, so the ASGI path streams it.
    audio = make_audio(library / "long.wav", "wav", 30.0)
    settings = Settings.load({}, data_dir=base / "data", immediate_answers=False)
    scan_roots(settings, [str(library)])
    calls: list[int] = []
    refuse_until = [0.0]
    refused: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        if time.monotonic() < refuse_until[0]:
            refused.append(1)
            raise BlockingIOError(11, "Resource temporarily unavailable")
        sent = real(out_fd, in_fd, offset, count)
        calls.append(sent)
        return sent

    waits: list[int] = []
    real_writable = serving.StreamerHttpProtocol._writable

    async def counted_writable(self: serving.StreamerHttpProtocol, *args: Any) -> int:
        waits.append(1)
        return await real_writable(self, *args)

    patch = pytest.MonkeyPatch()
    patch.setattr(serving.os, "sendfile", counting)
    patch.setattr(serving.StreamerHttpProtocol, "_writable", counted_writable)
    try:
        with serve_in_thread(settings) as server:
            items = httpx.get(
                f"{server.base_url}/api/v1/tracks", headers=bearer(server.api_key or "")
            ).json()["items"]
            url = f"/media/{items[0]['id']}/original"
            yield Site(server, audio, url, calls, waits, refuse_until, refused)
    finally:
        patch.undo()


def test_a_large_body_is_the_file_sent_by_sendfile(site: Site) -> None:
    site.sendfile_calls.clear()
    with site.server.client() as client:
        response = client.get(site.url)

    assert response.status_code == 200
    assert response.content == site.file.read_bytes()
    assert sum(site.sendfile_calls) == site.file.stat().st_size


@pytest.mark.parametrize(("first", "last"), [(0, 0), (1000, 2_000_999), (4_000_000, None)])
def test_a_range_is_the_files_bytes(site: Site, first: int, last: int | None) -> None:
    data = site.file.read_bytes()
    end = len(data) - 1 if last is None else last
    with site.server.client() as client:
        spec = f"bytes={first}-{'' if last is None else last}"
        response = client.get(site.url, headers={"Range": spec})

    assert response.status_code == 206
    assert response.content == data[first : end + 1]


def test_the_bytes_sent_are_counted(site: Site) -> None:
    def sent_bytes() -> float:
        assert site.server.app is not None
        site.server.app.stats.flush()
        with site.server.client() as client:
            text = client.get("/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("streamer_http_response_body_bytes_total{")
            and 'route="/media/{track_id}/original"' in line
        )

    before = sent_bytes()
    with site.server.client() as client:
        client.get(site.url)

    assert sent_bytes() - before == site.file.stat().st_size


def _raw_get(site: Site, receive_buffer: int) -> socket.socket:
    host, port = site.server.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {site.url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_a_reader_slower_than_the_socket_gets_every_byte(site: Site) -> None:
    expected = site.file.read_bytes()
    site.waits.clear()
    sock = _raw_get(site, 16 * 1024)
    received = bytearray()
    try:
        sock.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        head, _, rest = head.partition(b"\r\n\r\n")
        received += rest
        while len(received) < len(expected):
            if len(received) < 256 * 1024:
                time.sleep(0.002)  # slow at first: the server waits for a full socket
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()

    assert head.startswith(b"HTTP/1.1 200")
    assert bytes(received) == expected
    assert site.waits  # the socket filled up, and the server waited for it


def test_a_socket_writable_in_name_only_is_retried_with_back_off_not_in_a_spin(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As with thousands of full send buffers over net.ipv4.tcp_mem: the socket polls
    # writable, and sendfile takes nothing, for 0.4 s.
    wakes: list[int] = []
    real_on_writable = serving.StreamerHttpProtocol._on_writable

    def counted_on_writable(self: serving.StreamerHttpProtocol) -> None:
        wakes.append(1)
        real_on_writable(self)

    monkeypatch.setattr(serving.StreamerHttpProtocol, "_on_writable", counted_on_writable)
    site.refused.clear()
    site.refuse_until[0] = time.monotonic() + 0.4
    try:
        with site.server.client() as client:
            response = client.get(site.url)
    finally:
        site.refuse_until[0] = 0.0

    assert response.content == site.file.read_bytes()
    # Back-off from 5 ms doubling to 200 ms: about eight tries in 0.4 s; a level-triggered
    # spin would make thousands, of sends or of wakes while the body sleeps.
    assert 1 <= len(site.refused) <= 20
    assert len(wakes) <= 4 * len(site.refused) + 50


def test_a_client_that_leaves_mid_body_ends_it_quietly(
    site: Site, capfd: pytest.CaptureFixture[str]
) -> None:
    sock = _raw_get(site, 16 * 1024)
    sock.recv(4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # a reset, mid-body
    time.sleep(0.3)

    with site.server.client() as client:
        assert client.get("/healthz").status_code == 200
    logged = capfd.readouterr().err
    assert "Exception in ASGI application" not in logged
    assert '"level": "error"' not in logged


def test_serve_raises_its_open_file_limit_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip("needs a finite hard limit above 256")
    probe = (
        "import resource; from streamer.cli import raise_open_file_limit; "
        "print(raise_open_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        preexec_fn=lowered,
    )

    assert result.stdout.split() == [str(hard), str(hard)]
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft  # only the child's changed


def test_serve_caps_connections_at_what_its_open_file_limit_holds() -> None:
    probe = (
        "import logging, sys; from streamer.cli import fit_connections_to_descriptors; "
        "from streamer.settings import Settings; "
        "logging.basicConfig(stream=sys.stderr, format='%(message)s %(hint)s'); "
        "s = fit_connections_to_descriptors(Settings(max_connections_per_worker=8192)); "
        "print(s.max_connections_per_worker)"
    )

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))

    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        preexec_fn=lowered,
    )

    # Two descriptors a connection, besides 1,024 open files and 256 held in reserve.
    assert result.stdout.split() == [str((4096 - 1024 - 256) // 2)]
    assert "open-file limit is too low for the connection cap" in result.stderr
    assert "at least 17664" in result.stderr
