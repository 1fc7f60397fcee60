"""The clock-to-loop timer: due on the injected clock, run on the loop, and a cancel holds even
after the clock has handed the callback over."""

from __future__ import annotations

import asyncio

from loneguard.protocol.clock import FakeClock
from loneguard.server.loop_timer import call_later_on_loop


def test_runs_on_the_loop_at_its_due_time_on_the_clock() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        loop = asyncio.get_running_loop()
        ran: list[float] = []
        call_later_on_loop(clock, loop, 10.0, lambda: ran.append(clock.monotonic()))
        clock.advance(9.9)
        await asyncio.sleep(0)
        assert ran == []
        clock.advance(0.1)
        assert ran == []  # handed to the loop, not run on the clock's side
        await asyncio.sleep(0)
        assert ran == [clock.monotonic()]

    asyncio.run(scenario())


def test_a_cancel_after_the_handover_still_holds() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        ran: list[str] = []
        timer = call_later_on_loop(clock, asyncio.get_running_loop(), 1.0, lambda: ran.append("x"))
        clock.advance(1.0)  # the clock hands it to the loop...
        timer.cancel()  # ...and it is cancelled before the loop's turn
        await asyncio.sleep(0)
        assert ran == []
        assert clock.pending() == 0

    asyncio.run(scenario())


def test_a_closed_loop_is_not_an_error_on_the_clock_side() -> None:
    clock = FakeClock()
    loop = asyncio.new_event_loop()
    call_later_on_loop(clock, loop, 1.0, lambda: None)
    loop.close()
    clock.advance(1.0)  # the hub has stopped: nothing to run, nothing raised
