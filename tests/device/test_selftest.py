"""``loneguard-device selftest`` on mock pins and the fake modem, against a real Mosquitto that
checks a user name and password."""

from __future__ import annotations

import getpass
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.battery import PiSugar3
from loneguard.device.cli import selftest_main
from loneguard.device.gestures import ButtonName
from loneguard.device.selftest import Check, SelfTest, exit_status, render
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.server.admin.provisioning import hash_password
from loneguard.server.devtools.private_broker import Mosquitto, free_port
from tests.device.helpers import led_states, make_config
from tests.device.test_battery import FakeI2cBus

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "unit-password-42"
PINS = {ButtonName.CHECKIN: 17, ButtonName.PANIC: 27}


@pytest.fixture
def locked_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto that lets in only unit-01 with its password."""
    port = free_port()
    passwd = tmp_path / "passwd"
    passwd.write_text(f"unit-01:{hash_password(PASSWORD)}\n")
    passwd.chmod(0o600)
    config = "\n".join(
        [
            f"user {getpass.getuser()}",
            f"listener {port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwd}",
            "persistence false",
            "log_dest stderr",
        ]
    )
    broker = Mosquitto(port, workdir=tmp_path / "broker", config=config + "\n")
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


def config_file(tmp_path: Path, url: str, password: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(
        f'[device]\nid = "unit-01"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[mqtt]\nurl = "{url}"\nusername = "unit-01"\npassword = "{password}"\n'
    )
    return path


def table_rows(out: str) -> dict[str, list[str]]:
    """The table's rows: check name -> [result, detail]."""
    lines = out[out.index("check ") :].splitlines()
    width = lines[0].index("result")
    return {line[:width].strip(): line[width:].split(maxsplit=1) for line in lines[1:-1]}


def test_selftest_passes_when_every_part_answers(
    tmp_path: Path, locked_broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    factory = ClockedMockFactory(FakeClock())
    asked: list[ButtonName] = []

    def press(name: ButtonName) -> None:  # the person assembling the unit, when asked
        asked.append(name)
        pin = factory.pin(PINS[name])
        pin.drive_low()
        pin.drive_high()

    config = config_file(tmp_path, locked_broker.url, PASSWORD)
    argv = ["--simulate", "--config", str(config), "--button-timeout", "5"]
    assert selftest_main(argv, pin_factory=factory, on_prompt=press) == 0
    out = capsys.readouterr().out
    assert asked == [ButtonName.CHECKIN, ButtonName.PANIC]
    assert "press the CHECKIN button (GPIO17) within 5 s" in out
    rows = table_rows(out)
    assert rows == {
        "LED": ["PASS", "blinked 3 times on GPIO22"],
        "buzzer": ["PASS", "beeped twice on GPIO23"],
        "checkin button": ["PASS", "pressed (GPIO17)"],
        "panic button": ["PASS", "pressed (GPIO27)"],
        "modem AT": ["PASS", "answers OK"],
        "modem signal": ["PASS", "-73 dBm"],
        "modem network": ["PASS", "registered (home)"],
        "battery": ["SKIP", "none read (battery.board = none)"],
        "broker": ["PASS", f"connected to {locked_broker.url} as unit-01"],
    }
    assert out.rstrip().endswith("all passed")
    assert [s for _, s in led_states(factory.pin(22))] == [0, 1, 0, 1, 0, 1, 0]
    assert [s for _, s in led_states(factory.pin(23))] == [0, 1, 0, 1, 0]


def test_selftest_process_fails_on_unpressed_buttons_and_a_wrong_password(
    tmp_path: Path, locked_broker: Mosquitto
) -> None:
    config = config_file(tmp_path, locked_broker.url, "not-the-password")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loneguard.device.cli",
            "selftest",
            "--simulate",
            "--config",
            str(config),
            "--button-timeout",
            "0.2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    rows = table_rows(result.stdout)
    assert rows["checkin button"] == ["FAIL", "no press on GPIO17 in 0.2 s"]
    assert rows["panic button"] == ["FAIL", "no press on GPIO27 in 0.2 s"]
    assert rows["modem AT"][0] == rows["modem network"][0] == "PASS"
    assert rows["broker"][0] == "FAIL" and "refused as unit-01" in rows["broker"][1]
    assert "not-the-password" not in result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("3 failed")


def test_a_battery_board_is_read(tmp_path: Path) -> None:
    config = make_config(tmp_path, battery={"board": "pisugar3"})
    bus = FakeI2cBus({0x00: 3, 0x2A: 91})
    test = SelfTest(config, pin_factory=None, modem=None, out=io.StringIO(), battery=PiSugar3(bus))
    assert test.battery() == Check("battery", "PASS", "91 % charged")
    bus.fail = True
    assert test.battery() == Check("battery", "FAIL", "the battery board does not answer on I2C")


def test_render_and_exit_status() -> None:
    checks = [Check("LED", "PASS", "blinked"), Check("modem", "SKIP", "none configured")]
    assert exit_status(checks) == 0
    assert render(checks).splitlines() == [
        "check  result  detail",
        "LED    PASS    blinked",
        "modem  SKIP    none configured",
        "all passed",
    ]
    assert exit_status([*checks, Check("broker", "FAIL", "refused")]) == 1
