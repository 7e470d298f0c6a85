"""/admin's static file server: pages, validators, compression, CSP, and nothing outside
the static folder."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from streamer.admin import site as site_module
from streamer.admin.site import AdminSite

IMPORT_MAP = '{"imports": {"preact": "/admin/vendor/preact.mjs"}}'
INDEX = f"""<!doctype html><html lang="en"><head>
<script type="importmap">{IMPORT_MAP}</script>
<script type="module" src="/admin/js/main.js"></script></head><body></body></html>"""


@pytest.fixture
def static(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "js" / "main.js").write_text("export const answer = 42;\n" * 100)
    (root / "favicon.svg").write_text("<svg/>")
    (root / "vendor").mkdir()
    (root / "vendor" / "preact.mjs").write_text("export {};")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture
def client(static: Path, monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    monkeypatch.setattr(site_module, "REVALIDATE_SECONDS", 0.0)
    transport = httpx.ASGITransport(app=AdminSite(static))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize("path", ["/admin/", "/admin/library", "/admin/tracks/abc123"])
async def test_every_page_path_gets_the_app_document(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "importmap" in response.text


async def test_admin_without_slash_redirects_permanently(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin")
    assert response.status_code == 308
    assert response.headers["location"] == "/admin/"


async def test_the_document_allows_exactly_its_import_map_by_hash(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/admin/")
    csp = response.headers["content-security-policy"]
    # The map as served: with content-hashed URLs (streamer.admin.versions).
    served = response.text.split('<script type="importmap">', 1)[1].split("</script>", 1)[0]
    assert "preact.mjs?v=" in served
    digest = base64.b64encode(hashlib.sha256(served.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]


async def test_files_carry_type_etag_and_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/js/main.js", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"].startswith('"')
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize("if_none_match", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
async def test_a_matching_if_none_match_is_a_304(
    client: httpx.AsyncClient, if_none_match: str
) -> None:
    etag = (await client.get("/admin/js/main.js")).headers["etag"]
    response = await client.get(
        "/admin/js/main.js", headers={"if-none-match": if_none_match.format(etag=etag)}
    )
    assert response.status_code == 304
    assert response.content == b""


@pytest.mark.parametrize("if_none_match", ['"other"', "{etag}, junk", "{etag} {etag}", ""])
async def test_an_if_none_match_that_does_not_match_or_parse_sends_the_file(
    client: httpx.AsyncClient, if_none_match: str
) -> None:
    etag = (await client.get("/admin/js/main.js")).headers["etag"]
    response = await client.get(
        "/admin/js/main.js", headers={"if-none-match": if_none_match.format(etag=etag)}
    )
    assert response.status_code == 200
    assert response.content


async def test_text_is_gzipped_when_the_client_accepts_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/js/main.js", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < 2600
    assert response.text.startswith("export const answer")  # httpx decodes it


async def test_head_sends_headers_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/admin/favicon.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/admin/missing.js",
        "/admin/../secret.txt",
        "/admin/js/../../secret.txt",
        "/admin/%2e%2e/secret.txt",
        "/admin/js/linked.js",
    ],
)
async def test_nothing_outside_the_static_files_is_served(
    client: httpx.AsyncClient, static: Path, path: str
) -> None:
    os.symlink(static.parent / "secret.txt", static / "js" / "linked.js")
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "not for the web" not in response.text


async def test_writes_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/js/main.js")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_an_edited_file_is_served_fresh(client: httpx.AsyncClient, static: Path) -> None:
    first = await client.get("/admin/favicon.svg")
    path = static / "favicon.svg"
    path.write_text("<svg><g/></svg>")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = await client.get("/admin/favicon.svg")
    assert second.text == "<svg><g/></svg>"
    assert second.headers["etag"] != first.headers["etag"]


async def test_a_missing_static_folder_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=AdminSite(tmp_path / "nowhere"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/admin/")).status_code == 503
        assert (await client.get("/admin/app.css")).status_code == 404


async def test_pages_say_how_to_install_missing_front_end_libraries(
    client: httpx.AsyncClient, static: Path
) -> None:
    (static / "vendor" / "preact.mjs").unlink()
    response = await client.get("/admin/library")
    assert response.status_code == 503
    assert "scripts/assets" in response.json()["detail"]


async def test_the_document_names_files_by_content_hashed_urls(client: httpx.AsyncClient) -> None:
    text = (await client.get("/admin/library")).text
    main = (await client.get("/admin/js/main.js")).headers["etag"].strip('"')
    preact = (await client.get("/admin/vendor/preact.mjs")).headers["etag"].strip('"')
    assert f'src="/admin/js/main.js?v={main}"' in text
    assert f'"preact": "/admin/vendor/preact.mjs?v={preact}"' in text


async def test_a_content_hashed_url_is_cached_for_good(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/admin/js/main.js")).headers["etag"].strip('"')
    response = await client.get(f"/admin/js/main.js?v={etag}")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("query", ["", "?v=0123456789abcdef01234567", "?x=1"])
async def test_plain_and_stale_urls_are_revalidated(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/admin/js/main.js{query}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


async def test_the_document_changes_when_a_module_does(
    client: httpx.AsyncClient, static: Path
) -> None:
    first = await client.get("/admin/")
    path = static / "js" / "main.js"
    path.write_text("export const answer = 43;\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = await client.get("/admin/")
    assert second.headers["etag"] != first.headers["etag"]
    version = (await client.get("/admin/js/main.js")).headers["etag"].strip('"')
    assert f"/admin/js/main.js?v={version}" in second.text
