"""The admin API with httpx: list libraries and tracks, make a playlist, edit it safely with
If-Match (and see a stale one refused with 412), read its HLS master playlist, delete it.
docs/api-guide.md walks through it.

    STREAMER_URL=http://127.0.0.1:8000 STREAMER_API_KEY=stk_... python docs/examples/api.py

Needs httpx (pip install httpx). Exits non-zero, saying why, at the first answer it did not
expect.
"""

from __future__ import annotations

import os
import sys

import httpx


class Unexpected(Exception):
    """An answer the scenario did not expect."""


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        request = response.request
        raise Unexpected(
            f"{request.method} {request.url.raw_path.decode()} answered "
            f"{response.status_code}, not {status}: {response.text[:300]}"
        )
    return response


def scenario(api: httpx.Client, media: httpx.Client) -> None:
    # 1. The libraries this key may read (a plain list).
    libraries = expect(api.get("/api/v1/libraries"), 200).json()
    if not libraries:
        raise Unexpected("no library is readable with this key")
    library = libraries[0]
    print(f"GET /api/v1/libraries -> 200: first library {library['id']} ({library['name']})")

    # 2. Tracks of that library: a page {items, total, limit, offset, next_cursor}.
    query = {"library": library["id"], "status": "ok", "sort": "title", "limit": 2}
    page = expect(api.get("/api/v1/tracks", params=query), 200).json()
    if len(page["items"]) < 2:
        raise Unexpected("the library needs at least two playable tracks")
    first, second = (track["id"] for track in page["items"])
    print(f"GET /api/v1/tracks -> 200: {page['total']} tracks; using {first} and {second}")

    # 3. A playlist of those two tracks: 201 with Location and ETag "1" (the revision).
    body = {"library_id": library["id"], "name": "API example", "track_ids": [first, second]}
    created = expect(api.post("/api/v1/playlists", json=body), 201)
    playlist = created.json()["id"]
    path = f"/api/v1/playlists/{playlist}"
    print(f"POST /api/v1/playlists -> 201: playlist {playlist} at {created.headers['location']}")
    try:
        _edit_and_play(api, media, path)
    except BaseException:
        # A run that failed half-way removes its playlist (without If-Match: any revision).
        api.delete(path)
        raise


def _edit_and_play(api: httpx.Client, media: httpx.Client, path: str) -> None:
    # 4. Read it back with its ETag.
    read = expect(api.get(path), 200)
    etag = read.headers["etag"]
    item_count = read.json()["item_count"]
    print(f'GET {path} -> 200: "{read.json()["name"]}", {item_count} items, ETag {etag}')

    # 5. Rename it, on condition that nobody changed it since: If-Match with that ETag.
    renamed = api.patch(path, json={"name": "API example (renamed)"}, headers={"If-Match": etag})
    current = expect(renamed, 200).headers["etag"]
    print(f"PATCH {path} (If-Match: {etag}) -> 200: renamed, ETag {current}")

    # 6. The old ETag is stale now: 412, a problem+json body, and the current ETag.
    stale = api.patch(path, json={"name": "lost update"}, headers={"If-Match": etag})
    expect(stale, 412)
    content_type = stale.headers.get("content-type")
    if content_type != "application/problem+json":
        raise Unexpected(f"412 came as {content_type}, not application/problem+json")
    problem = stale.json()
    print(
        f"PATCH {path} (If-Match: {etag}) -> 412 {content_type}: {problem['title']}: "
        f"{problem['detail']} (current ETag {stale.headers['etag']})"
    )

    # 7. The playlist as one HLS stream. With URL signing on, /signed gives a URL with a
    #    token; with it off, /signed answers 409 and the plain URL (urls.hls) is public.
    signed = api.get(f"{path}/signed", params={"seconds": 600})
    if signed.status_code == 200:
        hls = signed.json()["urls"]["hls"]
        print(f"GET {path}/signed -> 200: a signed URL, good for 600 s")
    else:
        expect(signed, 409)
        hls = expect(api.get(path), 200).json()["urls"]["hls"]
        print(f"GET {path}/signed -> 409: URL signing is off; the HLS URL is public")
    # Media and HLS URLs take no credentials (a player fetches them): the media client.
    master = expect(media.get(hls), 200)
    print(f"GET {hls.split('?')[0]} -> 200 {master.headers['content-type']}:")
    for line in master.text.splitlines()[:4]:
        print(f"  {line}")

    # 8. Delete it (If-Match again: only the revision we last saw), then it is gone.
    expect(api.delete(path, headers={"If-Match": current}), 204)
    print(f"DELETE {path} (If-Match: {current}) -> 204")
    gone = expect(api.get(path), 404)
    print(f"GET {path} -> 404: {gone.json()['detail']}")


def main() -> int:
    base = os.environ.get("STREAMER_URL", "").rstrip("/")
    key = os.environ.get("STREAMER_API_KEY", "")
    if not base or not key:
        print("set STREAMER_URL and STREAMER_API_KEY", file=sys.stderr)
        return 2
    auth = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(base_url=base, headers=auth, timeout=30) as api,
        httpx.Client(base_url=base, timeout=30) as media,
    ):
        try:
            scenario(api, media)
        except (Unexpected, httpx.HTTPError, KeyError, ValueError) as exc:
            print(f"unexpected: {exc}", file=sys.stderr)
            return 1
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
