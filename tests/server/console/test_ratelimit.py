from __future__ import annotations

from loneguard.server.console.ratelimit import MAX_KEYS, LoginLimiter


def test_failures_per_key_age_out_of_the_window() -> None:
    limiter = LoginLimiter(max_failures=3, window_ms=1000)
    for t in (0, 100, 200):
        assert limiter.retry_after_ms(("user:a", "ip:1"), t) == 0
        limiter.failed(("user:a", "ip:1"), t)
    assert limiter.retry_after_ms(("user:a",), 300) == 700
    assert limiter.retry_after_ms(("user:b", "ip:1"), 300) == 700  # the same address
    assert limiter.retry_after_ms(("user:b", "ip:2"), 300) == 0
    assert limiter.retry_after_ms(("user:a",), 999) == 1
    assert limiter.retry_after_ms(("user:a",), 1000) == 0  # the first failure has aged out


def test_a_spray_of_names_does_not_grow_without_bound() -> None:
    limiter = LoginLimiter(max_failures=3, window_ms=1000)
    for n in range(MAX_KEYS + 5):
        limiter.failed((f"user:{n}",), 0)
    limiter.failed(("user:late",), 5000)  # everything before is out of the window by now
    assert limiter.tracked == 1
