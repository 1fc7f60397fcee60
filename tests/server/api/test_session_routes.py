"""The sessions, register, people and resolve routes, in-process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.sessions.rules import session_effects
from loneguard.server.store import Role, Session, Worker
from loneguard.server.store.sqlite import SqlStore


@pytest.fixture
def changed() -> list[Session]:
    return []


@pytest.fixture
def client(store: SqlStore, clock: FakeClock, changed: list[Session]) -> Iterator[TestClient]:
    hooks = ApiHooks(session_changed=changed.append, grace_s=120, prealert_s=60)
    with TestClient(create_app(store, clock=clock, hooks=hooks)) as c:
        yield c


def token(store: SqlStore, role: Role, name: str) -> dict[str, str]:
    value = new_token()
    store.create_token(name, role, hash_token(value), 1).result()
    return {"Authorization": f"Bearer {value}"}


VISIT = {
    "worker_id": "w-ann",
    "minutes": 45,
    "address": "1 Example Road",
    "contact_name": "Carol",
    "contact_phone": "+441632960999",
}


def setup_people(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/api/workers", headers=admin, json={"id": "w-mgr", "name": "Max"})
    assert r.status_code == 201
    ann = {"name": "Ann", "mobile": "+447700900001", "line_manager": "w-mgr"}
    assert client.put("/api/workers/w-ann", headers=admin, json=ann).status_code == 200
    r = client.put("/api/devices/d-ann", headers=admin, json={"worker_id": "w-ann"})
    assert r.status_code == 200 and r.json()["worker_id"] == "w-ann"


def test_an_unaccompanied_visit_needs_approval(
    client: TestClient, store: SqlStore, clock: FakeClock, changed: list[Session]
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    setup_people(client, admin)

    refused = client.post("/api/sessions", headers=admin, json=VISIT)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("approved_by: ")
    assert "5.1.1" in refused.json()["detail"]
    blank = client.post("/api/sessions", headers=admin, json={**VISIT, "approved_by": "  "})
    assert blank.status_code == 422
    assert store.sessions() == [] and changed == []

    ok = client.post("/api/sessions", headers=admin, json={**VISIT, "approved_by": "Max"})
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert (body["state"], body["device_id"], body["grace_s"]) == ("active", "d-ann", 120)
    assert body["expected_end_ms"] == clock.wall_ms() + 45 * 60_000
    assert body["next_deadline_ms"] == body["expected_end_ms"] - 60_000  # the pre-alert
    accompanied = client.post("/api/sessions", headers=admin, json={**VISIT, "accompanied": True})
    assert accompanied.status_code == 201
    assert [s.id for s in changed] == [body["id"], accompanied.json()["id"]]
    start = store.audit(subject=f"session:{body['id']}")[0]
    assert (start.actor, start.action, start.detail["approved_by"]) == (
        "token:Office",
        "session.start",
        "Max",
    )


def test_extend_end_and_roles(client: TestClient, store: SqlStore, clock: FakeClock) -> None:
    admin = token(store, Role.ADMIN, "Office")
    viewer = token(store, Role.VIEWER, "Wall screen")
    manager = token(store, Role.MANAGER, "Max")
    setup_people(client, admin)
    sid = client.post("/api/sessions", headers=manager, json={**VISIT, "accompanied": True}).json()[
        "id"
    ]
    end_ms = store.session(sid).expected_end_ms  # type: ignore[union-attr]

    assert client.post("/api/sessions", headers=viewer, json=VISIT).status_code == 403
    assert client.post(f"/api/sessions/{sid}/end", headers=viewer).status_code == 403
    assert client.post("/api/workers", headers=manager, json={"name": "X"}).status_code == 403
    assert [s["id"] for s in client.get("/api/sessions?state=active", headers=viewer).json()] == [
        sid
    ]

    extended = client.post(f"/api/sessions/{sid}/extend", headers=manager, json={"minutes": 20})
    assert extended.json()["expected_end_ms"] == end_ms + 20 * 60_000
    ended = client.post(f"/api/sessions/{sid}/end", headers=manager)
    assert (ended.json()["state"], ended.json()["ended_by"]) == ("ended", "token:Max")
    assert client.post(f"/api/sessions/{sid}/extend", headers=manager).status_code == 409
    assert client.post("/api/sessions/999/end", headers=manager).status_code == 404
    assert client.get("/api/sessions?state=active", headers=viewer).json() == []


def test_a_shift_needs_an_interval(client: TestClient, store: SqlStore) -> None:
    admin = token(store, Role.ADMIN, "Office")
    setup_people(client, admin)
    shift = {"kind": "shift", "worker_id": "w-ann"}
    assert client.post("/api/sessions", headers=admin, json=shift).status_code == 422
    ok = client.post("/api/sessions", headers=admin, json={**shift, "checkin_interval_s": 3600})
    assert ok.status_code == 201 and ok.json()["kind"] == "shift"


def test_the_device_secret_is_write_only(client: TestClient, store: SqlStore) -> None:
    admin = token(store, Role.ADMIN, "Office")
    secret = "s" * 24
    r = client.put("/api/devices/d-9", headers=admin, json={"sms_secret": secret})
    assert r.status_code == 200
    assert secret not in r.text and secret not in client.get("/api/devices", headers=admin).text
    assert store.device_secret("d-9") == secret.encode()
    assert store.audit(subject="device:d-9")[0].detail == {}


def test_register_shows_who_is_signed_in(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    store.save_worker(Worker("w-ann", "Ann")).result()
    store.assign_device("d-ann", "w-ann").result()
    viewer = token(store, Role.VIEWER, "Wall screen")
    for seq, kind in enumerate((EventKind.SIGN_IN, EventKind.SIGN_OUT, EventKind.SIGN_IN)):
        event = Event(str(uuid.uuid4()), kind, clock.wall_ms(), seq=seq)
        effects = session_effects(event, 300, 300)
        store.record_event("d-ann", event, clock.wall_ms(), effects).result()
        clock.advance(60)
    rows = client.get("/api/register", headers=viewer).json()
    assert [(r["worker_id"], r["device_id"]) for r in rows] == [("w-ann", "d-ann")]


def test_resolve_needs_outcome_and_notes(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    manager = token(store, Role.MANAGER, "Max")
    panic = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=1)
    outcome = store.record_event("d1", panic, clock.wall_ms(), effects_of(panic.kind)).result()
    alarm_id = outcome.alarms[0].id
    url = f"/api/alarms/{alarm_id}/resolve"

    assert client.post(url, headers=manager, json={"notes": "rang her"}).status_code == 422
    assert client.post(url, headers=manager, json={"outcome": "safe"}).status_code == 422
    blank = {"outcome": " ", "notes": "rang her"}
    assert client.post(url, headers=manager, json=blank).status_code == 422
    assert client.post(url, headers=manager).status_code == 422
    assert store.alarm(alarm_id).state == "open"  # type: ignore[union-attr]

    done = client.post(url, headers=manager, json={"outcome": "safe", "notes": "rang her"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["state"], body["acknowledged_by"], body["resolved_by"]) == (
        "resolved",
        "Max",
        "Max",
    )
    assert (body["outcome"], body["notes"]) == ("safe", "rang her")
    actions = [a.action for a in store.audit(subject=f"alarm:{alarm_id}")]
    assert actions[:2] == ["alarm.resolve", "alarm.acknowledge"]
    again = client.post(url, headers=manager, json={"outcome": "safe", "notes": "x"})
    assert again.status_code == 409


def test_phone_numbers_are_kept_in_e164_and_nonsense_is_refused_naming_the_field(
    client: TestClient, store: SqlStore
) -> None:
    admin = token(store, Role.ADMIN, "ops")
    r = client.put(
        "/api/workers/w-zoe",
        headers=admin,
        json={"name": "Zoe", "mobile": "07700 900123", "home_phone": "0044 1632 960123"},
    )
    assert r.status_code == 200
    assert (r.json()["mobile"], r.json()["home_phone"]) == ("+447700900123", "+441632960123")
    stored = store.worker("w-zoe")
    assert stored is not None and stored.mobile == "+447700900123"

    r = client.put("/api/workers/w-zoe", headers=admin, json={"name": "Zoe", "mobile": "12"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("mobile: is too short")
    assert store.worker("w-zoe") == stored  # nothing changed

    visit = {
        **VISIT,
        "worker_id": "w-zoe",
        "approved_by": "Max",
        "contact_phone": "call the office",
    }
    r = client.post("/api/sessions", headers=admin, json=visit)
    assert r.status_code == 422 and r.json()["detail"].startswith("contact_phone: may only hold")
    r = client.post("/api/sessions", headers=admin, json={**visit, "contact_phone": "01632 960999"})
    assert r.status_code == 201, r.json()
    assert r.json()["contact_phone"] == "+441632960999"
