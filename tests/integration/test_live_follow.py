"""End to end in real time: a real server plays a channel of three generated tones
(330, 440 and 550 Hz, 15-19 s each) as live HLS, and a client follows
/live/{channel}/aac_128/index.m3u8 for 60 s, across at least two track boundaries.

The decoded samples are checked for gaps and repeats through their pattern: each tone is
one frequency, so the decoded audio is a run of each frequency in the playlist's order,
and every run between the first and the last lasts its track's full length (within one
AAC frame, the documented priming/padding granularity; docs/channels.md).
"""

from __future__ import annotations

import itertools
import subprocess
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import m3u8
import pytest

from streamer.settings import Settings
from tests.fixtures.channels import all_day_entry
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread, transcode_library
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = [pytest.mark.slow, pytest.mark.ffmpeg]  # scripts/test: with each ffmpeg

RATE = 48_000
AAC_FRAME = 1024
FOLLOW_SECONDS = 60
QUIET = 1000  # the tones peak near 16,000 (volume 0.5)
JOIN = 5 * 480  # samples: a join's transient is shorter; every track lasts seconds
# name -> (frequency, seconds)
TONES = {"a.flac": (330, 15.0), "b.flac": (440, 17.0), "c.flac": (550, 19.0)}


@dataclass
class Channel:
    server: RunningServer
    channel_id: str
    frequencies: list[int]  # in the playlist's order
    lengths: list[float]
    ffmpeg: subprocess.Popen[bytes]  # following the channel meanwhile (see below)
    decoded: Path  # what it decodes


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Channel]:
    folder = tmp_path_factory.mktemp("follow-library")
    for name, (frequency, seconds) in TONES.items():
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"sine=f={frequency}:r={RATE}:d={seconds},volume=0.5",
             "-c:a", "flac", str(folder / name)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    data = tmp_path_factory.mktemp("follow-data")
    settings = Settings.load({}, data_dir=data)
    scan_roots(settings, [str(folder)])
    transcode_library(settings, str(folder), data / "work")
    with serve_in_thread(settings) as server, server.api() as client:
        page = client.get("/api/v1/tracks", params={"limit": 100}).json()
        ids = {item["path"]: item["id"] for item in page["items"]}
        library = client.get("/api/v1/libraries").json()[0]["id"]
        body = {"library_id": library, "name": "tones", "track_ids": [ids[n] for n in TONES]}
        playlist = client.post("/api/v1/playlists", json=body).json()["id"]
        created = client.post("/api/v1/channels", json={"name": "Tones", "timezone": "UTC"})
        channel_id = created.json()["id"]
        added = client.post(f"/api/v1/channels/{channel_id}/entries", json=all_day_entry(playlist))
        assert added.status_code == 201, added.text
        # A new channel goes on air at a boundary after the edit settled, and its window
        # lists segments that have gone out: wait for the first.
        media = f"/live/{channel_id}/aac_128/index.m3u8"
        deadline = time.monotonic() + 30
        while client.get(media).status_code != 200:
            assert time.monotonic() < deadline, "the channel never went on air"
            time.sleep(0.5)
        # ffmpeg follows the channel for 60 s while the other test does: one minute for both.
        decoded = data / "ffmpeg.s16le"
        with decoded.open("wb") as sink:
            follower = subprocess.Popen(
                [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
                 "-i", f"{server.base_url}{media}", "-t", str(FOLLOW_SECONDS),
                 "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                stdout=sink, stderr=subprocess.PIPE,
            )  # fmt: skip
        try:
            yield Channel(
                server,
                channel_id,
                [f for f, _ in TONES.values()],
                [s for _, s in TONES.values()],
                follower,
                decoded,
            )
        finally:
            if follower.poll() is None:
                follower.kill()
            follower.wait(timeout=10)


def _frequency(block: array[int]) -> float:
    """The tone's frequency in a block, from its zero crossings."""
    negative = [sample < 0 for sample in block]
    crossings = sum(a != b for a, b in itertools.pairwise(negative))
    return crossings * RATE / (2 * len(block))


def pcm(data: bytes) -> array[int]:
    samples = array("h")
    samples.frombytes(data[: len(data) // 2 * 2])
    return samples


def runs(samples: array[int], frequencies: list[int]) -> list[tuple[int, int]]:
    """(frequency, samples) runs of the decoded audio, blocks of 480 samples (10 ms)
    labelled with the nearest tone; a block across a join is given to its neighbours.
    Near-silent blocks are no tone: a track's encoder priming decodes to near silence,
    whose sign flips would count as a high frequency (ffmpeg 9's decoder), and they are
    left out."""
    block = 480
    labels = []
    for start in range(0, len(samples) - block + 1, block):
        part = samples[start : start + block]
        if max(map(abs, part)) < QUIET:
            continue
        measured = _frequency(part)
        labels.append(min(frequencies, key=lambda f: abs(f - measured)))
    found: list[list[int]] = []
    for label in labels:
        if found and found[-1][0] == label:
            found[-1][1] += block
        else:
            found.append([label, block])
    # A run of up to JOIN between two runs is the join: a block straddling it, or the
    # decoder's transient where one track's last frame overlaps the next one's first (a
    # decoder that runs on across tracks, as ffmpeg's does). Merge it into the run before.
    merged: list[list[int]] = []
    for item in found:
        if merged and item[1] <= JOIN:
            merged[-1][1] += item[1]
            continue
        if merged and merged[-1][0] == item[0]:
            merged[-1][1] += item[1]
            continue
        merged.append(item)
    return [(f, n) for f, n in merged]


def check_continuous(found: list[tuple[int, int]], channel: Channel) -> None:
    """At least two boundaries; runs in the playlist's order; inner runs whole."""
    assert len(found) >= 3, found
    order = channel.frequencies
    start = order.index(found[0][0])
    assert [f for f, _ in found] == [order[(start + k) % 3] for k in range(len(found))], found
    for frequency, count in found[1:-1]:
        expected = channel.lengths[order.index(frequency)] * RATE
        # The run's edges fall in a 10 ms block each, and a join's transient (up to two
        # AAC frames) may go to either side: a gap or a repeat of a segment (seconds), or
        # even of a few frames, is far beyond that.
        assert abs(count - expected) <= 2 * AAC_FRAME + 2 * 480, (frequency, count, expected)


def test_a_player_following_the_window_gets_every_segment_once_in_order(
    channel: Channel, tmp_path: Path
) -> None:
    """What a player does: reload the media playlist about every target duration for 60 s
    of real time, fetch each new segment once (and each track's init), and decode what it
    fetched as the tracks joined end to end (one ffmpeg per track's run of segments, as a
    player's decoder resets at a discontinuity)."""
    url = f"{channel.server.base_url}/live/{channel.channel_id}/aac_128/index.m3u8"
    fetched: dict[int, tuple[str, str | None, bool]] = {}  # sequence -> (uri, init, disc)
    stop = time.monotonic() + FOLLOW_SECONDS
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < stop:
            response = client.get(url)
            assert response.status_code == 200, response.text
            playlist = m3u8.loads(response.text)
            base = httpx.URL(url)
            for n, segment in enumerate(playlist.segments):
                number = playlist.media_sequence + n
                init = str(base.join(segment.init_section.uri)) if segment.init_section else None
                item = (str(base.join(segment.uri)), init, bool(segment.discontinuity))
                previous = fetched.setdefault(number, item)
                assert previous[0] == item[0], "a sequence number changed its segment"
            time.sleep(min(2.0, playlist.target_duration / 2))
        numbers = sorted(fetched)
        assert numbers == list(range(numbers[0], numbers[-1] + 1)), "a segment was skipped"
        # Group into runs of one track (a discontinuity starts a run), decode each run.
        groups: list[list[tuple[str, str | None]]] = []
        for number in numbers:
            uri, init, discontinuity = fetched[number]
            if not groups or discontinuity:
                groups.append([])
            groups[-1].append((uri, init))
        samples = array("h")
        for index, group in enumerate(groups):
            init = group[0][1]
            assert init is not None
            body = client.get(init).content + b"".join(client.get(u).content for u, _ in group)
            path = tmp_path / f"run{index}.mp4"
            path.write_bytes(body)
            done = subprocess.run(
                [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                 "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            samples.extend(pcm(done.stdout))
    assert len(samples) >= (FOLLOW_SECONDS - 12) * RATE
    check_continuous(runs(samples, channel.frequencies), channel)


def test_ffmpeg_follows_the_channel_across_track_boundaries(channel: Channel) -> None:
    """ffmpeg, started with the module, followed /live/... for 60 s of real time. Its HLS
    demuxer feeds each new init section into the MP4 demuxer it has (which skips it as a
    duplicated moov) and drops fragments whose decode time it has seen: it follows only
    because a channel's segments carry decode times that run on (packager.retime)."""
    try:
        _, errors = channel.ffmpeg.communicate(timeout=FOLLOW_SECONDS + 60)
    except subprocess.TimeoutExpired:
        channel.ffmpeg.kill()
        raise
    # What it opened last, and its warnings (a skipped segment, a reload that failed).
    said = errors.decode(errors="replace")[-6000:]
    assert channel.ffmpeg.returncode == 0, said
    samples = pcm(channel.decoded.read_bytes())
    assert len(samples) >= (FOLLOW_SECONDS - 1) * RATE, said
    check_continuous(runs(samples, channel.frequencies), channel)
