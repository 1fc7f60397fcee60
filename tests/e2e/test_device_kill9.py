"""A device process killed with ``kill -9`` while events wait for the hub's ack loses none of them.

Real processes and a real broker: ``loneguard-device --simulate`` is pressed over its control
endpoint, killed outright (no clean stop, no flush), started again on the same data folder, and
the hub's store must hold every event exactly once, in the order it was made.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from loneguard.server.config import load_config
from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from tests.e2e.conftest import wait_until

DEVICE = "unit-k9"


def start_device(mosquitto: Mosquitto, data_dir: Path, config: Path) -> tuple[Child, str]:
    child = Child(
        DEVICE,
        python_module_command(
            "loneguard.device.cli",
            "--simulate",
            "--config",
            str(config),
            "--mqtt",
            mosquitto.url,
            "--data-dir",
            str(data_dir),
            "--control",
            "127.0.0.1:0",
        ),
    )
    line = child.wait_for_line("control endpoint: ", timeout=30)
    return child, line.removeprefix("control endpoint: ").strip()


def press(control: str, path: str) -> list[str]:
    reply = httpx.post(f"{control}/buttons/{path}", timeout=10)
    assert reply.status_code == 200, reply.text
    events: list[str] = reply.json()["events"]
    return events


def queued(control: str) -> int:
    count: int = httpx.get(f"{control}/state", timeout=5).json()["queued"]
    return count


def test_kill_9_with_unacknowledged_events_then_restart_delivers_each_once_in_order(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    hub_config = load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    )
    device_config = tmp_path / "device.toml"
    device_config.write_text(f'[device]\nid = "{DEVICE}"\n[timing]\nhold_time = 0.5\n')
    data_dir = tmp_path / "device"

    # The hub runs once, so the broker keeps its persistent session: events published while it
    # is down wait there too, and reach it a second time when the restarted device resends them.
    with HubThread(hub_config):
        device, control = start_device(mosquitto, data_dir, device_config)
        try:
            made = press(control, "checkin/press")
            wait_until(lambda: queued(control) == 0)  # stored and acked: never sent again
        except BaseException:
            device.kill()
            raise

    try:
        made += press(control, "panic/hold?seconds=0.8")
        made += press(control, "checkin/press")
        made += press(control, "checkin/duress")
        assert len(made) == 4 and queued(control) == 3
    finally:
        device.kill()  # SIGKILL: no offline status, no clean close of the outbox
    assert device.process.returncode == -9

    with HubThread(hub_config) as hub:
        device, control = start_device(mosquitto, data_dir, device_config)
        try:
            wait_until(lambda: queued(control) == 0)
            stored = list(reversed(hub.store.events(device_id=DEVICE)))  # oldest first
            assert [e.id for e in stored] == made
            assert [e.kind for e in stored] == ["checkin", "panic", "checkin", "duress"]
            assert [e.seq for e in stored] == sorted(e.seq for e in stored)
            assert len({e.seq for e in stored}) == 4
            alarms = sorted(hub.store.alarms(), key=lambda a: a.id)
            assert [(a.kind, a.event_id) for a in alarms] == [
                ("panic", made[1]),
                ("duress", made[3]),
            ]
        finally:
            device.stop()
