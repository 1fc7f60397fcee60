from __future__ import annotations

from loneguard.server.console.ratelimit import MAX_KEYS, LoginLimiter


def test_failures_per_key_slow_the_next_tries_until_they_age_out() -> None:
    limiter = LoginLimiter(max_failures=3, window_ms=1000, max_delay_s=5)
    for t in (0, 100, 200):
        assert limiter.delay_s(("user:a", "ip:1"), t) == 0
        limiter.failed(("user:a", "ip:1"), t)
    assert limiter.delay_s(("user:a",), 300) == 1
    assert limiter.delay_s(("user:b", "ip:1"), 300) == 1  # the same address
    assert limiter.delay_s(("user:b", "ip:2"), 300) == 0
    for t in (300, 310, 320, 330):
        limiter.failed(("user:a",), t)
    assert limiter.delay_s(("user:a",), 400) == 5  # 2^4, at most max_delay_s
    assert limiter.delay_s(("user:a",), 1350) == 0  # every failure has aged out


def test_a_spray_of_names_does_not_grow_without_bound() -> None:
    limiter = LoginLimiter(max_failures=3, window_ms=1000)
    for n in range(MAX_KEYS + 5):
        limiter.failed((f"user:{n}",), 0)
    limiter.failed(("user:late",), 5000)  # everything before is out of the window by now
    assert limiter.tracked == 1
