"""A worker's check-in while their overdue alarm is open (SQL shared by both databases).

The check-in is written on the alarm itself (``checked_in_ms``, ``checked_in_device``), in the
same transaction as the event: the ladder reads it as state and stops, and the alarm stays open
until a person resolves it. Only the "not heard from" alarms are stopped this way: a check-in
after a panic or a duress proves nothing (it may be forced), so those ladders go on.
"""

from __future__ import annotations

from loneguard.server.store.records import Alarm, AlarmKind, AlarmState
from loneguard.server.store.sql import ALARM_COLUMNS, Connection, alarm_of, audit, for_update

# Alarms that mean "the worker has not been heard from": a check-in answers them.
ANSWERED_BY_CHECKIN = (AlarmKind.OVERDUE, AlarmKind.MISSED_CHECKIN)


def record_alarm_checkins(conn: Connection, device_id: str, at_ms: int) -> list[Alarm]:
    """Write a check-in from ``device_id`` at ``at_ms`` on its worker's unanswered alarms."""
    kinds = ", ".join("?" for _ in ANSWERED_BY_CHECKIN)
    rows = conn.execute(
        f"SELECT {ALARM_COLUMNS} FROM alarms WHERE state != ? AND checked_in_ms IS NULL"
        f" AND kind IN ({kinds}) AND (device_id = ? OR worker_id ="
        f" (SELECT worker_id FROM devices WHERE id = ?)){for_update(conn)}",
        (str(AlarmState.RESOLVED), *map(str, ANSWERED_BY_CHECKIN), device_id, device_id),
    ).fetchall()
    changed = []
    for row in rows:
        alarm = alarm_of(row)
        conn.execute(
            "UPDATE alarms SET checked_in_ms = ?, checked_in_device = ?, next_step_ms = NULL"
            " WHERE id = ?",
            (at_ms, device_id, alarm.id),
        )
        audit(
            conn,
            at_ms,
            f"device:{device_id}",
            "alarm.checkin",
            f"alarm:{alarm.id}",
            {"device": device_id},
        )
        updated = conn.execute(
            f"SELECT {ALARM_COLUMNS} FROM alarms WHERE id = ?", (alarm.id,)
        ).fetchone()
        changed.append(alarm_of(updated))
    return changed
