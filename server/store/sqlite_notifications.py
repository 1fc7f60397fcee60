"""Escalation notifications (SQL shared by both databases): written before they are sent,
updated per attempt.

The rows of one ladder evaluation go in with one transaction and ``ON CONFLICT DO NOTHING`` on
the idempotency key (a UNIQUE column), and only the rows that transaction created are handed back
to be dispatched: after a restart a step is never sent twice, and a row still ``pending`` is sent
again. On PostgreSQL the same constraint holds across hubs: when two hubs evaluate one ladder at
once, the second waits for the first's commit and creates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any

from loneguard.server.store.records import (
    AlarmState,
    NewNotification,
    NotificationAttempt,
    NotificationRow,
    NotificationState,
)
from loneguard.server.store.sql import Connection, audit, for_update, greatest
from loneguard.server.store.writer import Writer

NOTIFICATION_COLUMNS = (
    "id, key, action_key, alarm_id, step, repeat, channel, recipient_name, recipient_role, "
    "recipient_ref, text, state, attempts, last_result, created_ms, updated_ms"
)
MAX_RESULT = 300


def notification_of(row: tuple[Any, ...]) -> NotificationRow:
    v = list(row)
    v[11] = NotificationState(v[11])
    return NotificationRow(*v)


def add_notifications(
    conn: Connection,
    alarm_id: int,
    rows: Sequence[NewNotification],
    next_step_ms: int | None,
    at_ms: int,
) -> list[NotificationRow] | None:
    state = conn.execute(
        f"SELECT state, checked_in_ms FROM alarms WHERE id = ?{for_update(conn)}", (alarm_id,)
    ).fetchone()
    if state is None or state[0] != str(AlarmState.OPEN) or state[1] is not None:
        return None  # someone took charge, or the worker checked in: the ladder has stopped
    created = []
    for n in rows:
        cur = conn.execute(
            "INSERT INTO notifications (key, action_key, alarm_id, step, repeat, channel,"
            " recipient_name, recipient_role, recipient_ref, text, state, last_result, created_ms,"
            " updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (
                n.key,
                n.action_key,
                alarm_id,
                n.step,
                n.repeat,
                n.channel,
                n.recipient_name,
                n.recipient_role,
                n.recipient_ref,
                n.text,
                str(n.state),
                n.last_result,
                at_ms,
                at_ms,
            ),
        )
        row = cur.fetchone()
        if row is not None:
            created.append(int(row[0]))
    conn.execute("UPDATE alarms SET next_step_ms = ? WHERE id = ?", (next_step_ms, alarm_id))
    if not created:
        return []
    marks = ",".join("?" * len(created))
    found = conn.execute(
        f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id IN ({marks}) ORDER BY id",
        created,
    ).fetchall()
    return [notification_of(r) for r in found]


def record_attempt(
    conn: Connection, key: str, attempt: int, ok: bool, final: bool, detail: str, at_ms: int
) -> None:
    state = (
        NotificationState.SENT
        if ok
        else (NotificationState.FAILED if final else NotificationState.PENDING)
    )
    row = conn.execute(
        "SELECT alarm_id, channel, recipient_role FROM notifications WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return
    conn.execute(
        f"UPDATE notifications SET state = ?, attempts = {greatest(conn)}(attempts, ?),"
        " last_result = ?, updated_ms = ? WHERE key = ?",
        (str(state), attempt, detail[:MAX_RESULT], at_ms, key),
    )
    audit(
        conn,
        at_ms,
        "hub",
        "notify.attempt",
        f"alarm:{row[0]}",
        {
            "key": key,
            "attempt": attempt,
            "ok": ok,
            "channel": row[1],
            "role": row[2],
            "result": detail[:MAX_RESULT],
        },
    )


class NotificationRows:
    """The notifications half of ``SqliteStore`` (it supplies ``writer`` and ``_read``)."""

    writer: Writer

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def add_notifications(
        self,
        alarm_id: int,
        rows: Sequence[NewNotification],
        next_step_ms: int | None,
        at_ms: int,
    ) -> Future[list[NotificationRow] | None]:
        """Create the rows not yet known; those created (None: the alarm is no longer open)."""
        rows = tuple(rows)
        return self.writer.submit(
            lambda conn: add_notifications(conn, alarm_id, rows, next_step_ms, at_ms)
        )

    def record_attempt(
        self, key: str, attempt: int, ok: bool, final: bool, detail: str, at_ms: int
    ) -> Future[None]:
        return self.writer.submit(
            lambda conn: record_attempt(conn, key, attempt, ok, final, detail, at_ms)
        )

    def record_attempts(self, attempts: Sequence[NotificationAttempt]) -> Future[None]:
        attempts = tuple(attempts)

        def run(conn: Connection) -> None:
            for a in attempts:
                record_attempt(conn, a.key, a.attempt, a.ok, a.final, a.detail, a.at_ms)

        return self.writer.submit(run)

    def notifications(
        self, alarm_id: int | None = None, state: NotificationState | None = None
    ) -> list[NotificationRow]:
        where: list[str] = []
        args: list[Any] = []
        if alarm_id is not None:
            where.append("alarm_id = ?")
            args.append(alarm_id)
        if state is not None:
            where.append("state = ?")
            args.append(str(state))
        sql = f"SELECT {NOTIFICATION_COLUMNS} FROM notifications"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [notification_of(r) for r in rows]

    def ladders_begun(self) -> frozenset[int]:
        """The open alarms with at least one notification row: their ladders have run (one
        read at hub start, instead of one per alarm)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT n.alarm_id FROM notifications n"
                " JOIN alarms a ON a.id = n.alarm_id WHERE a.state = ?",
                (str(AlarmState.OPEN),),
            ).fetchall()
        return frozenset(int(r[0]) for r in rows)

    def action_keys(self, alarm_id: int) -> frozenset[str]:
        """The ladder actions already written for an alarm (``AlarmState.sent``)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT action_key FROM notifications WHERE alarm_id = ?", (alarm_id,)
            ).fetchall()
        return frozenset(r[0] for r in rows)
