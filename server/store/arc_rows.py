"""The store's half of the ARC link (SQL shared by both databases), run in the store's writer.

A message is stored before it is sent, idempotent on its key; its sequence number and the
worker's zone are allocated in the same transaction. The counter's row is locked first (FOR
UPDATE on PostgreSQL; SQLite has one writer), so every ARC insert on every hub takes its turn:
two hubs never allocate the same sequence or zone, and a key stored by another hub meanwhile is
found rather than numbered again. A hub *claims* a message (a lease like the alarms' in
``store.leases``) before a round of sends and lets go when it records the round.
"""

from __future__ import annotations

from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any

from loneguard.server.store.arc_records import (
    MAX_SEQUENCE,
    MAX_ZONE,
    PERIODIC_TEST_CODE,
    ArcAttemptRecord,
    ArcAttemptRow,
    ArcMessage,
    ArcMessageState,
    ArcZone,
    ArcZonesFull,
    NewArcMessage,
)
from loneguard.server.store.leases import claim_rows
from loneguard.server.store.sql import Connection, for_update, inserted_id
from loneguard.server.store.writer import Writer

_MESSAGE_COLUMNS = (
    "id, key, alarm_id, qualifier, code, partition, zone, account, sequence, state, attempts,"
    " last_result, receiver, occurred_ms, created_ms, acked_ms, next_attempt_ms, latitude,"
    " longitude"
)
_ATTEMPT_COLUMNS = "id, message_id, receiver, outcome, detail, started_ms, finished_ms"
# A message waits while an older one of its alarm is still pending: the ARC must never get a
# restoral before the alarm it restores (it would then see a live panic that is long over).
_IN_ORDER = (
    "NOT EXISTS (SELECT 1 FROM arc_messages AS older WHERE older.alarm_id ="
    " arc_messages.alarm_id AND older.state = 'pending' AND older.id < arc_messages.id)"
)


def _message(row: tuple[Any, ...]) -> ArcMessage:
    values = list(row)
    values[9] = ArcMessageState(values[9])
    return ArcMessage(*values)


def _select(conn: Connection, where: str, args: tuple[Any, ...]) -> ArcMessage | None:
    row = conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM arc_messages WHERE {where}", args
    ).fetchone()
    return _message(row) if row else None


def _take_turn(conn: Connection) -> int:
    """Lock the sequence counter until the transaction ends; the last number given."""
    row = conn.execute(
        f"SELECT value FROM arc_counters WHERE name = 'sequence'{for_update(conn)}"
    ).fetchone()
    return int(row[0])


def next_sequence(last: int) -> int:
    """1..9999, then 1 again (SIA DC-09: 0000 is not a sequence number)."""
    return 1 if last >= MAX_SEQUENCE else last + 1


def _zone_of(conn: Connection, worker_id: str, now_ms: int) -> int:
    """The worker's zone, allocated the first time (under the counter's lock)."""
    row = conn.execute("SELECT zone FROM arc_zones WHERE worker_id = ?", (worker_id,)).fetchone()
    if row is not None:
        return int(row[0])
    top = conn.execute("SELECT max(zone) FROM arc_zones").fetchone()[0]
    zone = int(top or 0) + 1
    if zone > MAX_ZONE:
        raise ArcZonesFull(f"every ARC zone 1..{MAX_ZONE} is taken")
    conn.execute(
        "INSERT INTO arc_zones (worker_id, zone, created_ms) VALUES (?, ?, ?)",
        (worker_id, zone, now_ms),
    )
    return zone


