"""Leases: which hub works on a due session deadline or an open alarm's ladder, until when.

Several hubs on one PostgreSQL share the timed work. A hub *claims* a row before it acts on it:
one UPDATE that takes the rows nobody holds (or whose holder let the lease run out) with
``SELECT ... FOR UPDATE SKIP LOCKED``, so two hubs claiming at once never wait for each other
and never both win. A session deadline's lease is released in the transaction that handles the
deadline; an alarm's lease is kept, and renewed, for as long as the alarm is open and its hub
lives. A hub that dies stops renewing; its leases run out and another hub claims the work.

On SQLite (one hub) nothing claims: these columns stay empty.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from loneguard.server.store.sql import Connection, is_postgres

if TYPE_CHECKING:
    from loneguard.server.store.writer import Writer

# A free row, or one whose lease ran out (its hub is gone or stuck).
_FREE = "(lease_owner IS NULL OR lease_until_ms < ?)"


def skip_locked(conn: Connection) -> str:
    return " FOR UPDATE SKIP LOCKED" if is_postgres(conn) else ""


def claim_rows(
    conn: Connection,
    table: str,
    due: str,
    due_args: tuple[object, ...],
    owner: str,
    now_ms: int,
    until_ms: int,
    *,
    row_id: int | None,
    others_only: bool,
    limit: int,
    order: str = "id",
) -> list[int]:
    """Claim up to ``limit`` rows of ``table`` that are ``due`` and free, in ``order``; their
    ids, ascending. Sessions, alarms and the ARC's messages are all claimed through here."""
    # A single row may be re-claimed by its own holder (a timer of the hub that holds it, or
    # the same hub back after a restart); a sweep takes only rows free or run out.
    mine = "" if others_only else " OR lease_owner = ?"
    where = f"{due} AND ({_FREE}{mine})"
    args: list[object] = [*due_args, now_ms]
    if not others_only:
        args.append(owner)
    if row_id is not None:
        where += " AND id = ?"
        args.append(row_id)
    rows = conn.execute(
        f"UPDATE {table} SET lease_owner = ?, lease_until_ms = ? WHERE id IN ("
        f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT ?{skip_locked(conn)})"
        " RETURNING id",
        (owner, until_ms, *args, limit),
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def claim_sessions(
    conn: Connection,
    owner: str,
    now_ms: int,
    lease_ms: int,
    *,
    session_id: int | None = None,
    others_only: bool = False,
    due_by_ms: int | None = None,
    limit: int = 100,
) -> list[int]:
    """Claim live sessions whose next deadline is due by ``due_by_ms`` (default ``now_ms``)."""
    due = "state != 'ended' AND next_deadline_ms <= ?"
    return claim_rows(
        conn,
        "sessions",
        due,
        (now_ms if due_by_ms is None else due_by_ms,),
        owner,
        now_ms,
        now_ms + lease_ms,
        row_id=session_id,
        others_only=others_only,
        limit=limit,
    )


def claim_alarms(
    conn: Connection,
    owner: str,
    now_ms: int,
    lease_ms: int,
    *,
    alarm_id: int | None = None,
    others_only: bool = False,
    limit: int = 100,
) -> list[int]:
    """Claim open alarms: the ladder, its timers and its pending notifications go with it."""
    return claim_rows(
        conn,
        "alarms",
        "state = 'open' AND checked_in_ms IS NULL",
        (),
        owner,
        now_ms,
        now_ms + lease_ms,
        row_id=alarm_id,
        others_only=others_only,
        limit=limit,
    )


def renew(conn: Connection, owner: str, now_ms: int, lease_ms: int) -> list[int]:
    """Extend ``owner``'s alarm leases; let go of alarms that closed, or that the worker answered
    by checking in, (on any hub) and return their ids, so the holder stops their ladders and
    retries. Session leases are not renewed:
    one covers handling one deadline, and if that failed, it runs out and the deadline is
    anyone's again (this hub's next sweep included)."""
    until = now_ms + lease_ms
    conn.execute(
        "UPDATE alarms SET lease_until_ms = ? WHERE lease_owner = ? AND state = 'open'"
        " AND checked_in_ms IS NULL",
        (until, owner),
    )
    rows = conn.execute(
        "UPDATE alarms SET lease_owner = NULL, lease_until_ms = NULL"
        " WHERE lease_owner = ? AND (state != 'open' OR checked_in_ms IS NOT NULL) RETURNING id",
        (owner,),
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def release(conn: Connection, owner: str) -> None:
    """Let go of everything (a clean stop): other hubs take the work over at their next sweep."""
    for table in ("sessions", "alarms"):
        conn.execute(
            f"UPDATE {table} SET lease_owner = NULL, lease_until_ms = NULL WHERE lease_owner = ?",
            (owner,),
        )


def release_session(conn: Connection, session_id: int) -> None:
    """The deadline was handled (in this same transaction): the next one is anyone's."""
    conn.execute(
        "UPDATE sessions SET lease_owner = NULL, lease_until_ms = NULL"
        " WHERE id = ? AND lease_owner IS NOT NULL",
        (session_id,),
    )


class LeaseRows:
    """The leases part of ``SqlStore`` (it supplies ``writer``)."""

    writer: Writer

    def claim_sessions(
        self,
        owner: str,
        now_ms: int,
        lease_ms: int,
        *,
        session_id: int | None = None,
        others_only: bool = False,
        due_by_ms: int | None = None,
    ) -> Future[list[int]]:
        return self.writer.submit(
            lambda conn: claim_sessions(
                conn,
                owner,
                now_ms,
                lease_ms,
                session_id=session_id,
                others_only=others_only,
                due_by_ms=due_by_ms,
            )
        )

    def claim_alarms(
        self,
        owner: str,
        now_ms: int,
        lease_ms: int,
        *,
        alarm_id: int | None = None,
        others_only: bool = False,
    ) -> Future[list[int]]:
        return self.writer.submit(
            lambda conn: claim_alarms(
                conn, owner, now_ms, lease_ms, alarm_id=alarm_id, others_only=others_only
            )
        )

    def renew_leases(self, owner: str, now_ms: int, lease_ms: int) -> Future[list[int]]:
        return self.writer.submit(lambda conn: renew(conn, owner, now_ms, lease_ms))

    def release_leases(self, owner: str) -> Future[None]:
        return self.writer.submit(lambda conn: release(conn, owner))
