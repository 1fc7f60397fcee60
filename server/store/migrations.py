"""Versioned schema: numbered steps applied in order, each recorded in ``schema_version``.

A step is never edited once released; a change to the schema is a new step at the end.
PostgreSQL has the same steps with the same numbers in its own words (``pg_migrations``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loneguard.server.store.arc_schema import ARC_DESCRIPTION, SQLITE_ARC_TABLES
from loneguard.server.store.outreach_schema import OUTREACH_DESCRIPTION, SQLITE_OUTREACH_TABLES
from loneguard.server.store.sql import Connection, is_postgres


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    # Run in the step's transaction before its statements: it may refuse (raise) the step.
    check: Callable[[Connection], None] | None = None


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer hub than this one."""


# A worker's check-in while an overdue alarm is open: when and from which device (it stops the
# alarm's ladder; the alarm stays open until a person resolves it).
ALARM_CHECKIN_DESCRIPTION = "alarms remember the worker's late check-in"
NOTIFICATIONS_NOT_CONFIGURED = (
    "notifications: a send the hub cannot make because its channel or the recipient's number is"
    " not configured is recorded as 'not_configured', apart from failed deliveries"
)

# Release 0.1 made the console's tables with a runner of its own (``console_schema_version``)
# whose last step was 1; step 6 takes them over.
RELEASED_CONSOLE_VERSION = 1


def check_console_tables(conn: Connection) -> None:
    """Refuse to take over console tables a newer console runner changed past release 0.1's."""
    if is_postgres(conn):
        found = conn.execute("SELECT to_regclass('console_schema_version')").fetchone()[0]
    else:
        found = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
            ("console_schema_version",),
        ).fetchone()
    if found is None:
        return
    row = conn.execute("SELECT max(version) FROM console_schema_version").fetchone()
    if row[0] is not None and int(row[0]) > RELEASED_CONSOLE_VERSION:
        raise SchemaTooNew(
            f"the console's tables are at their own version {row[0]}; this hub takes over"
            f" version {RELEASED_CONSOLE_VERSION} only"
        )


