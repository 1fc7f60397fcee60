"""The store's SQL, shared by both databases (``SqlStore``), and the SQLite store: WAL,
synchronous=FULL, one writer thread, a pool of reader connections."""

from __future__ import annotations

import json
import queue
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from loneguard.protocol.messages import DeviceState, Event, EventKind, Status
from loneguard.server.store.alarm_checkins import record_alarm_checkins
from loneguard.server.store.arc_rows import ArcRows
from loneguard.server.store.console_rows import ConsoleRows
from loneguard.server.store.event_copies import EVENT_COLUMNS, complete_event, event_row
from loneguard.server.store.last_seen import LAST_SEEN_ROWS, save_last_seen
from loneguard.server.store.leases import LeaseRows
from loneguard.server.store.migrations import migrate
from loneguard.server.store.outreach_rows import OutreachRows
from loneguard.server.store.records import (
    Alarm,
    AlarmConflict,
    AlarmKind,
    AlarmNotFound,
    AlarmState,
    ApiToken,
    AuditEntry,
    DeadLetter,
    Device,
    DeviceStanding,
    Effect,
    EventOutcome,
    EventRow,
    LastHeard,
    OpenAlarm,
    RecordCheckin,
    Role,
    Worker,
)
from loneguard.server.store.safety_rows import SafetyRows
from loneguard.server.store.sql import (
    ALARM_COLUMNS,
    NO_DETAIL,
    Connection,
    alarm_of,
    append_audit,
    audit,
    for_update,
    greatest,
    insert_alarm,
    inserted_id,
    is_broken,
    select_alarm,
    to_json,
)
from loneguard.server.store.sqlite_notifications import NotificationRows
from loneguard.server.store.sqlite_sessions import (
    SessionRows,
    apply_effect,
    device_owner,
)
from loneguard.server.store.writer import Writer

T = TypeVar("T")

DEAD_LETTER_MAX_BYTES = 1024
BUSY_TIMEOUT_S = 30.0


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, durable commits."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


_json = to_json
_audit = audit


def _ensure_device(conn: Connection, device_id: str) -> None:
    conn.execute("INSERT INTO devices (id) VALUES (?) ON CONFLICT DO NOTHING", (device_id,))


_ALARM_COLUMNS = ALARM_COLUMNS
_DEVICE_COLUMNS = (
    "id, worker_id, online, boot, fw, last_seen_ms, last_heartbeat_ms, rssi, battery, queued, "
    "last_checkin_ms"
)


_alarm = alarm_of
_WORKER_COLUMNS = (
    "id, name, mobile, home_phone, line_manager, last_checkin_ms, apprise_urls, policy"
)


def _worker(row: tuple[Any, ...]) -> Worker:
    values = list(row)
    values[6] = tuple(json.loads(values[6] or "[]"))
    return Worker(*values)


def _device(row: tuple[Any, ...]) -> Device:
    values = list(row)
    values[2] = bool(values[2])
    return Device(*values)


_select_alarm = select_alarm


