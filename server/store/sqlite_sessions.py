"""Sessions and the sign-in register (SQL shared by both databases): rows, and the changes
events and timers make.

Each change reads the session, applies a pure rule from ``sessions.rules``, writes the result
(with its next deadline) and audits it, all in the writer's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from loneguard.server.sessions import rules
from loneguard.server.store.leases import release_session
from loneguard.server.store.records import (
    Alarm,
    AlarmKind,
    EndSession,
    ExtendSession,
    RegisterEntry,
    Session,
    SessionKind,
    SessionNotFound,
    SessionState,
    SignIn,
    SignOut,
    StartVisit,
)
from loneguard.server.store.sql import Connection, audit, for_update, insert_alarm, inserted_id
from loneguard.server.store.writer import Writer

SESSION_COLUMNS = (
    "id, worker_id, device_id, kind, state, started_ms, expected_end_ms, grace_s, prealert_s, "
    "prealert_sent, address, contact_name, contact_phone, accompanied, approved_by, "
    "checkin_interval_s, last_checkin_ms, ended_ms, ended_by, next_deadline_ms"
)
_LIVE = "state != 'ended'"

SessionEffect = StartVisit | ExtendSession | EndSession | SignIn | SignOut
# (alarm kind, session) -> the policy name the alarm keeps
PolicyFor = Callable[[AlarmKind, Session], str]


@dataclass(frozen=True)
class Reached:
    """What a deadline did: the advance, and the alarm it opened (if any)."""

    advance: rules.Advance
    alarm: Alarm | None


def session_of(row: tuple[Any, ...]) -> Session:
    v = list(row)
    v[3], v[4] = SessionKind(v[3]), SessionState(v[4])
    v[9], v[13] = bool(v[9]), bool(v[13])
    return Session(*v)


def select_session(conn: Connection, session_id: int, *, lock: bool = False) -> Session | None:
    row = conn.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?{for_update(conn) if lock else ''}",
        (session_id,),
    ).fetchone()
    return session_of(row) if row else None


def live_session_of_device(conn: Connection, device_id: str) -> Session | None:
    row = conn.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE device_id = ? AND {_LIVE}"
        " ORDER BY id DESC LIMIT 1",
        (device_id,),
    ).fetchone()
    return session_of(row) if row else None


def device_owner(conn: Connection, device_id: str) -> tuple[str | None, int | None]:
    """The device's worker and live session, for an alarm raised from it."""
    row = conn.execute("SELECT worker_id FROM devices WHERE id = ?", (device_id,)).fetchone()
    session = live_session_of_device(conn, device_id)
    worker_id = row[0] if row and row[0] else (session.worker_id if session else None)
    return worker_id, session.id if session else None


def insert_session(conn: Connection, plan: rules.SessionPlan, actor: str) -> Session:
    cur = conn.execute(
        "INSERT INTO sessions (worker_id, device_id, kind, state, started_ms, expected_end_ms,"
        " grace_s, prealert_s, address, contact_name, contact_phone, accompanied, approved_by,"
        " checkin_interval_s, last_checkin_ms) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?, ?) RETURNING id",
        (
            plan.worker_id,
            plan.device_id,
            str(plan.kind),
            plan.started_ms,
            plan.expected_end_ms,
            plan.grace_s,
            plan.prealert_s,
            plan.address,
            plan.contact_name,
            plan.contact_phone,
            int(plan.accompanied),
            plan.approved_by,
            plan.checkin_interval_s,
            plan.started_ms if plan.kind == SessionKind.SHIFT else None,
        ),
    )
    session_id = inserted_id(cur)
    created = select_session(conn, session_id)
    assert created is not None
    saved = save_session(conn, created)
    detail: dict[str, Any] = {"kind": str(plan.kind), "worker_id": plan.worker_id}
    if plan.kind == SessionKind.VISIT:
        detail["accompanied"] = plan.accompanied
        detail["approved_by"] = plan.approved_by
        detail["expected_end_ms"] = plan.expected_end_ms
    else:
        detail["checkin_interval_s"] = plan.checkin_interval_s
    audit(conn, plan.started_ms, actor, "session.start", f"session:{session_id}", detail)
    return saved


