"""Home working (CIC 10.2, school §8): a shift type with its regular contact interval whose
missed check-in goes to the line manager first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.config import ConfigError, load_config
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.sessions import rules
from loneguard.server.store import AlarmKind, Role, SessionKind
from loneguard.server.store.sqlite import SqlStore
from tests.server.api.test_session_routes import setup_people, token
from tests.server.console.conftest import PASSWORD, add_worker, form_csrf, log_in
from tests.server.rig import ANN, DEVICE, MGR, Rig, hub_config
from tests.server.runtime_fakes import until


@pytest.fixture
def client(store: SqlStore, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(store, clock=clock, hooks=ApiHooks())) as c:
        yield c


def test_a_home_working_shift_takes_its_interval_and_is_remembered(
    client: TestClient, store: SqlStore
) -> None:
    admin = token(store, Role.ADMIN, "Office")
    setup_people(client, admin)
    shift = {"kind": "shift", "worker_id": "w-ann", "shift_type": "home_working"}
    made = client.post("/api/sessions", headers=admin, json=shift)
    assert made.status_code == 201, made.text
    assert made.json()["checkin_interval_s"] == 2 * 3600
    assert store.shift_type_of(made.json()["id"]) == "home_working"
    given = client.post("/api/sessions", headers=admin, json={**shift, "checkin_interval_s": 1800})
    assert given.json()["checkin_interval_s"] == 1800  # an interval given wins
    unknown = client.post("/api/sessions", headers=admin, json={**shift, "shift_type": "beach"})
    assert unknown.status_code == 422 and "home_working" in unknown.json()["detail"]


def test_a_missed_home_working_check_in_goes_to_the_line_manager_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path)
        rig = await Rig(tmp_path, clock, config).start()
        try:
            await rig.people()
            home = config.shift_types["home_working"]
            plan = rules.SessionPlan(
                kind=SessionKind.SHIFT,
                worker_id=ANN.id,
                device_id=DEVICE,
                started_ms=clock.wall_ms(),
                grace_s=config.sessions.grace,
                prealert_s=config.sessions.prealert,
                checkin_interval_s=home.checkin_interval_s,
            )
            session = rig.store.start_session(plan, "test").result()
            rig.store.set_shift_type(session.id, "home_working").result()
            rig.services.timers.arm(session)
            clock.advance(home.checkin_interval_s + config.sessions.grace + 1)
            await until(lambda: len(rig.store.alarms()) == 1)
            (alarm,) = rig.store.alarms()
            assert (alarm.kind, alarm.policy) == (AlarmKind.MISSED_CHECKIN, "home_working")
            await until(lambda: any(s.channel == "sms" for s in rig.sent))
            first = [s for s in rig.sent if s.channel == "sms"]
            assert {(s.role, s.name) for s in first} == {("line_manager", MGR.name)}
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_shift_type_naming_no_policy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        '[shift_types.home_working]\nlabel = "x"\ncheckin_interval = "3h"\npolicy = "x"\n'
    )
    with pytest.raises(ConfigError, match=r"shift_types\.home_working\.policy: no escalation"):
        load_config(path, env={})


def test_the_console_starts_a_home_working_shift_and_records_contact(
    store: SqlStore, clock: FakeClock
) -> None:
    create_user(store, "max", Role.MANAGER, PASSWORD, clock.wall_ms())
    add_worker(store)
    app = create_app(store, clock=clock, hooks=ApiHooks(), console=ConsoleSettings())
    with TestClient(app, follow_redirects=False) as console:
        log_in(console, "max")
        page = console.get("/console/shifts").text
        assert "Working from home (every 120 min)" in page
        data = {"csrf": form_csrf(page), "worker_id": "w1", "shift_type": "home_working"}
        assert console.post("/console/shifts", data=data).status_code == 303
        (shift,) = store.sessions()
        assert (shift.kind, shift.checkin_interval_s) == (SessionKind.SHIFT, 7200)
        assert store.shift_type_of(shift.id) == "home_working"
        assert rules.due_ms(shift) == clock.wall_ms() + 7_200_000
        clock.advance(5400)  # the line manager rings at 1.5 h
        csrf = form_csrf(console.get("/console/shifts").text)
        contact = console.post(f"/console/shifts/{shift.id}/contact", data={"csrf": csrf})
        assert contact.status_code == 303
        after = store.session(shift.id)
        assert after is not None and rules.due_ms(after) == clock.wall_ms() + 7_200_000
        assert any(e.action == "shift.contact" for e in store.audit())
        assert (
            console.post(f"/console/shifts/{shift.id}/end", data={"csrf": csrf}).status_code == 303
        )
        assert "No shifts under way" in console.get("/console/shifts").text
