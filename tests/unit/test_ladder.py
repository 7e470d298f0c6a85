"""The ladder plan: what each rendition of a given source becomes (transcoder/ladder.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcoder.ladder import DEFAULT_LADDER, OutputPlan, Rendition, ladder_hash, plan_outputs

AAC = Rendition("aac_128", "aac", 128_000)
OPUS = Rendition("opus_96", "opus", 96_000)
FLAC = Rendition("flac", "flac", None)
OUT = Path("/out")


def _plan(
    rendition: Rendition, rate: int, channels: int = 2, bits: int | None = None
) -> OutputPlan:
    (plan,) = plan_outputs(
        [rendition],
        source_sample_rate=rate,
        source_channels=channels,
        out_dir=OUT,
        source_bits_per_sample=bits,
    )
    return plan


@pytest.mark.parametrize(
    ("source_rate", "aac_rate", "opus_rate", "flac_rate"),
    [
        (8_000, 48_000, 48_000, 8_000),
        (11_025, 44_100, 48_000, 11_025),
        (16_000, 48_000, 48_000, 16_000),
        (22_050, 44_100, 48_000, 22_050),
        (32_000, 48_000, 48_000, 32_000),
        (44_100, 44_100, 48_000, 44_100),
        (48_000, 48_000, 48_000, 48_000),
        (88_200, 48_000, 48_000, 88_200),
        (96_000, 48_000, 48_000, 96_000),
        (176_400, 48_000, 48_000, 88_200),
        (192_000, 48_000, 48_000, 96_000),
    ],
)
def test_sample_rate_rules(source_rate: int, aac_rate: int, opus_rate: int, flac_rate: int) -> None:
    assert _plan(AAC, source_rate).sample_rate == aac_rate
    assert _plan(OPUS, source_rate).sample_rate == opus_rate
    assert _plan(FLAC, source_rate).sample_rate == flac_rate


@pytest.mark.parametrize(
    ("source_channels", "planned"),
    [(1, 1), (2, 2), (3, 2), (4, 2), (6, 2), (8, 2)],
    ids=["mono", "stereo", "3.0", "quad", "5.1", "7.1"],
)
@pytest.mark.parametrize("rendition", [AAC, OPUS, FLAC], ids=lambda r: r.codec)
def test_mono_stays_mono_and_wider_is_downmixed_to_stereo(
    rendition: Rendition, source_channels: int, planned: int
) -> None:
    assert _plan(rendition, 48_000, source_channels).channels == planned


@pytest.mark.parametrize(
    ("source_bits", "flac_bits"), [(None, 16), (8, 16), (16, 16), (24, 24), (32, 24)]
)
def test_flac_keeps_16_bit_and_caps_deeper_sources_at_24(
    source_bits: int | None, flac_bits: int
) -> None:
    assert _plan(FLAC, 44_100, bits=source_bits).bits_per_sample == flac_bits


def test_lossy_outputs_have_no_bit_depth() -> None:
    assert _plan(AAC, 44_100, bits=24).bits_per_sample is None
    assert _plan(OPUS, 44_100, bits=24).bits_per_sample is None


def test_each_output_is_named_after_its_rendition() -> None:
    plans = plan_outputs(DEFAULT_LADDER, source_sample_rate=44_100, source_channels=2, out_dir=OUT)
    assert [plan.path for plan in plans] == [
        OUT / "aac_64.mp4",
        OUT / "aac_128.mp4",
        OUT / "aac_256.mp4",
    ]
    assert [plan.rendition for plan in plans] == list(DEFAULT_LADDER)


def test_default_ladder_is_aac_64_128_256() -> None:
    assert [(r.codec, r.bitrate) for r in DEFAULT_LADDER] == [
        ("aac", 64_000),
        ("aac", 128_000),
        ("aac", 256_000),
    ]


@pytest.mark.parametrize(
    ("name", "codec", "bitrate"),
    [
        ("Upper", "aac", 128_000),
        ("../escape", "aac", 128_000),
        ("", "aac", 128_000),
        ("a" * 33, "aac", 128_000),
        ("aac", "aac", None),
        ("opus", "opus", 1_000),
        ("flac", "flac", 900_000),
        ("mp3", "mp3", 128_000),
    ],
)
def test_invalid_renditions_are_rejected(name: str, codec: str, bitrate: int | None) -> None:
    with pytest.raises(ValueError, match="rendition"):
        Rendition(name, codec, bitrate)  # type: ignore[arg-type]


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="not unique"):
        plan_outputs([AAC, AAC], source_sample_rate=44_100, source_channels=2, out_dir=OUT)


def test_empty_ladder_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        plan_outputs([], source_sample_rate=44_100, source_channels=2, out_dir=OUT)


@pytest.mark.parametrize(("rate", "channels"), [(0, 2), (44_100, 0)])
def test_impossible_source_parameters_are_rejected(rate: int, channels: int) -> None:
    with pytest.raises(ValueError, match="invalid source"):
        plan_outputs([AAC], source_sample_rate=rate, source_channels=channels, out_dir=OUT)


def test_ladder_hash_is_stable() -> None:
    assert ladder_hash(DEFAULT_LADDER, 6.0) == ladder_hash(list(DEFAULT_LADDER), 6.0)
    assert len(ladder_hash(DEFAULT_LADDER, 6.0)) == 32


@pytest.mark.parametrize(
    ("ladder", "segment_seconds"),
    [
        (DEFAULT_LADDER, 4.0),
        (DEFAULT_LADDER[:2], 6.0),
        (tuple(reversed(DEFAULT_LADDER)), 6.0),
        ((*DEFAULT_LADDER[:2], Rendition("aac_256", "aac", 192_000)), 6.0),
        ((*DEFAULT_LADDER, FLAC), 6.0),
    ],
    ids=["segment", "fewer", "order", "bitrate", "added"],
)
def test_ladder_hash_changes_with_anything_that_changes_outputs(
    ladder: tuple[Rendition, ...], segment_seconds: float
) -> None:
    assert ladder_hash(ladder, segment_seconds) != ladder_hash(DEFAULT_LADDER, 6.0)
