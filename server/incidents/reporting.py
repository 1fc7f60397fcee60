"""Making a reported incident: from a form or the API, the same way.

From an alarm, where and with whom come from its visit when the reporter left them out (a
viewer reporting never saw them); the worker is the alarm's.
"""

from __future__ import annotations

from dataclasses import dataclass

from loneguard.server.store import Store
from loneguard.server.store.safety_records import (
    Incident,
    IncidentKind,
    IncidentSeverity,
    IncidentStatus,
)


@dataclass(frozen=True)
class Report:
    kind: IncidentKind
    severity: IncidentSeverity
    occurred_ms: int
    what: str
    address: str | None = None
    people: str = ""
    worker_id: str | None = None
    alarm_id: int | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    immediate_actions: str = ""


def _given(text: str | None) -> str | None:
    return text.strip() or None if text is not None else None


def incident_of(store: Store, report: Report, reported_by: str, now_ms: int) -> Incident:
    alarm = store.alarm(report.alarm_id) if report.alarm_id is not None else None
    session = store.session(alarm.session_id) if alarm and alarm.session_id else None
    return Incident(
        id=0,
        kind=report.kind,
        status=IncidentStatus.REPORTED,
        severity=report.severity,
        occurred_ms=report.occurred_ms,
        what=report.what.strip(),
        address=_given(report.address) or (session.address if session else None),
        people=report.people.strip(),
        worker_id=report.worker_id or (alarm.worker_id if alarm else None),
        alarm_id=alarm.id if alarm else None,
        session_id=session.id if session else None,
        contact_name=_given(report.contact_name) or (session.contact_name if session else None),
        contact_phone=_given(report.contact_phone) or (session.contact_phone if session else None),
        immediate_actions=report.immediate_actions.strip(),
        investigator=None,
        findings="",
        reported_by=reported_by,
        reported_ms=now_ms,
    )
