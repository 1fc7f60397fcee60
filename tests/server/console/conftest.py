"""Console fixtures: the hub's app on a real store (SQLite, PostgreSQL), users, a client."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.hub import bind, http_server_config
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.store import Role, Worker
from loneguard.server.store.sqlite import SqliteStore

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

C = TypeVar("C", bound=httpx.Client)  # a TestClient, or a client of a real hub
T = TypeVar("T")


@pytest.fixture
def app_client(store: SqliteStore, clock: FakeClock) -> Iterator[TestClient]:
    hooks = ApiHooks(broadcaster=Broadcaster())
    app = create_app(store, clock=clock, hooks=hooks, console=ConsoleSettings())
    with TestClient(app, follow_redirects=False) as c:
        yield c


KEEPALIVE_S = 0.2  # live streams check their login at each keep-alive


@pytest.fixture
def keepalive_s() -> float:
    return KEEPALIVE_S  # a test parametrizes ``keepalive_s`` to change it


@pytest.fixture
def live_console(
    store: SqliteStore, clock: FakeClock, keepalive_s: float
) -> Iterator[httpx.Client]:
    """The app served by a real uvicorn over a socket, so live streams stream; a client of it."""
    hooks = ApiHooks(broadcaster=Broadcaster(keepalive=keepalive_s))
    app = create_app(store, clock=clock, hooks=hooks, console=ConsoleSettings())
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(http_server_config(app))  # served as the hub serves it
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(500):  # uvicorn has no event for "listening"
                if server.started:
                    break
                threading.Event().wait(0.01)
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def users(store: SqliteStore, clock: FakeClock) -> None:
    for name, role in (("ada", Role.ADMIN), ("max", Role.MANAGER), ("vic", Role.VIEWER)):
        create_user(store, name, role, PASSWORD, clock.wall_ms())


def form_csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


def log_in(client: C, name: str, password: str = PASSWORD) -> C:
    page = client.get("/login")
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf": form_csrf(page.text)}
    )
    assert response.status_code == 303, response.text
    return client


def login_status(client: httpx.Client, name: str, password: str) -> int:
    """Try to log in: 303 (in), 401 (refused) or 429 (too many failures)."""
    page = client.get("/login")
    data = {"name": name, "password": password, "csrf": form_csrf(page.text)}
    return client.post("/login", data=data).status_code


def open_alarm(
    store: SqliteStore, clock: FakeClock, kind: EventKind = EventKind.PANIC, device: str = "d1"
) -> int:
    event = Event(str(uuid.uuid4()), kind, clock.wall_ms(), seq=1)
    outcome = store.record_event(device, event, clock.wall_ms(), effects_of(event.kind))
    return outcome.result().alarms[0].id


def add_worker(store: SqliteStore, worker_id: str = "w1", device: str = "d1") -> None:
    store.save_worker(Worker(worker_id, "Wendy Worker", mobile="+447700900001")).result()
    store.assign_device(device, worker_id).result()


def driving_the_clock(clock: FakeClock, call: Callable[[], T], budget_s: float = 120.0) -> T:
    """Run ``call`` on a thread; whenever it waits on the clock, move the clock on a second."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed to the test below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    moved = 0.0
    while thread.is_alive():
        if clock.pending() and moved < budget_s:
            clock.advance(1.0)
            moved += 1.0
        thread.join(0.005)
    if errors:
        raise errors[0]
    return result[0]
