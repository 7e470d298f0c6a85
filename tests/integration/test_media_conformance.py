"""RFC 9110 conformance of /media/{id}/original over real uvicorn, for each storage backend.

Every case compares the body bytes with the file. The same table runs against a local
folder (with immediate answers on, and off) and against an S3 bucket (moto's standalone
server).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import boto3
import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread
from transcoder.ffmpeg import ffmpeg_exe

# name -> (ffmpeg encoder arguments, seconds, expected Content-Type)
FORMATS: dict[str, tuple[tuple[str, ...], float, str]] = {
    "long.mp3": (("-c:a", "libmp3lame", "-b:a", "192k"), 30.0, "audio/mpeg"),
    "clip.m4a": (("-c:a", "aac", "-b:a", "64k"), 1.0, "audio/mp4"),
    "clip.aac": (("-c:a", "aac", "-b:a", "64k", "-f", "adts"), 1.0, "audio/aac"),
    "clip.flac": (
        (
            "-c:a",
            "flac",
        ),
        1.0,
        "audio/flac",
    ),
    "clip.ogg": (("-c:a", "libvorbis"), 1.0, "audio/ogg"),
    "clip.oga": (("-c:a", "flac", "-f", "ogg"), 1.0, "audio/ogg"),
    "clip.opus": (("-c:a", "libopus", "-b:a", "48k"), 1.0, "audio/ogg; codecs=opus"),
    "clip.wav": (
        (
            "-c:a",
            "pcm_s16le",
        ),
        1.0,
        "audio/wav",
    ),
    "clip.webm": (("-c:a", "libopus", "-b:a", "48k", "-f", "webm"), 1.0, "audio/webm"),
}


def make_noise(path: Path, args: tuple[str, ...], seconds: float) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"anoisesrc=d={seconds}:c=pink:r=44100:a=0.3", "-ac", "2", *args, str(path)],
        check=True, timeout=60, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    for name, (args, seconds, _) in FORMATS.items():
        make_noise(folder / name, args, seconds)
    return folder


@dataclass
class Served:
    server: RunningServer
    ids: dict[str, str]  # file name -> track id
    files: Path
    backend: str

    def url(self, name: str) -> str:
        return f"/media/{self.ids[name]}/original"

    def body(self, name: str) -> bytes:
        return (self.files / name).read_bytes()


def _track_ids(client: httpx.Client) -> dict[str, str]:
    page = client.get("/api/v1/tracks", params={"limit": 500}).json()
    return {item["path"]: item["id"] for item in page["items"] if item["status"] == "ok"}


# local-asgi: with immediate answers off, so both of the local paths run every case.
@pytest.fixture(scope="module", params=["local", "local-asgi", "s3"])
def served(
    request: pytest.FixtureRequest,
    media_files: Path,
    tmp_path_factory: pytest.TempPathFactory,
    s3_server: str,
) -> Iterator[Served]:
    data = tmp_path_factory.mktemp(f"data-{request.param}")
    settings = Settings.load(
        {},
        data_dir=data,
        chunk_size=65536,
        inline_read_max=65536,
        s3_endpoint_url=s3_server,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        immediate_answers=request.param != "local-asgi",
    )
    if request.param.startswith("local"):
        root = str(media_files)
    else:
        bucket = f"conformance-{data.name.lower().replace('_', '-')}"
        client = boto3.client(
            "s3", endpoint_url=s3_server, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        client.create_bucket(Bucket=bucket)
        for path in media_files.iterdir():
            client.put_object(Bucket=bucket, Key=f"music/{path.name}", Body=path.read_bytes())
        root = f"s3://{bucket}/music"
    (report,) = scan_roots(settings, [root])
    assert report.failed == 0, report.errors
    with serve_in_thread(settings) as server, server.api() as client:
        ids = _track_ids(client)
        assert set(ids) == set(FORMATS)
        yield Served(server, ids, media_files, request.param)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with served.server.api() as client:
        yield client


# --- whole representation ---------------------------------------------------------------


def test_get_returns_the_whole_file_with_validators(served: Served, client: httpx.Client) -> None:
    response = client.get(served.url("long.mp3"))
    assert response.status_code == 200
    assert response.content == served.body("long.mp3")
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["accept-ranges"] == "bytes"
    assert re.fullmatch(r'"[^"W/]+"', response.headers["etag"])  # strong
    assert response.headers["last-modified"].endswith(" GMT")
    assert response.headers["cache-control"] == "max-age=86400"
    assert response.headers["x-request-id"]


def test_head_has_the_headers_of_get_and_no_body(served: Served, client: httpx.Client) -> None:
    get = client.get(served.url("clip.flac"))
    head = client.head(served.url("clip.flac"))
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "content-type", "etag", "last-modified", "accept-ranges"):
        assert head.headers[name] == get.headers[name]


@pytest.mark.parametrize(("name", "content_type"), [(n, f[2]) for n, f in FORMATS.items()])
def test_content_type_is_exact_for_each_format(
    served: Served, client: httpx.Client, name: str, content_type: str
) -> None:
    response = client.get(served.url(name))
    assert response.headers["content-type"] == content_type
    assert response.content == served.body(name)


# --- single ranges -----------------------------------------------------------------------

SINGLE_RANGES = [
    ("bytes=0-0", lambda n: (0, 0)),
    ("bytes=0-99", lambda n: (0, 99)),
    ("bytes=100-", lambda n: (100, n - 1)),
    ("bytes=-100", lambda n: (n - 100, n - 1)),
    ("bytes=-1", lambda n: (n - 1, n - 1)),
    ("bytes=LAST-LAST", lambda n: (n - 1, n - 1)),
    ("bytes=10-END_PLUS_1000", lambda n: (10, n - 1)),  # end clamped
    ("bytes=-SIZE_PLUS_10", lambda n: (0, n - 1)),  # oversized suffix: whole file
    ("Bytes=5-9", lambda n: (5, 9)),  # the unit is case-insensitive
    ("bytes=5-9 , 10-12", lambda n: (5, 12)),  # OWS around commas; adjacent merged
    ("bytes=70000-200000", lambda n: (70000, 200000)),  # crosses chunk boundaries
]


def _fill(header: str, size: int) -> str:
    return (
        header.replace("LAST", str(size - 1))
        .replace("END_PLUS_1000", str(size + 1000))
        .replace("SIZE_PLUS_10", str(size + 10))
    )


@pytest.mark.parametrize(("header", "expected"), SINGLE_RANGES, ids=[h for h, _ in SINGLE_RANGES])
def test_single_range_is_206_with_exact_bytes(
    served: Served, client: httpx.Client, header: str, expected
) -> None:  # type: ignore[no-untyped-def]
    body = served.body("long.mp3")
    size = len(body)
    start, end = expected(size)
    response = client.get(served.url("long.mp3"), headers={"Range": _fill(header, size)})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == body[start : end + 1]


@pytest.mark.parametrize(
    ("header", "merged"),
    [
        ("bytes=0-9,5-19", (0, 19)),
        ("bytes=0-9,10-19", (0, 19)),
        ("bytes=20-29,0-25", (0, 29)),
        ("bytes=0-5,0-5,0-5", (0, 5)),
    ],
)
def test_overlapping_and_adjacent_ranges_coalesce_into_one(
    served: Served, client: httpx.Client, header: str, merged: tuple[int, int]
) -> None:
    body = served.body("long.mp3")
    response = client.get(served.url("long.mp3"), headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {merged[0]}-{merged[1]}/{len(body)}"
    assert response.content == body[merged[0] : merged[1] + 1]


def parse_multipart(response: httpx.Response) -> list[tuple[str, str, bytes]]:
    """(Content-Type, Content-Range, bytes) of each part, strictly with CRLF framing."""
    match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", response.headers["content-type"])
    assert match, response.headers["content-type"]
    delimiter = b"--" + match.group(1).encode()
    body = response.content
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    parts = []
    for chunk in body[: -len(delimiter) - 6].split(b"\r\n" + delimiter + b"\r\n"):
        chunk = chunk.removeprefix(delimiter + b"\r\n")
        head, _, data = chunk.partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((fields["Content-Type"], fields["Content-Range"], data))
    return parts


@pytest.mark.parametrize("name", ["long.mp3", "clip.wav"])
def test_multiple_ranges_are_multipart_byteranges(
    served: Served, client: httpx.Client, name: str
) -> None:
    body = served.body(name)
    size = len(body)
    response = client.get(
        served.url(name), headers={"Range": f"bytes=0-9, 1000-1999, {size - 70000}-"}
    )
    assert response.status_code == 206
    assert "content-range" not in response.headers
    assert response.headers["content-length"] == str(len(response.content))
    parts = parse_multipart(response)
    expected = [(0, 9), (1000, 1999), (size - 70000, size - 1)]
    assert [p[1] for p in parts] == [f"bytes {a}-{b}/{size}" for a, b in expected]
    assert [p[2] for p in parts] == [body[a : b + 1] for a, b in expected]
    assert {p[0] for p in parts} == {FORMATS[name][2]}


# --- ranges that are ignored or refused ----------------------------------------------------


TOO_MANY = "bytes=" + ",".join(f"{i * 100}-{i * 100 + 1}" for i in range(40))
MALFORMED = {
    "letters": "bytes=abc",
    "other-unit": "items=0-1",
    "reversed": "bytes=5-1",
    "empty": "bytes=",
    "dash": "bytes=-",
    "three-parts": "bytes=1-2-3",
    "hex": "bytes=0x10-20",
    "no-equals": "bytes 0-1",
    "too-many": TOO_MANY,
}


@pytest.mark.parametrize("header", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_or_excessive_range_is_ignored_with_200(
    served: Served, client: httpx.Client, header: str
) -> None:
    response = client.get(served.url("clip.flac"), headers={"Range": header})
    assert response.status_code == 200
    assert response.content == served.body("clip.flac")


@pytest.mark.parametrize(
    "header", ["bytes=SIZE-", "bytes=SIZE-SIZE", "bytes=-0", "bytes=SIZE-,SIZE_PLUS_5-"]
)
def test_unsatisfiable_range_is_416_with_star_content_range(
    served: Served, client: httpx.Client, header: str
) -> None:
    size = len(served.body("clip.flac"))
    header = header.replace("SIZE_PLUS_5", str(size + 5)).replace("SIZE", str(size))
    response = client.get(served.url("clip.flac"), headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.headers["content-type"] == "application/problem+json"
    assert "public" not in response.headers.get("cache-control", "")


def test_range_on_head_is_ignored(served: Served, client: httpx.Client) -> None:
    response = client.head(served.url("clip.flac"), headers={"Range": "bytes=0-9"})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(served.body("clip.flac")))


# --- preconditions (RFC 9110 section 13.2.2 order) ------------------------------------------


def _validators(served: Served, client: httpx.Client) -> tuple[str, str]:
    response = client.head(served.url("clip.m4a"))
    return response.headers["etag"], response.headers["last-modified"]


PAST = "Sat, 01 Jan 2000 00:00:00 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-None-Match": "ETAG"}, 304),
        ({"If-None-Match": "W/ETAG"}, 304),  # weak comparison
        ({"If-None-Match": '"other", ETAG'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"other"'}, 200),
        ({"If-Modified-Since": "LASTMOD"}, 304),
        ({"If-Modified-Since": FUTURE}, 304),
        ({"If-Modified-Since": PAST}, 200),
        ({"If-Modified-Since": "not a date"}, 200),
        ({"If-None-Match": '"other"', "If-Modified-Since": "LASTMOD"}, 200),  # INM wins over IMS
        ({"If-Match": "ETAG"}, 200),
        ({"If-Match": "*"}, 200),
        ({"If-Match": '"other"'}, 412),
        ({"If-Match": "W/ETAG"}, 412),  # strong comparison
        ({"If-Unmodified-Since": PAST}, 412),
        ({"If-Unmodified-Since": "LASTMOD"}, 200),
        ({"If-Match": "ETAG", "If-Unmodified-Since": PAST}, 200),  # If-Match wins over IUS
        ({"If-Match": '"other"', "If-None-Match": "ETAG"}, 412),  # If-Match is evaluated first
        ({"If-Match": "ETAG", "If-None-Match": "ETAG"}, 304),
    ],
)
def test_preconditions_follow_rfc_9110_order(
    served: Served, client: httpx.Client, headers: dict[str, str], status: int
) -> None:
    etag, last_modified = _validators(served, client)
    filled = {
        k: v.replace("ETAG", etag).replace("LASTMOD", last_modified) for k, v in headers.items()
    }
    response = client.get(served.url("clip.m4a"), headers=filled)
    assert response.status_code == status
    if status == 304:
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert "content-length" not in response.headers or response.headers["content-length"] == "0"
    elif status == 200:
        assert response.content == served.body("clip.m4a")


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        ("ETAG", 206),
        ('"stale"', 200),
        ("W/ETAG", 200),
        ("LASTMOD", 206),
        (PAST, 200),
        ("garbage", 200),
    ],
)
def test_if_range_sends_the_part_only_while_the_validator_matches(
    served: Served, client: httpx.Client, if_range: str, status: int
) -> None:
    etag, last_modified = _validators(served, client)
    value = if_range.replace("ETAG", etag).replace("LASTMOD", last_modified)
    response = client.get(
        served.url("clip.m4a"), headers={"Range": "bytes=0-99", "If-Range": value}
    )
    body = served.body("clip.m4a")
    assert response.status_code == status
    assert response.content == (body[:100] if status == 206 else body)


# --- CORS, errors ----------------------------------------------------------------------------


def test_cors_preflight_allows_range(served: Served, client: httpx.Client) -> None:
    response = client.options(
        served.url("clip.m4a"),
        headers={"Origin": "https://player.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "range"},
    )  # fmt: skip
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "range" in response.headers["access-control-allow-headers"].lower()
    assert "GET" in response.headers["access-control-allow-methods"]


def test_cors_exposes_range_headers_to_players(served: Served, client: httpx.Client) -> None:
    response = client.get(
        served.url("clip.m4a"), headers={"Origin": "https://player.example", "Range": "bytes=0-1"}
    )
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"content-range", "content-length", "accept-ranges", "etag"} <= exposed


@pytest.mark.parametrize(
    "path",
    [
        "/media/0123456789abcdef/original",
        "/media/../../etc/passwd/original",
        "/media/x/original",
        "/media/x",
    ],
)
def test_unknown_media_is_404_problem(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_other_methods_are_405_with_allow(served: Served, client: httpx.Client) -> None:
    response = client.post(served.url("clip.m4a"))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_last_modified_is_the_objects_modification_time(
    served: Served, client: httpx.Client
) -> None:
    response = client.head(served.url("clip.m4a"))
    if served.backend.startswith("local"):
        expected = formatdate(int((served.files / "clip.m4a").stat().st_mtime), usegmt=True)
        assert response.headers["last-modified"] == expected
    else:  # S3's LastModified is the upload time: within the last hour of this test run
        assert response.headers["last-modified"].endswith(" GMT")
