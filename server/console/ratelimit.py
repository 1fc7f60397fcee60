"""Failed logins slow the next tries down; they never refuse a correct password.

Failures are counted per user name (any case) and per client address, in a 15-minute window.
Past ``max_failures`` on either, each further try of that name (or from that address) waits
before its password is checked: 1 s, then 2, 4, … up to ``max_delay_s``, on the hub's clock.
Then it is checked like any other: a correct password is let in, whoever failed before. Tries of
one name from one address wait in turn, so one client cannot run its guesses in parallel.

The address is the client's as ``HttpGuard`` resolved it (``http.trusted_proxies``); a request
whose client is unknown (it came through a trusted proxy that did not say for whom) is counted by
name only, so the proxy's address never stands for everyone behind it.

Each failed try is written to the store's audit log, and the limiter replays the window's
outcomes from it at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import Future

from loneguard.server.store import Store

MAX_KEYS = 10_000  # past this many names and addresses, the ones with no recent failure go


class LoginLimiter:
    def __init__(
        self, max_failures: int = 5, window_ms: int = 15 * 60_000, max_delay_s: float = 30.0
    ) -> None:
        self.max_failures = max_failures
        self.window_ms = window_ms
        self.max_delay_s = max_delay_s
        self._lock = threading.Lock()
        self._failures: defaultdict[str, deque[int]] = defaultdict(deque)
        self._turns: dict[tuple[str, ...], asyncio.Lock] = {}

    def delay_s(self, keys: tuple[str, ...], now_ms: int) -> float:
        """How long a try counted against ``keys`` waits before its password is checked."""
        with self._lock:
            excess = max((len(self._prune(key, now_ms)) for key in keys), default=0)
        excess -= self.max_failures
        return 0.0 if excess < 0 else min(self.max_delay_s, float(2 ** min(excess, 16)))

    @contextlib.asynccontextmanager
    async def turn(self, keys: tuple[str, ...]) -> AsyncIterator[None]:
        """Tries counted against the same keys, one at a time."""
        lock = self._turns.setdefault(keys, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._turns.get(keys) is lock:
                del self._turns[keys]

    def failed(self, keys: tuple[str, ...], now_ms: int) -> None:
        with self._lock:
            if len(self._failures) > MAX_KEYS:  # a spray of made-up names must not grow us
                for key in list(self._failures):
                    if not self._prune(key, now_ms):
                        del self._failures[key]
            for key in keys:
                self._prune(key, now_ms).append(now_ms)

    @property
    def tracked(self) -> int:
        with self._lock:
            return len(self._failures)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _prune(self, key: str, now_ms: int) -> deque[int]:
        times = self._failures[key]
        while times and times[0] <= now_ms - self.window_ms:
            times.popleft()
        return times


def login_keys(name: str, ip: str | None) -> tuple[str, ...]:
    """What a login try counts against: the name typed (any case) and, if known, the address."""
    user = f"user:{name.strip().lower()}"
    return (user,) if ip is None else (user, f"ip:{ip}")


def replay_login_outcomes(
    limiter: LoginLimiter, outcomes: Iterable[tuple[int, str, str, str]]
) -> None:
    """Count again the failed (``login.failed``) and good (``login``) logins of the window,
    oldest first, as (at_ms, action, name, ip) from the audit log: a restart forgets nothing."""
    for at_ms, action, name, ip in outcomes:
        keys = login_keys(name, None if ip == "unknown" else ip)
        if action == "login.failed":
            limiter.failed(keys, at_ms)
        elif action == "login":
            limiter.succeeded(keys)


def failed_login(
    store: Store, name: str, at_ms: int, ip: str, delayed_s: float = 0.0
) -> Future[int]:
    """Audit a failed login (``login.failed``), with how long it was made to wait."""
    detail: dict[str, object] = {"ip": ip}
    if delayed_s:
        detail["delayed_s"] = delayed_s
    return store.append_audit(at_ms, "anonymous", "login.failed", f"user:{name[:64]}", detail)


def recent_login_outcomes(store: Store, since_ms: int) -> list[tuple[int, str, str, str]]:
    """Failed and successful logins since ``since_ms``, oldest first: (at, action, name, ip).

    What the login limiter replays at start, so a restart does not reset its counts.
    """
    return [
        (
            int(e.at_ms),
            str(e.action),
            e.subject.removeprefix("user:") if e.subject else "",
            str(e.detail.get("ip", "unknown")),
        )
        for e in store.audit_since(since_ms, ("login", "login.failed"))
    ]
