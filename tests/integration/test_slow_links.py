"""Listeners on slow, lossy links: playback must not stall.

The drill runs over two links (the ``link`` parameter), with the same listeners and
assertions:

- "netem": the test makes a network namespace of its own, brings its loopback up (MTU
  1500) and gives it a netem qdisc (150 ms on every packet, so 300 ms round trips, and
  1 % of packets lost), then runs `streamer serve` and the listeners inside it, talking
  over that loopback only;
- "userspace": `streamer serve` listens on 127.0.0.1 as usual and the listeners reach it
  through tests/fixtures/slow_link.py, a TCP proxy emulating the same link (150 ms each
  way, 4 Mbit/s each way, and for 1 % of 1448-byte packets a stall of the
  retransmission timeout, 500 ms, for everything behind it); that module says how it
  differs from netem. It needs nothing of the kernel and runs on any machine.

The listeners:

- a player (this module run as a script, in the namespace for netem) that fetches the master
  playlist, a variant, the init section and the segments at real-time pace, holding one
  segment ahead of the play head, as a player with a small buffer does: each segment
  must arrive before the play head needs it, so each fetch takes less than the
  segment's duration;
- ffmpeg, reading the master playlist, decodes the whole track with no error.

The netem variant needs root (CAP_NET_ADMIN), iproute2 (ip, tc) and a kernel with netem
(CONFIG_NET_SCH_NETEM, the sch_netem module). Where the kernel refuses, it is skipped
with the command and the kernel's answer; nothing outside the namespace changes, and the
namespace is deleted afterwards.

Start-up (master, variant, init section and the first segment, from the first request)
must take less than ``STARTUP_BOUND``: about six round trips (the handshake and five
requests, 1.8 s) and the first segment's transfer, with room for a few stalls of
retransmission timeouts.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import m3u8
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import make_audio
from tests.fixtures.server_logs import FileLog, watch_log
from tests.fixtures.servers import free_port, scan_roots, stop_process, transcode_library
from tests.fixtures.slow_link import SlowLink
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# On the namespace's loopback every packet leaves once, so the round trip is twice this.
NETEM = ("netem", "delay", "150ms", "loss", "1%")
TRACK_SECONDS = 30.0  # five 6 s segments (segment_seconds' default)
PLAYER_TIMEOUT = 180.0
STARTUP_BOUND = 5.0  # seconds from the first request until segment 0 has arrived
# The userspace link's losses follow (seed, connection, stream offset), so a run loses the
# same packets every time. The player's ~350 packets expect 3.5 losses at 1 %; seed 0
# happens to lose none of them, seed 1 six (a stall in every segment's fetch), so the drill
# proves playback through stalls. The player test checks that some were lost.
LINK_SEED = 1


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"the slow-link drill needs iproute2's {name} (apt-get install iproute2)")
    return found


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=30)


def _kernel_netem_option() -> str:
    """What the running kernel's configuration says of netem, when it says anything."""
    try:
        with gzip.open("/proc/config.gz", "rt") as config:
            for line in config:
                if "CONFIG_NET_SCH_NETEM" in line:
                    return f" (/proc/config.gz: {line.strip()})"
    except OSError:
        pass
    return ""


