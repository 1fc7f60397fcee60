"""The console at 3 a.m., in a real Chromium against a real hub (on an injected clock) and broker.

A visit planned in the planner (an over-long contact name is refused beside its field, the
input kept) falls overdue; the alarm page leads with the worker, the address, whom to ring
(``tel:`` links) and a countdown to the next step; a late check-in from the unit stops the
ladder and shows on the page. A board with several alarms keeps the workers on a 1366 by 860
screen. Screenshots of each page go to ``$LONEGUARD_ARTIFACTS`` when it is set.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, Page, expect

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.console.users import create_user
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store import AlarmKind, Role, Store, Worker
from tests.e2e.chromium import PASSWORD, log_in, needs_chromium, screenshot
from tests.e2e.conftest import e2e_hub_config, wait_until

pytestmark = needs_chromium

WENDY = Worker(
    "w-wendy",
    "Wendy Walker",
    mobile="+447700900001",
    home_phone="+441632960001",
    line_manager="w-max",
)
MAX = Worker("w-max", "Max Manager", mobile="+447700900002")
ADDRESS = "14 Elm Road, Leeds"
CONTACT = ("Mrs Patel", "+441632960999")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_ms=int(time.time() * 1000))  # the browser plans in real local time


@pytest.fixture
def clocked_hub(mosquitto: Mosquitto, tmp_path: Path, clock: FakeClock) -> Iterator[HubThread]:
    with HubThread(e2e_hub_config(mosquitto, tmp_path), clock) as running:
        create_user(running.store, "ada", Role.ADMIN, PASSWORD, clock.wall_ms())
        for worker in (MAX, WENDY):
            running.store.save_worker(worker).result()
        running.store.assign_device("unit-01", WENDY.id).result()
        yield running


class Unit:
    """Publishes events as devices do, over the real broker."""

    def __init__(self, mosquitto: Mosquitto) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-units")
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        self.seq = 0

    def press(self, device_id: str, kind: EventKind, ts: int) -> Event:
        self.seq += 1
        event = Event(str(uuid.uuid4()), kind, ts, seq=self.seq)
        topic = str(DeviceTopic(device_id, Channel.EVENT))
        self.client.publish(topic, event.encode(), qos=1).wait_for_publish(5)
        return event

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def unit(mosquitto: Mosquitto) -> Iterator[Unit]:
    u = Unit(mosquitto)
    try:
        yield u
    finally:
        u.close()


def sends(store: Store, alarm_id: int) -> int:
    return len(store.notifications(alarm_id))


def test_an_overdue_alarm_page_leads_with_now_and_shows_a_late_checkin(
    page: Page, clocked_hub: HubThread, clock: FakeClock, unit: Unit
) -> None:
    hub, store = clocked_hub, clocked_hub.store
    log_in(page, hub)
    page.click("nav a:text('Visits')")
    end = (datetime.now() + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    page.select_option("select[name=worker_id]", WENDY.id)
    page.fill("input[name=address]", ADDRESS)
    long_name = "Mrs " + "P" * 1996
    page.fill("input[name=contact_name]", long_name)
    page.fill("input[name=contact_phone]", CONTACT[1])
    page.fill("input[name=end]", end)
    page.fill("input[name=approved_by]", MAX.name)
    page.select_option("select[name=risk_rating]", "low")
    page.fill("textarea[name=risk_measures]", "Ring the office when leaving")
    page.click("#plan")
    error = page.locator("#contact_name-error")
    expect(error).to_have_text("at most 200 characters, please (2,000 given)")
    expect(page.locator("input[name=contact_name]")).to_have_value(long_name)
    expect(page.locator("input[name=address]")).to_have_value(ADDRESS)
    expect(page.locator("input[name=approved_by]")).to_have_value(MAX.name)
    expect(page.locator("select[name=risk_rating]")).to_have_value("low")
    assert store.sessions() == []
    screenshot(page, "console-planner-refused.png")
    page.fill("input[name=contact_name]", CONTACT[0])
    screenshot(page, "console-planner.png")
    page.click("#plan")
    expect(page).to_have_url(f"{hub.http_url}/console")
    (session,) = store.sessions()
    assert session.expected_end_ms is not None

    # Past the expected end and the 5 minutes' grace: the overdue alarm and its first step.
    clock.advance((session.expected_end_ms - clock.wall_ms()) / 1000 + 5 * 60 + 1)
    wait_until(lambda: len(store.alarms()) == 1)
    (alarm,) = store.alarms()
    assert alarm.kind == AlarmKind.OVERDUE
    wait_until(lambda: sends(store, alarm.id) >= 3)
    page.goto(f"{hub.http_url}/console/alarms/{alarm.id}")
    now = page.locator("#now")
    expect(page.locator("h1")).to_contain_text("Wendy Walker")
    expect(now.locator("#now-what")).to_contain_text("Step 1 of 5")
    # The step's guidance with the alarm's facts filled in (issue 12: who, on which number).
    expect(now.locator("#now-what")).to_contain_text("Ring Wendy Walker on 07700 900001")
    expect(now.locator("#where")).to_contain_text(ADDRESS)
    expect(now.locator("#ring a[href='tel:+447700900001']")).to_have_text("+447700900001")
    expect(page.locator("a[href='tel:+441632960999']")).to_be_visible()  # the visit contact
    expect(now.locator("#next-step")).to_contain_text("after 5 min: the worker's mobile")
    expect(now.locator("#next-step .countdown")).to_have_text(
        re.compile(r"^[0-4]:[0-5]\d$")  # counting down to the second try
    )
    expect(page.locator("#acknowledge")).to_have_text("I am taking charge")
    ladder = page.locator("ol.ladder")
    expect(ladder).to_contain_text("after 10 min: the visit contact, Mrs Patel")
    expect(ladder).to_contain_text("then every 5 min until someone takes charge")
    assert "visit_contact" not in ladder.inner_text() and " s:" not in ladder.inner_text()
    screenshot(page, "console-alarm-overdue.png")

    clock.advance(3 * 60)  # three minutes late, Wendy presses check-in
    checkin = unit.press("unit-01", EventKind.CHECKIN, clock.wall_ms())
    wait_until(lambda: store.alarm(alarm.id).checked_in_ms is not None)  # type: ignore[union-attr]
    before = sends(store, alarm.id)
    clock.advance(60 * 60)  # every later step of the ladder falls due, and the repeats
    page.reload()
    expect(page.locator("#checked-in")).to_contain_text("Checked in")
    expect(page.locator("#checked-in")).to_contain_text("from unit-01")
    expect(page.locator("#now-what")).to_contain_text("the escalation stopped")
    expect(page.locator("#next-step")).to_have_count(0)
    expect(page.locator("table.timeline")).to_contain_text("checked in")
    expect(page.locator("#alarm-state")).to_have_text("open")  # a person resolves it
    shown = page.locator("#checked-in time").get_attribute("data-ms")
    assert shown == str(checkin.ts)
    assert sends(store, alarm.id) == before  # nothing after the check-in
    screenshot(page, "console-alarm-overdue-checked-in.png")


def test_five_alarms_leave_the_workers_on_a_1366x860_screen(
    browser: Browser, clocked_hub: HubThread, clock: FakeClock, unit: Unit
) -> None:
    hub, store = clocked_hub, clocked_hub.store
    names = ["Ana Lopez", "Bo Chen", "Cy Ross", "Di Khan", "Ed Moss", "Flo Hart", "Gus Lee"]
    for n, name in enumerate(names):
        store.save_worker(Worker(f"w{n}", name, mobile=f"+4477009002{n:02d}")).result()
        store.assign_device(f"unit-1{n}", f"w{n}").result()
    # Ana's three duress alarms, and four more workers' panics and duress: five cards.
    kinds = [EventKind.DURESS] * 3 + [EventKind.PANIC, EventKind.PANIC, EventKind.DURESS]
    kinds += [EventKind.PANIC]
    devices = ["unit-10"] * 3 + ["unit-11", "unit-12", "unit-13", "unit-14"]
    for device, kind in zip(devices, kinds, strict=True):
        unit.press(device, kind, clock.wall_ms())
    wait_until(lambda: len(store.alarms()) == 7)
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    try:
        page = context.new_page()
        log_in(page, hub)
        cards = page.locator(".alarm-card")
        expect(cards).to_have_count(5)  # Ana's three duress alarms are one card
        anas = cards.filter(has_text="Ana Lopez").locator(".count")
        expect(anas).to_have_text("\N{MULTIPLICATION SIGN}3")
        expect(page.locator(".covert-guidance")).to_have_count(1)  # the guidance once
        workers = page.locator("table.board")
        expect(workers).to_be_in_viewport()
        # The first worker's row wholly on the 860 px screen (retried: the board's refresh
        # replaces its rows while the live stream catches up).
        expect(page.locator("table.board tr").nth(1)).to_be_in_viewport(ratio=1)
        screenshot(page, "console-board-several-alarms.png")

        for kind in (AlarmKind.DURESS, AlarmKind.PANIC):
            alarm = next(a for a in store.alarms() if a.kind == kind)
            page.goto(f"{hub.http_url}/console/alarms/{alarm.id}")
            expect(page.locator("#now")).to_be_visible()
            expect(page.locator("#acknowledge")).to_be_in_viewport()
            screenshot(page, f"console-alarm-{kind}.png")
    finally:
        context.close()
