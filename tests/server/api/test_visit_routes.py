"""``/api/visits``: visits with their plans, and their records, read over the JSON API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.store import Role, VisitRecord
from loneguard.server.store.sqlite import SqlStore
from tests.server.api.test_session_routes import VISIT, setup_people, token

DAY_MS = 86_400_000


@pytest.fixture
def client(store: SqlStore, clock: FakeClock) -> Iterator[TestClient]:
    hooks = ApiHooks(grace_s=120, prealert_s=60)
    with TestClient(create_app(store, clock=clock, hooks=hooks)) as c:
        yield c


def record(session_id: int, at_ms: int) -> VisitRecord:
    return VisitRecord(session_id, "review", "rent arrears", "pay weekly", "none", "max", at_ms)


def test_viewers_read_live_visits_with_their_plans(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    viewer = token(store, Role.VIEWER, "Wall screen")
    setup_people(client, admin)
    planned = client.post("/api/sessions", headers=admin, json={**VISIT, "accompanied": True})
    unplanned = client.post("/api/sessions", headers=admin, json={**VISIT, "accompanied": True})
    shift = {"kind": "shift", "worker_id": "w-ann", "checkin_interval_s": 3600}
    assert client.post("/api/sessions", headers=admin, json=shift).status_code == 201
    planned_id, unplanned_id = planned.json()["id"], unplanned.json()["id"]
    start_ms = clock.wall_ms() + 3_600_000
    store.plan_visit(planned_id, start_ms, "user:max").result()

    assert client.get("/api/visits").status_code == 401
    visits = client.get("/api/visits", headers=viewer).json()
    assert [v["id"] for v in visits] == [unplanned_id, planned_id]  # newest first, no shift
    planned_out = visits[1]
    assert planned_out["plan"] == {"planned_start_ms": start_ms, "planned_by": "user:max"}
    assert planned_out["has_record"] is False
    # the privacy policy: a viewer reads no address or number; an admin does
    assert (planned_out["address"], planned_out["contact_phone"]) == (None, None)
    as_admin = client.get(f"/api/visits/{planned_id}", headers=admin).json()
    assert (as_admin["address"], as_admin["contact_phone"]) == ("1 Example Road", "+441632960999")
    assert visits[0]["plan"] is None
    one = client.get(f"/api/visits/{planned_id}", headers=viewer).json()
    assert one == planned_out

    client.post(f"/api/sessions/{unplanned_id}/end", headers=admin)
    assert [v["id"] for v in client.get("/api/visits", headers=viewer).json()] == [planned_id]
    ended = client.get("/api/visits?state=ended", headers=viewer).json()
    assert [(v["id"], v["state"]) for v in ended] == [(unplanned_id, "ended")]


def test_a_visit_record_is_read_until_the_purge_forgets_it(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    viewer = token(store, Role.VIEWER, "Wall screen")
    setup_people(client, admin)
    sid = client.post("/api/sessions", headers=admin, json={**VISIT, "accompanied": True}).json()[
        "id"
    ]
    assert client.get(f"/api/visits/{sid}/record", headers=viewer).status_code == 404

    store.save_visit_record(record(sid, clock.wall_ms()), "user:max").result()
    got = client.get(f"/api/visits/{sid}/record", headers=viewer)
    assert got.status_code == 200
    assert got.json() == {
        "session_id": sid,
        "reason": "review",
        "points": "rent arrears",
        "agreements": "pay weekly",
        "concerns": "none",
        "written_by": "max",
        "written_ms": clock.wall_ms(),
    }
    assert client.get(f"/api/visits/{sid}", headers=viewer).json()["has_record"] is True

    client.post(f"/api/sessions/{sid}/end", headers=admin)
    clock.advance(2 * DAY_MS / 1000)
    assert store.purge_visit_details(clock.wall_ms() - DAY_MS, clock.wall_ms()).result() == 1
    assert client.get(f"/api/visits/{sid}/record", headers=viewer).status_code == 404
    gone = client.get(f"/api/visits/{sid}", headers=viewer).json()
    assert (gone["address"], gone["contact_name"], gone["has_record"]) == (None, None, False)


def test_only_visits_are_visits(client: TestClient, store: SqlStore) -> None:
    admin = token(store, Role.ADMIN, "Office")
    setup_people(client, admin)
    shift = {"kind": "shift", "worker_id": "w-ann", "checkin_interval_s": 3600}
    shift_id = client.post("/api/sessions", headers=admin, json=shift).json()["id"]
    assert client.get(f"/api/visits/{shift_id}", headers=admin).status_code == 404
    assert client.get(f"/api/visits/{shift_id}/record", headers=admin).status_code == 404
    assert client.get("/api/visits/999", headers=admin).status_code == 404
    assert client.get(f"/api/visits/{2**63}", headers=admin).status_code == 422
