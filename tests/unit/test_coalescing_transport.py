"""Writes made in one event-loop step leave together (streamer/serving.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from streamer.serving import HOLD_MAX, CoalescingTransport


class Recorder:
    """Stands in for the socket transport: records what reaches it, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.buffered = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, datas: Any) -> None:
        self.calls.append(("writelines", [bytes(d) for d in datas]))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def coalescing() -> tuple[CoalescingTransport, Recorder]:
    recorder = Recorder()
    return CoalescingTransport(recorder, asyncio.get_running_loop()), recorder  # type: ignore[arg-type]


async def test_headers_and_body_written_in_one_step_leave_in_one_call() -> None:
    transport, sent = coalescing()

    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    await asyncio.sleep(0)

    assert sent.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b"body"])]


async def test_a_lone_write_leaves_at_the_end_of_the_step() -> None:
    transport, sent = coalescing()

    transport.write(b"headers")
    assert sent.calls == []
    await asyncio.sleep(0)

    assert sent.calls == [("write", b"headers")]


async def test_order_is_kept_across_steps_and_writelines() -> None:
    transport, sent = coalescing()

    transport.write(b"a")
    transport.writelines([b"b", b"c"])
    transport.write(b"d")
    await asyncio.sleep(0)
    transport.write(b"e")
    transport.write(b"f")

    assert sent.calls == [
        ("write", b"a"),
        ("writelines", [b"b", b"c"]),
        ("write", b"d"),
        ("writelines", [b"e", b"f"]),
    ]


async def test_close_sends_what_is_held_first() -> None:
    transport, sent = coalescing()

    transport.write(b"last words")
    transport.close()

    assert sent.calls == [("write", b"last words"), ("close", None)]


async def test_abort_drops_what_is_held() -> None:
    transport, sent = coalescing()

    transport.write(b"never")
    transport.abort()
    await asyncio.sleep(0)

    assert sent.calls == [("abort", None)]


async def test_empty_writes_are_not_held() -> None:
    transport, sent = coalescing()

    transport.write(b"")
    await asyncio.sleep(0)

    assert sent.calls == []


async def test_the_buffer_size_counts_what_is_held() -> None:
    transport, sent = coalescing()
    sent.buffered = 100

    transport.write(b"12345")

    assert transport.get_write_buffer_size() == 105
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
    assert transport.is_closing() is False


async def test_a_large_write_is_never_held_so_flow_control_sees_it_at_once() -> None:
    transport, sent = coalescing()
    chunk = b"x" * (HOLD_MAX + 1)

    transport.write(chunk)

    assert sent.calls == [("write", chunk)]


async def test_held_headers_leave_at_once_with_a_large_body() -> None:
    transport, sent = coalescing()
    body = b"x" * (HOLD_MAX * 4)

    transport.write(b"headers")
    transport.write(body)

    assert sent.calls == [("writelines", [b"headers", body])]


async def test_an_empty_write_does_not_release_what_is_held() -> None:
    transport, sent = coalescing()

    transport.write(b"headers")
    transport.write(b"")
    transport.write(b"body")

    assert sent.calls == [("writelines", [b"headers", b"body"])]


async def test_a_held_write_is_dropped_if_the_connection_was_lost_meanwhile() -> None:
    transport, sent = coalescing()

    transport.write(b"headers")
    sent.closing = True  # the peer reset the connection before the loop step ended
    await asyncio.sleep(0)

    assert sent.calls == []


async def test_close_still_sends_what_was_held() -> None:
    transport, sent = coalescing()

    transport.write(b"headers")
    transport.close()

    assert sent.calls == [("write", b"headers"), ("close", None)]
