"""The broker killed (SIGKILL) and restarted in the middle of a burst of check-ins and panics.

Devices keep every event in their outbox until the hub acks it and send it again on reconnect
(and at an overdue heartbeat); the hub's session is persistent and it subscribes again on every
connection. Whatever the broker lost, every event is stored once and every panic opens one alarm.
"""

from __future__ import annotations

from collections.abc import Callable

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import EventKind
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from tests.faults.harness import OutboxDevice, beat_until_empty, count_delivery, wait_until

DEVICES = 4
BURST = 240


def kind_of(i: int) -> EventKind:
    return EventKind.PANIC if i % 8 == 0 else EventKind.CHECKIN


def test_broker_killed_mid_burst_loses_and_doubles_nothing(
    mosquitto: Mosquitto,
    fault_hub: HubThread,
    make_devices: Callable[[int], list[OutboxDevice]],
    devices_clock: FakeClock,
) -> None:
    devices = make_devices(DEVICES)
    wait_until(lambda: all(d.link.connected for d in devices), "the devices to connect")

    for i in range(BURST):
        if i == BURST // 2:
            mosquitto.kill()  # no clean shutdown: whatever it held in memory is gone
        if i == BURST * 3 // 4:
            mosquitto.start()  # same port; devices and hub reconnect by themselves
        devices[i % DEVICES].make(kind_of(i))

    wait_until(lambda: fault_hub.hub.ready.is_set(), "the hub to reconnect")
    wait_until(lambda: all(d.link.connected for d in devices), "the devices to reconnect")
    beat_until_empty(devices, devices_clock, timeout=60)

    sent = [e for d in devices for e in d.made]
    total, received, duplicates = count_delivery(fault_hub.store, sent, label="broker kill")
    assert total == BURST
    assert received == total, "events lost"
    assert duplicates == 0, "events doubled"
    assert fault_hub.hub.link is not None and fault_hub.hub.link.connections >= 2
