"""Content-hashed URLs in the web admin's document (streamer.admin.versions)."""

from __future__ import annotations

import json
import re

import pytest

from streamer.admin.versions import asks_for, import_map, versioned_document

VERSIONS = {
    "/admin/js/main.js": "aaa",
    "/admin/js/pages/library.js": "bbb",
    "/admin/vendor/preact.mjs": "ccc",
    "/admin/app.css": "ddd",
}
DOCUMENT = b"""<head><link rel="stylesheet" href="/admin/app.css">
<link rel="icon" href="/admin/favicon.svg">
<script type="importmap">
{"imports": {"preact": "/admin/vendor/preact.mjs", "x": "/elsewhere.js"}}
</script>
<script type="module" src="/admin/js/main.js"></script></head>"""


def map_of(document: bytes) -> dict[str, object]:
    found = re.search(rb'<script type="importmap">(.*?)</script>', document, re.S)
    assert found is not None
    loaded: dict[str, object] = json.loads(found.group(1))
    return loaded


def test_bare_specifiers_point_at_versioned_urls() -> None:
    imports = map_of(versioned_document(DOCUMENT, VERSIONS))["imports"]
    assert isinstance(imports, dict)
    assert imports["preact"] == "/admin/vendor/preact.mjs?v=ccc"


def test_every_module_is_mapped_from_its_plain_url_so_relative_imports_are_versioned() -> None:
    imports = map_of(versioned_document(DOCUMENT, VERSIONS))["imports"]
    assert isinstance(imports, dict)
    assert imports["/admin/js/pages/library.js"] == "/admin/js/pages/library.js?v=bbb"
    assert imports["/admin/js/main.js"] == "/admin/js/main.js?v=aaa"
    assert "/admin/app.css" not in imports  # style sheets are not modules


def test_urls_of_unknown_files_stay_as_they_are() -> None:
    document = versioned_document(DOCUMENT, VERSIONS)
    assert map_of(document)["imports"]["x"] == "/elsewhere.js"  # type: ignore[index]
    assert b'href="/admin/favicon.svg"' in document


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b'src="/admin/js/main.js"', b'src="/admin/js/main.js?v=aaa"'),
        (b'href="/admin/app.css"', b'href="/admin/app.css?v=ddd"'),
    ],
)
def test_src_and_href_attributes_are_versioned(before: bytes, after: bytes) -> None:
    assert before in DOCUMENT
    assert after in versioned_document(DOCUMENT, VERSIONS)


def test_declared_entries_win_over_plain_url_entries() -> None:
    declared = {"imports": {"/admin/js/main.js": "/admin/js/other.js"}}
    assert import_map(declared, VERSIONS)["imports"]["/admin/js/main.js"] == "/admin/js/other.js"  # type: ignore[index]


def test_an_import_map_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"(?i)expecting|json"):
        versioned_document(b'<script type="importmap">{imports: </script>', VERSIONS)


@pytest.mark.parametrize(
    ("query", "expected"),
    [(b"v=abc", True), (b"x=1&v=abc", True), (b"v=abd", False), (b"", False), (b"v=", False)],
)
def test_only_the_current_version_asks_for_the_immutable_answer(
    query: bytes, expected: bool
) -> None:
    assert asks_for(query, "abc") is expected
