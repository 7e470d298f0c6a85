"""Side-by-side benchmark: the streamer's /media route against nginx on the same files.

Run it from the repository root::

    .venv/bin/python benchmarks/ranges.py            # full run, about 4 minutes
    .venv/bin/python benchmarks/ranges.py --quick    # smoke run, about 30 s

It starts Debian's nginx-light (sendfile on, tcp_nodelay on, no tcp_nopush, 2 workers,
keepalive on, access log on by default, like the streamer's) and `streamer serve --workers 2`
on the same four WAV files, and a bare ASGI app on the same uvicorn (benchmarks/bare_app.py,
the floor cost of Python on this stack), then loads them with wrk in interleaved samples and
prints requests/s, MB/s and p50/p99 latency per case, the streamer's ratios to nginx and to
the bare app, each server's CPU per request (user and system, all its processes), and the resident
memory of each server's workers under 1,000 slow readers. Raw figures go to
benchmarks/results/ranges-<time>.json.

The machine has 2 cores and nothing is pinned: the client competes with the servers for the
CPU, so the absolute figures are lower than on a dedicated client, and the ratios are what
to read. Everything talks to 127.0.0.1, every wait is bounded, and only the processes this
script started (by their process groups) are ever signalled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
KB = 1024
MB = 1024 * 1024
WAV_HEADER = 44  # ffmpeg's -bitexact WAV header: RIFF + fmt + data, no LIST chunk
RANGE_SPAN = 64 * KB
SERVERS = ("nginx", "streamer", "bare")
RANGE_SEED = 20261123  # fixed: both servers get the same sequence of random offsets


# --------------------------------------------------------------------------- media files


@dataclass(frozen=True)
class MediaSpec:
    """One benchmark file: a mono 16-bit PCM WAV of exactly `size` bytes."""

    name: str
    size: int
    rate: int

    @property
    def frames(self) -> int:
        return (self.size - WAV_HEADER) // 2


MEDIA = (
    MediaSpec("1k.wav", 1 * KB, 8000),  # 61 ms
    MediaSpec("60k.wav", 60 * KB, 8000),  # 3.8 s
    MediaSpec("1m.wav", 1 * MB, 22050),  # 11.9 s
    MediaSpec("100m.wav", 100 * MB, 44100),  # 9.9 min
)


def ensure_media(folder: Path) -> None:
    """Generate the WAV files with ffmpeg unless they are already there, and check them."""
    import mutagen
    from imageio_ffmpeg import get_ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    for spec in MEDIA:
        path = folder / spec.name
        if not (path.exists() and path.stat().st_size == spec.size):
            partial = path.with_suffix(".part.wav")
            subprocess.run(
                [
                    get_ffmpeg_exe(),
                    "-nostdin",
                    "-y",
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    f"sine=frequency=440:sample_rate={spec.rate}",
                    "-af",
                    f"atrim=end_sample={spec.frames}",
                    "-ac",
                    "1",
                    "-c:a",
                    "pcm_s16le",
                    "-map_metadata",
                    "-1",
                    "-bitexact",
                    "-fflags",
                    "+bitexact",
                    str(partial),
                ],
                check=True,
                timeout=120,
            )
            partial.replace(path)
        info = mutagen.File(path)
        if info is None or not info.info.length > 0:
            raise SystemExit(f"mutagen does not read {path} as audio")
        if abs(path.stat().st_size - spec.size) > spec.size // 100:
            raise SystemExit(f"{path} is {path.stat().st_size} bytes, wanted {spec.size}")


def warm_page_cache(folder: Path) -> None:
    """Read every file once so neither server pays for the first read from disk."""
    for spec in MEDIA:
        with (folder / spec.name).open("rb") as f:
            while f.read(4 * MB):
                pass


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One load: a file, optionally a random 64 KB range of it."""

    key: str
    label: str
    media: MediaSpec
    ranged: bool = False
    whole_big: bool = False  # the 100 MB transfer: fewer connections, longer samples

    @property
    def body_size(self) -> int:
        return RANGE_SPAN if self.ranged else self.media.size


CASES = (
    Case("1k", "1 KB file", MEDIA[0]),
    Case("60k", "60 KB file", MEDIA[1]),
    Case("1m", "1 MB file", MEDIA[2]),
    Case("range64k", "64 KB range of 100 MB", MEDIA[3], ranged=True),
    Case("100m", "100 MB file, whole", MEDIA[3], whole_big=True),
)


# --------------------------------------------------------------------------- processes


def _ppids() -> dict[int, int]:
    """pid -> parent pid for every process we can see."""
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(entry)] = int(fields[1])
    return out


