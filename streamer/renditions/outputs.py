"""Store what a transcode produced: the renditions, their segment indexes, the waveform.

``transcode_track`` runs the one-process ffmpeg ladder for a catalogued track and hands the
result to ``store_outputs``, which writes every derived object through the track's
ObjectStore under ``.streamer/tracks/<track_id>/<ladder_hash>/<run>/`` and records the
renditions in the database. The job runner calls ``transcode_track``; nothing here knows
about queues.

Each run writes to a folder of its own and the database switches to it in one commit, so
a re-transcode never overwrites what is being served, and a run that fails or is cancelled
while uploading leaves nothing behind (its folder is deleted; no row points at it). The
folders of replaced runs are orphans for ``streamer cleanup`` to remove, not deleted at
once: nodes may serve from them until their caches expire.

Priming. ffmpeg's AAC encoder puts 1024 priming samples in front of the audio, and with
``-movflags +empty_moov`` (what the transcoder writes) nothing in the file says so: players
would play 23 ms of silence first and every HLS client would decode 1024 samples too many.
So before an AAC rendition is stored, its ``moov`` gets the priming said two ways:

- an edit list (``edts/elst``, media_time 1024) in the audio trak, exactly as ffmpeg itself
  writes one with ``+delay_moov``: the standard way, which browsers' MediaSource, Safari and
  ffmpeg 9 follow;
- Apple's gapless tag (``iTunSMPB`` in ``moov/udta/meta/ilst``: priming, end padding and
  sample count), which ffmpeg 5.1 (Debian 12's, and players built on it) follows where it
  ignores an edit list in a fragmented file. Readers that know both apply the
  priming once (checked with 5.1 and 9.0). The tag replaces ffmpeg's ``udta``, which holds
  nothing but its encoder tag (metadata is not copied into renditions).

The segment index then reads the priming from the file rather than from an assumption.
Growing the moov shifts every later byte: fragments are self-contained
(``default_base_moof``), but the ``mfra`` trailer holds absolute offsets, so it is dropped
(it is optional; nothing we serve relies on it). A rendition file is therefore exactly its
init segment followed by its fragments.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import struct
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from sqlalchemy import delete

from streamer.db import Database, Rendition, Track
from streamer.errors import ObjectChanged, ObjectNotFound, StorageError
from streamer.storage.base import ObjectStore, derived_key
from transcoder.fmp4 import Mp4Error, SegmentIndex, parse_fmp4_path
from transcoder.ladder import DEFAULT_LADDER, plan_outputs
from transcoder.ladder import Rendition as LadderRendition
from transcoder.ladder import ladder_hash as compute_ladder_hash
from transcoder.normalise import normalisation_gain
from transcoder.run import RenditionOutput, TranscodeResult, measure_loudness, transcode

__all__ = [
    "AAC_PRIMING",
    "SEGMENT_SECONDS",
    "source_hash",
    "source_url",
    "store_outputs",
    "transcode_track",
]

logger = logging.getLogger("streamer.renditions")

SEGMENT_SECONDS = 6.0  # HLS segment (fMP4 fragment) length by default
# Priming samples of ffmpeg's native AAC encoder (Apple's and FDK prime 2112).
AAC_PRIMING = 1024
RENDITION_CONTENT_TYPE = "audio/mp4"
JSON_CONTENT_TYPE = "application/json"
_EDIT_LIST_SIZE = 36  # edts header (8) + elst (28: header 8, version/flags 4, count 4, entry 12)
AAC_FRAME = 1024  # samples per AAC-LC frame
# How long a presigned source URL stays valid beyond the transcode's own deadline.
_PRESIGN_MARGIN = 600


@runtime_checkable
class _PresignedSource(Protocol):
    """A remote store that can give ffmpeg a plain HTTP URL to read (S3)."""

    async def presigned_url(self, key: str, expires: int = ...) -> str: ...


async def transcode_track(
    db: Database,
    store: ObjectStore,
    track: Track,
    *,
    ladder: Sequence[LadderRendition] = DEFAULT_LADDER,
    segment_seconds: float = SEGMENT_SECONDS,
    loudness_target: float | None = None,
    work_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    ffmpeg: str | None = None,
) -> list[Rendition]:
    """Transcode ``track`` (read from ``store``) into ``ladder`` and store the renditions.

    ffmpeg reads a local source in place and a remote one through a presigned URL. With
    ``loudness_target``, a first ffmpeg pass measures the source and the transcode applies
    the gain :func:`transcoder.normalise.normalisation_gain` gives. Each pass is bounded
    by 60 s plus twice the track's duration. Temporary outputs live in a fresh
    directory under ``work_dir`` and are removed afterwards, whatever happens; so are
    objects already uploaded when storing fails or is cancelled. Raises ValueError for a
    track the scan could not describe (no sample rate or channels), the transcoder's errors
    (``transcoder.errors``) for ffmpeg failures, ObjectChanged when the source was replaced
    or deleted while ffmpeg read it, and StorageError when the source cannot be reached or
    the outputs cannot be written. ``ffmpeg`` is the binary to run (default: the one
    :func:`transcoder.ffmpeg.ffmpeg_exe` finds).
    """
    if not track.sample_rate or not track.channels:
        raise ValueError(f"track {track.id} has no probed sample rate or channel count")
    duration = track.duration or 0.0
    timeout = 60.0 + 2.0 * duration
    source = await source_url(store, track.key, expires=int(timeout) + _PRESIGN_MARGIN)
    run = uuid.uuid4().hex[:12]
    out_dir = work_dir / f"transcode-{track.id}-{run}"
    plans = plan_outputs(
        ladder,
        source_sample_rate=track.sample_rate,
        source_channels=track.channels,
        source_bits_per_sample=track.bits_per_sample,
        out_dir=out_dir,
    )
    hashed = compute_ladder_hash(ladder, segment_seconds, loudness_target)
    try:
        gain = 0.0
        if loudness_target is not None:
            measured = await measure_loudness(
                source, channels=plans[0].channels, timeout=timeout, executable=ffmpeg
            )
            gain = normalisation_gain(measured, loudness_target)
        result = await transcode(
            source,
            plans,
            work_dir=out_dir,
            segment_seconds=segment_seconds,
            duration_hint=track.duration,
            on_progress=on_progress,
            timeout=timeout,
            gain_db=gain,
            executable=ffmpeg,
        )
        await _check_source_unchanged(store, track)
        folder = ("tracks", track.id, hashed, run)
        try:
            return await store_outputs(
                db,
                store,
                track,
                result,
                ladder_hash=hashed,
                content_hash=source_hash(track),
                segment_seconds=segment_seconds,
                folder=folder,
                gain_db=gain,
            )
        except BaseException:
            # Nothing points at this run's folder unless the commit happened, and then
            # store_outputs returned: remove what was uploaded, shielded from the
            # cancellation that may have brought us here.
            await asyncio.shield(_remove_folder(store, derived_key(*folder) + "/"))
            raise
    finally:
        await asyncio.to_thread(shutil.rmtree, out_dir, True)


async def _check_source_unchanged(store: ObjectStore, track: Track) -> None:
    # ffmpeg may read a deleted local file to the end through its open descriptor, or a
    # replaced one half old, half new: renditions of that must not be stored.
    try:
        info = await store.stat(track.key)
    except ObjectNotFound as exc:
        raise ObjectChanged(f"{track.key} was deleted while it was being transcoded") from exc
    if info.version != track.version or info.size != track.size:
        raise ObjectChanged(f"{track.key} changed while it was being transcoded")


async def _remove_folder(store: ObjectStore, prefix: str) -> None:
    try:
        await store.delete_prefix(prefix)
    except StorageError:
        logger.warning("could not remove the partial outputs under %s", prefix, exc_info=True)


def source_hash(track: Track) -> str:
    """The identity of the source bytes that renditions record (and idempotence checks)."""
    return track.content_hash or _digest(track.version)


async def source_url(store: ObjectStore, key: str, *, expires: int) -> str:
    """What ffmpeg reads ``key`` through: its local path, or a presigned URL."""
    # local_path resolves symlinks on local stores: off the loop.
    path = await asyncio.to_thread(store.local_path, key)
    if path is not None:
        return str(path)
    if isinstance(store, _PresignedSource):
        return await store.presigned_url(key, expires=expires)
    raise StorageError(f"the store {store.url} gives ffmpeg no way to read {key!r}")


async def store_outputs(
    db: Database,
    store: ObjectStore,
    track: Track,
    result: TranscodeResult,
    *,
    ladder_hash: str,
    content_hash: str,
    segment_seconds: float,
    folder: Sequence[str] | None = None,
    gain_db: float = 0.0,
) -> list[Rendition]:
    """Upload each rendition and its segment index, the waveform peaks, and record them.

    Keys: ``.streamer/{folder}/{name}.mp4``, ``{name}.index.json`` and ``peaks.json``;
    ``folder`` defaults to ``tracks/<track>/<ladder_hash>``. AAC renditions get an edit
    list for their priming first (module docstring), so ``Rendition.duration`` is the
    content's duration, priming excluded. The
    track's Rendition rows for ``ladder_hash`` are replaced and its loudness and
    ``waveform_key`` set, in one commit; ``track`` is updated to match. Raises Mp4Error for
    an output that is not a fragmented MP4 and StorageError when a write fails.
    """
    folder = tuple(folder or ("tracks", track.id, ladder_hash))
    rows: list[Rendition] = []
    for output in result.outputs:
        index = await asyncio.to_thread(_prepare_rendition, output)
        _check_fragments(output, index, segment_seconds)
        name = output.plan.rendition.name
        key = derived_key(*folder, f"{name}.mp4")
        index_key = derived_key(*folder, f"{name}.index.json")
        info = await store.put_file(key, output.plan.path, content_type=RENDITION_CONTENT_TYPE)
        await store.put_bytes(index_key, index.to_json().encode(), content_type=JSON_CONTENT_TYPE)
        rows.append(
            Rendition(
                track_id=track.id,
                name=name,
                codec=output.plan.rendition.codec,
                codecs=index.codec,
                bitrate=output.plan.rendition.bitrate,
                peak_bitrate=index.peak_bitrate(),
                average_bitrate=index.average_bitrate(),
                sample_rate=index.sample_rate,
                channels=index.channels,
                duration=index.content_seconds,
                size=info.size,
                key=key,
                index_key=index_key,
                version=info.version,
                content_hash=content_hash,
                ladder_hash=ladder_hash,
                gain_db=gain_db,
            )
        )
    waveform_key = derived_key(*folder, "peaks.json")
    peaks = json.dumps({"points": [list(peak) for peak in result.peaks]}, separators=(",", ":"))
    await store.put_bytes(waveform_key, peaks.encode(), content_type=JSON_CONTENT_TYPE)

    loudness = result.loudness
    async with db.session() as session:
        await session.execute(
            delete(Rendition).where(
                Rendition.track_id == track.id, Rendition.ladder_hash == ladder_hash
            )
        )
        session.add_all(rows)
        row = await session.get(Track, track.id)
        if row is None:
            raise LookupError(f"track {track.id} is no longer catalogued")
        for target in (row, track):
            target.loudness_integrated = loudness.integrated_lufs
            target.loudness_range = loudness.range_lu
            target.true_peak = loudness.true_peak_dbtp
            target.waveform_key = waveform_key
        await session.commit()
    return rows


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_fragments(output: RenditionOutput, index: SegmentIndex, segment_seconds: float) -> None:
    longest = max(index.fragment_seconds(i) for i in range(len(index.fragments)))
    # ffmpeg cuts a fragment at the first packet past frag_duration: a few frames over at
    # most. Far longer ones mean the fragmenting options were lost; players would stall.
    if longest > 2 * segment_seconds:
        logger.warning(
            "rendition %s has a %.1f s fragment for %.1f s segments",
            output.plan.rendition.name,
            longest,
            segment_seconds,
        )


# --- the edit list -------------------------------------------------------------------------


def _prepare_rendition(output: RenditionOutput) -> SegmentIndex:
    """Blocking: index a rendition file, first declaring an AAC one's priming (docstring)."""
    path = output.plan.path
    index = parse_fmp4_path(path)
    if output.plan.rendition.codec == "aac":
        frames = sum(fragment.samples for fragment in index.fragments)
        padding = max(frames * AAC_FRAME - index.total_duration, 0)
        content = max(index.total_duration - AAC_PRIMING, 0)
        tag = _itunes_gapless(AAC_PRIMING, padding, content)
        if _insert_priming(path, AAC_PRIMING, tag, end=index.fragments[-1].end):
            index = parse_fmp4_path(path)
    return index


