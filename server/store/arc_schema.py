"""The ARC link's tables, one migration step (11) in the words of each database.

``arc_messages`` holds every message for the ARC, stored before it is sent, with the sequence
number it keeps through every resend (allocated from ``arc_counters`` in the insert's
transaction, so two hubs on one PostgreSQL never share one) and a lease like the alarms', so one
hub at a time sends it. ``arc_attempts`` records every try at every receiver. ``arc_zones`` gives
each worker a zone number once. ``arc_link`` holds when the next supervision test is due, so
several hubs send each test once.
"""

from __future__ import annotations

ARC_DESCRIPTION = "messages to the Alarm Receiving Centre, their attempts, sequence, zones"

_MESSAGES = """CREATE TABLE arc_messages (
    id {id},
    key TEXT NOT NULL UNIQUE,
    alarm_id BIGINT REFERENCES alarms(id),
    qualifier INTEGER NOT NULL,
    code INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    zone INTEGER NOT NULL,
    account TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence BETWEEN 1 AND 9999),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_result TEXT,
    receiver TEXT,
    occurred_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    acked_ms BIGINT,
    next_attempt_ms BIGINT NOT NULL,
    latitude {real},
    longitude {real},
    lease_owner TEXT,
    lease_until_ms BIGINT
)"""

_ATTEMPTS = """CREATE TABLE arc_attempts (
    id {id},
    message_id BIGINT NOT NULL REFERENCES arc_messages(id),
    receiver TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT NOT NULL
)"""

_COUNTERS = """CREATE TABLE arc_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
)"""

_ZONES = """CREATE TABLE arc_zones (
    worker_id TEXT PRIMARY KEY,
    zone INTEGER NOT NULL UNIQUE CHECK (zone BETWEEN 1 AND 999),
    created_ms BIGINT NOT NULL
)"""

_LINK = """CREATE TABLE arc_link (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_test_ms BIGINT
)"""

_ROWS = (
    "INSERT INTO arc_counters (name, value) VALUES ('sequence', 0)",
    "INSERT INTO arc_link (id, next_test_ms) VALUES (1, NULL)",
    "CREATE INDEX arc_messages_by_state ON arc_messages (state, next_attempt_ms)",
    "CREATE INDEX arc_messages_by_alarm ON arc_messages (alarm_id)",
    "CREATE INDEX arc_attempts_by_message ON arc_attempts (message_id, id)",
)


def arc_tables(id_column: str, real: str) -> tuple[str, ...]:
    """The step's statements; ``id_column`` and ``real`` are the database's words."""
    return (
        _MESSAGES.format(id=id_column, real=real),
        _ATTEMPTS.format(id=id_column),
        _COUNTERS,
        _ZONES,
        _LINK,
        *_ROWS,
    )


SQLITE_ARC_TABLES = arc_tables("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL")
