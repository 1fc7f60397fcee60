"""The SSE fan-out: frames, thread-safe publish, slow subscribers, keep-alive, replay."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator

import pytest

from loneguard.server.escalation.notify.console_channel import (
    KEEPALIVE_FRAME,
    Broadcaster,
    ConsoleChannel,
    sse_frame,
)
from loneguard.server.escalation.notify.notification import Notification, Recipient


async def next_frame(frames: AsyncIterator[str], timeout: float = 2.0) -> str:
    return await asyncio.wait_for(anext(frames), timeout)


def parse(frame: str) -> tuple[str | None, str, dict[str, object]]:
    assert frame.endswith("\n\n")
    fields = dict(line.split(": ", 1) for line in frame.strip("\n").split("\n"))
    return fields.get("id"), fields["event"], json.loads(fields["data"])


def test_frame_format() -> None:
    assert sse_frame("alarm", {"id": 3, "text": "a\nb"}, "x-1") == (
        'id: x-1\nevent: alarm\ndata: {"id":3,"text":"a\\nb"}\n\n'
    )
    with pytest.raises(ValueError):
        sse_frame("bad\nkind", {}, None)


def test_subscribers_get_frames_in_order_and_off_loop_publish_wakes_them() -> None:
    async def scenario() -> None:
        hub = Broadcaster(instance="t")
        one, two = hub.subscribe(), hub.subscribe()
        assert hub.subscribers == 2
        hub.publish("alarm_opened", {"alarm_id": 1})
        thread = threading.Thread(target=hub.publish, args=("alarm_acknowledged", {"alarm_id": 1}))
        thread.start()
        thread.join()
        for frames in (one, two):
            assert parse(await next_frame(frames)) == ("t-1", "alarm_opened", {"alarm_id": 1})
            assert parse(await next_frame(frames)) == ("t-2", "alarm_acknowledged", {"alarm_id": 1})
        # A frame published from a thread while the subscriber waits wakes it.
        waiting = asyncio.ensure_future(next_frame(one))
        await asyncio.sleep(0)
        threading.Thread(target=hub.publish, args=("x", {})).start()
        assert parse(await waiting)[1] == "x"
        await one.aclose()  # type: ignore[attr-defined]
        assert hub.subscribers == 1

    asyncio.run(scenario())


def test_a_slow_subscriber_gets_resync_and_does_not_block_the_hub() -> None:
    async def scenario() -> None:
        hub = Broadcaster(queue_size=3, instance="t")
        slow = hub.subscribe()
        for i in range(1, 6):
            hub.publish("tick", {"i": i})  # never blocks, however far behind `slow` is
        # t-1..t-3 filled the queue; t-4 overflowed it: dropped, replaced by a resync standing
        # for everything up to t-4; then t-5.
        assert parse(await next_frame(slow)) == ("t-4", "resync", {"reason": "slow subscriber"})
        assert parse(await next_frame(slow)) == ("t-5", "tick", {"i": 5})
        assert hub.resyncs == 1
        hub.publish("tick", {"i": 6})  # caught up: live frames flow again
        assert parse(await next_frame(slow)) == ("t-6", "tick", {"i": 6})

    asyncio.run(scenario())


def test_keepalive_comment_when_idle() -> None:
    async def scenario() -> None:
        hub = Broadcaster(keepalive=0.05)
        frames = hub.subscribe()
        assert await next_frame(frames) == KEEPALIVE_FRAME

    asyncio.run(scenario())


def test_last_event_id_replays_from_the_ring_or_asks_for_resync() -> None:
    async def scenario() -> None:
        hub = Broadcaster(history=3, instance="t")
        for i in range(1, 6):
            hub.publish("tick", {"i": i})  # ring keeps t-3, t-4, t-5
        replay = hub.subscribe(last_event_id="t-3")
        assert [parse(await next_frame(replay))[0] for _ in range(2)] == ["t-4", "t-5"]
        hub.publish("tick", {"i": 6})
        assert parse(await next_frame(replay))[0] == "t-6"
        caught_up = hub.subscribe(last_event_id="t-3")  # t-4 onwards is all in the ring
        assert parse(await next_frame(caught_up))[0] == "t-4"
        for stale in ("t-2", "other-5", "t-99", "garbage"):
            frames = hub.subscribe(last_event_id=stale)
            assert parse(await next_frame(frames))[:2] == ("t-6", "resync")

    asyncio.run(scenario())


def test_close_ends_subscriptions() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        frames = hub.subscribe()
        hub.publish("last", {})
        hub.close()
        assert [parse(f)[1] async for f in frames] == ["last"]

    asyncio.run(scenario())


def test_console_channel_publishes_without_the_phone_number() -> None:
    async def scenario() -> None:
        hub = Broadcaster(instance="t")
        frames = hub.subscribe()
        worker = Recipient("Ann Admin", "admin", phone="+447700900123", apprise_urls=("json://x/",))
        n = Notification("a7/s0/r0/admin/console", 7, "console", worker, "Bob is overdue")
        result = await ConsoleChannel(hub).send(n)
        assert result.ok and not result.retryable
        frame = await next_frame(frames)
        assert parse(frame) == (
            "t-1",
            "alarm_notification",
            {
                "key": "a7/s0/r0/admin/console",
                "alarm_id": 7,
                "recipient": "Ann Admin",
                "role": "admin",
                "text": "Bob is overdue",
            },
        )
        assert "900123" not in frame and "json://" not in frame
        assert "900123" not in repr(n)

    asyncio.run(scenario())
