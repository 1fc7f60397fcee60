"""Calendar feeds: the ICS a calendar program subscribes to, read back with ``icalendar``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from icalendar import Calendar

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.store import Role
from loneguard.server.store.sqlite import SqlStore
from tests.server.api.test_session_routes import VISIT, setup_people, token

HOUR_MS = 3_600_000


@pytest.fixture
def client(store: SqlStore, clock: FakeClock) -> Iterator[TestClient]:
    hooks = ApiHooks(grace_s=120, prealert_s=60, calendar_reminder_min=20)
    with TestClient(create_app(store, clock=clock, hooks=hooks)) as c:
        yield c


def planned_visit(
    client: TestClient, store: SqlStore, clock: FakeClock, admin: dict[str, str]
) -> tuple[int, int]:
    made = client.post(
        "/api/sessions", headers=admin, json={**VISIT, "minutes": 180, "accompanied": True}
    )
    assert made.status_code == 201, made.text
    start_ms = clock.wall_ms() + HOUR_MS
    store.plan_visit(made.json()["id"], start_ms, "user:max").result()
    return made.json()["id"], start_ms


def feed_path(url: str) -> str:
    return url[url.index("/calendar/") :]


def make_feed(
    client: TestClient, who: dict[str, str], label: str, scope: str, subject: str, full: bool
) -> Response:
    body = {"label": label, "scope": scope, "subject": subject, "with_addresses": full}
    return client.post("/api/calendars", headers=who, json=body)


def events_of(body: bytes) -> list[object]:
    return list(Calendar.from_ical(body).walk("VEVENT"))


def test_the_feed_holds_the_planned_visit_with_its_reminder_and_revoked_it_is_gone(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    setup_people(client, admin)
    visit_id, start_ms = planned_visit(client, store, clock, admin)
    made = make_feed(client, admin, "Max's team", "team", "w-mgr", True)
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    assert url.startswith("http://testserver/calendar/lgcal_")

    response = client.get(feed_path(url))  # no token: the secret URL is the key
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    (event,) = events_of(response.content)
    assert event["UID"] == f"loneguard-visit-{visit_id}"
    assert event.decoded("DTSTART") == datetime.fromtimestamp(start_ms / 1000, UTC)
    session = store.session(visit_id)
    assert session is not None and session.expected_end_ms is not None
    assert event.decoded("DTEND") == datetime.fromtimestamp(session.expected_end_ms / 1000, UTC)
    assert str(event["LOCATION"]) == "1 Example Road"
    assert "Ann" in str(event["SUMMARY"])
    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm.decoded("TRIGGER") == timedelta(minutes=-20)

    # The secret is kept only as a hash; the list shows the feed, never its URL.
    listed = client.get("/api/calendars", headers=admin).json()
    assert [f["id"] for f in listed] == [made.json()["id"]] and "url" not in listed[0]

    revoked = client.post(f"/api/calendars/{made.json()['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_ms"] == clock.wall_ms()
    assert client.get(feed_path(url)).status_code == 404
    assert client.get("/calendar/lgcal_not-a-feed.ics").status_code == 404


def test_a_viewers_feed_carries_no_address_or_contact(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    viewer = token(store, Role.VIEWER, "Wall screen")
    setup_people(client, admin)
    visit_id, _ = planned_visit(client, store, clock, admin)
    made = make_feed(client, viewer, "Ann", "worker", "w-ann", True)
    assert made.status_code == 201 and made.json()["with_addresses"] is False
    make_feed(client, admin, "Office", "all", "", True)
    listed = client.get("/api/calendars", headers=viewer).json()
    assert [f["label"] for f in listed] == ["Ann"]  # a viewer lists their own feeds only
    body = client.get(feed_path(made.json()["url"])).content
    (event,) = events_of(body)
    assert event["UID"] == f"loneguard-visit-{visit_id}"
    assert "LOCATION" not in event
    for secret in ("Example Road", "Carol", "1632960999"):
        assert secret.encode() not in body
    # A viewer may not revoke; an unknown feed cannot be revoked.
    assert (
        client.post(f"/api/calendars/{made.json()['id']}/revoke", headers=viewer).status_code == 403
    )
    assert client.post("/api/calendars/999/revoke", headers=admin).status_code == 404


def test_a_worker_feed_shows_only_that_workers_visits_and_no_ended_ones(
    client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    setup_people(client, admin)
    visit_id, _ = planned_visit(client, store, clock, admin)
    ended_id, _ = planned_visit(client, store, clock, admin)
    client.post(f"/api/sessions/{ended_id}/end", headers=admin)
    mine = client.post(
        "/api/calendars",
        headers=admin,
        json={"label": "Ann", "scope": "worker", "subject": "w-ann"},
    ).json()
    other = client.post(
        "/api/calendars",
        headers=admin,
        json={"label": "Max", "scope": "worker", "subject": "w-mgr"},
    ).json()
    assert [e["UID"] for e in events_of(client.get(feed_path(mine["url"])).content)] == [
        f"loneguard-visit-{visit_id}"
    ]
    assert events_of(client.get(feed_path(other["url"])).content) == []
    refused = make_feed(client, admin, "x", "worker", "nobody", False)
    assert refused.status_code == 422 and "subject" in refused.json()["detail"]
