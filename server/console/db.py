"""What the console keeps beside the hub's tables: users, logins, visit plans and records.

The tables have their own numbered steps (``console_schema_version``), so the console can grow
without renumbering the hub's migrations. Writes go through the hub store's single writer thread
and are audited in the same transaction; reads share the store's reader connections.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from loneguard.server.store.records import Role
from loneguard.server.store.sql import Connection, audit, is_postgres
from loneguard.server.store.sqlite import SqlStore

CONSOLE_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE console_users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'viewer')),
                password_hash TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                disabled_ms BIGINT
            )""",
            """CREATE TABLE console_logins (
                token_hash TEXT PRIMARY KEY,
                user_name TEXT NOT NULL REFERENCES console_users(name),
                csrf TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL,
                ended_ms BIGINT
            )""",
            """CREATE TABLE visit_plans (
                session_id BIGINT PRIMARY KEY,
                planned_start_ms BIGINT NOT NULL,
                planned_by TEXT NOT NULL
            )""",
            """CREATE TABLE visit_records (
                session_id BIGINT PRIMARY KEY,
                reason TEXT NOT NULL,
                points TEXT NOT NULL,
                agreements TEXT NOT NULL,
                concerns TEXT NOT NULL,
                written_by TEXT NOT NULL,
                written_ms BIGINT NOT NULL
            )""",
        ),
    ),
)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    disabled: bool = False


@dataclass(frozen=True)
class Login:
    user: User
    csrf: str
    expires_ms: int


@dataclass(frozen=True)
class VisitRecord:
    session_id: int
    reason: str
    points: str
    agreements: str
    concerns: str
    written_by: str
    written_ms: int


class UserExists(ValueError):
    pass


# Hubs sharing one PostgreSQL database take turns migrating the console's tables.
_CONSOLE_MIGRATION_LOCK = 0x4C47434F  # "LGCO"


def migrate_console(conn: Connection, now_ms: int) -> None:
    """Run in one of the store writer's transactions: the console's steps not yet applied."""
    if is_postgres(conn):
        conn.execute("SELECT pg_advisory_xact_lock(?)", (_CONSOLE_MIGRATION_LOCK,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS console_schema_version"
        " (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)"
    )
    row = conn.execute("SELECT max(version) FROM console_schema_version").fetchone()
    have = int(row[0]) if row[0] is not None else 0
    for version, statements in CONSOLE_MIGRATIONS:
        if version <= have:
            continue
        for statement in statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO console_schema_version (version, applied_ms) VALUES (?, ?)",
            (version, now_ms),
        )


def _end_logins_of(conn: Connection, name: str, at_ms: int) -> None:
    conn.execute(
        "UPDATE console_logins SET ended_ms = ? WHERE user_name = ? AND ended_ms IS NULL",
        (at_ms, name),
    )


