"""Media types of audio files and HLS resources, by file extension."""

from __future__ import annotations

import posixpath

__all__ = ["AUDIO_EXTENSIONS", "DEFAULT_CONTENT_TYPE", "content_type_for"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Registered types where IANA has one; otherwise the de facto x- type players recognise.
_CONTENT_TYPES: dict[str, str] = {
    # MPEG audio (layers I-III)
    "mp3": "audio/mpeg",
    "mp2": "audio/mpeg",
    "mpga": "audio/mpeg",
    # MPEG-4 / CMAF (RFC 4337): ALAC also lives in .m4a
    "m4a": "audio/mp4",
    "m4b": "audio/mp4",
    "mp4": "audio/mp4",
    "m4s": "audio/mp4",
    "aac": "audio/aac",
    "ac3": "audio/ac3",
    "eac3": "audio/eac3",
    "flac": "audio/flac",
    # Ogg (RFC 5334). Opus in Ogg is audio/ogg (RFC 7845 §9); the codecs parameter names it
    # exactly, which is what players probe with canPlayType().
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg; codecs=opus",
    "spx": "audio/ogg; codecs=speex",
    "wav": "audio/wav",
    "aif": "audio/aiff",
    "aiff": "audio/aiff",
    "aifc": "audio/aiff",
    "webm": "audio/webm",
    "mka": "audio/x-matroska",
    "wma": "audio/x-ms-wma",
    "ape": "audio/x-ape",
    "wv": "audio/x-wavpack",
    "mpc": "audio/x-musepack",
    "tta": "audio/x-tta",
    "ofr": "audio/x-optimfrog",
    "ofs": "audio/x-optimfrog",
    "tak": "audio/x-tak",
    "dsf": "audio/x-dsf",
    "dff": "audio/x-dff",
    # HLS playlists (RFC 8216 §4)
    "m3u8": "application/vnd.apple.mpegurl",
}

AUDIO_EXTENSIONS: frozenset[str] = frozenset(_CONTENT_TYPES) - {
    "m4s",  # a CMAF segment: a piece of a rendition, not a track
    "m3u8",  # a playlist
}
"""Lowercase extensions, without the dot, that a library scan treats as audio.

The containers the probe can read: those mutagen 1.47+ reads, plus Matroska/WebM, which
mutagen does not read and transcoder/matroska.py does. ALAC has no extension of its own: it
comes as .m4a.
"""


def content_type_for(name: str) -> str:
    """The Content-Type for a file name, path or object key, by extension (case-insensitive).

    A dotfile such as ``.mp3`` has no extension. Unknown extensions give
    ``application/octet-stream``.
    """
    extension = posixpath.splitext(posixpath.basename(name))[1]
    return _CONTENT_TYPES.get(extension[1:].lower(), DEFAULT_CONTENT_TYPE)
