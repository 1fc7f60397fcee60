"""``loneguard-device selftest`` on mock pins and the fake modem, against a real Mosquitto that
checks a user name and password."""

from __future__ import annotations

import contextlib
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
from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.sms import FallbackLine
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


HUB_NUMBER = "+447700900123"
SMS_SECRET = "s3cret-for-unit-01"


def config_file(tmp_path: Path, url: str, password: str, *, sms: bool = True) -> Path:
    path = tmp_path / "device.toml"
    text = (
        f'[device]\nid = "unit-01"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[mqtt]\nurl = "{url}"\nusername = "unit-01"\npassword = "{password}"\n'
    )
    if sms:
        text += f'[sms]\nhub_number = "{HUB_NUMBER}"\nsecret = "{SMS_SECRET}"\n'
    path.write_text(text)
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
        "SMS fallback": ["PASS", "to the hub at +44******123"],
        "modem AT": ["PASS", "answers OK"],
        "modem SIM": ["PASS", "ready (no PIN wanted)"],
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


def modem_checks(
    tmp_path: Path, fake: FakeModem | None, *, sms: dict[str, str] | None = None, **flags: bool
) -> dict[str, Check]:
    config = make_config(tmp_path, sms=sms if sms is not None else {})
    with contextlib.ExitStack() as stack:
        modem = stack.enter_context(Modem(fake.path, sweep_interval=None)) if fake else None
        test = SelfTest(config, pin_factory=None, modem=modem, out=io.StringIO(), **flags)
        return {c.name: c for c in test.modem()}


HUB_SMS = {"hub_number": HUB_NUMBER, "secret": SMS_SECRET}


def test_a_unit_without_a_modem_fails_unless_it_says_it_has_none(tmp_path: Path) -> None:
    checks = modem_checks(tmp_path, None, sms=HUB_SMS)
    assert checks["modem"].result == "FAIL"
    assert "modem.port" in checks["modem"].detail and "/dev/serial0" in checks["modem"].detail
    assert modem_checks(tmp_path, None, no_modem=True)["modem"].result == "SKIP"


def test_a_missing_hub_number_fails(tmp_path: Path) -> None:
    with FakeModem() as fake:
        checks = modem_checks(tmp_path, fake, sms={}, send_sms=True)
    assert checks["SMS fallback"] == Check(
        "SMS fallback", "FAIL", "no sms.hub_number: panic and duress cannot go by SMS"
    )
    assert checks["test SMS"].result == "FAIL"
    assert fake.sent == []


def test_a_sim_waiting_for_its_pin_fails(tmp_path: Path) -> None:
    with FakeModem() as fake:
        fake.sim_state = "SIM PIN"
        checks = modem_checks(tmp_path, fake, sms=HUB_SMS)
    assert checks["modem SIM"].result == "FAIL"
    assert "SIM PIN" in checks["modem SIM"].detail
    assert "AT+CPIN?" in fake.commands()


def test_sms_sends_a_signed_test_line_the_hub_takes_for_a_test(tmp_path: Path) -> None:
    with FakeModem() as fake:
        checks = modem_checks(tmp_path, fake, sms=HUB_SMS, send_sms=True)
    assert checks["test SMS"].result == "PASS"
    assert HUB_NUMBER not in checks["test SMS"].detail  # masked
    [(number, text)] = fake.sent
    assert number == HUB_NUMBER
    line, mac = FallbackLine.parse_unverified(text)
    line.verify(mac, SMS_SECRET.encode())
    assert (line.device_id, line.is_test) == ("unit-01", True)
    with pytest.raises(ProtocolError):
        line.to_event()  # never an event, so never an alarm


def test_without_sms_no_message_is_sent(tmp_path: Path) -> None:
    with FakeModem() as fake:
        checks = modem_checks(tmp_path, fake, sms=HUB_SMS)
    assert "test SMS" not in checks and fake.sent == []
    assert checks["modem SIM"].result == checks["modem network"].result == "PASS"
