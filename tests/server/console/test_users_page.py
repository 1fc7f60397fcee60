"""The admin's users page: add, disable, enable, set passwords; CSRF, roles, audit, live logins."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import PASSWORD, form_csrf, log_in, login_status
from tests.server.console.test_live_logins import NEVER_S, opened, stream_events

NEW_PASSWORD = "a brand new password"


@pytest.fixture
def admin(app_client: TestClient, users: None) -> Iterator[tuple[TestClient, str]]:
    log_in(app_client, "ada")
    yield app_client, form_csrf(app_client.get("/console/users").text)


def other_client(app_client: TestClient) -> TestClient:
    return TestClient(app_client.app, follow_redirects=False)


def test_only_an_admin_sees_or_changes_users(app_client: TestClient, users: None) -> None:
    assert app_client.get("/console/users").status_code == 303  # anonymous: to the login
    log_in(app_client, "max")
    assert app_client.get("/console/users").status_code == 403
    assert "/console/users" not in app_client.get("/console").text  # no link for a manager
    csrf = form_csrf(app_client.get("/console").text)
    assert app_client.post("/console/users/vic/disable", data={"csrf": csrf}).status_code == 403
    assert login_status(other_client(app_client), "vic", PASSWORD) == 303


def test_the_page_lists_users_without_password_hashes(
    admin: tuple[TestClient, str], store: SqliteStore
) -> None:
    client, _ = admin
    page = client.get("/console/users")
    assert page.status_code == 200
    for name in ("ada", "max", "vic"):
        assert f'data-user="{name}"' in page.text
    assert "argon2" not in page.text


def test_disabling_ends_the_users_logins_and_is_audited_with_who_did_it(
    admin: tuple[TestClient, str], store: SqliteStore
) -> None:
    client, csrf = admin
    victim = log_in(other_client(client), "max")
    assert victim.get("/console").status_code == 200
    assert client.post("/console/users/max/disable").status_code == 403  # no CSRF token
    assert victim.get("/console").status_code == 200
    response = client.post("/console/users/max/disable", data={"csrf": csrf})
    assert response.status_code == 303
    assert victim.get("/console").status_code == 303  # to the login page
    assert login_status(victim, "max", PASSWORD) == 401
    assert 'data-user="max"' in (page := client.get("/console/users").text)
    assert "disabled" in page
    assert client.post("/console/users/max/enable", data={"csrf": csrf}).status_code == 303
    assert login_status(victim, "max", PASSWORD) == 303
    entries = [(e.actor, e.action, e.subject) for e in store.audit(subject="user:max")]
    assert ("user:ada", "user.disable", "user:max") in entries
    assert ("user:ada", "user.enable", "user:max") in entries


def test_an_admin_cannot_disable_their_own_login(admin: tuple[TestClient, str]) -> None:
    client, csrf = admin
    response = client.post("/console/users/ada/disable", data={"csrf": csrf})
    assert response.status_code == 422 and "your own login" in response.text
    assert client.get("/console").status_code == 200


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [
        (NEW_PASSWORD, "something else entirely", "the two entries differ"),
        ("short", "short", "at least 10 characters"),
    ],
)
def test_a_bad_new_password_is_refused_and_changes_nothing(
    admin: tuple[TestClient, str], password: str, again: str, message: str
) -> None:
    client, csrf = admin
    data = {"csrf": csrf, "password": password, "again": again}
    response = client.post("/console/users/vic/password", data=data)
    assert response.status_code == 422 and message in response.text
    assert login_status(other_client(client), "vic", PASSWORD) == 303


def test_setting_a_password_ends_the_users_logins(
    admin: tuple[TestClient, str], store: SqliteStore
) -> None:
    client, csrf = admin
    victim = log_in(other_client(client), "vic")
    data = {"csrf": csrf, "password": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert client.post("/console/users/vic/password", data=data).status_code == 303
    assert victim.get("/console").status_code == 303
    assert login_status(victim, "vic", PASSWORD) == 401
    assert login_status(victim, "vic", NEW_PASSWORD) == 303
    entries = store.audit(subject="user:vic")
    assert [(e.actor, e.action) for e in entries if e.action == "user.passwd"] == [
        ("user:ada", "user.passwd")
    ]
    assert not any(NEW_PASSWORD in str(e.detail) for e in entries)


def test_an_admin_adds_a_user_who_can_log_in(
    admin: tuple[TestClient, str], store: SqliteStore
) -> None:
    client, csrf = admin
    data = {"csrf": csrf, "name": "nia", "role": "manager", "password": NEW_PASSWORD}
    mismatch = client.post("/console/users", data={**data, "again": "not the same one"})
    assert mismatch.status_code == 422
    assert client.post("/console/users", data={**data, "again": NEW_PASSWORD}).status_code == 303
    again = client.post("/console/users", data={**data, "again": NEW_PASSWORD})
    assert again.status_code == 422 and "exists already" in again.text
    assert login_status(other_client(client), "nia", NEW_PASSWORD) == 303
    made = [e for e in store.audit(subject="user:nia") if e.action == "user.create"]
    assert [(e.actor, e.detail) for e in made] == [("user:ada", {"role": "manager"})]


@pytest.mark.parametrize("keepalive_s", [NEVER_S])
def test_disabling_from_the_page_closes_the_users_open_stream_at_once(
    live_console: httpx.Client, users: None
) -> None:
    admin_client = log_in(live_console, "ada")
    csrf = form_csrf(admin_client.get("/console/users").text)
    with httpx.Client(base_url=live_console.base_url, timeout=10) as viewer:
        log_in(viewer, "vic")
        with viewer.stream("GET", "/console/stream") as stream:
            lines = opened(stream)
            response = admin_client.post("/console/users/vic/disable", data={"csrf": csrf})
            assert response.status_code == 303
            assert stream_events(lines) == ["logged_out"]