class SqlStore(
    SessionRows, NotificationRows, LeaseRows, ConsoleRows, SafetyRows, OutreachRows, ArcRows
):
    """Every query of the store; a subclass opens the database, migrates it, starts the writer."""

    writer: Writer

    def __init__(self, connect: Callable[[], Connection], *, now_ms: Callable[[], int]) -> None:
        self._connect = connect
        self._now_ms = now_ms
        self._readers: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._all_readers: list[Connection] = []

    # -- plumbing -------------------------------------------------------------------------------
    def write(self, fn: Callable[[Connection], T]) -> Future[T]:
        """Run ``fn`` in the writer's next transaction (an escape hatch for tests and tools)."""
        return self.writer.submit(fn)

    def read(self) -> AbstractContextManager[Connection]:
        """A reader connection from the pool (the twin of ``write``, for tests and tools)."""
        return self._read()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
            self._all_readers.append(conn)
        try:
            yield conn
        finally:
            if is_broken(conn):  # the server restarted: the next read opens a new one
                self._all_readers.remove(conn)
                conn.close()
            else:
                self._readers.put(conn)

    def close(self) -> None:
        self.writer.close()
        for conn in self._all_readers:
            conn.close()
        self._all_readers.clear()

    # -- writes ---------------------------------------------------------------------------------
    def record_event(
        self,
        device_id: str,
        event: Event,
        received_ms: int,
        effects: Sequence[Effect],
        *,
        urgent: bool = False,
    ) -> Future[EventOutcome]:
        body = _json(event.to_json())

        def run(conn: Connection) -> EventOutcome:
            # The key is (device, id): a copy already stored (a redelivery, or the other path's
            # copy) conflicts and goes to complete_event; on PostgreSQL a second hub inserting the
            # same key at the same instant waits for the first, then conflicts too.
            cur = conn.execute(
                "INSERT INTO events (id, device_id, kind, ts_ms, seq, link, received_ms, body,"
                " links) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    event.id,
                    device_id,
                    str(event.kind),
                    event.ts,
                    event.seq,
                    str(event.link),
                    received_ms,
                    body,
                    str(event.link),
                ),
            )
            if cur.rowcount == 0:
                return complete_event(conn, device_id, event, received_ms)
            _ensure_device(conn, device_id)
            alarms = []
            sessions = []
            checked_in: list[Alarm] = []
            for effect in effects:
                if isinstance(effect, OpenAlarm):
                    alarms.append(
                        self._open_alarm(conn, effect.kind, device_id, event, received_ms)
                    )
                elif isinstance(effect, RecordCheckin):
                    at_ms = self._record_checkin(conn, device_id, event, received_ms)
                    checked_in += record_alarm_checkins(conn, device_id, at_ms)
                else:
                    changed = apply_effect(conn, effect, device_id, received_ms)
                    if changed is not None:
                        sessions.append(changed)
            # The action names the kind and the events row keeps seq, link and body: the line
            # adds only the alarms the event opened (most events open none: no JSON to build).
            detail = _json({"alarms": [a.id for a in alarms]}) if alarms else NO_DETAIL
            append_audit(
                conn, received_ms, f"device:{device_id}", f"event.{event.kind}", event.id, detail
            )
            return EventOutcome(
                inserted=True,
                alarms=tuple(alarms),
                sessions=tuple(sessions),
                checked_in=tuple(checked_in),
            )

        # Keyed by device: a panic takes that device's earlier events ahead with it.
        return self.writer.submit(run, urgent=urgent, key=device_id)

    @staticmethod
    def _open_alarm(
        conn: Connection, kind: AlarmKind, device_id: str, event: Event, now_ms: int
    ) -> Alarm:
        worker_id, session_id = device_owner(conn, device_id)
        return insert_alarm(
            conn,
            kind,
            device_id=device_id,
            worker_id=worker_id,
            event_id=event.id,
            session_id=session_id,
            policy=str(kind),
            now_ms=now_ms,
            actor=f"device:{device_id}",
        )

    @staticmethod
    def _record_checkin(conn: Connection, device_id: str, event: Event, received_ms: int) -> int:
        # The press time, but never later than its arrival: a device clock running fast must not
        # push the worker's last check-in into the future. An older check-in arriving late (from
        # an outbox or SMS) never moves it backwards.
        at_ms = min(event.ts, received_ms)
        latest = f"{greatest(conn)}(coalesce(last_checkin_ms, 0), ?)"
        conn.execute(
            f"UPDATE devices SET last_checkin_ms = {latest} WHERE id = ?", (at_ms, device_id)
        )
        conn.execute(
            f"UPDATE workers SET last_checkin_ms = {latest}"
            " WHERE id = (SELECT worker_id FROM devices WHERE id = ?)",
            (at_ms, device_id),
        )
        return at_ms

    def record_status(self, device_id: str, status: Status, received_ms: int) -> Future[bool]:
        online = status.state == DeviceState.ONLINE

        def run(conn: Connection) -> bool:
            _ensure_device(conn, device_id)
            before = conn.execute(
                f"SELECT online, boot FROM devices WHERE id = ?{for_update(conn)}", (device_id,)
            ).fetchone()
            if before[1] is not None and status.boot < before[1]:
                return False  # a late last will from an earlier boot
            conn.execute(
                "UPDATE devices SET online = ?, boot = ?, fw = coalesce(?, fw), last_seen_ms = ?"
                " WHERE id = ?",
                (int(online), status.boot, status.fw, received_ms, device_id),
            )
            if bool(before[0]) != online or before[1] != status.boot:
                detail: dict[str, Any] = {"boot": status.boot}
                if status.reason:
                    detail["reason"] = status.reason
                _audit(
                    conn,
                    received_ms,
                    f"device:{device_id}",
                    f"device.{status.state}",
                    f"device:{device_id}",
                    detail,
                )
            return True

        return self.writer.submit(run)

    def record_last_seen(self, heard: Sequence[LastHeard]) -> Future[None]:
        newest: dict[str, LastHeard] = {}
        for row in heard:  # one row a device: an upsert may not touch a row twice
            if row.device_id not in newest or newest[row.device_id].at_ms <= row.at_ms:
                newest[row.device_id] = row
        rows = list(newest.values())

        def run(conn: Connection) -> None:
            for start in range(0, len(rows), LAST_SEEN_ROWS):
                save_last_seen(conn, rows[start : start + LAST_SEEN_ROWS])

        return self.writer.submit(run)

    def add_dead_letter(
        self, received_ms: int, topic: str, payload: bytes, reason: str
    ) -> Future[int]:
        kept = payload[:DEAD_LETTER_MAX_BYTES]
        try:
            text, encoding = kept.decode("utf-8"), "text"
        except UnicodeDecodeError:
            text, encoding = kept.hex(), "hex"

        def run(conn: Connection) -> int:
            cur = conn.execute(
                "INSERT INTO dead_letters (received_ms, topic, payload, payload_encoding,"
                " payload_size, reason) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (received_ms, topic[:512], text, encoding, len(payload), reason[:500]),
            )
            return inserted_id(cur)

        return self.writer.submit(run)

    def acknowledge_alarm(self, alarm_id: int, by: str, at_ms: int, actor: str) -> Future[Alarm]:
        def run(conn: Connection) -> Alarm:
            alarm = _select_alarm(conn, alarm_id, lock=True)
            if alarm is None:
                raise AlarmNotFound(f"no alarm {alarm_id}")
            if alarm.state == AlarmState.RESOLVED:
                raise AlarmConflict(alarm, f"alarm {alarm_id} is already resolved")
            if alarm.state == AlarmState.ACKNOWLEDGED:
                if alarm.acknowledged_by == by:
                    return alarm  # a retry by the same person changes nothing
                raise AlarmConflict(
                    alarm, f"alarm {alarm_id} is already acknowledged by {alarm.acknowledged_by}"
                )
            conn.execute(
                "UPDATE alarms SET state = 'acknowledged', acknowledged_by = ?,"
                " acknowledged_ms = ?, next_step_ms = NULL WHERE id = ?",
                (by, at_ms, alarm_id),
            )
            _audit(conn, at_ms, actor, "alarm.acknowledge", f"alarm:{alarm_id}", {"by": by})
            updated = _select_alarm(conn, alarm_id)
            assert updated is not None
            return updated

        return self.writer.submit(run)

    def resolve_alarm(
        self, alarm_id: int, by: str, outcome: str, notes: str, at_ms: int, actor: str
    ) -> Future[Alarm]:
        """Close an alarm with its outcome; an open alarm is acknowledged by ``by`` first."""

        def run(conn: Connection) -> Alarm:
            alarm = _select_alarm(conn, alarm_id, lock=True)
            if alarm is None:
                raise AlarmNotFound(f"no alarm {alarm_id}")
            if alarm.state == AlarmState.RESOLVED:
                raise AlarmConflict(alarm, f"alarm {alarm_id} is already resolved")
            if alarm.state == AlarmState.OPEN:
                conn.execute(
                    "UPDATE alarms SET acknowledged_by = ?, acknowledged_ms = ? WHERE id = ?",
                    (by, at_ms, alarm_id),
                )
                _audit(conn, at_ms, actor, "alarm.acknowledge", f"alarm:{alarm_id}", {"by": by})
            conn.execute(
                "UPDATE alarms SET state = 'resolved', resolved_by = ?, resolved_ms = ?,"
                " outcome = ?, notes = ?, next_step_ms = NULL WHERE id = ?",
                (by, at_ms, outcome, notes, alarm_id),
            )
            _audit(
                conn,
                at_ms,
                actor,
                "alarm.resolve",
                f"alarm:{alarm_id}",
                {"by": by, "outcome": outcome},
            )
            updated = _select_alarm(conn, alarm_id)
            assert updated is not None
            return updated

        return self.writer.submit(run)

    def append_audit(
        self, at_ms: int, actor: str, action: str, subject: str | None, detail: dict[str, Any]
    ) -> Future[int]:
        return self.writer.submit(lambda conn: _audit(conn, at_ms, actor, action, subject, detail))

    def save_worker(self, worker: Worker, actor: str | None = None) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO workers (id, name, mobile, home_phone, line_manager, last_checkin_ms,"
                " apprise_urls, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
                " SET name = excluded.name, mobile = excluded.mobile,"
                " home_phone = excluded.home_phone, line_manager = excluded.line_manager,"
                " apprise_urls = excluded.apprise_urls, policy = excluded.policy",
                (
                    worker.id,
                    worker.name,
                    worker.mobile,
                    worker.home_phone,
                    worker.line_manager,
                    worker.last_checkin_ms,
                    json.dumps(list(worker.apprise_urls)),
                    worker.policy,
                ),
            )
            if actor is not None:  # the fields changed, never their values: they are personal
                _audit(conn, self._now_ms(), actor, "worker.save", f"worker:{worker.id}", {})

        return self.writer.submit(run)

    def assign_device(
        self, device_id: str, worker_id: str | None, actor: str | None = None
    ) -> Future[None]:
        def run(conn: Connection) -> None:
            _ensure_device(conn, device_id)
            conn.execute("UPDATE devices SET worker_id = ? WHERE id = ?", (worker_id, device_id))
            if actor is not None:
                _audit(
                    conn,
                    self._now_ms(),
                    actor,
                    "device.assign",
                    f"device:{device_id}",
                    {"worker_id": worker_id},
                )

        return self.writer.submit(run)

    def set_device_secret(self, device_id: str, secret: str, actor: str) -> Future[None]:
        def run(conn: Connection) -> None:
            _ensure_device(conn, device_id)
            conn.execute("UPDATE devices SET sms_secret = ? WHERE id = ?", (secret, device_id))
            _audit(conn, self._now_ms(), actor, "device.sms_secret", f"device:{device_id}", {})

        return self.writer.submit(run)

    def provision_device(
        self, device_id: str, sms_secret: str, at_ms: int, actor: str
    ) -> Future[None]:
        def run(conn: Connection) -> None:
            _ensure_device(conn, device_id)
            conn.execute(
                "UPDATE devices SET sms_secret = ?, provisioned_ms = ?, revoked_ms = NULL"
                " WHERE id = ?",
                (sms_secret, at_ms, device_id),
            )
            _audit(conn, at_ms, actor, "device.provision", f"device:{device_id}", {})

        return self.writer.submit(run)

    def revoke_device(self, device_id: str, at_ms: int, actor: str) -> Future[bool]:
        def run(conn: Connection) -> bool:
            cur = conn.execute(
                "UPDATE devices SET sms_secret = NULL, revoked_ms = ? WHERE id = ?",
                (at_ms, device_id),
            )
            if cur.rowcount:
                _audit(conn, at_ms, actor, "device.revoke", f"device:{device_id}", {})
            return cur.rowcount > 0

        return self.writer.submit(run)

    def device_standings(self) -> dict[str, DeviceStanding]:
        with self._read() as conn:
            rows = conn.execute("SELECT id, provisioned_ms, revoked_ms FROM devices").fetchall()
        return {
            r[0]: DeviceStanding(provisioned=r[1] is not None, revoked=r[2] is not None)
            for r in rows
        }

    def device_secret(self, device_id: str) -> bytes | None:
        """The device's SMS fallback secret; never shown by the API."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT sms_secret FROM devices WHERE id = ?", (device_id,)
            ).fetchone()
        return row[0].encode() if row and row[0] else None

    def create_token(self, name: str, role: Role, token_hash: str, created_ms: int) -> Future[int]:
        def run(conn: Connection) -> int:
            cur = conn.execute(
                "INSERT INTO api_tokens (name, role, token_hash, created_ms) VALUES (?, ?, ?, ?)"
                " RETURNING id",
                (name, str(role), token_hash, created_ms),
            )
            token_id = inserted_id(cur)
            _audit(
                conn,
                created_ms,
                "cli",
                "token.create",
                f"token:{token_id}",
                {"name": name, "role": str(role)},
            )
            return token_id

        return self.writer.submit(run)

    def revoke_token(self, token_id: int, at_ms: int) -> Future[bool]:
        def run(conn: Connection) -> bool:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                (at_ms, token_id),
            )
            if cur.rowcount:
                _audit(conn, at_ms, "cli", "token.revoke", f"token:{token_id}", {})
            return cur.rowcount > 0

        return self.writer.submit(run)

    # -- reads ----------------------------------------------------------------------------------
    def ping(self) -> None:
        with self._read() as conn:
            conn.execute("SELECT 1").fetchone()

    def devices(self) -> list[Device]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id").fetchall()
        return [_device(r) for r in rows]

    def device(self, device_id: str) -> Device | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE id = ?", (device_id,)
            ).fetchone()
        return _device(row) if row else None

    def workers(self) -> list[Worker]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_WORKER_COLUMNS} FROM workers ORDER BY name, id")
            return [_worker(r) for r in rows.fetchall()]

    def worker(self, worker_id: str) -> Worker | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_WORKER_COLUMNS} FROM workers WHERE id = ?", (worker_id,)
            ).fetchone()
        return _worker(row) if row else None

    def alarms(self, state: AlarmState | None = None) -> list[Alarm]:
        with self._read() as conn:
            if state is None:
                rows = conn.execute(
                    f"SELECT {_ALARM_COLUMNS} FROM alarms ORDER BY opened_ms DESC, id DESC"
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE state = ?"
                    " ORDER BY opened_ms DESC, id DESC",
                    (str(state),),
                ).fetchall()
        return [_alarm(r) for r in rows]

    def alarm(self, alarm_id: int) -> Alarm | None:
        with self._read() as conn:
            return _select_alarm(conn, alarm_id)

    def events(
        self, limit: int = 100, device_id: str | None = None, kind: str | EventKind | None = None
    ) -> list[EventRow]:
        where, args = [], []
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        if kind is not None:
            where.append("kind = ?")
            args.append(str(kind))
        sql = f"SELECT {EVENT_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY received_ms DESC, rowid DESC LIMIT ?"
        with self._read() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
        return [event_row(r) for r in rows]

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, received_ms, topic, payload, payload_encoding, payload_size, reason"
                " FROM dead_letters ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(*r) for r in rows]

    def audit(self, limit: int = 100, subject: str | None = None) -> list[AuditEntry]:
        sql = "SELECT id, at_ms, actor, action, subject, detail FROM audit"
        args: tuple[Any, ...] = ()
        if subject is not None:
            sql += " WHERE subject = ?"
            args = (subject,)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def audit_since(self, since_ms: int, actions: Sequence[str]) -> list[AuditEntry]:
        if not actions:
            return []
        marks = ", ".join("?" for _ in actions)
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, at_ms, actor, action, subject, detail FROM audit"
                f" WHERE at_ms > ? AND action IN ({marks}) ORDER BY at_ms, id",
                (since_ms, *actions),
            ).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT id, name, role, created_ms, revoked_ms FROM api_tokens"
                " WHERE token_hash = ? AND revoked_ms IS NULL",
                (token_hash,),
            ).fetchone()
        if row is None:
            return None
        return ApiToken(row[0], row[1], Role(row[2]), row[3], row[4])


class SqliteStore(SqlStore):
    """One hub's store in one SQLite file (SQLite is single-hub: see ``cluster.hub_lock``)."""

    def __init__(self, path: str | Path, *, now_ms: Callable[[], int]) -> None:
        super().__init__(lambda: connect(path), now_ms=now_ms)
        self.path = Path(path)
        conn = connect(self.path)
        try:
            migrate(conn, now_ms())
        finally:
            conn.close()
        self.writer = Writer(self._connect)
