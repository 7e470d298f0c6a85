"""Which stored delivery rows count as someone listening now (Realtime.heard)."""

from __future__ import annotations

import pytest

from streamer.analytics.realtime_share import Realtime
from streamer.analytics.rows import COLUMNS
from streamer.types import LIVE_WINDOW

PLAYER = "AppleCoreMedia/1.0.0.21A329 (iPhone; U; CPU OS 17_0 like Mac OS X; en_us)"
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def row(rendition: str, status: int, sent: int, agent: str = PLAYER) -> tuple[object, ...]:
    values: dict[str, object] = dict.fromkeys(COLUMNS)
    values.update(
        at=1_796_600_000.5,
        kind="channel" if rendition == LIVE_WINDOW else "track",
        subject_id="0123456789abcdef",
        rendition=rendition,
        status=status,
        sent=sent,
        user_agent=agent,
        listener="listener-hash",
    )
    return tuple(values[name] for name in COLUMNS)


@pytest.mark.parametrize(
    ("stored", "counts"),
    [
        (row("aac_128", 200, 96_000), True),
        (row("aac_128", 206, 1_000), True),
        (row(LIVE_WINDOW, 200, 681), True),
        (row(LIVE_WINDOW, 304, 0), True),  # still polling the window it has
        (row("aac_128", 304, 0), False),  # a segment revalidated: nothing heard
        (row("aac_128", 200, 0), False),
        (row("aac_128", 404, 120), False),
        (row(LIVE_WINDOW, 304, 0, BOT), False),
        (row("aac_128", 200, 96_000, BOT), False),
    ],
    ids=[
        "segment", "range", "window", "window 304", "segment 304", "nothing sent",
        "not found", "bot polling", "bot",
    ],
)  # fmt: skip
def test_a_row_counts_as_listening_when_audio_or_a_window_reached_a_player(
    stored: tuple[object, ...], counts: bool
) -> None:
    heard = Realtime.heard([stored])  # type: ignore[list-item]
    assert bool(heard) is counts
    if counts:
        assert heard == [(1_796_600_000.5, stored[2], "0123456789abcdef", "listener-hash")]
