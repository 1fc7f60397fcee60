"""The modem's data bearer, set up with the platform's own tools: NetworkManager and ModemManager.

``install/device.sh`` runs ``python -m loneguard.device.cellular --config FILE`` where both are
installed. It writes three files (``files`` returns them, so tests read what would be written):

- a NetworkManager ``gsm`` connection from ``cellular.apn`` (no file when the APN is empty), with
  route metric 700, NetworkManager's own default for mobile broadband;
- a NetworkManager default giving every Wi-Fi connection route metric 100, so Wi-Fi is preferred
  whenever it is up and the 4G bearer carries MQTT only without it (the lower metric wins);
- a udev rule keeping ModemManager off the serial port the firmware owns (``modem.port``) and off
  the Pi's UARTs: ModemManager uses the modem's USB ports, the firmware its AT port for SMS, GNSS
  and health, so neither disturbs the other's session.

NetworkManager keyfile format: nm-settings-keyfile(5); connection defaults in conf.d:
NetworkManager.conf(5), "[connection]" sections with ``match-device``; the udev property:
ModemManager's ``ID_MM_PORT_IGNORE`` (ModemManager API docs, "udev tags").
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loneguard.device.config import Config, ConfigError, parse_config

CONNECTION_ID = "loneguard-cellular"
CELLULAR_METRIC = 700
WIFI_METRIC = 100
CONNECTION_FILE = Path(f"etc/NetworkManager/system-connections/{CONNECTION_ID}.nmconnection")
METRICS_FILE = Path("etc/NetworkManager/conf.d/60-loneguard-route-metrics.conf")
MM_RULE_FILE = Path("etc/udev/rules.d/61-loneguard-modemmanager-ignore.rules")
_UART_PATTERN = "ttyAMA[0-9]*|ttyS[0-9]*|serial[0-9]"


@dataclass(frozen=True)
class NetFile:
    path: Path  # relative to the root folder
    text: str
    mode: int


def connection_keyfile(apn: str) -> str:
    return "\n".join(
        [
            "# Mobile data over the 4G modem, made by install/device.sh from [cellular] apn.",
            "[connection]",
            f"id={CONNECTION_ID}",
            "type=gsm",
            "autoconnect=true",
            # 0: retry forever; a unit out of coverage must come back when coverage does.
            "autoconnect-retries=0",
            "",
            "[gsm]",
            f"apn={apn}",
            "",
            "[ipv4]",
            "method=auto",
            f"route-metric={CELLULAR_METRIC}",
            "",
            "[ipv6]",
            "method=auto",
            f"route-metric={CELLULAR_METRIC}",
            "",
        ]
    )


def metrics_conf() -> str:
    return "\n".join(
        [
            "# Wi-Fi before the 4G bearer: the lower route metric wins. Made by install/device.sh.",
            "[connection-loneguard-wifi]",
            "match-device=type:wifi",
            f"ipv4.route-metric={WIFI_METRIC}",
            f"ipv6.route-metric={WIFI_METRIC}",
            "",
        ]
    )


def modemmanager_rule(port: str | None) -> str:
    lines = [
        "# ModemManager keeps off the serial ports the loneguard firmware owns (SMS, GNSS,",
        "# health).",
        "# Made by install/device.sh.",
        f'KERNEL=="{_UART_PATTERN}", ENV{{ID_MM_PORT_IGNORE}}="1"',
    ]
    name = os.path.basename(port) if port else ""
    if name and not name.startswith(("ttyAMA", "ttyS", "serial")):
        lines.append(f'KERNEL=="{name}", ENV{{ID_MM_PORT_IGNORE}}="1"')
    return "\n".join(lines) + "\n"


def files(config: Config) -> list[NetFile]:
    """What the install script writes; the connection only when an APN is set."""
    out = [
        NetFile(METRICS_FILE, metrics_conf(), 0o644),
        NetFile(MM_RULE_FILE, modemmanager_rule(config.modem.port), 0o644),
    ]
    if config.cellular.apn:
        # NetworkManager ignores keyfiles others can read.
        out.insert(0, NetFile(CONNECTION_FILE, connection_keyfile(config.cellular.apn), 0o600))
    return out


def write(config: Config, root: Path) -> list[Path]:
    written = []
    for item in files(config):
        path = root / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item.text)
        path.chmod(item.mode)
        written.append(path)
    return written


def read_config(path: Path) -> Config:
    """The file's device, modem and cellular sections, checked; the rest (secrets in device.env
    among them) plays no part here."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML ({exc})") from None
    wanted = {k: v for k, v in data.items() if k in ("device", "modem", "cellular")}
    return parse_config(wanted, env={})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loneguard.device.cellular",
        description="Write the NetworkManager and ModemManager files for the modem's data bearer.",
    )
    parser.add_argument("--config", required=True, metavar="PATH", help="the device's TOML file")
    parser.add_argument("--root", default="/", metavar="DIR", help="write under DIR (default /)")
    args = parser.parse_args(argv)
    try:
        config = read_config(Path(args.config))
    except ConfigError as exc:
        print(f"cellular: {exc}", file=sys.stderr)
        return 2
    for path in write(config, Path(args.root)):
        print(f"   wrote {path}")
    if not config.cellular.apn:
        print("   no [cellular] apn: no mobile data connection (set it and run this again)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
