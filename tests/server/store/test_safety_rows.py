"""Risk assessments, incidents and their actions in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.server.incidents import lifecycle
from loneguard.server.sessions import rules
from loneguard.server.sessions.rules import SessionPlan
from loneguard.server.store import AlarmKind, SessionKind, Worker
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentConflict,
    IncidentKind,
    IncidentNotFound,
    IncidentSeverity,
    IncidentStatus,
    RiskAssessment,
    RiskRating,
)
from loneguard.server.store.sqlite import SqlStore


def assessment(**changes: object) -> RiskAssessment:
    values: dict[str, object] = {
        "id": 0,
        "session_id": None,
        "pattern": None,
        "worker_id": "w1",
        "environment": "ground floor flat, one way in",
        "context": "first visit",
        "individuals": "none known",
        "history": "",
        "allegation": "parent present throughout",
        "other": "",
        "rating": RiskRating.LOW,
        "measures": "check in by phone at the end",
        "override_by": None,
        "override_reason": None,
        "assessed_by": "ada",
        "assessed_ms": 1000,
    }
    values.update(changes)
    return RiskAssessment(**values)  # type: ignore[arg-type]


def incident(**changes: object) -> Incident:
    values: dict[str, object] = {
        "id": 0,
        "kind": IncidentKind.THREAT,
        "status": IncidentStatus.REPORTED,
        "severity": IncidentSeverity.HIGH,
        "occurred_ms": 5000,
        "what": "Threatened by phone before the visit",
        "address": "12a High St.",
        "people": "the learner's uncle",
        "worker_id": "w1",
        "alarm_id": None,
        "session_id": None,
        "contact_name": "Mr Uncle",
        "contact_phone": "+44 7700 900123",
        "immediate_actions": "visit cancelled",
        "investigator": None,
        "findings": "",
        "reported_by": "ada",
        "reported_ms": 6000,
    }
    values.update(changes)
    return Incident(**values)  # type: ignore[arg-type]


def visit(store: SqlStore, address: str, phone: str | None = None) -> int:
    plan = SessionPlan(
        kind=SessionKind.VISIT,
        worker_id="w1",
        device_id=None,
        started_ms=1000,
        grace_s=60,
        prealert_s=60,
        expected_end_ms=3_600_000,
        address=address,
        contact_phone=phone,
        accompanied=True,
    )
    return store.start_session(plan, "test").result(timeout=5).id


@pytest.fixture
def worker(store: SqlStore) -> None:
    store.save_worker(Worker("w1", "Wendy Walker")).result(timeout=5)


def test_a_visit_keeps_one_assessment_and_a_rewrite_replaces_it(
    store: SqlStore, worker: None
) -> None:
    session_id = visit(store, "1 Example Road")
    first = store.save_risk_assessment(assessment(session_id=session_id), "user:ada")
    assert first.result(timeout=5).id > 0
    high = assessment(
        session_id=session_id,
        rating=RiskRating.HIGH,
        override_by="Lena Manager",
        override_reason="known family, worker trained",
        assessed_ms=2000,
    )
    store.save_risk_assessment(high, "user:max").result(timeout=5)
    kept = store.risk_assessment(session_id)
    assert kept is not None
    assert (kept.rating, kept.override_by, kept.override_reason) == (
        RiskRating.HIGH,
        "Lena Manager",
        "known family, worker trained",
    )
    assert len(store.risk_assessments()) == 1
    logged = [a for a in store.audit() if a.action == "risk.assess"]
    assert next(a.detail for a in logged) == {"rating": "high", "override": True}
    assert "known family" not in str(logged)  # who and the rating, never the text


def test_a_pattern_is_assessed_by_name_and_needs_exactly_one_subject(
    store: SqlStore, worker: None
) -> None:
    store.save_risk_assessment(assessment(pattern="Tuesday evening class"), "x").result(5)
    store.save_risk_assessment(
        assessment(pattern="Tuesday evening class", rating=RiskRating.MEDIUM), "x"
    ).result(5)
    (kept,) = store.risk_assessments()
    assert (kept.pattern, kept.rating) == ("Tuesday evening class", RiskRating.MEDIUM)
    with pytest.raises(ValueError, match="exactly one"):
        store.save_risk_assessment(assessment(), "x")


def test_the_history_of_a_place_finds_incidents_and_alarms_however_it_was_typed(
    store: SqlStore, worker: None, clock: FakeClock
) -> None:
    store.report_incident(incident(), "user:ada").result(timeout=5)
    elsewhere = incident(address="3 Other Way", contact_name=None, contact_phone=None)
    store.report_incident(elsewhere, "user:ada").result(timeout=5)
    earlier = visit(store, "12A  High Street")
    alarm = store.open_session_alarm(earlier, AlarmKind.OVERDUE, "overdue", 7000).result(5)
    assert alarm is not None
    visit(store, "99 Quiet Lane")

    at_address = store.place_history("12a high st", None, None)
    assert [i.what for i in at_address.incidents] == ["Threatened by phone before the visit"]
    assert [a.id for a in at_address.alarms] == [alarm.id]
    by_phone = store.place_history("somewhere new", "", "07700 900123")
    assert [i.address for i in by_phone.incidents] == ["12a High St."]
    assert store.place_history("99 Quiet Lane", None, None).incidents == ()
    assert store.place_history(None, None, None).incidents == ()


def test_an_incident_goes_reported_investigating_closed_and_no_other_way(
    store: SqlStore, worker: None
) -> None:
    made = store.report_incident(incident(), "user:vic").result(timeout=5)
    assert made.status == IncidentStatus.REPORTED
    with pytest.raises(IncidentConflict, match="reported → investigating → closed"):
        store.change_incident(
            made.id, lambda i: lifecycle.close(i, "n/a", "max", 9), 9, "user:max", "incident.close"
        ).result(timeout=5)
    store.change_incident(
        made.id, lambda i: lifecycle.investigate(i, "Lena"), 8, "user:max", "incident.investigate"
    ).result(timeout=5)
    closed = store.change_incident(
        made.id,
        lambda i: lifecycle.close(i, "uncle barred from visits", "max", 9),
        9,
        "user:max",
        "incident.close",
    ).result(timeout=5)
    assert (closed.status, closed.investigator, closed.closed_by, closed.closed_ms) == (
        IncidentStatus.CLOSED,
        "Lena",
        "max",
        9,
    )
    again = store.incident(made.id)
    assert again == closed
    with pytest.raises(IncidentConflict):
        store.change_incident(
            made.id, lambda i: lifecycle.investigate(i, "Lena"), 10, "x", "incident.investigate"
        ).result(timeout=5)
    with pytest.raises(IncidentNotFound):
        store.change_incident(999, lambda i: i, 10, "x", "y").result(timeout=5)
    actions = [a.action for a in store.audit(subject=f"incident:{made.id}")]
    assert actions == ["incident.close", "incident.investigate", "incident.report"]


def test_actions_have_owners_and_due_dates_and_are_done_once(store: SqlStore, worker: None) -> None:
    made = store.report_incident(incident(), "user:ada").result(timeout=5)
    later = IncidentAction(0, made.id, "review the visit protocol", "Lena", 90_000)
    sooner = IncidentAction(0, made.id, "flag the address", "ada", 10_000)
    for action in (later, sooner):
        store.add_incident_action(action, 7000, "user:max").result(timeout=5)
    listed = store.incident_actions(made.id)
    assert [a.what for a in listed] == ["flag the address", "review the visit protocol"]
    done = store.complete_incident_action(listed[0].id, 8000, "ada", "user:ada").result(5)
    assert done is not None and (done.done_ms, done.done_by) == (8000, "ada")
    assert store.complete_incident_action(listed[0].id, 9000, "ada", "user:ada").result(5) is None
    with pytest.raises(IncidentNotFound):
        missing = IncidentAction(0, 404, "x", "y", 1)
        store.add_incident_action(missing, 1, "x").result(timeout=5)


def test_an_incident_from_an_alarm_is_found_by_its_alarm(store: SqlStore, worker: None) -> None:
    session_id = visit(store, "1 Example Road", str(uuid.uuid4().int)[:11])
    alarm = store.open_session_alarm(session_id, AlarmKind.OVERDUE, "overdue", 7000).result(5)
    assert alarm is not None
    assert store.incident_for_alarm(alarm.id) is None
    made = store.report_incident(incident(kind=IncidentKind.ALARM, alarm_id=alarm.id), "x")
    assert made.result(timeout=5) == store.incident_for_alarm(alarm.id)


def test_the_retention_purge_forgets_a_visits_assessment_text_and_keeps_its_rating(
    store: SqlStore, worker: None
) -> None:
    session_id = visit(store, "1 Example Road")
    high = assessment(
        session_id=session_id, rating=RiskRating.HIGH, override_by="Lena", override_reason="ok"
    )
    store.save_risk_assessment(high, "x").result(timeout=5)
    store.change_session(
        session_id, lambda s: rules.end(s, 2000, "t"), 2000, "t", "session.end"
    ).result(timeout=5)
    assert store.purge_visit_details(3000, 4000).result(timeout=5) == 1
    kept = store.risk_assessment(session_id)
    assert kept is not None
    assert (kept.rating, kept.override_by, kept.override_reason) == (RiskRating.HIGH, "Lena", "ok")
    assert (kept.environment, kept.individuals, kept.measures) == ("", "", "")
