"""Pure HTTP semantics for the media routes: ranges, conditional requests, dates, media types.

Nothing in this package does I/O or knows ASGI; the routes call these functions and map the
exceptions to responses in one place.
"""

from __future__ import annotations

from streamer.http.conditional import (
    NOT_MODIFIED_HEADERS,
    evaluate_preconditions,
    if_match_matches,
    if_none_match_matches,
    if_range_allows,
    make_etag,
    not_modified_headers,
    parse_etag_list,
)
from streamer.http.content_types import AUDIO_EXTENSIONS, DEFAULT_CONTENT_TYPE, content_type_for
from streamer.http.dates import format_http_date, parse_http_date
from streamer.http.multipart import MultipartPlan, make_boundary
from streamer.http.ranges import (
    ByteRange,
    MalformedRange,
    RangeError,
    RangeNotSatisfiable,
    parse_range,
    unsatisfied_content_range,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_CONTENT_TYPE",
    "NOT_MODIFIED_HEADERS",
    "ByteRange",
    "MalformedRange",
    "MultipartPlan",
    "RangeError",
    "RangeNotSatisfiable",
    "content_type_for",
    "evaluate_preconditions",
    "format_http_date",
    "if_match_matches",
    "if_none_match_matches",
    "if_range_allows",
    "make_boundary",
    "make_etag",
    "not_modified_headers",
    "parse_etag_list",
    "parse_http_date",
    "parse_range",
    "unsatisfied_content_range",
]
