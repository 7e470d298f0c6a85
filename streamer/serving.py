"""How uvicorn runs the app: the HTTP protocol with a smaller write buffer.

A response waits for the client whenever the connection's write buffer is above its
high-water mark (uvicorn's flow control). asyncio and uvloop default that mark to 64 KiB,
and a connection to a slow reader keeps about that much in the process. With a thousand
slow listeners that is most of a worker's memory, so the mark is lowered: the kernel's
socket buffer (which does not count against the process) still absorbs bursts, so fast
clients lose nothing measurable.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

WRITE_BUFFER_HIGH = 16 * 1024
WRITE_BUFFER_LOW = 4 * 1024


class StreamerHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a 16 KiB write-buffer high-water mark."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        super().connection_made(transport)
