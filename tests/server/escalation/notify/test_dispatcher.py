"""The dispatcher on the fake clock: exact backoff times, giving up, cancel on acknowledgement."""

from __future__ import annotations

import asyncio
import random

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.server.escalation.notify.dispatcher import Dispatcher
from loneguard.server.escalation.notify.notification import DeliveryResult, Notification, Recipient

ANN = Recipient("Ann", "admin", phone="+447700900123")


class Scripted:
    """A channel answering from a script (the last answer repeats), noting when it was called."""

    def __init__(self, clock: FakeClock, *results: DeliveryResult, name: str = "sms") -> None:
        self.name = name
        self.clock = clock
        self.results = list(results)
        self.calls: list[tuple[str, float]] = []

    async def send(self, n: Notification) -> DeliveryResult:
        self.calls.append((n.key, self.clock.monotonic()))
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]


FAIL = DeliveryResult(False, "AT+CMGS: +CMS ERROR: 500", retryable=True)
FINAL = DeliveryResult(False, "no phone number for admin", retryable=False)
OK = DeliveryResult(True, "SMS sent (mr 1)")


def note(alarm_id: int = 1, key: str = "k1", channel: str = "sms") -> Notification:
    return Notification(key, alarm_id, channel, ANN, "Bob is overdue")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Log:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int, bool, str]] = []

    async def __call__(self, n: Notification, attempt: int, result: DeliveryResult) -> None:
        self.rows.append((n.key, attempt, result.ok, result.detail))


def test_success_is_recorded_once_and_the_key_is_not_sent_again() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        sms = Scripted(clock, OK)
        dispatcher = Dispatcher({"sms": sms}, clock, log)
        assert await dispatcher.dispatch(note()) == OK
        assert await dispatcher.dispatch(note()) is None  # same key: already delivered
        clock.advance(10_000)
        await settle()
        assert log.rows == [("k1", 1, True, "SMS sent (mr 1)")]
        assert len(sms.calls) == 1 and dispatcher.pending() == 0 and clock.pending() == 0

    asyncio.run(scenario())


def test_retries_at_the_exact_backoff_times_then_gives_up() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        sms = Scripted(clock, FAIL)
        dispatcher = Dispatcher({"sms": sms}, clock, log, max_attempts=5, jitter=0.0)
        assert await dispatcher.dispatch(note()) == FAIL
        # Retries after 30, 60, 120, 240 s: at 30, 90, 210, 450.
        for due in (30.0, 90.0, 210.0, 450.0):
            clock.advance(due - 0.001 - clock.monotonic())
            await settle()
            assert sms.calls[-1][1] < due  # not a moment early
            clock.advance(0.001)
            await settle()
            assert sms.calls[-1][1] == pytest.approx(due)
        clock.advance(100_000)
        await settle()
        assert [t for _, t in sms.calls] == pytest.approx([0.0, 30.0, 90.0, 210.0, 450.0])
        assert [(r[1], r[2]) for r in log.rows] == [(i, False) for i in range(1, 6)]
        assert dispatcher.pending() == 0 and clock.pending() == 0
        assert (dispatcher.attempts, dispatcher.failures) == (5, 5)

    asyncio.run(scenario())