class ConsoleDb:
    def __init__(self, store: SqlStore, now_ms: int) -> None:
        self._store = store
        store.write(lambda conn: migrate_console(conn, now_ms)).result()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        # The store's reader pool: its connections close with the store.
        # The store's public reader comes with the console's tables joining its schema.
        with self._store._read() as conn:  # noqa: SLF001
            return list(conn.execute(sql, args).fetchall())

    # -- users ----------------------------------------------------------------------------------
    def user(self, name: str) -> User | None:
        rows = self._rows(
            "SELECT name, role, password_hash, disabled_ms FROM console_users WHERE name = ?",
            (name,),
        )
        if not rows:
            return None
        name, role, password_hash, disabled_ms = rows[0]
        return User(name, Role(role), password_hash, disabled_ms is not None)

    def users(self) -> list[User]:
        rows = self._rows(
            "SELECT name, role, password_hash, disabled_ms FROM console_users ORDER BY name"
        )
        return [User(r[0], Role(r[1]), r[2], r[3] is not None) for r in rows]

    def create_user(
        self, name: str, role: Role, password_hash: str, at_ms: int, actor: str
    ) -> Future[None]:
        def run(conn: Connection) -> None:
            made = conn.execute(
                "INSERT INTO console_users (name, role, password_hash, created_ms)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, str(role), password_hash, at_ms),
            ).fetchone()
            if made is None:
                raise UserExists(f"name: a user called {name!r} exists already")
            audit(conn, at_ms, actor, "user.create", f"user:{name}", {"role": str(role)})

        return self._store.write(run)

    def set_disabled(self, name: str, disabled: bool, at_ms: int, actor: str) -> Future[bool]:
        """Disable (ending the user's live logins) or enable a user; False if there is none."""

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

        return self._store.write(run)

    def set_password(self, name: str, password_hash: str, at_ms: int, actor: str) -> Future[bool]:
        """Change a user's password and end their live logins; False if there is no such user."""

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

        return self._store.write(run)

    # -- logins ---------------------------------------------------------------------------------
    def start_login(
        self, token_hash: str, user: User, csrf: str, at_ms: int, expires_ms: int, ip: str
    ) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO console_logins (token_hash, user_name, csrf, created_ms, expires_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (token_hash, user.name, csrf, at_ms, expires_ms),
            )
            audit(conn, at_ms, f"user:{user.name}", "login", f"user:{user.name}", {"ip": ip})

        return self._store.write(run)

    def login(self, token_hash: str, now_ms: int) -> Login | None:
        """The live login with this cookie hash: not ended, not expired, its user enabled."""
        rows = self._rows(
            "SELECT u.name, u.role, u.password_hash, l.csrf, l.expires_ms FROM console_logins l"
            " JOIN console_users u ON u.name = l.user_name WHERE l.token_hash = ?"
            " AND l.ended_ms IS NULL AND l.expires_ms > ? AND u.disabled_ms IS NULL",
            (token_hash, now_ms),
        )
        if not rows:
            return None
        name, role, password_hash, csrf, expires_ms = rows[0]
        return Login(User(name, Role(role), password_hash), csrf, expires_ms)

    def end_login(self, token_hash: str, user_name: str, at_ms: int) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "UPDATE console_logins SET ended_ms = ? WHERE token_hash = ? AND ended_ms IS NULL",
                (at_ms, token_hash),
            )
            audit(conn, at_ms, f"user:{user_name}", "logout", f"user:{user_name}", {})

        return self._store.write(run)

    def failed_login(self, name: str, at_ms: int, ip: str, refused: bool) -> Future[int]:
        action = "login.refused" if refused else "login.failed"
        return self._store.write(
            lambda conn: audit(conn, at_ms, "anonymous", action, f"user:{name[:64]}", {"ip": ip})
        )

    def recent_login_outcomes(self, since_ms: int) -> list[tuple[int, str, str, str]]:
        """Failed and successful logins since ``since_ms``, oldest first: (at, action, name, ip).

        What the login limiter replays at start, so a restart does not reset its counts.
        """
        rows = self._rows(
            "SELECT at_ms, action, subject, detail FROM audit"
            " WHERE at_ms > ? AND action IN ('login', 'login.failed') ORDER BY at_ms, id",
            (since_ms,),
        )
        outcomes = []
        for at_ms, action, subject, detail in rows:
            ip = json.loads(detail).get("ip", "unknown") if detail else "unknown"
            name = subject.removeprefix("user:") if subject else ""
            outcomes.append((int(at_ms), str(action), name, str(ip)))
        return outcomes

    # -- visits ---------------------------------------------------------------------------------
    def plan_visit(self, session_id: int, planned_start_ms: int, by: str) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO visit_plans (session_id, planned_start_ms, planned_by)"
                " VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
                " planned_start_ms = excluded.planned_start_ms, planned_by = excluded.planned_by",
                (session_id, planned_start_ms, by),
            )

        return self._store.write(run)

    def planned_starts(self) -> dict[int, int]:
        return {
            r[0]: r[1] for r in self._rows("SELECT session_id, planned_start_ms FROM visit_plans")
        }

    def save_visit_record(self, record: VisitRecord, actor: str) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO visit_records (session_id, reason, points, agreements,"
                " concerns, written_by, written_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
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

        return self._store.write(run)

    def visit_record(self, session_id: int) -> VisitRecord | None:
        rows = self._rows(
            "SELECT session_id, reason, points, agreements, concerns, written_by, written_ms"
            " FROM visit_records WHERE session_id = ?",
            (session_id,),
        )
        return VisitRecord(*rows[0]) if rows else None

    def purge_visit_details(self, before_ms: int, at_ms: int) -> Future[int]:
        """Forget the address, contact and record of visits that ended before ``before_ms``."""

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
            if ended:
                audit(conn, at_ms, "hub", "visit.purge", None, {"sessions": len(ended)})
            return len(ended)

        return self._store.write(run)
