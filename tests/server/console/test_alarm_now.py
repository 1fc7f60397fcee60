"""What the alarm page leads with: the step in words, whom to ring, the next step, the place."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import EventKind
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.alarm_now import alarm_now, duration_words
from loneguard.server.escalation.notify.notification import Recipient
from loneguard.server.escalation.policy import DEFAULT_POLICIES
from loneguard.server.store.records import (
    Alarm,
    AlarmKind,
    AlarmState,
    Session,
    SessionKind,
    SessionState,
)
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import add_worker, log_in, open_alarm

START = 1_767_600_000_000
MIN = 60_000
PEOPLE = {
    "worker": [Recipient("Ana Lopez", "worker", "+447700900101")],
    "worker_home": [Recipient("Ana Lopez", "worker_home", None)],
    "visit_contact": [Recipient("Mrs Patel", "visit_contact", "+441632960999")],
    "line_manager": [Recipient("Max Manager", "line_manager", "+447700900002")],
}
VISIT = Session(
    *(7, "w-ana", "demo-1", SessionKind.VISIT, SessionState.OVERDUE),
    *(START - 40 * MIN, START, 300, 300),
    address="14 Elm Road",
)


def overdue(**changes: object) -> Alarm:
    alarm = Alarm(1, AlarmKind.OVERDUE, AlarmState.OPEN, "demo-1", "w-ana", None, START)
    return Alarm(**{**alarm.__dict__, "started_ms": START, **changes})


def resolve(role: str) -> list[Recipient]:
    return PEOPLE.get(role, [])


def test_the_current_step_whom_to_ring_and_the_next_step_in_words() -> None:
    now = alarm_now(
        overdue(next_step_ms=START + 15 * MIN),
        DEFAULT_POLICIES["overdue"],
        resolve,
        VISIT,
        None,
        START + 11 * MIN,
    )
    assert now.step == 2
    assert now.headline.startswith("Still no answer: ring the visit contact, {contact}")
    assert [(c.role, c.name, c.phone) for c in now.callees] == [
        ("the visit contact", "Mrs Patel", "+441632960999")
    ]
    assert (now.next_step_ms, now.next_words) == (
        START + 15 * MIN,
        "after 15 min: the worker at home",
    )
    assert [(r.when, r.who, r.people, r.status) for r in now.rungs] == [
        ("at once", "the worker's mobile", ("Ana Lopez",), "done"),
        ("after 5 min", "the worker's mobile", ("Ana Lopez",), "done"),
        ("after 10 min", "the visit contact", ("Mrs Patel",), "now"),
        ("after 15 min", "the worker at home", ("Ana Lopez",), "next"),
        ("after 20 min", "the line manager", ("Max Manager",), "later"),
    ]
    assert now.rungs[4].repeat == "then every 5 min until someone takes charge"
    assert now.rungs[2].how == "the console, a phone call"
    assert (now.place.address, now.place.map_url) == ("14 Elm Road", None)
    assert now.unfilled == ()


def test_a_repeating_step_says_so_and_names_roles_nobody_fills() -> None:
    alarm = Alarm(3, AlarmKind.PANIC, AlarmState.OPEN, "demo-1", "w-ana", "e1", START)
    alarm = Alarm(**{**alarm.__dict__, "next_step_ms": START + 2 * MIN})
    now = alarm_now(alarm, DEFAULT_POLICIES["panic"], resolve, None, None, START + 1000)
    assert now.callees[0].name == "Max Manager"
    assert now.unfilled == ("the office", "the person on call")
    assert now.next_words == "the line manager, the office, the person on call again (every 2 min)"


def test_a_checked_in_alarm_says_so_and_has_no_next_step() -> None:
    alarm = overdue(checked_in_ms=START + 8 * MIN + 30_000, checked_in_device="demo-1")
    now = alarm_now(alarm, DEFAULT_POLICIES["overdue"], resolve, VISIT, None, START + 9 * MIN)
    assert now.headline.startswith("The worker checked in from demo-1: the escalation stopped")
    assert now.next_step_ms is None and now.next_words is None
    # The ladder stopped at its second step: the later ones were not needed; ring the worker.
    assert [r.status for r in now.rungs] == ["done", "now"] + ["not needed"] * 3
    assert [(c.name, c.phone) for c in now.callees] == [("Ana Lopez", "+447700900101")]


def test_a_panics_fix_is_a_map_link_with_its_accuracy() -> None:
    alarm = Alarm(2, AlarmKind.PANIC, AlarmState.OPEN, "demo-1", "w-ana", "e1", START)
    body = {"ts": START, "location": {"lat": 51.5, "lon": -0.12, "acc": 15.0}}
    now = alarm_now(alarm, DEFAULT_POLICIES["panic"], resolve, None, body, START)
    assert now.place.map_url is not None and "mlat=51.500000&mlon=-0.120000" in now.place.map_url
    assert now.place.fix == "GNSS fix when the button was pressed, 08:00 UTC, ±15 m"


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration_words(s) for s in (45, 300, 330, 3600, 5400)] == [
        "45 s",
        "5 min",
        "5 min 30 s",
        "1 h",
        "1 h 30 min",
    ]


def test_the_people_page_shows_the_policies_in_words(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    app = create_app(store, clock=clock, hooks=ApiHooks(), policies=DEFAULT_POLICIES)
    with TestClient(app, follow_redirects=False) as client:
        log_in(client, "vic")
        page = client.get("/console/people").text
    assert (
        "<td>after 10 min</td><td>the visit contact</td><td>the console, a phone call</td>" in page
    )
    assert "every 5 min until someone takes charge" in page
    assert "visit_contact" not in page and "600 s" not in page


def test_the_banner_groups_one_workers_repeated_alarms(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    ids = [open_alarm(store, clock, EventKind.DURESS) for _ in range(3)]
    log_in(app_client, "vic")
    banner = app_client.get("/console/banner").text
    assert (
        banner.count('class="alarm-chip') == 1
        and "Wendy Worker \N{MULTIPLICATION SIGN}3 (open)" in banner
    )
    assert f'data-open-alarms="{",".join(map(str, reversed(ids)))}"' in banner
