"""Ads stitched into a track's HLS stream per listener session, played by ffmpeg as an HLS
client: a pre-roll and a mid-roll decode continuously around the programme, each where
its EXT-X-DATERANGE says, each ad measured by ffmpeg's ebur128 within 1 LU of the target.

The programme and the ad (tests/fixtures/ads.py) are tones of different pitches, mastered
at different loudness and normalised when transcoded. Decoded audio is split by pitch
(zero crossings per window), so a gap, an overlap or an ad in the wrong place shows."""

from __future__ import annotations

import itertools
import re
import statistics
import subprocess
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest

from tests.fixtures.ads import (
    AD_SECONDS,
    MID_AT,
    PROGRAMME_SECONDS,
    RATE,
    SECOND_SECONDS,
    TARGET,
    build_ad_library,
    configure_ads,
)
from tests.fixtures.servers import RunningServer, serve_in_thread
from transcoder.ffmpeg import ffmpeg_exe

pytestmark = pytest.mark.ffmpeg

DURING = "2026-12-07T12:00:00Z"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@dataclass
class World:
    server: RunningServer
    programme: str
    ad_track: str
    campaign: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = build_ad_library(tmp_path_factory.mktemp("insertion"))
    with serve_in_thread(settings) as server, server.api() as api:
        tracks, campaign = configure_ads(api)
        yield World(server, tracks["show.flac"], tracks["spot.flac"], campaign)


def _session_media(client: httpx.Client, track: str, **headers: str) -> tuple[str, str]:
    """A new session's aac_128 media playlist URL and text."""
    master = client.get(f"/hls/ads/{track}/master.m3u8", headers=headers)
    assert master.status_code == 200, master.text
    assert master.headers["cache-control"] == "private, no-store"
    uri = next(p.uri for p in m3u8.loads(master.text).playlists if "aac_128" in p.uri)
    url = f"/hls/ads/{track}/{uri}"
    media = client.get(url)
    assert media.status_code == 200, media.text
    return url, media.text


def test_a_session_lists_each_ad_between_discontinuities_with_a_date_range(world: World) -> None:
    with world.server.client() as client:
        url, text = _session_media(client, world.programme)
        again = client.get(url)
    assert again.text == text  # a session's playlist never changes
    playlist = m3u8.loads(text)
    ranges = re.findall(r"#EXT-X-DATERANGE:(.*)", text)
    assert len(ranges) == 2
    assert all('CLASS="com.streamer.ad"' in r and f'X-CAMPAIGN="{world.campaign["id"]}"' in r
               for r in ranges)  # fmt: skip
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 1
    # ad, programme, ad, programme: a discontinuity before each part but the first
    assert text.count("#EXT-X-DISCONTINUITY") == 3
    assert [s.uri.split("/seg/")[1].split("/")[0] for s in playlist.segments][:2] == [
        world.ad_track,
        world.ad_track,
    ]


def test_every_master_starts_a_new_session(world: World) -> None:
    with world.server.client() as client:
        first, _ = _session_media(client, world.programme)
        second, _ = _session_media(client, world.programme)
    assert first != second


def test_a_segment_url_may_name_only_the_programme_or_an_ad(world: World) -> None:
    with world.server.client() as client:
        url, text = _session_media(client, world.programme)
        segment = m3u8.loads(text).segments[0].uri
        base = url.rsplit("/", 1)[0]
        good = client.get(f"{base}/{segment}")
        assert good.status_code == 200
        other = client.get(f"{base}/{segment}".replace(world.ad_track, "0" * 16))
        assert other.status_code == 404


def test_a_session_of_another_track_or_an_unknown_one_is_a_404(world: World) -> None:
    with world.server.client() as client:
        url, _ = _session_media(client, world.programme)
        assert client.get(url.replace(world.programme, world.ad_track, 1)).status_code == 404
        assert client.get(re.sub(r"/s/[0-9a-f]+/", "/s/" + "a" * 32 + "/", url)).status_code == 404


