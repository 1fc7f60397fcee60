"""The store's interface: what ingest, the API and the CLI may ask of any database.

Writes return ``concurrent.futures.Future``s that resolve after the change is durable; async
code wraps them with ``asyncio.wrap_future``. Reads are plain calls from any thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from protocol.messages import Event, Heartbeat, Status
from server.store.records import (
    Alarm,
    AlarmState,
    ApiToken,
    AuditEntry,
    DeadLetter,
    Device,
    Effect,
    EventOutcome,
    EventRow,
    Role,
    Worker,
)


class Store(Protocol):
    # -- writes ---------------------------------------------------------------------------------
    def record_event(
        self, device_id: str, event: Event, received_ms: int, effects: Sequence[Effect]
    ) -> Future[EventOutcome]:
        """Insert the event unless its id is known; if new, apply ``effects`` and audit it."""
        ...

    def record_status(self, device_id: str, status: Status, received_ms: int) -> Future[bool]:
        """Apply a status unless its boot is older than the newest seen; True if applied."""
        ...

    def record_heartbeat(
        self, device_id: str, heartbeat: Heartbeat, received_ms: int
    ) -> Future[None]: ...

    def add_dead_letter(
        self, received_ms: int, topic: str, payload: bytes, reason: str
    ) -> Future[int]: ...

    def acknowledge_alarm(self, alarm_id: int, by: str, at_ms: int, actor: str) -> Future[Alarm]:
        """Raises (through the future) ``AlarmNotFound`` or ``AlarmConflict``."""
        ...

    def append_audit(
        self, at_ms: int, actor: str, action: str, subject: str | None, detail: dict[str, Any]
    ) -> Future[int]: ...

    def save_worker(self, worker: Worker) -> Future[None]: ...

    def assign_device(self, device_id: str, worker_id: str | None) -> Future[None]: ...

    def create_token(
        self, name: str, role: Role, token_hash: str, created_ms: int
    ) -> Future[int]: ...

    def revoke_token(self, token_id: int, at_ms: int) -> Future[bool]: ...

    # -- reads ----------------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise if the database cannot answer."""
        ...

    def devices(self) -> list[Device]: ...

    def device(self, device_id: str) -> Device | None: ...

    def workers(self) -> list[Worker]: ...

    def worker(self, worker_id: str) -> Worker | None: ...

    def alarms(self, state: AlarmState | None = None) -> list[Alarm]: ...

    def alarm(self, alarm_id: int) -> Alarm | None: ...

    def events(
        self, limit: int = 100, device_id: str | None = None, kind: str | None = None
    ) -> list[EventRow]:
        """Newest first."""
        ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    def audit(self, limit: int = 100, subject: str | None = None) -> list[AuditEntry]: ...

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The live (unrevoked) token with this hash."""
        ...

    def close(self) -> None:
        """Finish queued writes, then release the database."""
        ...
