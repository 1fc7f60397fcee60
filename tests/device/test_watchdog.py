"""sd_notify against a real unix datagram socket bound by the test, as systemd binds it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.firmware import DeviceApp
from loneguard.device.simulator import ClockedMockFactory
from loneguard.device.watchdog import Notifier, serve, watchdog_interval
from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock, SystemClock
from loneguard.server.devtools.private_broker import Mosquitto
from tests.device.helpers import WAIT, FakeLink, make_config

ROOT = Path(__file__).resolve().parents[2]


class SystemdSocket:
    """The manager's end: a bound datagram socket; ``next()`` is the next notification."""

    def __init__(self) -> None:
        # A short folder: unix socket paths are limited to 107 bytes.
        self._dir = tempfile.mkdtemp(prefix="lg-notify-")
        self.path = os.path.join(self._dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(WAIT)

    def next(self) -> dict[str, str]:
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines())

    def until(self, key: str, value: str | None = None) -> dict[str, str]:
        while True:
            message = self.next()
            if key in message and (value is None or message[key].startswith(value)):
                return message

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self._dir)


@pytest.fixture
def systemd() -> Iterator[SystemdSocket]:
    manager = SystemdSocket()
    yield manager
    manager.close()


def test_watchdog_interval_is_half_the_period_at_most_one_second() -> None:
    assert watchdog_interval({}) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "600000"}) == 0.3
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) == 1.0


def test_notifier_without_systemd_does_nothing() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    notifier.send("READY=1")


def test_the_device_process_says_ready_pings_the_watchdog_and_stops_on_sigterm(
    tmp_path: Path, mosquitto: Mosquitto, systemd: SystemdSocket
) -> None:
    env = {**os.environ, "NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "400000"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loneguard.device.cli",
            "--simulate",
            "--id",
            "svc-1",
            "--mqtt",
            mosquitto.url,
            "--data-dir",
            str(tmp_path),
            "--control",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = systemd.next()  # the first thing systemd hears
        assert ready["READY"] == "1"
        assert ready["STATUS"].startswith("svc-1 ")
        status, pings = ready["STATUS"], 0
        while pings < 3 or status != "svc-1 online, hub unknown, 0 queued":
            message = systemd.next()  # STATUS rides along with a ping when it changes
            assert message["WATCHDOG"] == "1"
            status, pings = message.get("STATUS", status), pings + 1

        # The retained offline status with its reason: tests/device/test_cli.py.
        process.send_signal(signal.SIGTERM)
        assert systemd.until("STOPPING") == {"STOPPING": "1", "STATUS": "stopping"}
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_stalled_clock_thread_stops_the_watchdog_pings_until_it_runs_again(
    tmp_path: Path, systemd: SystemdSocket
) -> None:
    clock = SystemClock()
    app = DeviceApp(
        make_config(tmp_path), pin_factory=ClockedMockFactory(clock), clock=clock, link=FakeLink()
    )
    app.liveness_limit = 0.5
    app.start()
    notifier = Notifier(systemd.path)
    stopping = threading.Event()
    loop = threading.Thread(target=serve, args=(app, notifier, stopping), kwargs={"interval": 0.05})
    loop.start()
    release = threading.Event()
    try:
        assert systemd.next()["READY"] == "1"
        assert systemd.until("WATCHDOG") == {"WATCHDOG": "1"}
        clock.call_later(0, lambda: release.wait(WAIT))  # a timer callback that hangs
        stalled = systemd.until("STATUS", "unhealthy")
        assert "WATCHDOG" not in stalled
        assert stalled["STATUS"].startswith("unhealthy: clock thread stalled for")
        systemd.sock.settimeout(0.3)  # five intervals: no ping while unhealthy
        with pytest.raises(TimeoutError):
            systemd.until("WATCHDOG")
        systemd.sock.settimeout(WAIT)
        release.set()
        healthy = systemd.until("WATCHDOG")
        assert healthy["STATUS"] == "unit-01 online, hub unknown, 0 queued"
    finally:
        release.set()
        stopping.set()
        loop.join(WAIT)
        notifier.close()
        app.stop("done")


def test_a_modem_worker_stuck_in_one_job_makes_the_app_unhealthy(
    tmp_path: Path, clock: FakeClock
) -> None:
    with FakeModem() as fake:
        modem = Modem(fake.path, command_timeout=0.5, sweep_interval=None)
        app = DeviceApp(
            make_config(tmp_path),
            pin_factory=ClockedMockFactory(clock),
            clock=clock,
            link=FakeLink(),
            modem=modem,
        )
        app.start()
        try:
            assert app.modem is not None and app.modem.wait_idle(WAIT)
            release, running = threading.Event(), threading.Event()

            def wedged(modem: Modem) -> None:  # a job that never meets a deadline
                running.set()
                release.wait(WAIT)

            app.modem.submit(wedged)
            assert running.wait(WAIT)
            clock.advance(600.0)
            assert app.health_problems() == []  # a long recovery is still allowed
            clock.advance(1.0)
            assert app.health_problems() == ["modem worker stuck for 601s"]
            release.set()
            assert app.modem.wait_idle(WAIT)
            assert app.health_problems() == []
        finally:
            release.set()
            app.stop("done")
