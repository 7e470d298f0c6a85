"""Immediate answers: a media request whose track, file state and bytes are in memory is
answered by the protocol itself (streamer.serving), and on the wire it is the ASGI path's
answer. test_media_conformance also runs its whole table with them off."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.immediate import AnswerSpy, comparable, spied_app
from tests.fixtures.servers import RunningServer, bearer, scan_roots, serve_in_thread


@dataclass
class Served:
    server: RunningServer
    spy: AnswerSpy
    path: str  # of the original
    file: Path

    @property
    def url(self) -> str:
        return self.server.base_url + self.path

    def raw(self, request: bytes) -> bytes:
        """Send raw bytes on one connection and read until the server closes it (the
        client's end of writing is shut, so a keep-alive server closes after answering)."""
        host, port = self.server.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)


@pytest.fixture
def served(tmp_path: Path, audio_samples: dict[str, Path]) -> Iterator[Served]:
    library = tmp_path / "library"
    library.mkdir()
    song = library / "song.mp3"
    song.write_bytes(audio_samples["mp3"].read_bytes())
    # File states trusted for a minute: the test, not the clock, decides what is fresh.
    settings = Settings.load({}, data_dir=tmp_path / "data", open_file_valid_seconds=60.0)
    with _serving(settings, song) as served:
        yield served


@contextmanager
def _serving(settings: Settings, song: Path) -> Iterator[Served]:
    """A server of ``song``'s library, its track's entry and file loaded, the spy clear."""
    scan_roots(settings, [str(song.parent)])
    app, spy = spied_app(settings)
    with serve_in_thread(settings, app=app) as server:
        tracks = httpx.get(f"{server.base_url}/api/v1/tracks", headers=bearer(server.api_key))
        path = f"/media/{tracks.json()['items'][0]['id']}/original"
        assert httpx.get(server.base_url + path).status_code == 200  # loads entry and file
        spy.clear()
        yield Served(server, spy, path, song)


def test_a_cached_original_is_answered_by_the_protocol(served: Served) -> None:
    response = httpx.get(served.url)
    assert served.spy.answered == [served.path]
    assert response.status_code == 200
    assert response.content == served.file.read_bytes()
    assert response.headers["content-length"] == str(served.file.stat().st_size)
    assert response.headers["x-request-id"]
    assert response.headers["date"].endswith(" GMT")


CASES = {
    "whole": ("GET", {}),
    "head": ("HEAD", {}),
    "single range": ("GET", {"Range": "bytes=100-199"}),
    "suffix range": ("GET", {"Range": "bytes=-10"}),
    "multiple ranges": ("GET", {"Range": "bytes=0-9,50-59"}),
    "malformed range": ("GET", {"Range": "bytes=9-1"}),
    "unsatisfiable": ("GET", {"Range": "bytes=99999999-"}),
    "if-none-match": ("GET", {"If-None-Match": "ETAG"}),
    "if-match fails": ("GET", {"If-Match": '"other"'}),
    "if-range stale": ("GET", {"Range": "bytes=0-9", "If-Range": '"other"'}),
    "cors origin": ("GET", {"Origin": "https://player.example"}),
}


@pytest.mark.parametrize("case", CASES)
def test_an_immediate_answer_is_the_asgi_answer(served: Served, case: str) -> None:
    method, headers = CASES[case]
    etag = httpx.head(served.url).headers["etag"]
    headers = {k: v.replace("ETAG", etag) for k, v in headers.items()}
    served.spy.answered.clear()
    immediate = httpx.request(method, served.url, headers=headers)
    assert served.spy.answered == [served.path]
    served.spy.enabled = False
    asgi = httpx.request(method, served.url, headers=headers)
    assert served.spy.declined == [served.path]
    assert comparable(immediate) == comparable(asgi)


def test_a_track_not_in_memory_is_answered_by_the_asgi_path(served: Served) -> None:
    assert served.server.app is not None
    served.server.app.index.invalidate()
    assert httpx.get(served.url).status_code == 200
    assert httpx.get(served.url).status_code == 200
    assert served.spy.declined == [served.path]
    assert served.spy.answered == [served.path]


def test_a_file_that_shrank_under_its_cached_state_is_answered_afresh(served: Served) -> None:
    served.file.write_bytes(b"ID3 short now")
    response = httpx.get(served.url)
    assert served.spy.declined == [served.path]
    assert response.status_code == 200
    assert response.content == b"ID3 short now"


