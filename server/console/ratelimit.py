"""Failed logins, counted per user name and per address: too many and the next try is refused.

Each failed or refused try is written to the store's audit log, and the limiter replays the
window's outcomes from it at start.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterable
from concurrent.futures import Future

from loneguard.server.store import Store

MAX_KEYS = 10_000  # past this many names and addresses, the ones with no recent failure go


class LoginLimiter:
    def __init__(self, max_failures: int = 5, window_ms: int = 15 * 60_000) -> None:
        self.max_failures = max_failures
        self.window_ms = window_ms
        self._lock = threading.Lock()
        self._failures: defaultdict[str, deque[int]] = defaultdict(deque)

    def retry_after_ms(self, keys: tuple[str, ...], now_ms: int) -> int:
        """0 if a try is allowed now; else how long until the oldest failure ages out."""
        with self._lock:
            wait = 0
            for key in keys:
                times = self._prune(key, now_ms)
                if len(times) >= self.max_failures:
                    wait = max(wait, times[0] + self.window_ms - now_ms)
            return wait

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


def login_keys(name: str, ip: str) -> tuple[str, str]:
    """What a login try counts against: the name typed (any case) and the address."""
    return (f"user:{name.strip().lower()}", f"ip:{ip}")


def replay_login_outcomes(
    limiter: LoginLimiter, outcomes: Iterable[tuple[int, str, str, str]]
) -> None:
    """Count again the failed (``login.failed``) and good (``login``) logins of the window,
    oldest first, as (at_ms, action, name, ip) from the audit log: a restart forgets nothing."""
    for at_ms, action, name, ip in outcomes:
        keys = login_keys(name, ip)
        if action == "login.failed":
            limiter.failed(keys, at_ms)
        elif action == "login":
            limiter.succeeded(keys)


def failed_login(store: Store, name: str, at_ms: int, ip: str, refused: bool) -> Future[int]:
    """Audit a failed login (``login.failed``), or one the limiter refused (``login.refused``)."""
    action = "login.refused" if refused else "login.failed"
    return store.append_audit(at_ms, "anonymous", action, f"user:{name[:64]}", {"ip": ip})


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
