"""A login that ends also ends its open live stream, over real HTTP (uvicorn on a socket)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.server.console.users import change_password, set_disabled
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import form_csrf, log_in

NEVER_S = 600.0  # a keep-alive that never comes during the test: only an active close counts


def stream_events(lines: Iterator[str]) -> list[str]:
    """The event names the stream sent until it closed (it must close by itself)."""
    return [line[len("event: ") :] for line in lines if line.startswith("event: ")]


def opened(stream: httpx.Response) -> Iterator[str]:
    """The stream's lines, after its first (the reconnect delay)."""
    assert stream.status_code == 200
    lines = stream.iter_lines()
    assert next(lines) == "retry: 1000"
    return lines


def assert_sent_to_login(client: httpx.Client) -> None:
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.parametrize("keepalive_s", [NEVER_S])
def test_logging_out_closes_the_open_stream_at_once(
    live_console: httpx.Client, users: None
) -> None:
    client = log_in(live_console, "ada")
    csrf = form_csrf(client.get("/console").text)
    with client.stream("GET", "/console/stream") as stream:
        lines = opened(stream)
        assert client.post("/logout", data={"csrf": csrf}).status_code == 303
        assert stream_events(lines) == ["logged_out"]
    assert_sent_to_login(client)


def test_an_expired_login_closes_its_stream_at_the_next_keepalive(
    live_console: httpx.Client, users: None, clock: FakeClock
) -> None:
    client = log_in(live_console, "max")
    with client.stream("GET", "/console/stream") as stream:
        lines = opened(stream)
        clock.advance(12 * 3600 + 1)  # console.session_hours is 12
        assert stream_events(lines) == ["logged_out"]
    assert_sent_to_login(client)


@pytest.mark.parametrize("change", ["disable", "passwd"])
def test_disabling_or_a_new_password_elsewhere_closes_the_stream(
    live_console: httpx.Client, users: None, store: SqliteStore, clock: FakeClock, change: str
) -> None:
    client = log_in(live_console, "vic")
    with client.stream("GET", "/console/stream") as stream:
        lines = opened(stream)
        # What ``loneguard-hub user disable|passwd`` does, from outside the hub's process.
        if change == "disable":
            set_disabled(store, "vic", True, clock.wall_ms(), "cli")
        else:
            change_password(store, "vic", "another long password", clock.wall_ms(), "cli")
        assert stream_events(lines) == ["logged_out"]
    assert_sent_to_login(client)


def test_a_live_login_keeps_its_stream(live_console: httpx.Client, users: None) -> None:
    client = log_in(live_console, "ada")
    with client.stream("GET", "/console/stream") as stream:
        lines = opened(stream)
        keepalives = 0
        for line in lines:  # several keep-alives pass, each checking the login: it stays
            keepalives += line == ": keep-alive"
            if keepalives == 3:
                break
    assert client.get("/console", follow_redirects=False).status_code == 200
