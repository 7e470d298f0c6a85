"""/admin: the web admin's static files, served from memory with strict headers.

Every path under /admin that is not a file is a page of the single-page app and gets
index.html; the app routes on the client with the History API. The document names its
modules and style sheets by content-hashed URLs (streamer.admin.versions), which are
cached for good; the document and plain URLs are revalidated. Files are read, hashed
and gzipped off the event loop the first time they are asked for and revalidated against
the disk at most every few seconds, so editing a module shows up on reload. Only files
that exist under the static folder are ever served: the request path is looked up in a
listing of that folder, never joined onto it.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

from streamer.admin.versions import IMMUTABLE, asks_for, versioned_document
from streamer.http.conditional import if_none_match_matches
from streamer.observe import ROUTE_KEY
from streamer.routes.problems import problem_body
from streamer.types import Receive, Scope, Send

__all__ = ["STATIC", "AdminSite"]

STATIC = Path(__file__).parent / "static"
PREFIX = "/admin"  # where the site is mounted: its URLs are PREFIX + the file's path
DOCUMENT = "/index.html"
VERSIONED = (".js", ".mjs", ".css")  # files the document names by content-hashed URLs
REVALIDATE_SECONDS = 2.0
# Installed from npm by scripts/assets (`make serve` and `make test` run it).
VENDOR_MARKER = "/vendor/preact.mjs"
MISSING_VENDOR = (
    "the web admin's front-end libraries are not installed: run `make assets` "
    "(scripts/assets copies them from npm into streamer/admin/static/vendor)"
)

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".woff2": "font/woff2",
}
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".svg", ".json"}
IMPORT_MAP = re.compile(rb'<script type="importmap">(.*?)</script>', re.S)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def content_security_policy(index_html: bytes) -> str:
    """Scripts only from us, plus the inline import map by its hash. Styles allow inline
    style attributes (the UI sets widths of progress bars); media and workers allow blob:
    for hls.js's MediaSource and its transmuxing worker."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in IMPORT_MAP.finditer(index_html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    etag: bytes
    content_type: str
    mtime_ns: int
    checked: float

    @property
    def version(self) -> str:
        """The hash of the content, as in the ETag and the file's versioned URL."""
        return self.etag.strip(b'"').decode()


def make_asset(body: bytes, suffix: str, mtime_ns: int) -> Asset:
    gzipped = gzip.compress(body, 6) if suffix in COMPRESSIBLE and len(body) > 512 else None
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return Asset(
        body=body,
        gzipped=gzipped if gzipped is not None and len(gzipped) < len(body) else None,
        etag=f'"{digest}"'.encode(),
        content_type=TYPES.get(suffix, "application/octet-stream"),
        mtime_ns=mtime_ns,
        checked=time.monotonic(),
    )


def load_asset(path: Path) -> Asset:
    body = path.read_bytes()
    return make_asset(body, path.suffix, path.stat().st_mtime_ns)


def render_document(template: Asset, versions: dict[str, str]) -> Asset:
    """index.html with content-hashed URLs: its validator changes with any file's."""
    return make_asset(versioned_document(template.body, versions), ".html", template.mtime_ns)


