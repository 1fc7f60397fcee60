"""Devices' last-seen written in batches: one transaction for many devices, never backwards."""

from __future__ import annotations

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import DeviceState, Status
from loneguard.server.store import LastHeard
from loneguard.server.store.sqlite import SqlStore


def test_a_batch_stores_every_device_heard(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    batch = [LastHeard(f"unit-{i:04d}", now + i, -60 - i % 40, 90, 0) for i in range(1200)]
    store.record_last_seen(batch).result()
    devices = {d.id: d for d in store.devices()}
    assert len(devices) == 1200
    last = devices["unit-1199"]
    assert (last.last_seen_ms, last.last_heartbeat_ms, last.rssi, last.battery) == (
        now + 1199,
        now + 1199,
        -60 - 1199 % 40,
        90,
    )


def test_a_late_batch_never_moves_a_device_back(store: SqlStore, clock: FakeClock) -> None:
    """A batch written after a newer status, or after another hub's newer batch, keeps the
    newer times and the newest heartbeat's health."""
    now = clock.wall_ms()
    store.record_last_seen([LastHeard("d1", now, -70, 80, 0)]).result()
    online = Status(DeviceState.ONLINE, 2, "1.0", now + 5_000)
    assert store.record_status("d1", online, now + 5_000).result()
    store.record_last_seen([LastHeard("d1", now + 2_000, -80, 70, 1)]).result()
    store.record_last_seen([LastHeard("d1", now + 1_000, -99, 10, 9)]).result()  # older
    device = store.device("d1")
    assert device is not None
    assert (device.last_seen_ms, device.last_heartbeat_ms) == (now + 5_000, now + 2_000)
    assert (device.rssi, device.battery, device.queued) == (-80, 70, 1)
