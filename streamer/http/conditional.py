"""Conditional requests (RFC 9110 §8.8.3, §13): entity-tags, preconditions and If-Range.

Entity-tags are handled as their full field text: an opaque-tag keeps its double quotes
(``"abc"``) and a weak tag is flagged separately, so the ETag the route sends can be
compared with what a client echoes back without re-quoting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from streamer.http.dates import parse_http_date

__all__ = [
    "NOT_MODIFIED_HEADERS",
    "evaluate_preconditions",
    "if_match_matches",
    "if_none_match_matches",
    "if_range_allows",
    "make_etag",
    "not_modified_headers",
    "parse_etag_list",
]

# etagc = %x21 / %x23-7E / obs-text. obs-text (%x80-FF) is left out: our tags are ASCII.
_ETAGC = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"'}
_OWS = " \t"

# RFC 9110 §15.4.5: a 304 MUST carry those of these a 200 would have carried.
NOT_MODIFIED_HEADERS: frozenset[str] = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary"}
)

# Representation metadata a 304 should not repeat (RFC 9110 §15.4.5): it describes a body the
# response does not have. Content-Length in particular MUST NOT differ from the 200's (§8.6),
# so it is dropped rather than risked.
_REPRESENTATION_METADATA = frozenset(
    {
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-range",
        "content-type",
        "transfer-encoding",
    }
)

_SAFE_FOR_304 = frozenset({"GET", "HEAD"})


def make_etag(token: str) -> str:
    """Return the strong ETag ``"token"``; ``token`` must be non-empty ASCII etagc."""
    if not token or not _ETAGC.issuperset(token):
        raise ValueError(f"not a valid entity-tag token: {token!r}")
    return f'"{token}"'


def parse_etag_list(value: str) -> list[tuple[bool, str]] | Literal["*"]:
    """Parse an ``If-Match``/``If-None-Match`` value: ``"*"`` or ``#entity-tag``.

    Returns ``"*"``, or a list of ``(weak, opaque_tag)`` pairs where ``opaque_tag`` keeps its
    quotes (``W/"a", "b"`` gives ``[(True, '"a"'), (False, '"b"')]``). OWS and empty list
    elements are allowed; commas inside quotes belong to the tag (``,`` is an etagc). A value
    that is not valid as a whole gives ``[]``, which matches nothing.
    """
    text = value.strip(_OWS)
    if text == "*":
        return "*"
    tags: list[tuple[bool, str]] = []
    pos, end = 0, len(text)
    while pos < end:
        if text[pos] in _OWS or text[pos] == ",":
            pos += 1
            continue
        weak = text.startswith("W/", pos)
        if weak:
            pos += 2
        if pos >= end or text[pos] != '"':
            return []
        close = text.find('"', pos + 1)
        if close < 0 or not _ETAGC.issuperset(text[pos + 1 : close]):
            return []
        tags.append((weak, text[pos : close + 1]))
        pos = close + 1
        while pos < end and text[pos] in _OWS:
            pos += 1
        if pos < end and text[pos] != ",":
            return []  # two tags not separated by a comma
    return tags


def _own_tag(etag: str) -> tuple[bool, str]:
    weak = etag.startswith("W/")
    return weak, etag[2:] if weak else etag


def _strong_match(tags: list[tuple[bool, str]], etag: str) -> bool:
    """RFC 9110 §8.8.3.2 strong comparison: both tags strong and the opaque-tags equal."""
    own_weak, own = _own_tag(etag)
    return not own_weak and any(not weak and tag == own for weak, tag in tags)


def _weak_match(tags: list[tuple[bool, str]], etag: str) -> bool:
    """RFC 9110 §8.8.3.2 weak comparison: the opaque-tags equal, weakness ignored."""
    own = _own_tag(etag)[1]
    return any(tag == own for _, tag in tags)


def if_match_matches(value: str, etag: str) -> bool:
    """Whether an ``If-Match`` value is true for a representation whose ETag is ``etag``
    (RFC 9110 §13.1.1): ``*``, or a listed tag equal by strong comparison, so a weak tag
    never matches. A value that does not parse matches nothing."""
    tags = parse_etag_list(value)
    return tags == "*" or _strong_match(tags, etag)


def if_none_match_matches(value: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names the representation whose ETag is ``etag``
    (RFC 9110 §13.1.2): ``*``, or a listed tag equal by weak comparison. A value that does
    not parse matches nothing."""
    tags = parse_etag_list(value)
    return tags == "*" or _weak_match(tags, etag)


