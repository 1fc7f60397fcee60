"""Accounts: logins, cookies, CSRF, roles, rate limits and the audit of who did what."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response

from loneguard.protocol.clock import FakeClock
from loneguard.server.store import Role
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import (
    PASSWORD,
    driving_the_clock,
    form_csrf,
    log_in,
    open_alarm,
)


def all_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)  # FastAPI's wrapper of an included router
        if inner is not None:
            yield from all_routes(inner.routes)


def console_pages(client: TestClient) -> list[str]:
    paths = []
    for route in all_routes(client.app.routes):  # type: ignore[attr-defined]
        path = route.path
        if "GET" in route.methods and path.startswith("/console") and "sound" not in path:
            paths.append(route.path.replace("{alarm_id}", "1").replace("{session_id}", "1"))
    return paths


def test_every_console_page_sends_an_anonymous_visitor_to_the_login(
    app_client: TestClient, users: None
) -> None:
    pages = console_pages(app_client)
    assert {"/console", "/console/board", "/console/alarms/1", "/console/visits"} <= set(pages)
    for path in pages:
        response = app_client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
        htmx = app_client.get(path, headers={"HX-Request": "true"})
        assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login", path


def test_a_forged_cookie_is_anonymous(app_client: TestClient, users: None) -> None:
    app_client.cookies.set("lg_console", "made-up")
    assert app_client.get("/console").status_code == 303


def test_login_sets_a_strict_httponly_cookie_that_expires(
    app_client: TestClient, users: None, store: SqliteStore
) -> None:
    response = try_login(app_client, "ada", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("lg_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # console.cookie_secure is off by default
    assert app_client.get("/console").status_code == 200
    (entry,) = [e for e in store.audit() if e.action == "login"]
    assert entry.actor == "user:ada"


def test_a_login_stops_working_when_it_expires(
    app_client: TestClient, users: None, clock: FakeClock
) -> None:
    log_in(app_client, "ada")
    clock.advance(12 * 3600 - 1)
    assert app_client.get("/console").status_code == 200
    clock.advance(2)
    assert app_client.get("/console").status_code == 303


def try_login(client: TestClient, name: str, password: str) -> Response:
    page = client.get("/login")
    return client.post(
        "/login", data={"name": name, "password": password, "csrf": form_csrf(page.text)}
    )


def test_wrong_password_is_refused_and_the_hash_is_argon2(
    app_client: TestClient, users: None, store: SqliteStore
) -> None:
    response = try_login(app_client, "ada", "not it at all")
    assert response.status_code == 401 and "Wrong name or password" in response.text
    assert "lg_console=" not in response.headers.get("set-cookie", "")
    # The store's reader becomes public with the schema change (console tables in the store).
    with store.read() as conn:
        (stored,) = conn.execute("SELECT password_hash FROM console_users WHERE name = 'ada'")
    assert stored[0].startswith("$argon2id$") and PASSWORD not in stored[0]


def test_the_login_form_needs_its_csrf_token(app_client: TestClient, users: None) -> None:
    app_client.get("/login")
    response = app_client.post("/login", data={"name": "ada", "password": PASSWORD})
    assert response.status_code == 403


def test_logins_are_slowed_down_per_user(
    app_client: TestClient, users: None, clock: FakeClock, store: SqliteStore
) -> None:
    def attempt(password: str) -> int:
        return driving_the_clock(clock, lambda: try_login(app_client, "ada", password).status_code)

    assert [attempt("wrong password!") for _ in range(6)] == [401] * 6
    delays = [e.detail.get("delayed_s") for e in store.audit() if e.action == "login.failed"]
    assert delays == [1.0, None, None, None, None, None]  # newest first: only the sixth waited
    assert attempt(PASSWORD) == 303  # the right password, after its wait


def test_a_post_without_the_csrf_token_fails(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    alarm_id = open_alarm(store, clock)
    log_in(app_client, "ada")
    assert app_client.post(f"/console/alarms/{alarm_id}/acknowledge").status_code == 403
    wrong = app_client.post(f"/console/alarms/{alarm_id}/acknowledge", data={"csrf": "nope"})
    assert wrong.status_code == 403
    assert app_client.post("/logout").status_code == 403
    assert store.alarm(alarm_id).state == "open"  # type: ignore[union-attr]


def test_a_viewer_cannot_acknowledge(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    alarm_id = open_alarm(store, clock)
    log_in(app_client, "vic")
    page = app_client.get(f"/console/alarms/{alarm_id}")
    assert page.status_code == 200 and 'id="acknowledge"' not in page.text
    csrf = form_csrf(page.text)
    response = app_client.post(f"/console/alarms/{alarm_id}/acknowledge", data={"csrf": csrf})
    assert response.status_code == 403
    assert store.alarm(alarm_id).state == "open"  # type: ignore[union-attr]


def test_acknowledge_by_htmx_header_records_who(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    alarm_id = open_alarm(store, clock)
    log_in(app_client, "max")
    csrf = form_csrf(app_client.get(f"/console/alarms/{alarm_id}").text)
    response = app_client.post(
        f"/console/alarms/{alarm_id}/acknowledge",
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert response.status_code == 204 and response.headers["hx-trigger"] == "lg-refresh"
    alarm = store.alarm(alarm_id)
    assert alarm is not None and (alarm.state, alarm.acknowledged_by) == ("acknowledged", "max")
    acks = [e for e in store.audit(subject=f"alarm:{alarm_id}") if e.action == "alarm.acknowledge"]
    assert [(e.actor, e.detail["by"]) for e in acks] == [("user:max", "max")]


@pytest.mark.parametrize(("outcome", "notes"), [("", "all fine"), ("worker safe", "  ")])
def test_resolve_needs_an_outcome_and_notes(
    app_client: TestClient,
    users: None,
    store: SqliteStore,
    clock: FakeClock,
    outcome: str,
    notes: str,
) -> None:
    alarm_id = open_alarm(store, clock)
    log_in(app_client, "ada")
    csrf = form_csrf(app_client.get(f"/console/alarms/{alarm_id}").text)
    data = {"csrf": csrf, "outcome": outcome, "notes": notes}
    response = app_client.post(f"/console/alarms/{alarm_id}/resolve", data=data)
    assert response.status_code == 422 and "both are required" in response.text
    assert store.alarm(alarm_id).state == "open"  # type: ignore[union-attr]


def test_logout_ends_the_login_for_good(
    app_client: TestClient, users: None, store: SqliteStore
) -> None:
    log_in(app_client, "ada")
    cookie = app_client.cookies.get("lg_console")
    csrf = form_csrf(app_client.get("/console").text)
    assert app_client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert app_client.get("/console").status_code == 303
    app_client.cookies.set("lg_console", cookie or "")  # a copied cookie is dead too
    assert app_client.get("/console").status_code == 303
    assert [e.actor for e in store.audit() if e.action == "logout"] == ["user:ada"]


def test_login_never_redirects_off_the_hub(app_client: TestClient, users: None) -> None:
    page = app_client.get("/login?next=//evil.example/")
    data = {"name": "ada", "password": PASSWORD, "csrf": form_csrf(page.text)}
    response = app_client.post("/login", data={**data, "next": "//evil.example/"})
    assert response.headers["location"] == "/console"


def test_the_cookie_is_secure_when_configured(store: SqliteStore, clock: FakeClock) -> None:
    from loneguard.server.api import create_app
    from loneguard.server.console.settings import ConsoleSettings
    from loneguard.server.console.users import create_user

    create_user(store, "ada", Role.ADMIN, PASSWORD, 0)
    app = create_app(store, clock=clock, console=ConsoleSettings(cookie_secure=True))
    with TestClient(app, base_url="https://hub.example", follow_redirects=False) as client:
        response = try_login(client, "ada", PASSWORD)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("lg_console="))
    assert "Secure" in cookie


def restarted(store: SqliteStore, clock: FakeClock) -> TestClient:
    """A new console on the same database, as after a hub restart."""
    from loneguard.server.api import create_app
    from loneguard.server.console.settings import ConsoleSettings

    app = create_app(store, clock=clock, console=ConsoleSettings())
    return TestClient(app, follow_redirects=False)


def test_a_restart_does_not_reset_the_failed_login_count(
    app_client: TestClient, users: None, clock: FakeClock, store: SqliteStore
) -> None:
    for _ in range(3):
        assert try_login(app_client, "ada", "wrong password!").status_code == 401
    clock.advance(60)
    with restarted(store, clock) as after_restart:
        for _ in range(2):  # the failures before the restart still count: 3 + 2 = 5
            assert try_login(after_restart, "ada", "wrong password!").status_code == 401
        start = clock.monotonic()
        status = driving_the_clock(
            clock, lambda: try_login(after_restart, "ada", PASSWORD).status_code
        )
        assert status == 303 and clock.monotonic() - start >= 1.0  # let in, after a wait


def test_a_good_login_before_the_restart_clears_the_count_after_it(
    app_client: TestClient, users: None, clock: FakeClock, store: SqliteStore
) -> None:
    for _ in range(4):
        assert try_login(app_client, "max", "wrong password!").status_code == 401
    assert try_login(app_client, "max", PASSWORD).status_code == 303
    with restarted(store, clock) as after_restart:
        for _ in range(4):  # 4 more would have made 8 without the good login between
            assert try_login(after_restart, "max", "wrong password!").status_code == 401
        assert try_login(after_restart, "max", PASSWORD).status_code == 303
