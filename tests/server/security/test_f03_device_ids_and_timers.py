"""Finding 3 (High): a visit with a malformed ``device_id`` ("van.7") silently lost its timer.

At the pre-alert the timer raised ``ProtocolError`` and was never re-armed; the overdue alarm
opened only after a restart. Device ids are now one bounded type at every entry point, and a
session's timer re-arms whatever one fire does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.api import create_app
from loneguard.server.sessions import rules
from loneguard.server.store import AlarmKind, Role, SessionKind, Worker
from loneguard.server.store.sqlite import SqlStore
from tests.server.rig import ANN, Rig, hub_config
from tests.server.runtime_fakes import until

M = 60.0


@pytest.fixture
def client(store: SqlStore, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(store, clock=clock)) as c:
        yield c


def admin(store: SqlStore) -> dict[str, str]:
    value = new_token()
    store.create_token("office", Role.ADMIN, hash_token(value), 1).result()
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize("bad", ["van.7", "-lead", "x" * 65, "hub/1"])
def test_the_api_refuses_a_malformed_device_id(
    client: TestClient, store: SqlStore, bad: str
) -> None:
    headers = admin(store)
    store.save_worker(Worker("w1", "Ann")).result()
    response = client.put(f"/api/devices/{bad}", headers=headers, json={"worker_id": "w1"})
    assert response.status_code in (404, 422), response.text
    assert store.device(bad) is None
    body = {"worker_id": "w1", "device_id": bad, "minutes": 30, "accompanied": True}
    response = client.post("/api/sessions", headers=headers, json=body)
    assert response.status_code == 422 and "device_id" in response.text
    assert store.sessions() == []


def test_a_visit_whose_prealert_fails_still_falls_due_on_time(tmp_path: Path) -> None:
    """A session already in the store with an id no topic can carry (from before the check):
    the pre-alert cannot be sent, and the overdue alarm still opens at end plus grace."""

    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            start = clock.monotonic()
            now = clock.wall_ms()
            plan = rules.SessionPlan(
                kind=SessionKind.VISIT,
                worker_id=ANN.id,
                device_id="van.7",
                started_ms=now,
                grace_s=rig.config.sessions.grace,
                prealert_s=rig.config.sessions.prealert,
                expected_end_ms=now + 30 * 60_000,
                accompanied=True,
            )
            session = rig.store.start_session(plan, "test").result()
            rig.services.timers.arm(session)
            due = 30 * M + rig.config.sessions.grace
            for offset in (30 * M - rig.config.sessions.prealert, 30 * M, due):
                clock.advance(start + offset + 1 - clock.monotonic())
                await asyncio.sleep(0.05)
            await until(lambda: len(rig.store.alarms()) == 1)
            (alarm,) = rig.store.alarms()
            assert (alarm.kind, alarm.session_id) == (AlarmKind.OVERDUE, session.id)
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_deadline_the_store_failed_to_apply_is_tried_again(tmp_path: Path) -> None:
    """Whatever one fire does, the timer is re-armed: a store error at the deadline is retried
    ``RETRY_MS`` later on the hub's clock, not forgotten until a restart."""
    from concurrent.futures import Future

    from loneguard.server.sessions.timers import RETRY_MS

    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            start = clock.monotonic()
            session = await rig.visit(30, prealert_s=0)
            real = rig.store.reach_session_deadline
            failures: list[int] = []

            def failing_once(*args: object) -> Future[object]:
                if not failures:
                    failures.append(1)
                    broken: Future[object] = Future()
                    broken.set_exception(OSError("disk I/O error"))
                    return broken
                return real(*args)  # type: ignore[arg-type]

            rig.store.reach_session_deadline = failing_once  # type: ignore[method-assign]
            due = 30 * M + rig.config.sessions.grace
            clock.advance(start + due + 1 - clock.monotonic())
            await until(lambda: failures == [1])
            await asyncio.sleep(0.05)
            assert rig.store.alarms() == []
            clock.advance(RETRY_MS / 1000)
            await until(lambda: len(rig.store.alarms()) == 1)
            assert rig.store.alarms()[0].session_id == session.id
        finally:
            await rig.stop()

    asyncio.run(scenario())
