"""Devices' last-seen and health, written for many devices at once (SQL shared by both
databases).

Heartbeats are held in memory by ingest and written here in batches, one statement per batch
of rows, so a fleet's heartbeats cost one transaction every flush instead of one each. A batch
may arrive after a newer time was stored (a status, or another hub's batch on PostgreSQL), so
each time only ever moves forward, and the health fields follow the newest heartbeat.
"""

from __future__ import annotations

from collections.abc import Sequence

from loneguard.server.store.records import LastHeard
from loneguard.server.store.sql import Connection

# Rows per statement: 6 parameters each, far below both databases' parameter limits.
LAST_SEEN_ROWS = 500


def _newer(column: str) -> str:
    """The stored ``column`` moved forward to the batch's, never back."""
    return (
        f"CASE WHEN devices.{column} IS NULL OR devices.{column} < excluded.{column}"
        f" THEN excluded.{column} ELSE devices.{column} END"
    )


def _of_newest(column: str) -> str:
    """A health field taken from the batch only if its heartbeat is the newest stored."""
    return (
        "CASE WHEN devices.last_heartbeat_ms IS NULL"
        " OR devices.last_heartbeat_ms <= excluded.last_heartbeat_ms"
        f" THEN excluded.{column} ELSE devices.{column} END"
    )


def save_last_seen(conn: Connection, rows: Sequence[LastHeard]) -> None:
    """Upsert the rows (at most ``LAST_SEEN_ROWS``) in one statement."""
    if not rows:
        return
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows))
    parameters: list[object] = []
    for row in rows:
        parameters += [row.device_id, row.at_ms, row.at_ms, row.rssi, row.battery, row.queued]
    conn.execute(
        "INSERT INTO devices (id, last_heartbeat_ms, last_seen_ms, rssi, battery, queued)"
        f" VALUES {values} ON CONFLICT (id) DO UPDATE SET"
        f" rssi = {_of_newest('rssi')}, battery = {_of_newest('battery')},"
        f" queued = {_of_newest('queued')},"
        f" last_heartbeat_ms = {_newer('last_heartbeat_ms')},"
        f" last_seen_ms = {_newer('last_seen_ms')}",
        parameters,
    )