def save_session(conn: Connection, s: Session) -> Session:
    """Write a session's mutable columns; its next deadline is recomputed from the rules."""
    deadline = rules.next_deadline(s)
    conn.execute(
        "UPDATE sessions SET state = ?, expected_end_ms = ?, prealert_sent = ?,"
        " last_checkin_ms = ?, ended_ms = ?, ended_by = ?, next_deadline_ms = ? WHERE id = ?",
        (
            str(s.state),
            s.expected_end_ms,
            int(s.prealert_sent),
            s.last_checkin_ms,
            s.ended_ms,
            s.ended_by,
            deadline,
            s.id,
        ),
    )
    saved = select_session(conn, s.id)
    assert saved is not None
    return saved


def change_session(
    conn: Connection,
    session_id: int,
    change: Callable[[Session], Session],
    at_ms: int,
    actor: str,
    action: str,
) -> Session:
    before = select_session(conn, session_id, lock=True)
    if before is None:
        raise SessionNotFound(f"no session {session_id}")
    after = save_session(conn, change(before))
    detail: dict[str, Any] = {"state": str(after.state)}
    if after.expected_end_ms != before.expected_end_ms:
        detail["expected_end_ms"] = after.expected_end_ms
    audit(conn, at_ms, actor, action, f"session:{session_id}", detail)
    return after


def apply_effect(
    conn: Connection, effect: SessionEffect, device_id: str, received_ms: int
) -> Session | None:
    """A device event's effect on its sessions and the register; the session it changed."""
    actor = f"device:{device_id}"
    live = live_session_of_device(conn, device_id)
    if isinstance(effect, StartVisit):
        if live is not None and live.kind == SessionKind.VISIT:
            # The worker's new length replaces the old one; a planned visit keeps its contact
            # and address, which the overdue ladder needs.
            return change_session(
                conn,
                live.id,
                lambda s: rules.retime(s, effect.minutes, received_ms),
                received_ms,
                actor,
                "session.retime",
            )
        if live is not None:
            change_session(
                conn,
                live.id,
                lambda s: rules.end(s, received_ms, "replaced"),
                received_ms,
                actor,
                "session.end",
            )
        row = conn.execute("SELECT worker_id FROM devices WHERE id = ?", (device_id,)).fetchone()
        plan = rules.SessionPlan(
            kind=SessionKind.VISIT,
            worker_id=row[0] if row else None,
            device_id=device_id,
            started_ms=received_ms,
            grace_s=effect.grace_s,
            prealert_s=effect.prealert_s,
            expected_end_ms=received_ms + effect.minutes * 60_000,
        )
        plan.check(require_approval=False)  # recorded: the audit shows approved_by null
        return insert_session(conn, plan, actor)
    if isinstance(effect, SignIn | SignOut):
        _register(conn, effect, device_id, received_ms)
        return None
    if live is None:
        return None
    if isinstance(effect, ExtendSession):
        change = lambda s: rules.extend(s, effect.minutes, received_ms)  # noqa: E731
        action = "session.extend"
    elif effect.by_checkin:
        change = lambda s: rules.checkin(s, received_ms)  # noqa: E731
        action = "session.checkin"
    else:
        change = lambda s: rules.end(s, received_ms, actor)  # noqa: E731
        action = "session.end"
    return change_session(conn, live.id, change, received_ms, actor, action)


def _register(conn: Connection, effect: SignIn | SignOut, device_id: str, at_ms: int) -> None:
    row = conn.execute("SELECT worker_id FROM devices WHERE id = ?", (device_id,)).fetchone()
    worker_id = row[0] if row else None
    conn.execute(
        "UPDATE register SET signed_out_ms = ? WHERE device_id = ? AND signed_out_ms IS NULL",
        (at_ms, device_id),
    )
    if isinstance(effect, SignIn):
        conn.execute(
            "INSERT INTO register (worker_id, device_id, signed_in_ms) VALUES (?, ?, ?)",
            (worker_id, device_id, at_ms),
        )
    action = "register.sign_in" if isinstance(effect, SignIn) else "register.sign_out"
    audit(conn, at_ms, f"device:{device_id}", action, f"device:{device_id}", {})


