"""Findings 2 and 12: out-of-range times and ids were taken in, then broke pages for everyone.

``expected_end_ms`` 300000000000000 (the year 11476) made ``/console`` and ``/console/board``
answer 500; ≥ 2^63 overflowed SQLite; 2^63-1 was a visit that never fell due. Console routes
answered 500 to ids past 64 bits and to the visit form's ``end=9999-12-31T23:59``. Every id,
time and duration now has one bounded type (``server/bounds.py``).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.store import Role, Worker
from loneguard.server.store.sqlite import SqlStore
from tests.server.console.conftest import form_csrf, log_in

HUGE_ENDS = [300_000_000_000_000, 2**63 - 1, 2**63, 10**30, -1]


def manager_token(store: SqlStore) -> dict[str, str]:
    value = new_token()
    store.create_token("office", Role.MANAGER, hash_token(value), 1).result()
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("end", HUGE_ENDS)
def test_a_visit_end_out_of_range_is_refused_and_the_console_stays_up(
    app_client: TestClient, store: SqlStore, end: int
) -> None:
    store.save_worker(Worker("w1", "Ann")).result()
    body = {"worker_id": "w1", "expected_end_ms": end, "accompanied": True}
    response = app_client.post("/api/sessions", headers=manager_token(store), json=body)
    assert response.status_code == 422, response.text
    assert "expected_end_ms" in response.text
    log_in(app_client, "vic")
    for path in ("/console", "/console/board", "/console/visits"):
        assert app_client.get(path).status_code == 200, path


def test_a_visit_must_fall_due_within_a_year(
    app_client: TestClient, store: SqlStore, clock: FakeClock
) -> None:
    store.save_worker(Worker("w1", "Ann")).result()
    too_late = clock.wall_ms() + 367 * 24 * 3_600_000
    body = {"worker_id": "w1", "expected_end_ms": too_late, "accompanied": True}
    response = app_client.post("/api/sessions", headers=manager_token(store), json=body)
    assert response.status_code == 422 and "expected_end_ms" in response.text


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize(
    "path",
    [
        "/console/alarms/99999999999999999999",
        "/console/visits/99999999999999999999/record",
        "/console/alarms/-1",
    ],
)
def test_out_of_range_ids_on_console_pages_are_not_found_not_errors(
    app_client: TestClient, path: str
) -> None:
    log_in(app_client, "max")
    assert app_client.get(path).status_code in (404, 422)


@pytest.mark.usefixtures("users")
def test_out_of_range_ids_on_console_actions_are_refused(app_client: TestClient) -> None:
    page = log_in(app_client, "max").get("/console/visits")
    csrf = form_csrf(page.text)
    for path in (
        "/console/visits/99999999999999999999/end",
        "/console/alarms/99999999999999999999/acknowledge",
    ):
        assert app_client.post(path, data={"csrf": csrf}).status_code in (404, 422), path


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("end", ["9999-12-31T23:59", "0001-01-01T00:00"])
def test_the_visit_form_refuses_a_date_out_of_range(
    app_client: TestClient, store: SqlStore, end: str
) -> None:
    store.save_worker(Worker("w1", "Ann")).result()
    page = log_in(app_client, "max").get("/console/visits")
    form = {
        "csrf": form_csrf(page.text),
        "worker_id": "w1",
        "address": "1 Road",
        "end": end,
        "tz_offset_min": "-60",
        "accompanied": "on",
    }
    response = app_client.post("/console/visits", data=form)
    assert response.status_code == 422
    assert "end" in response.text
