"""Which devices the hub will listen to: revoked ones never, unprovisioned ones if configured.

Ingest asks for every message, so the answer comes from a snapshot of the devices table,
reread at most every ``refresh_s`` seconds: a revocation made by the CLI (another process)
takes effect within that time without a database read per message.
"""

from __future__ import annotations

from collections.abc import Callable

from loneguard.protocol.clock import Clock
from loneguard.server.store import DeviceStanding

REVOKED = "device revoked"
NOT_PROVISIONED = "device not provisioned"


class DeviceRoster:
    def __init__(
        self,
        standings: Callable[[], dict[str, DeviceStanding]],
        clock: Clock,
        *,
        require_provisioned: bool = False,
        refresh_s: float = 2.0,
    ) -> None:
        self._standings = standings
        self._clock = clock
        self._require_provisioned = require_provisioned
        self._refresh_s = refresh_s
        self._snapshot: dict[str, DeviceStanding] = {}
        self._read_at: float | None = None

    def refusal(self, device_id: str) -> str | None:
        """Why messages from ``device_id`` must be refused, or None to accept them."""
        now = self._clock.monotonic()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            self._snapshot = self._standings()
            self._read_at = now
        standing = self._snapshot.get(device_id)
        if standing is not None and standing.revoked:
            return REVOKED
        if self._require_provisioned and (standing is None or not standing.provisioned):
            return NOT_PROVISIONED
        return None