def descendants(pid: int) -> list[int]:
    ppids = _ppids()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = sorted(p for p, pp in ppids.items() if pp == parent)
        found.extend(children)
        frontier.extend(children)
    return found


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_times(pids: Sequence[int]) -> tuple[float, float]:
    """User and system CPU time the processes have used (all their threads), in seconds.
    Per request, it is what a server or a setting costs even when the machine is busy with
    other work (the req/s of a shared machine then say little)."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime (field 14)
        system += int(fields[12])  # stime (field 15)
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def open_sockets(pid: int) -> int | None:
    """How many sockets a process holds: its connections, plus a listener or two."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    count = 0
    for name in names:
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
    return count


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a process we started in its own session, and everything in its group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # The leader may be gone while workers linger in its group: SIGKILL the group last.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class Server:
    """A server process we started, in its own process group."""

    name = "server"

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def path_for(self, media: MediaSpec) -> str:
        raise NotImplementedError

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def _spawn(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def workers(self) -> list[int]:
        """PIDs of the processes that serve connections."""
        raise NotImplementedError

    def processes(self) -> dict[int, str]:
        assert self.proc is not None
        return {pid: cmdline(pid) for pid in [self.proc.pid, *descendants(self.proc.pid)]}

    def cpu_pids(self) -> list[int]:
        """Every process of the server, for its CPU per request: the workers and what
        works beside them (nginx's master, the streamer's supervisor, which inserts the
        workers' delivery events from their spool)."""
        return list(self.processes())


class Nginx(Server):
    name = "nginx"

    def __init__(self, port: int, workdir: Path, media: Path, *, access_log: bool) -> None:
        super().__init__(port, workdir)
        self.media = media
        self.access_log = access_log

    def path_for(self, media: MediaSpec) -> str:
        return f"/media/{media.name}"

    def config(self) -> str:
        w = self.workdir
        user = "user root;" if os.geteuid() == 0 else ""
        log = f"access_log {w}/nginx-access.log;" if self.access_log else "access_log off;"
        return f"""
{user}
worker_processes 2;
worker_rlimit_nofile 16384;
daemon off;
master_process on;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    types {{ audio/wav wav; }}
    default_type application/octet-stream;
    {log}
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    client_body_temp_path {w}/nginx-body;
    proxy_temp_path {w}/nginx-proxy;
    fastcgi_temp_path {w}/nginx-fastcgi;
    uwsgi_temp_path {w}/nginx-uwsgi;
    scgi_temp_path {w}/nginx-scgi;
    server {{
        listen {HOST}:{self.port} backlog=4096;
        location /media/ {{ alias {self.media}/; }}
    }}
}}
"""

    def start(self, binary: str) -> None:
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config())
        self._spawn([binary, "-e", str(self.workdir / "nginx-error.log"), "-c", str(conf)])
        assert self.proc is not None
        wait_for_port(self.port, self.proc, timeout=10)

    def workers(self) -> list[int]:
        assert self.proc is not None
        return [pid for pid, cmd in self.processes().items() if "worker process" in cmd]


class Streamer(Server):
    name = "streamer"

    def __init__(
        self, port: int, workdir: Path, media: Path, env: dict[str, str], name: str = "streamer"
    ) -> None:
        self.name = name  # before the base class names the log after it
        super().__init__(port, workdir)
        self.data_dir = workdir / f"{name}-data"
        self.media = media
        self.env = env
        self.ids: dict[str, str] = {}
        self.binary: Path | None = None
        self.key: str | None = None  # an admin API key, to read the catalogue

    def path_for(self, media: MediaSpec) -> str:
        return f"/media/{self.ids[media.name]}/original"

    def start(self, binary: Path) -> None:
        self.binary = binary
        env = {**os.environ, **self.env}
        self._spawn(
            [
                str(binary),
                "serve",
                "--library",
                str(self.media),
                "--data-dir",
                str(self.data_dir),
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                "2",
            ],
            env=env,
        )
        assert self.proc is not None
        wait_for_port(self.port, self.proc, timeout=180)  # a busy shared machine starts slowly

    def wait_catalogued(self, timeout: float) -> None:
        """Poll the API until every benchmark file is catalogued with status ok."""
        assert self.proc is not None
        wanted = {spec.name for spec in MEDIA}
        deadline = time.monotonic() + timeout
        if self.key is None:
            # The server has migrated its database by now; the key is printed alone.
            minted = subprocess.run(
                [str(self.binary), "apikey", "create", "--name", "bench", "--role", "admin",
                 "--data-dir", str(self.data_dir)],
                env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60,
                check=True,
            )  # fmt: skip
            self.key = minted.stdout.strip()
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamer exited with status {self.proc.returncode}")
            try:
                request = urllib.request.Request(
                    self.url("/api/v1/tracks?limit=500"),
                    headers={"Authorization": f"Bearer {self.key}"},
                )
                with urllib.request.urlopen(request, timeout=5) as r:
                    items = json.load(r)["items"]
            except (OSError, ValueError, KeyError):
                items = []
            seen = {Path(t["path"]).name: t["status"] for t in items}
            self.ids = {Path(t["path"]).name: t["id"] for t in items if t["status"] == "ok"}
            if wanted <= self.ids.keys():
                return
            time.sleep(0.5)
        raise RuntimeError(f"tracks not catalogued after {timeout:.0f} s: {seen}")

    def workers(self) -> list[int]:
        # uvicorn's supervisor spawns its workers with multiprocessing; the resource
        # tracker, if any, is a helper, not a worker.
        return [
            pid
            for pid, cmd in self.processes().items()
            if "spawn_main" in cmd and "resource_tracker" not in cmd
        ]


class Bare(Server):
    """benchmarks/bare_app.py on the streamer's uvicorn (httptools, uvloop, 2 workers): the
    floor cost of Python on this stack. It serves the files it holds in memory, so it runs
    the small cases and the ranges, not the whole 100 MB file or the slow readers."""

    name = "bare"

    def __init__(self, port: int, workdir: Path, media: Path) -> None:
        super().__init__(port, workdir)
        self.media = media

    def path_for(self, media: MediaSpec) -> str:
        return f"/media/{media.name}"

    def start(self, binary: Path) -> None:
        argv = [str(binary), "benchmarks.bare_app:app", "--host", HOST, "--port", str(self.port)]
        argv += ["--workers", "2", "--http", "httptools", "--loop", "uvloop"]
        argv += ["--no-access-log", "--no-server-header", "--no-proxy-headers"]
        argv += ["--lifespan", "off", "--log-level", "warning"]
        env = {**os.environ, "BARE_MEDIA_DIR": str(self.media), "PYTHONPATH": str(ROOT)}
        self._spawn(argv, env=env)
        assert self.proc is not None
        wait_for_port(self.port, self.proc, timeout=60)

    def workers(self) -> list[int]:
        return [pid for pid, cmd in self.processes().items() if "spawn_main" in cmd]


