"""The Register's roll-call: exactly who is signed in or on a visit now, and since when."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.console.roll_call import Present, present_now
from loneguard.server.store import Worker
from loneguard.server.store.records import RegisterEntry, Session, SessionKind, SessionState
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import add_worker, log_in, open_alarm

NOW = 1_767_600_000_000
HOUR = 3_600_000


def visit(session_id: int, worker_id: str, started_ms: int, state: SessionState) -> Session:
    return Session(
        session_id, worker_id, None, SessionKind.VISIT, state, started_ms, NOW + HOUR, 300, 300
    )


def test_only_workers_signed_in_or_on_a_visit_now_are_listed_with_their_start() -> None:
    names = ("Ann", "Bob", "Cat", "Dan", "Eve", "Fay")
    workers = [Worker(n.lower(), n) for n in names]
    register = [
        RegisterEntry(1, "ann", "d-ann", NOW - 2 * HOUR),  # in the building
        RegisterEntry(2, "bob", "d-bob", NOW - 3 * HOUR, NOW - HOUR),  # signed out
    ]
    sessions = [
        visit(1, "cat", NOW - HOUR, SessionState.OVERDUE),  # out, overdue: still out
        visit(2, "dan", NOW - HOUR, SessionState.ENDED),  # back
        visit(3, "eve", NOW - HOUR, SessionState.ACTIVE),  # planned for later
    ]
    # Fay has no entry at all (only an alarm, perhaps): never listed, never "since 1970".
    present = present_now(workers, register, sessions, {3: NOW + HOUR}, NOW)
    assert present == [
        Present("Ann", NOW - 2 * HOUR, "in the building (signed in)"),
        Present("Cat", NOW - HOUR, "out on a visit"),
    ]


def test_the_register_page_leaves_out_a_worker_who_only_has_an_alarm(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)  # Wendy, whose device raises a panic: she never signed in
    open_alarm(store, clock)
    log_in(app_client, "vic")
    page = app_client.get("/console/register").text
    assert "Wendy Worker" not in page and "1970" not in page
    assert "Nobody is signed in or out on a visit." in page
