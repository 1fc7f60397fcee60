"""Lone-working sessions, pure: the rules for starting one and what happens at its deadlines.

A session moves ``active`` → ``due`` (its expected time has passed and the grace period runs) →
``overdue`` (an alarm is open) → ``ended``. A visit is due at its expected end (CIC App.1 3.10);
a shift is due one check-in interval after its last check-in (CIC 7.5, 7.10). A pre-alert goes to
the device ``prealert_s`` before the session falls due, so the worker can check in or extend.

Nothing here reads a clock or the store: ``advance(session, now_ms)`` says what a deadline
changes, and the store applies it in one transaction. Every deadline is a wall-clock millisecond
time kept in the store (``next_deadline_ms``), so timers survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loneguard.protocol.messages import Event, EventKind
from loneguard.protocol.topics import DEVICE_ID_PATTERN
from loneguard.server.store.records import (
    AlarmKind,
    Effect,
    EndSession,
    ExtendSession,
    Session,
    SessionConflict,
    SessionKind,
    SessionState,
    SignIn,
    SignOut,
    StartVisit,
)

DEFAULT_EXTEND_MINUTES = 30
MAX_MINUTES = 24 * 60
MAX_TEXT = 200
MAX_AHEAD_MS = 366 * 24 * 3_600_000  # a visit falls due within a year of its start


class SessionRefused(ValueError):
    """A session that must not start; the message names the field and the reason."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class SessionPlan:
    """What the office (or a device) asks for; ``check`` decides whether it may start."""

    kind: SessionKind
    worker_id: str | None
    device_id: str | None
    started_ms: int
    grace_s: int
    prealert_s: int
    expected_end_ms: int | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    accompanied: bool = False
    approved_by: str | None = None
    checkin_interval_s: int | None = None

    def check(self, *, require_approval: bool = True) -> None:
        """Raise ``SessionRefused`` unless the plan is complete and permitted.

        An unaccompanied visit needs the line manager's permission in advance (CIC App.1 5.1.1).
        A visit started by pressing the device's button cannot be refused (the worker is already
        on the doorstep), so ``require_approval`` is False there and the missing approval is
        put on record instead.
        """
        if self.worker_id is None and self.device_id is None:
            raise SessionRefused("worker_id", "a session needs a worker or a device")
        if self.device_id is not None and not DEVICE_ID_PATTERN.fullmatch(self.device_id):
            raise SessionRefused("device_id", "is not a device id (letters, digits, '-', '_')")
        if self.kind == SessionKind.VISIT:
            if self.expected_end_ms is None or self.expected_end_ms <= self.started_ms:
                raise SessionRefused("expected_end_ms", "a visit needs an expected end after now")
            if self.expected_end_ms > self.started_ms + MAX_AHEAD_MS:
                raise SessionRefused("expected_end_ms", "a visit must end within a year")
            unapproved = not (self.approved_by and self.approved_by.strip())
            if require_approval and not self.accompanied and unapproved:
                raise SessionRefused(
                    "approved_by",
                    "an unaccompanied home visit needs the line manager's permission in "
                    "advance (CIC App.1 5.1.1): say who approved it",
                )
        elif not self.checkin_interval_s or self.checkin_interval_s <= 0:
            raise SessionRefused("checkin_interval_s", "a shift needs a check-in interval")


@dataclass(frozen=True)
class Advance:
    """What reaching a deadline does to a session."""

    session: Session  # the session after the change
    send_prealert: bool
    alarm: AlarmKind | None  # open this alarm, tied to the session


def due_ms(session: Session) -> int | None:
    """When the worker must next be heard from: the visit's end, or the shift's next check-in."""
    if session.kind == SessionKind.VISIT:
        return session.expected_end_ms
    if session.checkin_interval_s is None:
        return None
    return _period_start(session) + session.checkin_interval_s * 1000


def prealert_ms(session: Session) -> int | None:
    """When the device is warned, if it still is to be: only inside the current period."""
    due = due_ms(session)
    if due is None or session.prealert_s <= 0 or session.prealert_sent:
        return None
    at = due - session.prealert_s * 1000
    return at if at > _period_start(session) else None