def add_message(conn: Connection, new: NewArcMessage, now_ms: int) -> tuple[ArcMessage, bool]:
    """Store ``new`` unless its key is known; (the stored message, whether it is new)."""
    last = _take_turn(conn)
    known = _select(conn, "key = ?", (new.key,))
    if known is not None:
        return known, False
    zone = new.zone
    if new.worker_id is not None:
        try:
            zone = _zone_of(conn, new.worker_id, now_ms)
        except ArcZonesFull:
            zone = 0  # the ARC still hears the alarm, for the account, without a zone
    sequence = next_sequence(last)
    conn.execute("UPDATE arc_counters SET value = ? WHERE name = 'sequence'", (sequence,))
    message_id = inserted_id(
        conn.execute(
            "INSERT INTO arc_messages (key, alarm_id, qualifier, code, partition, zone, account,"
            " sequence, occurred_ms, created_ms, next_attempt_ms, latitude, longitude)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                new.key,
                new.alarm_id,
                new.qualifier,
                new.code,
                new.partition,
                zone,
                new.account,
                sequence,
                new.occurred_ms,
                now_ms,
                now_ms,
                new.latitude,
                new.longitude,
            ),
        )
    )
    stored = _select(conn, "id = ?", (message_id,))
    assert stored is not None
    return stored, True


def claim_next(
    conn: Connection, owner: str, now_ms: int, lease_ms: int, message_id: int | None
) -> ArcMessage | None:
    """Claim the next pending message due by ``now_ms``: alarms before tests, oldest first,
    and each alarm's messages in order (its restoral only once its opening is acked)."""
    claimed = claim_rows(
        conn,
        "arc_messages",
        f"state = 'pending' AND next_attempt_ms <= ? AND {_IN_ORDER}",
        (now_ms,),
        owner,
        now_ms,
        now_ms + lease_ms,
        row_id=message_id,
        others_only=False,
        limit=1,
        order=f"CASE WHEN code = {PERIODIC_TEST_CODE} THEN 1 ELSE 0 END, id",
    )
    return _select(conn, "id = ?", (claimed[0],)) if claimed else None


def record_attempt(
    conn: Connection, message_id: int, attempt: ArcAttemptRecord, lease_until_ms: int | None
) -> None:
    """One try at one receiver, recorded as it ends (before the next begins); the sender's
    claim is renewed to ``lease_until_ms``, so it only has to outlast one attempt."""
    conn.execute(
        "INSERT INTO arc_attempts (message_id, receiver, outcome, detail, started_ms,"
        " finished_ms) VALUES (?, ?, ?, ?, ?, ?)",
        (
            message_id,
            attempt.receiver,
            attempt.outcome,
            attempt.detail[:500],
            attempt.started_ms,
            attempt.finished_ms,
        ),
    )
    result = f"{attempt.receiver}: {attempt.outcome} {attempt.detail}".strip()[:500]
    conn.execute(
        "UPDATE arc_messages SET attempts = attempts + 1, last_result = ?,"
        " lease_until_ms = coalesce(?, lease_until_ms) WHERE id = ?",
        (result, lease_until_ms, message_id),
    )


def record_round(
    conn: Connection,
    message_id: int,
    acked_by: str | None,
    retry_at_ms: int | None,
    now_ms: int,
) -> ArcMessage:
    """End a round (its attempts are recorded) and let go of the message: acked
    (``acked_by``), pending again at ``retry_at_ms``, or failed (a test: both None)."""
    if acked_by is not None:
        state, acked_ms, next_ms = ArcMessageState.ACKED, now_ms, now_ms
    elif retry_at_ms is not None:
        state, acked_ms, next_ms = ArcMessageState.PENDING, None, retry_at_ms
    else:
        state, acked_ms, next_ms = ArcMessageState.FAILED, None, now_ms
    # A message another hub acked meanwhile stays acked (it is never sent as new again).
    conn.execute(
        "UPDATE arc_messages SET state = CASE WHEN state = 'acked' THEN state ELSE ? END,"
        " receiver = coalesce(receiver, ?), acked_ms = coalesce(acked_ms, ?),"
        " next_attempt_ms = ?, lease_owner = NULL, lease_until_ms = NULL WHERE id = ?",
        (str(state), acked_by, acked_ms, next_ms, message_id),
    )
    stored = _select(conn, "id = ?", (message_id,))
    assert stored is not None
    return stored


