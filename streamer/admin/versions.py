"""Content-hashed URLs for the web admin's files: the document names each module and style
sheet with ``?v=<hash of its content>``, and a URL with the current hash is immutable.

A browser that has loaded the admin once then makes one request on the next load (the
document, revalidated), not one per module down the chain of imports. The import map does
the work: every module under /admin, the app's own as well as the vendor libraries', is
mapped from its plain URL to its versioned one, so relative imports (``./ui.js``), dynamic
imports of pages and bare specifiers (``preact``) all resolve to versioned URLs without the
modules themselves changing. ``src`` and ``href`` attributes of the document, which import
maps do not cover, are rewritten as well.

Pure: the site passes the document and the versions of its files in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

__all__ = ["IMMUTABLE", "VERSION_PARAMETER", "asks_for", "versioned_document"]

VERSION_PARAMETER = "v"
IMMUTABLE = b"public, max-age=31536000, immutable"
MODULE_SUFFIXES = (".js", ".mjs")
IMPORT_MAP = re.compile(rb'(<script type="importmap">)(.*?)(</script>)', re.S)
ATTRIBUTE = re.compile(rb'\b(src|href)="(/[^"?#]*)"')


def versioned(url: str, versions: Mapping[str, str]) -> str:
    """``url?v=hash`` for a file whose version is known; any other URL unchanged."""
    version = versions.get(url)
    return url if version is None else f"{url}?{VERSION_PARAMETER}={version}"


def import_map(declared: Mapping[str, object], versions: Mapping[str, str]) -> dict[str, object]:
    """The declared import map with its targets versioned, plus an entry from the plain URL
    of every module to its versioned URL (declared entries win)."""
    imports = declared.get("imports", {})
    if not isinstance(imports, dict):
        raise ValueError("the import map's 'imports' must be an object")
    mapped: dict[str, str] = {
        url: versioned(url, versions) for url in sorted(versions) if url.endswith(MODULE_SUFFIXES)
    }
    mapped.update({name: versioned(str(url), versions) for name, url in imports.items()})
    return {**declared, "imports": mapped}


def versioned_document(document: bytes, versions: Mapping[str, str]) -> bytes:
    """The document with its import map and its ``src``/``href`` URLs versioned.

    ``versions`` maps a public URL path (``/admin/js/main.js``) to the hash of the file's
    content; the import map in the document must be JSON (a ValueError says so)."""

    def rewrite_map(match: re.Match[bytes]) -> bytes:
        declared = json.loads(match.group(2))
        body = json.dumps(import_map(declared, versions), indent=1, sort_keys=True)
        return match.group(1) + body.encode() + match.group(3)

    def rewrite_attribute(match: re.Match[bytes]) -> bytes:
        url = versioned(match.group(2).decode(), versions)
        return match.group(1) + b'="' + url.encode() + b'"'

    return ATTRIBUTE.sub(rewrite_attribute, IMPORT_MAP.sub(rewrite_map, document))


def asks_for(query_string: bytes, version: str) -> bool:
    """Whether the query names exactly this version (so the answer may be cached for good)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return any(key == VERSION_PARAMETER and value == version for key, value in pairs)
