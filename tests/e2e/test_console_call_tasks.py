"""A call task in a real Chromium, on a real hub without a modem: the alarm page shows whom to
ring with a ``tel:`` link, and its buttons record how the call went."""

from __future__ import annotations

import asyncio
import threading
import uuid

from playwright.sync_api import Page, expect

from loneguard.protocol.messages import Event, EventKind
from loneguard.server.escalation.notify.call_channel import ConsoleCallChannel
from loneguard.server.escalation.notify.notification import Notification, Recipient
from loneguard.server.escalation.runtime import NotificationLog
from loneguard.server.hub import HubThread
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.store import NewNotification, NotificationState
from loneguard.server.store.sqlite import SqliteStore
from tests.e2e.chromium import log_in, needs_chromium, screenshot
from tests.e2e.test_console_browser import staff

pytestmark = needs_chromium

STEP = "Visit overdue: ring the worker's mobile to make sure they are safe."


def alarm_with_a_call_task(store: SqliteStore) -> tuple[int, str]:
    """An alarm whose ladder reached a `call` step on a hub without a modem."""
    now = 1_767_225_600_000
    event = Event(str(uuid.uuid4()), EventKind.PANIC, now, seq=1)
    alarm_id = store.record_event("d1", event, now, effects_of(event.kind)).result().alarms[0].id
    key = f"{alarm_id}:0:0:worker:worker:w-wendy:call"
    row = NewNotification(
        key, f"{alarm_id}:0:0", 0, 0, "call", "Wendy Walker", "worker", "worker:w-wendy", STEP
    )
    store.add_notifications(alarm_id, [row], None, now).result()
    n = Notification(key, alarm_id, "call", Recipient("Wendy Walker", "worker", "x"), STEP)

    class Clock:
        def wall_ms(self) -> int:
            return now

    async def send() -> None:
        result = await ConsoleCallChannel().send(n)
        await NotificationLog(store, Clock(), 5).record(n, 1, result)  # type: ignore[arg-type]

    # Playwright's sync API owns this thread's event loop: the hub's code runs on its own.
    thread = threading.Thread(target=asyncio.run, args=(send(),))
    thread.start()
    thread.join(10)
    return alarm_id, key


def test_the_call_task_shows_the_tel_link_and_the_buttons_record_the_outcome(
    page: Page,
    hub: HubThread,
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    staff(store, "d1")
    alarm_id, key = alarm_with_a_call_task(store)
    log_in(page, hub)
    page.goto(f"{hub.http_url}/console/alarms/{alarm_id}")
    task = page.locator(".call-task")
    expect(task).to_contain_text("Ring Wendy Walker (the worker) on +447700900001 now")
    expect(task).to_contain_text(STEP)
    expect(task.locator("a.tel")).to_have_attribute("href", "tel:+447700900001")
    timeline = page.locator("table.timeline")
    expect(timeline).to_contain_text("phone call for a person to make")
    expect(timeline).not_to_contain_text("notification failed")
    screenshot(page, "console-call-task.png")

    task.locator("button[value=no_answer]").click()
    expect(page.locator(".call-task")).to_have_count(0)
    expect(timeline).to_contain_text("call: no answer (rung by ada from the console)")
    row = next(r for r in store.notifications(alarm_id) if r.key == key)
    assert row.state == NotificationState.FAILED
