"""Is an upload audio at all? A verdict on its first bytes, before the rest is sent.

The probe at completion (transcoder.probe) is the judge of what is playable; this only
spares a client sending megabytes that are clearly something else. So it is
conservative: ``audio`` when the head starts with the signature of a container the
catalogue reads (or an ID3v2 tag, which may precede anything), ``not audio`` only when it
names another format (an image, an archive, a document, text) or when enough bytes
arrived and neither a signature nor a run of MPEG audio, ADTS or AC-3 frames is in them;
otherwise ``undecided``, and the completion decides.

Pure: bytes in, a :class:`Verdict` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from transcoder.matroska import MATROSKA_MAGIC
from transcoder.signatures import not_audio_format, text_kind

__all__ = ["ENOUGH_BYTES", "SNIFF_BYTES", "Verdict", "sniff"]

SNIFF_BYTES = 64 * 1024  # the most of the head looked at (and held back while it arrives)
ENOUGH_BYTES = 4096  # fewer, and not the whole file: no verdict on a missing signature
_TEXT_BYTES = 512  # enough to call a head text
_TEXT_SAMPLE = 4096  # what the text test reads (as the probe does)

Kind = Literal["audio", "not audio", "undecided"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``kind``, and ``what``: the format recognised, or why the bytes are not audio."""

    kind: Kind
    what: str


# Signatures of the containers the catalogue reads (AUDIO_EXTENSIONS), at offset 0.
_AUDIO_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"fLaC", "FLAC"),
    (b"OggS", "Ogg"),
    (MATROSKA_MAGIC, "Matroska/WebM"),
    (b"RF64", "RF64 WAV"),
    (b"BW64", "BW64 WAV"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c", "ASF (WMA)"),
    (b"MAC ", "Monkey's Audio"),
    (b"wvpk", "WavPack"),
    (b"MPCK", "Musepack SV8"),
    (b"MP+", "Musepack SV7"),
    (b"TTA1", "TTA"),
    (b"OFR", "OptimFROG"),
    (b"OFS", "OptimFROG DualStream"),
    (b"tBaK", "TAK"),
    (b"DSD ", "DSF"),
    (b"FRM8", "DSDIFF"),
    (b"ADIF", "ADIF AAC"),
    (b"APETAGEX", "an APE tag"),
    (b"\x0b\x77", "AC-3"),  # and E-AC-3: the sync word of every frame
)
# ISO base media (MP4, M4A): the first box's type.
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")


def sniff(head: bytes, *, whole: bool = False) -> Verdict:
    """The verdict on ``head``, the first bytes of an upload (``whole``: all of it).

    Looks at most at :data:`SNIFF_BYTES`. A missing signature counts against the bytes
    only from :data:`ENOUGH_BYTES` on (or when ``head`` is the whole file).
    """
    head = head[:SNIFF_BYTES]
    if not head:
        return Verdict("undecided", "no bytes yet")
    audio = _audio_signature(head)
    if audio is not None:
        return Verdict("audio", audio)
    what = not_audio_format(head)
    if what is not None:
        return Verdict("not audio", f"looks like {what}")
    frames = _frame_run(head, whole=whole)
    if frames is not None:
        return Verdict("audio", frames)
    if len(head) >= _TEXT_BYTES or whole:
        text = text_kind(head[:_TEXT_SAMPLE])
        if text is not None:
            return Verdict("not audio", f"looks like {text}")
    if len(head) < ENOUGH_BYTES and not whole:
        return Verdict("undecided", f"only {len(head)} bytes so far")
    where = "its bytes" if whole else f"its first {len(head):,} bytes"
    return Verdict("not audio", f"no audio format recognised in {where}")


def _audio_signature(head: bytes) -> str | None:
    if head[:3] == b"ID3" and head[3:4] in (b"\x02", b"\x03", b"\x04"):
        return "an ID3v2 tag"  # MP3, and AAC, FLAC, APE, TTA with a leading tag
    for prefix, what in _AUDIO_PREFIXES:
        if head.startswith(prefix):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[4:8] in _MP4_BOXES:
        return "MP4"
    return None


# --- runs of frames: MPEG audio (layers I-III) and ADTS AAC without a container ---------

_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
# kbit/s by (MPEG-1?, layer) and bitrate index 1-14 (0 is free format, 15 invalid)
_MPEG_BITRATES = {
    (True, 3): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 1): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 3): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 1): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RUN = 3  # frames in a row, each where the one before says it ends (mutagen wants 4)


def _frame_run(head: bytes, *, whole: bool) -> str | None:
    """What kind of frames run back to back somewhere in ``head``, or None.

    A sync pattern alone turns up in random bytes every few kilobytes; three valid
    headers in a row, each where the previous frame ends, do not. A run that reaches
    the end of ``head`` counts once two frames are confirmed (the third is not here yet).
    """
    position = head.find(b"\xff")
    while 0 <= position < len(head) - 6:
        kind = _frame(head, position)
        if kind is not None:
            found, at, key = 1, position + kind[1], kind[2]
            while found < _RUN:
                if at == len(head) and whole:
                    break  # the file ends with a whole frame
                if at + 7 > len(head):
                    if found >= 2:
                        break  # runs on past the bytes we have
                    found = 0
                    break
                following = _frame(head, at)
                if following is None or following[2] != key:
                    found = 0
                    break
                found, at = found + 1, at + following[1]
            if found:
                return kind[0]
        position = head.find(b"\xff", position + 1)
    return None


def _frame(head: bytes, at: int) -> tuple[str, int, tuple[int, ...]] | None:
    """(kind, frame length, what must stay the same) of a frame header at ``at``."""
    if head[at] != 0xFF:
        return None
    b1, b2, b3 = head[at + 1], head[at + 2], head[at + 3]
    if b1 & 0xF6 == 0xF0:  # 12 sync bits, layer 00: ADTS
        rate_index = (b2 >> 2) & 0x0F
        if at + 6 >= len(head) or rate_index > 12:
            return None
        length = ((b3 & 0x03) << 11) | (head[at + 4] << 3) | (head[at + 5] >> 5)
        if length < 7:
            return None
        return "ADTS AAC frames", length, (0, b1 & 0x08, rate_index)
    if b1 & 0xE0 != 0xE0:
        return None
    version, layer = (b1 >> 3) & 0x03, (b1 >> 1) & 0x03
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 0x03
    if version == 1 or layer == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MPEG_BITRATES[(mpeg1, layer)][bitrate_index - 1] * 1000
    rate = _MPEG_RATES[version][rate_index]
    padding = (b2 >> 1) & 0x01
    if layer == 3:  # layer I: 4-byte slots
        length = (12 * bitrate // rate + padding) * 4
    elif layer == 1 and not mpeg1:  # layer III of MPEG-2 and 2.5: half the samples
        length = 72 * bitrate // rate + padding
    else:
        length = 144 * bitrate // rate + padding
    return "MPEG audio frames", length, (1, version, layer, rate_index)
