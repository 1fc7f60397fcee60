"""The visit planner's outreach in a real Chromium against a real hub and broker: the signal
black spot note while typing an address, the delivery manager's copy of a plan, a change and a
cancel (apprise ``json://`` to a local receiver), and a calendar feed made, copied, read with
``icalendar`` and revoked. Screenshots go to ``$LONEGUARD_ARTIFACTS``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar
from playwright.sync_api import Page, expect

from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.sessions import rules
from loneguard.server.store import SessionKind, SessionState
from loneguard.server.store.sqlite import SqliteStore
from tests.e2e.chromium import log_in, needs_chromium, screenshot
from tests.e2e.test_console_browser import staff
from tests.server.outreach.receiver import Receiver

pytestmark = needs_chromium

BLACK_SPOT = "12 Elm Road, SW1A 1AA"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def hub(mosquitto: Mosquitto, tmp_path: Path, receiver: Receiver) -> Iterator[HubThread]:
    config = load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    ).with_values({"delivery_manager.apprise_urls": [f"json://127.0.0.1:{receiver.port}/copies"]})
    with HubThread(config) as running:
        yield running


def copies(receiver: Receiver, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    while len(receiver.bodies) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [b["title"] for b in receiver.bodies]


def earlier_visit_with_poor_signal(store: SqliteStore) -> None:
    now = int(time.time() * 1000)
    plan = rules.SessionPlan(
        kind=SessionKind.VISIT,
        worker_id="w-wendy",
        device_id=None,
        started_ms=now - 7_200_000,
        grace_s=300,
        prealert_s=300,
        expected_end_ms=now - 3_600_000 + 7_200_000,
        address=BLACK_SPOT,
        accompanied=True,
    )
    visit = store.start_session(plan, "test").result()
    store.flag_poor_signal(now, "user:ada", session_id=visit.id).result()
    store.change_session(visit.id, lambda s: rules.end(s, now, "test"), now, "test", "end").result()


def test_plan_change_cancel_with_black_spot_note_copies_and_a_calendar(
    page: Page, hub: HubThread, receiver: Receiver
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    staff(store)
    earlier_visit_with_poor_signal(store)
    log_in(page, hub)
    page.click("nav a:text('Visits')")
    page.select_option("select[name=worker_id]", "w-wendy")
    page.fill("input[name=address]", "12 elm rd sw1a 1aa")  # the same place, typed otherwise
    page.press("input[name=address]", "Tab")
    expect(page.locator("#signal-note")).to_contain_text("Poor signal reported at this address")
    page.fill("input[name=contact_name]", "Mrs Example")
    start = datetime.now() + timedelta(hours=1)
    page.fill("input[name=start]", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=end]", (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=approved_by]", "Lena Manager")
    page.select_option("select[name=risk_rating]", "low")
    page.fill("textarea[name=risk_measures]", "Ring the office when leaving")
    screenshot(page, "console-planner-black-spot.png")
    page.click("#plan")
    expect(page).to_have_url(f"{hub.http_url}/console")
    assert "visit planned for Wendy Walker" in copies(receiver, 1)[0]

    visit = next(s for s in store.sessions() if s.state != SessionState.ENDED)
    page.goto(f"{hub.http_url}/console/visits")
    page.click("a.change-visit")
    expect(page.locator("input[name=end]")).to_have_value(
        (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")  # shown in local time again
    )
    page.fill("input[name=end]", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.click("#change")
    expect(page).to_have_url(f"{hub.http_url}/console/visits")
    assert "visit changed" in copies(receiver, 2)[1]
    assert "Expected end: " in receiver.bodies[1]["message"]

    page.click("nav a:text('Calendars')")
    page.fill("input[name=label]", "Office calendar")
    page.select_option("select[name=scope]", "all")
    page.check("input[name=with_addresses]")
    page.click("#make-feed")
    page.click("#copy-link")
    expect(page.locator("#copy-link")).to_have_text("Copied")
    screenshot(page, "console-calendar-feed.png")
    url = page.locator("#feed-url").input_value()
    feed = httpx.get(url, timeout=10)
    assert feed.status_code == 200
    (event,) = Calendar.from_ical(feed.content).walk("VEVENT")
    assert event["UID"] == f"loneguard-visit-{visit.id}"
    assert str(event["LOCATION"]) == "12 elm rd sw1a 1aa"
    assert len(event.walk("VALARM")) == 1
    page.click("#feeds button:text('Revoke')")
    expect(page.locator("#feeds")).to_contain_text("revoked")
    assert httpx.get(url, timeout=10).status_code == 404

    page.goto(f"{hub.http_url}/console/visits/{visit.id}/change")
    page.click("#cancel")
    expect(page).to_have_url(f"{hub.http_url}/console/visits")
    assert "visit cancelled" in copies(receiver, 3)[2]
    assert [c.state for c in store.arrangement_copies()] == ["sent"] * 3