@contextmanager
def lossy_namespace() -> Iterator[str]:
    """A new network namespace whose loopback is up with ``NETEM`` on it; deleted after."""
    if os.geteuid() != 0:
        pytest.skip(
            "the slow-link drill needs root (CAP_NET_ADMIN) to create a network namespace "
            "and add a netem qdisc to its loopback"
        )
    ip, tc = _tool("ip"), _tool("tc")
    name = f"streamer-slow-{os.getpid()}-{secrets.token_hex(3)}"
    made = _run([ip, "netns", "add", name])
    if made.returncode != 0:
        pytest.skip(
            f"cannot create a network namespace: `ip netns add` said: {made.stderr.strip()}"
        )
    try:
        # An internet path's MTU, so that loss hits packets of the usual size (loopback's
        # 64 KB packets would carry a whole segment in two).
        up = _run([ip, "netns", "exec", name, ip, "link", "set", "lo", "mtu", "1500", "up"])
        if up.returncode != 0:
            pytest.skip(f"cannot bring the namespace's loopback up: {up.stderr.strip()}")
        qdisc = [tc, "qdisc", "add", "dev", "lo", "root", *NETEM]
        added = _run([ip, "netns", "exec", name, *qdisc])
        if added.returncode != 0:
            pytest.skip(
                f"netem not available: `tc qdisc add dev lo root {' '.join(NETEM)}` in a new "
                f"network namespace failed: {added.stderr.strip()}{_kernel_netem_option()}; "
                "the drill needs a kernel with netem (CONFIG_NET_SCH_NETEM, module sch_netem)"
            )
        shown = _run([ip, "netns", "exec", name, tc, "qdisc", "show", "dev", "lo"]).stdout
        assert NETEM[0] in shown, shown
        yield name
    finally:
        _run([ip, "netns", "del", name])


@dataclass
class SlowServer:
    link: str  # what the listeners' path is, for the report
    prefix: list[str]  # runs a listener's command on the far side of the link
    base_url: str
    track_id: str
    proxy: SlowLink | None = None  # the userspace link, for its counters


@pytest.fixture(scope="module", params=["netem", "userspace"])
def slow_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlowServer]:
    with ExitStack() as stack:
        netem = request.param == "netem"
        # First: the netem variant is skipped before any transcoding.
        namespace = stack.enter_context(lossy_namespace()) if netem else None
        prefix = [_tool("ip"), "netns", "exec", namespace] if namespace else []
        base = tmp_path_factory.mktemp("slow-links")
        music, data = base / "music", base / "data"
        make_audio(music / "long.flac", "flac", TRACK_SECONDS)
        settings = Settings.load({}, data_dir=data)
        scan_roots(settings, [str(music)])
        renditions = transcode_library(settings, str(music), base / "work")
        assert len(renditions) == 1, renditions
        assert renditions[0], "no renditions"
        track_id = renditions[0][0].track_id
        port = free_port()  # any port is free in the new namespace; this one is as good
        command = [
            *prefix,
            sys.executable, "-m", "streamer.cli", "serve",
            "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data), "--workers", "1", "--library", str(music),
        ]  # fmt: skip
        log = base / "serve.log"
        where = f" in {namespace}" if namespace else ""
        with log.open("wb") as sink, watch_log(FileLog(log, f"streamer serve{where}")):
            # `ip netns exec` execs the command: this PID is the server's.
            process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
            try:
                base_url = f"http://127.0.0.1:{port}"
                assert _listener(prefix, "ready", base_url, timeout=90) is True
                assert process.poll() is None, f"the server exited with {process.returncode}"
                if netem:
                    yield SlowServer(" ".join(NETEM), prefix, base_url, track_id)
                else:  # closed (every connection reset, its thread joined) before the server
                    link = stack.enter_context(SlowLink("127.0.0.1", port, seed=LINK_SEED))
                    yield SlowServer(link.describe(), prefix, link.url, track_id, link)
                    stack.close()
                    assert not link.errors, link.errors
            finally:
                stop_process(process)