def runs(server: Server, case: Case) -> bool:
    """Whether ``server`` takes part in ``case`` (the bare app holds no 100 MB stream)."""
    return not (isinstance(server, Bare) and case.whole_big)


# --------------------------------------------------------------------------- load


@dataclass
class Sample:
    """One load run against one server."""

    requests: int
    bytes: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    statuses: dict[str, int] = field(default_factory=dict)  # Python client only
    cpu_seconds: float = 0.0  # the server's workers' CPU time during the sample
    cpu_user_seconds: float = 0.0  # its user part (the rest is the kernel's, for them)

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else 0.0

    @property
    def user_us_per_request(self) -> float:
        return self.cpu_user_seconds / self.requests * 1e6 if self.requests else 0.0

    @property
    def sys_us_per_request(self) -> float:
        return self.cpu_us_per_request - self.user_us_per_request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mbps(self) -> float:
        return self.bytes / MB / self.seconds if self.seconds else 0.0


WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

WRK_RANGE = r"""
local path, size, span, seed = "%(path)s", %(size)d, %(span)d, %(seed)d
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end
function init(args)
  math.randomseed(seed + thread_id)
end
function request()
  local first = math.random(0, size - span)
  return wrk.format("GET", path, {["Range"] = "bytes=" .. first .. "-" .. (first + span - 1)})
end
"""


def wrk_script(path: str, case: Case) -> str:
    if case.ranged:
        body = WRK_RANGE % {
            "path": path,
            "size": case.media.size,
            "span": RANGE_SPAN,
            "seed": RANGE_SEED,
        }
    else:
        body = f'wrk.path = "{path}"\n'
    return body + WRK_DONE


def run_wrk(
    binary: str,
    url_base: str,
    path: str,
    case: Case,
    *,
    connections: int,
    threads: int,
    seconds: float,
    workdir: Path,
) -> Sample:
    script = workdir / f"wrk-{case.key}-{abs(hash(path)) % 10**8}.lua"
    script.write_text(wrk_script(path, case))
    argv = [
        binary,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "60s",
        "-s",
        str(script),
        url_base + path,
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=seconds + 90)
    finally:
        stop_group(proc, grace=2)
    for line in out.decode().splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[len("WRKJSON ") :])
            return Sample(
                requests=d["requests"],
                bytes=d["bytes"],
                seconds=d["duration_us"] / 1e6,
                p50_ms=d["p50_us"] / 1e3,
                p99_ms=d["p99_us"] / 1e3,
                errors={k: d[k] for k in ("connect", "read", "write", "status", "timeout")},
            )
    raise RuntimeError(f"wrk printed no result: {out.decode()[-500:]} {err.decode()[-500:]}")


async def _py_one_connection(
    port: int,
    make_request: Callable[[], bytes],
    deadline: float,
    latencies: list[float],
    totals: dict[str, int],
    statuses: dict[str, int],
) -> None:
    """Keep-alive requests on one connection until the deadline (fallback client)."""
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
    except (OSError, TimeoutError):
        totals["connect"] += 1
        return
    try:
        while loop.time() < deadline:
            started = loop.time()
            writer.write(make_request())
            remaining = max(0.1, deadline + 60 - loop.time())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), remaining)
            totals["bytes"] += len(head)
            lines = head.decode("latin-1").split("\r\n")
            status = lines[0].split(" ", 2)[1]
            statuses[status] = statuses.get(status, 0) + 1
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while length:
                chunk = await asyncio.wait_for(reader.read(min(length, 256 * KB)), remaining)
                if not chunk:
                    raise ConnectionError("closed mid-body")
                length -= len(chunk)
                totals["bytes"] += len(chunk)
            latencies.append(loop.time() - started)
            if not status.startswith("2"):
                totals["status"] += 1
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
        totals["read"] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def run_python_client(
    port: int, path: str, case: Case, *, connections: int, seconds: float
) -> Sample:
    """Fallback when wrk is missing: an asyncio raw-socket keep-alive client (slower than wrk)."""
    import random

    rng = random.Random(RANGE_SEED)

    def make_request() -> bytes:
        extra = ""
        if case.ranged:
            first = rng.randint(0, case.media.size - RANGE_SPAN)
            extra = f"Range: bytes={first}-{first + RANGE_SPAN - 1}\r\n"
        return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{extra}\r\n".encode()

    async def main() -> Sample:
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        totals = dict.fromkeys(("bytes", "connect", "read", "write", "status", "timeout"), 0)
        statuses: dict[str, int] = {}
        started = loop.time()
        deadline = started + seconds
        await asyncio.gather(
            *(
                _py_one_connection(port, make_request, deadline, latencies, totals, statuses)
                for _ in range(connections)
            )
        )
        elapsed = loop.time() - started
        qs = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
        return Sample(
            requests=len(latencies),
            bytes=totals.pop("bytes"),
            seconds=elapsed,
            p50_ms=qs[49] * 1e3,
            p99_ms=qs[98] * 1e3,
            errors=totals,
            statuses=statuses,
        )

    return asyncio.run(main())