def test_backoff_is_capped_and_jittered_reproducibly() -> None:
    clock = FakeClock()
    log = Log()
    plain = Dispatcher({}, clock, log, backoff_base=30, backoff_max=600, jitter=0.0)
    assert [plain.backoff(a) for a in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    jittered = Dispatcher({}, clock, log, jitter=0.1, rng=random.Random(7))
    expected_rng = random.Random(7)
    for attempt in range(1, 8):
        base = min(600.0, 30.0 * 2 ** (attempt - 1))
        expected = min(600.0, base * (1 + expected_rng.uniform(-0.1, 0.1)))
        assert jittered.backoff(attempt) == expected
        assert 0.9 * base <= expected <= 600.0


def test_jittered_retry_fires_at_its_drawn_time() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        sms = Scripted(clock, FAIL, OK)
        dispatcher = Dispatcher({"sms": sms}, clock, log, jitter=0.2, rng=random.Random(3))
        delay = Dispatcher({}, clock, log, jitter=0.2, rng=random.Random(3)).backoff(1)
        assert delay != 30.0
        await dispatcher.dispatch(note())
        clock.advance(delay)
        await settle()
        assert [t for _, t in sms.calls] == [0.0, delay]
        assert [r[2] for r in log.rows] == [False, True]

    asyncio.run(scenario())


def test_acknowledgement_cancels_retries_of_that_alarm_only() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        sms = Scripted(clock, FAIL)
        dispatcher = Dispatcher({"sms": sms}, clock, log, jitter=0.0)
        await dispatcher.dispatch(note(alarm_id=1, key="a1"))
        await dispatcher.dispatch(note(alarm_id=1, key="a1-bis"))
        await dispatcher.dispatch(note(alarm_id=2, key="a2"))
        assert dispatcher.pending(1) == 2
        assert dispatcher.cancel(1) == 2
        assert dispatcher.cancel(1) == 0
        clock.advance(30)
        await settle()
        assert [k for k, _ in sms.calls] == ["a1", "a1-bis", "a2", "a2"]
        assert dispatcher.pending(1) == 0 and dispatcher.pending(2) == 1
        # A new notification for the acknowledged alarm (say, "resolved") is still sent.
        await dispatcher.dispatch(note(alarm_id=1, key="a1-resolved"))
        assert sms.calls[-1][0] == "a1-resolved"
        await dispatcher.aclose()
        assert dispatcher.pending() == 0 and clock.pending() == 0

    asyncio.run(scenario())


def test_acknowledged_while_sending_is_not_retried() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        started, release = asyncio.Event(), asyncio.Event()

        class Slow:
            name = "sms"

            async def send(self, n: Notification) -> DeliveryResult:
                started.set()
                await release.wait()
                return FAIL

        dispatcher = Dispatcher({"sms": Slow()}, clock, log, jitter=0.0)
        task = asyncio.ensure_future(dispatcher.dispatch(note()))
        await started.wait()
        dispatcher.cancel(1)
        release.set()
        assert await task == FAIL
        assert len(log.rows) == 1 and clock.pending() == 0

    asyncio.run(scenario())


def test_unknown_channel_and_failures_that_cannot_help_are_recorded_not_retried() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        dispatcher = Dispatcher({"sms": Scripted(clock, FINAL)}, clock, log)
        pager = await dispatcher.dispatch(note(key="p", channel="pager"))
        assert pager == DeliveryResult(False, "unknown channel 'pager'", False)
        assert await dispatcher.dispatch(note(key="s")) == FINAL
        assert [(r[0], r[1], r[2]) for r in log.rows] == [("p", 1, False), ("s", 1, False)]
        assert clock.pending() == 0 and dispatcher.pending() == 0

    asyncio.run(scenario())


def test_a_raising_channel_or_record_does_not_stop_the_ladder() -> None:
    async def scenario() -> None:
        clock = FakeClock(monotonic=0.0)

        class Broken:
            name = "apprise"

            async def send(self, n: Notification) -> DeliveryResult:
                raise OSError("boom")

        async def failing_record(n: Notification, attempt: int, r: DeliveryResult) -> None:
            raise RuntimeError("db down")

        dispatcher = Dispatcher({"apprise": Broken()}, clock, failing_record, jitter=0.0)
        result = await dispatcher.dispatch(note(channel="apprise"))
        assert result == DeliveryResult(False, "channel error: OSError", True)
        assert clock.pending() == 1  # retried later all the same

    asyncio.run(scenario())


def test_resuming_after_a_restart_counts_from_the_recorded_attempt() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        dispatcher = Dispatcher({"sms": Scripted(clock, FAIL)}, clock, log, max_attempts=5)
        await dispatcher.dispatch(note(), attempt=5)
        assert log.rows[0][1] == 5 and clock.pending() == 0  # the fifth was the last

    asyncio.run(scenario())


class Held:
    """A channel whose sends all wait until the test lets them finish; notes the order they
    started in and how many were under way at once."""

    def __init__(self, name: str = "apprise") -> None:
        self.name = name
        self.started: list[str] = []
        self.under_way = 0
        self.most_at_once = 0
        self.release = asyncio.Event()

    async def send(self, n: Notification) -> DeliveryResult:
        self.started.append(n.key)
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        await self.release.wait()
        self.under_way -= 1
        return OK


def test_a_panic_is_sent_ahead_of_a_backlog_of_overdue_alarms() -> None:
    async def scenario() -> None:
        clock, log = FakeClock(monotonic=0.0), Log()
        apprise = Held()
        dispatcher = Dispatcher({"apprise": apprise}, clock, log, send_slots=2)
        backlog = [
            asyncio.create_task(dispatcher.dispatch(note(i, f"overdue-{i}", "apprise")))
            for i in range(1, 7)
        ]
        await settle()
        panic = Notification("panic", 99, "apprise", ANN, "Panic: Bob", urgent=True)
        first = asyncio.create_task(dispatcher.dispatch(panic))
        await settle()
        assert apprise.started == ["overdue-1", "overdue-2"]  # both slots taken, the rest wait
        apprise.release.set()
        await asyncio.gather(first, *backlog)
        assert apprise.started[2] == "panic"  # the next slot went to the panic
        assert apprise.started[3:] == [f"overdue-{i}" for i in range(3, 7)]  # then in order
        assert apprise.most_at_once == 2
        assert [row[0] for row in log.rows].count("panic") == 1

    asyncio.run(scenario())
