"""The early verdict on an upload's first bytes (streamer.uploads.sniff): real audio of
every container the catalogue reads is never refused, at any length of head; images,
archives, documents, text and random bytes are, once there are enough of them."""

from __future__ import annotations

import io
import random
import subprocess
import zipfile

import pytest
from mutagen import id3

from streamer.uploads.sniff import ENOUGH_BYTES, SNIFF_BYTES, sniff
from tests.fixtures.audio import AUDIO_FORMATS, FFMPEG_TIMEOUT, make_audio, make_png
from transcoder.ffmpeg import ffmpeg_exe

# name -> ffmpeg output arguments, for containers beyond the fixtures' formats
EXTRA: dict[str, list[str]] = {
    "bare.mp3": ["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "0", "-f", "mp3"],
    "vbr.mp3": ["-c:a", "libmp3lame", "-q:a", "4", "-ac", "1", "-ar", "22050",
                "-id3v2_version", "0", "-write_xing", "0", "-f", "mp3"],
    "low.mp3": ["-c:a", "libmp3lame", "-b:a", "32k", "-ar", "8000", "-ac", "1",
                "-id3v2_version", "0", "-write_xing", "0", "-f", "mp3"],
    "layer2.mp2": ["-c:a", "mp2", "-b:a", "192k", "-f", "mp2"],
    "adts.aac": ["-c:a", "aac", "-b:a", "96k", "-f", "adts"],
    "alac.m4a": ["-c:a", "alac", "-f", "ipod"],
    "raw.ac3": ["-c:a", "ac3", "-f", "ac3"],
    "raw.eac3": ["-c:a", "eac3", "-f", "eac3"],
    "pcm.aiff": ["-c:a", "pcm_s16be", "-f", "aiff"],
    "wma.wma": ["-c:a", "wmav2", "-f", "asf"],
    "wavpack.wv": ["-c:a", "wavpack", "-f", "wv"],
    "true.tta": ["-c:a", "tta", "-f", "tta"],
    "vorbis.mka": ["-c:a", "libvorbis", "-f", "matroska"],
}  # fmt: skip
# Formats ffmpeg does not write: their headers' first bytes, from their specifications.
SIGNATURES = {
    "ape": b"MAC \x96\x0f\x00\x00",
    "mpc-sv8": b"MPCKSH\x0b",
    "mpc-sv7": b"MP+\x17",
    "ofr": b"OFR \x0f\x00\x00\x00",
    "tak": b"tBaK\x00\x00",
    "dsf": b"DSD \x1c\x00\x00\x00",
    "dff": b"FRM8\x00\x00\x00\x00",
    "rf64": b"RF64\xff\xff\xff\xffWAVE",
}


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real files: the fixtures' formats, EXTRA, and an MP3 whose ID3 tag (a large cover)
    pushes its first audio frame past SNIFF_BYTES."""
    folder = tmp_path_factory.mktemp("sniff")
    files = {fmt: make_audio(folder / f"a.{fmt}", fmt, 1.0) for fmt in AUDIO_FORMATS}
    for name, args in EXTRA.items():
        path = folder / name
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", "sine=frequency=440:duration=1:sample_rate=44100", *args, str(path)],
            check=True, capture_output=True, timeout=FFMPEG_TIMEOUT,
        )  # fmt: skip
        files[name] = path
    tagged = make_audio(folder / "tagged.mp3", "mp3", 1.0)
    tags = id3.ID3(tagged)
    cover = random.Random(1).randbytes(3 * SNIFF_BYTES)  # a large picture: a big tag
    tags.add(id3.APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=cover))
    tags.save(tagged)
    files["big-tag.mp3"] = tagged
    return {name: path.read_bytes() for name, path in files.items()}


def heads(data: bytes) -> list[tuple[bytes, bool]]:
    """The heads a first PATCH may bring: a few bytes, a typical small chunk, the
    sniffing window, and the whole file (with whole=True)."""
    cuts = [16, 700, ENOUGH_BYTES, 10_000, SNIFF_BYTES]
    return [(data[:n], False) for n in cuts if n < len(data)] + [(data, True)]


def test_the_big_tag_pushes_the_audio_past_the_window(audio: dict[str, bytes]) -> None:
    assert len(audio["big-tag.mp3"]) > 3 * SNIFF_BYTES


@pytest.mark.parametrize("name", [*AUDIO_FORMATS, *EXTRA, "big-tag.mp3"])
def test_real_audio_is_never_refused(audio: dict[str, bytes], name: str) -> None:
    data = audio[name]
    for head, whole in heads(data):
        verdict = sniff(head, whole=whole)
        assert verdict.kind != "not audio", (len(head), verdict)
    assert sniff(data[:ENOUGH_BYTES]).kind == "audio"


@pytest.mark.parametrize("name", ["bare.mp3", "layer2.mp2", "adts.aac"])
def test_bare_frames_are_recognised_after_junk(audio: dict[str, bytes], name: str) -> None:
    junk = bytes(1000)  # zeros before the first frame, as some encoders leave
    assert sniff((junk + audio[name])[:SNIFF_BYTES]).kind == "audio"


@pytest.mark.parametrize("name", list(SIGNATURES))
def test_containers_ffmpeg_does_not_write_are_known_by_their_signature(name: str) -> None:
    head = SIGNATURES[name] + random.Random(2).randbytes(ENOUGH_BYTES)
    assert sniff(head).kind == "audio"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.mp3", random.Random(3).randbytes(20_000))
    return buffer.getvalue()


NOT_AUDIO = {
    "png": (make_png(64, 64) + random.Random(4).randbytes(8000), "a PNG image"),
    "zip": (_zip(), "a ZIP archive"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + random.Random(5).randbytes(8000), "a PDF document"),
    "text": (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" * 100, "text"),
    "html": (b"<!DOCTYPE html>\n<html><body>" + b"<p>not a song</p>\n" * 300, "HTML"),
    "utf-8 text": ("Ça va — 日本語 🎵 les paroles\n".encode() * 200, "text"),
}


@pytest.mark.parametrize("name", list(NOT_AUDIO))
def test_other_formats_are_refused_by_name(name: str) -> None:
    data, what = NOT_AUDIO[name]
    verdict = sniff(data[:SNIFF_BYTES], whole=len(data) <= SNIFF_BYTES)
    assert (verdict.kind, verdict.what) == ("not audio", f"looks like {what}")


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_are_refused_once_there_are_enough(seed: int) -> None:
    data = random.Random(seed).randbytes(196 * 1024)
    assert sniff(data[:100]).kind == "undecided"  # too few to say
    for size in (ENOUGH_BYTES, 65_000, SNIFF_BYTES):
        verdict = sniff(data[:size])
        assert verdict.kind == "not audio"
        assert verdict.what.startswith("no audio format recognised in its first")


def test_a_short_whole_file_of_random_bytes_is_refused() -> None:
    verdict = sniff(random.Random(7).randbytes(300), whole=True)
    assert (verdict.kind, verdict.what) == ("not audio", "no audio format recognised in its bytes")


def test_nothing_yet_is_undecided() -> None:
    assert sniff(b"").kind == "undecided"
    assert sniff(b"ID").kind == "undecided"


def test_any_bytes_get_a_verdict_and_never_an_error() -> None:
    # Heads dense in sync-word bytes, cut anywhere: every frame parser's edge is reached.
    rng = random.Random(8)
    alphabet = [0xFF, 0xF1, 0xFB, 0xE3, 0x0B, 0x77, 0x00, 0x90, 0x50, 0x44]
    for _ in range(20_000):
        head = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 48)))
        for whole in (False, True):
            assert sniff(head, whole=whole).kind in ("audio", "not audio", "undecided")
