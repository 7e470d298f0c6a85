"""What a caller with too little access is told: 404 without read access, else a 403 that
names what is needed in plain words."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from streamer.auth.access import Principal
from streamer.routes.api_common import require_access

VIEWER = Principal(kind="user", id="u1", name="v", role="viewer", grants={"lib": "read"})


@pytest.mark.parametrize(
    ("what", "detail"),
    [
        ("library", "write access to this library is needed"),
        ("track", "write access to this track's library is needed"),
        ("playlist", "write access to this playlist's library is needed"),
        ("upload", "write access to this upload's library is needed"),
    ],
)
def test_too_little_access_names_the_library_once(what: str, detail: str) -> None:
    with pytest.raises(HTTPException) as refused:
        require_access(VIEWER, "lib", "write", what)
    assert (refused.value.status_code, refused.value.detail) == (403, detail)


def test_no_read_access_is_as_if_nothing_were_there() -> None:
    with pytest.raises(HTTPException) as refused:
        require_access(VIEWER, "other", "read", "library")
    assert (refused.value.status_code, refused.value.detail) == (404, "no such library")
