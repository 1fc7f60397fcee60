"""Signal black spots on the console and the API: the planner's note, the list, the button."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.retention import RetentionPurge
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.sessions import rules
from loneguard.server.store import Role, SessionKind
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import PASSWORD, add_worker, form_csrf, log_in

ADDRESS = "Flat 2, 9 Hill Cres., LS1 4AP"


@pytest.fixture
def app(store: SqliteStore, clock: FakeClock) -> Iterator[TestClient]:
    for name, role in (("max", Role.MANAGER), ("vic", Role.VIEWER)):
        create_user(store, name, role, PASSWORD, clock.wall_ms())
    add_worker(store)
    hooks = ApiHooks(broadcaster=Broadcaster())
    with TestClient(
        create_app(store, clock=clock, hooks=hooks, console=ConsoleSettings()),
        follow_redirects=False,
    ) as client:
        yield client


def visit(store: SqliteStore, clock: FakeClock) -> int:
    plan = rules.SessionPlan(
        kind=SessionKind.VISIT,
        worker_id="w1",
        device_id="d1",
        started_ms=clock.wall_ms(),
        grace_s=300,
        prealert_s=300,
        expected_end_ms=clock.wall_ms() + 3_600_000,
        address=ADDRESS,
        accompanied=True,
    )
    return store.start_session(plan, "user:max").result().id


def test_poor_signal_here_marks_the_address_the_planner_warns_of(
    app: TestClient, store: SqliteStore, clock: FakeClock
) -> None:
    visit_id = visit(store, clock)
    log_in(app, "max")
    note = app.get("/console/signal/note", params={"address": "flat 2 9 hill crescent ls14ap"})
    assert note.status_code == 200 and "Poor signal" not in note.text
    page = f"/console/visits/{visit_id}/change"
    csrf = form_csrf(app.get(page).text)
    assert "Poor signal here" in app.get(page).text
    marked = app.post(f"/console/visits/{visit_id}/signal", data={"csrf": csrf})
    assert marked.status_code == 303
    note = app.get("/console/signal/note", params={"address": "flat 2 9 hill crescent ls14ap"})
    assert "Poor signal reported at this address: 1 report from workers," in note.text
    assert 'id="signal-note"' in app.get("/console/visits").text  # the planner fetches it
    listing = app.get("/console/signal").text
    assert ADDRESS in listing and "No black spots known" not in listing
    (spot,) = store.signal_spots()
    assert (spot.worker_flags, spot.samples, spot.address) == (1, 0, ADDRESS)

    token = new_token()
    store.create_token("office", Role.MANAGER, hash_token(token), 1).result()
    spots = app.get("/api/signal-spots", headers={"Authorization": f"Bearer {token}"}).json()
    assert spots[0]["address"] == ADDRESS and spots[0]["black_spot"] is True


def test_viewers_see_no_black_spot_addresses(
    app: TestClient, store: SqliteStore, clock: FakeClock
) -> None:
    visit_id = visit(store, clock)
    store.flag_poor_signal(clock.wall_ms(), "user:max", session_id=visit_id).result()
    log_in(app, "vic")
    assert ADDRESS not in app.get("/console/visits").text
    assert app.get("/console/signal").status_code in (303, 403)
    assert app.get("/console/signal/note", params={"address": ADDRESS}).status_code in (303, 403)
    token = new_token()
    store.create_token("wall", Role.VIEWER, hash_token(token), 1).result()
    api = app.get("/api/signal-spots", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 403


def test_black_spots_are_forgotten_with_the_visits_after_the_retention(
    store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    visit_id = visit(store, clock)
    store.flag_poor_signal(clock.wall_ms(), "user:max", session_id=visit_id).result()
    purge = RetentionPurge(store, clock, days=30)
    clock.advance(29 * 86_400)
    asyncio.run(purge.run_now())
    assert len(store.signal_spots()) == 1
    clock.advance(2 * 86_400)
    asyncio.run(purge.run_now())
    assert store.signal_spots() == []
    assert any(e.action == "signal.purge" for e in store.audit())
