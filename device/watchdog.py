"""The service's side of systemd: ``sd_notify`` READY, WATCHDOG while healthy, STATUS, STOPPING.

systemd (``Type=notify``, ``WatchdogSec=``) passes a unix datagram socket in ``NOTIFY_SOCKET``
and, with a watchdog, its period in ``WATCHDOG_USEC``. ``serve`` is the device's main loop: it
says READY=1 once the app has started, then every ``interval`` asks the app whether it is healthy
and only then sends WATCHDOG=1. A stuck clock thread (LED patterns and gestures stop) or an
unreadable outbox stops the pings, and systemd restarts the unit. A broker or modem that is down
is not a reason: the device handles both itself. STATUS= carries a one-line summary whenever it
changes (``systemctl status`` shows it); STOPPING=1 goes out when a stop begins.

The protocol is a few bytes on a socket, so it is written here on the standard library.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Mapping
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0


class Supervised(Protocol):
    """What ``serve`` needs from the app."""

    def health_problems(self) -> list[str]: ...

    def status_line(self) -> str: ...


class Notifier:
    """Sends ``KEY=value`` lines to systemd; does nothing when not run by systemd."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        if address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._target = "\0" + address[1:] if address.startswith("@") else address

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Notifier:
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, *fields: str) -> None:
        if self._socket is None or not fields:
            return
        try:
            self._socket.sendto("\n".join(fields).encode(), self._target)
        except OSError as exc:  # systemd gone or restarting: nothing to do but go on
            log.debug("sd_notify failed: %s", exc)

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


def watchdog_interval(env: Mapping[str, str], default: float = DEFAULT_INTERVAL) -> float:
    """Seconds between health checks: ``default``, or half the watchdog period if that is less."""
    text = env.get("WATCHDOG_USEC", "")
    if text.isdigit() and int(text) > 0:
        return min(default, int(text) / 2_000_000)
    return default


def serve(
    app: Supervised,
    notifier: Notifier,
    stopping: threading.Event,
    *,
    interval: float = DEFAULT_INTERVAL,
) -> None:
    """The main loop, from READY=1 until ``stopping`` is set, then STOPPING=1."""
    status = app.status_line()
    notifier.send("READY=1", f"STATUS={status}")
    unhealthy = False
    while not stopping.wait(interval):
        problems = app.health_problems()
        fields = [] if problems else ["WATCHDOG=1"]
        now = f"unhealthy: {'; '.join(problems)}" if problems else app.status_line()
        if now != status:
            fields.append(f"STATUS={now}")
            status = now
        if problems and not unhealthy:
            log.error("unhealthy, no more watchdog pings: %s", "; ".join(problems))
        elif unhealthy and not problems:
            log.warning("healthy again")
        unhealthy = bool(problems)
        notifier.send(*fields)
    notifier.send("STOPPING=1", "STATUS=stopping")