# --------------------------------------------------------------------------- checks


def check_response(server: Server, case: Case, media_dir: Path) -> str | None:
    """One request of the case's shape; a message if the answer is wrong, else None."""
    path = server.path_for(case.media)
    headers = {}
    first = 12345
    if case.ranged:
        headers["Range"] = f"bytes={first}-{first + RANGE_SPAN - 1}"
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        expect_status = 206 if case.ranged else 200
        if resp.status != expect_status:
            return f"status {resp.status}, wanted {expect_status}"
        length = int(resp.getheader("Content-Length") or -1)
        if length != case.body_size:
            return f"Content-Length {length}, wanted {case.body_size}"
        if case.whole_big:
            return None  # 100 MB: the length is checked; reading it all here costs seconds
        body = resp.read()
    finally:
        conn.close()
    with (media_dir / case.media.name).open("rb") as f:
        f.seek(first if case.ranged else 0)
        expected = f.read(case.body_size)
    return None if body == expected else "body differs from the file"


# --------------------------------------------------------------------------- slow readers


@dataclass
class SlowResult:
    """Many slow readers on one server, with its workers' memory sampled meanwhile."""

    clients: int
    seconds: float
    statuses: dict[str, int]
    errors: dict[str, int]
    bytes_read: int
    ttfb_p50_ms: float
    ttfb_p99_ms: float
    workers: dict[str, dict[str, Any]]  # pid -> idle/peak/after RSS (KB), peak sockets


async def _slow_reader(
    port: int,
    path: str,
    deadline: float,
    rate: int,
    connect_gate: asyncio.Semaphore,
    out: dict[str, Any],
    tick: float = 0.25,
) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small fixed receive buffer (no autotuning) so the server, not the kernel, holds back.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KB)
    sock.setblocking(False)
    per_tick = max(1, int(rate * tick))
    try:
        async with connect_gate:
            await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), 10)
        started = loop.time()
        await asyncio.wait_for(
            loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()), 10
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 4 * KB), 30)
            if not chunk:
                raise ConnectionError("closed before the headers")
            head += chunk
        out["ttfb"].append(loop.time() - started)
        status = head.split(b" ", 2)[1].decode()
        out["statuses"][status] = out["statuses"].get(status, 0) + 1
        out["bytes"] += len(head)
        while loop.time() < deadline:
            await asyncio.sleep(tick)
            # No timeout per read (a task each, too dear for 10,000 readers): run_slow_readers
            # bounds the whole run and cancels what is left.
            chunk = await loop.sock_recv(sock, per_tick)
            if not chunk:
                raise ConnectionError("closed early")
            out["bytes"] += len(chunk)
    except (OSError, TimeoutError, ConnectionError, IndexError, asyncio.CancelledError) as exc:
        kind = type(exc).__name__
        out["errors"][kind] = out["errors"].get(kind, 0) + 1
    finally:
        sock.close()


