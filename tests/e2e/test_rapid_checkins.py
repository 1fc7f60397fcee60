"""Check-in pressed 8 times, 150 ms apart, through the simulator's control endpoint: the hub
stores 8 check-ins and no duress; nothing opens an alarm.

Before issue 13 this raised two covert duress alarms and no check-in (a double press was duress).
"""

from __future__ import annotations

import httpx

from loneguard.device.firmware import DeviceApp
from loneguard.device.simulator import ControlServer
from loneguard.protocol.clock import FakeClock
from tests.e2e.conftest import wait_until

PRESSES = 8
DOWN_FOR = 0.05  # the finger on the button
PERIOD = 0.15  # one press every 150 ms


def test_eight_quick_checkin_presses_are_eight_checkins_and_no_duress(
    device: DeviceApp, device_clock: FakeClock, api: httpx.Client
) -> None:
    control = ControlServer(device, wait=device_clock.advance).start()
    try:
        with httpx.Client(base_url=control.url, timeout=10) as unit:
            made: list[str] = []
            for _ in range(PRESSES):
                made += unit.post("/buttons/checkin/down").json()["events"]
                device_clock.advance(DOWN_FOR)
                made += unit.post("/buttons/checkin/up").json()["events"]  # waits 50 ms
                # The fake clock stands still while the hub's ack comes back (a FakeClock runs
                # its timers under its lock, and an ack takes the app's lock to set one), so
                # the presses stay exactly 150 ms apart on the unit's clock.
                wait_until(lambda: device.outbox.count() == 0)
                device_clock.advance(PERIOD - DOWN_FOR - 0.05)
            state = unit.get("/state").json()
    finally:
        control.stop()

    assert len(made) == PRESSES
    assert [e["kind"] for e in state["events"]] == ["checkin"] * PRESSES
    wait_until(lambda: device.outbox.count() == 0)
    stored = api.get("/api/events").json()
    assert sorted(e["id"] for e in stored) == sorted(made)
    assert {e["kind"] for e in stored} == {"checkin"}
    assert api.get("/api/alarms").json() == []
    # The unit showed what check-ins show: the last ack's flash, never help coming.
    assert device.feedback.current == "acknowledged"