@pytest.mark.parametrize(
    ("range_header", "sendfile"),
    [(None, True), ("bytes=100-", True), ("bytes=0-99", False), ("bytes=0-9,20-29", False)],
)
def test_one_range_of_16_kb_or_more_is_sent_with_sendfile(
    served: Served, range_header: str | None, sendfile: bool
) -> None:
    body = served.file.read_bytes()
    assert len(body) > 16 * 1024 + 100
    headers = {"Range": range_header} if range_header else {}
    response = httpx.get(served.url, headers=headers)
    (reply,) = served.spy.replies
    assert (reply.file is not None) is sendfile
    if range_header is None:
        assert response.content == body
    elif range_header == "bytes=100-":
        assert response.content == body[100:]


def test_pipelined_sendfile_and_copied_answers_keep_their_order(served: Served) -> None:
    body = served.file.read_bytes()
    whole = f"GET {served.path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    small = f"GET {served.path} HTTP/1.1\r\nHost: t\r\nRange: bytes=0-3\r\n\r\n".encode()
    answer = served.raw(whole + small + whole + small)
    assert [r.file is not None for r in served.spy.replies] == [True, False, True, False]
    parts = answer.split(b"HTTP/1.1 ")[1:]
    assert [p[:3] for p in parts] == [b"200", b"206", b"200", b"206"]
    assert parts[0].endswith(b"\r\n\r\n" + body)
    assert parts[1].endswith(b"\r\n\r\n" + body[:4])
    assert parts[2].endswith(b"\r\n\r\n" + body)


def test_keep_alive_and_pipelined_requests_are_answered_in_order(served: Served) -> None:
    size = served.file.stat().st_size
    ask = f"GET {served.path} HTTP/1.1\r\nHost: t\r\nRange: bytes=0-3\r\n\r\n".encode()
    head = f"HEAD {served.path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    answer = served.raw(ask + head + ask)  # one send: pipelined
    assert served.spy.answered == [served.path] * 3
    parts = answer.split(b"HTTP/1.1 ")
    assert [p[:3] for p in parts[1:]] == [b"206", b"200", b"206"]
    assert parts[1].endswith(b"\r\n\r\n" + served.file.read_bytes()[:4])
    assert f"content-length: {size}\r\n".encode() in parts[2]
    assert parts[2].endswith(b"\r\n\r\n")  # HEAD: no body
    assert b"connection: close" not in answer


@pytest.mark.parametrize(
    "request_line",
    [
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "GET {path} HTTP/1.0\r\n\r\n",
    ],
    ids=["connection close", "http/1.0"],
)
def test_a_closing_request_gets_connection_close_and_a_close(
    served: Served, request_line: str
) -> None:
    host, port = served.server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request_line.format(path=served.path).encode())
        chunks = []
        while chunk := sock.recv(65536):  # ends only if the server closes
            chunks.append(chunk)
    answer = b"".join(chunks)
    assert served.spy.answered == [served.path]
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nconnection: close\r\n" in answer
    assert answer.endswith(served.file.read_bytes())


def test_a_get_with_a_body_is_answered_and_the_body_skipped(served: Served) -> None:
    with_body = (
        f"GET {served.path} HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n"
        "Content-Length: 5\r\n\r\nhello"
    ).encode()
    plain = f"GET {served.path} HTTP/1.1\r\nHost: t\r\nRange: bytes=2-3\r\n\r\n".encode()
    answer = served.raw(with_body + plain)
    body = served.file.read_bytes()
    first, second = answer.split(b"HTTP/1.1 ")[1:]
    assert first.endswith(body[0:2])
    assert second.endswith(body[2:4])


def test_immediate_answers_are_logged_and_counted(served: Served) -> None:
    app = served.server.app
    assert app is not None
    assert app.access_log is not None
    app.access_log.flush()  # the fixture's requests
    stream = io.StringIO()
    app.access_log.stream = stream
    response = httpx.get(
        served.url,
        headers={"X-Request-ID": "cdn-7", "X-Forwarded-For": "203.0.113.9", "Range": "bytes=0-9"},
    )
    app.access_log.flush()
    assert served.spy.answered == [served.path]
    assert response.headers["x-request-id"] == "cdn-7"
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["route"] == "/media/{track_id}/original"
    assert (line["status"], line["bytes"], line["request_id"]) == (206, 10, "cdn-7")
    # serve_in_thread's uvicorn trusts proxy headers from 127.0.0.1, like a CDN's.
    assert line["client"] == "203.0.113.9"
    metrics = httpx.get(f"{served.server.base_url}/metrics").text
    assert 'route="/media/{track_id}/original",status="206"} 1.0' in metrics
    assert 'streamer_range_requests_total{kind="single"} 1.0' in metrics


