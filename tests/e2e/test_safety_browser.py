"""Risk assessments, incidents and the policy review in a real Chromium against a real hub.

Planning a visit to an address with an earlier incident shows it; a high rating is refused
unaccompanied without the line manager's override, and the override's reason is kept in the
visit's record and the CSV. An incident reported from an alarm's resolution goes through
investigation to closed, and the line manager's notice arrives by apprise (``json://`` to a
receiver here). The review of a seeded quarter shows the database's counts, and prints
(``review-print.png`` in ``$LONEGUARD_ARTIFACTS``).
"""

from __future__ import annotations

import csv
import io
import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from loneguard.device.firmware import DeviceApp
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.server.hub import HubThread
from loneguard.server.incidents import lifecycle
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.sessions.rules import SessionPlan
from loneguard.server.store import AlarmKind, AlarmState, SessionKind, Worker
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentKind,
    IncidentSeverity,
    RiskRating,
)
from loneguard.server.store.sqlite import SqliteStore
from tests.e2e.apprise_receiver import AppriseReceiver
from tests.e2e.chromium import artifacts, log_in, needs_chromium, screenshot
from tests.e2e.conftest import wait_until
from tests.e2e.test_console_browser import press_panic, staff
from tests.server.store.test_safety_rows import assessment, incident

pytestmark = needs_chromium

LENA = "Lena Manager"


def earlier_incident(store: SqliteStore, address: str) -> Incident:
    threat = incident(
        occurred_ms=1_760_000_000_000,
        what="Uncle threatened the tutor by phone",
        address=address,
        worker_id="w-wendy",
        contact_name=None,
        contact_phone=None,
    )
    return store.report_incident(threat, "test").result(timeout=5)


def test_planning_shows_earlier_incidents_and_a_high_risk_needs_an_override(
    page: Page,
    hub: HubThread,
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    staff(store)
    earlier = earlier_incident(store, "12a High St., AB1 2CD")
    log_in(page, hub)
    page.click("nav a:text('Visits')")
    expect(page.locator("#history-none")).to_be_visible()
    page.select_option("select[name=worker_id]", "w-wendy")
    page.fill("input[name=address]", "12A High Street, ab12cd")  # the same place, typed anew
    page.locator("input[name=address]").dispatch_event("change")
    history = page.locator("#history-found")
    expect(history).to_contain_text(f"Incident #{earlier.id}")
    expect(history).to_contain_text("Uncle threatened the tutor by phone")

    end = (datetime.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("input[name=end]", end)
    page.fill("input[name=approved_by]", LENA)
    page.fill("textarea[name=risk_history]", "Threat by phone from the uncle last autumn")
    page.select_option("select[name=risk_rating]", "high")
    page.fill("textarea[name=risk_measures]", "Meet mother only; call the office at the door")
    page.click("#plan")  # high, unaccompanied, no override: refused
    expect(page.locator(".error")).to_contain_text("override_reason")
    expect(page.locator("#history-found")).to_contain_text(f"Incident #{earlier.id}")
    screenshot(page, "planner-history-refused.png")
    assert store.sessions() == []

    reason = "Uncle moved away in March; mother asked for this visit"
    page.fill("textarea[name=risk_override_reason]", reason)
    page.click("#plan")
    expect(page).to_have_url(f"{hub.http_url}/console")
    (visit,) = store.sessions()
    kept = store.risk_assessment(visit.id)
    assert kept is not None
    assert (kept.rating, kept.override_by, kept.override_reason) == ("high", LENA, reason)

    page.goto(f"{hub.http_url}/console/visits/{visit.id}/record")
    expect(page.locator("#risk-rating")).to_have_text("high")
    expect(page.locator("#risk-override")).to_contain_text(f"{LENA}: {reason}")

    page.click("nav a:text('Visits')")
    with page.expect_download() as download:
        page.click("a[href='/console/visits.csv']")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["visit"], r["risk_rating"], r["risk_override_reason"]) for r in rows] == [
        (str(visit.id), "high", reason)
    ]
    assert rows[0]["risk_override_by"] == LENA


