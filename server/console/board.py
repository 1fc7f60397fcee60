"""The live board, pure: each worker's state from the store's rows at one instant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from loneguard.server.sessions import rules
from loneguard.server.store.records import (
    Alarm,
    AlarmKind,
    AlarmState,
    Device,
    RegisterEntry,
    Session,
    SessionKind,
    SessionState,
    Worker,
)


class BoardState(StrEnum):
    ALARM = "alarm"
    OVERDUE = "overdue"
    DUE = "due"
    ON_VISIT = "on a visit"
    VISIT_PLANNED = "visit planned"
    SIGNED_IN = "signed in"
    OFF_DUTY = "off duty"


# Most urgent first: the board lists workers in this order.
URGENCY = tuple(BoardState)

ALARM_TITLES = {
    AlarmKind.PANIC: "Panic",
    AlarmKind.DURESS: "Duress (covert)",
    AlarmKind.OVERDUE: "Overdue visit",
    AlarmKind.MISSED_CHECKIN: "Missed check-in",
    AlarmKind.DEVICE_OFFLINE: "Device offline",
}


@dataclass(frozen=True)
class BoardRow:
    worker: Worker
    state: BoardState
    device: Device | None
    session: Session | None
    alarm: Alarm | None
    due_ms: int | None  # the countdown's target: when the session falls due or the grace ends
    planned_start_ms: int | None
    last_checkin_ms: int | None

    @property
    def device_online(self) -> bool:
        return self.device is not None and self.device.online


def board_rows(
    workers: Sequence[Worker],
    devices: Sequence[Device],
    live_sessions: Sequence[Session],
    unresolved: Sequence[Alarm],
    register: Sequence[RegisterEntry],
    planned_starts: Mapping[int, int],
    now_ms: int,
) -> list[BoardRow]:
    device_of = {d.worker_id: d for d in devices if d.worker_id is not None}
    session_of: dict[str, Session] = {}
    for s in sorted(live_sessions, key=lambda s: s.id):
        if s.worker_id is not None and s.state != SessionState.ENDED:
            session_of[s.worker_id] = s  # the newest live session wins
    alarm_of: dict[str, Alarm] = {}
    for a in sorted(unresolved, key=lambda a: a.opened_ms):
        if a.worker_id is not None and a.state != AlarmState.RESOLVED:
            alarm_of.setdefault(a.worker_id, a)  # the oldest unresolved alarm leads
    signed_in = {r.worker_id for r in register if r.signed_out_ms is None}
    rows = []
    for w in workers:
        device = device_of.get(w.id)
        session = session_of.get(w.id)
        alarm = alarm_of.get(w.id)
        planned = planned_starts.get(session.id) if session is not None else None
        state = _state(session, alarm, w.id in signed_in, planned, now_ms)
        checkins = [t for t in (w.last_checkin_ms, device and device.last_checkin_ms) if t]
        rows.append(
            BoardRow(
                worker=w,
                state=state,
                device=device,
                session=session,
                alarm=alarm,
                due_ms=_countdown(session),
                planned_start_ms=planned if state == BoardState.VISIT_PLANNED else None,
                last_checkin_ms=max(checkins) if checkins else None,
            )
        )
    rows.sort(key=lambda r: (URGENCY.index(r.state), r.worker.name))
    return rows


def _state(
    session: Session | None,
    alarm: Alarm | None,
    signed_in: bool,
    planned_start_ms: int | None,
    now_ms: int,
) -> BoardState:
    if alarm is not None:
        return BoardState.ALARM
    if session is not None:
        if session.state == SessionState.OVERDUE:
            return BoardState.OVERDUE
        if session.state == SessionState.DUE:
            return BoardState.DUE
        if session.kind == SessionKind.VISIT:
            if planned_start_ms is not None and planned_start_ms > now_ms:
                return BoardState.VISIT_PLANNED
            return BoardState.ON_VISIT
        return BoardState.SIGNED_IN
    return BoardState.SIGNED_IN if signed_in else BoardState.OFF_DUTY


def _countdown(session: Session | None) -> int | None:
    if session is None:
        return None
    due = rules.due_ms(session)
    if due is not None and session.state == SessionState.DUE:
        return due + session.grace_s * 1000
    return due