def list_files(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    return {
        "/" + p.relative_to(root).as_posix(): p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def still_fresh(asset: Asset, path: Path) -> bool:
    try:
        return path.stat().st_mtime_ns == asset.mtime_ns
    except OSError:
        return False


class AdminSite:
    """ASGI app mounted at /admin."""

    def __init__(self, root: Path = STATIC) -> None:
        self.root = root
        self._files: dict[str, Path] | None = None
        self._listed = 0.0
        self._assets: dict[str, Asset] = {}
        # (template's ETag, versions) -> the document rendered from them: the last one.
        self._document: tuple[tuple[bytes, tuple[tuple[str, str], ...]], Asset] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        scope[ROUTE_KEY] = "/admin/{path}"
        path: str = scope["path"]
        rest = path[len("/admin") :] if path.startswith("/admin") else path
        if rest == "":
            await _respond(send, 308, [(b"location", b"/admin/")], b"")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _problem(send, 405, "the admin's files are read-only", [(b"allow", b"GET, HEAD")])
            return
        files = await self._listing()
        name = rest if rest in files else None
        page = name is None and "." not in rest.rsplit("/", 1)[-1]
        if page:
            name = DOCUMENT
            if VENDOR_MARKER not in files:
                await _problem(send, 503, MISSING_VENDOR)
                return
        if name is None or name not in files:
            await _problem(send, 404, "no such file in the web admin")
            return
        document = name == DOCUMENT
        asset = await (self._render(files) if document else self._asset(name, files[name]))
        if asset is None:
            await _problem(send, 404, "no such file in the web admin")
            return
        immutable = not document and asks_for(scope.get("query_string", b""), asset.version)
        await self._send(scope, send, asset, document=document, immutable=immutable)

    async def _listing(self) -> dict[str, Path]:
        now = time.monotonic()
        if self._files is None or now - self._listed > REVALIDATE_SECONDS:
            self._files = await asyncio.to_thread(list_files, self.root)
            self._listed = now
        return self._files

    async def _render(self, files: dict[str, Path]) -> Asset | None:
        template = await self._asset(DOCUMENT, files[DOCUMENT])
        if template is None:
            return None
        names = [name for name in files if name.endswith(VERSIONED)]
        assets = await asyncio.gather(*(self._asset(name, files[name]) for name in names))
        versions = {PREFIX + n: a.version for n, a in zip(names, assets, strict=True) if a}
        key = (template.etag, tuple(sorted(versions.items())))
        if self._document is None or self._document[0] != key:
            rendered = await asyncio.to_thread(render_document, template, versions)
            self._document = (key, rendered)
        return self._document[1]

    async def _asset(self, name: str, path: Path) -> Asset | None:
        asset = self._assets.get(name)
        now = time.monotonic()
        if asset is not None and now - asset.checked < REVALIDATE_SECONDS:
            return asset
        if asset is not None and await asyncio.to_thread(still_fresh, asset, path):
            asset = self._assets[name] = _rechecked(asset, now)
            return asset
        try:
            asset = await asyncio.to_thread(load_asset, path)
        except OSError:
            return None
        self._assets[name] = asset
        return asset

    async def _send(
        self, scope: Scope, send: Send, asset: Asset, *, document: bool, immutable: bool
    ) -> None:
        request = dict(scope["headers"])
        headers = [
            (b"content-type", asset.content_type.encode()),
            (b"etag", asset.etag),
            # A content-hashed URL never changes; anything else is revalidated every time
            # (a 304 is cheap), so an upgrade shows on the next load.
            (b"cache-control", IMMUTABLE if immutable else b"no-cache"),
            (b"vary", b"accept-encoding"),
            *SECURITY_HEADERS,
        ]
        if document:
            csp = content_security_policy(asset.body).encode()
            headers.append((b"content-security-policy", csp))
        if_none_match = request.get(b"if-none-match")
        if if_none_match is not None and if_none_match_matches(
            if_none_match.decode("latin-1"), asset.etag.decode("latin-1")
        ):
            await _respond(send, 304, headers, b"")
            return
        body = asset.body
        if asset.gzipped is not None and b"gzip" in request.get(b"accept-encoding", b""):
            body = asset.gzipped
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await _respond(send, 200, headers, b"" if scope["method"] == "HEAD" else body)


def _rechecked(asset: Asset, now: float) -> Asset:
    return Asset(asset.body, asset.gzipped, asset.etag, asset.content_type, asset.mtime_ns, now)


async def _problem(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = problem_body(status, detail)
    await _respond(
        send,
        status,
        [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            *(headers or []),
        ],
        body,
    )


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
