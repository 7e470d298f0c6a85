"""A track's segment served at another decode time: the segment URLs of the streams that
join tracks (a channel's live window, a playlist played as one).

    {stream}/{rendition}/seg/{track}/{n}.m4s?v={rendition token}&t={decode time}

The bytes are the track's fragment n, from the same segment cache entry as the track's own
``seg_{n}.m4s``, with its ``tfdt`` set to ``t`` (packager.retime says why: players that
place fragments by decode time, ffmpeg's HLS demuxer among them, need it to run on across
tracks). Range, conditional requests, HEAD and errors behave as on the track's own URL
(MediaEndpoint.serve); the ETag names ``t`` too. The caller checks that the track belongs
to its stream before handing the request here.
"""

from __future__ import annotations

from dataclasses import replace

from streamer.errors import DatabaseUnavailable
from streamer.renditions.catalog import RenditionCatalog
from streamer.routes.asgi import query_value, version_query
from streamer.routes.hls import (
    IMMUTABLE_CACHE_CONTROL,
    STALE_VERSION_CACHE_CONTROL,
    segment_number,
    segment_subject,
    segment_window,
)
from streamer.routes.hls import purge_keys as track_purge_keys
from streamer.routes.media import MediaEndpoint
from streamer.routes.media_cors import Cors
from streamer.routes.media_plan import WindowStale
from streamer.routes.problems import problem_response, storage_unavailable
from streamer.storage import StorageError
from streamer.types import Receive, Scope, Send

__all__ = ["is_segment_resource", "serve_retimed"]

_MAX_DECODE_TIME = 2**63 - 1


def is_segment_resource(seg: str, track_id: str, resource: str) -> bool:
    """Whether the last three parts of a path name a retimed segment."""
    return seg == "seg" and bool(track_id) and resource.endswith(".m4s")


def _number(resource: str) -> int | None:
    """n of ``{n}.m4s``, spelt one way (no sign, no leading zeros)."""
    return segment_number(f"seg_{resource}")


def decode_time_query(value: str | None) -> int | None:
    """``t``: a decimal decode time, spelt one way (a CDN caches one URL per value)."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    if len(value) > 1 and value[0] == "0":
        return None
    number = int(value)
    return number if number <= _MAX_DECODE_TIME else None


async def serve_retimed(
    media: MediaEndpoint,
    catalog: RenditionCatalog,
    scope: Scope,
    receive: Receive,
    send: Send,
    headers: dict[str, str],
    cors: Cors,
    rendition: str,
    track_id: str,
    resource: str,
) -> None:
    """Answer a GET or HEAD of segment ``resource`` (``{n}.m4s``) of ``track_id``'s
    ``rendition`` at the request's decode time ``t``."""
    n = _number(resource)
    query = scope.get("query_string", b"")
    at = decode_time_query(query_value(query, b"t"))
    token = version_query(query)
    if n is None or at is None or token is None:
        await problem_response(
            send, 404, "a joined stream's segment URL names its version (v) and time (t)", cors
        )
        return
    cors = [*cors, *track_purge_keys(track_id)]
    try:
        track = await catalog.get(track_id)
    except (StorageError, DatabaseUnavailable):
        await storage_unavailable(send, cors, track_id=track_id)
        return
    entry = track.renditions.get(rendition) if track is not None else None
    if track is None or entry is None:
        await problem_response(send, 404, "no such rendition of this track", cors)
        return
    if token != entry.token:
        await problem_response(
            send,
            404,
            "this version of the rendition was replaced; reload the playlist",
            [(b"cache-control", STALE_VERSION_CACHE_CONTROL), *cors],
        )
        return
    found = segment_window(entry, f"seg_{n}.m4s", IMMUTABLE_CACHE_CONTROL)
    if found is None:
        await problem_response(send, 404, "no such segment", cors)
        return
    window = replace(found, etag=f"{found.etag}.{at}", retime=at)
    subject = segment_subject(track_id, entry, n) if media.config.deliveries else None
    try:
        served = await media.serve(
            scope, receive, send, headers, cors, track.library_root, window, track_id, subject
        )
    except WindowStale:
        catalog.invalidate(track_id)
        await problem_response(
            send, 503, "the rendition is changing; try again", [(b"retry-after", b"1"), *cors]
        )
        return
    if not served:
        catalog.invalidate(track_id)
        await problem_response(send, 404, "the rendition's file is gone", cors)
    elif scope["method"] == "GET":
        following = segment_window(entry, f"seg_{n + 1}.m4s")
        if following is not None:  # the next segment of the track, while it plays
            media.prefetch(track.library_root, [following])
