"""Probing audio files: codec, duration, stream parameters, tags and cover, without decoding.

mutagen reads the headers and tags of every common container; Matroska/WebM, which
mutagen does not read, goes through :mod:`transcoder.matroska`. Files that are not audio
(empty, text, images, damaged headers, truncated FLAC) raise :class:`ProbeError` with a
reason a person can act on. Blocking: run it in a worker thread.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import mutagen
from mutagen.flac import FLAC, Picture
from mutagen.mp3 import MP3, HeaderNotFoundError

from transcoder.flac import check_flac_complete
from transcoder.matroska import MATROSKA_MAGIC, MatroskaError, read_matroska
from transcoder.signatures import not_audio_format, text_kind

__all__ = ["Cover", "ProbeError", "ProbeResult", "SourceReadError", "probe"]

# mutagen's message when a header promises more bytes than the file holds.
_SHORT_READ = re.compile(r"said \d+ bytes, read \d+ bytes")
# How much of the head is examined to recognise text and other non-audio files.
_SNIFF_BYTES = 4096


class ProbeError(Exception):
    """The file is not playable audio; ``str(error)`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceReadError(OSError):
    """Raised by a file object whose source failed (a network read): probe lets it through.

    mutagen reports short reads of damaged files as OSError too, so only this subclass
    means "the bytes could not be fetched" rather than "the bytes are bad".
    """


@dataclass(frozen=True)
class Cover:
    """Embedded cover art."""

    mime: str
    data: bytes = field(repr=False)
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ProbeResult:
    """What a file is: stream parameters, normalised tags and cover art."""

    codec: str  # ffmpeg's codec names: "mp3", "aac", "alac", "flac", "vorbis", "opus", ...
    duration: float  # seconds
    bitrate: int  # bits per second (average)
    sample_rate: int
    channels: int
    bits_per_sample: int | None  # lossless and PCM codecs only
    # Lower-case keys: title, artist, album, albumartist, genre, date, tracknumber,
    # discnumber, and whatever else the file carries, as strings.
    tags: dict[str, list[str]] = field(default_factory=dict)
    cover: Cover | None = None

    def _first(self, key: str) -> str | None:
        for value in self.tags.get(key, ()):
            if value.strip():
                return value.strip()
        return None

    @property
    def title(self) -> str | None:
        return self._first("title")

    @property
    def artist(self) -> str | None:
        return self._first("artist")

    @property
    def album(self) -> str | None:
        return self._first("album")

    @property
    def album_artist(self) -> str | None:
        return self._first("albumartist")

    @property
    def genre(self) -> str | None:
        return self._first("genre")

    @property
    def year(self) -> int | None:
        """The year of ``date`` ("2021", "2021-04-01", "2021-04-01T10:00")."""
        match = re.search(r"\d{4}", self._first("date") or "")
        return int(match.group()) if match else None

    @property
    def track_number(self) -> int | None:
        return _leading_int(self._first("tracknumber"))

    @property
    def disc_number(self) -> int | None:
        return _leading_int(self._first("discnumber"))


def probe(fileobj: BinaryIO, name: str, size: int) -> ProbeResult:
    """Read what ``fileobj`` (``size`` bytes, called ``name``) holds; raise ProbeError if not audio.

    A :class:`SourceReadError` from ``fileobj`` propagates: a file that could not be read is
    not a bad file. Any other failure while parsing is reported as a ProbeError.
    """
    if size <= 0:
        raise ProbeError("empty file")
    fileobj.seek(0)
    head = fileobj.read(_SNIFF_BYTES)
    if not head:
        raise ProbeError("empty file")
    not_audio = _sniff_not_audio(head)
    if not_audio:
        raise ProbeError(f"not an audio file (looks like {not_audio})")
    if head.startswith(MATROSKA_MAGIC):
        return _probe_matroska(fileobj, size)
    return _probe_mutagen(fileobj, name, size, head)


# --- mutagen ----------------------------------------------------------------------------


def _probe_mutagen(fileobj: BinaryIO, name: str, size: int, head: bytes) -> ProbeResult:
    kinds = _rank_kinds(fileobj, name, head)
    if not kinds:
        raise ProbeError("unsupported format")
    # The best-scoring type first (what mutagen.File picks). If it fails, a type that only
    # the content points to may still read it (FLAC bytes named .mp3 play in ffmpeg); if
    # none does, the best-scoring type's reason is the one people need.
    first_error: ProbeError | None = None
    for kind in kinds:
        try:
            return _probe_kind(kind, fileobj, size)
        except ProbeError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _probe_kind(kind: type[Any], fileobj: BinaryIO, size: int) -> ProbeResult:
    label = _LABELS.get(kind.__name__, kind.__name__)
    fileobj.seek(0)
    try:
        audio = kind(fileobj)
    except Exception as exc:
        _reraise_read_error(exc)
        if isinstance(exc, HeaderNotFoundError):
            raise ProbeError("corrupt MP3: no valid MPEG frames") from exc
        if _SHORT_READ.search(str(exc)):
            raise ProbeError(f"truncated {label}: headers cut short ({exc})") from exc
        raise ProbeError(f"corrupt {label}: {_describe(exc)}") from exc

    info = getattr(audio, "info", None)
    if info is None or not getattr(info, "channels", 0):
        raise ProbeError(f"unsupported format ({label} without audio stream information)")
    if isinstance(audio, MP3) and getattr(info, "sketchy", False):
        raise ProbeError("corrupt MP3: no valid MPEG frames")
    codec = _codec_of(audio, info)
    if codec is None:
        raise ProbeError(f"unsupported format ({label})")
    duration = float(getattr(info, "length", 0.0) or 0.0)
    if duration <= 0:
        raise ProbeError(f"no audio: {label} stream has zero duration")
    if isinstance(audio, FLAC):
        shortfall = check_flac_complete(fileobj, size, info)
        if shortfall is not None:
            raise ProbeError(f"truncated FLAC: {shortfall[0]} of {shortfall[1]} samples present")

    sample_rate = int(getattr(info, "sample_rate", 0) or 0)
    if codec == "opus":
        sample_rate = 48000  # Opus always decodes at 48 kHz (RFC 7845)
    bits = getattr(info, "bits_per_sample", None)
    tags, cover = _tags_and_cover(audio)
    return ProbeResult(
        codec=codec,
        duration=duration,
        bitrate=int(getattr(info, "bitrate", 0) or 0) or round(size * 8 / duration),
        sample_rate=sample_rate,
        channels=int(info.channels),
        bits_per_sample=int(bits) if bits and codec not in _LOSSY else None,
        tags=tags,
        cover=cover,
    )


def _rank_kinds(fileobj: BinaryIO, name: str, head: bytes) -> list[type[Any]]:
    """The mutagen types that claim the file, best first, as mutagen.File ranks them.

    Scored with ``name`` because file objects (a remote object) may have none.
    """
    scored: list[tuple[int, str, type[Any]]] = []
    for kind in _kinds():
        fileobj.seek(0)
        score = kind.score(name, fileobj, head[:128])
        if score > 0:
            scored.append((score, kind.__name__, kind))
    scored.sort(key=lambda item: item[:2], reverse=True)
    return [kind for _, _, kind in scored]


def _kinds() -> list[type[Any]]:
    from mutagen.aac import AAC
    from mutagen.ac3 import AC3
    from mutagen.aiff import AIFF
    from mutagen.apev2 import APEv2File
    from mutagen.asf import ASF
    from mutagen.dsdiff import DSDIFF
    from mutagen.dsf import DSF
    from mutagen.id3 import ID3FileType
    from mutagen.monkeysaudio import MonkeysAudio
    from mutagen.mp4 import MP4
    from mutagen.musepack import Musepack
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggspeex import OggSpeex
    from mutagen.oggtheora import OggTheora
    from mutagen.oggvorbis import OggVorbis
    from mutagen.optimfrog import OptimFROG
    from mutagen.smf import SMF
    from mutagen.tak import TAK
    from mutagen.trueaudio import TrueAudio
    from mutagen.wave import WAVE
    from mutagen.wavpack import WavPack

    # The same list, in the same order, as mutagen.File.
    return [
        MP3, TrueAudio, OggTheora, OggSpeex, OggVorbis, OggFLAC, FLAC, AIFF, APEv2File,
        MP4, ID3FileType, WavPack, Musepack, MonkeysAudio, OptimFROG, ASF, OggOpus, AAC,
        AC3, SMF, TAK, DSF, DSDIFF, WAVE,
    ]  # fmt: skip


_LABELS = {
    "MP3": "MP3",
    "MP4": "MP4",
    "FLAC": "FLAC",
    "OggVorbis": "Ogg Vorbis",
    "OggOpus": "Ogg Opus",
    "OggFLAC": "Ogg FLAC",
    "OggSpeex": "Ogg Speex",
    "OggTheora": "Ogg Theora",
    "WAVE": "WAV",
    "AIFF": "AIFF",
    "ASF": "ASF",
    "AAC": "AAC",
    "AC3": "AC-3",
    "SMF": "MIDI",
    "ID3FileType": "ID3 tags",
    "APEv2File": "APEv2 tags",
}

_LOSSY = frozenset({"mp1", "mp2", "mp3", "aac", "vorbis", "opus", "speex", "ac3", "eac3", "wma"})

# Simple codec names per mutagen type; the rest are worked out in _codec_of.
_FIXED_CODECS = {
    "OggVorbis": "vorbis",
    "OggOpus": "opus",
    "OggFLAC": "flac",
    "OggSpeex": "speex",
    "FLAC": "flac",
    "AAC": "aac",
    "ASF": "wma",
    "WavPack": "wavpack",
    "Musepack": "musepack",
    "MonkeysAudio": "ape",
    "TrueAudio": "tta",
    "TAK": "tak",
    "OptimFROG": "optimfrog",
    "DSF": "dsd",
    "DSDIFF": "dsd",
}

_WAVE_FORMATS = {6: "pcm_alaw", 7: "pcm_mulaw", 0x55: "mp3", 0x2000: "ac3"}


def _codec_of(audio: Any, info: Any) -> str | None:
    """ffmpeg's name of the codec, or None for files that hold no decodable audio."""
    kind = type(audio).__name__
    if kind in _FIXED_CODECS:
        return _FIXED_CODECS[kind]
    if kind == "MP3":
        return {1: "mp1", 2: "mp2", 3: "mp3"}.get(int(info.layer), "mp3")
    if kind == "MP4":
        codec = str(getattr(info, "codec", "") or "").lower()
        if codec.startswith("mp4a.40") or codec == "mp4a":
            return "aac"
        if codec in ("mp4a.69", "mp4a.6b"):
            return "mp3"
        return {"ac-3": "ac3", "ec-3": "eac3", "fla": "flac"}.get(codec, codec or None)
    if kind == "AC3":
        return "eac3" if getattr(info, "codec", "") == "ec-3" else "ac3"
    if kind == "WAVE":
        bits = int(getattr(info, "bits_per_sample", 16) or 16)
        fmt = int(getattr(info, "audio_format", 1))
        if fmt == 3:
            return f"pcm_f{bits}le"
        if fmt in _WAVE_FORMATS:
            return _WAVE_FORMATS[fmt]
        # 1 is integer PCM; 0xFFFE (extensible) is almost always integer PCM too.
        return "pcm_u8" if bits == 8 else f"pcm_s{bits}le"
    if kind == "AIFF":
        return f"pcm_s{int(getattr(info, 'bits_per_sample', 16) or 16)}be"
    # OggTheora is video, SMF (MIDI) holds notes, ID3/APEv2 files alone hold only tags.
    return None


# --- Matroska ---------------------------------------------------------------------------


def _probe_matroska(fileobj: BinaryIO, size: int) -> ProbeResult:
    try:
        info = read_matroska(fileobj, size)
    except MatroskaError as exc:
        message = str(exc)
        if message.startswith("not an audio file"):
            raise ProbeError(message) from exc
        if message == "no audio track":
            raise ProbeError("not an audio file (Matroska without an audio track)") from exc
        raise ProbeError(f"corrupt Matroska: {message}") from exc
    if info.duration <= 0:
        raise ProbeError("no audio: Matroska header states no duration")
    return ProbeResult(
        codec=info.codec,
        duration=info.duration,
        bitrate=round(size * 8 / info.duration),
        sample_rate=info.sample_rate,
        channels=info.channels,
        bits_per_sample=info.bits_per_sample,
        tags={_ALIASES.get(key, key): values for key, values in info.tags.items()},
    )


# --- tags and covers --------------------------------------------------------------------

_ID3_KEYS = {
    "TIT2": "title",
    "TPE1": "artist",
    "TALB": "album",
    "TPE2": "albumartist",
    "TCON": "genre",
    "TDRC": "date",
    "TDOR": "originaldate",
    "TRCK": "tracknumber",
    "TPOS": "discnumber",
    "TCOM": "composer",
    "TEXT": "lyricist",
    "TPE3": "conductor",
    "TPE4": "remixer",
    "TIT1": "grouping",
    "TIT3": "subtitle",
    "TBPM": "bpm",
    "TKEY": "key",
    "TMOO": "mood",
    "TLAN": "language",
    "TSRC": "isrc",
    "TPUB": "label",
    "TCOP": "copyright",
    "TENC": "encodedby",
    "TSSE": "encoder",
    "TCMP": "compilation",
    "TSOP": "artistsort",
    "TSOA": "albumsort",
    "TSOT": "titlesort",
    "TSO2": "albumartistsort",
}

_MP4_KEYS = {
    "\xa9nam": "title",
    "\xa9ART": "artist",
    "\xa9alb": "album",
    "aART": "albumartist",
    "\xa9gen": "genre",
    "\xa9day": "date",
    "trkn": "tracknumber",
    "disk": "discnumber",
    "\xa9wrt": "composer",
    "\xa9cmt": "comment",
    "\xa9too": "encoder",
    "\xa9grp": "grouping",
    "\xa9lyr": "lyrics",
    "cprt": "copyright",
    "tmpo": "bpm",
    "cpil": "compilation",
    "soar": "artistsort",
    "soal": "albumsort",
    "sonm": "titlesort",
    "soaa": "albumartistsort",
}

_ASF_KEYS = {
    "title": "title",
    "author": "artist",
    "wm/albumtitle": "album",
    "wm/albumartist": "albumartist",
    "wm/genre": "genre",
    "wm/year": "date",
    "wm/tracknumber": "tracknumber",
    "wm/partofset": "discnumber",
    "wm/composer": "composer",
}

# Aliases used by Vorbis comments, APEv2 and Matroska for the common keys.
_ALIASES = {
    "part_number": "tracknumber",
    "album artist": "albumartist",
    "album_artist": "albumartist",
    "year": "date",
    "track": "tracknumber",
    "disc": "discnumber",
}

# Vorbis comment keys that hold (base64) pictures, not text.
_PICTURE_KEYS = frozenset({"metadata_block_picture", "coverart", "coverartmime"})


def _tags_and_cover(audio: Any) -> tuple[dict[str, list[str]], Cover | None]:
    tags: dict[str, list[str]] = {}
    covers: list[tuple[int, Cover]] = []  # (rank, cover): lower rank wins
    raw = getattr(audio, "tags", None)
    kind = type(raw).__name__ if raw is not None else ""
    if raw is None:
        pass
    elif hasattr(raw, "getall") and kind.endswith("ID3"):
        _id3(raw, tags, covers)
    elif kind == "MP4Tags":
        _mp4(raw, tags, covers)
    elif kind == "ASFTags":
        _asf(raw, tags)
    elif kind == "APEv2":
        _apev2(raw, tags, covers)
    elif hasattr(raw, "as_dict"):  # Vorbis comments (FLAC, Ogg)
        _vorbis(raw, tags, covers)
    for picture in getattr(audio, "pictures", None) or []:  # FLAC PICTURE blocks
        covers.append(_picture_cover(picture))
    if not covers:
        return tags, None
    covers.sort(key=lambda item: item[0])
    return tags, covers[0][1]


def _add(tags: dict[str, list[str]], key: str, values: Iterable[object]) -> None:
    key = _ALIASES.get(key, key)
    bucket = tags.setdefault(key, [])
    for value in values:
        text = str(value).replace("\0", "").strip()
        if text and text not in bucket:
            bucket.append(text)
    if not bucket:
        del tags[key]


def _id3(raw: Any, tags: dict[str, list[str]], covers: list[tuple[int, Cover]]) -> None:
    for frame in raw.values():
        frame_id = frame.FrameID
        if frame_id == "APIC":
            if frame.data:
                rank = 0 if frame.type == 3 else 1  # 3: front cover
                covers.append((rank, _cover(frame.mime, frame.data)))
        elif frame_id == "TCON":
            _add(tags, "genre", frame.genres)
        elif frame_id == "TXXX":
            _add(tags, frame.desc.lower() or "txxx", frame.text)
        elif frame_id == "COMM":
            _add(tags, frame.desc.lower() or "comment", frame.text)
        elif frame_id == "USLT":
            _add(tags, "lyrics", [frame.text])
        elif frame_id.startswith("T") and hasattr(frame, "text"):
            _add(tags, _ID3_KEYS.get(frame_id, frame_id.lower()), frame.text)


def _mp4(raw: Any, tags: dict[str, list[str]], covers: list[tuple[int, Cover]]) -> None:
    for atom, values in raw.items():
        if atom == "covr":
            for value in values:
                png = getattr(value, "imageformat", None) == 14  # MP4Cover.FORMAT_PNG
                covers.append((0, _cover("image/png" if png else "image/jpeg", bytes(value))))
            continue
        if atom.startswith("----:"):
            key = atom.rsplit(":", 1)[-1].lower()
        else:
            key = _MP4_KEYS.get(atom, atom.lstrip("\xa9").lower())
        _add(tags, key, [_mp4_value(value) for value in values])


def _mp4_value(value: object) -> str:
    if isinstance(value, tuple):  # (number, total) for trkn and disk
        number, total = (*value, 0, 0)[:2]
        return f"{number}/{total}" if total else str(number)
    if isinstance(value, bytes):  # freeform atoms
        return value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _asf(raw: Any, tags: dict[str, list[str]]) -> None:
    for name, values in raw.as_dict().items():
        lowered = name.lower()
        if lowered == "wm/picture":
            continue
        key = _ASF_KEYS.get(lowered, lowered.removeprefix("wm/"))
        texts = [value.value for value in values if isinstance(value.value, str | int)]
        _add(tags, key, texts)


def _apev2(raw: Any, tags: dict[str, list[str]], covers: list[tuple[int, Cover]]) -> None:
    for name, value in raw.items():
        lowered = name.lower()
        if lowered.startswith("cover art"):
            # Binary item: a file name, a NUL, then the image.
            data = bytes(value.value).partition(b"\0")[2]
            mime = _image_mime(data)
            if mime:
                covers.append((0 if "front" in lowered else 1, _cover(mime, data)))
        elif getattr(value, "kind", None) == 0:  # APEv2 TEXT
            _add(tags, lowered, list(value))


def _vorbis(raw: Any, tags: dict[str, list[str]], covers: list[tuple[int, Cover]]) -> None:
    for name, values in raw.as_dict().items():
        lowered = name.lower()
        if lowered == "metadata_block_picture":
            for value in values:
                try:
                    picture = Picture(base64.b64decode(value))  # type: ignore[no-untyped-call,unused-ignore]
                except (binascii.Error, ValueError, struct.error, mutagen.MutagenError):
                    continue  # a damaged picture is no reason to reject the audio
                covers.append(_picture_cover(picture))
        elif lowered not in _PICTURE_KEYS:
            _add(tags, lowered, values)


def _picture_cover(picture: Any) -> tuple[int, Cover]:
    cover = _cover(
        picture.mime or _image_mime(picture.data) or "application/octet-stream",
        picture.data,
        picture.width or None,
        picture.height or None,
    )
    return (0 if picture.type == 3 else 1), cover


def _cover(mime: str, data: bytes, width: int | None = None, height: int | None = None) -> Cover:
    mime = mime.lower()
    if "/" not in mime:  # ID3v2.2 stores "PNG" / "JPG"
        mime = _image_mime(data) or f"image/{mime.replace('jpg', 'jpeg')}"
    if width is None or height is None:
        width, height = _image_size(data)
    return Cover(mime=mime, data=bytes(data), width=width, height=height)


def _image_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of a PNG or JPEG from its header, without decoding it."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                pos += 1
                continue
            marker = data[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                pos += 1 if marker == 0xFF else 2
                continue
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            # SOF markers carry the frame size (not DHT C4, JPG C8 or DAC CC).
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return None, None


# --- helpers ----------------------------------------------------------------------------


def _sniff_not_audio(head: bytes) -> str | None:
    """What a head that is certainly not audio looks like, or None."""
    return not_audio_format(head) or text_kind(head)


def _leading_int(text: str | None) -> int | None:
    """3 from "3", "03", "3/12"; None otherwise."""
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def _describe(exc: BaseException) -> str:
    message = str(exc).strip()
    return message or type(exc).__name__


def _reraise_read_error(exc: BaseException) -> None:
    """Re-raise a SourceReadError that mutagen wrapped: the source failed, not the file."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, SourceReadError):
            raise cause
        cause = cause.__cause__ or cause.__context__
