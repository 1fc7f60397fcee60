"""The hub's durable record. ``open_store(db_url)`` picks the implementation from the URL."""

from __future__ import annotations

from collections.abc import Callable

from loneguard.server.config import ConfigError, DbUrl
from loneguard.server.store.base import Store
from loneguard.server.store.records import (
    Alarm,
    AlarmConflict,
    AlarmKind,
    AlarmNotFound,
    AlarmState,
    ApiToken,
    AuditEntry,
    ConsoleLogin,
    ConsoleUser,
    ConsoleUserExists,
    DeadLetter,
    Device,
    DeviceStanding,
    Effect,
    EndSession,
    EventOutcome,
    EventRow,
    ExtendSession,
    LastHeard,
    NewNotification,
    NotificationAttempt,
    NotificationRow,
    NotificationState,
    OpenAlarm,
    RecordCheckin,
    RegisterEntry,
    Role,
    Session,
    SessionConflict,
    SessionKind,
    SessionNotFound,
    SessionState,
    SignIn,
    SignOut,
    StartVisit,
    VisitPlan,
    VisitRecord,
    Worker,
)

__all__ = [
    "Alarm",
    "AlarmConflict",
    "AlarmKind",
    "AlarmNotFound",
    "AlarmState",
    "ApiToken",
    "AuditEntry",
    "ConsoleLogin",
    "ConsoleUser",
    "ConsoleUserExists",
    "DeadLetter",
    "Device",
    "DeviceStanding",
    "Effect",
    "EndSession",
    "EventOutcome",
    "EventRow",
    "ExtendSession",
    "LastHeard",
    "NewNotification",
    "NotificationAttempt",
    "NotificationRow",
    "NotificationState",
    "OpenAlarm",
    "RecordCheckin",
    "RegisterEntry",
    "Role",
    "Session",
    "SessionConflict",
    "SessionKind",
    "SessionNotFound",
    "SessionState",
    "SignIn",
    "SignOut",
    "StartVisit",
    "Store",
    "VisitPlan",
    "VisitRecord",
    "Worker",
    "open_store",
]


def open_store(url: DbUrl, now_ms: Callable[[], int]) -> Store:
    """Open (creating and migrating as needed) the database ``url`` names."""
    if url.scheme == "sqlite":
        from loneguard.server.store.sqlite import SqliteStore

        return SqliteStore(url.path, now_ms=now_ms)
    if url.scheme == "postgresql":
        from loneguard.server.store.postgres import PostgresStore

        return PostgresStore(url.path, now_ms=now_ms)
    raise ConfigError(f"db.url: unknown database {url.scheme!r}")
