"""The parallel layout of a transcode (a decoding process, an encoding process per
rendition, raw PCM through pipes) against the one-process layout, with the ffmpeg under test:
the same renditions, loudness and peaks; failures, deadlines and cancellation handled as
in one process, with every process gone afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import filecmp
import os
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from transcoder.errors import BadInput, FfmpegFailed, TranscodeTimeout
from transcoder.ffmpeg import ffmpeg_exe, ffmpeg_version
from transcoder.ladder import DEFAULT_LADDER, OutputPlan, parse_ladder, plan_outputs
from transcoder.run import TranscodeResult, transcode

pytestmark = pytest.mark.ffmpeg  # scripts/test runs it with each ffmpeg found

FFMPEG_TIMEOUT = 60.0

# name: (lavfi source, encoding options, rate, channels, bits, ladder, gain in dB)
CASES = {
    "stereo-44k-default-ladder": (
        "aevalsrc=0.3*sin(2*PI*440*t)+0.05*random(0)|0.3*sin(2*PI*550*t):s=44100:d=6",
        ("-c:a", "pcm_s16le"), 44_100, 2, 16, "aac_64,aac_128,aac_256", 0.0,
    ),
    "mono-48k": (
        "aevalsrc=0.3*sin(2*PI*440*t)+0.05*random(0):s=48000:d=6",
        ("-c:a", "pcm_s16le"), 48_000, 1, 16, "aac_128,opus_96,flac", 0.0,
    ),
    "stereo-96k-24-bit-with-gain": (
        "aevalsrc=0.3*sin(2*PI*440*t)+0.05*random(0)|0.2*sin(2*PI*660*t):s=96000:d=6",
        ("-c:a", "flac", "-sample_fmt", "s32"), 96_000, 2, 24, "aac_128,opus_96,flac", -3.5,
    ),
    "5.1-22k-downmixed": (
        "aevalsrc=0.3*sin(2*PI*440*t)|0.2*sin(2*PI*330*t)|0.1*random(0)|0.1*sin(2*PI*50*t)"
        "|0.1*sin(2*PI*800*t)|0.1*sin(2*PI*900*t):s=22050:d=6:c=5.1",
        ("-c:a", "pcm_s16le"), 22_050, 6, 16, "aac_64,flac", 2.0,
    ),
}  # fmt: skip


def _generate(path: Path, lavfi: str, *extra: str) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", lavfi, *extra, str(path)],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip
    return path


def _pcm(path: Path) -> bytes:
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
         "-f", "s32le", "-"],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
    )  # fmt: skip
    return done.stdout


@pytest.mark.parametrize("name", CASES)
async def test_both_layouts_make_the_same_renditions_loudness_and_peaks(
    name: str, tmp_path: Path
) -> None:
    lavfi, extra, rate, channels, bits, ladder, gain = CASES[name]
    # WAV and FLAC time samples exactly; a container with coarser timestamps (Matroska's
    # milliseconds) hands the one-process layout's muxer their jitter, which the encoders
    # of the parallel layout, counting samples, do not see: same audio, other bytes.
    suffix = ".flac" if "flac" in extra else ".wav"
    source = await asyncio.to_thread(_generate, tmp_path / f"source{suffix}", lavfi, *extra)
    results: dict[str, tuple[list[OutputPlan], TranscodeResult]] = {}
    for layout in ("one", "parallel"):
        plans = plan_outputs(
            parse_ladder(ladder.split(",")),
            source_sample_rate=rate,
            source_channels=channels,
            source_bits_per_sample=bits,
            out_dir=tmp_path / layout,
        )
        result = await transcode(
            source, plans, work_dir=tmp_path / layout, timeout=60, gain_db=gain, layout=layout
        )
        results[layout] = (plans, result)
    (one_plans, one), (parallel_plans, parallel) = results["one"], results["parallel"]
    assert parallel.loudness == one.loudness
    assert parallel.peaks == one.peaks
    version = await asyncio.to_thread(lambda: ffmpeg_version(ffmpeg_exe()))
    for plan_one, plan_parallel in zip(one_plans, parallel_plans, strict=True):
        if plan_one.rendition.codec == "flac" and version.at_least(7):
            # 7+ in one process hands FLAC's encoder frames of whatever size the graph
            # makes (47 samples, say: the block size in the header); the encoder reading a
            # pipe gets full blocks. The samples are the same; the blocks, so the bytes, not.
            pcm = await asyncio.to_thread(_pcm, plan_one.path)
            assert await asyncio.to_thread(_pcm, plan_parallel.path) == pcm
        else:
            same = await asyncio.to_thread(
                filecmp.cmp, plan_one.path, plan_parallel.path, shallow=False
            )
            assert same, plan_one


# --- failures, deadlines, cancellation --------------------------------------------------


def _plans(out_dir: Path) -> list[OutputPlan]:
    return plan_outputs(
        DEFAULT_LADDER, source_sample_rate=48_000, source_channels=2, out_dir=out_dir
    )


def _processes_writing(directory: Path) -> list[int]:
    """Processes whose command line names ``directory`` (a run's decoder names its source
    and work folder, its encoders their outputs)."""
    marker = str(directory).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


async def _wait_for_processes(directory: Path, count: int) -> list[int]:
    for _ in range(400):  # a loaded machine starts ffmpeg late
        pids = await asyncio.to_thread(_processes_writing, directory)
        if len(pids) >= count:
            return pids
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} ffmpeg processes ever ran")


async def test_an_unreadable_source_is_bad_input(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(BadInput) as caught:
        await transcode(
            garbage, _plans(tmp_path / "out"), work_dir=tmp_path / "work", layout="parallel"
        )
    assert caught.value.retryable is False
    assert list((tmp_path / "out").iterdir()) == []
    assert list((tmp_path / "work").iterdir()) == []


async def test_a_failing_encoder_fails_the_run_and_stops_the_others(tmp_path: Path) -> None:
    source = await asyncio.to_thread(
        _generate, tmp_path / "tone.wav", "sine=f=440:r=48000:d=30", "-ac", "2"
    )
    plans = _plans(tmp_path / "out")
    # aac_128's file a link into a folder that does not exist: only its encoder cannot
    # write, and it says "No such file or directory", which must not pass for bad input.
    await asyncio.to_thread(plans[1].path.parent.mkdir, parents=True)
    await asyncio.to_thread(plans[1].path.symlink_to, tmp_path / "absent" / "x.mp4")
    with pytest.raises(FfmpegFailed) as caught:
        await transcode(source, plans, work_dir=tmp_path / "work", timeout=60, layout="parallel")
    assert not isinstance(caught.value, BadInput)
    assert caught.value.retryable is True
    assert "aac_128.mp4" in caught.value.stderr_tail
    assert await asyncio.to_thread(_processes_writing, tmp_path / "out") == []
    assert not await asyncio.to_thread(plans[0].path.exists)
    assert not await asyncio.to_thread(plans[2].path.exists)


class SlowWav(threading.Thread):
    """Feeds an endless stereo 48 kHz WAV into a FIFO at twice real time until stopped."""

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
        header = (
            b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 2, 48_000, 192_000, 4, 16)
            + b"data" + struct.pack("<I", 0xFFFFFFFF)
        )  # fmt: skip
        try:
            os.write(fd, header)
            while not self.stopped.is_set():
                os.write(fd, bytes(9600))  # 50 ms of silence
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


@pytest.mark.parametrize("how", ["cancelled", "deadline"])
async def test_a_stopped_run_kills_every_process_and_leaves_nothing(
    slow_source: Path, tmp_path: Path, how: str
) -> None:
    out = tmp_path / "out"
    run = asyncio.create_task(
        transcode(
            slow_source,
            _plans(out),
            work_dir=tmp_path / "work",
            timeout=60 if how == "cancelled" else 4,
            terminate_grace=2,
            layout="parallel",
        )
    )
    pids = await _wait_for_processes(tmp_path, 4)  # the decoder and three encoders
    if how == "cancelled":
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    else:
        with pytest.raises(TranscodeTimeout):
            await run
    assert await asyncio.to_thread(_processes_writing, tmp_path) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert list(out.iterdir()) == []
    assert list((tmp_path / "work").iterdir()) == []
