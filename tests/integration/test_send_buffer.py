"""The kernel send buffer: fixed (socket_send_buffer) for a worker's first
socket_send_buffer_connections connections, the kernel's autotuning for those beyond, so
that a crowd of slow listeners cannot lock up the kernel's TCP memory. Read off the
server's own sockets (the server runs in this process)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from streamer.settings import Settings
from tests.fixtures.servers import serve_in_thread

FIXED = 128 * 1024


def _server_send_buffers(port: int) -> list[int]:
    """SO_SNDBUF of this process's accepted sockets on ``port``, oldest descriptor first."""
    found = []
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if sock.type != socket.SOCK_STREAM or sock.family != socket.AF_INET:
                continue
            try:
                local, peer = sock.getsockname(), sock.getpeername()
            except OSError:
                continue  # listening or not connected
            if local[1] == port and peer[1] != port:
                found.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
        finally:
            sock.close()
    return found


@pytest.mark.parametrize(("fixed_for", "fixed"), [(2, 2), (0, 0), (100, 4)])
def test_the_first_connections_get_the_fixed_send_buffer_and_the_rest_autotuning(
    tmp_path: Path, fixed_for: int, fixed: int
) -> None:
    settings = Settings.load(
        {},
        data_dir=tmp_path / "data",
        socket_send_buffer=FIXED,
        socket_send_buffer_connections=fixed_for,
    )
    with serve_in_thread(settings) as server:
        port = urlsplit(server.base_url).port
        assert port is not None
        clients = []
        try:
            for _ in range(4):
                client = socket.create_connection(("127.0.0.1", port))
                client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                client.recv(4096)  # answered: accepted, and its buffer set
                clients.append(client)
            deadline = time.monotonic() + 5
            buffers = _server_send_buffers(port)
            while len(buffers) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
                buffers = _server_send_buffers(port)
        finally:
            for client in clients:
                client.close()
    assert len(buffers) == 4
    # Linux doubles the size asked for; autotuning starts from net.ipv4.tcp_wmem's default.
    assert sum(size == 2 * FIXED for size in buffers) == fixed
