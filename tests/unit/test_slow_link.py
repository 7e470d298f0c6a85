"""The userspace slow link (tests/fixtures/slow_link.py) against a plain TCP server.

Times are asserted as lower bounds only: the proxy can never be faster than its delay,
rate and stalls allow (that is arithmetic on its clock), whereas how much slower it runs
depends on the machine; a 2-core shared CI machine can pause any process for a good
fraction of a second. The one upper bound (bulk throughput at least a third of the rate)
leaves seconds of room.
"""

from __future__ import annotations

import hashlib
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.fixtures.slow_link import SlowLink


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False  # server_close() joins the handlers: no thread left behind


@contextmanager
def serving(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 running ``handle(connection)`` per connection; its port."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            handle(self.request)

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def echo(connection: socket.socket) -> None:
    while data := connection.recv(64 * 1024):
        connection.sendall(data)


def receive(connection: socket.socket, count: int) -> bytes:
    parts, got = [], 0
    while got < count:
        data = connection.recv(min(256 * 1024, count - got))
        assert data, f"connection closed after {got} of {count} bytes"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


@contextmanager
def link(port: int, **options: float) -> Iterator[SlowLink]:
    before = set(threading.enumerate())
    with SlowLink("127.0.0.1", port, **options) as proxy:  # type: ignore[arg-type]
        yield proxy
    assert not proxy.errors
    left = [t for t in set(threading.enumerate()) - before if t.name.startswith("slow-link")]
    assert not left, left


def test_a_round_trip_takes_at_least_twice_the_delay() -> None:
    delay = 0.1
    with serving(echo) as port, link(port, delay=delay, loss=0.0) as proxy:
        began = time.monotonic()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as client:
            client.sendall(b"ping")
            assert receive(client, 4) == b"ping"
            first = time.monotonic() - began  # after the emulated handshake's round trip
            began = time.monotonic()
            client.sendall(b"pong")
            assert receive(client, 4) == b"pong"
            second = time.monotonic() - began
    assert first >= 4 * delay, first
    assert second >= 2 * delay, second
    print(f"\nround trips: {first:.3f} s with the handshake, then {second:.3f} s")


def test_a_large_transfer_is_limited_to_the_bandwidth() -> None:
    size, rate_bits, delay = 1024 * 1024, 8_000_000, 0.05
    payload = os.urandom(size)

    def send(connection: socket.socket) -> None:
        connection.sendall(payload)

    with serving(send) as port, link(port, delay=delay, rate_bits=rate_bits, loss=0.0) as proxy:
        began = time.monotonic()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client:
            assert receive(client, size) == payload
        took = time.monotonic() - began
    # The bucket lets read_bytes through at once, then rate bytes a second; the last
    # byte then crosses the link. Nothing the machine does can make it faster.
    rate = rate_bits / 8
    floor = (size - proxy.read_bytes) / rate + delay
    print(
        f"\n{size} bytes in {took:.2f} s: {size * 8 / took / 1e6:.2f} Mbit/s (floor {floor:.2f} s)"
    )
    assert took >= floor, (took, floor)
    # About the rate, not far below: 1 MB at 8 Mbit/s is 1.1 s, and a third of the rate
    # (3.2 s) allows the proxy's thread two seconds of pauses on a loaded machine.
    assert took < 3 * size / rate + delay, took


def test_bytes_arrive_intact_and_in_order_with_loss_on() -> None:
    size = 1024 * 1024
    payload = os.urandom(size)
    options = {"delay": 0.01, "rate_bits": 200_000_000, "loss": 0.05, "rto": 0.03}
    received: dict[str, bytes] = {}

    def exchange(proxy: SlowLink) -> None:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client:
            reader = threading.Thread(target=lambda: received.update(echo=receive(client, size)))
            reader.start()
            client.sendall(payload)
            reader.join(timeout=60)
        assert hashlib.sha256(received["echo"]).digest() == hashlib.sha256(payload).digest()

    with serving(echo) as port:
        with link(port, seed=7, **options) as proxy:
            exchange(proxy)
        with link(port, seed=7, **options) as again:
            exchange(again)
        with link(port, seed=8, **options) as other:
            exchange(other)

    packets, losses = sum(proxy.packets.values()), sum(proxy.losses.values())
    # Both directions carried the whole payload, cut into packets by stream offset.
    assert proxy.packets == {"up": -(-size // 1448), "down": -(-size // 1448)}
    # Seeded by stream offset, not read boundaries: the same seed loses the same packets.
    assert again.packets == proxy.packets
    assert again.losses == proxy.losses
    assert other.losses != proxy.losses
    # About the seeded rate: within 4 standard deviations of the binomial's mean.
    for run in (proxy, other):
        lost = sum(run.losses.values())
        mean, sd = packets * 0.05, (packets * 0.05 * 0.95) ** 0.5
        assert abs(lost - mean) < 4 * sd, (lost, mean, sd)
    print(f"\n{losses} of {packets} packets lost ({losses / packets:.2%}; seed 7)")


@pytest.mark.parametrize("loss", [0.0, 1.0])
def test_a_loss_stalls_the_stream_for_the_retransmission_timeout(loss: float) -> None:
    delay, rto = 0.05, 0.5
    with (
        serving(echo) as port,
        link(port, delay=delay, loss=loss, rto=rto, handshake=False) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as client,
    ):
        began = time.monotonic()
        client.sendall(b"x")
        assert receive(client, 1) == b"x"
        took = time.monotonic() - began
    if loss:  # the request's packet and the answer's: two stalls
        assert took >= 2 * (delay + rto), took
        assert proxy.losses == {"up": 1, "down": 1}
    else:
        assert 2 * delay <= took < 2 * delay + rto, took
        assert proxy.losses == {"up": 0, "down": 0}
