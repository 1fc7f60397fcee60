"""The NetworkManager and ModemManager files install/device.sh writes for the 4G data bearer,
parsed back the way NetworkManager (a keyfile is an INI file) and udev read them."""

from __future__ import annotations

import configparser
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from loneguard.device.cellular import (
    CONNECTION_FILE,
    METRICS_FILE,
    MM_RULE_FILE,
    files,
    write,
)
from loneguard.device.config import ConfigError
from tests.device.helpers import make_config

ROOT = Path(__file__).resolve().parents[2]


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_a_gsm_connection_from_the_apn_with_wifi_preferred(tmp_path: Path) -> None:
    config = make_config(tmp_path, cellular={"apn": "iot.1nce.net"}, modem={"port": "/dev/serial0"})
    written = {f.path: f for f in files(config)}
    connection = ini(written[CONNECTION_FILE].text)
    assert connection["connection"]["type"] == "gsm"
    assert connection["connection"]["autoconnect"] == "true"
    assert connection["gsm"]["apn"] == "iot.1nce.net"
    assert written[CONNECTION_FILE].mode == 0o600  # NetworkManager ignores readable keyfiles
    metrics = ini(written[METRICS_FILE].text)
    [wifi] = [s for s in metrics.sections() if s.startswith("connection")]
    assert metrics[wifi]["match-device"] == "type:wifi"
    # The lower metric wins: Wi-Fi carries MQTT whenever it is up, 4G otherwise.
    assert int(metrics[wifi]["ipv4.route-metric"]) < int(connection["ipv4"]["route-metric"])
    assert int(metrics[wifi]["ipv6.route-metric"]) < int(connection["ipv6"]["route-metric"])


def test_modemmanager_keeps_off_the_firmwares_port(tmp_path: Path) -> None:
    uart = {f.path: f.text for f in files(make_config(tmp_path, modem={"port": "/dev/serial0"}))}
    rules = [line for line in uart[MM_RULE_FILE].splitlines() if not line.startswith("#")]
    assert rules == ['KERNEL=="ttyAMA[0-9]*|ttyS[0-9]*|serial[0-9]", ENV{ID_MM_PORT_IGNORE}="1"']
    usb = {f.path: f.text for f in files(make_config(tmp_path, modem={"port": "/dev/ttyUSB2"}))}
    assert 'KERNEL=="ttyUSB2", ENV{ID_MM_PORT_IGNORE}="1"' in usb[MM_RULE_FILE]


def test_no_apn_no_connection(tmp_path: Path) -> None:
    assert CONNECTION_FILE not in {f.path for f in files(make_config(tmp_path))}


def test_a_bad_apn_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cellular\.apn"):
        make_config(tmp_path, cellular={"apn": "has space"})


def test_the_command_writes_the_files_under_a_root(tmp_path: Path) -> None:
    toml = tmp_path / "device.toml"
    toml.write_text(
        '[device]\nid = "unit-01"\n[cellular]\napn = "internet"\n'
        '[sms]\nhub_number = "+447700900123"\n'  # its secret is in device.env: not needed here
    )
    root = tmp_path / "root"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loneguard.device.cellular",
            "--config",
            str(toml),
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((root / CONNECTION_FILE).stat().st_mode) == 0o600
    assert "apn=internet" in (root / CONNECTION_FILE).read_text()
    assert (root / METRICS_FILE).exists() and (root / MM_RULE_FILE).exists()
    assert write(make_config(tmp_path), tmp_path / "again")  # no APN: still the other two