def next_deadline(session: Session) -> int | None:
    """The next time ``advance`` has something to do; None once an alarm or the end took over."""
    due = due_ms(session)
    if due is None or session.state in (SessionState.OVERDUE, SessionState.ENDED):
        return None
    if session.state == SessionState.DUE:
        return due + session.grace_s * 1000
    prealert = prealert_ms(session)
    return prealert if prealert is not None else due


def advance(session: Session, now_ms: int) -> Advance:
    """Everything due at ``now_ms`` (a catch-up after downtime runs through several at once)."""
    due = due_ms(session)
    if due is None or session.state in (SessionState.OVERDUE, SessionState.ENDED):
        return Advance(replace(session, next_deadline_ms=None), False, None)
    state: SessionState = session.state
    if state == SessionState.ACTIVE and now_ms >= due:
        state = SessionState.DUE
    alarm = None
    if state == SessionState.DUE and now_ms >= due + session.grace_s * 1000:
        state = SessionState.OVERDUE
        alarm = AlarmKind.OVERDUE if session.kind == SessionKind.VISIT else AlarmKind.MISSED_CHECKIN
    prealert = prealert_ms(session)
    send = state == SessionState.ACTIVE and prealert is not None and now_ms >= prealert
    changed = replace(session, state=state, prealert_sent=session.prealert_sent or send)
    return Advance(replace(changed, next_deadline_ms=next_deadline(changed)), send, alarm)


def extend(session: Session, minutes: int, now_ms: int) -> Session:
    """A visit runs on ``minutes`` past its end (or now, if later: CIC App.1 3.11); a shift's
    interval starts again, as with a check-in."""
    _check_open(session)
    if session.kind == SessionKind.SHIFT:
        return checkin(session, now_ms)
    assert session.expected_end_ms is not None
    return _due_at(session, max(session.expected_end_ms, now_ms) + minutes * 60_000)


def retime(session: Session, minutes: int, now_ms: int) -> Session:
    """A visit started again from the device: due ``minutes`` from now, its plan (address,
    contact, approval) kept."""
    _check_open(session)
    assert session.kind == SessionKind.VISIT
    return _due_at(session, now_ms + minutes * 60_000)


def _due_at(visit: Session, end_ms: int) -> Session:
    """The visit running again until ``end_ms``: active, its pre-alert not yet sent."""
    changed = replace(visit, expected_end_ms=end_ms, state=SessionState.ACTIVE, prealert_sent=False)
    return replace(changed, next_deadline_ms=next_deadline(changed))


def checkin(session: Session, now_ms: int) -> Session:
    """A shift's interval starts again; a visit is over (the worker is safe and done)."""
    _check_open(session)
    if session.kind == SessionKind.VISIT:
        return end(session, now_ms, "checkin")
    changed = replace(
        session, last_checkin_ms=now_ms, state=SessionState.ACTIVE, prealert_sent=False
    )
    return replace(changed, next_deadline_ms=next_deadline(changed))


def end(session: Session, now_ms: int, by: str) -> Session:
    _check_open(session)
    return replace(
        session, state=SessionState.ENDED, ended_ms=now_ms, ended_by=by, next_deadline_ms=None
    )


def _check_open(session: Session) -> None:
    if session.state == SessionState.ENDED:
        raise SessionConflict(f"session {session.id} has ended")


def _period_start(session: Session) -> int:
    if session.last_checkin_ms is not None and session.last_checkin_ms > session.started_ms:
        return session.last_checkin_ms
    return session.started_ms


def session_effects(event: Event, grace_s: int, prealert_s: int) -> tuple[Effect, ...]:
    """What a device event does to its sessions and the register (besides being recorded)."""
    if event.kind == EventKind.SESSION_START:
        assert event.minutes is not None  # the decoder requires it
        return (StartVisit(event.minutes, grace_s, prealert_s),)
    if event.kind == EventKind.SESSION_EXTEND:
        return (ExtendSession(event.minutes or DEFAULT_EXTEND_MINUTES),)
    if event.kind == EventKind.SESSION_END:
        return (EndSession(),)
    if event.kind == EventKind.CHECKIN:
        return (EndSession(by_checkin=True),)
    if event.kind == EventKind.SIGN_IN:
        return (SignIn(),)
    if event.kind == EventKind.SIGN_OUT:
        return (SignOut(),)
    return ()
