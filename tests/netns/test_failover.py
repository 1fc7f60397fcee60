"""Two network paths to the broker, the "Wi-Fi" one cut mid-session: the unit reconnects over the
"cellular" one within a bound, and every event reaches the hub exactly once.

The test builds the network itself (it needs root, ``ip`` and network namespaces; it is skipped
where they are missing). The broker runs in its own namespace with a service address,
``10.203.0.1``, that the device's side reaches over two veth pairs, as a unit reaches its hub
over Wi-Fi or over the modem:

    root namespace (device, hub)                  namespace lg-brk-* (mosquitto)
      wlan-lg  10.201.1.1/24  ── veth ──  10.201.1.2   route metric 100 ("Wi-Fi", preferred)
      wwan-lg  10.202.1.1/24  ── veth ──  10.202.1.2   route metric 200 ("cellular")
      hub-lg   10.204.1.1/24  ── veth ──  10.204.1.2   the hub's own path, never cut
                                           lo: 10.203.0.1 (the broker's address for devices)

The interface names follow the kernel's conventions (``wl*`` Wi-Fi, ``ww*`` WWAN), so the
heartbeat's ``bearer`` names each path as it would on a Pi. Cutting Wi-Fi is what losing the
access point does: the interface goes down, its route goes, the TCP connection over it goes
silent. The unit notices by MQTT keepalive (no PINGRESP within ``mqtt.keepalive``), reconnects,
and the kernel routes the new connection over the cellular path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.bearer import bearer_of
from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.device.link import MqttLink
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import free_port, mosquitto_binary, wait_for_port
from loneguard.server.hub import HubThread
from tests.device.helpers import make_config, wait_until

KEEPALIVE = 5  # seconds: the smallest mqtt.keepalive the firmware accepts
# Silence is noticed after 1-2 keepalives (paho pings after one idle keepalive and gives up when
# no answer comes within another); then the first reconnect attempt, within 2 s here (1 s
# reconnect delay and up to 1 s of jitter).
FAILOVER_BOUND = 2 * KEEPALIVE + 2 + 6  # + 6 s for a shared, slow machine (measured: 11.8 s)
SERVICE = "10.203.0.1"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or mosquitto_binary() is None,
    reason="needs root, iproute2 and mosquitto to build network namespaces",
)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class TwoPaths:
    """The namespaces, links and routes above, and a mosquitto inside; ``cut_wifi()``."""

    def __init__(self, workdir: Path) -> None:
        self.ns = f"lg-brk-{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.workdir = workdir
        self.broker: subprocess.Popen[bytes] | None = None

    def build(self) -> None:
        ip("netns", "add", self.ns)
        ip("-n", self.ns, "link", "set", "lo", "up")
        ip("-n", self.ns, "addr", "add", f"{SERVICE}/32", "dev", "lo")
        for name, net in (("wlan-lg", "10.201.1"), ("wwan-lg", "10.202.1"), ("hub-lg", "10.204.1")):
            peer = f"{name}-p"
            ip("link", "add", name, "type", "veth", "peer", "name", peer)
            ip("link", "set", peer, "netns", self.ns)
            ip("addr", "add", f"{net}.1/24", "dev", name)
            ip("link", "set", name, "up")
            ip("-n", self.ns, "addr", "add", f"{net}.2/24", "dev", peer)
            ip("-n", self.ns, "link", "set", peer, "up")
        ip("route", "add", f"{SERVICE}/32", "via", "10.201.1.2", "dev", "wlan-lg", "metric", "100")
        ip("route", "add", f"{SERVICE}/32", "via", "10.202.1.2", "dev", "wwan-lg", "metric", "200")

    def start_broker(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"user root\nlistener {self.port} 0.0.0.0\nallow_anonymous true\n"
            f"max_keepalive 65535\nset_tcp_nodelay true\n"
        )
        self.broker = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, str(mosquitto_binary()), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("10.204.1.2", self.port)

    def cut_wifi(self) -> None:
        ip("link", "set", "wlan-lg", "down")

    def close(self) -> None:
        if self.broker is not None:
            self.broker.terminate()
            self.broker.wait(timeout=10)
        for name in ("wlan-lg", "wwan-lg", "hub-lg"):
            subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=10)


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[TwoPaths]:
    net = TwoPaths(tmp_path)
    try:
        net.build()
        net.start_broker()
        yield net
    finally:
        net.close()


def press(app: DeviceApp, clock: FakeClock, button: ButtonName, seconds: float) -> str:
    made = app.events_made
    pin = app.buttons[button].pin
    pin.drive_low()
    clock.advance(seconds)
    pin.drive_high()
    clock.advance(0.1)
    (record,) = app.events_since(made)
    return record.id


def test_wifi_cut_mid_session_fails_over_to_cellular_and_loses_nothing(
    paths: TwoPaths, tmp_path: Path
) -> None:
    hub_config = load_config(
        env={
            "LONEGUARD_MQTT_URL": f"mqtt://10.204.1.2:{paths.port}",
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    )
    clock = FakeClock()
    config = make_config(
        tmp_path / "device",
        mqtt={
            "url": f"mqtt://{SERVICE}:{paths.port}",
            "keepalive": KEEPALIVE,
            "reconnect_max_delay": 1,
        },
    )
    with HubThread(hub_config) as hub:
        app = DeviceApp(config, pin_factory=ClockedMockFactory(clock), clock=clock)
        app.start()
        link = app.link
        assert isinstance(link, MqttLink)
        try:
            wait_until(lambda: link.connected, timeout=15)
            assert bearer_of(link.client.socket()) == "wifi"
            made = [press(app, clock, ButtonName.CHECKIN, 0.1)]
            wait_until(lambda: app.outbox.count() == 0, timeout=15)

            paths.cut_wifi()
            cut_at = time.monotonic()
            # Pressed while the old connection is silently dead: they wait in the outbox.
            made.append(press(app, clock, ButtonName.CHECKIN, 0.1))
            made.append(press(app, clock, ButtonName.PANIC, app.config.timing.hold_time))
            made.append(press(app, clock, ButtonName.CHECKIN, 0.1))

            wait_until(
                lambda: link.connected and app.outbox.count() == 0, timeout=FAILOVER_BOUND + 10
            )
            took = time.monotonic() - cut_at
            print(f"failover over the cellular path took {took:.1f}s")
            assert took <= FAILOVER_BOUND, f"failover took {took:.1f}s"
            assert bearer_of(link.client.socket()) == "cellular"

            made.append(press(app, clock, ButtonName.CHECKIN, 0.1))  # and life goes on
            wait_until(lambda: app.outbox.count() == 0, timeout=15)
        finally:
            app.stop("test over")
        stored = hub.store.events(limit=100)
        alarms = hub.store.alarms()
    ids = [e.id for e in stored]
    assert sorted(ids) == sorted(made)  # every event, none twice
    assert [a.kind for a in alarms] == ["panic"]  # one alarm for the one panic
