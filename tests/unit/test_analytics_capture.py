"""The capture's buffer: bounded, drops counted, written in batches off the loop, a failed
batch tried once more, tallies published to Prometheus."""

from __future__ import annotations

import asyncio
import threading

import pytest

from streamer.analytics.capture import DeliveryCapture, Writer
from streamer.analytics.rows import Captured
from streamer.metrics import Metrics
from streamer.types import Delivery

DELIVERY = Delivery("track", "0123456789abcdef", "original", None, 0, 99, 1000, 60.0)
HEADERS = [(b"user-agent", b"Player/1")]


class FakeWriter(Writer):
    """Records the batches it is given and the threads it ran in; fails when told."""

    def __init__(self) -> None:
        self.batches: list[list[Captured]] = []
        self.threads: set[str] = set()
        self.fail = 0  # writes to fail
        self.closed = False

    def write(self, batch: list[Captured]) -> int:
        self.threads.add(threading.current_thread().name)
        if self.fail:
            self.fail -= 1
            raise OSError("database down")
        self.batches.append(list(batch))
        return len(batch)

    def maintain(self, now: object = None) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.closed = True


def _record(capture: DeliveryCapture, n: int, status: int = 206) -> None:
    for _ in range(n):
        capture.record(DELIVERY, status, 100, HEADERS, ("192.0.2.1", 5000))


def test_record_appends_what_it_is_given_and_a_time() -> None:
    capture = DeliveryCapture(FakeWriter(), capacity=10)
    capture.record(DELIVERY, 206, 100, HEADERS, ("192.0.2.1", 5000))
    ((at, delivery, status, sent, headers, client),) = capture._buffer
    assert (delivery, status, sent, headers, client) == (
        DELIVERY,
        206,
        100,
        HEADERS,
        ("192.0.2.1", 5000),
    )
    assert at > 1.7e9


def test_the_buffer_is_bounded_and_drops_are_counted() -> None:
    capture = DeliveryCapture(FakeWriter(), capacity=100)
    _record(capture, 130)
    assert capture.pending == 100
    assert capture.dropped == 30


async def test_a_flush_writes_one_batch_in_the_captures_own_thread() -> None:
    writer = FakeWriter()
    capture = DeliveryCapture(writer, capacity=1000)
    _record(capture, 250)
    assert await capture.flush() == 250
    assert [len(b) for b in writer.batches] == [250]
    assert writer.threads
    assert all(t.startswith("analytics") for t in writer.threads)
    assert capture.pending == 0
    assert await capture.flush() == 0  # nothing buffered: nothing written
    assert len(writer.batches) == 1
    await capture.close()


async def test_requests_during_a_flush_go_to_the_next_batch() -> None:
    writer = FakeWriter()
    capture = DeliveryCapture(writer, capacity=1000)
    _record(capture, 3)
    flushing = asyncio.create_task(capture.flush())
    await asyncio.sleep(0)  # the batch was swapped out; the thread is writing it
    _record(capture, 2)
    await flushing
    await capture.flush()
    assert [len(b) for b in writer.batches] == [3, 2]
    await capture.close()


async def test_a_failed_batch_is_tried_once_more_then_counted_as_failed() -> None:
    writer = FakeWriter()
    capture = DeliveryCapture(writer, capacity=1000)
    writer.fail = 1
    _record(capture, 5)
    assert await capture.flush() == 0
    assert capture.pending == 5  # kept for one more try
    _record(capture, 1)
    assert await capture.flush() == 6
    assert capture.failed == 0
    writer.fail = 2
    _record(capture, 4)
    await capture.flush()
    await capture.flush()
    assert capture.failed == 4
    assert capture.pending == 0
    await capture.close()


async def test_a_retried_batch_keeps_the_bound() -> None:
    writer = FakeWriter()
    capture = DeliveryCapture(writer, capacity=10)
    writer.fail = 1
    _record(capture, 8)
    await capture.flush()
    _record(capture, 7)
    assert await capture.flush() == 10  # 7 new and the 3 newest of the retried batch
    assert capture.dropped == 5
    await capture.close()


async def test_close_writes_what_is_left_and_publishes() -> None:
    writer = FakeWriter()
    metrics = Metrics()
    capture = DeliveryCapture(writer, metrics, capacity=3)
    capture.start()
    _record(capture, 5)
    await capture.close()
    assert [len(b) for b in writer.batches] == [3]
    assert writer.closed
    counted = {
        labels["outcome"]: value
        for name, labels, value in metrics.samples("streamer_analytics_events")
        if name.endswith("_total")
    }
    assert counted == {"dropped": 2.0, "written": 3.0}


async def test_the_periodic_flush_writes_without_being_asked() -> None:
    writer = FakeWriter()
    capture = DeliveryCapture(writer, capacity=100, flush_seconds=0.01)
    capture.start()
    _record(capture, 4)
    for _ in range(200):
        if writer.batches:
            break
        await asyncio.sleep(0.01)
    assert [len(b) for b in writer.batches] == [4]
    await capture.close()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_app_records_only_when_analytics_is_on(make_settings: object, enabled: bool) -> None:
    from streamer.app import create_app

    settings = make_settings(analytics_enabled=enabled)  # type: ignore[operator]
    app = create_app(settings)
    assert (app.capture is not None) is enabled
    assert (app.observe.recorder is not None) is enabled
    assert app.media.config.deliveries is enabled
