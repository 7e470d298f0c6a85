"""What editors write into a channel, checked before anything is stored (pure), and the
live route's pure helpers (Cache-Control, signing)."""

from __future__ import annotations

from datetime import datetime

import pytest

from streamer.channels.validation import (
    InvalidSchedule,
    check_rrule,
    check_timezone,
    format_local,
    parse_local,
)
from streamer.http.signing import make_token, verify_token
from streamer.routes.live import live_cache_control, sign_live

START = datetime(2026, 12, 7, 14, 0)


@pytest.mark.parametrize("name", ["UTC", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_iana_zones_are_accepted(name: str) -> None:
    check_timezone(name)


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "/etc/localtime", "../../etc/passwd", "x" * 65]
)
def test_other_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidSchedule, match="IANA"):
        check_timezone(name)


def test_wall_times_have_no_offset_and_drop_microseconds() -> None:
    assert parse_local("2026-12-07T14:00") == START
    assert format_local(parse_local("2026-12-07T14:00:00.5")) == "2026-12-07T14:00:00"
    with pytest.raises(InvalidSchedule, match="offset"):
        parse_local("2026-12-07T14:00:00Z")
    with pytest.raises(InvalidSchedule, match="ISO"):
        parse_local("tomorrow")


@pytest.mark.parametrize(
    "rule", ["FREQ=DAILY", "RRULE:FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=HOURLY;COUNT=3"]
)
def test_rules_dateutil_expands_are_accepted(rule: str) -> None:
    check_rrule(rule, START)


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("", "empty"),
        ("FREQ=DAILY\nFREQ=WEEKLY", "one line"),
        ("FREQ=DAILY;DTSTART=20260101T000000", "DTSTART"),
        ("FREQ=MINUTELY", "FREQ must be"),
        ("FREQ=SECONDLY", "FREQ must be"),
        ("FREQ=SOMETIMES", "rrule"),
        ("BYDAY=MO", "rrule"),
        ("FREQ=DAILY;BYHOUR=25", "rrule"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule: str, words: str) -> None:
    with pytest.raises(InvalidSchedule, match=words):
        check_rrule(rule, START)


def test_live_playlists_are_cached_half_a_target_duration() -> None:
    assert live_cache_control(6) == b"public, max-age=3, s-maxage=3"
    assert live_cache_control(1) == b"public, max-age=1, s-maxage=1"


def test_signed_live_playlists_carry_the_channels_token_and_one_per_track_init() -> None:
    secret = b"s" * 32
    channel = make_token(secret, "/live/fedcba9876543210/", 4_000_000_000)
    text = (
        "#EXTM3U\n"
        '#EXT-X-MAP:URI="../../../hls/0123456789abcdef/aac_128/init.mp4?v=1"\n'
        "#EXTINF:6.0,\n"
        "seg/0123456789abcdef/3.m4s?v=1&t=86238952992768\n"
    )
    signed = sign_live(text, secret, 4_000_000_000, channel)
    init_line, segment_line = signed.split("\n")[1], signed.split("\n")[3]
    # A segment is the channel's URL: the request's token opens it.
    assert segment_line.endswith(f"&t=86238952992768&token={channel}")
    verify_token(
        secret, channel, "/live/fedcba9876543210/aac_128/seg/0123456789abcdef/3.m4s", 1.8e9
    )
    # An init section is the track's URL: a token of the track, expiring with the request's.
    track = init_line.split("token=", 1)[1].removesuffix('"')
    verify_token(secret, track, "/hls/0123456789abcdef/aac_128/init.mp4", 1_800_000_000)
    assert track.startswith("4000000000.")
    master = sign_live("#EXTM3U\naac_128/index.m3u8\n", secret, 4_000_000_000, "t")
    assert "aac_128/index.m3u8?token=t" in master
