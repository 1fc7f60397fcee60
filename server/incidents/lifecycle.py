"""An incident's status, pure: reported → investigating → closed, and nothing else.

Investigating needs someone named to investigate; closing needs the findings. A closed incident
stays closed: a new fact is a new incident (the review counts what was closed in its period).
"""

from __future__ import annotations

from dataclasses import replace

from loneguard.server.store.safety_records import Incident, IncidentConflict, IncidentStatus

NEXT: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.REPORTED: frozenset({IncidentStatus.INVESTIGATING}),
    IncidentStatus.INVESTIGATING: frozenset({IncidentStatus.CLOSED}),
    IncidentStatus.CLOSED: frozenset(),
}


class IncidentRefused(ValueError):
    """A change with a missing or wrong field; names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


def _allowed(incident: Incident, to: IncidentStatus) -> None:
    if to not in NEXT[incident.status]:
        raise IncidentConflict(
            f"incident {incident.id} is {incident.status}: it cannot become {to}"
            f" (reported → investigating → closed)"
        )


def investigate(incident: Incident, investigator: str) -> Incident:
    """Reported → investigating, by the person named."""
    if not investigator.strip():
        raise IncidentRefused("investigator", "name who investigates")
    _allowed(incident, IncidentStatus.INVESTIGATING)
    return replace(incident, status=IncidentStatus.INVESTIGATING, investigator=investigator.strip())


def write_findings(incident: Incident, findings: str) -> Incident:
    """Findings so far, while the investigation is open."""
    if incident.status != IncidentStatus.INVESTIGATING:
        raise IncidentConflict(f"incident {incident.id} is {incident.status}, not investigating")
    return replace(incident, findings=findings.strip())


def close(incident: Incident, findings: str, by: str, at_ms: int) -> Incident:
    """Investigating → closed, with the findings."""
    text = findings.strip() or incident.findings
    if not text:
        raise IncidentRefused("findings", "say what the investigation found before closing")
    _allowed(incident, IncidentStatus.CLOSED)
    return replace(
        incident, status=IncidentStatus.CLOSED, findings=text, closed_by=by, closed_ms=at_ms
    )
