"""The floor cost of Python on the streamer's stack: a bare ASGI app on the same uvicorn.

benchmarks/ranges.py runs it beside nginx and the streamer (`uvicorn benchmarks.bare_app:app
--workers 2 --http httptools --loop uvloop`), and benchmarks/hls.py too. It answers GET
/media/<file name> with the bytes of that file of its folder (``BARE_MEDIA_DIR``), held in
memory from start-up (about 100 MB per worker for ranges.py's files), and a single
``Range: bytes=a-b`` with a 206: no routing, no validators, no log, no metrics. Nothing
the streamer does per request is here, so whatever the streamer spends above it is its
own; where the streamer is faster, it skipped uvicorn's ASGI path (its immediate answers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MEDIA_ENV = "BARE_MEDIA_DIR"
TYPES = {".wav": b"audio/wav", ".m3u8": b"application/vnd.apple.mpegurl", ".mp4": b"audio/mp4"}
FILES = {
    f"/media/{p.name}".encode(): (p.read_bytes(), TYPES.get(p.suffix, b"audio/mp4"))
    for p in sorted(Path(os.environ.get(MEDIA_ENV, ".")).iterdir())
    if p.is_file()
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    found = FILES.get(scope["raw_path"])
    if found is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body, content_type = found
    status, start, end = 200, 0, len(body)
    headers = [(b"content-type", content_type), (b"accept-ranges", b"bytes")]
    for name, value in scope["headers"]:
        if name == b"range" and value.startswith(b"bytes="):
            first, _, last = value[6:].partition(b"-")
            start, end = int(first), min(int(last) + 1, len(body))
            status = 206
            headers.append((b"content-range", b"bytes %d-%d/%d" % (start, end - 1, len(body))))
    headers.append((b"content-length", b"%d" % (end - start)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": memoryview(body)[start:end]})
