"""The store's half for the delivery manager's copies, calendar feeds, signal black spots and
shift types (SQL shared by both databases). Writes run in the store's writer and are audited
in the same transaction when people make them; the audit says who and what, never an address.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from loneguard.server.outreach.address_key import address_key
from loneguard.server.sessions import rules
from loneguard.server.store.outreach_records import (
    ArrangementChange,
    ArrangementCopy,
    CalendarFeed,
    FeedScope,
    SignalMinute,
    SignalSample,
    SignalSpot,
    VisitChange,
)
from loneguard.server.store.records import (
    Session,
    SessionConflict,
    SessionKind,
    SessionNotFound,
    SessionState,
)
from loneguard.server.store.sql import Connection, audit, inserted_id
from loneguard.server.store.sqlite_sessions import (
    save_session,
    select_session,
)
from loneguard.server.store.writer import Writer

_FEED_COLUMNS = "id, label, scope, subject, with_addresses, created_by, created_ms, revoked_ms"
_COPY_COLUMNS = "id, session_id, change, channel, recipient, state, detail, created_ms, updated_ms"
_SPOT_COLUMNS = (
    "address_key, address, samples, poor_samples, worker_flags, worst_dbm, first_seen_ms,"
    " last_seen_ms, last_poor_ms"
)
# A visit may still be changed while it runs or falls due; an open alarm must be handled first.
_CHANGEABLE = (SessionState.ACTIVE, SessionState.DUE)


def _feed(row: tuple[Any, ...]) -> CalendarFeed:
    v = list(row)
    v[2], v[4] = FeedScope(v[2]), bool(v[4])
    return CalendarFeed(*v)


def _copy(row: tuple[Any, ...]) -> ArrangementCopy:
    v = list(row)
    v[2] = ArrangementChange(v[2])
    return ArrangementCopy(*v)


def _visit_at(conn: Connection, session: Session | None, at_ms: int) -> Session | None:
    """The visit under way at ``at_ms`` (past its planned start), with an address."""
    if session is None or session.kind != SessionKind.VISIT or not session.address:
        return None
    row = conn.execute(
        "SELECT planned_start_ms FROM visit_plans WHERE session_id = ?", (session.id,)
    ).fetchone()
    if row is not None and row[0] is not None and at_ms < row[0]:
        return None  # planned, not yet started: the unit is not at the address
    return session


def _visit_of_device_at(conn: Connection, device_id: str, at_ms: int) -> Session | None:
    """The device's visit that had started and not yet ended at ``at_ms``."""
    row = conn.execute(
        "SELECT id FROM sessions WHERE device_id = ? AND kind = 'visit' AND started_ms <= ?"
        " AND (ended_ms IS NULL OR ended_ms >= ?) ORDER BY id DESC LIMIT 1",
        (device_id, at_ms, at_ms),
    ).fetchone()
    return select_session(conn, row[0]) if row else None


@dataclass(frozen=True)
class _Tally:
    """What is added to one address's spot: samples, poor ones, a worker's flag."""

    first_ms: int
    last_ms: int
    samples: int = 0
    poor: int = 0
    flags: int = 0
    worst_dbm: int | None = None
    last_poor_ms: int | None = None


def _tally(samples: Sequence[SignalSample]) -> _Tally:
    dbms = [s.dbm for s in samples if s.dbm is not None]
    poor = [s.at_ms for s in samples if s.poor]
    return _Tally(
        min(s.at_ms for s in samples),
        max(s.at_ms for s in samples),
        samples=len(samples),
        poor=len(poor),
        worst_dbm=min(dbms) if dbms else None,
        last_poor_ms=max(poor) if poor else None,
    )


def _add_to_spot(conn: Connection, address: str, tally: _Tally) -> str | None:
    key = address_key(address)
    if not key:
        return None
    conn.execute(
        f"INSERT INTO signal_spots ({_SPOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (address_key) DO UPDATE SET address = excluded.address,"
        " samples = signal_spots.samples + excluded.samples,"
        " poor_samples = signal_spots.poor_samples + excluded.poor_samples,"
        " worker_flags = signal_spots.worker_flags + excluded.worker_flags,"
        " worst_dbm = CASE WHEN excluded.worst_dbm IS NULL THEN signal_spots.worst_dbm"
        "   WHEN signal_spots.worst_dbm IS NULL THEN excluded.worst_dbm"
        "   WHEN excluded.worst_dbm < signal_spots.worst_dbm THEN excluded.worst_dbm"
        "   ELSE signal_spots.worst_dbm END,"
        " last_seen_ms = excluded.last_seen_ms,"
        " last_poor_ms = COALESCE(excluded.last_poor_ms, signal_spots.last_poor_ms)",
        (
            key,
            address.strip(),
            tally.samples,
            tally.poor,
            tally.flags,
            tally.worst_dbm,
            tally.first_ms,
            tally.last_ms,
            tally.last_poor_ms,
        ),
    )
    return key