def test_an_incident_from_an_alarm_is_investigated_and_closed_and_the_line_manager_told(
    page: Page,
    hub: HubThread,
    device: DeviceApp,
    device_clock: FakeClock,
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    with AppriseReceiver() as receiver:
        store.save_worker(Worker("w-lena", LENA, apprise_urls=(receiver.url,))).result(5)
        staff(store, device.config.device.id)
        wendy = store.worker("w-wendy")
        assert wendy is not None
        store.save_worker(Worker(**{**wendy.__dict__, "line_manager": "w-lena"})).result(5)
        log_in(page, hub)
        press_panic(device, device_clock)
        wait_until(lambda: store.alarms(AlarmState.OPEN))
        (alarm,) = store.alarms(AlarmState.OPEN)
        before = len(receiver.bodies)  # the panic ladder may tell her too

        page.goto(f"{hub.http_url}/console/alarms/{alarm.id}")
        page.select_option("select[name=outcome]", "help sent")
        page.fill("textarea[name=notes]", "Wendy was cornered by a dog; neighbour helped.")
        page.click("#resolve")
        expect(page.locator("#alarm-state")).to_have_text("resolved")
        page.click("#report-from-alarm")
        expect(page.locator("select[name=kind]")).to_have_value("alarm")
        expect(page.locator("select[name=severity]")).to_have_value("high")
        expect(page.locator("textarea[name=what]")).to_contain_text("help sent")
        page.fill("input[name=people]", "a neighbour")
        page.click("#report")
        expect(page.locator("#incident-status")).to_have_text("reported")
        (incident,) = store.incidents()
        assert (incident.alarm_id, incident.worker_id) == (alarm.id, "w-wendy")

        wait_until(lambda: any("incident" in b.get("title", "") for b in receiver.bodies))
        (notice,) = [b for b in receiver.bodies[before:] if "incident" in b.get("title", "")]
        assert notice["title"] == f"loneguard incident {incident.id}"
        assert f"Incident #{incident.id} reported: alarm, high severity." in notice["message"]
        assert "Worker: Wendy Walker." in notice["message"]
        assert "cornered by a dog" in notice["message"]

        page.fill("input[name=investigator]", LENA)
        page.click("#investigate")
        expect(page.locator("#incident-status")).to_have_text("investigating")
        expect(page.locator("#incident-investigator")).to_have_text(LENA)
        page.fill("#add-action input[name=what]", "Tell the dog warden")
        page.fill("#add-action input[name=owner]", "ada")
        due = (datetime.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
        page.fill("#add-action input[name=due]", due)
        page.click("#add-action-button")
        expect(page.locator("#incident-actions")).to_contain_text("Tell the dog warden")
        page.fill("textarea[name=findings]", "Loose dog at the address; owner warned.")
        page.click("#close-incident")
        expect(page.locator("#incident-status")).to_have_text("closed")
        expect(page.locator("#incident-findings")).to_have_text(
            "Loose dog at the address; owner warned."
        )
        timeline = page.locator("#incident-timeline")
        expect(timeline).to_contain_text("incident.notify")
        expect(timeline).to_contain_text("ok: True")
        screenshot(page, "incident-closed.png")
        closed = store.incident(incident.id)
        assert closed is not None and (closed.status, closed.closed_by) == ("closed", "ada")
        page.goto(f"{hub.http_url}/console/alarms/{alarm.id}")
        expect(page.locator("#alarm-incident")).to_contain_text(f"Incident #{incident.id}")


Q2_START = 1_775_001_600_000  # 2026-04-01 00:00 UTC
Q3_START = 1_782_864_000_000  # 2026-07-01 00:00 UTC
MINUTE = 60_000


def seed_quarter(store: SqliteStore) -> None:
    """Alarms, late visits, incidents, actions and assessments in 2026-Q2, and some outside it."""
    store.save_worker(Worker("w-wendy", "Wendy Walker")).result(5)

    def alarm(kind: EventKind, at: int, ack_after_s: int | None) -> None:
        event = Event(str(uuid.uuid4()), kind, at, seq=1)
        outcome = store.record_event("unit-01", event, at, effects_of(kind)).result(5)
        if ack_after_s is not None:
            alarm_id = outcome.alarms[0].id
            store.acknowledge_alarm(alarm_id, "ada", at + ack_after_s * 1000, "t").result(5)

    for i, wait in enumerate([10, 20, 30, 45, 60, 90, 600, None, None]):
        alarm(EventKind.PANIC if i % 3 else EventKind.DURESS, Q2_START + i * 86_400_000, wait)
    alarm(EventKind.PANIC, Q2_START - MINUTE, 5)  # in Q1
    alarm(EventKind.PANIC, Q3_START + MINUTE, 5)  # in Q3
    for n in range(3):
        plan = SessionPlan(
            SessionKind.VISIT, "w-wendy", None, Q2_START, 60, 0, Q2_START + MINUTE,
            address=f"{n} Example Road", accompanied=True,
        )  # fmt: skip
        session = store.start_session(plan, "t").result(5)
        at = Q2_START + (n + 1) * 3_600_000
        store.open_session_alarm(session.id, AlarmKind.OVERDUE, "overdue", at).result(5)
        if n == 0:  # the same visit late twice counts once
            store.write(
                lambda c, s=session.id: c.execute(
                    "UPDATE alarms SET state = 'resolved' WHERE session_id = ?", (s,)
                )
            ).result(5)
            store.open_session_alarm(session.id, AlarmKind.OVERDUE, "overdue", at + 1).result(5)
    severities = ["low", "high", "high", "medium", "low"]
    for n, severity in enumerate(severities):
        made = store.report_incident(
            incident(
                kind=IncidentKind.NEAR_MISS,
                severity=IncidentSeverity(severity),
                occurred_ms=Q2_START + n * 7 * 86_400_000,
                what=f"near miss {n}",
                worker_id="w-wendy",
            ),
            "t",
        ).result(5)
        due = Q2_START + (n + 2) * 86_400_000
        action = IncidentAction(0, made.id, f"follow up {n}", "ada", due)
        added = store.add_incident_action(action, Q2_START, "t").result(5)
        if n == 0:  # done before its due date: not overdue
            store.complete_incident_action(added.id, Q2_START, "ada", "t").result(5)
        if n == 1:
            store.change_incident(
                made.id, lambda i: lifecycle.investigate(i, LENA), Q2_START, "t", "x"
            ).result(5)
    after = incident(occurred_ms=Q3_START + MINUTE, what="after the quarter", worker_id=None)
    store.report_incident(after, "t").result(5)
    for n, (rating, reason) in enumerate(
        [("high", "manager agreed"), ("high", None), ("medium", None), ("high", None)]
    ):
        at = Q2_START + n * MINUTE if n < 3 else Q3_START + MINUTE
        made_assessment = assessment(
            pattern=f"pattern {n}",
            worker_id=None,
            rating=RiskRating(rating),
            override_by=LENA if reason else None,
            override_reason=reason,
            assessed_ms=at,
        )
        store.save_risk_assessment(made_assessment, "t").result(5)


def nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * p // 100)) - 1]


def test_the_review_of_a_seeded_quarter_shows_the_databases_counts_and_prints(
    page: Page,
    hub: HubThread,
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    seed_quarter(store)
    staff(store)
    log_in(page, hub)
    page.goto(f"{hub.http_url}/console/review?period=2026-Q2")
    review = page.locator("#review")
    expect(review.locator("h1")).to_have_text("Lone working policy review: 2026-Q2")

    with sqlite3.connect(hub.hub.config.db.url.path) as db:
        quarter = (Q2_START, Q3_START)
        kinds = dict(
            db.execute(
                "SELECT kind, count(*) FROM alarms WHERE opened_ms >= ? AND opened_ms < ?"
                " GROUP BY kind",
                quarter,
            ).fetchall()
        )
        waits = [
            (r[0] - r[1]) / 1000
            for r in db.execute(
                "SELECT acknowledged_ms, opened_ms FROM alarms WHERE opened_ms >= ?"
                " AND opened_ms < ? AND acknowledged_ms IS NOT NULL",
                quarter,
            )
        ]
        (never,) = db.execute(
            "SELECT count(*) FROM alarms WHERE opened_ms >= ? AND opened_ms < ?"
            " AND acknowledged_ms IS NULL",
            quarter,
        ).fetchone()
        (late,) = db.execute(
            "SELECT count(DISTINCT session_id) FROM alarms WHERE opened_ms >= ?"
            " AND opened_ms < ? AND kind IN ('overdue', 'missed_checkin')",
            quarter,
        ).fetchone()
        severities = dict(
            db.execute(
                "SELECT severity, count(*) FROM incidents WHERE occurred_ms >= ?"
                " AND occurred_ms < ? GROUP BY severity",
                quarter,
            ).fetchall()
        )
        statuses = dict(
            db.execute(
                "SELECT status, count(*) FROM incidents WHERE occurred_ms >= ?"
                " AND occurred_ms < ? GROUP BY status",
                quarter,
            ).fetchall()
        )
        (overdue,) = db.execute(
            "SELECT count(*) FROM incident_actions WHERE due_ms < ?"
            " AND (done_ms IS NULL OR done_ms > ?)",
            (Q3_START, Q3_START),
        ).fetchone()
        (high,) = db.execute(
            "SELECT count(*) FROM risk_assessments WHERE rating = 'high'"
            " AND assessed_ms >= ? AND assessed_ms < ?",
            quarter,
        ).fetchone()
    assert kinds == {"panic": 6, "duress": 3, "overdue": 4}  # the seed, as stored
    for kind in ("panic", "duress", "overdue", "missed_checkin", "device_offline"):
        row = review.locator(f"tr[data-kind={kind}] td").nth(1)
        expect(row).to_have_text(str(kinds.get(kind, 0)))
    expect(review.locator("tr[data-kind=all] th").nth(1)).to_have_text(str(sum(kinds.values())))
    response = review.locator("#review-response")
    expect(response.locator("tr[data-measure=acknowledged] td").nth(1)).to_have_text(
        str(len(waits))
    )
    expect(response.locator("tr[data-measure=p50] td").nth(1)).to_have_text(
        f"{nearest_rank(waits, 50):.0f} s"
    )
    expect(response.locator("tr[data-measure=p95] td").nth(1)).to_have_text(
        f"{nearest_rank(waits, 95):.0f} s"
    )
    expect(response.locator("tr[data-measure=unacknowledged] td").nth(1)).to_have_text(str(never))
    expect(review.locator("[data-count=late]")).to_have_text(str(late))
    for severity in ("low", "medium", "high"):
        expect(review.locator(f"tr[data-severity={severity}] td").nth(1)).to_have_text(
            str(severities.get(severity, 0))
        )
    for status in ("reported", "investigating", "closed"):
        expect(review.locator(f"tr[data-status={status}] td").nth(1)).to_have_text(
            str(statuses.get(status, 0))
        )
    expect(review.locator("[data-count=overdue-actions]")).to_have_text(str(overdue))
    expect(review.locator("[data-count=high-assessments]")).to_have_text(str(high))
    expect(review.locator("[data-count=overrides]")).to_have_text("1")
    expect(review.locator("#signal-none")).to_have_text("None recorded.")
    assert (late, never, overdue, high) == (3, 6, 4, 2)  # what the seed meant

    page.emulate_media(media="print")
    expect(page.locator("header.bar")).to_be_hidden()
    expect(page.locator("#review .noprint").first).to_be_hidden()
    screenshot(page, "review-print.png")
    folder = artifacts()
    pdf = page.pdf(path=str(folder / "review-print.pdf") if folder else None, format="A4")
    assert pdf.startswith(b"%PDF")