def _run_client(main: Any) -> Any:
    """Run the client's coroutine, on uvloop when it is there (the streamer's loop, and
    several times faster than asyncio's with thousands of sockets)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def run_slow_readers(
    server: Server, case: Case, *, clients: int, seconds: float, rate_kb: float
) -> SlowResult:
    """`clients` connections each GET the file and read `rate_kb` KB/s for `seconds`."""
    path = server.path_for(case.media)

    def snapshot() -> dict[int, tuple[int, int]]:
        return {pid: (rss_kb(pid) or 0, open_sockets(pid) or 0) for pid in server.workers()}

    idle = snapshot()
    peak: dict[int, list[int]] = {pid: [rss, fds] for pid, (rss, fds) in idle.items()}

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        out: dict[str, Any] = {"ttfb": [], "statuses": {}, "errors": {}, "bytes": 0}
        gate = asyncio.Semaphore(100)
        deadline = loop.time() + seconds
        # Each reader wakes once a tick: a thousand readers four times a second, ten
        # thousand once (the client's own loop must keep up, or it measures itself).
        tick = 0.25 if clients <= 2500 else 1.0
        readers = asyncio.gather(
            *(
                _slow_reader(server.port, path, deadline, int(rate_kb * KB), gate, out, tick)
                for _ in range(clients)
            )
        )
        give_up = deadline + 60
        while not readers.done() and loop.time() < give_up:
            for pid, (rss, fds) in snapshot().items():
                now = peak.setdefault(pid, [0, 0])
                now[0], now[1] = max(now[0], rss), max(now[1], fds)
            await asyncio.wait([readers], timeout=0.5)
        readers.cancel()  # what is still running after the bound counts as an error
        with contextlib.suppress(asyncio.CancelledError):
            await readers
        return out

    started = time.monotonic()
    out = _run_client(main())
    elapsed = time.monotonic() - started
    time.sleep(2)  # let the server notice the closed connections before the last reading
    after = snapshot()
    ttfb = sorted(out["ttfb"])
    qs = statistics.quantiles(ttfb, n=100) if len(ttfb) > 1 else [0.0] * 99
    return SlowResult(
        clients=clients,
        seconds=elapsed,
        statuses=out["statuses"],
        errors=out["errors"],
        bytes_read=out["bytes"],
        ttfb_p50_ms=qs[49] * 1e3,
        ttfb_p99_ms=qs[98] * 1e3,
        workers={
            str(pid): {
                "idle_rss_kb": idle.get(pid, (0, 0))[0],
                "peak_rss_kb": peak[pid][0],
                "after_rss_kb": after.get(pid, (0, 0))[0],
                "peak_sockets": peak[pid][1],
            }
            for pid in sorted(peak)
        },
    )


# --------------------------------------------------------------------------- report


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarise(samples: Sequence[Sample]) -> dict[str, Any]:
    rps = [s.rps for s in samples]
    errors: dict[str, int] = {}
    for s in samples:
        for k, v in s.errors.items():
            errors[k] = errors.get(k, 0) + v
    mid = median(rps)
    return {
        "rps": mid,
        "mbps": median([s.mbps for s in samples]),
        "p50_ms": median([s.p50_ms for s in samples]),
        "p99_ms": median([s.p99_ms for s in samples]),
        "spread": (max(rps) - min(rps)) / mid if mid else 0.0,
        "cpu_us_per_request": median([s.cpu_us_per_request for s in samples]),
        "user_us_per_request": median([s.user_us_per_request for s in samples]),
        "sys_us_per_request": median([s.sys_us_per_request for s in samples]),
        "errors": {k: v for k, v in errors.items() if v},
        "requests": sum(s.requests for s in samples),
    }


def _num(value: float) -> str:
    if value >= 10000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(top: float, bottom: float) -> str:
    return f"{top / bottom:.2f}x" if bottom else "-"


def format_table(results: dict[str, dict[str, dict[str, Any]]], servers: Sequence[str]) -> str:
    """One row per case: each server's medians side by side, then the streamer's req/s
    over nginx's and the bare app's, and its p99 over nginx's."""
    widths = (8, 7, 7, 5)
    ratios = [r for r in ("nginx", "bare") if r in servers and "streamer" in servers]

    def cells(values: Sequence[str], ws: Sequence[int] = widths) -> str:
        return " ".join(f"{v:>{w}}" for v, w in zip(values, ws, strict=True))

    block = len(cells(("",) * len(widths)))
    ratio_heads = [f"st/{r}" for r in ratios] + (["p99/ng"] if "nginx" in ratios else [])
    ratio_ws = [8] * len(ratio_heads)
    lines = [
        f"{'case':<22}"
        + "".join(f" | {s:<{block}}" for s in servers)
        + (" | streamer req/s over" if ratios else ""),
        f"{'':<22}"
        + "".join(f" | {cells(('req/s', 'MB/s', 'p99 ms', '±'))}" for _ in servers)
        + (f" | {cells(ratio_heads, ratio_ws)}" if ratios else ""),
    ]
    lines.append("-" * len(lines[1]))
    for case in CASES:
        per = results.get(case.key)
        if not per:
            continue
        row = f"{case.label:<22}"
        for name in servers:
            r = per.get(name)
            row += " | " + (
                cells(
                    (
                        _num(r["rps"]),
                        _num(r["mbps"]),
                        _num(r["p99_ms"]),
                        f"{r['spread'] * 100:.0f}%",
                    )
                )
                if r
                else cells(("-",) * len(widths))
            )
        if ratios:
            st = per.get("streamer")
            values = [_ratio(st["rps"], per[r]["rps"]) if st and r in per else "-" for r in ratios]
            if "nginx" in ratios:
                n = per.get("nginx")
                values.append(_ratio(st["p99_ms"], n["p99_ms"]) if st and n else "-")
            row += " | " + cells(values, ratio_ws)
        lines.append(row)
        for name in servers:
            if name in per and per[name]["errors"]:
                lines.append(f"{'':<22}   ! {name} errors: {per[name]['errors']}")
    lines.append(
        "± = spread of req/s over the samples, (max-min)/median. st/x = the streamer's req/s "
        "over x's (above 1: the streamer is faster); p99/ng = its p99 over nginx's (below 1: "
        "the streamer is faster)."
    )
    return "\n".join(lines)


def format_cpu_table(results: dict[str, dict[str, dict[str, Any]]], servers: Sequence[str]) -> str:
    """CPU per request of each server's processes (user + system, from /proc), medians, and
    the streamer's over the others': steadier than req/s on a shared machine."""
    ratios = [r for r in ("nginx", "bare") if r in servers and "streamer" in servers]
    lines = [
        f"{'CPU us per request':<22}"
        + "".join(f" | {s + ' user+sys':>19}" for s in servers)
        + "".join(f" | {'st/' + r:>8}" for r in ratios)
    ]
    lines.append("-" * len(lines[0]))
    for case in CASES:
        per = results.get(case.key)
        if not per:
            continue
        row = f"{case.label:<22}"
        for name in servers:
            r = per.get(name)
            cell = (
                f"{r['user_us_per_request']:.1f}+{r['sys_us_per_request']:.1f}"
                f" = {r['cpu_us_per_request']:.1f}"
                if r
                else "-"
            )
            row += f" | {cell:>19}"
        st = per.get("streamer")
        for name in ratios:
            other = per.get(name)
            cell = (
                _ratio(st["cpu_us_per_request"], other["cpu_us_per_request"])
                if st and other
                else "-"
            )
            row += f" | {cell:>8}"
        lines.append(row)
    lines.append(
        "Every process of each server (all their threads), over the requests of each sample. "
        "st/x = the "
        "streamer's CPU per request over x's (below 1: the streamer spends less)."
    )
    return "\n".join(lines)


def format_cpu(r: dict[str, Any]) -> str:
    return (
        f"CPU per request {r['user_us_per_request']:.1f} us user + "
        f"{r['sys_us_per_request']:.1f} us system"
    )


