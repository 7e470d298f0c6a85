"""One ffmpeg run per track: renditions, loudness, peaks, progress and failure handling.

Real ffmpeg on audio generated here. Outputs are checked by decoding them with ffmpeg.

What decoding showed (imageio-ffmpeg's ffmpeg 9.0.2): an AAC rendition decodes to the
source's samples plus 1024 priming samples at the start (with ``empty_moov`` there is no
edit list to hide the encoder delay) plus padding up to a whole 1024-sample frame at the
end. So ``decoded - source`` lies in [1024, 2048). FLAC decodes to exactly the source.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from transcoder.errors import BadInput, FfmpegFailed, TranscodeTimeout
from transcoder.ffmpeg import ffmpeg_exe
from transcoder.ladder import DEFAULT_LADDER, OutputPlan, Rendition, plan_outputs
from transcoder.run import TranscodeResult, measure_loudness, transcode

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

FFMPEG_TIMEOUT = 60.0
SWEEP_SECONDS = 20
SWEEP_RATE = 44_100
AAC_FRAME = 1024

# A stereo sweep with a little noise, so the encoders have something to spend bits on.
SWEEP = (
    "aevalsrc="
    "0.4*sin(2*PI*(50*t+(15000-50)*t*t/{d2}))+0.1*(2*random(0)-1)|"
    "0.4*sin(2*PI*(15000*t-(15000-50)*t*t/{d2}))+0.1*(2*random(1)-1)"
    ":s={rate}:d={d}"
)


_FFMPEG = (ffmpeg_exe(), "-hide_banner", "-nostdin")


def _generate(path: Path, lavfi: str, *extra: str) -> Path:
    subprocess.run(
        [*_FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i", lavfi, *extra, str(path)],
        check=True,
        capture_output=True,
        timeout=FFMPEG_TIMEOUT,
    )
    return path


def _sweep(path: Path, seconds: int, rate: int = SWEEP_RATE) -> Path:
    lavfi = SWEEP.format(d=seconds, d2=2 * seconds, rate=rate)
    return _generate(path, lavfi, "-c:a", "pcm_s16le")


_CHANNELS = {"mono": 1, "stereo": 2, "5.1": 6, "5.1(side)": 6}


@dataclass(frozen=True)
class Decoded:
    codec: str
    sample_rate: int
    channels: int
    samples: int  # per channel
    sample_format: str


def _decode(path: Path) -> Decoded:
    """Decode the whole file with ffmpeg and describe what came out."""
    done = subprocess.run(
        [*_FFMPEG, "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-c:a", "pcm_s16le", "-"],
        capture_output=True,
        timeout=FFMPEG_TIMEOUT,
        check=True,
    )
    stderr = done.stderr.decode()
    match = re.search(r"Stream #0:0.*?: Audio: (\w+).*?, (\d+) Hz, ([^,]+), ([^,\n]+)", stderr)
    assert match, stderr
    channels = _CHANNELS[match.group(3)]
    return Decoded(
        codec=match.group(1),
        sample_rate=int(match.group(2)),
        channels=channels,
        samples=len(done.stdout) // (2 * channels),
        sample_format=match.group(4).strip(),
    )


def _samples(path: Path) -> int:
    return _decode(path).samples


@dataclass(frozen=True)
class LadderRun:
    source: Path
    source_samples: int
    result: TranscodeResult
    work_dir: Path


@pytest.fixture(scope="module")
def ladder_run(tmp_path_factory: pytest.TempPathFactory) -> LadderRun:
    """The 20 s stereo sweep transcoded once to the default ladder."""
    root = tmp_path_factory.mktemp("ladder")
    source = _sweep(root / "sweep.wav", SWEEP_SECONDS)
    plans = plan_outputs(
        DEFAULT_LADDER, source_sample_rate=SWEEP_RATE, source_channels=2, out_dir=root / "out"
    )
    result = asyncio.run(
        transcode(source, plans, work_dir=root / "work", duration_hint=SWEEP_SECONDS, timeout=60)
    )
    return LadderRun(source, SWEEP_SECONDS * SWEEP_RATE, result, root / "work")


@pytest.mark.parametrize("index", range(len(DEFAULT_LADDER)), ids=[r.name for r in DEFAULT_LADDER])
def test_each_rendition_decodes_with_the_planned_codec_channels_and_rate(
    ladder_run: LadderRun, index: int
) -> None:
    output = ladder_run.result.outputs[index]
    decoded = _decode(output.plan.path)
    assert (decoded.codec, decoded.channels, decoded.sample_rate) == ("aac", 2, 44_100)
    assert output.size == output.plan.path.stat().st_size


@pytest.mark.parametrize("index", range(len(DEFAULT_LADDER)), ids=[r.name for r in DEFAULT_LADDER])
def test_bitrate_is_within_15_percent_of_the_target(ladder_run: LadderRun, index: int) -> None:
    output = ladder_run.result.outputs[index]
    bitrate = output.size * 8 / SWEEP_SECONDS
    target = output.plan.rendition.bitrate
    assert target is not None
    assert bitrate == pytest.approx(target, rel=0.15)


@pytest.mark.parametrize("index", range(len(DEFAULT_LADDER)), ids=[r.name for r in DEFAULT_LADDER])
def test_decoded_duration_is_the_source_plus_priming_within_one_aac_frame(
    ladder_run: LadderRun, index: int
) -> None:
    decoded = _samples(ladder_run.result.outputs[index].plan.path)
    extra = decoded - ladder_run.source_samples
    assert AAC_FRAME <= extra < 2 * AAC_FRAME


def test_the_waveform_has_the_requested_points(ladder_run: LadderRun) -> None:
    peaks = ladder_run.result.peaks
    assert len(peaks) == 2000
    assert all(-1.0 <= low <= high <= 1.0 for low, high in peaks)
    # The sweep peaks at 0.4 + 0.1 per channel; the mono mean of two channels is lower.
    assert 0.2 < max(high for _, high in peaks) <= 0.55


def test_the_intermediate_waveform_file_is_removed(ladder_run: LadderRun) -> None:
    assert list(ladder_run.work_dir.iterdir()) == []


def test_wall_and_cpu_time_are_reported(ladder_run: LadderRun) -> None:
    result = ladder_run.result
    assert 0 < result.wall_seconds < 30
    assert result.cpu_seconds is not None
    assert result.cpu_seconds > 0


# --- loudness and peaks of known signals -------------------------------------------------


async def _transcode_one(source: Path, tmp_path: Path, **kwargs: object) -> TranscodeResult:
    plans = plan_outputs(
        [Rendition("aac_64", "aac", 64_000)],
        source_sample_rate=48_000,
        source_channels=2,
        out_dir=tmp_path / "out",
    )
    return await transcode(source, plans, work_dir=tmp_path / "work", timeout=60, **kwargs)  # type: ignore[arg-type]


async def test_a_minus_20_dbfs_stereo_tone_measures_minus_20_lufs(tmp_path: Path) -> None:
    # EBU R128 / ITU-R BS.1770: a 1 kHz sine in both channels reads its peak level in LUFS
    # (each channel's mean square is -3 dB, the two channels sum to +3 dB).
    tone = "0.1*sin(2*PI*1000*t)"
    source = await asyncio.to_thread(
        _generate, tmp_path / "tone.wav", f"aevalsrc={tone}|{tone}:s=48000:d=5", "-c:a", "pcm_s16le"
    )
    loudness = (await _transcode_one(source, tmp_path)).loudness
    assert loudness.integrated_lufs == pytest.approx(-20.0, abs=0.2)
    assert loudness.range_lu == pytest.approx(0.0, abs=0.5)
    assert loudness.true_peak_dbtp == pytest.approx(-20.0, abs=0.3)


async def test_silence_has_no_loudness_and_zero_peaks(tmp_path: Path) -> None:
    source = await asyncio.to_thread(
        _generate, tmp_path / "silence.wav", "anullsrc=r=48000:cl=stereo", "-t", "5"
    )
    result = await _transcode_one(source, tmp_path, waveform_points=100)
    assert result.loudness.integrated_lufs is None
    assert result.loudness.true_peak_dbtp is None
    assert result.peaks == [(0.0, 0.0)] * 100


async def test_a_full_scale_square_wave_peaks_near_one(tmp_path: Path) -> None:
    square = "if(lt(mod(t*100\\,1)\\,0.5)\\,1\\,-1)"
    source = await asyncio.to_thread(
        _generate,
        tmp_path / "square.wav",
        f"aevalsrc={square}|{square}:s=48000:d=5",
        "-c:a",
        "pcm_s16le",
    )
    peaks = (await _transcode_one(source, tmp_path, waveform_points=100)).peaks
    assert len(peaks) == 100
    assert all(high > 0.95 and low < -0.95 for low, high in peaks[1:-1])


# --- progress ------------------------------------------------------------------------------


async def test_progress_only_grows_and_ends_at_one(ladder_run: LadderRun, tmp_path: Path) -> None:
    seen: list[float] = []
    plans = plan_outputs(
        DEFAULT_LADDER[:1], source_sample_rate=SWEEP_RATE, source_channels=2, out_dir=tmp_path
    )
    await transcode(
        ladder_run.source,
        plans,
        work_dir=tmp_path / "work",
        duration_hint=SWEEP_SECONDS,
        on_progress=seen.append,
        timeout=60,
    )
    assert seen[-1] == 1.0
    assert seen.count(1.0) == 1
    assert seen == sorted(set(seen))
    assert all(0.0 <= fraction <= 1.0 for fraction in seen)


async def test_without_a_duration_progress_reports_only_completion(
    ladder_run: LadderRun, tmp_path: Path
) -> None:
    seen: list[float] = []
    plans = plan_outputs(
        DEFAULT_LADDER[:1], source_sample_rate=SWEEP_RATE, source_channels=2, out_dir=tmp_path
    )
    await transcode(
        ladder_run.source, plans, work_dir=tmp_path / "work", on_progress=seen.append, timeout=60
    )
    assert seen == [1.0]


# --- other codecs and layouts --------------------------------------------------------------

SOURCES = {
    # name: (lavfi source, extra args, rate, channels, bits)
    "mono-22k": (
        "sine=frequency=440:sample_rate=22050:duration=3",
        ["-c:a", "pcm_s16le"],
        22_050,
        1,
        16,
    ),
    "5.1-48k": (
        "sine=frequency=440:sample_rate=48000:duration=3",
        ["-af", "aformat=channel_layouts=5.1", "-c:a", "pcm_s16le"],
        48_000,
        6,
        16,
    ),
    "stereo-96k-24bit": (
        "sine=frequency=440:sample_rate=96000:duration=3",
        ["-ac", "2", "-c:a", "pcm_s24le"],
        96_000,
        2,
        24,
    ),
}
CODECS_LADDER = (
    Rendition("aac_64", "aac", 64_000),
    Rendition("opus_64", "opus", 64_000),
    Rendition("flac", "flac", None),
)


@pytest.mark.parametrize("name", SOURCES)
async def test_flac_and_opus_renditions_are_valid_for_every_layout(
    name: str, tmp_path: Path
) -> None:
    lavfi, extra, rate, channels, bits = SOURCES[name]
    source = await asyncio.to_thread(_generate, tmp_path / f"{name}.wav", lavfi, *extra)
    source_samples = (await asyncio.to_thread(_decode, source)).samples
    plans = plan_outputs(
        CODECS_LADDER,
        source_sample_rate=rate,
        source_channels=channels,
        out_dir=tmp_path / "out",
        source_bits_per_sample=bits,
    )
    result = await transcode(source, plans, work_dir=tmp_path / "work", timeout=60)
    for output in result.outputs:
        plan = output.plan
        decoded = await asyncio.to_thread(_decode, plan.path)
        assert decoded.codec == plan.rendition.codec
        assert (decoded.channels, decoded.sample_rate) == (plan.channels, plan.sample_rate)
        expected = source_samples * plan.sample_rate / rate
        if plan.rendition.codec == "flac":
            assert decoded.samples == source_samples
            assert ("24 bit" in decoded.sample_format) == (bits == 24)
        else:
            # Encoder delay and padding: AAC 1024 + up to a frame, Opus 312 + up to 20 ms.
            assert 0 <= decoded.samples - expected < 2048


# --- failures ------------------------------------------------------------------------------


@pytest.fixture
def bad_sources(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(bytes(range(256)) * 64)
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 100)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    return {"garbage": garbage, "text": text, "empty": empty, "missing": tmp_path / "gone.mp3"}


# Bytes that are not audio, in ffmpeg 9's words and 5.1's (which takes them for MP3).
INVALID_DATA = "Invalid data found when processing input|Failed to read frame size"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("garbage", INVALID_DATA),
        ("text", INVALID_DATA),
        ("empty", "Could not find codec parameters"),
        ("missing", "No such file or directory"),
    ],
)
async def test_an_unreadable_source_is_bad_input(
    bad_sources: dict[str, Path], tmp_path: Path, kind: str, reason: str
) -> None:
    out_dir = tmp_path / "out"
    plans = plan_outputs(
        DEFAULT_LADDER, source_sample_rate=44_100, source_channels=2, out_dir=out_dir
    )
    with pytest.raises(BadInput) as caught:
        await transcode(bad_sources[kind], plans, work_dir=tmp_path / "work", timeout=30)
    error = caught.value
    assert error.retryable is False
    assert re.fullmatch(f"ffmpeg cannot read the source: (?:{reason})", error.reason)
    assert error.returncode != 0
    assert re.search(reason, error.stderr_tail)
    assert len(error.stderr_tail.splitlines()) <= 30
    assert list(out_dir.iterdir()) == []
    assert list((tmp_path / "work").iterdir()) == []


class SlowWav(threading.Thread):
    """Feeds an endless stereo WAV into a FIFO at twice real time, like a slow network."""

    def __init__(self, fifo: Path) -> None:
        super().__init__(daemon=True)
        self.fifo = fifo
        self.stopped = threading.Event()
        os.mkfifo(fifo)

    def run(self) -> None:
        fd = None
        while fd is None and not self.stopped.is_set():
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:  # ENXIO until ffmpeg opens the reading end
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.01)
        if fd is None:
            return
        os.set_blocking(fd, True)
        rate, channels = 48_000, 2
        header = (
            b"RIFF"
            + struct.pack("<I", 0xFFFFFFFF)
            + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
            + b"data"
            + struct.pack("<I", 0xFFFFFFFF)
        )
        chunk = bytes(rate * channels * 2 // 20)  # 50 ms of silence
        try:
            os.write(fd, header)
            while not self.stopped.is_set():
                os.write(fd, chunk)
                time.sleep(0.025)
        except BrokenPipeError:
            pass  # ffmpeg is gone
        finally:
            os.close(fd)


@pytest.fixture
def slow_source(tmp_path: Path) -> Iterator[Path]:
    writer = SlowWav(tmp_path / "slow.wav")
    writer.start()
    yield writer.fifo
    writer.stopped.set()
    writer.join(timeout=5)


def _ffmpeg_pids(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


async def _wait_for_outputs(plans: list[OutputPlan]) -> list[int]:
    """Wait until ffmpeg runs and has created every output; return its pid."""
    for _ in range(400):  # a loaded machine (the whole suite on 2 cores) starts ffmpeg late
        exists = await asyncio.to_thread(lambda: all(plan.path.exists() for plan in plans))
        pids = await asyncio.to_thread(_ffmpeg_pids, str(plans[0].path))
        if exists and pids:
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError("ffmpeg never started writing")


def _slow_plans(tmp_path: Path) -> list[OutputPlan]:
    return plan_outputs(
        DEFAULT_LADDER, source_sample_rate=48_000, source_channels=2, out_dir=tmp_path / "out"
    )


async def test_a_run_past_its_deadline_is_stopped_and_leaves_nothing(
    slow_source: Path, tmp_path: Path
) -> None:
    plans = _slow_plans(tmp_path)
    run = asyncio.create_task(
        transcode(slow_source, plans, work_dir=tmp_path / "work", timeout=5, terminate_grace=2)
    )
    pids = await _wait_for_outputs(plans)
    with pytest.raises(TranscodeTimeout) as caught:
        await run
    assert caught.value.retryable is True
    assert await asyncio.to_thread(_ffmpeg_pids, str(plans[0].path)) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert list((tmp_path / "out").iterdir()) == []
    assert list((tmp_path / "work").iterdir()) == []


async def test_cancelling_a_run_kills_ffmpeg_and_leaves_nothing(
    slow_source: Path, tmp_path: Path
) -> None:
    plans = _slow_plans(tmp_path)
    run = asyncio.create_task(transcode(slow_source, plans, work_dir=tmp_path / "work", timeout=60))
    pids = await _wait_for_outputs(plans)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert await asyncio.to_thread(_ffmpeg_pids, str(plans[0].path)) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert list((tmp_path / "out").iterdir()) == []
    assert list((tmp_path / "work").iterdir()) == []


async def test_a_failing_progress_callback_stops_the_run(slow_source: Path, tmp_path: Path) -> None:
    def explode(fraction: float) -> None:
        raise RuntimeError("callback failed")

    plans = _slow_plans(tmp_path)
    with pytest.raises(RuntimeError, match="callback failed"):
        await transcode(
            slow_source,
            plans,
            work_dir=tmp_path / "work",
            duration_hint=600,
            on_progress=explode,
            timeout=60,
        )
    assert await asyncio.to_thread(_ffmpeg_pids, str(plans[0].path)) == []
    assert list((tmp_path / "out").iterdir()) == []


# --- speed (printed, not asserted) ---------------------------------------------------------


async def test_speed_of_the_default_ladder_on_60_seconds(tmp_path: Path) -> None:
    source = await asyncio.to_thread(_sweep, tmp_path / "long.wav", 60)
    plans = plan_outputs(
        DEFAULT_LADDER, source_sample_rate=SWEEP_RATE, source_channels=2, out_dir=tmp_path / "out"
    )
    result = await transcode(
        source, plans, work_dir=tmp_path / "work", duration_hint=60, timeout=120
    )
    print(
        f"\n60 s stereo, 3 AAC renditions + loudness + peaks: {result.wall_seconds:.2f} s wall "
        f"({60 / result.wall_seconds:.1f}x realtime), {result.cpu_seconds} s CPU"
    )


async def test_the_ffmpeg_given_is_the_one_that_runs(
    bad_sources: dict[str, Path], tmp_path: Path
) -> None:
    # As transcode_track passes the ffmpeg_path setting: a stand-in that notes its call.
    called = tmp_path / "called"
    fake = tmp_path / "my-ffmpeg"
    fake.write_text(f"#!/bin/sh\ntouch {called}\necho 'stand-in ffmpeg failed' >&2\nexit 3\n")
    fake.chmod(0o755)
    plans = plan_outputs(
        DEFAULT_LADDER, source_sample_rate=44_100, source_channels=2, out_dir=tmp_path / "out"
    )
    with pytest.raises(FfmpegFailed, match="stand-in ffmpeg failed"):
        await transcode(
            bad_sources["garbage"], plans, work_dir=tmp_path, timeout=30, executable=str(fake)
        )
    assert called.exists()
    called.unlink()
    with pytest.raises(FfmpegFailed, match="stand-in ffmpeg failed"):
        await measure_loudness(bad_sources["garbage"], channels=2, executable=str(fake))
    assert called.exists()
