"""Findings 6 and 9: anyone could lock every console account out, and choose their own address.

6 (Medium): 5 wrong passwords for a name, or 6 made-up names from one address (behind a local
reverse proxy every client is 127.0.0.1), refused the correct passwords of admin, manager and
viewer for 15 minutes. Now failures only slow the next tries of that name (and of that address)
down, on the hub's clock; a correct password is always let in. 9 (Low): ``X-Forwarded-For`` was
believed from loopback: invented addresses reached the audit log. Now only from the proxies
named in ``http.trusted_proxies``.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import PASSWORD, driving_the_clock, login_status


@pytest.mark.usefixtures("users")
def test_failures_for_a_name_never_refuse_its_correct_password(
    app_client: TestClient, clock: FakeClock
) -> None:
    for _ in range(8):
        assert driving_the_clock(clock, lambda: login_status(app_client, "ada", "wrong!")) == 401
    start = clock.monotonic()
    status = driving_the_clock(clock, lambda: login_status(app_client, "ada", PASSWORD))
    assert status == 303
    assert clock.monotonic() - start >= 1.0, "no delay after 8 failures for the name"


@pytest.mark.usefixtures("users")
def test_a_spray_of_made_up_names_from_one_address_locks_nobody_out(
    app_client: TestClient, clock: FakeClock
) -> None:
    def status(name: str, password: str) -> int:
        client = TestClient(app_client.app, follow_redirects=False)  # the same address
        return driving_the_clock(clock, lambda: login_status(client, name, password))

    assert [status(f"nobody{i}", "x") for i in range(12)] == [401] * 12
    assert [status(name, PASSWORD) for name in ("ada", "max", "vic")] == [303] * 3


@pytest.mark.usefixtures("users")
def test_forwarded_for_is_ignored_unless_from_a_named_proxy(
    live_console: httpx.Client, store: SqliteStore
) -> None:
    """Served by uvicorn as the hub serves (``hub.http_server_config``)."""
    forged = {"X-Forwarded-For": "203.0.113.77"}
    page = live_console.get("/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    live_console.post(
        "/login", data={"name": "vic", "password": "wrong", "csrf": csrf}, headers=forged
    )
    [failed] = [e for e in store.audit() if e.action == "login.failed"]
    assert failed.detail["ip"] == "127.0.0.1"
