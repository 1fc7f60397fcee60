"""The tables of the delivery manager's copies, the calendar feeds, the signal black spots and
the shift types of sessions: one migration step, in the words of each database.

``calendar_feeds`` keeps a feed's secret only as its SHA-256 hash; ``arrangement_copies`` one row
per copy sent (or not) of a visit's arrangements, naming its recipient by reference, never by
number or URL; ``signal_spots`` counts the heartbeats' signal during visits per visit address
(no positions, no times of single heartbeats); ``session_shift_types`` says which shift type
(``home_working``...) a shift was started as.
"""

from __future__ import annotations

OUTREACH_DESCRIPTION = (
    "delivery manager's copies, calendar feeds, signal black spots, shift types of sessions"
)

_FEEDS = """CREATE TABLE calendar_feeds (
    id {id},
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('worker', 'team', 'all')),
    subject TEXT,
    with_addresses INTEGER NOT NULL CHECK (with_addresses IN (0, 1)),
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
)"""

_COPIES = """CREATE TABLE arrangement_copies (
    id {id},
    session_id BIGINT NOT NULL REFERENCES sessions(id),
    change TEXT NOT NULL CHECK (change IN ('plan', 'change', 'cancel')),
    channel TEXT NOT NULL CHECK (channel IN ('apprise', 'sms')),
    recipient TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    detail TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
)"""

_SPOTS = """CREATE TABLE signal_spots (
    address_key TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    samples BIGINT NOT NULL DEFAULT 0,
    poor_samples BIGINT NOT NULL DEFAULT 0,
    worker_flags BIGINT NOT NULL DEFAULT 0,
    worst_dbm INTEGER,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    last_poor_ms BIGINT
)"""

_SHIFT_TYPES = """CREATE TABLE session_shift_types (
    session_id BIGINT PRIMARY KEY REFERENCES sessions(id),
    shift_type TEXT NOT NULL
)"""

_INDEXES = ("CREATE INDEX arrangement_copies_by_session ON arrangement_copies (session_id, id)",)


def outreach_tables(id_column: str) -> tuple[str, ...]:
    """The step's statements; ``id_column`` is the database's words for a generated id."""
    return (
        _FEEDS.format(id=id_column),
        _COPIES.format(id=id_column),
        _SPOTS,
        _SHIFT_TYPES,
        *_INDEXES,
    )


SQLITE_OUTREACH_TABLES = outreach_tables("INTEGER PRIMARY KEY AUTOINCREMENT")