def format_compare(a: Sequence[Sample], b: Sequence[Sample]) -> str:
    rps = format_compare_rps([s.rps for s in a], [s.rps for s in b])
    return (
        rps
        + "; "
        + format_compare_cpu([s.cpu_us_per_request for s in a], [s.cpu_us_per_request for s in b])
    )


def format_compare_cpu(a: Sequence[float], b: Sequence[float]) -> str:
    """Server CPU per request, streamer and streamer-b: medians and their ratio."""
    return (
        f"server CPU per request: streamer {median(a):.1f} us, streamer-b {median(b):.1f} us "
        f"({_ratio(median(b), median(a))})"
    )


def format_compare_rps(a: Sequence[float], b: Sequence[float]) -> str:
    """streamer-b against streamer: the ratio of the medians, and the median of the ratios
    of the samples taken one after the other (a pair shares the machine's mood)."""
    pairs = [y / x for x, y in zip(a, b, strict=False) if x]
    return (
        f"streamer-b/streamer req/s: medians {_ratio(median(b), median(a))}, "
        f"median of paired samples {median(pairs):.3f}x ({len(pairs)} pairs: "
        + ", ".join(f"{r:.3f}" for r in pairs)
        + ")"
    )


def format_slow(slow: dict[str, SlowResult]) -> str:
    lines = []
    for name, r in slow.items():
        lines.append(
            f"{name}: {r.clients} slow readers for {r.seconds:.1f} s, statuses {r.statuses}, "
            f"errors {r.errors or 'none'}, first byte p50 {r.ttfb_p50_ms:.0f} ms "
            f"p99 {r.ttfb_p99_ms:.0f} ms, read {r.bytes_read / MB:.1f} MB in all"
        )
        for pid, w in r.workers.items():
            lines.append(
                f"    worker {pid}: RSS idle {w['idle_rss_kb'] / KB:.1f} MB, "
                f"peak {w['peak_rss_kb'] / KB:.1f} MB, after {w['after_rss_kb'] / KB:.1f} MB, "
                f"peak sockets {w['peak_sockets']}"
            )
    return "\n".join(lines)


def empty_log_summary() -> dict[str, Any]:
    return {"statuses": {}, "levels": {}, "examples": []}


def read_streamer_log(path: Path) -> dict[str, Any]:
    """Count the streamer's access-log statuses and its warnings and errors."""
    summary = empty_log_summary()
    if not path.exists():
        return summary
    statuses, levels, examples = summary["statuses"], summary["levels"], summary["examples"]
    with path.open(errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"level": "unparsed", "msg": line.rstrip()}
            if not isinstance(record, dict):
                continue
            if record.get("logger") == "streamer.access":
                key = str(record.get("status"))
                statuses[key] = statuses.get(key, 0) + 1
                continue
            level = str(record.get("level", "")).lower()
            if level in ("warning", "error", "critical", "unparsed"):
                levels[level] = levels.get(level, 0) + 1
                if len(examples) < 5:
                    examples.append(
                        f"{level}: {record.get('msg')} {str(record.get('exc', ''))[-300:]}"
                    )
    return summary


# --------------------------------------------------------------------------- main


@dataclass
class Options:
    connections: int
    whole_connections: int
    threads: int
    samples: int
    seconds: float
    warmup: float
    slow_clients: int
    slow_seconds: float
    slow_rate_kb: float
    nginx_access_log: bool
    streamer_env: dict[str, str]
    servers: tuple[str, ...]
    media_dir: Path
    results_dir: Path
    quick: bool
    python_client: bool
    cases: tuple[str, ...]
    compare_env: dict[str, str] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=64, help="connections per load (64)")
    p.add_argument(
        "--whole-connections",
        type=int,
        default=8,
        help="connections for the whole 100 MB file (8: 64 x 100 MB would not finish in a sample)",
    )
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument(
        "--samples", type=int, help="samples per case and server (5: odd, so a median; quick 1)"
    )
    p.add_argument("--seconds", type=float, help="seconds per sample (3, quick 1; x2 for 100 MB)")
    p.add_argument("--slow-clients", type=int, help="slow readers (1000, quick 200)")
    p.add_argument("--slow-seconds", type=float, help="how long they read (10, quick 3)")
    p.add_argument("--slow-rate", type=float, default=4.0, help="KB/s each slow reader reads (4)")
    p.add_argument(
        "--nginx-access-log", choices=("on", "off"), default="on", help="(on, like the streamer)"
    )
    p.add_argument(
        "--streamer-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the streamer, e.g. STREAMER_ACCESS_LOG=false (repeatable)",
    )
    p.add_argument("--only", choices=SERVERS, help="run one server (to develop the harness)")
    p.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="comma-separated servers to run (default all: " + ", ".join(SERVERS) + ")",
    )
    p.add_argument(
        "--compare-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also run a second streamer, 'streamer-b', with this environment on top of\n"
        "--streamer-env, interleaved with the first, and print b/streamer per case\n"
        "(the cost of a setting: e.g. --only streamer --streamer-env\n"
        "STREAMER_ANALYTICS_ENABLED=false --compare-env STREAMER_ANALYTICS_ENABLED=true)",
    )
    p.add_argument(
        "--media-dir",
        type=Path,
        default=ROOT / "benchmarks" / ".data" / "media",
        help="where the WAV files are made and kept across runs",
    )
    p.add_argument(
        "--cases",
        default=",".join([*(c.key for c in CASES), "slow"]),
        help="comma-separated cases to run (default all: "
        + ", ".join([*(c.key for c in CASES), "slow"])
        + ")",
    )
    p.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--quick", action="store_true", help="1 short sample per case: a smoke run")
    p.add_argument(
        "--python-client",
        action="store_true",
        help="load with the Python asyncio client even if wrk is there (it is the bottleneck)",
    )
    a = p.parse_args(argv)
    known = {c.key for c in CASES} | {"slow"}
    cases = tuple(c for c in a.cases.split(",") if c)
    if not cases or set(cases) - known:
        p.error(f"--cases takes some of {sorted(known)}, got {a.cases!r}")
    # This measures serving, so the server must not spend the cores transcoding the files
    # it serves: no transcode jobs are queued at start-up (override with --streamer-env).
    env: dict[str, str] = {"STREAMER_TRANSCODE_ON_START": "false"}
    compare: dict[str, str] = {}
    for target, items in ((env, a.streamer_env), (compare, a.compare_env)):
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key:
                p.error(f"--streamer-env and --compare-env want KEY=VALUE, got {item!r}")
            target[key] = value
    servers = (a.only,) if a.only else tuple(x for x in a.servers.split(",") if x)
    if not servers or set(servers) - set(SERVERS):
        p.error(f"--servers takes some of {list(SERVERS)}, got {a.servers!r}")
    if compare and "streamer" not in servers:
        p.error("--compare-env needs the streamer")
    defaults = (1, 1.0, 200, 3.0) if a.quick else (5, 3.0, 1000, 10.0)
    for name, default in zip(
        ("samples", "seconds", "slow_clients", "slow_seconds"), defaults, strict=True
    ):
        if getattr(a, name) is None:
            setattr(a, name, default)
    return Options(
        connections=a.connections,
        whole_connections=a.whole_connections,
        threads=a.threads,
        samples=a.samples,
        seconds=a.seconds,
        warmup=0.0 if a.quick else 1.0,
        slow_clients=a.slow_clients,
        slow_seconds=a.slow_seconds,
        slow_rate_kb=a.slow_rate,
        nginx_access_log=a.nginx_access_log == "on",
        streamer_env=env,
        servers=servers,
        media_dir=a.media_dir.resolve(),
        results_dir=a.results_dir,
        quick=a.quick,
        python_client=a.python_client,
        cases=cases,
        compare_env=compare,
    )


