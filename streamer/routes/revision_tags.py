"""Entity tags of revisioned resources (playlists, channels): the ETag is the revision
number in quotes, and If-Match names the revisions a change may apply to."""

from __future__ import annotations

import re

from fastapi import HTTPException

from streamer.errors import RevisionConflict
from streamer.http.conditional import parse_etag_list

__all__ = ["if_match_revisions", "precondition_failed", "revision_etag"]

_REVISION_TAG = re.compile(r'"(0|[1-9][0-9]*)"')  # what revision_etag writes


def revision_etag(revision: int) -> dict[str, str]:
    return {"etag": f'"{revision}"'}


def if_match_revisions(header: str | None) -> set[int] | None:
    """The revisions an If-Match header accepts; None for any (absent, or ``*``: the
    resource exists, which the lookup checks anyway). A value that does not parse
    matches nothing."""
    if header is None:
        return None
    tags = parse_etag_list(header)
    if tags == "*":
        return None
    # If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches, and the
    # opaque-tag must be the ETag's exactly ("07" is not revision 7's "7").
    return {int(tag[1:-1]) for weak, tag in tags if not weak and _REVISION_TAG.fullmatch(tag)}


def precondition_failed(exc: RevisionConflict) -> HTTPException:
    """412 with the current revision's ETag, so the client can read and try again."""
    return HTTPException(412, str(exc), headers=revision_etag(exc.revision))
