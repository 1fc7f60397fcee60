"""The line manager's notice of a reported incident, through real apprise to a local receiver."""

from __future__ import annotations

import asyncio

from loneguard.protocol.clock import FakeClock
from loneguard.server.incidents.line_manager import LineManagerNotice
from loneguard.server.store import Worker
from loneguard.server.store.sqlite import SqlStore
from tests.device.helpers import wait_until
from tests.e2e.apprise_receiver import AppriseReceiver
from tests.server.store.test_safety_rows import incident


def test_the_workers_line_manager_is_told_and_the_attempt_audited(
    store: SqlStore, clock: FakeClock
) -> None:
    with AppriseReceiver() as receiver:
        store.save_worker(Worker("w-lena", "Lena", apprise_urls=(receiver.url,))).result(5)
        store.save_worker(Worker("w1", "Wendy Walker", line_manager="w-lena")).result(5)
        made = store.report_incident(incident(), "user:ada").result(5)
        notice = LineManagerNotice(store, clock)
        result = asyncio.run(notice.reported(made))
        assert result is not None and result.ok
        wait_until(lambda: receiver.bodies)
    (body,) = receiver.bodies
    assert body["title"] == f"loneguard incident {made.id}"
    assert "threat, high severity" in body["message"]
    assert "Worker: Wendy Walker." in body["message"]
    assert "Where: 12a High St." in body["message"]
    (entry,) = [a for a in store.audit() if a.action == "incident.notify"]
    assert entry.subject == f"incident:{made.id}"
    assert entry.detail == {
        "to": "Lena",
        "attempt": 1,
        "ok": True,
        "result": "apprise: 1 of 1 delivered",
    }
    assert receiver.url not in str(entry.detail)


def test_without_a_line_manager_nothing_is_sent_and_the_audit_says_so(
    store: SqlStore, clock: FakeClock
) -> None:
    store.save_worker(Worker("w1", "Wendy Walker")).result(5)
    made = store.report_incident(incident(), "user:ada").result(5)
    assert asyncio.run(LineManagerNotice(store, clock).reported(made)) is None
    (entry,) = [a for a in store.audit() if a.action == "incident.notify"]
    assert entry.detail == {"result": "not sent: no line manager on record"}


def test_a_notice_sent_in_the_background_is_finished_at_close(
    store: SqlStore, clock: FakeClock
) -> None:
    with AppriseReceiver() as receiver:
        store.save_worker(Worker("w-lena", "Lena", apprise_urls=(receiver.url,))).result(5)
        store.save_worker(Worker("w1", "Wendy Walker", line_manager="w-lena")).result(5)
        made = store.report_incident(incident(), "user:ada").result(5)

        async def report_and_stop() -> None:
            notice = LineManagerNotice(store, clock)
            await notice.report_soon(made)  # returns before the notice is sent
            await notice.aclose()

        asyncio.run(report_and_stop())
        assert [b["title"] for b in receiver.bodies] == [f"loneguard incident {made.id}"]