def ensure_tools() -> tuple[str, str | None]:
    """nginx is required; wrk is preferred. Returns their paths (wrk's may be None)."""
    need = ROOT / "scripts" / "need"
    subprocess.run([str(need), "nginx:nginx-light", "wrk:wrk"], check=False, timeout=600)
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        raise SystemExit("nginx is missing: install Debian's nginx-light (scripts/need says how)")
    return nginx, shutil.which("wrk")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks that stop the servers


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def versions(nginx: str, wrk: str | None) -> dict[str, str]:
    def out(argv: list[str]) -> str:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr) else ""

    return {
        "nginx": out([nginx, "-v"]),
        "wrk": out([wrk, "-v"]) if wrk else "none (Python asyncio client)",
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "kernel": platform.release(),
    }


@contextlib.contextmanager
def started_servers(opts: Options, nginx_bin: str, workdir: Path) -> Iterator[dict[str, Server]]:
    servers: dict[str, Server] = {}
    try:
        if "nginx" in opts.servers:
            nginx = Nginx(free_port(), workdir, opts.media_dir, access_log=opts.nginx_access_log)
            servers["nginx"] = nginx
            nginx.start(nginx_bin)
        if "streamer" in opts.servers:
            streamer = Streamer(free_port(), workdir, opts.media_dir, opts.streamer_env)
            servers["streamer"] = streamer
            streamer.start(ROOT / ".venv" / "bin" / "streamer")
            streamer.wait_catalogued(timeout=120)
        if "bare" in opts.servers:
            bare = Bare(free_port(), workdir, opts.media_dir)
            servers["bare"] = bare
            bare.start(ROOT / ".venv" / "bin" / "uvicorn")
        if "streamer" in opts.servers and opts.compare_env:
            env = {**opts.streamer_env, **opts.compare_env}
            other = Streamer(free_port(), workdir, opts.media_dir, env, name="streamer-b")
            servers["streamer-b"] = other
            other.start(ROOT / ".venv" / "bin" / "streamer")
            other.wait_catalogued(timeout=120)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    nginx_bin, wrk_bin = ensure_tools()
    if wrk_bin is None and not opts.python_client:
        print("wrk is missing: falling back to a Python asyncio client (it is the bottleneck!)")
    if opts.python_client:
        wrk_bin = None
    raise_fd_limit()
    began = time.monotonic()
    load_before = load_average()
    print(f"media in {opts.media_dir} (made once, then reused)", flush=True)
    ensure_media(opts.media_dir)
    warm_page_cache(opts.media_dir)

    results: dict[str, dict[str, dict[str, Any]]] = {}
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    slow: dict[str, SlowResult] = {}
    problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-ranges-") as tmp,
        started_servers(opts, nginx_bin, Path(tmp)) as servers,
    ):
        workdir = Path(tmp)
        print(
            f"servers up in {time.monotonic() - began:.0f} s: "
            + ", ".join(f"{s.name} :{s.port} workers {s.workers()}" for s in servers.values()),
            flush=True,
        )
        for case in CASES:
            for server in (s for s in servers.values() if runs(s, case)):
                problem = check_response(server, case, opts.media_dir)
                if problem:
                    problems.append(f"{server.name} {case.label}: {problem}")
        for p in problems:
            print(f"WRONG ANSWER: {p}")

        for case in (c for c in CASES if c.key in opts.cases):
            conns = opts.whole_connections if case.whole_big else opts.connections
            seconds = opts.seconds * (2 if case.whole_big else 1)

            def load(server: Server, secs: float, case: Case = case, conns: int = conns) -> Sample:
                path = server.path_for(case.media)
                if wrk_bin is None:
                    return run_python_client(
                        server.port, path, case, connections=conns, seconds=secs
                    )
                return run_wrk(
                    wrk_bin,
                    server.url(""),
                    path,
                    case,
                    connections=conns,
                    threads=opts.threads,
                    seconds=secs,
                    workdir=workdir,
                )

            order = [s for s in servers.values() if runs(s, case)]
            if opts.warmup:
                for server in order:
                    load(server, opts.warmup)
            samples: dict[str, list[Sample]] = {s.name: [] for s in order}
            for i in range(opts.samples):
                # Alternate who goes first so neither always follows the other's load.
                for server in order if i % 2 == 0 else order[::-1]:
                    pids = server.cpu_pids()
                    user, system = cpu_times(pids)
                    sample = load(server, seconds)
                    user_after, system_after = cpu_times(pids)
                    sample.cpu_user_seconds = user_after - user
                    sample.cpu_seconds = sample.cpu_user_seconds + system_after - system
                    samples[server.name].append(sample)
            results[case.key] = {name: summarise(ss) for name, ss in samples.items()}
            raw[case.key] = {
                name: [
                    {**asdict(s), "rps": s.rps, "mbps": s.mbps, "cpu_us": s.cpu_us_per_request}
                    for s in ss
                ]
                for name, ss in samples.items()
            }
            line = ", ".join(
                f"{name} {r['rps']:.0f} req/s {r['mbps']:.0f} MB/s"
                for name, r in results[case.key].items()
            )
            print(f"  {case.label}: {line} ({conns} connections)", flush=True)
            if "streamer-b" in samples:
                print(f"    {format_compare(samples['streamer'], samples['streamer-b'])}")
            for name, r in results[case.key].items():
                print(f"    {name} {format_cpu(r)}", flush=True)

        big = CASES[-1]
        for server in servers.values() if "slow" in opts.cases else ():
            if not runs(server, big):
                continue
            slow[server.name] = run_slow_readers(
                server,
                big,
                clients=opts.slow_clients,
                seconds=opts.slow_seconds,
                rate_kb=opts.slow_rate_kb,
            )
            print(f"  slow readers on {server.name} done", flush=True)

        log_summary = read_streamer_log(workdir / "streamer.log")
        servers_run = list(servers)

    names = [name for name in servers_run if any(name in per for per in results.values())]
    log_summary = log_summary if "streamer" in opts.servers else empty_log_summary()
    print()
    print(
        f"{opts.connections} connections ({opts.whole_connections} for the whole 100 MB file), "
        f"{opts.samples} sample(s) x {opts.seconds:g} s per case and server, medians; "
        f"64 KB ranges at random offsets (fixed seed); "
        f"nginx access_log {'on' if opts.nginx_access_log else 'off'}; "
        f"client {'wrk' if wrk_bin else 'Python asyncio'} on the same 2 cores, nothing pinned"
    )
    load_after = load_average()
    print(f"load average before {load_before}, after {load_after} (other work shares the machine)")
    if opts.streamer_env:
        print(f"streamer env: {opts.streamer_env}")
    if opts.compare_env:
        print(f"streamer-b env: the same and {opts.compare_env}")
    print(format_table(results, names))
    print()
    print(format_cpu_table(results, names))
    if opts.compare_env:
        for case in CASES:
            if case.key in raw and "streamer-b" in raw[case.key]:
                a_s, b_s = raw[case.key]["streamer"], raw[case.key]["streamer-b"]
                a_rps, b_rps = [s["rps"] for s in a_s], [s["rps"] for s in b_s]
                a_cpu, b_cpu = [s["cpu_us"] for s in a_s], [s["cpu_us"] for s in b_s]
                print(f"{case.label:<22} {format_compare_rps(a_rps, b_rps)}")
                print(f"{'':<22} {format_compare_cpu(a_cpu, b_cpu)}")
    print()
    print(format_slow(slow))
    if log_summary["statuses"] or log_summary["levels"]:
        print(
            f"streamer log: access statuses {log_summary['statuses']}, "
            f"levels {log_summary['levels']}"
        )
        for line in log_summary["examples"]:
            print(f"  {line[:300]}")
    for p in problems:
        print(f"WRONG ANSWER: {p}")

    opts.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = opts.results_dir / f"ranges-{stamp}.json"
    out_path.write_text(
        json.dumps(
            {
                "when": stamp,
                "seconds_total": round(time.monotonic() - began, 1),
                "options": {
                    **{k: v for k, v in asdict(opts).items() if not isinstance(v, Path)},
                    "media_dir": str(opts.media_dir),
                },
                "versions": versions(nginx_bin, wrk_bin),
                "load_average": {"before": load_before, "after": load_after},
                "summary": results,
                "samples": raw,
                "slow_readers": {name: asdict(r) for name, r in slow.items()},
                "wrong_answers": problems,
                "streamer_log": log_summary,
            },
            indent=2,
        )
    )
    shown = out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path
    print(f"\nraw figures: {shown}")
    print(f"total {time.monotonic() - began:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
