import asyncio

from loneguard.protocol.clock import FakeClock
from loneguard.server.scheduler import Scheduler


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_deadlines_fire_on_monotonic_time_with_their_logical_time() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_ms=1_000_000, monotonic=0.0)
        scheduler = Scheduler(clock, asyncio.get_running_loop())
        fired: list[tuple[str, int]] = []
        scheduler.at("a", 1_010_000, lambda now: fired.append(("a", now)))
        scheduler.at("b", 1_020_000, lambda now: fired.append(("b", now)))
        scheduler.at("b", 1_030_000, lambda now: fired.append(("b2", now)))  # replaces b
        scheduler.at("c", 1_005_000, lambda now: fired.append(("c", now)))
        scheduler.cancel("c")
        clock.step_wall(3600)  # an NTP jump forward fires nothing
        await _settle()
        assert fired == []
        clock.advance(10)
        await _settle()
        assert fired == [("a", 1_010_000)]
        clock.step_wall(-7200)  # nor does a jump back lose anything
        clock.advance(20)
        await _settle()
        assert fired == [("a", 1_010_000), ("b2", 1_030_000)]
        assert len(scheduler) == 0

    asyncio.run(scenario())


def test_a_deadline_that_passed_while_down_fires_at_once_at_registration_time() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_ms=2_000_000, monotonic=0.0)
        scheduler = Scheduler(clock, asyncio.get_running_loop())
        fired: list[int] = []

        async def record(now: int) -> None:
            fired.append(now)

        scheduler.at("late", 1_000_000, record)
        clock.advance(0)
        await _settle()
        assert fired == [2_000_000]

    asyncio.run(scenario())


def test_a_failing_callback_does_not_stop_others() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_ms=0, monotonic=0.0)
        scheduler = Scheduler(clock, asyncio.get_running_loop())
        fired: list[int] = []
        scheduler.at("bad", 1000, lambda now: 1 / 0)  # type: ignore[func-returns-value]
        scheduler.at("good", 1000, fired.append)
        clock.advance(1)
        await _settle()
        assert fired == [1000]

    asyncio.run(scenario())
