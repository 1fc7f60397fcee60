"""SQLite serves one hub: a second hub on the same file is refused at start, clearly.

Two hubs on one SQLite file would each run every timer and each send every ladder step (only
PostgreSQL has the leases that share that work), so the hub holds an exclusive ``flock`` on
``<database>.hub-lock`` while it runs. The lock goes with the process, even on ``kill -9``.
The CLI's other commands (users, tokens, devices) do not take it: they may run beside the hub.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from loneguard.server.config import ConfigError


class HubLock:
    def __init__(self, database: str | Path) -> None:
        self.path = Path(f"{database}.hub-lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"db.url: another hub is already running on sqlite:///{str(self.path)[:-9]};"
                " SQLite serves one hub: use postgresql://... to run several"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
