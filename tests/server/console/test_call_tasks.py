"""Call tasks on the alarm page, where no modem rings: whom to ring with a ``tel:`` link, and the
buttons that record how the call went (in-process, on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import re

from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.escalation.notify.call_channel import ConsoleCallChannel
from loneguard.server.escalation.notify.notification import Notification, Recipient
from loneguard.server.escalation.runtime import NotificationLog
from loneguard.server.store import AlarmState, NewNotification, NotificationState
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import add_worker, form_csrf, log_in, open_alarm

STEP = "Visit overdue: ring the worker's mobile to make sure they are safe."


def call_task(store: SqliteStore, clock: FakeClock, alarm_id: int) -> str:
    """The hub's ladder reaches a `call` step with no modem: the row, then its console task."""
    key = f"{alarm_id}:0:0:worker:worker:w1:call"
    row = NewNotification(
        key=key,
        action_key=f"{alarm_id}:0:0",
        step=0,
        repeat=0,
        channel="call",
        recipient_name="Wendy Worker",
        recipient_role="worker",
        recipient_ref="worker:w1",
        text=STEP,
    )
    store.add_notifications(alarm_id, [row], None, clock.wall_ms()).result()
    n = Notification(
        key, alarm_id, "call", Recipient("Wendy Worker", "worker", "+447700900001"), STEP
    )

    async def send() -> None:
        result = await ConsoleCallChannel().send(n)
        await NotificationLog(store, clock, 5).record(n, 1, result)

    asyncio.run(send())
    return key


def task_on_page(
    app_client: TestClient, store: SqliteStore, clock: FakeClock, user: str
) -> tuple[TestClient, int, str, str]:
    """An alarm with a call task, and ``user`` logged in on its page: client, alarm, key, csrf."""
    add_worker(store)
    alarm_id = open_alarm(store, clock)
    key = call_task(store, clock, alarm_id)
    client = log_in(app_client, user)
    return client, alarm_id, key, form_csrf(client.get(f"/console/alarms/{alarm_id}").text)


def row_of(store: SqliteStore, alarm_id: int, key: str):  # type: ignore[no-untyped-def]
    return next(r for r in store.notifications(alarm_id) if r.key == key)


def test_the_alarm_page_shows_whom_to_ring_with_a_tel_link(
    app_client: TestClient, store: SqliteStore, clock: FakeClock, users: None
) -> None:
    add_worker(store)
    alarm_id = open_alarm(store, clock)
    key = call_task(store, clock, alarm_id)
    assert row_of(store, alarm_id, key).state == NotificationState.PENDING  # not failed
    page = log_in(app_client, "max").get(f"/console/alarms/{alarm_id}").text
    assert "Ring Wendy Worker</strong> (the worker) on" in page
    assert '<a class="tel" href="tel:+447700900001">+447700900001</a>' in page
    assert STEP.replace("'", "&#39;") in page
    for outcome in ("answered", "no_answer", "took_charge"):
        assert f'name="outcome" value="{outcome}"' in page


def test_a_viewer_sees_the_task_without_the_number_or_the_buttons(
    app_client: TestClient, store: SqliteStore, clock: FakeClock, users: None
) -> None:
    client, alarm_id, _, _ = task_on_page(app_client, store, clock, "vic")
    page = client.get(f"/console/alarms/{alarm_id}/calls").text
    assert "Ring Wendy Worker" in page
    assert "tel:" not in page and "900001" not in page and "outcome" not in page


def test_no_answer_is_recorded_and_the_task_goes(
    app_client: TestClient, store: SqliteStore, clock: FakeClock, users: None
) -> None:
    client, alarm_id, key, csrf = task_on_page(app_client, store, clock, "max")
    data = {"csrf": csrf, "key": key, "outcome": "no_answer"}
    response = client.post(f"/console/alarms/{alarm_id}/calls", data=data)
    assert response.status_code == 303
    row = row_of(store, alarm_id, key)
    assert row.state == NotificationState.FAILED
    assert row.last_result == "call: no answer (rung by max from the console)"
    assert store.alarm(alarm_id).state == AlarmState.OPEN  # type: ignore[union-attr]
    assert "Ring Wendy Worker" not in client.get(f"/console/alarms/{alarm_id}").text
    # Recorded once: the same task again is refused.
    again = client.post(f"/console/alarms/{alarm_id}/calls", data=data)
    assert again.status_code == 409


def test_answered_and_they_took_charge_acknowledges_as_the_console_user(
    app_client: TestClient, store: SqliteStore, clock: FakeClock, users: None
) -> None:
    client, alarm_id, key, csrf = task_on_page(app_client, store, clock, "max")
    data = {"csrf": csrf, "key": key, "outcome": "took_charge"}
    assert client.post(f"/console/alarms/{alarm_id}/calls", data=data).status_code == 303
    alarm = store.alarm(alarm_id)
    assert alarm is not None and alarm.state == AlarmState.ACKNOWLEDGED
    assert alarm.acknowledged_by == "max"
    row = row_of(store, alarm_id, key)
    assert row.state == NotificationState.SENT
    assert row.last_result == "call: answered and they took charge (rung by max from the console)"


def test_recording_needs_a_responder_and_the_csrf_token(
    app_client: TestClient, store: SqliteStore, clock: FakeClock, users: None
) -> None:
    client, alarm_id, key, csrf = task_on_page(app_client, store, clock, "max")
    no_csrf = client.post(
        f"/console/alarms/{alarm_id}/calls", data={"key": key, "outcome": "answered"}
    )
    assert no_csrf.status_code == 403
    data = {"csrf": csrf, "key": key, "outcome": "maybe"}
    bad = client.post(f"/console/alarms/{alarm_id}/calls", data=data)
    assert bad.status_code == 422
    assert row_of(store, alarm_id, key).state == NotificationState.PENDING
    assert re.search(r"Ring Wendy Worker", client.get(f"/console/alarms/{alarm_id}").text)
