"""SQL helpers shared by the SQLite store's parts: rows to records, and the audit append."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from server.store.records import Alarm, AlarmKind, AlarmState

ALARM_COLUMNS = (
    "id, kind, state, device_id, worker_id, event_id, opened_ms, acknowledged_by, "
    "acknowledged_ms, resolved_by, resolved_ms, outcome, notes, policy, session_id, started_ms, "
    "next_step_ms"
)


def to_json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def audit(
    conn: sqlite3.Connection,
    at_ms: int,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
) -> int:
    cur = conn.execute(
        "INSERT INTO audit (at_ms, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        (at_ms, actor, action, subject, to_json(detail)),
    )
    return int(cur.lastrowid or 0)


def alarm_of(row: sqlite3.Row | tuple[Any, ...]) -> Alarm:
    values = list(row)
    values[1] = AlarmKind(values[1])
    values[2] = AlarmState(values[2])
    return Alarm(*values)


def select_alarm(conn: sqlite3.Connection, alarm_id: int) -> Alarm | None:
    row = conn.execute(f"SELECT {ALARM_COLUMNS} FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
    return alarm_of(row) if row else None


def insert_alarm(
    conn: sqlite3.Connection,
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
        " session_id, started_ms) VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?)",
        (str(kind), device_id, worker_id, event_id, now_ms, policy, session_id, now_ms),
    )
    alarm_id = int(cur.lastrowid or 0)
    detail: dict[str, Any] = {"kind": str(kind), "policy": policy}
    if event_id is not None:
        detail["event_id"] = event_id
    if session_id is not None:
        detail["session_id"] = session_id
    audit(conn, now_ms, actor, "alarm.open", f"alarm:{alarm_id}", detail)
    alarm = select_alarm(conn, alarm_id)
    assert alarm is not None
    return alarm
