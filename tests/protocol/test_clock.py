from loneguard.protocol.clock import FakeClock


def test_timers_run_in_order_at_their_own_times() -> None:
    clock = FakeClock(wall_ms=0, monotonic=0.0)
    seen: list[tuple[str, float]] = []
    clock.call_later(2.0, lambda: seen.append(("b", clock.monotonic())))
    clock.call_later(1.0, lambda: seen.append(("a", clock.monotonic())))
    cancelled = clock.call_later(1.5, lambda: seen.append(("x", clock.monotonic())))
    cancelled.cancel()
    clock.advance(1.9)
    assert seen == [("a", 1.0)]
    clock.advance(0.1)
    assert seen == [("a", 1.0), ("b", 2.0)]
    assert clock.monotonic() == 2.0


def test_timer_scheduled_by_a_timer_runs_within_the_same_advance() -> None:
    clock = FakeClock(monotonic=0.0)
    seen: list[float] = []
    clock.call_later(1.0, lambda: clock.call_later(1.0, lambda: seen.append(clock.monotonic())))
    clock.advance(5)
    assert seen == [2.0]


def test_wall_step_moves_wall_time_only() -> None:
    clock = FakeClock(wall_ms=10_000, monotonic=5.0)
    fired: list[int] = []
    clock.call_later(10, lambda: fired.append(clock.wall_ms()))
    clock.step_wall(-3600)
    clock.advance(9.999)
    assert fired == []
    clock.advance(0.001)
    assert fired == [10_000 - 3_600_000 + 10_000]
