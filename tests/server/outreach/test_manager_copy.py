"""The delivery manager's copy (CIC App.1 1.1) of a visit planned, changed and cancelled on the
console: by apprise ``json://`` to a local HTTP receiver, and by SMS through the fake modem."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.gsm.sms import sms_text
from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.hub import bind
from loneguard.server.outreach.arrangement_text import Arrangement, sms_summary
from loneguard.server.outreach.manager_copy import ManagerCopies
from loneguard.server.outreach.outreach_settings import DeliveryManagerSettings
from loneguard.server.store import Role, Session, SessionKind, SessionState
from loneguard.server.store.outreach_records import ArrangementChange, ArrangementCopy
from loneguard.server.store.sqlite import SqliteStore
from tests.server.api.test_session_routes import VISIT as API_VISIT
from tests.server.api.test_session_routes import setup_people, token
from tests.server.console.conftest import PASSWORD, add_worker, form_csrf, log_in
from tests.server.outreach.receiver import Receiver

MANAGER_PHONE = "+447700900555"
JAN_5_0800 = 1_767_600_000_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


@pytest.fixture
def modem(fake: FakeModem) -> Iterator[Modem]:
    with Modem(fake.path, command_timeout=2, slow_timeout=2, sweep_interval=None) as modem:
        modem.initialise()
        yield modem


def closed_port() -> int:
    sock = bind("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@pytest.fixture
def console(
    store: SqliteStore, clock: FakeClock, receiver: Receiver, modem: Modem
) -> Iterator[TestClient]:
    clock.advance((JAN_5_0800 - clock.wall_ms()) / 1000)
    settings = DeliveryManagerSettings.model_validate(
        {
            "apprise_urls": [
                f"json://127.0.0.1:{receiver.port}/copies",
                f"json://127.0.0.1:{closed_port()}/nobody",  # a mail server that is down
            ],
            "sms": [MANAGER_PHONE],
        }
    )
    copies = ManagerCopies(store, clock, settings, modem=modem)
    hooks = ApiHooks(broadcaster=Broadcaster(), visit_arranged=copies.arranged)
    app = create_app(store, clock=clock, hooks=hooks, console=ConsoleSettings())
    add_worker(store)
    create_user(store, "max", Role.MANAGER, PASSWORD, clock.wall_ms())
    with TestClient(app, follow_redirects=False) as client:
        yield log_in(client, "max")


def settled(store: SqliteStore, count: int) -> list[ArrangementCopy]:
    """The copies once ``count`` of them are no longer pending (sent over real sockets)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        copies = store.arrangement_copies()
        if len(copies) >= count and all(c.state != "pending" for c in copies):
            return copies
        time.sleep(0.02)
    raise AssertionError(f"copies still pending: {store.arrangement_copies()}")


def post(client: TestClient, path: str, page: str, **data: str) -> int:
    csrf = form_csrf(client.get(page).text)
    return client.post(path, data={"csrf": csrf, **data}).status_code


VISIT = {
    "worker_id": "w1",
    "address": "12 Private Lane",
    "contact_name": "Mr Contact",
    "contact_phone": "+447700900777",
    "start": "2026-01-05T10:00",
    "end": "2026-01-05T11:00",
    "tz_offset_min": "0",
    "approved_by": "Lena Manager",
    "risk_rating": "medium",
    "risk_measures": "Ring the office on arrival and when leaving",
}


