"""The board's states, order and countdowns, from rows alone."""

from __future__ import annotations

from loneguard.server.console.board import BoardState, board_rows
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

NOW = 1_000_000


def visit(worker: str, state: SessionState, session_id: int, end: int = NOW + 60_000) -> Session:
    return Session(
        session_id, worker, None, SessionKind.VISIT, state, NOW - 1000, end, grace_s=300,
        prealert_s=0,
    )  # fmt: skip


def test_each_worker_gets_the_most_urgent_state_and_the_board_sorts_by_it() -> None:
    workers = [Worker(w, w.upper()) for w in ("a", "b", "c", "d", "e", "f", "g")]
    sessions = [
        visit("b", SessionState.OVERDUE, 1),
        visit("c", SessionState.DUE, 2, end=NOW - 10_000),
        visit("d", SessionState.ACTIVE, 3),
        visit("e", SessionState.ACTIVE, 4),
        visit("a", SessionState.ACTIVE, 5),
    ]
    alarm = Alarm(1, AlarmKind.PANIC, AlarmState.ACKNOWLEDGED, "dev-a", "a", None, NOW - 5)
    register = [RegisterEntry(1, "f", "dev-f", NOW - 100)]
    rows = board_rows(workers, [], sessions, [alarm], register, {4: NOW + 3_600_000}, NOW)
    assert [(r.worker.id, r.state) for r in rows] == [
        ("a", BoardState.ALARM),
        ("b", BoardState.OVERDUE),
        ("c", BoardState.DUE),
        ("d", BoardState.ON_VISIT),
        ("e", BoardState.VISIT_PLANNED),
        ("f", BoardState.SIGNED_IN),
        ("g", BoardState.OFF_DUTY),
    ]
    by_id = {r.worker.id: r for r in rows}
    assert by_id["d"].due_ms == NOW + 60_000  # counts down to the visit's end
    assert by_id["c"].due_ms == NOW - 10_000 + 300_000  # once due: to the end of the grace
    assert by_id["e"].planned_start_ms == NOW + 3_600_000
    assert by_id["g"].due_ms is None


def test_device_and_last_checkin_come_from_the_assigned_device() -> None:
    worker = Worker("a", "A", last_checkin_ms=NOW - 50_000)
    device = Device("dev-a", "a", online=True, rssi=-71, last_checkin_ms=NOW - 20_000)
    (row,) = board_rows([worker], [device, Device("spare")], [], [], [], {}, NOW)
    assert row.device_online and row.device is not None and row.device.rssi == -71
    assert row.last_checkin_ms == NOW - 20_000


def test_a_resolved_alarm_or_an_ended_session_no_longer_counts() -> None:
    alarm = Alarm(1, AlarmKind.PANIC, AlarmState.RESOLVED, "dev-a", "a", None, NOW - 5)
    ended = visit("a", SessionState.ENDED, 1)
    (row,) = board_rows([Worker("a", "A")], [], [ended], [alarm], [], {}, NOW)
    assert row.state == BoardState.OFF_DUTY and row.session is None and row.alarm is None
