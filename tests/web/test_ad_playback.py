"""hls.js in Chromium plays a session with a pre-roll and a mid-roll to its end: no fatal
error, no stall once playing, the whole programme and both ads presented, and each ad's
EXT-X-DATERANGE seen by the player where its fragments are (tests/fixtures/ads.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.fixtures.ads import AD_SECONDS, PROGRAMME_SECONDS, build_ad_library, configure_ads
from tests.fixtures.servers import RunningServer, serve_in_thread
from tests.web.conftest import in_thread

pytestmark = pytest.mark.ffmpeg

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

# hls.js from the admin's own copy, muted, at 4x: the tracks' of the fragments it plays,
# the date ranges of the playlist it loaded, and any stall after playback started.
PLAY = """async (url) => {
    const { default: Hls } = await import('/admin/vendor/hls.mjs');
    const audio = document.createElement('audio');
    document.body.append(audio);
    audio.muted = true;
    window.__played = [];
    window.__stalls = 0;
    audio.addEventListener('ended', () => { window.__ended = audio.currentTime; });
    audio.addEventListener('waiting', () => { if (audio.currentTime > 0.5) window.__stalls++; });
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.__error = data.details; });
    hls.on(Hls.Events.FRAG_CHANGED, (_, data) => {
        window.__played.push(data.frag.relurl.split('/seg/')[1].split('/')[0]);
    });
    hls.on(Hls.Events.LEVEL_LOADED, (_, data) => {
        window.__ranges = Object.values(data.details.dateRanges).map(
            (range) => [range.class, range.duration]);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
        audio.playbackRate = 4;
        audio.play().catch((error) => { window.__error = String(error); });
    });
    hls.loadSource(url);
    hls.attachMedia(audio);
}"""


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    settings = in_thread(build_ad_library, tmp_path_factory.mktemp("ad-playback"))
    with serve_in_thread(settings) as server, server.api() as api:
        tracks, _ = configure_ads(api)
        yield server, tracks


def test_hls_js_plays_a_pre_roll_and_a_mid_roll_to_the_end_without_a_stall(
    served: tuple[RunningServer, dict[str, str]], browser: Browser
) -> None:
    server, tracks = served
    context = browser.new_context(user_agent=CHROME)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/healthz")  # the server's origin, for the import
        page.evaluate(PLAY, f"/hls/ads/{tracks['show.flac']}/master.m3u8")
        page.wait_for_function("() => window.__ended || window.__error", timeout=90_000)
        state = page.evaluate(
            "({error: window.__error ?? null, ended: window.__ended ?? null,"
            " played: window.__played, ranges: window.__ranges, stalls: window.__stalls})"
        )
    finally:
        context.close()
    assert state["error"] is None, state
    assert state["ended"] == pytest.approx(PROGRAMME_SECONDS + 2 * AD_SECONDS, abs=0.5), state
    assert state["stalls"] == 0, state
    ad, show = tracks["spot.flac"], tracks["show.flac"]
    runs = [
        track
        for n, track in enumerate(state["played"])
        if n == 0 or state["played"][n - 1] != track
    ]
    assert runs == [ad, show, ad, show], state["played"]
    assert state["ranges"] == [["com.streamer.ad", pytest.approx(AD_SECONDS, abs=0.1)]] * 2
