"""The console's users and logins, and visit plans and records (SQL shared by both databases).

Writes run in the store's writer and are audited in the same transaction, as every other change.
"""

from __future__ import annotations

from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any

from loneguard.server.store.records import (
    ConsoleLogin,
    ConsoleUser,
    ConsoleUserExists,
    Role,
    VisitPlan,
    VisitRecord,
)
from loneguard.server.store.safety_rows import forget_assessment_text
from loneguard.server.store.sql import Connection, audit
from loneguard.server.store.writer import Writer

_USER_COLUMNS = "name, role, password_hash, disabled_ms"
_RECORD_COLUMNS = "session_id, reason, points, agreements, concerns, written_by, written_ms"


def _user(row: tuple[Any, ...]) -> ConsoleUser:
    return ConsoleUser(row[0], Role(row[1]), row[2], row[3] is not None)


def _end_logins_of(conn: Connection, name: str, at_ms: int) -> None:
    conn.execute(
        "UPDATE console_logins SET ended_ms = ? WHERE user_name = ? AND ended_ms IS NULL",
        (at_ms, name),
    )


class ConsoleRows:
    """The console's half of ``SqlStore`` (it supplies ``writer`` and ``_read``)."""

    writer: Writer

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # -- users ----------------------------------------------------------------------------------
    def console_user(self, name: str) -> ConsoleUser | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM console_users WHERE name = ?", (name,)
            ).fetchone()
        return _user(row) if row else None

    def console_users(self) -> list[ConsoleUser]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM console_users ORDER BY name")
            return [_user(r) for r in rows.fetchall()]

    def create_console_user(
        self, name: str, role: Role, password_hash: str, at_ms: int, actor: str
    ) -> Future[None]:
        def run(conn: Connection) -> None:
            made = conn.execute(
                "INSERT INTO console_users (name, role, password_hash, created_ms)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, str(role), password_hash, at_ms),
            ).fetchone()
            if made is None:
                raise ConsoleUserExists(f"name: a user called {name!r} exists already")
            audit(conn, at_ms, actor, "user.create", f"user:{name}", {"role": str(role)})

        return self.writer.submit(run)

    def set_console_user_disabled(
        self, name: str, disabled: bool, at_ms: int, actor: str
    ) -> Future[bool]:
        def run(conn: Connection) -> bool:
            changed = conn.execute(
                "UPDATE console_users SET disabled_ms = ? WHERE name = ? RETURNING name",
                (at_ms if disabled else None, name),
            ).fetchone()
            if changed is None:
                return False
            if disabled:
                _end_logins_of(conn, name, at_ms)
            action = "user.disable" if disabled else "user.enable"
            audit(conn, at_ms, actor, action, f"user:{name}", {})
            return True

        return self.writer.submit(run)

    def set_console_password(
        self, name: str, password_hash: str, at_ms: int, actor: str
    ) -> Future[bool]:
        def run(conn: Connection) -> bool:
            changed = conn.execute(
                "UPDATE console_users SET password_hash = ? WHERE name = ? RETURNING name",
                (password_hash, name),
            ).fetchone()
            if changed is None:
                return False
            _end_logins_of(conn, name, at_ms)
            audit(conn, at_ms, actor, "user.passwd", f"user:{name}", {})
            return True

        return self.writer.submit(run)

    # -- logins ---------------------------------------------------------------------------------
    def start_console_login(
        self, token_hash: str, user_name: str, csrf: str, at_ms: int, expires_ms: int, ip: str
    ) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO console_logins (token_hash, user_name, csrf, created_ms, expires_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (token_hash, user_name, csrf, at_ms, expires_ms),
            )
            audit(conn, at_ms, f"user:{user_name}", "login", f"user:{user_name}", {"ip": ip})

        return self.writer.submit(run)

    def console_login(self, token_hash: str, now_ms: int) -> ConsoleLogin | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT u.name, u.role, u.password_hash, l.csrf, l.expires_ms"
                " FROM console_logins l JOIN console_users u ON u.name = l.user_name"
                " WHERE l.token_hash = ? AND l.ended_ms IS NULL AND l.expires_ms > ?"
                " AND u.disabled_ms IS NULL",
                (token_hash, now_ms),
            ).fetchone()
        if row is None:
            return None
        name, role, password_hash, csrf, expires_ms = row
        return ConsoleLogin(ConsoleUser(name, Role(role), password_hash), csrf, expires_ms)

    def end_console_login(self, token_hash: str, user_name: str, at_ms: int) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "UPDATE console_logins SET ended_ms = ? WHERE token_hash = ? AND ended_ms IS NULL",
                (at_ms, token_hash),
            )
            audit(conn, at_ms, f"user:{user_name}", "logout", f"user:{user_name}", {})

        return self.writer.submit(run)

    # -- visits ---------------------------------------------------------------------------------
    def plan_visit(self, session_id: int, planned_start_ms: int, by: str) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO visit_plans (session_id, planned_start_ms, planned_by)"
                " VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
                " planned_start_ms = excluded.planned_start_ms, planned_by = excluded.planned_by",
                (session_id, planned_start_ms, by),
            )

        return self.writer.submit(run)

    def visit_plans(self) -> dict[int, VisitPlan]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT session_id, planned_start_ms, planned_by FROM visit_plans"
            ).fetchall()
        return {r[0]: VisitPlan(*r) for r in rows}

    def save_visit_record(self, record: VisitRecord, actor: str) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO visit_records ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (session_id) DO UPDATE SET reason = excluded.reason,"
                " points = excluded.points, agreements = excluded.agreements,"
                " concerns = excluded.concerns, written_by = excluded.written_by,"
                " written_ms = excluded.written_ms",
                (
                    record.session_id,
                    record.reason,
                    record.points,
                    record.agreements,
                    record.concerns,
                    record.written_by,
                    record.written_ms,
                ),
            )
            # What was written stays in the record; the log says only who wrote it and when.
            audit(
                conn, record.written_ms, actor, "visit.record", f"session:{record.session_id}", {}
            )

        return self.writer.submit(run)

    def visit_record(self, session_id: int) -> VisitRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM visit_records WHERE session_id = ?",
                (session_id,),
            ).fetchone()
        return VisitRecord(*row) if row else None

    def visits_with_records(self) -> frozenset[int]:
        with self._read() as conn:
            rows = conn.execute("SELECT session_id FROM visit_records").fetchall()
        return frozenset(r[0] for r in rows)

    def purge_visit_details(self, before_ms: int, at_ms: int) -> Future[int]:
        def run(conn: Connection) -> int:
            ended = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM sessions WHERE kind = 'visit' AND state = 'ended'"
                    " AND ended_ms < ? AND (address IS NOT NULL OR contact_name IS NOT NULL"
                    " OR contact_phone IS NOT NULL"
                    " OR id IN (SELECT session_id FROM visit_records))",
                    (before_ms,),
                ).fetchall()
            ]
            for session_id in ended:
                conn.execute(
                    "UPDATE sessions SET address = NULL, contact_name = NULL,"
                    " contact_phone = NULL WHERE id = ?",
                    (session_id,),
                )
                conn.execute("DELETE FROM visit_records WHERE session_id = ?", (session_id,))
                forget_assessment_text(conn, session_id)
            if ended:
                audit(conn, at_ms, "hub", "visit.purge", None, {"sessions": len(ended)})
            return len(ended)

        return self.writer.submit(run)
