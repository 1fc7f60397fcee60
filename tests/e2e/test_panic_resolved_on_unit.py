"""A panic held on a simulated unit shows "help coming" until the office resolves the alarm;
the resolution crosses the real broker and the unit's LED goes back to its calm online blip."""

from __future__ import annotations

import httpx

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.protocol.clock import FakeClock
from tests.device.helpers import led_states
from tests.e2e.conftest import wait_until

HELP_COMING = [(0.0, 1.0), (0.8, 0.0), (0.2, 1.0), (0.8, 0.0), (0.2, 1.0)]
ONLINE = [(0.0, 1.0), (0.05, 0.0), (4.95, 1.0)]


def test_a_resolved_panic_clears_the_units_help_coming_pattern(
    device: DeviceApp, device_clock: FakeClock, api: httpx.Client
) -> None:
    led = device.led.pin
    panic = device.buttons[ButtonName.PANIC].pin
    panic.drive_low()
    device_clock.advance(3.0)  # held long enough
    panic.drive_high()
    wait_until(lambda: device.feedback.current == "help_coming")
    led.clear_states()
    device_clock.advance(2.0)
    assert led_states(led)[1:] == HELP_COMING[1:]

    (alarm,) = api.get("/api/alarms", params={"state": "open"}).json()
    taken = api.post(f"/api/alarms/{alarm['id']}/acknowledge", json={"by": "Office"})
    assert taken.status_code == 200
    device_clock.advance(0.5)
    assert device.feedback.current == "help_coming"  # taking charge keeps help coming

    resolved = api.post(
        f"/api/alarms/{alarm['id']}/resolve",
        json={"outcome": "help sent", "notes": "Ann is safe; police attended."},
    )
    assert resolved.status_code == 200
    wait_until(lambda: device.feedback.current == "online")
    led.clear_states()
    device_clock.advance(5.0)
    assert led_states(led) == ONLINE