def test_signed_urls_are_never_answered_immediately(
    tmp_path: Path, audio_samples: dict[str, Path]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "song.mp3").write_bytes(audio_samples["mp3"].read_bytes())
    settings = Settings.load({}, data_dir=tmp_path / "data", url_signing_secret="s" * 32)
    scan_roots(settings, [str(library)])
    app, spy = spied_app(settings)
    with serve_in_thread(settings, app=app) as server:
        tracks = httpx.get(f"{server.base_url}/api/v1/tracks", headers=bearer(server.api_key))
        url = f"{server.base_url}/media/{tracks.json()['items'][0]['id']}/original"
        assert [httpx.get(url).status_code for _ in range(2)] == [403, 403]
    assert spy.answered == []


def test_immediate_answers_can_be_turned_off(
    tmp_path: Path, audio_samples: dict[str, Path]
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "song.mp3").write_bytes(audio_samples["mp3"].read_bytes())
    settings = Settings.load({}, data_dir=tmp_path / "data", immediate_answers=False)
    scan_roots(settings, [str(library)])
    app, spy = spied_app(settings)
    with serve_in_thread(settings, app=app) as server:
        tracks = httpx.get(f"{server.base_url}/api/v1/tracks", headers=bearer(server.api_key))
        url = f"{server.base_url}/media/{tracks.json()['items'][0]['id']}/original"
        assert [httpx.get(url).status_code for _ in range(2)] == [200, 200]
    assert spy.answered == spy.declined == []


# Long bodies: over inline_read_max, the head goes at once and the protocol streams the
# body (Reply.done); the ASGI path is no longer needed for a cached local file.


@pytest.fixture(scope="module")
def streamed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("streamed")
    library = base / "library"
    # About 10 MB: more than the socket buffers of both ends hold.
    song = make_audio(library / "long.wav", "wav", 60.0)
    settings = Settings.load(
        {}, data_dir=base / "data", open_file_valid_seconds=600.0, inline_read_max=64 * 1024
    )
    with _serving(settings, song) as served:
        yield served


@pytest.fixture
def fresh(streamed: Served) -> Served:
    streamed.spy.clear()
    streamed.spy.enabled = True
    return streamed


def _held(served: Served) -> list[int]:
    """References held on the files' cached states, once every body's task has ended (a
    client can have read the last byte before the server's task releases the file)."""
    app = served.server.app
    assert app is not None
    deadline = time.monotonic() + 5
    while True:
        refs = [state.refs for state in app.media.states._states.values()]
        if not any(refs) or time.monotonic() > deadline:
            return refs
        time.sleep(0.01)


@pytest.mark.parametrize("case", CASES)
def test_a_long_body_streamed_by_the_protocol_is_the_asgi_answer(fresh: Served, case: str) -> None:
    method, headers = CASES[case]
    etag = httpx.head(fresh.url).headers["etag"]
    headers = {k: v.replace("ETAG", etag) for k, v in headers.items()}
    fresh.spy.clear()
    immediate = httpx.request(method, fresh.url, headers=headers)
    fresh.spy.enabled = False
    asgi = httpx.request(method, fresh.url, headers=headers)
    assert comparable(immediate) == comparable(asgi)
    if case in ("whole", "cors origin"):  # the long ones: streamed, not declined
        assert fresh.spy.answered == [fresh.path]
        assert fresh.spy.replies[0].done is not None
    assert _held(fresh) == [0]


def test_pipelined_requests_after_a_streamed_body_keep_their_order(fresh: Served) -> None:
    body = fresh.file.read_bytes()
    whole = f"GET {fresh.path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    small = f"GET {fresh.path} HTTP/1.1\r\nHost: t\r\nRange: bytes=0-3\r\n\r\n".encode()
    answer = fresh.raw(whole + small + whole)
    assert [r.done is not None for r in fresh.spy.replies] == [True, False, True]
    parts = answer.split(b"HTTP/1.1 2")[1:]
    assert [p[:2] for p in parts] == [b"00", b"06", b"00"]
    assert parts[0].endswith(b"\r\n\r\n" + body)
    assert parts[1].endswith(b"\r\n\r\n" + body[:4])
    assert parts[2].endswith(b"\r\n\r\n" + body)
    assert _held(fresh) == [0]


def test_a_streamed_body_left_mid_way_is_logged_with_what_went_and_releases_its_file(
    fresh: Served,
) -> None:
    app = fresh.server.app
    assert app is not None
    assert app.access_log is not None
    app.access_log.flush()
    stream = io.StringIO()
    app.access_log.stream = stream
    size = fresh.file.stat().st_size
    host, port = fresh.server.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {fresh.path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(0.2)  # the server fills what the buffers hold, then waits
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # a reset, mid-body
    deadline = time.monotonic() + 5
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
        app.access_log.flush()
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["status"] == 200
    assert 0 < line["bytes"] < size
    assert _held(fresh) == [0]
    assert httpx.get(fresh.url, headers={"Range": "bytes=0-3"}).status_code == 206  # serving on