def _insert_priming(path: Path, media_time: int, udta: bytes, *, end: int) -> bool:
    """Give the audio trak of ``path`` an edit list starting at ``media_time`` and the moov
    the ``udta`` box given (replacing its own); drop what follows byte ``end`` (the mfra
    trailer). False, leaving the file alone, if the trak already has an edit list. Rewrites
    the file through a temporary copy and a rename."""
    with path.open("rb") as source:
        moov_at, moov = _find_moov(source)
        edited = _moov_with_edit_list(moov, media_time)
        if edited is None:
            return False
        edited = _moov_with_udta(edited, udta)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        try:
            with temporary.open("wb") as sink:
                source.seek(0)
                sink.write(source.read(moov_at))
                sink.write(edited)
                source.seek(moov_at + len(moov))
                _copy(source, sink, end - moov_at - len(moov))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return True


def _copy(source: BinaryIO, sink: BinaryIO, length: int) -> None:
    while length > 0:
        chunk = source.read(min(length, 1 << 20))
        if not chunk:
            raise Mp4Error("the file ended before its last fragment")
        sink.write(chunk)
        length -= len(chunk)


def _find_moov(source: BinaryIO) -> tuple[int, bytes]:
    position = 0
    while True:
        source.seek(position)
        header = source.read(8)
        if len(header) < 8:
            raise Mp4Error("no moov box")
        size, kind = struct.unpack(">I4s", header)
        if size < 8:  # 64-bit or to-end sizes: never what ffmpeg writes for ftyp/moov
            raise Mp4Error(f"unexpected size {size} of the box at offset {position}")
        if kind == b"moov":
            source.seek(position)
            return position, source.read(size)
        position += size


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, box start, box end) of each child box in data[start:end] (32-bit sizes)."""
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        if size < 8 or start + size > end:
            raise Mp4Error(f"damaged {kind!r} box in moov")
        found.append((kind, start, start + size))
        start += size
    return found


def _moov_with_edit_list(moov: bytes, media_time: int) -> bytes | None:
    for kind, start, end in _boxes(moov, 8, len(moov)):
        if kind != b"trak" or not _is_audio(moov, start, end):
            continue
        children = _boxes(moov, start + 8, end)
        if any(child == b"edts" for child, _, _ in children):
            return None
        tkhd_end = next((e for child, _, e in children if child == b"tkhd"), None)
        if tkhd_end is None:
            raise Mp4Error("the audio trak has no tkhd box")
        # One edit: the whole media (duration 0 in a fragmented file) from media_time, at
        # rate 1.0 (ISO/IEC 14496-12, 8.6.6), as ffmpeg writes with +delay_moov.
        edts = struct.pack(
            ">I4sI4sIIIiHH", _EDIT_LIST_SIZE, b"edts", 28, b"elst", 0, 1, 0, media_time, 1, 0
        )
        grown = bytearray(moov[:tkhd_end] + edts + moov[tkhd_end:])
        struct.pack_into(">I", grown, 0, len(moov) + _EDIT_LIST_SIZE)
        struct.pack_into(">I", grown, start, end - start + _EDIT_LIST_SIZE)
        return bytes(grown)
    raise Mp4Error("no audio trak in moov")


def _box(kind: bytes, payload: bytes, *, full: bool = False) -> bytes:
    body = (b"\0\0\0\0" if full else b"") + payload  # version 0, flags 0
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _itunes_gapless(priming: int, padding: int, samples: int) -> bytes:
    """A ``udta`` box holding Apple's gapless tag, iTunSMPB: priming, end padding and the
    content's sample count in hex, then eight unused fields (as iTunes writes it)."""
    value = f" 00000000 {priming:08X} {padding:08X} {samples:016X}" + " 00000000" * 8
    entry = _box(
        b"----",
        _box(b"mean", b"com.apple.iTunes", full=True)
        + _box(b"name", b"iTunSMPB", full=True)
        + _box(b"data", struct.pack(">II", 1, 0) + value.encode()),  # type 1: UTF-8
    )
    handler = _box(b"hdlr", b"\0\0\0\0mdirappl" + b"\0" * 9, full=True)
    return _box(b"udta", _box(b"meta", handler + _box(b"ilst", entry), full=True))


def _moov_with_udta(moov: bytes, udta: bytes) -> bytes:
    """``moov`` with its top-level udta boxes replaced by ``udta``."""
    kept = b"".join(moov[s:e] for kind, s, e in _boxes(moov, 8, len(moov)) if kind != b"udta")
    return struct.pack(">I4s", 8 + len(kept) + len(udta), b"moov") + kept + udta


def _is_audio(moov: bytes, start: int, end: int) -> bool:
    for kind, mdia_start, mdia_end in _boxes(moov, start + 8, end):
        if kind == b"mdia":
            for child, s, _ in _boxes(moov, mdia_start + 8, mdia_end):
                if child == b"hdlr":
                    return moov[s + 16 : s + 20] == b"soun"
    return False