def test_bots_get_the_programme_without_ads(world: World) -> None:
    with world.server.client() as client:
        _, text = _session_media(client, world.programme, **{"user-agent": GOOGLEBOT})
    assert "#EXT-X-DATERANGE" not in text
    assert "#EXT-X-DISCONTINUITY" not in text


def _decode(url: str) -> tuple[array[int], str]:
    """A session started at ``url`` as ffmpeg plays it, decoded as interleaved stereo
    (ebur128 weighs channels: a mono downmix would measure 3 dB low), and its log."""
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url,
         "-map", "0:a:0", "-ac", "2", "-ar", str(RATE), "-f", "s16le", "-"],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    samples = array("h")
    samples.frombytes(done.stdout)
    return samples, done.stderr.decode(errors="replace")


def _pitch_runs(samples: array[int], window: float = 0.25) -> list[tuple[int, float]]:
    """(frequency, seconds) runs of the decoded audio: windows of one pitch (within 20 Hz
    of the run's first) joined, each run's frequency the median of its windows' rounded to
    10 Hz (a window across a join is mixed, so it neither starts a run nor sets its pitch);
    runs of one window only are such joins, and are left out."""
    size = int(RATE * window)
    runs: list[tuple[list[float], float]] = []
    for start in range(0, len(samples) - size + 1, size):
        chunk = samples[start : start + size]
        crossings = sum(1 for a, b in itertools.pairwise(chunk) if (a < 0) != (b < 0))
        pitch = crossings / 2 / window
        if runs and abs(statistics.median(runs[-1][0]) - pitch) <= 20:
            runs[-1] = ([*runs[-1][0], pitch], runs[-1][1] + window)
        else:
            runs.append(([pitch], window))
    return [
        (int(round(statistics.median(pitches), -1)), seconds)
        for pitches, seconds in runs
        if seconds > window
    ]


def test_ffmpeg_plays_a_pre_roll_and_a_mid_roll_continuously_at_the_targets_loudness(
    world: World, tmp_path: Path
) -> None:
    stereo, log = _decode(f"{world.server.base_url}/hls/ads/{world.programme}/master.m3u8")
    samples = stereo[::2]
    seconds = len(samples) / RATE
    assert seconds == pytest.approx(PROGRAMME_SECONDS + 2 * AD_SECONDS, abs=0.1), log
    runs = _pitch_runs(samples)
    assert [p for p, _ in runs] == [1000, 440, 1000, 440], runs
    ad1, part1, ad2, part2 = (s for _, s in runs)
    assert ad1 == pytest.approx(AD_SECONDS, abs=0.5)
    assert ad2 == pytest.approx(AD_SECONDS, abs=0.5)
    # The mid-roll lands on the programme's segment boundary nearest 30 s.
    assert part1 == pytest.approx(MID_AT, abs=3.5)
    assert part1 + part2 == pytest.approx(PROGRAMME_SECONDS, abs=0.75)

    # Each ad, cut out at the offsets the runs give, measured by ebur128.
    raw = tmp_path / "session.s16le"
    raw.write_bytes(stereo.tobytes())
    starts = [0.0, ad1 + part1]
    for start in starts:
        measured = _integrated(raw, start + 0.5, AD_SECONDS - 1.0)
        assert measured == pytest.approx(TARGET, abs=1.0), (start, measured)
    assert _integrated(raw, ad1 + 1.0, part1 - 2.0) == pytest.approx(TARGET, abs=1.0)


def _integrated(raw: Path, start: float, seconds: float) -> float:
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-f", "s16le", "-ar", str(RATE), "-ac", "2",
         "-ss", f"{start:.3f}", "-t", f"{seconds:.3f}", "-i", str(raw),
         "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    summary = done.stderr.decode(errors="replace").rsplit("Summary:", 1)[-1]
    found = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    assert found, summary
    return float(found.group(1))


