"""The session rules, pure: plans, deadlines, pre-alert, due, overdue, check-ins."""

from __future__ import annotations

import pytest

from loneguard.protocol.messages import Event, EventKind
from loneguard.server.sessions import rules
from loneguard.server.store import (
    AlarmKind,
    EndSession,
    ExtendSession,
    Session,
    SessionConflict,
    SessionKind,
    SessionState,
    SignIn,
    StartVisit,
)

T0 = 1_000_000
MIN = 60_000


def visit(**changes: object) -> Session:
    base = Session(
        id=1,
        worker_id="w",
        device_id="d",
        kind=SessionKind.VISIT,
        state=SessionState.ACTIVE,
        started_ms=T0,
        expected_end_ms=T0 + 30 * MIN,
        grace_s=300,
        prealert_s=300,
    )
    return Session(**{**base.__dict__, **changes})


def shift(**changes: object) -> Session:
    return visit(kind=SessionKind.SHIFT, expected_end_ms=None, checkin_interval_s=3600, **changes)


def plan(**changes: object) -> rules.SessionPlan:
    values: dict[str, object] = {
        "kind": SessionKind.VISIT,
        "worker_id": "w",
        "device_id": None,
        "started_ms": T0,
        "grace_s": 300,
        "prealert_s": 300,
        "expected_end_ms": T0 + 30 * MIN,
    }
    return rules.SessionPlan(**{**values, **changes})  # type: ignore[arg-type]


def test_an_unaccompanied_visit_needs_the_line_managers_permission() -> None:
    with pytest.raises(rules.SessionRefused) as refused:
        plan().check()
    assert refused.value.field == "approved_by"
    assert "5.1.1" in str(refused.value)
    with pytest.raises(rules.SessionRefused):
        plan(approved_by=" ").check()
    plan(approved_by="Max").check()
    plan(accompanied=True).check()
    plan().check(require_approval=False)  # started on the doorstep: recorded, not refused


def test_plans_need_their_times() -> None:
    with pytest.raises(rules.SessionRefused, match=r"^expected_end_ms: "):
        plan(expected_end_ms=T0, accompanied=True).check()
    with pytest.raises(rules.SessionRefused, match=r"^checkin_interval_s: "):
        plan(kind=SessionKind.SHIFT).check()
    with pytest.raises(rules.SessionRefused, match=r"^worker_id: "):
        plan(worker_id=None, accompanied=True).check()


def test_a_visit_walks_prealert_due_overdue() -> None:
    s = visit()
    assert rules.next_deadline(s) == T0 + 25 * MIN  # the pre-alert
    step = rules.advance(s, T0 + 25 * MIN)
    assert (step.send_prealert, step.alarm, step.session.state) == (True, None, "active")
    assert step.session.next_deadline_ms == T0 + 30 * MIN
    step = rules.advance(step.session, T0 + 30 * MIN)
    assert (step.send_prealert, step.session.state) == (False, SessionState.DUE)
    assert step.session.next_deadline_ms == T0 + 35 * MIN
    step = rules.advance(step.session, T0 + 35 * MIN)
    assert (step.alarm, step.session.state) == (AlarmKind.OVERDUE, SessionState.OVERDUE)
    assert step.session.next_deadline_ms is None
    assert rules.advance(step.session, T0 + 99 * MIN).alarm is None  # once only


def test_catch_up_after_downtime_goes_straight_to_overdue_without_a_prealert() -> None:
    step = rules.advance(visit(), T0 + 60 * MIN)
    assert (step.send_prealert, step.alarm) == (False, AlarmKind.OVERDUE)


def test_extend_and_checkin() -> None:
    due = rules.advance(visit(prealert_sent=True), T0 + 31 * MIN).session
    extended = rules.extend(due, 20, T0 + 31 * MIN)
    assert extended.state == SessionState.ACTIVE and not extended.prealert_sent
    assert extended.expected_end_ms == T0 + 51 * MIN
    assert rules.checkin(extended, T0 + 40 * MIN).state == SessionState.ENDED
    with pytest.raises(SessionConflict):
        rules.extend(rules.end(extended, T0, "x"), 10, T0)


def test_a_shift_misses_a_checkin() -> None:
    s = shift()
    assert rules.due_ms(s) == T0 + 60 * MIN
    s = rules.checkin(s, T0 + 50 * MIN)
    assert rules.due_ms(s) == T0 + 110 * MIN
    assert s.next_deadline_ms == T0 + 105 * MIN  # pre-alert
    step = rules.advance(rules.advance(s, T0 + 110 * MIN).session, T0 + 115 * MIN)
    assert step.alarm == AlarmKind.MISSED_CHECKIN


def test_events_map_to_session_effects() -> None:
    def effects(kind: EventKind, minutes: int | None = None) -> tuple[object, ...]:
        return rules.session_effects(Event("A" * 26, kind, 1, 1, minutes=minutes), 120, 60)

    assert effects(EventKind.SESSION_START, 40) == (StartVisit(40, 120, 60),)
    assert effects(EventKind.SESSION_EXTEND) == (ExtendSession(rules.DEFAULT_EXTEND_MINUTES),)
    assert effects(EventKind.CHECKIN) == (EndSession(by_checkin=True),)
    assert effects(EventKind.SESSION_END) == (EndSession(),)
    assert effects(EventKind.SIGN_IN) == (SignIn(),)
    assert effects(EventKind.PANIC) == ()