# The console's tables exactly as release 0.1 made them, so a database it made already has them
# (IF NOT EXISTS) and a new one gets the same; the old runner's table then goes.
CONSOLE_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS console_users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'viewer')),
                password_hash TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                disabled_ms BIGINT
            )""",
    """CREATE TABLE IF NOT EXISTS console_logins (
                token_hash TEXT PRIMARY KEY,
                user_name TEXT NOT NULL REFERENCES console_users(name),
                csrf TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL,
                ended_ms BIGINT
            )""",
    """CREATE TABLE IF NOT EXISTS visit_plans (
                session_id BIGINT PRIMARY KEY,
                planned_start_ms BIGINT NOT NULL,
                planned_by TEXT NOT NULL
            )""",
    """CREATE TABLE IF NOT EXISTS visit_records (
                session_id BIGINT PRIMARY KEY,
                reason TEXT NOT NULL,
                points TEXT NOT NULL,
                agreements TEXT NOT NULL,
                concerns TEXT NOT NULL,
                written_by TEXT NOT NULL,
                written_ms BIGINT NOT NULL
            )""",
    "DROP TABLE IF EXISTS console_schema_version",
)
CONSOLE_DESCRIPTION = (
    "console users and logins, visit plans and records (before: the console's own"
    " console_schema_version steps)"
)


# Step 7, in both databases' words: ``{id}`` is the id column's type.
SAFETY_DESCRIPTION = (
    "risk assessments of visits and lone-working patterns; incidents and their actions"
)
SAFETY_TABLES: tuple[str, ...] = (
    """CREATE TABLE risk_assessments (
                id {id},
                session_id BIGINT UNIQUE,
                pattern TEXT UNIQUE,
                worker_id TEXT,
                environment TEXT NOT NULL,
                context TEXT NOT NULL,
                individuals TEXT NOT NULL,
                history TEXT NOT NULL,
                allegation TEXT NOT NULL,
                other TEXT NOT NULL,
                rating TEXT NOT NULL CHECK (rating IN ('low', 'medium', 'high')),
                measures TEXT NOT NULL,
                override_by TEXT,
                override_reason TEXT,
                assessed_by TEXT NOT NULL,
                assessed_ms BIGINT NOT NULL,
                CHECK ((session_id IS NULL) <> (pattern IS NULL))
            )""",
    """CREATE TABLE incidents (
                id {id},
                kind TEXT NOT NULL CHECK (kind IN
                    ('alarm', 'near_miss', 'threat', 'injury', 'other')),
                status TEXT NOT NULL CHECK (status IN ('reported', 'investigating', 'closed')),
                severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
                occurred_ms BIGINT NOT NULL,
                what TEXT NOT NULL,
                address TEXT,
                people TEXT NOT NULL,
                worker_id TEXT,
                alarm_id BIGINT,
                session_id BIGINT,
                contact_name TEXT,
                contact_phone TEXT,
                immediate_actions TEXT NOT NULL,
                investigator TEXT,
                findings TEXT NOT NULL,
                reported_by TEXT NOT NULL,
                reported_ms BIGINT NOT NULL,
                closed_by TEXT,
                closed_ms BIGINT,
                address_key TEXT,
                contact_key TEXT
            )""",
    "CREATE INDEX incidents_by_address ON incidents (address_key)",
    "CREATE INDEX incidents_by_contact ON incidents (contact_key)",
    "CREATE INDEX incidents_by_alarm ON incidents (alarm_id)",
    """CREATE TABLE incident_actions (
                id {id},
                incident_id BIGINT NOT NULL REFERENCES incidents(id),
                what TEXT NOT NULL,
                owner TEXT NOT NULL,
                due_ms BIGINT NOT NULL,
                done_ms BIGINT,
                done_by TEXT
            )""",
    "CREATE INDEX incident_actions_by_incident ON incident_actions (incident_id)",
)


def safety_tables(id_column: str) -> tuple[str, ...]:
    return tuple(s.replace("{id}", id_column) for s in SAFETY_TABLES)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "devices, workers, events, alarms, dead letters, audit log, API tokens",
        (
            """CREATE TABLE workers (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                mobile TEXT,
                home_phone TEXT,
                line_manager TEXT,
                last_checkin_ms INTEGER
            )""",
            """CREATE TABLE devices (
                id TEXT PRIMARY KEY,
                worker_id TEXT REFERENCES workers(id),
                online INTEGER NOT NULL DEFAULT 0,
                boot INTEGER,
                fw TEXT,
                last_seen_ms INTEGER,
                last_heartbeat_ms INTEGER,
                rssi INTEGER,
                battery INTEGER,
                queued INTEGER,
                last_checkin_ms INTEGER
            )""",
            """CREATE TABLE events (
                id TEXT PRIMARY KEY,
                device_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                ts_ms INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                link TEXT NOT NULL,
                received_ms INTEGER NOT NULL,
                body TEXT NOT NULL
            )""",
            "CREATE INDEX events_by_device ON events (device_id, received_ms)",
            "CREATE INDEX events_by_received ON events (received_ms)",
            """CREATE TABLE alarms (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL CHECK (kind IN
                    ('panic', 'duress', 'overdue', 'missed_checkin', 'device_offline')),
                state TEXT NOT NULL DEFAULT 'open' CHECK (state IN
                    ('open', 'acknowledged', 'resolved')),
                device_id TEXT,
                worker_id TEXT,
                event_id TEXT,
                opened_ms INTEGER NOT NULL,
                acknowledged_by TEXT,
                acknowledged_ms INTEGER,
                resolved_by TEXT,
                resolved_ms INTEGER,
                outcome TEXT,
                notes TEXT
            )""",
            "CREATE INDEX alarms_by_state ON alarms (state, opened_ms)",
            """CREATE TABLE dead_letters (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                received_ms INTEGER NOT NULL,
                topic TEXT NOT NULL,
                payload TEXT NOT NULL,
                payload_encoding TEXT NOT NULL CHECK (payload_encoding IN ('text', 'hex')),
                payload_size INTEGER NOT NULL,
                reason TEXT NOT NULL
            )""",
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at_ms INTEGER NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                subject TEXT,
                detail TEXT NOT NULL DEFAULT '{}'
            )""",
            """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            """CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'viewer')),
                token_hash TEXT NOT NULL UNIQUE,
                created_ms INTEGER NOT NULL,
                revoked_ms INTEGER
            )""",
        ),
    ),
    Migration(
        2,
        "sessions, sign-in register, escalation notifications, worker contacts, device SMS secret",
        (
            "ALTER TABLE workers ADD COLUMN apprise_urls TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE workers ADD COLUMN policy TEXT",
            "ALTER TABLE devices ADD COLUMN sms_secret TEXT",
            "ALTER TABLE alarms ADD COLUMN policy TEXT",
            "ALTER TABLE alarms ADD COLUMN session_id INTEGER",
            "ALTER TABLE alarms ADD COLUMN started_ms INTEGER",
            "ALTER TABLE alarms ADD COLUMN next_step_ms INTEGER",
            """CREATE TABLE sessions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                worker_id TEXT REFERENCES workers(id),
                device_id TEXT,
                kind TEXT NOT NULL CHECK (kind IN ('visit', 'shift')),
                state TEXT NOT NULL DEFAULT 'active' CHECK (state IN
                    ('active', 'due', 'overdue', 'ended')),
                started_ms INTEGER NOT NULL,
                expected_end_ms INTEGER,
                grace_s INTEGER NOT NULL,
                prealert_s INTEGER NOT NULL,
                prealert_sent INTEGER NOT NULL DEFAULT 0,
                address TEXT,
                contact_name TEXT,
                contact_phone TEXT,
                accompanied INTEGER NOT NULL DEFAULT 0,
                approved_by TEXT,
                checkin_interval_s INTEGER,
                last_checkin_ms INTEGER,
                ended_ms INTEGER,
                ended_by TEXT,
                next_deadline_ms INTEGER
            )""",
            "CREATE INDEX sessions_by_state ON sessions (state, next_deadline_ms)",
            "CREATE INDEX sessions_by_device ON sessions (device_id, state)",
            """CREATE TABLE register (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                worker_id TEXT,
                device_id TEXT,
                signed_in_ms INTEGER NOT NULL,
                signed_out_ms INTEGER
            )""",
            "CREATE INDEX register_open ON register (signed_out_ms, device_id)",
            """CREATE TABLE notifications (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL UNIQUE,
                action_key TEXT NOT NULL,
                alarm_id INTEGER NOT NULL REFERENCES alarms(id),
                step INTEGER NOT NULL,
                repeat INTEGER NOT NULL,
                channel TEXT NOT NULL,
                recipient_name TEXT NOT NULL,
                recipient_role TEXT NOT NULL,
                recipient_ref TEXT NOT NULL,
                text TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                    ('pending', 'sent', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_result TEXT,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            )""",
            "CREATE INDEX notifications_by_alarm ON notifications (alarm_id, state)",
        ),
    ),
    Migration(
        3,
        "device provisioning: when a device was given broker credentials, when revoked",
        (
            "ALTER TABLE devices ADD COLUMN provisioned_ms INTEGER",
            "ALTER TABLE devices ADD COLUMN revoked_ms INTEGER",
        ),
    ),
    Migration(
        4,
        "leases: which hub holds a due session deadline or an open alarm's ladder, and until when",
        (
            "ALTER TABLE sessions ADD COLUMN lease_owner TEXT",
            "ALTER TABLE sessions ADD COLUMN lease_until_ms INTEGER",
            "ALTER TABLE alarms ADD COLUMN lease_owner TEXT",
            "ALTER TABLE alarms ADD COLUMN lease_until_ms INTEGER",
        ),
    ),
    Migration(
        5,
        "events keyed by (device, event id): one device's ids never collide with another's; the"
        " paths each event arrived by",
        (
            # SQLite cannot change a primary key in place: copy into a new table, keeping rowid
            # (the order of events received in the same millisecond).
            """CREATE TABLE events_by_device_id (
                id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                ts_ms INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                link TEXT NOT NULL,
                received_ms INTEGER NOT NULL,
                body TEXT NOT NULL,
                links TEXT NOT NULL,
                PRIMARY KEY (device_id, id)
            )""",
            """INSERT INTO events_by_device_id
                (rowid, id, device_id, kind, ts_ms, seq, link, received_ms, body, links)
               SELECT rowid, id, device_id, kind, ts_ms, seq, link, received_ms, body, link
               FROM events ORDER BY rowid""",
            "DROP TABLE events",
            "ALTER TABLE events_by_device_id RENAME TO events",
            "CREATE INDEX events_by_device ON events (device_id, received_ms)",
            "CREATE INDEX events_by_received ON events (received_ms)",
        ),
    ),
    Migration(6, CONSOLE_DESCRIPTION, CONSOLE_TABLES, check_console_tables),
    Migration(7, SAFETY_DESCRIPTION, safety_tables("INTEGER PRIMARY KEY AUTOINCREMENT")),
    Migration(
        8,
        ALARM_CHECKIN_DESCRIPTION,
        (
            "ALTER TABLE alarms ADD COLUMN checked_in_ms INTEGER",
            "ALTER TABLE alarms ADD COLUMN checked_in_device TEXT",
        ),
    ),
    Migration(9, OUTREACH_DESCRIPTION, SQLITE_OUTREACH_TABLES),
    Migration(
        10,
        NOTIFICATIONS_NOT_CONFIGURED,
        (
            # SQLite cannot change a CHECK constraint in place: copy into a new table, ids kept.
            """CREATE TABLE notifications_with_not_configured (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL UNIQUE,
                action_key TEXT NOT NULL,
                alarm_id INTEGER NOT NULL REFERENCES alarms(id),
                step INTEGER NOT NULL,
                repeat INTEGER NOT NULL,
                channel TEXT NOT NULL,
                recipient_name TEXT NOT NULL,
                recipient_role TEXT NOT NULL,
                recipient_ref TEXT NOT NULL,
                text TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                    ('pending', 'sent', 'failed', 'not_configured')),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_result TEXT,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            )""",
            """INSERT INTO notifications_with_not_configured
               SELECT * FROM notifications ORDER BY id""",
            "DROP TABLE notifications",
            "ALTER TABLE notifications_with_not_configured RENAME TO notifications",
            "CREATE INDEX notifications_by_alarm ON notifications (alarm_id, state)",
        ),
    ),
    Migration(11, ARC_DESCRIPTION, SQLITE_ARC_TABLES),
)

LATEST_VERSION = MIGRATIONS[-1].version


@dataclass(frozen=True)
class Dialect:
    """How one database runs the steps: its steps, how a migrating transaction starts (so two
    processes migrating at once take turns), and its bookkeeping table."""

    steps: tuple[Migration, ...]
    begin: tuple[str, ...]
    version_table: str


SQLITE = Dialect(
    MIGRATIONS,
    ("BEGIN IMMEDIATE",),
    """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_ms INTEGER NOT NULL
    )""",
)


def current_version(conn: Connection, dialect: Dialect = SQLITE) -> int:
    conn.execute(dialect.version_table)
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row[0] is not None else 0


def migrate(conn: Connection, now_ms: int, dialect: Dialect = SQLITE) -> list[int]:
    """Apply every step newer than the database, each in its own transaction; the versions run.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    latest = dialect.steps[-1].version
    _begin(conn, dialect)
    try:
        version = current_version(conn, dialect)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if version > latest:
        raise SchemaTooNew(
            f"the database is at schema version {version}; this hub knows up to {latest}"
        )
    applied = []
    for step in dialect.steps:
        if step.version <= version:
            continue
        _begin(conn, dialect)
        try:
            if current_version(conn, dialect) >= step.version:  # another process got there first
                conn.execute("COMMIT")
                continue
            if step.check is not None:
                step.check(conn)
            for statement in step.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_ms) VALUES (?, ?, ?)",
                (step.version, step.description, now_ms),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(step.version)
    return applied


def _begin(conn: Connection, dialect: Dialect) -> None:
    for statement in dialect.begin:
        conn.execute(statement)
