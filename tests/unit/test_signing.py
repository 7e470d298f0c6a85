"""Signed URLs: tokens with an expiry and a scope, checked in constant time (pure)."""

from __future__ import annotations

import pytest

from streamer.http.signing import TokenError, make_token, sign_playlist, verify_token

SECRET = b"s3cret"
NOW = 1_764_000_000


def token(scope: str = "track:0123456789abcdef", expires: int = NOW + 60) -> str:
    return make_token(SECRET, scope, expires)


@pytest.mark.parametrize(
    "path",
    [
        "/hls/0123456789abcdef/master.m3u8",
        "/hls/0123456789abcdef/aac_128/seg_3.m4s",
        "/media/0123456789abcdef/original",
        "/media/0123456789abcdef/aac_128.m4a",
    ],
)
def test_a_track_token_opens_its_hls_and_media(path: str) -> None:
    verify_token(SECRET, token(), path, NOW)


@pytest.mark.parametrize(
    ("candidate", "path", "reason"),
    [
        (None, "/media/0123456789abcdef/original", "token missing"),
        ("", "/media/0123456789abcdef/original", "token missing"),
        ("garbage", "/media/0123456789abcdef/original", "malformed"),
        (token(expires=NOW - 1), "/media/0123456789abcdef/original", "expired"),
        (token(), "/media/fedcba9876543210/original", "another path"),
        (token(), "/hls/0123456789abcdef/../fedcba9876543210/x", "another path"),
        (
            make_token(b"other", "track:0123456789abcdef", NOW + 60),
            "/media/0123456789abcdef/original",
            "bad signature",
        ),
        (
            str(NOW + 61) + token()[len(str(NOW + 60)) :],
            "/media/0123456789abcdef/original",
            "bad signature",
        ),
        (token("/media/0123456789abcdef/"), "/hls/0123456789abcdef/master.m3u8", "another path"),
        (token("track:"), "/hls//master.m3u8", "another path"),
    ],
)
def test_tokens_that_do_not_open_the_path_are_refused(
    candidate: str | None, path: str, reason: str
) -> None:
    with pytest.raises(TokenError, match=reason):
        verify_token(SECRET, candidate, path, NOW)


def test_a_path_prefix_token_opens_what_is_under_it() -> None:
    verify_token(SECRET, token("/media/0123456789abcdef/"), "/media/0123456789abcdef/cover", NOW)


def test_scopes_are_paths_or_tracks() -> None:
    with pytest.raises(ValueError, match="scope"):
        make_token(SECRET, "media/x", NOW)


def test_playlists_carry_the_token_on_every_url() -> None:
    playlist = "\n".join(
        [
            "#EXTM3U",
            '#EXT-X-MAP:URI="init.mp4?v=abc"',
            "#EXTINF:6.0,",
            "seg_0.m4s?v=abc",
            '#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="mp4a.40.2"',
            "aac_128/index.m3u8",
            "",
        ]
    )

    signed = sign_playlist(playlist, "T")

    assert signed.split("\n") == [
        "#EXTM3U",
        '#EXT-X-MAP:URI="init.mp4?v=abc&token=T"',
        "#EXTINF:6.0,",
        "seg_0.m4s?v=abc&token=T",
        '#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="mp4a.40.2"',
        "aac_128/index.m3u8?token=T",
        "",
    ]
