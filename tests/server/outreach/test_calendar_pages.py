"""The console's calendar feeds: make one, read its link once, revoke it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.sessions import rules
from loneguard.server.store import Role, SessionKind
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import PASSWORD, add_worker, form_csrf, log_in

LINK = re.compile(r'id="feed-url" readonly value="http://testserver(/calendar/[^"]+\.ics)"')


@pytest.fixture
def app(store: SqliteStore, clock: FakeClock) -> Iterator[TestClient]:
    for name, role in (("max", Role.MANAGER), ("vic", Role.VIEWER)):
        create_user(store, name, role, PASSWORD, clock.wall_ms())
    add_worker(store)
    plan = rules.SessionPlan(
        kind=SessionKind.VISIT,
        worker_id="w1",
        device_id="d1",
        started_ms=clock.wall_ms(),
        grace_s=300,
        prealert_s=300,
        expected_end_ms=clock.wall_ms() + 3_600_000,
        address="12 Private Lane",
        accompanied=True,
    )
    store.start_session(plan, "user:max").result()
    hooks = ApiHooks(broadcaster=Broadcaster())
    with TestClient(
        create_app(store, clock=clock, hooks=hooks, console=ConsoleSettings()),
        follow_redirects=False,
    ) as client:
        yield client


def make(client: TestClient, **fields: str) -> str:
    csrf = form_csrf(client.get("/console/calendars").text)
    response = client.post("/console/calendars", data={"csrf": csrf, **fields})
    assert response.status_code == 201, response.text
    match = LINK.search(response.text)
    assert match is not None and "Copy link" in response.text
    return match.group(1)


def test_a_viewer_makes_a_feed_without_addresses_and_revokes_it(app: TestClient) -> None:
    log_in(app, "vic")
    assert "Include addresses" not in app.get("/console/calendars").text
    path = make(app, label="My wall", scope="worker", subject="w1", with_addresses="1")
    body = app.get(path).content
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    assert "Wendy Worker" in str(event["SUMMARY"]) and b"Private Lane" not in body
    listing = app.get("/console/calendars").text
    assert "My wall" in listing and path not in listing  # the link is shown once only
    feed_id = re.search(r'data-feed="(\d+)"', listing).group(1)  # type: ignore[union-attr]
    csrf = form_csrf(listing)
    revoked = app.post(f"/console/calendars/{feed_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert app.get(path).status_code == 404
    assert "revoked" in app.get("/console/calendars").text


def test_a_manager_feed_has_addresses_and_viewers_do_not_see_it(
    app: TestClient, store: SqliteStore
) -> None:
    log_in(app, "max")
    path = make(app, label="Team", scope="all", with_addresses="1")
    (event,) = Calendar.from_ical(app.get(path).content).walk("VEVENT")
    assert str(event["LOCATION"]) == "12 Private Lane"
    app.cookies.clear()
    log_in(app, "vic")
    assert "Team" not in app.get("/console/calendars").text
    csrf = form_csrf(app.get("/console/calendars").text)
    feed_id = store.calendar_feeds()[0].id
    refused = app.post(f"/console/calendars/{feed_id}/revoke", data={"csrf": csrf})
    assert refused.status_code == 404 and app.get(path).status_code == 200
