from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from loneguard.device.cli import build_parser, main, parse_control, resolve_config
from loneguard.device.config import ConfigError
from loneguard.protocol.messages import DeviceState, Event, EventKind, Status
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto
from tests.device.helpers import WAIT, Observer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LONEGUARD_CONFIG", "LONEGUARD_MQTT_URL", "LONEGUARD_MQTT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_config_errors_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--simulate"]) == 2
    assert "device.id: is required" in capsys.readouterr().err
    path = tmp_path / "device.toml"
    path.write_text('[device]\nid = "d1"\n[timing]\nhold_time = "long"\n')
    assert main(["--config", str(path)]) == 2
    assert "timing.hold_time: must be a number, got a string" in capsys.readouterr().err
    assert main(["--simulate", "--id", "d1", "--mqtt", "http://x"]) == 2
    assert "mqtt.url (from the command line): must start with" in capsys.readouterr().err
    assert main(["--simulate", "--id", "d1", "--control", "0.0.0.0:8081"]) == 2
    assert "--control: must be a loopback address" in capsys.readouterr().err
    assert main(["--id", "d1", "--control", "127.0.0.1:0"]) == 2
    assert "--control: only applies with --simulate" in capsys.readouterr().err


def test_parse_control() -> None:
    assert parse_control("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_control("localhost:8081") == ("localhost", 8081)
    assert parse_control("[::1]:9000") == ("::1", 9000)
    for bad in ("8081", "127.0.0.1:x", "127.0.0.1:70000", "example.com:80"):
        with pytest.raises(ConfigError):
            parse_control(bad)


def test_simulated_data_lives_under_data_devices(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--simulate", "--id", "sim-7"])
    assert resolve_config(args, {}).device.data_dir == Path("data/devices/sim-7")
    args = build_parser().parse_args(["--simulate", "--id", "sim-7", "--data-dir", str(tmp_path)])
    assert resolve_config(args, {}).device.data_dir == tmp_path
    args = build_parser().parse_args(["--id", "sim-7"])
    assert resolve_config(args, {}).device.data_dir == Path("/var/lib/loneguard-device")


def test_simulated_device_runs_and_stops_cleanly_on_sigterm(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    status_topic = str(DeviceTopic("sim-1", Channel.STATUS))
    event_topic = str(DeviceTopic("sim-1", Channel.EVENT))
    observer = Observer(mosquitto.url, [status_topic, event_topic])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loneguard.device.cli",
            "--simulate",
            "--id",
            "sim-1",
            "--mqtt",
            mosquitto.url,
            "--data-dir",
            str(tmp_path),
            "--control",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("control endpoint: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        assert Status.decode(observer.next_payload(status_topic)).state == DeviceState.ONLINE

        request = urllib.request.Request(url + "/buttons/checkin/press", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            (event_id,) = json.load(response)["events"]
        sent = Event.decode(observer.next_payload(event_topic))
        assert (sent.id, sent.kind) == (event_id, EventKind.CHECKIN)
        with urllib.request.urlopen(url + "/state", timeout=WAIT) as response:
            assert json.load(response)["queued"] == 1

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 0
        offline = Status.decode(observer.next_payload(status_topic))
        assert (offline.state, offline.reason) == (DeviceState.OFFLINE, "stopped by SIGTERM")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        observer.close()


@pytest.mark.parametrize("command", [[], ["selftest"]], ids=["service", "selftest"])
def test_no_pin_factory_exits_2_naming_the_fix(tmp_path: Path, command: list[str]) -> None:
    # Only lgpio asked for, and not installed in the test venv: gpiozero's BadPinFactory (an
    # ImportError), as under a unit that hides /proc/device-tree from a Pi.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loneguard.device.cli",
            *command,
            "--id",
            "unit-01",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "GPIOZERO_PIN_FACTORY": "lgpio"},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("loneguard-device: the GPIO pin factory gpio.factory = 'lgpio'")
    assert "lgpio" in message and "ProcSubset=pid" in message
