"""Which requests get the original and which a transcode, at which bitrate
(transcoder.progressive.choose, pure)."""

from __future__ import annotations

import pytest

from transcoder.progressive import choose


@pytest.mark.parametrize(
    ("requested", "max_kbps", "codec", "kbps", "expected"),
    [
        ("raw", 64, "flac", 900, None),  # raw: the original whatever the limit
        (None, 0, "flac", 900, None),  # nothing asked
        (None, 320, "mp3", 192, None),  # within the limit
        (None, 128, "flac", 900, "mp3_128"),  # over the limit: the default format
        (None, 127, "flac", 900, "mp3_96"),  # rounded down to a bitrate of the list
        ("mp3", 0, "mp3", 192, None),  # already that format
        ("mp3", 128, "mp3", 192, "mp3_128"),  # that format, but over the limit
        ("mp3", 0, "flac", 900, "mp3_192"),  # the format's default bitrate
        ("opus", 0, "flac", 900, "opus_128"),
        ("opus", 500, "flac", 900, "opus_256"),  # capped at the format's most
        ("aac", 96, "aac", 256, "aac_96"),
        ("aac", 16, "flac", 900, "aac_32"),  # below the list: its lowest
        (None, 128, "flac", None, "mp3_128"),  # unknown bitrate: not known to fit
    ],
)
def test_choice(
    requested: str | None, max_kbps: int, codec: str, kbps: int | None, expected: str | None
) -> None:
    plan = choose(requested, max_kbps, source_codec=codec, source_kbps=kbps)
    assert (plan.name if plan is not None else None) == expected


def test_an_unknown_format_is_refused_with_the_formats_named() -> None:
    with pytest.raises(ValueError, match="raw or one of mp3, opus, aac"):
        choose("wma", 0, source_codec="flac", source_kbps=900)