def reach_deadline(
    conn: Connection, session_id: int, now_ms: int, policy_for: PolicyFor
) -> Reached | None:
    session = select_session(conn, session_id, lock=True)
    if session is None:
        return None
    step = rules.advance(session, now_ms)
    saved = save_session(conn, step.session)
    alarm = None
    if step.alarm is not None:
        alarm = insert_alarm(
            conn,
            step.alarm,
            device_id=saved.device_id,
            worker_id=saved.worker_id,
            event_id=None,
            session_id=saved.id,
            policy=policy_for(step.alarm, saved),
            now_ms=now_ms,
            actor="hub",
        )
    if saved.state != session.state:
        audit(
            conn,
            now_ms,
            "hub",
            f"session.{saved.state}",
            f"session:{session_id}",
            {"alarm": alarm.id if alarm else None},
        )
    release_session(conn, session_id)
    return Reached(rules.Advance(saved, step.send_prealert, step.alarm), alarm)


def open_session_alarm(
    conn: Connection, session_id: int, kind: AlarmKind, policy: str, now_ms: int
) -> Alarm | None:
    """Open ``kind`` for a live session, unless one is already open or acknowledged."""
    session = select_session(conn, session_id, lock=True)  # one hub opens it, not two
    if session is None or session.state == SessionState.ENDED:
        return None
    open_already = conn.execute(
        "SELECT 1 FROM alarms WHERE session_id = ? AND kind = ? AND state != 'resolved'",
        (session_id, str(kind)),
    ).fetchone()
    if open_already:
        return None
    return insert_alarm(
        conn,
        kind,
        device_id=session.device_id,
        worker_id=session.worker_id,
        event_id=None,
        session_id=session_id,
        policy=policy,
        now_ms=now_ms,
        actor="hub",
    )


class SessionRows:
    """The sessions half of ``SqliteStore`` (it supplies ``writer`` and ``_read``)."""

    writer: Writer

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def start_session(self, plan: rules.SessionPlan, actor: str) -> Future[Session]:
        return self.writer.submit(lambda conn: insert_session(conn, plan, actor))

    def change_session(
        self,
        session_id: int,
        change: Callable[[Session], Session],
        at_ms: int,
        actor: str,
        action: str,
    ) -> Future[Session]:
        """Apply a pure rule (``sessions.rules.end`` / ``extend``...) to a stored session."""
        return self.writer.submit(
            lambda conn: change_session(conn, session_id, change, at_ms, actor, action)
        )

    def reach_session_deadline(
        self, session_id: int, now_ms: int, policy_for: PolicyFor
    ) -> Future[Reached | None]:
        return self.writer.submit(lambda conn: reach_deadline(conn, session_id, now_ms, policy_for))

    def open_session_alarm(
        self, session_id: int, kind: AlarmKind, policy: str, now_ms: int
    ) -> Future[Alarm | None]:
        return self.writer.submit(
            lambda conn: open_session_alarm(conn, session_id, kind, policy, now_ms)
        )

    def sessions(self, state: SessionState | None = None) -> list[Session]:
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions"
        args: tuple[Any, ...] = ()
        if state is not None:
            sql, args = sql + " WHERE state = ?", (str(state),)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY id DESC", args).fetchall()
        return [session_of(r) for r in rows]

    def session(self, session_id: int) -> Session | None:
        with self._read() as conn:
            return select_session(conn, session_id)

    def sessions_with_deadlines(self) -> list[Session]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE next_deadline_ms IS NOT NULL"
                f" AND {_LIVE} ORDER BY next_deadline_ms"
            ).fetchall()
        return [session_of(r) for r in rows]

    def live_session(self, device_id: str) -> Session | None:
        with self._read() as conn:
            return live_session_of_device(conn, device_id)

    def signed_in(self) -> list[RegisterEntry]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, worker_id, device_id, signed_in_ms, signed_out_ms FROM register"
                " WHERE signed_out_ms IS NULL ORDER BY signed_in_ms"
            ).fetchall()
        return [RegisterEntry(*r) for r in rows]
