"""The console in a real Chromium (Debian's, driven by Playwright) against a real hub and broker.

A simulated device's panic crosses Mosquitto to the hub and must appear on an open board
without a reload; the office acknowledges and resolves it, plans a visit, and logs out.
Screenshots of the board and of an alarm are saved in ``$LONEGUARD_ARTIFACTS`` when it is set.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.protocol.clock import FakeClock
from loneguard.server.config import load_config
from loneguard.server.console.users import create_user
from loneguard.server.hub import HubThread
from loneguard.server.store import AlarmState, Role, Worker
from loneguard.server.store.sqlite import SqliteStore
from tests.e2e.chromium import PASSWORD, artifacts, log_in, needs_chromium, screenshot
from tests.e2e.conftest import wait_until

pytestmark = needs_chromium


def staff(store: SqliteStore, device_id: str | None = None) -> None:
    create_user(store, "ada", Role.ADMIN, PASSWORD, 0)
    store.save_worker(Worker("w-wendy", "Wendy Walker", mobile="+447700900001")).result()
    if device_id is not None:
        store.assign_device(device_id, "w-wendy").result()


def press_panic(device: DeviceApp, device_clock: FakeClock) -> None:
    panic = device.buttons[ButtonName.PANIC].pin
    panic.drive_low()
    device_clock.advance(3.0)  # held long enough
    panic.drive_high()


def test_a_panic_appears_live_and_is_acknowledged_and_resolved(
    page: Page, hub: HubThread, device: DeviceApp, device_clock: FakeClock
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    staff(store, device.config.device.id)
    log_in(page, hub)
    wendy = page.locator("tr[data-worker=w-wendy]")
    expect(wendy.locator(".state")).to_have_text("off duty")
    screenshot(page, "console-board.png")
    page.evaluate("window.noReloadMarker = 'still here'")
    page.click("body")  # the first click arms the alarm sound

    last_checkin = wendy.locator("td").nth(3)
    expect(last_checkin).to_have_text("—")
    checkin = device.buttons[ButtonName.CHECKIN].pin
    checkin.drive_low()
    checkin.drive_high()
    device_clock.advance(0.6)  # past the duress window: a check-in
    expect(last_checkin).not_to_have_text("—")  # sooner than the board's 15 s poll

    press_panic(device, device_clock)
    pressed = time.monotonic()
    expect(wendy.locator(".state")).to_contain_text("alarm (Panic)", timeout=1000)
    seen_after = time.monotonic() - pressed
    assert page.evaluate("window.noReloadMarker") == "still here"  # no reload happened
    expect(page.locator("body")).to_have_class("alarming")
    expect(page.locator("#sound-toggle")).to_have_text("alarm sound armed")
    expect(page).to_have_title(re.compile("ALARM"), timeout=5000)  # no eval: the CSP forbids it
    (alarm,) = store.alarms(AlarmState.OPEN)
    screenshot(page, "console-board-panic.png")
    folder = artifacts()
    if folder is not None:
        (folder / "console-panic-latency.txt").write_text(f"{seen_after * 1000:.0f} ms\n")

    page.locator(f"#alarm-{alarm.id} button.ack").click()
    expect(page.locator(f"#alarm-{alarm.id}")).to_contain_text("acknowledged by ada")
    expect(page.locator("body")).not_to_have_class("alarming")

    page.click(f"#alarm-{alarm.id} a:text('Open')")
    page.select_option("select[name=outcome]", "false alarm")
    page.fill("textarea[name=notes]", "Rang Wendy: she leaned on the button.")
    page.click("#resolve")
    expect(page.locator("#alarm-state")).to_have_text("resolved")
    expect(page.locator("#outcome")).to_contain_text("false alarm")
    timeline = page.locator("table.timeline")
    expect(timeline).to_contain_text("acknowledged")
    expect(timeline).to_contain_text("taken in charge by ada")
    expect(timeline).to_contain_text("outcome: false alarm")
    screenshot(page, "console-alarm-panic-resolved.png")

    page.click("nav a:text('Board')")
    expect(wendy).to_contain_text("unit-01: online")
    device.stop("switched off")  # its offline status reaches the open board by itself
    expect(wendy).to_contain_text("unit-01: offline")
    resolved = store.alarm(alarm.id)
    assert resolved is not None
    assert (resolved.state, resolved.acknowledged_by, resolved.resolved_by) == (
        "resolved",
        "ada",
        "ada",
    )


def test_a_planned_visit_shows_on_the_board(page: Page, hub: HubThread) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    staff(store)
    log_in(page, hub)
    page.click("nav a:text('Visits')")
    end = (datetime.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.select_option("select[name=worker_id]", "w-wendy")
    page.fill("input[name=address]", "1 Example Road")
    page.fill("input[name=contact_name]", "Mrs Example")
    page.fill("input[name=end]", end)
    page.select_option("select[name=risk_rating]", "low")
    page.fill("textarea[name=risk_measures]", "Ring the office when leaving")
    page.click("#plan")  # unaccompanied and nobody approved it: refused (CIC App.1 5.1.1)
    expect(page.locator(".error")).to_contain_text("approved_by")
    page.fill("input[name=approved_by]", "Lena Manager")
    page.click("#plan")
    expect(page).to_have_url(f"{hub.http_url}/console")
    wendy = page.locator("tr[data-worker=w-wendy]")
    expect(wendy.locator(".state")).to_contain_text("on a visit")
    expect(wendy.locator(".address")).to_have_text("1 Example Road")
    expect(wendy.locator(".countdown")).to_contain_text(":")
    (session,) = store.sessions()
    assert (session.address, session.approved_by) == ("1 Example Road", "Lena Manager")


def test_after_logout_the_console_is_refused(page: Page, hub: HubThread) -> None:
    assert isinstance(hub.store, SqliteStore)
    staff(hub.store)
    log_in(page, hub)
    page.click("#logout")
    expect(page).to_have_url(f"{hub.http_url}/login")
    page.goto(f"{hub.http_url}/console/alarms")
    expect(page).to_have_url(f"{hub.http_url}/login?next=/console/alarms")
    expect(page.locator("h1")).to_have_text("loneguard console")


def test_the_alarm_sound_stays_armed_from_page_to_page(page: Page, hub: HubThread) -> None:
    assert isinstance(hub.store, SqliteStore)
    staff(hub.store)
    log_in(page, hub)
    toggle = page.locator("#sound-toggle")
    expect(toggle).to_have_text("click to arm the alarm sound")
    page.click("body")
    expect(toggle).to_have_text("alarm sound armed")
    page.evaluate("window.noReloadMarker = 'still here'")
    page.click("nav a:text('Alarms')")
    expect(page).to_have_url(f"{hub.http_url}/console/alarms")
    expect(page.locator("h1").first).to_have_text("Alarms")
    expect(toggle).to_have_text("alarm sound armed")  # no new click on this page
    page.click("nav a:text('Register')")
    expect(page).to_have_url(f"{hub.http_url}/console/register")
    expect(toggle).to_have_text("alarm sound armed")
    assert page.evaluate("window.noReloadMarker") == "still here"  # the menu does not reload
    expect(page.locator("#live")).to_have_text("live")  # nor drop the live stream
    # A full load (typed address, bookmark) remembers the tab was armed: it arms again if the
    # browser lets the page play sound, else it asks for one click (headless Chromium does).
    page.goto(f"{hub.http_url}/console/alarms")
    expect(toggle).to_have_text(re.compile("^(alarm sound armed|click to re-arm the alarm sound)$"))


def test_an_open_board_goes_to_the_login_page_when_an_admin_disables_its_user(
    browser: Browser, page: Page, hub: HubThread
) -> None:
    assert isinstance(hub.store, SqliteStore)
    staff(hub.store)
    create_user(hub.store, "max", Role.MANAGER, PASSWORD, 0)
    manager_context = browser.new_context()
    try:
        board = manager_context.new_page()
        log_in(board, hub, "max")
        log_in(page, hub)  # ada, the admin, in another browser
        page.click("nav a:text('Users')")
        page.click("tr[data-user=max] button:text('Disable')")
        expect(page.locator("tr[data-user=max]")).to_contain_text("disabled")
        # The board's live stream closes and takes it to the login page, with no click.
        expect(board).to_have_url(f"{hub.http_url}/login?next=%2Fconsole", timeout=5000)
    finally:
        manager_context.close()


def test_the_board_reconnects_by_itself_after_a_hub_restart(
    page: Page, hub: HubThread, device: DeviceApp, device_clock: FakeClock, tmp_path: Path
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    staff(store, device.config.device.id)
    log_in(page, hub)
    url = hub.http_url
    hub.stop()
    expect(page.locator("#live")).to_have_text("reconnecting…")
    port = url.rsplit(":", 1)[1]
    config = load_config(
        env={
            "LONEGUARD_MQTT_URL": hub.hub.config.values["mqtt.url"],
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": f"127.0.0.1:{port}",
        }
    )
    with HubThread(config) as again:
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        page.evaluate("window.noReloadMarker = 'still here'")
        press_panic(device, device_clock)
        wendy = page.locator("tr[data-worker=w-wendy]")
        expect(wendy.locator(".state")).to_contain_text("alarm (Panic)", timeout=5000)
        assert page.evaluate("window.noReloadMarker") == "still here"
        wait_until(lambda: again.store.alarms(AlarmState.OPEN))
