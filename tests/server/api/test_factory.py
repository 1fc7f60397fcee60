import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.api import create_app
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.store import AlarmState, Role
from loneguard.server.store.sqlite import SqlStore


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def client(store: SqlStore, clock: FakeClock, metrics: Metrics) -> Iterator[TestClient]:
    app = create_app(store, clock=clock, metrics=metrics, mqtt_connected=lambda: True)
    with TestClient(app) as c:
        yield c


def token(store: SqlStore, role: Role, name: str = "Office") -> dict[str, str]:
    value = new_token()
    store.create_token(name, role, hash_token(value), 1).result()
    return {"Authorization": f"Bearer {value}"}


def open_panic(store: SqlStore, clock: FakeClock, device_id: str = "d1") -> int:
    panic = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=1)
    outcome = store.record_event(device_id, panic, clock.wall_ms(), effects_of(panic.kind))
    return outcome.result().alarms[0].id


def test_health_needs_no_token(client: TestClient, metrics: Metrics) -> None:
    metrics.count_rejected("event.payload")
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mqtt": "connected", "db": "ok", "rejected": 1}


def test_metrics_need_no_token(client: TestClient, metrics: Metrics) -> None:
    metrics.count_event("panic", inserted=True)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'loneguard_events_total{kind="panic"} 1' in response.text


@pytest.mark.parametrize("path", ["/api/devices", "/api/workers", "/api/alarms", "/api/events"])
def test_reads_need_a_valid_token(client: TestClient, store: SqlStore, path: str) -> None:
    assert client.get(path).status_code == 401
    bad = client.get(path, headers={"Authorization": "Bearer lg_not-a-token"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert client.get(path, headers=token(store, Role.VIEWER)).status_code == 200


def test_revoked_token_is_refused(client: TestClient, store: SqlStore) -> None:
    headers = token(store, Role.ADMIN)
    [api_token] = [store.token_by_hash(hash_token(headers["Authorization"][7:]))]
    assert api_token is not None
    store.revoke_token(api_token.id, 2).result()
    assert client.get("/api/alarms", headers=headers).status_code == 401


def test_viewer_may_read_but_not_acknowledge(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    alarm_id = open_panic(store, clock)
    viewer = token(store, Role.VIEWER)
    assert len(client.get("/api/alarms?state=open", headers=viewer).json()) == 1
    response = client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=viewer)
    assert response.status_code == 403
    assert store.alarm(alarm_id).state == AlarmState.OPEN  # type: ignore[union-attr]


def test_acknowledge_flow(client: TestClient, store: SqlStore, clock: FakeClock) -> None:
    alarm_id = open_panic(store, clock)
    manager = token(store, Role.MANAGER, name="Duty manager")
    clock.advance(42)

    response = client.post(
        f"/api/alarms/{alarm_id}/acknowledge", headers=manager, json={"by": "Sam Responder"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "acknowledged"
    assert body["acknowledged_by"] == "Sam Responder"
    assert body["acknowledged_ms"] == clock.wall_ms()
    assert client.get("/api/alarms?state=open", headers=manager).json() == []
    [entry] = store.audit(subject=f"alarm:{alarm_id}", limit=1)
    assert (entry.action, entry.actor, entry.detail) == (
        "alarm.acknowledge",
        "token:Duty manager",
        {"by": "Sam Responder"},
    )
    # The same person again changes nothing; someone else is told who has it.
    again = client.post(
        f"/api/alarms/{alarm_id}/acknowledge", headers=manager, json={"by": "Sam Responder"}
    )
    assert again.status_code == 200 and again.json() == body
    other = client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=manager)
    assert other.status_code == 409 and "Sam Responder" in other.json()["detail"]


def test_acknowledge_defaults_to_the_token_name(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    alarm_id = open_panic(store, clock)
    response = client.post(
        f"/api/alarms/{alarm_id}/acknowledge", headers=token(store, Role.ADMIN, name="Front desk")
    )
    assert response.json()["acknowledged_by"] == "Front desk"


def test_acknowledge_unknown_or_resolved(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    admin = token(store, Role.ADMIN)
    assert client.post("/api/alarms/999/acknowledge", headers=admin).status_code == 404
    alarm_id = open_panic(store, clock)
    store.write(
        lambda conn: conn.execute("UPDATE alarms SET state = 'resolved' WHERE id = ?", (alarm_id,))
    ).result()
    response = client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=admin)
    assert response.status_code == 409


def test_events_filters(client: TestClient, store: SqlStore, clock: FakeClock) -> None:
    for device_id, kind in [
        ("d1", EventKind.CHECKIN),
        ("d1", EventKind.PANIC),
        ("d2", EventKind.CHECKIN),
    ]:
        e = Event(str(uuid.uuid4()), kind, clock.wall_ms(), seq=1)
        store.record_event(device_id, e, clock.wall_ms(), ()).result()
    viewer = token(store, Role.VIEWER)
    assert len(client.get("/api/events", headers=viewer).json()) == 3
    assert len(client.get("/api/events?limit=2", headers=viewer).json()) == 2
    assert len(client.get("/api/events?device_id=d1", headers=viewer).json()) == 2
    only = client.get("/api/events?device_id=d1&kind=checkin", headers=viewer).json()
    assert [(e["device_id"], e["kind"]) for e in only] == [("d1", "checkin")]
    assert client.get("/api/events?kind=nonsense", headers=viewer).status_code == 422
    assert client.get("/api/events?limit=0", headers=viewer).status_code == 422


def test_openapi_describes_the_responses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "AlarmOut" in schema["components"]["schemas"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
