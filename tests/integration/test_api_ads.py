"""/api/v1/ads against a real server (SQLite) and real audio transcoded by ffmpeg:
advertisers, campaigns (If-Match, pause, audit), creatives validated with a reason per
check, versions with rollback, and decisions explained from what is stored."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.settings import Settings
from tests.fixtures.audio import ffmpeg_exe, make_audio
from tests.fixtures.audit import audit_actions
from tests.fixtures.servers import (
    RunningServer,
    admin_key,
    bearer,
    scan_roots,
    serve_in_thread,
    transcode_library,
)

FLIGHT = {"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}
DURING = "2026-12-07T12:00:00Z"


@dataclass
class World:
    server: RunningServer
    tracks: dict[str, str]  # file name -> track id
    viewer: str  # API key of a viewer

    def audit(self, kind: str, target: str) -> list[str]:
        return audit_actions(self.server.settings, kind, target)


def _peaky(path: Path) -> None:
    """Quiet on average, loud at its peaks: one millisecond click a second at full scale,
    so no gain under the -1 dBTP ceiling brings it near -16 LUFS."""
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "aevalsrc='if(lt(mod(t,1),0.002),0.95*sin(2*PI*1000*t),0)':s=44100:d=29.5",
         "-ac", "2", "-c:a", "flac", str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("ads")
    library = root / "ads-library"
    library.mkdir()
    make_audio(library / "spot30.flac", "flac", 29.5)
    make_audio(library / "spot30b.flac", "flac", 30.0, frequency=660)
    make_audio(library / "spot15.flac", "flac", 15.0, frequency=550)
    make_audio(library / "short.flac", "flac", 10.0)
    make_audio(library / "narrow.flac", "flac", 30.0, sample_rate=22050, channels=1)
    _peaky(library / "peaky.flac")
    (library / "broken.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00junk" * 500)
    settings = Settings.load({}, data_dir=root / "data")
    scan_roots(settings, [str(library)])
    transcode_library(settings, str(library), root / "work")
    viewer = admin_key(settings, role="viewer", name="viewer")
    with serve_in_thread(settings) as server, server.api() as client:
        items = client.get("/api/v1/tracks", params={"limit": 100}).json()["items"]
        yield World(server, {t["path"]: t["id"] for t in items}, viewer)


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with world.server.api() as client:
        yield client


def _made(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def _advertiser(api: httpx.Client, **body: object) -> str:
    return str(_made(api.post("/api/v1/ads/advertisers", json={"name": "Acme", **body}))["id"])


def _campaign(api: httpx.Client, advertiser: str, **body: object) -> dict[str, Any]:
    return _made(
        api.post(
            "/api/v1/ads/campaigns",
            json={"advertiser_id": advertiser, "name": "Spring", **FLIGHT, **body},
        )
    )


def _creative(
    api: httpx.Client, campaign: str, track: str, slot: float = 30, name: str = "spot"
) -> dict[str, Any]:
    return _made(
        api.post(
            f"/api/v1/ads/campaigns/{campaign}/creatives",
            json={"name": name, "slot_seconds": slot, "track_id": track},
        )
    )


def _explain(api: httpx.Client, seconds: float = 60, **listener: object) -> dict[str, Any]:
    response = api.post(
        "/api/v1/ads/decisions",
        json={
            "break": {"seconds": seconds},
            "listener": {"session": "s1", "at": DURING, **listener},
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_well_made_creative_is_valid_with_a_reason_for_each_check(
    api: httpx.Client, world: World
) -> None:
    campaign = _campaign(api, _advertiser(api))["id"]
    creative = _creative(api, campaign, world.tracks["spot30.flac"])
    assert creative["state"] == "valid", creative["checks"]
    checks = {c["name"]: c for c in creative["checks"]}
    assert list(checks) == ["audio", "duration", "sample_rate", "channels", "loudness"]
    assert all(c["state"] == "valid" for c in checks.values())
    assert "29.50 s fits its 30 s slot" in checks["duration"]["reason"]
    assert "-16.0 LUFS after" in checks["loudness"]["reason"]
    assert creative["urls"]["preview"] == f"/media/{world.tracks['spot30.flac']}/original"
    preview = api.get(creative["urls"]["preview"])
    assert preview.status_code == 200
    assert preview.headers["content-type"].startswith("audio/")


@pytest.mark.parametrize(
    ("name", "slot", "check", "reason"),
    [
        ("short.flac", 30, "duration", "10.00 s is more than 1.5 s short of its 30 s slot"),
        ("spot30b.flac", 15, "duration", "30.00 s is longer than its 15 s slot"),
        ("narrow.flac", 30, "sample_rate", "22050 Hz; creatives must be 44100 or 48000 Hz"),
        ("peaky.flac", 30, "loudness", "limits the gain"),
        ("broken.mp3", 30, "audio", "not playable audio"),
    ],
)
def test_a_creative_that_does_not_fit_is_invalid_and_says_why(
    api: httpx.Client, world: World, name: str, slot: float, check: str, reason: str
) -> None:
    campaign = _campaign(api, _advertiser(api))["id"]
    creative = _creative(api, campaign, world.tracks[name], slot=slot)
    assert creative["state"] == "invalid"
    failed = {c["name"]: c["reason"] for c in creative["checks"] if c["state"] == "invalid"}
    assert check in failed, creative["checks"]
    assert reason in failed[check]


def test_mono_is_allowed_but_not_more_than_stereo_is_needed(
    api: httpx.Client, world: World
) -> None:
    campaign = _campaign(api, _advertiser(api))["id"]
    creative = _creative(api, campaign, world.tracks["narrow.flac"])
    checks = {c["name"]: c for c in creative["checks"]}
    assert checks["channels"] == {"name": "channels", "state": "valid", "reason": "1 channel(s)"}


def test_a_new_version_replaces_the_audio_and_a_rollback_brings_the_old_back(
    api: httpx.Client, world: World
) -> None:
    campaign = _campaign(api, _advertiser(api))["id"]
    creative = _creative(api, campaign, world.tracks["spot30.flac"])
    url = creative["urls"]["self"]

    replaced = api.post(
        f"{url}/versions", json={"track_id": world.tracks["short.flac"], "note": "new cut"}
    )
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["current_version"] == 2
    assert replaced.json()["state"] == "invalid"
    assert [(v["version"], v["current"], v["note"]) for v in replaced.json()["versions"]] == [
        (1, False, ""),
        (2, True, "new cut"),
    ]

    back = api.put(f"{url}/current", json={"version": 1})
    assert back.status_code == 200, back.text
    assert (back.json()["current_version"], back.json()["state"]) == (1, "valid")
    assert back.json()["track_id"] == world.tracks["spot30.flac"]
    assert api.put(f"{url}/current", json={"version": 9}).status_code == 422
    assert world.audit("creative", creative["id"]) == [
        "ad.creative.create",
        "ad.creative.version",
        "ad.creative.current",
    ]


def test_a_creative_needs_a_track_the_caller_can_read(api: httpx.Client, world: World) -> None:
    campaign = _campaign(api, _advertiser(api))["id"]
    response = api.post(
        f"/api/v1/ads/campaigns/{campaign}/creatives",
        json={"name": "x", "slot_seconds": 30, "track_id": "0123456789abcdef"},
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "no such track"


def test_campaign_edits_need_a_current_etag_and_are_audited(
    api: httpx.Client, world: World
) -> None:
    campaign = _campaign(api, _advertiser(api), goal=1000, caps=[
        {"impressions": 2, "window_seconds": 3600}])  # fmt: skip
    url = campaign["urls"]["self"]
    assert api.get(url).headers["etag"] == '"1"'
    stale = api.patch(url, json={"paused": True}, headers={"If-Match": '"5"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"1"'
    paused = api.patch(url, json={"paused": True}, headers={"If-Match": '"1"'})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.headers["etag"]) == (True, '"2"')
    cleared = api.patch(url, json={"clear_goal": True, "caps": []})
    assert (cleared.json()["goal"], cleared.json()["caps"]) == (None, [])
    assert world.audit("campaign", campaign["id"]) == [
        "ad.campaign.create",
        "ad.campaign.pause",
        "ad.campaign.update",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2026-02-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"}, "ends_at"),
        ({"priority": "premium"}, "priority"),
        ({"caps": [{"impressions": 0, "window_seconds": 3600}]}, "impressions"),
        ({"targeting": {"dayparts": [{"days": [7], "start": "06:00", "end": "10:00"}]}}, "days"),
        ({"targeting": {"dayparts": [{"days": [1], "start": "6am", "end": "10:00"}]}}, "start"),
        ({"targeting": {"countries": ["france"]}}, "countries"),
    ],
)
def test_a_campaign_that_makes_no_sense_is_a_422_problem(
    api: httpx.Client, body: dict[str, object], field: str
) -> None:
    advertiser = _advertiser(api)
    response = api.post(
        "/api/v1/ads/campaigns",
        json={"advertiser_id": advertiser, "name": "x", **FLIGHT, **body},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


def test_a_campaign_for_an_unknown_advertiser_is_refused(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/ads/campaigns", json={"advertiser_id": "nobody", "name": "x", **FLIGHT}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "no such advertiser"


def test_deleting_an_advertiser_deletes_its_campaigns_and_creatives_but_not_the_audio(
    api: httpx.Client, world: World
) -> None:
    advertiser = _advertiser(api)
    campaign = _campaign(api, advertiser)
    creative = _creative(api, campaign["id"], world.tracks["spot30.flac"])
    assert api.delete(f"/api/v1/ads/advertisers/{advertiser}").status_code == 204
    assert api.get(campaign["urls"]["self"]).status_code == 404
    assert api.get(creative["urls"]["self"]).status_code == 404
    assert api.get(f"/api/v1/tracks/{world.tracks['spot30.flac']}").status_code == 200


def test_viewers_may_not_see_or_change_advertising(world: World) -> None:
    with httpx.Client(base_url=world.server.base_url, headers=bearer(world.viewer)) as viewer:
        for method, path in [("GET", "/api/v1/ads/campaigns"), ("POST", "/api/v1/ads/advertisers")]:
            response = viewer.request(method, path, json={"name": "x"})
            assert response.status_code == 403, (method, path)


class TestDecisions:
    """Every test of this class sees only its own campaigns: each starts by deleting all."""

    @pytest.fixture(autouse=True)
    def _no_other_campaigns(self, api: httpx.Client) -> None:
        for advertiser in api.get("/api/v1/ads/advertisers", params={"limit": 500}).json()["items"]:
            api.delete(f"/api/v1/ads/advertisers/{advertiser['id']}")

    def test_a_decision_fills_the_break_by_priority_and_explains_every_campaign(
        self, api: httpx.Client, world: World
    ) -> None:
        sponsor = _campaign(api, _advertiser(api, name="Big"), name="s", priority="sponsorship")
        standard = _campaign(api, _advertiser(api, name="Mid"), name="m")
        house = _campaign(api, _advertiser(api, name="Us"), name="h", priority="house")
        for campaign in (sponsor, standard, house):
            _creative(api, campaign["id"], world.tracks["spot30.flac"])

        decision = _explain(api, seconds=60)
        assert [a["campaign_id"] for a in decision["ads"]] == [sponsor["id"], standard["id"]]
        assert decision["ads"][0]["track_id"] == world.tracks["spot30.flac"]
        assert decision["ads"][0]["version"] == 1
        assert decision["seconds"] == pytest.approx(59.0, abs=0.1)
        reasons = {r["campaign_id"]: r for r in decision["reasons"]}
        assert reasons[house["id"]]["chosen"] is False
        assert "no creative fits" in reasons[house["id"]]["why"]

    def test_a_paused_campaign_leaves_the_next_decision_at_once(
        self, api: httpx.Client, world: World
    ) -> None:
        campaign = _campaign(api, _advertiser(api))
        _creative(api, campaign["id"], world.tracks["spot30.flac"])
        assert len(_explain(api)["ads"]) == 1
        api.patch(campaign["urls"]["self"], json={"paused": True})
        decision = _explain(api)
        assert decision["ads"] == []
        assert decision["reasons"] == [
            {"campaign_id": campaign["id"], "chosen": False, "why": "paused"}
        ]

    def test_an_invalid_creative_never_airs(self, api: httpx.Client, world: World) -> None:
        campaign = _campaign(api, _advertiser(api))
        _creative(api, campaign["id"], world.tracks["peaky.flac"])
        decision = _explain(api)
        assert decision["ads"] == []
        assert decision["reasons"][0]["why"] == "it has no creative"

    def test_caps_dayparts_and_countries_are_read_from_the_stored_campaign(
        self, api: httpx.Client, world: World
    ) -> None:
        campaign = _campaign(
            api,
            _advertiser(api),
            caps=[{"impressions": 1, "window_seconds": 3600}],
            targeting={"countries": ["FR"],
                       "dayparts": [{"days": [0], "start": "22:00", "end": "02:00"}]},
        )  # fmt: skip
        _creative(api, campaign["id"], world.tracks["spot15.flac"], slot=15)
        # 2026-12-07 is a Monday; 23:30 in Paris is 22:30 UTC.
        night = {"at": "2026-12-07T22:30:00Z", "timezone": "Europe/Paris"}
        assert _explain(api, **night, country="FR")["ads"]
        heard = {campaign["id"]: ["2026-12-07T22:00:00Z"]}
        why = {
            "another country": _explain(api, **night, country="DE"),
            "other dayparts": _explain(api, at=DURING, timezone="Europe/Paris", country="FR"),
            "frequency cap": _explain(api, **night, country="FR", heard=heard),
        }
        for reason, decision in why.items():
            assert decision["ads"] == []
            assert reason in decision["reasons"][0]["why"]

    def test_the_same_inputs_give_the_same_decision(self, api: httpx.Client, world: World) -> None:
        for name in ("a", "b", "c"):
            campaign = _campaign(api, _advertiser(api, name=name), name=name)
            _creative(api, campaign["id"], world.tracks["spot30.flac"])
        first = _explain(api, seconds=30, session="listener-1")
        assert all(_explain(api, seconds=30, session="listener-1") == first for _ in range(3))
        winners = {
            _explain(api, seconds=30, session=f"listener-{n}")["ads"][0]["campaign_id"]
            for n in range(30)
        }
        assert len(winners) > 1  # ties fall differently for different sessions

    def test_competing_advertisers_of_one_category_share_no_break(
        self, api: httpx.Client, world: World
    ) -> None:
        for name in ("Cola One", "Cola Two"):
            campaign = _campaign(api, _advertiser(api, name=name, category="soft drinks"))
            _creative(api, campaign["id"], world.tracks["spot15.flac"], slot=15)
        decision = _explain(api, seconds=60)
        assert len(decision["ads"]) == 1
        assert "another soft drinks ad is in this break" in [r["why"] for r in decision["reasons"]]

    def test_an_unknown_time_zone_is_a_422(self, api: httpx.Client) -> None:
        response = api.post(
            "/api/v1/ads/decisions",
            json={"break": {"seconds": 30}, "listener": {"session": "s", "timezone": "Mars/Base"}},
        )
        assert response.status_code == 422
        assert "Mars/Base" in response.json()["detail"]
