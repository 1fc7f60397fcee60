"""Console errors are pages in the console's layout, never raw JSON; the API keeps JSON."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.server.console.conftest import form_csrf, log_in


def test_a_viewer_opening_users_gets_a_page_in_the_layout_not_json(
    app_client: TestClient, users: None
) -> None:
    log_in(app_client, "vic")
    response = app_client.get("/console/users")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<header class="bar">' in page and "Not allowed" in page
    assert "The viewer role may not do this." in page and '{"detail"' not in page


def test_a_missing_alarm_and_a_bad_field_are_pages_and_the_api_stays_json(
    app_client: TestClient, users: None
) -> None:
    log_in(app_client, "ada")
    missing = app_client.get("/console/alarms/999")
    assert missing.status_code == 404 and "No alarm 999." in missing.text
    csrf = form_csrf(app_client.get("/console").text)
    bad = app_client.post("/console/alarms/1/resolve", data={"csrf": csrf, "outcome": "x" * 500})
    assert bad.status_code == 422 and "outcome" in bad.text and "<header" in bad.text
    api = app_client.get("/api/alarms/999")
    assert api.headers["content-type"].startswith("application/json")
