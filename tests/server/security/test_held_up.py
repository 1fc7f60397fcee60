"""What held up in the review stays held: anonymous requests are refused on every route, form
posts without the CSRF token are refused, SQL and path payloads find nothing, CSV cells stay
inert. (Viewers' contact data: ``test_f01_viewer_personal_data.py`` for the API and
``test_console_in_a_browser.py`` for every console page.)
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.store import Worker
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import driving_the_clock, form_csrf, log_in, login_status
from tests.server.console.test_accounts import all_routes

# Routes anyone may call: the health check, the public metrics, logging in, static files.
PUBLIC = {"/api/health", "/metrics", "/login", "/", "/console/sound/alarm.wav"}
# Routes whose URL is their key (a calendar feed's secret): a wrong one is not found.
BY_SECRET = {"/calendar/1.ics"}


def routes(client: TestClient) -> list[tuple[str, str]]:
    found = []
    for route in all_routes(client.app.routes):  # type: ignore[attr-defined]
        assert isinstance(route, APIRoute)
        path = re.sub(r"\{[a-z_]+\}", "1", route.path)
        found.extend((method, path) for method in sorted(route.methods) if method != "HEAD")
    return found


def test_every_route_refuses_an_anonymous_request(app_client: TestClient) -> None:
    checked = 0
    for method, path in routes(app_client):
        if path in PUBLIC:
            continue
        response = app_client.request(method, path, json={}, data=None)
        if path in BY_SECRET:
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
            continue
        assert response.status_code in (303, 401, 403), f"{method} {path}: {response.status_code}"
        checked += 1
    assert checked > 30


@pytest.mark.usefixtures("users")
def test_every_console_form_refuses_a_post_without_its_csrf_token(app_client: TestClient) -> None:
    log_in(app_client, "ada")
    posts = [p for m, p in routes(app_client) if m == "POST" and p not in PUBLIC]
    assert len(posts) > 8
    for path in posts:
        if path.startswith("/api/"):
            continue  # the API takes bearer tokens, never cookies: no CSRF to forge
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            response = app_client.post(path, data={"csrf": "forged"}, headers=headers)
            assert response.status_code == 403, f"POST {path}: {response.status_code}"


SQL = ["' OR '1'='1", "1; DROP TABLE workers; --", '" OR 1=1 --', "%' OR 1=1 --", "w1' --"]


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("payload", SQL)
def test_sql_payloads_find_nothing_and_change_nothing(
    app_client: TestClient, store: SqliteStore, payload: str
) -> None:
    store.save_worker(Worker("w1", "Ann", mobile="+447700900123")).result()
    assert login_status(app_client, payload, payload) == 401
    assert login_status(app_client, "ada' --", "x") == 401
    log_in(app_client, "ada")
    for path in ("/console/events", "/console/events.csv"):
        response = app_client.get(path, params={"q": payload})
        assert response.status_code == 200
    assert app_client.get("/console/alarms/1", params={"x": payload}).status_code == 404
    assert [w.id for w in store.workers()] == ["w1"]
    assert store.console_user("ada") is not None


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize(
    "path",
    [
        "/console/static/../routes.py",
        "/console/static/%2e%2e/routes.py",
        "/console/static/..%2froutes.py",
        "/console/static/%2e%2e%2f%2e%2e%2fconfig.py",
        "/console/static//etc/passwd",
        "/console/static/..%5croutes.py",
    ],
)
def test_no_path_leaves_the_static_folder(app_client: TestClient, path: str) -> None:
    log_in(app_client, "ada")
    response = app_client.get(path)
    assert response.status_code in (404, 303), path
    assert "import" not in response.text and "root:" not in response.text


FORMULAS = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"]


@pytest.mark.usefixtures("users")
def test_csv_cells_never_start_a_formula(app_client: TestClient, clock: FakeClock) -> None:
    for name in FORMULAS:
        assert login_status(app_client, name, "wrong") == 401
    driving_the_clock(clock, lambda: log_in(app_client, "ada"))  # 5 failures: slowed down
    page = app_client.get("/console/events")
    assert form_csrf(page.text)
    rows = list(csv.reader(io.StringIO(app_client.get("/console/events.csv").text)))
    cells = [cell for row in rows[1:] for cell in row]
    assert any("HYPERLINK" in cell for cell in cells)
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