def test_pausing_the_campaign_leaves_the_next_session_without_ads(world: World) -> None:
    with world.server.api() as api:
        api.patch(world.campaign["urls"]["self"], json={"paused": True})
        try:
            with world.server.client() as client:
                _, text = _session_media(client, world.programme)
        finally:
            api.patch(world.campaign["urls"]["self"], json={"paused": False})
    assert "#EXT-X-DATERANGE" not in text


def test_each_session_adds_its_ads_to_the_campaigns_served_count_and_a_goal_stops_it(
    world: World,
) -> None:
    with world.server.api() as api:
        url = world.campaign["urls"]["self"]
        before = api.get(url).json()["served"]
        with world.server.client() as client:
            _session_media(client, world.programme)
        served = api.get(url).json()["served"]
        assert served == before + 2  # the pre-roll and the mid-roll
        # One more ad and the goal is met: the pre-roll gets it, the mid-roll does not.
        api.patch(url, json={"goal": served + 1})
        try:
            with world.server.client() as client:
                _, text = _session_media(client, world.programme)
        finally:
            api.patch(url, json={"clear_goal": True})
        assert text.count("#EXT-X-DATERANGE") == 1
        assert api.get(url).json()["served"] == served + 1


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = build_ad_library(tmp_path_factory.mktemp("insertion-signed"))
    settings = settings.model_copy(update={"url_signing_secret": "s" * 32})
    with serve_in_thread(settings) as server, server.api() as api:
        tracks, campaign = configure_ads(api)
        yield World(server, tracks["show.flac"], tracks["spot.flac"], campaign)


def test_with_signed_urls_a_tracks_token_opens_its_stream_with_ads_and_ffmpeg_plays_it(
    signed: World,
) -> None:
    with signed.server.api() as api:
        minted = api.get(f"/api/v1/tracks/{signed.programme}/signed")
        assert minted.status_code == 200, minted.text
    token = minted.json()["urls"]["hls"].split("token=", 1)[1]
    with signed.server.client() as client:
        assert client.get(f"/hls/ads/{signed.programme}/master.m3u8").status_code == 403
        other = client.get(f"/hls/ads/{signed.ad_track}/master.m3u8", params={"token": token})
        assert other.status_code == 403  # a token opens its own track's stream only
    stereo, _ = _decode(
        f"{signed.server.base_url}/hls/ads/{signed.programme}/master.m3u8?token={token}"
    )
    assert len(stereo) / 2 / RATE == pytest.approx(PROGRAMME_SECONDS + 2 * AD_SECONDS, abs=0.1)


def test_two_nodes_list_the_same_session_alike_and_see_a_pause_within_a_second(
    world: World,
) -> None:
    """A second server on the same database: the session one node started is the same
    text on the other, decisions agree, and a pause made through one holds on the other
    from the next session started a second later (each node reads campaigns at most once
    a second)."""
    with (
        serve_in_thread(world.server.settings) as other,
        world.server.client() as a,
        other.client() as b,
    ):
        url, text = _session_media(a, world.programme)
        assert b.get(url).text == text
        body = {"break": {"seconds": 30}, "listener": {"session": "x", "at": DURING}}
        with world.server.api() as api_a, other.api() as api_b:
            assert (
                api_a.post("/api/v1/ads/decisions", json=body).json()
                == api_b.post("/api/v1/ads/decisions", json=body).json()
            )
            _session_media(b, world.programme)  # node b has read the campaigns
            api_a.patch(world.campaign["urls"]["self"], json={"paused": True})
            try:
                time.sleep(1.1)
                _, paused = _session_media(b, world.programme)
            finally:
                api_a.patch(world.campaign["urls"]["self"], json={"paused": False})
        assert "#EXT-X-DATERANGE" not in paused


