"""A database release 0.1 made (its store steps 1-5 and the console's own runner, with data in
every table) upgrades to the one numbered schema with nothing lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.admin.tokens import hash_token
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.passwords import hash_password, verify_password
from loneguard.server.console.ratelimit import recent_login_outcomes
from loneguard.server.console.security import COOKIE
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.store import (
    AlarmKind,
    AlarmState,
    Role,
    SessionState,
    VisitPlan,
    VisitRecord,
)
from loneguard.server.store.migrations import LATEST_VERSION, SQLITE, Dialect, SchemaTooNew, migrate
from loneguard.server.store.sql import Connection
from loneguard.server.store.sqlite import SqliteStore, SqlStore, connect
from tests.pg import fresh_schema
from tests.server.console.conftest import log_in

HERE = Path(__file__).parent
PASSWORD = "a long enough password"
COOKIE_TOKEN = "a login cookie from before the upgrade"
API_TOKEN = "lg_an api token from before the upgrade"
NOW = FakeClock().wall_ms()
DAY = 86_400_000

# Every table release 0.1 had, but its console runner's bookkeeping (which the upgrade drops).
RELEASE_TABLES = (
    "schema_version",
    "workers",
    "devices",
    "events",
    "alarms",
    "dead_letters",
    "audit",
    "api_tokens",
    "sessions",
    "register",
    "notifications",
    "console_users",
    "console_logins",
    "visit_plans",
    "visit_records",
)


def release_statements(database: str) -> list[str]:
    name = "release_0_1_schema.sqlite.sql" if database == "sqlite" else "release_0_1_schema.pg.sql"
    chunks = (HERE / name).read_text().split("\n-- end\n")
    return [
        c for c in chunks if any(ln.strip() and not ln.startswith("--") for ln in c.split("\n"))
    ]


class Database:
    """One database of the kind the test runs on: raw connections, its dialect, its store."""

    def __init__(self, database: str, tmp_path: Path, pg_url: str | None) -> None:
        self.kind = database
        self.dialect: Dialect = SQLITE
        if database == "sqlite":
            path = tmp_path / "hub.db"
            self.connect: Callable[[], Connection] = lambda: connect(path)
            self.store: Callable[[], SqlStore] = lambda: SqliteStore(path, now_ms=lambda: NOW)
        else:
            from loneguard.server.store import postgres
            from loneguard.server.store.pg_migrations import POSTGRES

            url = pg_url or ""
            self.dialect = POSTGRES
            self.connect = lambda: postgres.connect(url)
            self.store = lambda: postgres.PostgresStore(url, now_ms=lambda: NOW)

    @contextmanager
    def conn(self) -> Iterator[Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    def tables(self, conn: Connection) -> set[str]:
        if self.kind == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = (
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        return {r[0] for r in conn.execute(sql).fetchall()} - {"sqlite_sequence"}

    def columns(self, conn: Connection, table: str) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            return [tuple(r) for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT column_name, data_type, is_nullable, column_default"
                " FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = ? ORDER BY ordinal_position",
                (table,),
            ).fetchall()
        ]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return Database(request.param, tmp_path, pg_url)


def make_release_database(db: Database) -> dict[str, int]:
    """The release's schema, and rows in every table as release 0.1 wrote them; their ids."""
    with db.conn() as conn:
        for statement in release_statements(db.kind):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO workers (id, name, mobile, apprise_urls, policy)"
            " VALUES ('w1', 'Wendy Worker', '+447700900001', '[]', 'team')"
        )
        conn.execute(
            "INSERT INTO devices (id, worker_id, online, boot, sms_secret, provisioned_ms)"
            " VALUES ('d1', 'w1', 1, 3, 'sms-secret', ?)",
            (NOW - DAY,),
        )
        conn.execute(
            "INSERT INTO events (id, device_id, kind, ts_ms, seq, link, received_ms, body, links)"
            " VALUES ('e1', 'd1', 'panic', ?, 1, 'mqtt', ?, '{}', 'mqtt,sms')",
            (NOW - 60_000, NOW - 60_000),
        )
        live = conn.execute(
            "INSERT INTO sessions (worker_id, device_id, kind, state, started_ms, expected_end_ms,"
            " grace_s, prealert_s, address, contact_name, contact_phone, accompanied,"
            " approved_by, next_deadline_ms) VALUES ('w1', 'd1', 'visit', 'active', ?, ?, 600,"
            " 300, '1 High Street', 'Mrs Client', '+447700900002', 0, 'max', ?) RETURNING id",
            (NOW - 3_600_000, NOW + 3_600_000, NOW + 3_600_000),
        ).fetchone()[0]
        ended = conn.execute(
            "INSERT INTO sessions (worker_id, device_id, kind, state, started_ms, expected_end_ms,"
            " grace_s, prealert_s, address, contact_name, accompanied, ended_ms, ended_by)"
            " VALUES ('w1', 'd1', 'visit', 'ended', ?, ?, 600, 300, '2 Low Road', 'Mr Other', 1,"
            " ?, 'user:max') RETURNING id",
            (NOW - 2 * DAY, NOW - 2 * DAY + 3_600_000, NOW - 2 * DAY + 3_000_000),
        ).fetchone()[0]
        alarm = conn.execute(
            "INSERT INTO alarms (kind, state, device_id, worker_id, event_id, opened_ms, policy,"
            " session_id, started_ms) VALUES ('panic', 'open', 'd1', 'w1', 'e1', ?, 'panic', ?,"
            " ?) RETURNING id",
            (NOW - 60_000, live, NOW - 60_000),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO notifications (key, action_key, alarm_id, step, repeat, channel,"
            " recipient_name, recipient_role, recipient_ref, text, state, attempts, created_ms,"
            " updated_ms) VALUES ('k1', 'a1', ?, 0, 0, 'sms', 'Max', 'manager', '+447700900003',"
            " 'panic', 'sent', 1, ?, ?)",
            (alarm, NOW - 59_000, NOW - 58_000),
        )
        conn.execute(
            "INSERT INTO register (worker_id, device_id, signed_in_ms) VALUES ('w1', 'd1', ?)",
            (NOW - 7_200_000,),
        )
        conn.execute(
            "INSERT INTO dead_letters (received_ms, topic, payload, payload_encoding,"
            " payload_size, reason) VALUES (?, 'lg/x', 'junk', 'text', 4, 'not json')",
            (NOW - 1000,),
        )
        conn.execute(
            "INSERT INTO api_tokens (name, role, token_hash, created_ms)"
            " VALUES ('dashboard', 'viewer', ?, ?)",
            (hash_token(API_TOKEN), NOW - DAY),
        )
        for name, role, disabled in (("ada", "admin", None), ("vic", "viewer", NOW - DAY)):
            conn.execute(
                "INSERT INTO console_users (name, role, password_hash, created_ms, disabled_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, role, hash_password(PASSWORD), NOW - 3 * DAY, disabled),
            )
        conn.execute(
            "INSERT INTO console_logins (token_hash, user_name, csrf, created_ms, expires_ms)"
            " VALUES (?, 'ada', 'csrf-of-ada', ?, ?)",
            (hash_token(COOKIE_TOKEN), NOW - 3_600_000, NOW + DAY),
        )
        conn.execute(
            "INSERT INTO visit_plans (session_id, planned_start_ms, planned_by)"
            " VALUES (?, ?, 'user:max')",
            (live, NOW - 3_500_000),
        )
        conn.execute(
            "INSERT INTO visit_records (session_id, reason, points, agreements, concerns,"
            " written_by, written_ms) VALUES (?, 'review', 'rent', 'pay weekly', 'none',"
            " 'max', ?)",
            (ended, NOW - DAY),
        )
        for action, subject in (("login", "user:ada"), ("login.failed", "user:vic")):
            conn.execute(
                "INSERT INTO audit (at_ms, actor, action, subject, detail)"
                " VALUES (?, 'anonymous', ?, ?, '{\"ip\":\"10.0.0.9\"}')",
                (NOW - 60_000, action, subject),
            )
    return {"live": live, "ended": ended, "alarm": alarm}


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.conn() as conn:
        return {
            t: sorted((tuple(r) for r in conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr)
            for t in RELEASE_TABLES
        }


def test_a_release_database_upgrades_with_nothing_lost(db: Database) -> None:
    ids = make_release_database(db)
    before = snapshot(db)
    assert all(before[t] for t in RELEASE_TABLES), "every table holds a row before the upgrade"
    with db.conn() as conn:
        # Step 6 takes the release's tables over; the steps after it add tables and columns.
        assert migrate(conn, NOW, db.dialect) == list(range(6, LATEST_VERSION + 1))
        assert "console_schema_version" not in db.tables(conn)
        assert migrate(conn, NOW + 1, db.dialect) == []
    after = snapshot(db)
    versions = after["schema_version"]
    added = sorted(row[0] for row in versions if row[0] >= 6)
    assert added == list(range(6, LATEST_VERSION + 1))
    after["schema_version"] = [row for row in versions if row[0] < 6]
    # Step 8 adds the alarms' check-in columns, empty on every alarm of the release.
    assert {row[-2:] for row in after["alarms"]} == {(None, None)}
    after["alarms"] = [row[:-2] for row in after["alarms"]]
    assert after == before

    store = db.store()
    try:
        assert store.visit_plans() == {
            ids["live"]: VisitPlan(ids["live"], NOW - 3_500_000, "user:max")
        }
        assert store.visit_record(ids["ended"]) == VisitRecord(
            ids["ended"], "review", "rent", "pay weekly", "none", "max", NOW - DAY
        )
        assert store.visits_with_records() == {ids["ended"]}
        live = store.session(ids["live"])
        assert live is not None and live.state == SessionState.ACTIVE
        assert (live.address, live.contact_name, live.contact_phone) == (
            "1 High Street",
            "Mrs Client",
            "+447700900002",
        )
        alarm = store.alarm(ids["alarm"])
        assert alarm is not None
        assert (alarm.kind, alarm.state, alarm.session_id) == (
            AlarmKind.PANIC,
            AlarmState.OPEN,
            ids["live"],
        )
        assert [(e.id, e.links) for e in store.events()] == [("e1", ("mqtt", "sms"))]
        assert [n.key for n in store.notifications(ids["alarm"])] == ["k1"]
        assert [r.worker_id for r in store.signed_in()] == ["w1"]
        token = store.token_by_hash(hash_token(API_TOKEN))
        assert token is not None and token.role == Role.VIEWER

        ada = store.console_user("ada")
        assert ada is not None and ada.role == Role.ADMIN and not ada.disabled
        assert verify_password(ada.password_hash, PASSWORD)
        assert [(u.name, u.disabled) for u in store.console_users()] == [
            ("ada", False),
            ("vic", True),
        ]
        login = store.console_login(hash_token(COOKIE_TOKEN), NOW)
        assert login is not None and (login.user.name, login.csrf) == ("ada", "csrf-of-ada")
        assert recent_login_outcomes(store, NOW - DAY) == [
            (NOW - 60_000, "login", "ada", "10.0.0.9"),
            (NOW - 60_000, "login.failed", "vic", "10.0.0.9"),
        ]
    finally:
        store.close()


def test_release_users_log_in_and_see_their_visits_after_the_upgrade(db: Database) -> None:
    ids = make_release_database(db)
    with db.conn() as conn:
        migrate(conn, NOW, db.dialect)
    store = db.store()
    try:
        clock = FakeClock(NOW)
        app = create_app(
            store, clock=clock, hooks=ApiHooks(broadcaster=Broadcaster()), console=ConsoleSettings()
        )
        with (
            TestClient(app, follow_redirects=False) as kept,
            TestClient(app, follow_redirects=False) as fresh,
        ):
            kept.cookies.set(COOKIE, COOKIE_TOKEN)  # a login made before the upgrade lives on
            board = kept.get("/console")
            assert board.status_code == 200 and "Wendy Worker" in board.text
            record = log_in(fresh, "ada").get(f"/console/visits/{ids['ended']}/record")
            assert record.status_code == 200 and "pay weekly" in record.text
    finally:
        store.close()


def test_an_upgraded_database_has_the_schema_of_a_new_one(db: Database, tmp_path: Path) -> None:
    make_release_database(db)
    with db.conn() as conn:
        migrate(conn, NOW, db.dialect)
    (tmp_path / "new").mkdir()
    with fresh_schema() if db.kind == "postgresql" else nullcontext("") as new_url:
        other = Database(db.kind, tmp_path / "new", new_url)
        with db.conn() as upgraded, other.conn() as new:
            migrate(new, NOW, other.dialect)
            assert db.tables(upgraded) == db.tables(new)
            for table in sorted(db.tables(new)):
                assert db.columns(upgraded, table) == db.columns(new, table), table


def test_console_tables_changed_by_a_newer_console_are_refused(db: Database) -> None:
    make_release_database(db)
    with db.conn() as conn:
        conn.execute("INSERT INTO console_schema_version (version, applied_ms) VALUES (2, 1)")
        with pytest.raises(SchemaTooNew):
            migrate(conn, NOW, db.dialect)
        assert "console_schema_version" in db.tables(conn)
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 5
