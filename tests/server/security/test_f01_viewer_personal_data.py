"""Finding 1 (High): a viewer's API token read phone numbers, addresses and panic positions.

The console hid them from viewers; the API did not. One policy (``server/privacy.py``) now
decides for every interface: these tests read each of them as a viewer and as a manager.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, Location
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.api import create_app
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.sessions.rules import SessionPlan
from loneguard.server.store import Role, SessionKind, Worker
from loneguard.server.store.sqlite import SqlStore

MOBILE = "+447700900123"
HOME = "+441632960456"
ADDRESS = "14 Quarry Lane"
CONTACT_PHONE = "+441632960789"
LAT = 51.501234


@pytest.fixture
def client(store: SqlStore, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(store, clock=clock)) as c:
        yield c


def token(store: SqlStore, role: Role) -> dict[str, str]:
    value = new_token()
    store.create_token(f"t-{role}", role, hash_token(value), 1).result()
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def personal(store: SqlStore, clock: FakeClock) -> None:
    store.save_worker(Worker("w1", "Ann", mobile=MOBILE, home_phone=HOME)).result()
    store.assign_device("d1", "w1").result()
    now = clock.wall_ms()
    plan = SessionPlan(
        kind=SessionKind.VISIT,
        worker_id="w1",
        device_id="d1",
        started_ms=now,
        grace_s=120,
        prealert_s=60,
        expected_end_ms=now + 3_600_000,
        address=ADDRESS,
        contact_name="Carol",
        contact_phone=CONTACT_PHONE,
        accompanied=True,
    )
    store.start_session(plan, "test").result()
    panic = Event(
        str(uuid.uuid4()), EventKind.PANIC, now, seq=1, location=Location(LAT, -0.1234, 8.0)
    )
    store.record_event("d1", panic, now, effects_of(panic.kind)).result()


READS = ["/api/workers", "/api/sessions", "/api/visits", "/api/events?kind=panic"]


@pytest.mark.usefixtures("personal")
def test_a_viewer_token_reads_no_contact_data(client: TestClient, store: SqlStore) -> None:
    viewer = token(store, Role.VIEWER)
    for path in READS:
        response = client.get(path, headers=viewer)
        assert response.status_code == 200, path
        text = response.text
        for secret in (MOBILE, HOME, ADDRESS, CONTACT_PHONE, "Carol", str(LAT)):
            assert secret not in text, f"{path} shows {secret} to a viewer"


@pytest.mark.usefixtures("personal")
def test_a_manager_token_still_reads_them(client: TestClient, store: SqlStore) -> None:
    manager = token(store, Role.MANAGER)
    seen = " ".join(client.get(path, headers=manager).text for path in READS)
    for value in (MOBILE, HOME, ADDRESS, CONTACT_PHONE, str(LAT)):
        assert value in seen
    [event] = client.get("/api/events?kind=panic", headers=manager).json()
    assert json.dumps(event["body"]["location"]).startswith('{"lat": 51.501234')


def test_the_public_metrics_show_no_covert_alarm(store: SqlStore, clock: FakeClock) -> None:
    """Finding 10 (Low): ``/metrics`` showed ``kind="duress"`` to anyone who could reach it."""
    from loneguard.server.ingest.metrics import Metrics

    metrics = Metrics()
    metrics.count_event("panic", inserted=True)
    metrics.count_event("duress", inserted=True)
    metrics.observe_ack(0.001)
    with TestClient(create_app(store, clock=clock, metrics=metrics)) as client:
        public = client.get("/metrics")
        assert public.status_code == 200
        assert 'kind="panic"} 1' in public.text
        assert "duress" not in public.text and "ack_latency" not in public.text
        viewer = client.get("/metrics", headers=token(store, Role.VIEWER))
        assert 'loneguard_events_total{kind="duress"} 1' in viewer.text
        wrong = client.get("/metrics", headers={"Authorization": "Bearer lg_nope"})
        assert wrong.status_code == 401


@pytest.mark.usefixtures("users")
def test_the_event_log_and_its_csv_show_login_addresses_to_managers_only(
    app_client: TestClient,
) -> None:
    from tests.server.console.conftest import log_in, login_status

    assert login_status(app_client, "someone", "wrong password") == 401
    viewer = log_in(TestClient(app_client.app, follow_redirects=False), "vic")
    manager = log_in(TestClient(app_client.app, follow_redirects=False), "max")
    for path in ("/console/events", "/console/events.csv"):
        assert "testclient" not in viewer.get(path).text, path  # the failed login's address
        assert "testclient" in manager.get(path).text, path