def test_ffmpeg_plays_a_playlist_with_a_pre_roll_and_an_ad_between_its_items(
    world: World,
) -> None:
    with world.server.api() as api:
        tracks = {t["path"]: t for t in api.get("/api/v1/tracks").json()["items"]}
        made = api.post(
            "/api/v1/playlists",
            json={"library_id": tracks["show.flac"]["library_id"], "name": "show and more",
                  "track_ids": [tracks["show.flac"]["id"], tracks["second.flac"]["id"]]},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        playlist = made.json()["id"]
        breaks = api.put(
            f"/api/v1/playlists/{playlist}/ad-breaks",
            json={"breaks": [{"position": "pre", "seconds": AD_SECONDS},
                             {"position": "between", "every": 1, "seconds": AD_SECONDS}]},
        )  # fmt: skip
        assert breaks.status_code == 200, breaks.text
    stereo, _ = _decode(f"{world.server.base_url}/hls/ads/playlists/{playlist}/master.m3u8")
    samples = stereo[::2]
    assert len(samples) / RATE == pytest.approx(
        PROGRAMME_SECONDS + SECOND_SECONDS + 2 * AD_SECONDS, abs=0.15
    )
    runs = _pitch_runs(samples)
    assert [p for p, _ in runs] == [1000, 440, 1000, 550], runs
    assert runs[1][1] == pytest.approx(PROGRAMME_SECONDS, abs=0.5)
    assert runs[3][1] == pytest.approx(SECOND_SECONDS, abs=0.5)


def test_a_campaign_targeting_a_tag_plays_only_in_programmes_labelled_with_it(
    world: World,
) -> None:
    with world.server.api() as api:
        advertiser = api.post("/api/v1/ads/advertisers", json={"name": "Jazz FM"}).json()
        sponsor = api.post(
            "/api/v1/ads/campaigns",
            json={"advertiser_id": advertiser["id"], "name": "jazz", "priority": "sponsorship",
                  "targeting": {"tags": ["jazz"]},
                  "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2035-01-01T00:00:00Z"},
        ).json()  # fmt: skip
        api.post(
            f"/api/v1/ads/campaigns/{sponsor['id']}/creatives",
            json={"name": "spot", "slot_seconds": AD_SECONDS, "track_id": world.ad_track},
        )
        track = f"/api/v1/tracks/{world.programme}"
        try:
            with world.server.client() as client:
                _, untagged = _session_media(client, world.programme)
                api.patch(track, json={"labels": ["jazz"]}, headers={"If-Match": "*"})
                _, tagged = _session_media(client, world.programme)
        finally:
            api.patch(track, json={"labels": []}, headers={"If-Match": "*"})
            api.delete(f"/api/v1/ads/advertisers/{advertiser['id']}")
    campaigns = re.compile(r'X-CAMPAIGN="([0-9a-f]+)"')
    assert set(campaigns.findall(untagged)) == {world.campaign["id"]}
    assert set(campaigns.findall(tagged)) == {sponsor["id"]}


def test_with_signed_urls_a_playlists_token_opens_its_stream_with_ads(signed: World) -> None:
    with signed.server.api() as api:
        tracks = {t["path"]: t for t in api.get("/api/v1/tracks").json()["items"]}
        playlist = api.post(
            "/api/v1/playlists",
            json={"library_id": tracks["show.flac"]["library_id"], "name": "signed",
                  "track_ids": [tracks["second.flac"]["id"]]},
        ).json()["id"]  # fmt: skip
        api.put(
            f"/api/v1/playlists/{playlist}/ad-breaks",
            json={"breaks": [{"position": "pre", "seconds": AD_SECONDS}]},
        )
        minted = api.get(f"/api/v1/playlists/{playlist}/signed").json()
    token = minted["token"]
    with signed.server.client() as client:
        plain = client.get(minted["urls"]["hls"])
        assert plain.status_code == 200  # the stream without ads, as before
        url = f"/hls/ads/playlists/{playlist}/master.m3u8"
        assert client.get(url).status_code == 403
    stereo, _ = _decode(f"{signed.server.base_url}{url}?token={token}")
    assert len(stereo) / 2 / RATE == pytest.approx(SECOND_SECONDS + AD_SECONDS, abs=0.1)
