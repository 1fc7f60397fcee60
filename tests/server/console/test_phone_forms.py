"""Phone numbers typed on the console: national formats kept in E.164, nonsense refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import form_csrf, log_in


def test_the_people_form_reads_national_numbers_and_names_the_field_it_refuses(
    app_client: TestClient, users: None, store: SqliteStore
) -> None:
    log_in(app_client, "ada")
    csrf = form_csrf(app_client.get("/console/people").text)
    bad = {"csrf": csrf, "name": "Lena Manager", "mobile": "07700 900555", "home_phone": "12"}
    refused = app_client.post("/console/people", data=bad)
    assert refused.status_code == 422
    assert "home_phone: is too short" in refused.text
    assert store.workers() == []
    good = {"csrf": csrf, "name": "Lena Manager", "mobile": "07700 900555"}
    assert app_client.post("/console/people", data=good).status_code == 303
    [lena] = store.workers()
    assert lena.mobile == "+447700900555"