def _listener(prefix: list[str], action: str, base_url: str, *, timeout: float) -> Any:
    """Run this module's ``action`` (below) with ``prefix`` (into the namespace); its JSON
    answer."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", __name__, action, base_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_player_holding_one_segment_ahead_never_stalls(slow_server: SlowServer) -> None:
    master = f"{slow_server.base_url}/hls/{slow_server.track_id}/master.m3u8"
    played = _listener(slow_server.prefix, "play", master, timeout=PLAYER_TIMEOUT)
    segments = played["segments"]
    assert sum(s["duration"] for s in segments) == pytest.approx(TRACK_SECONDS, abs=0.1)
    print(  # the figures, with -s
        f"\nslow link ({slow_server.link}): start-up {played['startup']:.2f} s "
        f"(master, variant, init, first segment); segment fetches "
        + ", ".join(f"{s['fetch']:.2f}" for s in segments)
        + " s; margins "
        + ", ".join(f"{s['needed'] - s['arrived']:.2f}" for s in segments[1:])
        + " s"
        + (
            f"; lost {slow_server.proxy.losses} of {slow_server.proxy.packets} packets "
            f"over {slow_server.proxy.connections} connections"
            if slow_server.proxy
            else ""
        )
    )
    assert played["startup"] < STARTUP_BOUND, played["startup"]
    if slow_server.proxy:  # the drill met losses (netem's are not counted here)
        assert sum(slow_server.proxy.losses.values()) > 0, "no loss: choose another LINK_SEED"
    for number, segment in enumerate(segments):
        assert segment["status"] == 200, segment
        assert segment["fetch"] < segment["duration"], f"segment {number}: {segment}"
        # Arrived before the play head reached it (segment 0 starts playback).
        assert segment["arrived"] <= segment["needed"], f"stall at segment {number}: {segment}"


def test_ffmpeg_decodes_the_whole_track_over_the_slow_link(slow_server: SlowServer) -> None:
    master = f"{slow_server.base_url}/hls/{slow_server.track_id}/master.m3u8"
    command = [
        *slow_server.prefix,
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
        "-i", master, "-map", "0:a:0", "-f", "null", "-progress", "pipe:1", "-",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=PLAYER_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""  # no error logged while reading or decoding
    decoded_us = [
        int(line.split("=", 1)[1])
        for line in done.stdout.splitlines()
        if line.startswith("out_time_us=") and line.split("=", 1)[1].isdigit()
    ]
    assert decoded_us, done.stdout
    assert decoded_us[-1] / 1e6 == pytest.approx(TRACK_SECONDS, abs=0.1)


# --------------------------------------------------------------------- inside the namespace


def _ready(base_url: str) -> bool:
    """Wait until the server (started in the namespace a moment ago) is ready."""
    deadline = time.monotonic() + 80
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=10).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{base_url} not ready after 80 s")
        time.sleep(0.5)


def _play(master_url: str) -> dict[str, Any]:
    """Fetch like a player with a one-segment buffer: everything up to segment 0, then
    segment i when segment i-1 starts playing. Times in seconds from the first request."""
    with httpx.Client(timeout=60) as client:
        start = time.monotonic()

        def get(url: str) -> tuple[httpx.Response, float, float]:
            began = time.monotonic()
            response = client.get(url)
            ended = time.monotonic()
            return response, began - start, ended - began

        master_response, _, _ = get(master_url)
        master_response.raise_for_status()
        master = m3u8.loads(master_response.text, uri=master_url)
        variant_url = urljoin(master_url, master.playlists[0].uri)
        variant_response, _, _ = get(variant_url)
        variant_response.raise_for_status()
        variant = m3u8.loads(variant_response.text, uri=variant_url)
        for section in variant.segment_map or []:
            get(urljoin(variant_url, section.uri))[0].raise_for_status()
        segments: list[dict[str, Any]] = []
        playback_start = 0.0
        position = 0.0  # where segment i starts on the play head's clock
        for number, segment in enumerate(variant.segments):
            if number > 1:  # start when the previous segment starts playing
                starts_playing = playback_start + position - segments[-1]["duration"]
                time.sleep(max(0.0, starts_playing - (time.monotonic() - start)))
            response, began, took = get(urljoin(variant_url, segment.uri))
            arrived = began + took
            if number == 0:
                playback_start = arrived
            duration = float(segment.duration)
            segments.append(
                {
                    "uri": segment.uri,
                    "status": response.status_code,
                    "bytes": len(response.content),
                    "duration": duration,
                    "fetch": took,
                    "arrived": arrived,
                    "needed": playback_start + position,
                }
            )
            position += duration
        return {"startup": playback_start, "segments": segments}


if __name__ == "__main__":
    action, url = sys.argv[1], sys.argv[2]
    answer = _ready(url) if action == "ready" else _play(url)
    print(json.dumps(answer))