def evaluate_preconditions(
    method: str, headers: Mapping[str, str], etag: str, last_modified: int
) -> int | None:
    """Evaluate the request's preconditions in RFC 9110 §13.2.2 order.

    ``headers`` maps lowercase field names to values; ``etag`` is the ETag the response would
    carry (``"tag"`` or ``W/"tag"``) and ``last_modified`` its Last-Modified in whole seconds.
    The representation is taken to exist. Returns 412, 304, or None to carry on (the caller
    then evaluates If-Range and Range, step 5).

    1. If-Match present: false (strong comparison; ``*`` is true) → 412.
    2. Else If-Unmodified-Since, a valid date, and modified after it → 412.
    3. If-None-Match present: true (weak comparison; ``*`` is true) → 304 for GET and
       HEAD, 412 for other methods.
    4. Else for GET and HEAD, If-Modified-Since, a valid date, and not modified after it
       → 304.

    An If-*-Since that is not a valid HTTP-date (a list of dates included) is ignored
    (§13.1.3, §13.1.4); an unparsable If-Match/If-None-Match matches nothing.
    """
    if_match = headers.get("if-match")
    # The two matchers above, inline: this runs for every media request.
    if if_match is not None:
        tags = parse_etag_list(if_match)
        if tags != "*" and not _strong_match(tags, etag):
            return 412
    else:
        since = _date(headers.get("if-unmodified-since"))
        if since is not None and last_modified > since:
            return 412

    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = parse_etag_list(if_none_match)
        if tags == "*" or _weak_match(tags, etag):
            return 304 if method in _SAFE_FOR_304 else 412
    elif method in _SAFE_FOR_304:
        since = _date(headers.get("if-modified-since"))
        if since is not None and last_modified <= since:
            return 304
    return None


def if_range_allows(value: str | None, etag: str, last_modified: int) -> bool:
    """Whether an ``If-Range`` condition lets a Range apply (RFC 9110 §13.1.5).

    None (no If-Range) is true. An entity-tag is true only by strong comparison, so a weak tag
    never is. An HTTP-date is true only when it equals ``last_modified`` exactly. Anything else
    is false: the caller then ignores Range and sends the whole representation with 200.
    The caller must ignore If-Range itself when the request has no Range.
    """
    if value is None:
        return True
    text = value.strip(_OWS)
    # "examining the first three characters for a DQUOTE" tells a tag from a date (§13.1.5).
    if text.startswith(('"', 'W/"')):
        tags = parse_etag_list(text)
        return tags != "*" and len(tags) == 1 and _strong_match(tags, etag)
    return parse_http_date(text) == last_modified


def not_modified_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Keep the fields of a 200 response that its 304 counterpart should carry.

    Everything in :data:`NOT_MODIFIED_HEADERS` stays, as does every field that is not
    representation metadata (CORS, Server, request ids...). Content-* fields go, and so does
    Last-Modified when an ETag is present: §15.4.5 allows it only to guide cache updates when
    there is no ETag. Names are compared case-insensitively and the pairs are kept as given.
    """
    pairs = list(headers)
    has_etag = any(name.lower() == "etag" for name, _ in pairs)
    dropped = _REPRESENTATION_METADATA | ({"last-modified"} if has_etag else set())
    return [(name, field_value) for name, field_value in pairs if name.lower() not in dropped]


def _date(value: str | None) -> int | None:
    return None if value is None else parse_http_date(value)
