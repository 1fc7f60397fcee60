"""Risk assessments, incidents and their actions (SQL shared by both databases).

Addresses and contacts are matched by keys (``risk.places``) kept beside them, so the planner
finds "12a High St." when an incident was at "12A High Street". The audit log says who changed
what record, never the text written in it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import astuple, replace
from typing import Any

from loneguard.server.risk.places import address_key, contact_key
from loneguard.server.store.records import Alarm
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentKind,
    IncidentNotFound,
    IncidentSeverity,
    IncidentStatus,
    PlaceHistory,
    RiskAssessment,
    RiskRating,
)
from loneguard.server.store.sql import (
    ALARM_COLUMNS,
    Connection,
    alarm_of,
    audit,
    for_update,
    inserted_id,
)
from loneguard.server.store.writer import Writer

_RISK_COLUMNS = (
    "id, session_id, pattern, worker_id, environment, context, individuals, history,"
    " allegation, other, rating, measures, override_by, override_reason, assessed_by,"
    " assessed_ms"
)
_INCIDENT_COLUMNS = (
    "id, kind, status, severity, occurred_ms, what, address, people, worker_id, alarm_id,"
    " session_id, contact_name, contact_phone, immediate_actions, investigator, findings,"
    " reported_by, reported_ms, closed_by, closed_ms"
)
_ACTION_COLUMNS = "id, incident_id, what, owner, due_ms, done_ms, done_by"


def _risk(row: tuple[Any, ...]) -> RiskAssessment:
    values = list(row)
    values[10] = RiskRating(values[10])
    return RiskAssessment(*values)


def _incident(row: tuple[Any, ...]) -> Incident:
    values = list(row)
    values[1] = IncidentKind(values[1])
    values[2] = IncidentStatus(values[2])
    values[3] = IncidentSeverity(values[3])
    return Incident(*values)


def _select_incident(conn: Connection, incident_id: int, *, lock: bool = False) -> Incident | None:
    row = conn.execute(
        f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?{for_update(conn) if lock else ''}",
        (incident_id,),
    ).fetchone()
    return _incident(row) if row else None


def forget_assessment_text(conn: Connection, session_id: int) -> None:
    """The retention purge of a visit: its assessment keeps the rating, who assessed and any
    override (the review counts them), and forgets what it said about people and places."""
    conn.execute(
        "UPDATE risk_assessments SET environment = '', context = '', individuals = '',"
        " history = '', allegation = '', other = '', measures = '' WHERE session_id = ?",
        (session_id,),
    )


class SafetyRows:
    """Risk and incidents, the part of ``SqlStore`` that keeps them."""

    writer: Writer

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # -- risk assessments -------------------------------------------------------------------------
    def save_risk_assessment(
        self, assessment: RiskAssessment, actor: str
    ) -> Future[RiskAssessment]:
        if (assessment.session_id is None) == (assessment.pattern is None):
            raise ValueError("an assessment is of a visit or of a pattern: exactly one")
        target = "session_id" if assessment.session_id is not None else "pattern"
        values = astuple(assessment)[1:]
        updates = ", ".join(
            f"{c.strip()} = excluded.{c.strip()}" for c in _RISK_COLUMNS.split(",")[3:]
        )

        def run(conn: Connection) -> RiskAssessment:
            row = conn.execute(
                f"INSERT INTO risk_assessments ({_RISK_COLUMNS.removeprefix('id, ')})"
                f" VALUES ({', '.join('?' * len(values))})"
                f" ON CONFLICT ({target}) DO UPDATE SET {updates} RETURNING id",
                tuple(str(v) if isinstance(v, RiskRating) else v for v in values),
            ).fetchone()
            subject = (
                f"session:{assessment.session_id}"
                if assessment.session_id is not None
                else f"risk:{row[0]}"
            )
            detail: dict[str, Any] = {"rating": str(assessment.rating)}
            if assessment.override_by:
                detail["override"] = True
            audit(conn, assessment.assessed_ms, actor, "risk.assess", subject, detail)
            return replace(assessment, id=int(row[0]))

        return self.writer.submit(run)

    def risk_assessment(self, session_id: int) -> RiskAssessment | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_RISK_COLUMNS} FROM risk_assessments WHERE session_id = ?",
                (session_id,),
            ).fetchone()
        return _risk(row) if row else None

    def risk_assessments(self) -> list[RiskAssessment]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_RISK_COLUMNS} FROM risk_assessments ORDER BY assessed_ms DESC, id DESC"
            ).fetchall()
        return [_risk(r) for r in rows]

    # -- incidents --------------------------------------------------------------------------------
    def report_incident(self, incident: Incident, actor: str) -> Future[Incident]:
        values = astuple(incident)[1:]

        def run(conn: Connection) -> Incident:
            cur = conn.execute(
                f"INSERT INTO incidents ({_INCIDENT_COLUMNS.removeprefix('id, ')},"
                f" address_key, contact_key) VALUES ({', '.join('?' * (len(values) + 2))})"
                " RETURNING id",
                (
                    *(str(v) if isinstance(v, str) else v for v in values),
                    address_key(incident.address),
                    contact_key(incident.contact_name, incident.contact_phone),
                ),
            )
            incident_id = inserted_id(cur)
            detail: dict[str, Any] = {
                "kind": str(incident.kind),
                "severity": str(incident.severity),
            }
            if incident.alarm_id is not None:
                detail["alarm_id"] = incident.alarm_id
            audit(
                conn,
                incident.reported_ms,
                actor,
                "incident.report",
                f"incident:{incident_id}",
                detail,
            )
            return replace(incident, id=incident_id)

        return self.writer.submit(run)

    def change_incident(
        self,
        incident_id: int,
        change: Callable[[Incident], Incident],
        at_ms: int,
        actor: str,
        action: str,
    ) -> Future[Incident]:
        """Apply a rule of ``incidents.lifecycle`` to the stored incident and audit it."""

        def run(conn: Connection) -> Incident:
            old = _select_incident(conn, incident_id, lock=True)
            if old is None:
                raise IncidentNotFound(f"no incident {incident_id}")
            new = change(old)
            conn.execute(
                "UPDATE incidents SET status = ?, investigator = ?, findings = ?,"
                " closed_by = ?, closed_ms = ? WHERE id = ?",
                (
                    str(new.status),
                    new.investigator,
                    new.findings,
                    new.closed_by,
                    new.closed_ms,
                    incident_id,
                ),
            )
            detail = {"status": str(new.status)} if new.status != old.status else {}
            audit(conn, at_ms, actor, action, f"incident:{incident_id}", detail)
            return new

        return self.writer.submit(run)

    def incident(self, incident_id: int) -> Incident | None:
        with self._read() as conn:
            return _select_incident(conn, incident_id)

    def incidents(self, status: IncidentStatus | None = None) -> list[Incident]:
        sql = f"SELECT {_INCIDENT_COLUMNS} FROM incidents"
        args: tuple[Any, ...] = ()
        if status is not None:
            sql, args = sql + " WHERE status = ?", (str(status),)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY occurred_ms DESC, id DESC", args).fetchall()
        return [_incident(r) for r in rows]

    def incident_for_alarm(self, alarm_id: int) -> Incident | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE alarm_id = ? ORDER BY id LIMIT 1",
                (alarm_id,),
            ).fetchone()
        return _incident(row) if row else None

    # -- actions ----------------------------------------------------------------------------------
    def add_incident_action(
        self, action: IncidentAction, at_ms: int, actor: str
    ) -> Future[IncidentAction]:
        def run(conn: Connection) -> IncidentAction:
            if _select_incident(conn, action.incident_id) is None:
                raise IncidentNotFound(f"no incident {action.incident_id}")
            cur = conn.execute(
                "INSERT INTO incident_actions (incident_id, what, owner, due_ms)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (action.incident_id, action.what, action.owner, action.due_ms),
            )
            action_id = inserted_id(cur)
            audit(
                conn,
                at_ms,
                actor,
                "incident.action",
                f"incident:{action.incident_id}",
                {"action_id": action_id},
            )
            return replace(action, id=action_id)

        return self.writer.submit(run)

    def complete_incident_action(
        self, action_id: int, at_ms: int, by: str, actor: str
    ) -> Future[IncidentAction | None]:
        def run(conn: Connection) -> IncidentAction | None:
            row = conn.execute(
                "UPDATE incident_actions SET done_ms = ?, done_by = ?"
                f" WHERE id = ? AND done_ms IS NULL RETURNING {_ACTION_COLUMNS}",
                (at_ms, by, action_id),
            ).fetchone()
            if row is None:
                return None
            audit(
                conn,
                at_ms,
                actor,
                "incident.action_done",
                f"incident:{row[1]}",
                {"action_id": action_id},
            )
            return IncidentAction(*row)

        return self.writer.submit(run)

    def incident_actions(self, incident_id: int | None = None) -> list[IncidentAction]:
        sql = f"SELECT {_ACTION_COLUMNS} FROM incident_actions"
        args: tuple[Any, ...] = ()
        if incident_id is not None:
            sql, args = sql + " WHERE incident_id = ?", (incident_id,)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY due_ms, id", args).fetchall()
        return [IncidentAction(*r) for r in rows]

    # -- history of a place -----------------------------------------------------------------------
    def place_history(
        self, address: str | None, contact_name: str | None, contact_phone: str | None
    ) -> PlaceHistory:
        """Incidents and visit alarms at the same address or with the same contact, newest
        first (a visit whose details the retention purge forgot is no longer found)."""
        place = address_key(address)
        person = contact_key(contact_name, contact_phone)
        if place is None and person is None:
            return PlaceHistory()
        with self._read() as conn:
            incidents = conn.execute(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE address_key = ?"
                " OR contact_key = ? ORDER BY occurred_ms DESC, id DESC",
                (place, person),
            ).fetchall()
            visits = conn.execute(
                "SELECT id, address, contact_name, contact_phone FROM sessions"
                " WHERE kind = 'visit' AND (address IS NOT NULL OR contact_name IS NOT NULL"
                " OR contact_phone IS NOT NULL)"
            ).fetchall()
            same = [
                v[0]
                for v in visits
                if (place is not None and address_key(v[1]) == place)
                or (person is not None and contact_key(v[2], v[3]) == person)
            ]
            alarms: list[Alarm] = []
            if same:
                marks = ", ".join("?" * len(same))
                rows = conn.execute(
                    f"SELECT {ALARM_COLUMNS} FROM alarms WHERE session_id IN ({marks})"
                    " ORDER BY opened_ms DESC, id DESC",
                    tuple(same),
                ).fetchall()
                alarms = [alarm_of(r) for r in rows]
        return PlaceHistory(tuple(_incident(r) for r in incidents), tuple(alarms))
