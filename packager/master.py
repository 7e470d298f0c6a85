"""Master (multivariant) playlists (RFC 8216 §4.3.4, draft-pantos-hls-rfc8216bis).

Written by hand for the same reasons as media playlists (see ``packager.media``).

Variants are written in the order given. The HLS authoring guidance is that a client starts
with the first variant listed, so the caller puts the start rendition first (a mid-ladder
AAC rendition, say); sorting here would hide that choice.

An audio-only variant carries BANDWIDTH, AVERAGE-BANDWIDTH and CODECS only: RESOLUTION and
FRAME-RATE describe video, and NAME, CHANNELS or SAMPLE-RATE are not EXT-X-STREAM-INF
attributes at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from packager.types import Variant


def master_playlist(
    variants: Sequence[Variant], *, version: int = 7, independent: bool = True
) -> str:
    """Return the text of a master playlist listing ``variants``, lines ending in ``\\n``.

    One EXT-X-STREAM-INF per variant, in the given order (the first is where clients start),
    each followed by the variant's URI. ``independent`` writes EXT-X-INDEPENDENT-SEGMENTS,
    which then applies to every media playlist (each audio fragment starts with a sync
    sample). Raises ``ValueError`` for no variants or a version below 1.
    """
    if not variants:
        raise ValueError("a master playlist needs at least one variant")
    if version < 1:
        raise ValueError(f"EXT-X-VERSION must be 1 or more, not {version}")

    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}"]
    if independent:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for variant in variants:
        lines.append(_stream_inf(variant))
        lines.append(variant.uri)
    lines.append("")
    return "\n".join(lines)


def _stream_inf(variant: Variant) -> str:
    attributes = [f"BANDWIDTH={variant.bandwidth}"]
    if variant.average_bandwidth is not None:
        attributes.append(f"AVERAGE-BANDWIDTH={variant.average_bandwidth}")
    attributes.append(f'CODECS="{variant.codecs}"')
    return "#EXT-X-STREAM-INF:" + ",".join(attributes)
