"""SQL shared by both databases: the connection the store's code needs, rows to records, and the
audit append.

The store's SQL is written once, in the part of the language SQLite and PostgreSQL both accept
(``?`` placeholders, ``ON CONFLICT DO NOTHING``, ``RETURNING id``); the PostgreSQL connection
turns the placeholders into its own. The few words that differ come from the helpers below.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from loneguard.server.store.records import Alarm, AlarmKind, AlarmState

ALARM_COLUMNS = (
    "id, kind, state, device_id, worker_id, event_id, opened_ms, acknowledged_by, "
    "acknowledged_ms, resolved_by, resolved_ms, outcome, notes, policy, session_id, started_ms, "
    "next_step_ms, checked_in_ms, checked_in_device"
)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the store's code asks of a connection: ``sqlite3.Connection`` is one as it is."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...

    @property
    def in_transaction(self) -> bool: ...

    def close(self) -> None: ...


def is_postgres(conn: Connection) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def is_broken(conn: Connection) -> bool:
    """The server side of the connection is gone (a PostgreSQL restart); SQLite's never is."""
    return bool(getattr(conn, "broken", False))


def greatest(conn: Connection) -> str:
    """The two-argument maximum: SQLite's scalar ``max``, PostgreSQL's ``greatest``."""
    return "greatest" if is_postgres(conn) else "max"


def for_update(conn: Connection) -> str:
    """Lock the rows read until the transaction ends: other hubs on PostgreSQL wait for it.
    SQLite has one writer, so its transactions never interleave and need no row locks."""
    return " FOR UPDATE" if is_postgres(conn) else ""


def to_json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def inserted_id(cur: Cursor) -> int:
    """The id an ``INSERT ... RETURNING id`` made."""
    row = cur.fetchone()
    return int(row[0])


# The audit line of most events: the action names the kind and the events row holds the rest.
NO_DETAIL = "{}"


def append_audit(
    conn: Connection, at_ms: int, actor: str, action: str, subject: str, detail: str
) -> None:
    """An audit line whose id nobody needs and whose detail is JSON already: no result to wait
    for, so on PostgreSQL it rides in the writer's pipeline without a round trip of its own."""
    conn.execute(
        "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        (at_ms, actor, action, subject, detail),
    )


def audit(
    conn: Connection,
    at_ms: int,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
) -> int:
    cur = conn.execute(
        "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        (at_ms, actor, action, subject, to_json(detail)),
    )
    return inserted_id(cur)


def alarm_of(row: tuple[Any, ...]) -> Alarm:
    values = list(row)
    values[1] = AlarmKind(values[1])
    values[2] = AlarmState(values[2])
    return Alarm(*values)


def select_alarm(conn: Connection, alarm_id: int, *, lock: bool = False) -> Alarm | None:
    row = conn.execute(
        f"SELECT {ALARM_COLUMNS} FROM alarms WHERE id = ?{for_update(conn) if lock else ''}",
        (alarm_id,),
    ).fetchone()
    return alarm_of(row) if row else None


def insert_alarm(
    conn: Connection,
    kind: AlarmKind,
    *,
    device_id: str | None,
    worker_id: str | None,
    event_id: str | None,
    session_id: int | None,
    policy: str,
    now_ms: int,
    actor: str,
) -> Alarm:
    """Open an alarm; its ladder counts from ``now_ms``."""
    cur = conn.execute(
        "INSERT INTO alarms (kind, state, device_id, worker_id, event_id, opened_ms, policy,"
        " session_id, started_ms) VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (str(kind), device_id, worker_id, event_id, now_ms, policy, session_id, now_ms),
    )
    alarm_id = inserted_id(cur)
    detail: dict[str, Any] = {"kind": str(kind), "policy": policy}
    if event_id is not None:
        detail["event_id"] = event_id
    if session_id is not None:
        detail["session_id"] = session_id
    audit(conn, now_ms, actor, "alarm.open", f"alarm:{alarm_id}", detail)
    alarm = select_alarm(conn, alarm_id)
    assert alarm is not None
    return alarm
