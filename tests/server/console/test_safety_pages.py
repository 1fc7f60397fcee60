"""Risk, incidents and the review on the console: what a viewer (a worker) may do and see."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import add_worker, form_csrf, log_in
from tests.server.console.test_pages import ADDRESS, PHONE, plan

REASON = "son away this week"


def test_a_viewer_reports_an_incident_and_sees_no_address_phone_or_risk_text(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    log_in(app_client, "max")
    high = {"approved_by": "Lena", "risk_rating": "high", "risk_override_reason": REASON}
    assert plan(app_client, **high)[0] == 303
    viewer = TestClient(app_client.app, follow_redirects=False)
    log_in(viewer, "vic")
    csrf = form_csrf(viewer.get("/console/incidents/new").text)
    report = {
        "csrf": csrf,
        "kind": "near_miss",
        "severity": "low",
        "what": "Dog off its lead at the gate",
        "address": ADDRESS,
        "contact_phone": PHONE,
        "worker_id": "w1",
    }
    made = viewer.post("/console/incidents", data=report)
    assert made.status_code == 303, made.text
    for path in (made.headers["location"], "/console/incidents", "/console/risk"):
        text = viewer.get(path).text
        assert ADDRESS not in text and PHONE not in text and REASON not in text, path
    assert ADDRESS in app_client.get(made.headers["location"]).text
    rows = list(csv.DictReader(io.StringIO(viewer.get("/console/visits.csv").text)))
    assert set(rows[0]) >= {"risk_rating", "risk_overridden"}
    assert rows[0]["risk_overridden"] == "yes" and "address" not in rows[0]
    assert REASON not in str(rows) and ADDRESS not in str(rows)
    (mine,) = csv.DictReader(io.StringIO(app_client.get("/console/visits.csv").text))
    assert (mine["address"], mine["risk_override_reason"]) == (ADDRESS, REASON)
    history = viewer.post("/console/visits/history", data={"csrf": csrf, "address": ADDRESS})
    assert history.status_code == 403
    investigate = {"csrf": csrf, "investigator": "vic"}
    path = made.headers["location"] + "/investigate"
    assert viewer.post(path, data=investigate).status_code == 403


def test_the_planner_keeps_the_form_and_the_history_when_refused(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    log_in(app_client, "max")
    code, text = plan(app_client, approved_by="Lena", risk_rating="")
    assert code == 422 and "risk_rating" in text
    code, text = plan(app_client, approved_by="Lena", risk_rating="high")
    assert code == 422 and "override_reason" in text and "history-none" in text
    assert store.sessions() == []


def test_the_review_page_for_a_quarter_and_a_refused_period(
    app_client: TestClient, users: None
) -> None:
    viewer = log_in(app_client, "vic")
    page = viewer.get("/console/review?period=2026-Q1")
    assert page.status_code == 200 and "policy review: 2026-Q1" in page.text
    assert 'href="/console/static/review.css"' in page.text and "cdn" not in page.text.lower()
    assert viewer.get("/console/review?period=Q1").status_code == 422
    assert viewer.get("/console/static/review.css").status_code == 200