def claim_test(conn: Connection, now_ms: int, interval_ms: int) -> tuple[bool, int]:
    """Whether this hub sends the supervision test due now (it moves the next one on), and when
    the next test is due. Hubs sharing the database each ask; the row's lock lets one win."""
    row = conn.execute(
        f"SELECT next_test_ms FROM arc_link WHERE id = 1{for_update(conn)}"
    ).fetchone()
    due = row[0]
    if due is not None and int(due) > now_ms:
        return False, int(due)
    conn.execute("UPDATE arc_link SET next_test_ms = ? WHERE id = 1", (now_ms + interval_ms,))
    return True, now_ms + interval_ms


class ArcRows:
    """Mixed into ``SqlStore`` (which supplies ``writer``, ``_read`` and ``_now_ms``)."""

    writer: Writer

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def add_arc_message(self, new: NewArcMessage, at_ms: int) -> Future[tuple[ArcMessage, bool]]:
        return self.writer.submit(lambda conn: add_message(conn, new, at_ms))

    def claim_arc_message(
        self, owner: str, now_ms: int, lease_ms: int, message_id: int | None = None
    ) -> Future[ArcMessage | None]:
        return self.writer.submit(
            lambda conn: claim_next(conn, owner, now_ms, lease_ms, message_id)
        )

    def record_arc_attempt(
        self, message_id: int, attempt: ArcAttemptRecord, lease_until_ms: int | None = None
    ) -> Future[None]:
        return self.writer.submit(
            lambda conn: record_attempt(conn, message_id, attempt, lease_until_ms)
        )

    def record_arc_round(
        self, message_id: int, acked_by: str | None, retry_at_ms: int | None, at_ms: int
    ) -> Future[ArcMessage]:
        return self.writer.submit(
            lambda conn: record_round(conn, message_id, acked_by, retry_at_ms, at_ms)
        )

    def claim_arc_test(self, now_ms: int, interval_ms: int) -> Future[tuple[bool, int]]:
        return self.writer.submit(lambda conn: claim_test(conn, now_ms, interval_ms))

    def arc_zone(self, worker_id: str, at_ms: int) -> Future[int]:
        """The worker's zone, allocated now if they have none (raises ``ArcZonesFull``)."""

        def run(conn: Connection) -> int:
            _take_turn(conn)
            return _zone_of(conn, worker_id, at_ms)

        return self.writer.submit(run)

    # -- reads ----------------------------------------------------------------------------------
    def arc_message(self, key: str) -> ArcMessage | None:
        with self._read() as conn:
            return _select(conn, "key = ?", (key,))

    def arc_messages(
        self,
        state: ArcMessageState | None = None,
        alarm_id: int | None = None,
        limit: int = 100,
    ) -> list[ArcMessage]:
        """Newest first."""
        where: list[str] = []
        args: list[Any] = []
        if state is not None:
            where.append("state = ?")
            args.append(str(state))
        if alarm_id is not None:
            where.append("alarm_id = ?")
            args.append(alarm_id)
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM arc_messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_message(r) for r in rows]

    def arc_pending_alarm_count(self) -> int:
        """Alarm messages (not supervision tests) stored and not yet acked."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT count(*) FROM arc_messages WHERE state = 'pending'"
                f" AND code != {PERIODIC_TEST_CODE}"
            ).fetchone()
        return int(row[0])

    def arc_next_due_ms(self) -> int | None:
        """When the soonest pending message is due for its next round (one that waits for an
        older message of its alarm is due when that one is)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT min(next_attempt_ms) FROM arc_messages"
                f" WHERE state = 'pending' AND {_IN_ORDER}"
            ).fetchone()
        return None if row[0] is None else int(row[0])

    def arc_attempts(self, message_id: int) -> list[ArcAttemptRow]:
        """Oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM arc_attempts WHERE message_id = ? ORDER BY id",
                (message_id,),
            ).fetchall()
        return [ArcAttemptRow(*r) for r in rows]

    def arc_zones(self) -> list[ArcZone]:
        """By zone: the ARC's account sheet."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT worker_id, zone, created_ms FROM arc_zones ORDER BY zone"
            ).fetchall()
        return [ArcZone(*r) for r in rows]
