"""What the ARC link's tests share: an alarm to send, its event, and waiting for the loop and
the store's writer thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from loneguard.server.arc.events import ArcAlarmEvent, ArcEventKind
from loneguard.server.store import AlarmKind
from loneguard.server.store.sql import Connection, insert_alarm


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop and the store's writer thread run until ``condition`` holds (I/O, never a
    timer: the timers are on the fake clock)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def open_alarm(
    now_ms: int, kind: AlarmKind = AlarmKind.PANIC, worker_id: str = "w1"
) -> Callable[[Connection], int]:
    """A write (``store.write``) that opens an alarm of ``kind`` for ``worker_id``'s unit."""

    def run(conn: Connection) -> int:
        return insert_alarm(
            conn,
            kind,
            device_id="pi-1",
            worker_id=worker_id,
            event_id=None,
            session_id=None,
            policy=str(kind),
            now_ms=now_ms,
            actor="test",
        ).id

    return run


def alarm_event(
    alarm_id: int,
    kind: str = "panic",
    which: ArcEventKind = "open",
    *,
    worker_id: str = "w1",
    occurred_ms: int = 1,
) -> ArcAlarmEvent:
    return ArcAlarmEvent(
        key=ArcAlarmEvent.key_for(alarm_id, which),
        alarm_id=alarm_id,
        alarm_kind=kind,
        event=which,
        worker_id=worker_id,
        device_id="pi-1",
        occurred_ms=occurred_ms,
    )
