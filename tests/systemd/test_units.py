"""The shipped units load cleanly in systemd and stay hardened.

``systemd-analyze verify`` exits 0 on many warnings, so any output at all fails the test. Verify
also checks that ExecStart's binary exists, so each unit is copied into a temporary unit folder
with only the ExecStart binary swapped for a stub; every other line is the shipped one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
ANALYZE = shutil.which("systemd-analyze")
HUB_MAX_EXPOSURE = 2.5
DEVICE_MAX_EXPOSURE = 2.5

pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (Debian package: systemd)"
)


def staged(tmp_path: Path, unit: str, *, dropins: bool = False) -> Path:
    """A copy of ``unit`` (and, if asked, its drop-in folder) whose ExecStart runs a stub."""
    stub = tmp_path / "bin" / "stub"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = (UNITS / unit).read_text()
    exec_lines = re.findall(r"^ExecStart=(\S+)", text, flags=re.M)
    assert exec_lines == ["/opt/loneguard/.venv/bin/" + unit.removesuffix(".service")]
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={stub}", text, flags=re.M)
    folder = tmp_path / "units"
    folder.mkdir(exist_ok=True)
    (folder / unit).write_text(text)
    if dropins:
        shutil.copytree(UNITS / f"{unit}.d", folder / f"{unit}.d")
    return folder / unit


def analyze(*args: str, unit_path: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    # SYSTEMD_UNIT_PATH makes systemd read the staged drop-ins (the trailing ':' keeps defaults).
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_path}:", "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("unit", "dropins"),
    [
        ("loneguard-device.service", False),
        ("loneguard-hub.service", False),
        ("loneguard-hub.service", True),
    ],
)
def test_verify_is_silent(tmp_path: Path, unit: str, dropins: bool) -> None:
    path = staged(tmp_path, unit, dropins=dropins)
    result = analyze("verify", "--man=no", str(path), unit_path=path.parent)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def exposure(tmp_path: Path, unit: str, *, dropins: bool = False) -> float:
    path = staged(tmp_path, unit, dropins=dropins)
    result = analyze("security", "--offline=true", "--no-pager", str(path), unit_path=path.parent)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, result.stdout
    return float(match.group(1))


def test_hub_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    assert exposure(tmp_path, "loneguard-hub.service") <= HUB_MAX_EXPOSURE


def test_hub_with_modem_dropin_stays_at_most_2_5(tmp_path: Path) -> None:
    assert exposure(tmp_path, "loneguard-hub.service", dropins=True) <= HUB_MAX_EXPOSURE


def test_device_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    assert exposure(tmp_path, "loneguard-device.service") <= DEVICE_MAX_EXPOSURE


def directives(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_device_unit_contract() -> None:
    d = directives("loneguard-device.service")
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30"] and d["Restart"] == ["always"]
    assert (d["User"], d["Group"]) == (["loneguard"], ["loneguard"])
    assert d["SupplementaryGroups"] == ["gpio dialout i2c"]
    assert d["StateDirectory"] == ["loneguard-device"]
    # The firmware's default data_dir is the state directory.
    from loneguard.device.config import SETTINGS

    data_dir = next(s.default for s in SETTINGS if s.name == "device.data_dir")
    assert data_dir == "/var/lib/loneguard-device"
    assert d["PrivateDevices"] == ["no"]
    assert "char-gpiochip rw" in d["DeviceAllow"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]


def test_hub_unit_contract() -> None:
    d = directives("loneguard-hub.service")
    # The hub sends no sd_notify, so Type=notify would time out its start.
    assert d["Type"] == ["simple"]
    assert not re.search(r"sdnotify|NOTIFY_SOCKET", Path("server/cli.py").read_text())
    assert d["EnvironmentFile"] == ["-/etc/loneguard/broker/hub.env", "-/etc/loneguard/hub.env"]
    assert d["StateDirectory"] == ["loneguard-hub"]
    assert d["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert "IPAddressDeny" not in d  # the hub must reach the broker and notifiers


def test_env_examples_name_only_known_variables() -> None:
    known = {
        "LONEGUARD_MQTT_URL",
        "LONEGUARD_DB_URL",
        "LONEGUARD_HTTP",
        "LONEGUARD_CONFIG",
        "LONEGUARD_MQTT_PASSWORD",
        "LONEGUARD_MQTT_CLIENT_ID",
    }
    for name in ("hub.env.example", "device.env.example"):
        for line in (UNITS / name).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assert line.split("=", 1)[0] in known, (name, line)
            elif line.startswith("#") and "=" in line and line[1:2] != " ":
                assert line[1:].split("=", 1)[0] in known, (name, line)


def hardening(unit: str) -> list[str]:
    """The unit's lines from "# Hardening." to [Install] (or the end)."""
    text = (UNITS / unit).read_text()
    block = text[text.index("# Hardening.") :].split("[Install]")[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_selftest_unit_runs_the_selftest_under_the_services_hardening(tmp_path: Path) -> None:
    d = directives("loneguard-device-selftest.service")
    assert d["Type"] == ["oneshot"]
    [exec_start] = d["ExecStart"]
    assert exec_start.startswith("/opt/loneguard/.venv/bin/loneguard-device selftest ")
    assert d["Conflicts"] == ["loneguard-device.service"]  # the pins and the modem are shared
    for key in ("User", "Group", "SupplementaryGroups", "StateDirectory", "WorkingDirectory"):
        assert d[key] == directives("loneguard-device.service")[key], key
    # The same hardening, line for line: the self-test fails where the service would.
    assert hardening("loneguard-device-selftest.service") == hardening("loneguard-device.service")
    stub = tmp_path / "bin" / "loneguard-device"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = (UNITS / "loneguard-device-selftest.service").read_text()
    text = text.replace("/opt/loneguard/.venv/bin/loneguard-device", str(stub))
    folder = tmp_path / "units"
    folder.mkdir()
    (folder / "loneguard-device-selftest.service").write_text(text)
    (folder / "loneguard-device.service").write_text(
        (UNITS / "loneguard-device.service")
        .read_text()
        .replace("/opt/loneguard/.venv/bin/loneguard-device", str(stub))
    )
    result = analyze(
        "verify", "--man=no", str(folder / "loneguard-device-selftest.service"), unit_path=folder
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_device_units_leave_proc_readable_and_start_without_the_network() -> None:
    for unit in ("loneguard-device.service", "loneguard-device-selftest.service"):
        d = directives(unit)
        # ProcSubset=pid hides /proc/cpuinfo and /proc/device-tree: no gpiozero pin factory.
        assert "ProcSubset" not in d, unit
        # Panic and duress go by SMS from the first second: no wait for network-online.
        assert not any("network-online" in v for k in ("After", "Wants") for v in d.get(k, []))