def test_the_copy_goes_out_for_plan_change_and_cancel(
    console: TestClient,
    store: SqliteStore,
    receiver: Receiver,
    fake: FakeModem,
) -> None:
    assert post(console, "/console/visits", "/console/visits", **VISIT) == 303
    (visit,) = store.sessions()
    settled(store, 3)
    (planned,) = receiver.bodies
    assert "visit planned for Wendy Worker, 2026-01-05 10:00 UTC" in planned["title"]
    for fact in (
        "Worker: Wendy Worker",
        "Address: 12 Private Lane",
        "Contact: Mr Contact, +447700900777",
        "Expected start: 2026-01-05 10:00 UTC",
        "Expected end: 2026-01-05 11:00 UTC",
        "Accompanied: unaccompanied, approved in advance by Lena Manager",
        "Planned by: max",
    ):
        assert fact in planned["message"]
    assert "Risk rating: medium" in planned["message"]  # from the visit's risk assessment

    page = f"/console/visits/{visit.id}/change"
    changed = {**VISIT, "address": "14 Private Lane", "end": "2026-01-05T12:30", "accompanied": "1"}
    del changed["worker_id"]
    assert post(console, page, page, **changed) == 303
    settled(store, 6)
    assert "visit changed" in receiver.bodies[1]["title"]
    assert "Address: 14 Private Lane" in receiver.bodies[1]["message"]
    assert "Expected end: 2026-01-05 12:30 UTC" in receiver.bodies[1]["message"]
    assert "Accompanied: accompanied" in receiver.bodies[1]["message"]
    after = store.session(visit.id)
    assert after is not None and after.address == "14 Private Lane"
    assert after.expected_end_ms == JAN_5_0800 + int(4.5 * 3_600_000)

    assert post(console, f"/console/visits/{visit.id}/cancel", page) == 303
    copies = settled(store, 9)
    assert "visit cancelled" in receiver.bodies[2]["title"]
    assert "The visit will not take place" in receiver.bodies[2]["message"]
    cancelled = store.session(visit.id)
    assert cancelled is not None and cancelled.state == SessionState.ENDED
    assert cancelled.ended_by == "cancelled by user:max"

    # The SMS summaries, one per change, each one SMS.
    assert [number for number, _ in fake.sent] == [MANAGER_PHONE] * 3
    texts = [text for _, text in fake.sent]
    assert texts[0].startswith("loneguard visit") and "planned: Wendy Worker" in texts[0]
    assert "changed" in texts[1] and "14 Private Lane" in texts[1]
    assert "cancelled" in texts[2]

    # Every copy is on record; the mail server that was down is a failure, not silence.
    by_change = {
        change: sorted((c.channel, c.recipient, c.state) for c in copies if c.change == change)
        for change in ArrangementChange
    }
    for rows in by_change.values():
        assert rows == [
            ("apprise", "config:apprise_urls[1]", "sent"),
            ("apprise", "config:apprise_urls[2]", "failed"),
            ("sms", "config:sms[1]", "sent"),
        ]
    failed = next(c for c in copies if c.state == "failed")
    assert failed.detail is not None and "127.0.0.1" not in failed.detail
    shown = console.get(page).text
    assert "config:apprise_urls[2]" in shown and "failed" in shown


def test_an_overdue_visit_is_not_changed_or_cancelled(
    console: TestClient, store: SqliteStore, clock: FakeClock
) -> None:
    assert post(console, "/console/visits", "/console/visits", **VISIT) == 303
    (visit,) = store.sessions()
    settled(store, 3)
    clock.advance(4 * 3600)  # past its end and grace
    store.reach_session_deadline(visit.id, clock.wall_ms(), lambda kind, s: str(kind)).result()
    store.reach_session_deadline(visit.id, clock.wall_ms(), lambda kind, s: str(kind)).result()
    assert store.session(visit.id).state == SessionState.OVERDUE  # type: ignore[union-attr]
    page = f"/console/visits/{visit.id}/change"
    assert post(console, f"/console/visits/{visit.id}/cancel", page) == 409
    assert len(store.arrangement_copies()) == 3  # no copy of a change that did not happen


def test_the_sms_summary_always_fits_one_sms() -> None:
    visit = Session(
        7,
        "w1",
        None,
        SessionKind.VISIT,
        SessionState.ACTIVE,
        JAN_5_0800,
        JAN_5_0800 + 3_600_000,
        300,
        300,
        address="Flat 3, " + "Very Long Building Name " * 10 + "SW1A 1AA",
        approved_by="Lena",
    )
    text = sms_summary(
        Arrangement(ArrangementChange.PLAN, visit, "Wendy", JAN_5_0800, "user:max", "high")
    )
    assert sms_text(text) == text
    assert text.startswith("loneguard visit 7 planned: Wendy, Flat 3, Very Long")
    assert "...," in text and text.endswith("approved in advance by Lena. Risk high.")


def test_a_visit_started_over_the_api_is_copied_too(store: SqliteStore, clock: FakeClock) -> None:
    arranged: list[tuple[ArrangementChange, int, str]] = []
    hooks = ApiHooks(visit_arranged=lambda change, s, by: arranged.append((change, s.id, by)))
    with TestClient(create_app(store, clock=clock, hooks=hooks)) as client:
        admin = token(store, Role.ADMIN, "Office")
        setup_people(client, admin)
        visit = client.post("/api/sessions", headers=admin, json={**API_VISIT, "accompanied": True})
        shift = {"kind": "shift", "worker_id": "w-ann", "checkin_interval_s": 3600}
        assert client.post("/api/sessions", headers=admin, json=shift).status_code == 201
    assert arranged == [(ArrangementChange.PLAN, visit.json()["id"], "token:Office")]