def _visits_of(conn: Connection, minute: SignalMinute) -> dict[str, list[SignalSample]]:
    """The minute's samples by the address of the visit under way at each (none: left out).
    A device's visits do not overlap, so one visit at the first and the last sample has them
    all; only a minute across a visit's start or end is looked up sample by sample."""

    def address_at(at_ms: int) -> tuple[int, str] | None:
        visit = _visit_at(conn, _visit_of_device_at(conn, minute.device_id, at_ms), at_ms)
        return (visit.id, visit.address) if visit is not None and visit.address else None

    first, last = minute.samples[0], minute.samples[-1]
    ends = address_at(first.at_ms), address_at(last.at_ms)
    by_visit: dict[str, list[SignalSample]] = {}
    if ends[0] == ends[1]:
        if ends[0] is not None:
            by_visit[ends[0][1]] = list(minute.samples)
        return by_visit
    for sample in minute.samples:
        visit = address_at(sample.at_ms)
        if visit is not None:
            by_visit.setdefault(visit[1], []).append(sample)
    return by_visit


class OutreachRows:
    """Mixed into ``SqlStore`` (which supplies ``writer`` and ``_read``)."""

    writer: Writer

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # -- calendar feeds -------------------------------------------------------------------------
    def create_calendar_feed(
        self,
        label: str,
        scope: FeedScope,
        subject: str | None,
        with_addresses: bool,
        token_hash: str,
        at_ms: int,
        actor: str,
    ) -> Future[CalendarFeed]:
        def run(conn: Connection) -> CalendarFeed:
            feed_id = inserted_id(
                conn.execute(
                    "INSERT INTO calendar_feeds (token_hash, label, scope, subject,"
                    " with_addresses, created_by, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " RETURNING id",
                    (token_hash, label, str(scope), subject, int(with_addresses), actor, at_ms),
                )
            )
            detail = {"scope": str(scope), "subject": subject, "with_addresses": with_addresses}
            audit(conn, at_ms, actor, "calendar.create", f"calendar:{feed_id}", detail)
            return CalendarFeed(feed_id, label, scope, subject, with_addresses, actor, at_ms, None)

        return self.writer.submit(run)

    def revoke_calendar_feed(self, feed_id: int, at_ms: int, actor: str) -> Future[bool]:
        def run(conn: Connection) -> bool:
            done = conn.execute(
                "UPDATE calendar_feeds SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL"
                " RETURNING id",
                (at_ms, feed_id),
            ).fetchone()
            if done is not None:
                audit(conn, at_ms, actor, "calendar.revoke", f"calendar:{feed_id}", {})
            return done is not None

        return self.writer.submit(run)

    def calendar_feeds(self) -> list[CalendarFeed]:
        """Every feed, live and revoked, newest first."""
        with self._read() as conn:
            rows = conn.execute(f"SELECT {_FEED_COLUMNS} FROM calendar_feeds ORDER BY id DESC")
            return [_feed(r) for r in rows.fetchall()]

    def calendar_feed_by_hash(self, token_hash: str) -> CalendarFeed | None:
        """The live (unrevoked) feed with this secret's hash."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_FEED_COLUMNS} FROM calendar_feeds"
                " WHERE token_hash = ? AND revoked_ms IS NULL",
                (token_hash,),
            ).fetchone()
        return _feed(row) if row else None

    # -- the delivery manager's copies -------------------------------------------------------------
    def add_arrangement_copy(
        self,
        session_id: int,
        change: ArrangementChange,
        channel: str,
        recipient: str,
        at_ms: int,
    ) -> Future[int]:
        def run(conn: Connection) -> int:
            return inserted_id(
                conn.execute(
                    "INSERT INTO arrangement_copies (session_id, change, channel, recipient,"
                    " created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (session_id, str(change), channel, recipient, at_ms, at_ms),
                )
            )

        return self.writer.submit(run)

    def finish_arrangement_copy(
        self, copy_id: int, ok: bool, detail: str, at_ms: int
    ) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "UPDATE arrangement_copies SET state = ?, detail = ?, updated_ms = ? WHERE id = ?",
                ("sent" if ok else "failed", detail, at_ms, copy_id),
            )

        return self.writer.submit(run)

    def arrangement_copies(self, session_id: int | None = None) -> list[ArrangementCopy]:
        """Oldest first; those of one visit when ``session_id`` is given."""
        sql = f"SELECT {_COPY_COLUMNS} FROM arrangement_copies"
        args: tuple[int, ...] = ()
        if session_id is not None:
            sql, args = sql + " WHERE session_id = ?", (session_id,)
        with self._read() as conn:
            return [_copy(r) for r in conn.execute(sql + " ORDER BY id", args).fetchall()]

    # -- changing a planned visit -----------------------------------------------------------------
    def change_visit(
        self, session_id: int, change: VisitChange, at_ms: int, actor: str
    ) -> Future[Session]:
        """New arrangements for a visit not yet ended nor overdue: its timer starts again."""

        def run(conn: Connection) -> Session:
            before = select_session(conn, session_id, lock=True)
            if before is None or before.kind != SessionKind.VISIT:
                raise SessionNotFound(f"no visit {session_id}")
            if before.state not in _CHANGEABLE:
                raise SessionConflict(f"visit {session_id} is {before.state}: it cannot change")
            changed = replace(
                before,
                address=change.address,
                contact_name=change.contact_name,
                contact_phone=change.contact_phone,
                accompanied=change.accompanied,
                approved_by=change.approved_by,
                expected_end_ms=change.expected_end_ms,
                state=SessionState.ACTIVE,
                prealert_sent=False,
            )
            changed = replace(changed, next_deadline_ms=rules.next_deadline(changed))
            conn.execute(
                "UPDATE sessions SET address = ?, contact_name = ?, contact_phone = ?,"
                " accompanied = ?, approved_by = ? WHERE id = ?",
                (
                    change.address,
                    change.contact_name,
                    change.contact_phone,
                    int(change.accompanied),
                    change.approved_by,
                    session_id,
                ),
            )
            saved = save_session(conn, changed)
            conn.execute(
                "UPDATE visit_plans SET planned_start_ms = ? WHERE session_id = ?",
                (change.planned_start_ms, session_id),
            )
            detail = {
                "accompanied": change.accompanied,
                "approved_by": change.approved_by,
                "planned_start_ms": change.planned_start_ms,
                "expected_end_ms": change.expected_end_ms,
            }
            audit(conn, at_ms, actor, "visit.change", f"session:{session_id}", detail)
            return saved

        return self.writer.submit(run)

    # -- signal black spots -------------------------------------------------------------------
    def record_signal_minutes(self, minutes: Sequence[SignalMinute]) -> Future[int]:
        """Count heartbeats' signal by the minute, in one transaction: each device's samples
        at the address of its visit under way at each; how many samples were counted."""

        def run(conn: Connection) -> int:
            counted = 0
            for minute in minutes:
                if not minute.samples:
                    continue
                for address, samples in _visits_of(conn, minute).items():
                    if _add_to_spot(conn, address, _tally(samples)) is not None:
                        counted += len(samples)
            return counted

        return self.writer.submit(run)

    def flag_poor_signal(
        self, at_ms: int, actor: str, *, device_id: str | None = None, session_id: int | None = None
    ) -> Future[str | None]:
        """A worker's "poor signal here": marks the address of the visit ``session_id``, or of
        the device's visit under way at ``at_ms`` (a report pressed in a black spot arrives once
        the unit has signal again, perhaps after the visit); the address key, or None."""

        def run(conn: Connection) -> str | None:
            visit: Session | None = None
            if session_id is not None:
                visit = select_session(conn, session_id)
                visit = visit if visit and visit.kind == SessionKind.VISIT else None
            elif device_id is not None:
                visit = _visit_at(conn, _visit_of_device_at(conn, device_id, at_ms), at_ms)
            if visit is None or not visit.address:
                return None
            key = _add_to_spot(
                conn, visit.address, _Tally(at_ms, at_ms, flags=1, last_poor_ms=at_ms)
            )
            if key is not None:
                audit(conn, at_ms, actor, "signal.flag", f"session:{visit.id}", {})
            return key

        return self.writer.submit(run)

    def signal_spots(self) -> list[SignalSpot]:
        """Every address heard from, the most reported first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SPOT_COLUMNS} FROM signal_spots"
                " ORDER BY worker_flags + poor_samples DESC, last_seen_ms DESC"
            ).fetchall()
        return [SignalSpot(*r) for r in rows]

    def signal_spot(self, address: str) -> SignalSpot | None:
        key = address_key(address)
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_SPOT_COLUMNS} FROM signal_spots WHERE address_key = ?", (key,)
            ).fetchone()
        return SignalSpot(*row) if row else None

    def purge_signal_spots(self, before_ms: int, at_ms: int) -> Future[int]:
        """Forget the addresses last heard from before ``before_ms`` (with the visits' own
        details, after ``console.visit_retention_days``); how many."""

        def run(conn: Connection) -> int:
            gone = conn.execute(
                "DELETE FROM signal_spots WHERE last_seen_ms < ? RETURNING address_key",
                (before_ms,),
            ).fetchall()
            if gone:
                audit(conn, at_ms, "hub", "signal.purge", None, {"addresses": len(gone)})
            return len(gone)

        return self.writer.submit(run)

    # -- shift types ----------------------------------------------------------------------------
    def set_shift_type(self, session_id: int, shift_type: str) -> Future[None]:
        def run(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO session_shift_types (session_id, shift_type) VALUES (?, ?)"
                " ON CONFLICT (session_id) DO UPDATE SET shift_type = excluded.shift_type",
                (session_id, shift_type),
            )

        return self.writer.submit(run)

    def shift_type_of(self, session_id: int) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT shift_type FROM session_shift_types WHERE session_id = ?", (session_id,)
            ).fetchone()
        return str(row[0]) if row else None
