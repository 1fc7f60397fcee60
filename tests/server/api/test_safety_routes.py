"""Risk assessments, incidents and the review over the JSON API: the console's roles, and
viewers' tokens read no addresses, contacts or assessment text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.review import quarter_of
from loneguard.server.store import Role
from loneguard.server.store.safety_records import Incident
from loneguard.server.store.sqlite import SqlStore
from tests.server.api.test_session_routes import VISIT, setup_people, token

RISK = {"rating": "high", "measures": "call the office at the door", "individuals": "Carol's son"}


@pytest.fixture
def reported() -> list[Incident]:
    return []


@pytest.fixture
def client(store: SqlStore, clock: FakeClock, reported: list[Incident]) -> Iterator[TestClient]:
    async def tell(incident: Incident) -> None:
        reported.append(incident)

    hooks = ApiHooks(incident_reported=tell)
    with TestClient(create_app(store, clock=clock, hooks=hooks)) as c:
        yield c


def test_a_high_risk_unaccompanied_visit_needs_the_approvers_override(
    client: TestClient, store: SqlStore
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    viewer = token(store, Role.VIEWER, "Wall screen")
    setup_people(client, admin)
    visit = client.post("/api/sessions", headers=admin, json={**VISIT, "approved_by": "Max"})
    url = f"/api/visits/{visit.json()['id']}/risk"
    assert client.get(url, headers=viewer).status_code == 404  # not assessed yet
    refused = client.put(url, headers=admin, json=RISK)
    assert refused.status_code == 422 and "override_reason" in refused.json()["detail"]
    assert client.put(url, headers=viewer, json=RISK).status_code == 403
    body = {**RISK, "override_reason": "son is away this week"}
    saved = client.put(url, headers=admin, json=body)
    assert saved.status_code == 200
    assert (saved.json()["override_by"], saved.json()["override_reason"]) == (
        "Max",
        "son is away this week",
    )
    (mine,) = client.get("/api/visits", headers=admin).json()
    assert mine["risk"]["override_reason"] == "son is away this week"
    (theirs,) = client.get("/api/visits", headers=viewer).json()
    assert theirs["risk"]["rating"] == "high" and theirs["risk"]["overridden"] is True
    assert theirs["risk"]["override_reason"] is None and theirs["risk"]["individuals"] is None
    assert client.get(url, headers=viewer).json()["measures"] is None
    low = client.put(url, headers=admin, json={**RISK, "rating": "low"})
    assert low.json()["override_by"] is None  # no override on a low rating


def test_an_incident_is_reported_by_anyone_and_investigated_and_closed_by_managers(
    client: TestClient, store: SqlStore, reported: list[Incident]
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    worker = token(store, Role.VIEWER, "Ann's phone")
    setup_people(client, admin)
    body = {
        "kind": "threat",
        "severity": "medium",
        "what": "Threatening call about Thursday's visit",
        "address": "1 Example Road",
        "contact_phone": "+441632960999",
        "worker_id": "w-ann",
    }
    made = client.post("/api/incidents", headers=worker, json=body)
    assert made.status_code == 201, made.text
    incident = made.json()
    assert incident["status"] == "reported" and incident["address"] is None  # a viewer's copy
    assert [i.what for i in reported] == ["Threatening call about Thursday's visit"]
    url = f"/api/incidents/{incident['id']}"
    assert client.get(url, headers=admin).json()["address"] == "1 Example Road"
    assert (
        client.post(f"{url}/investigate", headers=worker, json={"investigator": "x"}).status_code
        == 403
    )
    early = client.post(f"{url}/close", headers=admin, json={"findings": "n/a"})
    assert early.status_code == 409 and "reported → investigating → closed" in early.text
    going = client.post(f"{url}/investigate", headers=admin, json={"investigator": "Max"})
    assert going.json()["status"] == "investigating"
    action = client.post(
        f"{url}/actions",
        headers=admin,
        json={"what": "flag the number", "owner": "Max", "due_ms": 5},
    )
    assert action.status_code == 201
    assert client.post(f"{url}/close", headers=admin, json={"findings": " "}).status_code == 422
    closed = client.post(
        f"{url}/close", headers=admin, json={"findings": "Ex-partner; police told"}
    )
    assert (closed.json()["status"], closed.json()["closed_by"]) == ("closed", "Office")
    assert [a["what"] for a in closed.json()["actions"]] == ["flag the number"]
    done = client.post(f"{url}/actions/{action.json()['id']}/done", headers=admin)
    assert done.json()["done_by"] == "Office"
    assert (
        client.post(f"{url}/investigate", headers=admin, json={"investigator": "Max"}).status_code
        == 409
    )
    assert client.get("/api/incidents/999", headers=admin).status_code == 404


def test_the_review_counts_the_quarter(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    setup_people(client, admin)
    for severity in ("high", "high", "low"):
        body = {"kind": "near_miss", "severity": severity, "what": "slipped on ice"}
        assert client.post("/api/incidents", headers=admin, json=body).status_code == 201
    period = quarter_of(clock.wall_ms()).name
    review = client.get(f"/api/review?period={period}", headers=admin).json()
    assert review["incidents_by_severity"] == {"low": 1, "medium": 0, "high": 2}
    assert review["incidents_by_status"] == {"reported": 3, "investigating": 0, "closed": 0}
    assert review["signal_spots"] == 0  # no black spot recorded this quarter
    assert client.get("/api/review", headers=admin).json() == review  # the current quarter
    assert client.get("/api/review?period=2026-Q5", headers=admin).status_code == 422
