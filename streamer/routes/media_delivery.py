"""What a media or HLS answer delivered, for analytics (contract D of issue 17).

A route that serves something knows its *subject* before it plans the answer: the kind
(a track, or a playlist's or channel's stream), its id, the representation ("original",
a rendition name, or "playlist" for an .m3u8), the HLS segment number and the seconds of
audio the representation holds. Once the answer is planned, :func:`delivery_of` adds the
byte range asked for and the representation's size, and the route puts the result in
``scope[DELIVERY_KEY]``; ObserveMiddleware hands it to analytics when the request ends.

Routes build a subject only when analytics is on (``MediaConfig.deliveries``), so with
analytics off a request pays one attribute test.
"""

from __future__ import annotations

from streamer.routes.media_files import ObjectState
from streamer.routes.media_plan import Plan, Window
from streamer.types import DELIVERY_KEY, LIVE_WINDOW, Delivery, DeliveryKind, Scope

__all__ = ["Subject", "delivery_of", "record_live_window", "record_playlist"]

# (kind, subject id, rendition, segment, seconds of audio of the representation)
Subject = tuple[DeliveryKind, str, str, int | None, float | None]


def delivery_of(subject: Subject, plan: Plan, window: Window, state: ObjectState) -> Delivery:
    """The Delivery of an answer planned for ``window`` of the object in ``state``.

    The range is the one a 206 serves, as offsets into the window (the representation:
    the file, or the segment of an HLS segment URL); of a multipart answer, its first
    range (players do not ask for several). Anything else delivers the whole window, or
    nothing (304, 412, 416: the status says so)."""
    kind, subject_id, rendition, segment, seconds = subject
    start = end = None
    if plan.status == 206 and plan.segments:
        first = plan.segments[0][1]
        if first is not None:
            start, end = first.start, first.end
    size = window.length if window.length is not None else state.size - window.offset
    return Delivery(kind, subject_id, rendition, segment, start, end, size, seconds)


def record_playlist(scope: Scope, kind: DeliveryKind, subject_id: str) -> None:
    """Say that ``scope``'s answer is a playlist (.m3u8) of ``subject_id``."""
    scope[DELIVERY_KEY] = Delivery(kind, subject_id, "playlist")


def record_live_window(scope: Scope, channel_id: str) -> None:
    """Say that ``scope``'s answer is a media playlist of channel ``channel_id``: a player
    polling the live window, which analytics reads as listening to the channel."""
    scope[DELIVERY_KEY] = Delivery("channel", channel_id, LIVE_WINDOW)
