"""Which layout a transcode runs in (transcoder.run.choose_layout), and the commands of the
parallel layout (pure: nothing runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcoder.ladder import DEFAULT_LADDER, OutputPlan, parse_ladder, plan_outputs
from transcoder.run import (
    build_command,
    build_decode_command,
    build_encode_command,
    choose_layout,
)


@pytest.mark.parametrize(("cpus", "layout"), [(1, "one"), (2, "parallel"), (64, "parallel")])
def test_the_layout_follows_the_cpus(cpus: int, layout: str) -> None:
    assert choose_layout(cpus=cpus) == layout


def _plans(ladder: list[str], rate: int = 44_100, bits: int | None = None) -> list[OutputPlan]:
    return plan_outputs(
        parse_ladder(ladder),
        source_sample_rate=rate,
        source_channels=2,
        source_bits_per_sample=bits,
        out_dir=Path("/out"),
    )


def _after(args: list[str], flag: str) -> list[str]:
    return [args[index + 1] for index, arg in enumerate(args) if arg == flag]


def test_the_decoder_writes_each_rendition_to_its_pipe_in_its_encoders_format() -> None:
    plans = _plans(["aac_128", "opus_96", "flac"], rate=96_000, bits=24)
    args = build_decode_command(
        "/music/a.flac",
        plans,
        pipe_fds=[7, 9, 11],
        waveform_path=Path("/work/w.s16le"),
        executable="ffmpeg",
    )
    assert args[0] == "ffmpeg"
    assert {"pipe:7", "pipe:9", "pipe:11"} <= set(args)
    assert "-progress" in args
    # Resampled and converted in the decoder: AAC 48 kHz float, Opus 48 kHz float, FLAC
    # 96 kHz in the 24-bit FLAC's s32; then the analysis outputs.
    assert _after(args, "-f") == ["f32le", "f32le", "s32le", "null", "s16le"]
    assert _after(args, "-ar")[:3] == ["48000", "48000", "96000"]
    assert not any(arg.endswith(".mp4") for arg in args)


def test_a_decoder_needs_one_pipe_per_output() -> None:
    with pytest.raises(ValueError, match="3 outputs need as many pipes, not 2"):
        build_decode_command(
            "a.flac", _plans(["aac_64", "aac_128", "aac_256"]), pipe_fds=[3, 4],
            waveform_path=Path("w"),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("ladder", "bits", "pcm", "encoder"),
    [
        (["aac_128"], None, "f32le", "aac"),
        (["opus_96"], None, "f32le", "libopus"),
        (["flac"], 16, "s16le", "flac"),
        (["flac"], 24, "s32le", "flac"),
    ],
)
def test_an_encoder_reads_raw_pcm_on_stdin_and_writes_the_fragmented_mp4(
    ladder: list[str], bits: int | None, pcm: str, encoder: str
) -> None:
    (plan,) = _plans(ladder, bits=bits)
    args = build_encode_command(plan, segment_seconds=6.0, executable="ffmpeg")
    assert args[args.index("-i") - 6 : args.index("-i") + 2] == [
        "-f", pcm, "-ac", "2", "-ar", str(plan.sample_rate), "-i", "pipe:0",
    ]  # fmt: skip
    assert _after(args, "-c:a") == [encoder]
    assert _after(args, "-frag_duration") == ["6000000"]
    assert _after(args, "-movflags") == ["+empty_moov+default_base_moof"]
    assert str(plan.path) in args


def test_encoders_and_the_one_process_command_share_their_output_options() -> None:
    plans = _plans([rendition.name for rendition in DEFAULT_LADDER])
    one = build_command("a.flac", plans, segment_seconds=4.0, waveform_path=Path("w"))
    for plan in plans:
        encode = build_encode_command(plan, segment_seconds=4.0)
        # From after "-map 0:a" to the output's path.
        options = encode[encode.index("-map") + 2 : encode.index(str(plan.path)) + 1]
        end = one.index(str(plan.path)) + 1
        assert one[end - len(options) : end] == options
