"""The device's TOML configuration: every setting in one table, checked with errors naming the key.

Precedence, highest first: command-line overrides, environment variables, the TOML file, then
the defaults of ``SETTINGS``. ``example_toml`` renders the table, so the documentation is made
from the same data the loader checks against and cannot drift from it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.topics import check_device_id

CONFIG_ENV = "LONEGUARD_CONFIG"
DEFAULT_CONFIG_PATH = Path("/etc/loneguard/device.toml")

# GPIO 0 and 1 are the HAT ID EEPROM bus; 28+ do not reach the 40-pin header.
MIN_GPIO = 2
MAX_GPIO = 27

PINMAP_RESOURCE = "pinmap.toml"


def pinmap_defaults() -> dict[str, int]:
    """Each ``[pins]`` setting's default BCM pin, read from the pin map shipped in the package.

    The pin map (``device/pinmap.toml``) is the one source of truth for the wiring: the drawing in
    ``hw/`` is made from it too, so the firmware's defaults and the drawing cannot disagree.
    """
    text = resources.files("loneguard.device").joinpath(PINMAP_RESOURCE).read_text("utf-8")
    entries = tomllib.loads(text)["pins"].values()
    return {e["setting"]: int(e["bcm"]) for e in entries if "setting" in e}


_PIN_DEFAULTS = pinmap_defaults()


class ConfigError(ValueError):
    """A setting that is missing, of the wrong type, out of bounds or unknown; ``key`` names it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    env: str | None = None
    secret: bool = False

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "device",
        "id",
        str,
        None,
        "This device's id: the {id} in loneguard/v1/dev/{id}/...",
        required=True,
    ),
    Setting(
        "device",
        "data_dir",
        str,
        "/var/lib/loneguard-device",
        "Folder for the outbox database (events not yet acknowledged, boot counter)",
    ),
    Setting(
        "mqtt",
        "url",
        str,
        "mqtt://127.0.0.1:1883",
        "Broker URL; mqtts:// uses TLS (default port 8883)",
        env="LONEGUARD_MQTT_URL",
    ),
    Setting("mqtt", "username", str, "", "Broker user name; empty for none"),
    Setting(
        "mqtt",
        "password",
        str,
        "",
        "Broker password; better given in the environment",
        env="LONEGUARD_MQTT_PASSWORD",
        secret=True,
    ),
    Setting(
        "mqtt",
        "ca_file",
        str,
        "",
        "CA certificate file for mqtts://; empty uses the system's trust store",
    ),
    Setting(
        "mqtt",
        "keepalive",
        int,
        30,
        "Seconds between MQTT pings; the broker sends the last will after 1.5 x this",
        minimum=5,
        maximum=600,
    ),
    Setting(
        "mqtt",
        "reconnect_min_delay",
        int,
        1,
        "First wait (s) before reconnecting",
        minimum=1,
        maximum=60,
    ),
    Setting(
        "mqtt",
        "reconnect_max_delay",
        int,
        60,
        "Longest wait (s) between reconnect attempts (the wait doubles up to this)",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "pins",
        "checkin",
        int,
        _PIN_DEFAULTS["pins.checkin"],
        "BCM GPIO of the check-in button (to ground)",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    ),
    Setting(
        "pins",
        "panic",
        int,
        _PIN_DEFAULTS["pins.panic"],
        "BCM GPIO of the panic button (to ground)",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    ),
    Setting(
        "pins",
        "led",
        int,
        _PIN_DEFAULTS["pins.led"],
        "BCM GPIO of the status LED (active high)",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    ),
    Setting(
        "pins",
        "buzzer",
        int,
        _PIN_DEFAULTS["pins.buzzer"],
        "BCM GPIO of the buzzer (active high); 0 for none",
        minimum=0,
        maximum=MAX_GPIO,
    ),
    Setting(
        "pins",
        "modem_pwrkey",
        int,
        _PIN_DEFAULTS["pins.modem_pwrkey"],
        "BCM GPIO driving the modem's PWRKEY (through an NPN); used when modem.pwrkey is true",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    ),
    Setting(
        "timing",
        "hold_time",
        float,
        3.0,
        "Seconds panic must be held to raise an alarm",
        minimum=0.5,
        maximum=10,
    ),
    Setting(
        "timing",
        "heartbeat_interval",
        float,
        30.0,
        "Seconds between heartbeats",
        minimum=5,
        maximum=3600,
    ),
    Setting(
        "timing",
        "bounce_time",
        float,
        0.02,
        "Seconds of contact bounce the GPIO driver ignores; 0 for none",
        minimum=0,
        maximum=0.5,
    ),
    Setting(
        "device",
        "mode",
        str,
        "pocket",
        "pocket (a worn unit: hold check-in to start a session) or desk (hold to sign in/out)",
    ),
    Setting(
        "timing",
        "duress_window",
        float,
        0.6,
        "Duress is check-in pressed twice within this many seconds; a single check-in is sent "
        "this long after its release; 0 turns the duress gesture off",
        minimum=0,
        maximum=2,
    ),
    Setting(
        "timing",
        "long_hold",
        float,
        2.0,
        "Seconds check-in is held to start a session (pocket) or sign in/out (desk)",
        minimum=0.5,
        maximum=10,
    ),
    Setting(
        "timing",
        "step_window",
        float,
        3.0,
        "After a session-start hold, each press within this many seconds adds a step",
        minimum=1,
        maximum=10,
    ),
    Setting(
        "session",
        "preset_minutes",
        int,
        60,
        "Length of a session started from the device",
        minimum=1,
        maximum=1440,
    ),
    Setting(
        "session",
        "step_minutes",
        int,
        30,
        "Minutes each further press adds to a session started from the device",
        minimum=1,
        maximum=480,
    ),
    Setting(
        "desk",
        "reminder_interval",
        int,
        60,
        "Desk mode: minutes between check-in reminders while signed in; 0 for none",
        minimum=0,
        maximum=1440,
    ),
    Setting(
        "outbox",
        "max_events",
        int,
        1000,
        "Most events kept unacknowledged; beyond it the oldest non-alarm events are dropped "
        "(panic and duress never are)",
        minimum=10,
        maximum=100000,
    ),
    Setting("modem", "port", str, "", "Serial port of the GSM modem; empty for none"),
    Setting(
        "modem",
        "pwrkey",
        bool,
        False,
        "Whether pins.modem_pwrkey is wired to the modem's PWRKEY, so recovering a hung modem "
        "can end with a power cycle; false when the modem board has its own power key",
    ),
    Setting(
        "modem",
        "gnss_max_age",
        float,
        300.0,
        "Seconds a GNSS fix stays fresh enough to attach to a panic or duress (modems with "
        "GNSS: SIM7600, A7670); no location goes with any other event",
        minimum=10,
        maximum=86400,
    ),
    Setting(
        "battery",
        "board",
        str,
        "none",
        "Battery board whose charge the heartbeat reports: none, or pisugar3 (PiSugar 3 on I2C)",
    ),
    Setting(
        "battery",
        "i2c_bus",
        int,
        1,
        "I2C bus of the battery board (/dev/i2c-N; GPIO2/3 are bus 1)",
        minimum=0,
        maximum=20,
    ),
    Setting(
        "sms",
        "hub_number",
        str,
        "",
        "Phone number of the hub's modem for the SMS fallback of panic and duress; empty for none",
    ),
    Setting(
        "sms",
        "secret",
        str,
        "",
        "Shared secret that signs the fallback SMS line; better given in the environment",
        env="LONEGUARD_SMS_SECRET",
        secret=True,
    ),
    Setting(
        "sms",
        "ack_timeout",
        float,
        20.0,
        "Seconds without the hub's ack before a panic or duress also goes by SMS",
        minimum=1,
        maximum=600,
    ),
)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS))
_BY_NAME = {s.name: s for s in SETTINGS}
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class MqttSettings:
    url: str
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None = field(repr=False)
    ca_file: Path | None
    keepalive: int
    reconnect_min_delay: int
    reconnect_max_delay: int


@dataclass(frozen=True)
class PinSettings:
    checkin: int
    panic: int
    led: int
    buzzer: int | None
    modem_pwrkey: int | None = None  # None: not wired


@dataclass(frozen=True)
class TimingSettings:
    hold_time: float
    heartbeat_interval: float
    bounce_time: float | None


@dataclass(frozen=True)
class GestureSettings:
    duress_window: float = 0.6
    long_hold: float = 2.0
    step_window: float = 3.0


@dataclass(frozen=True)
class SessionSettings:
    preset_minutes: int = 60
    step_minutes: int = 30


@dataclass(frozen=True)
class SmsSettings:
    hub_number: str | None = None
    secret: str | None = field(default=None, repr=False)
    ack_timeout: float = 20.0


@dataclass(frozen=True)
class Config:
    device_id: str
    data_dir: Path
    mqtt: MqttSettings
    pins: PinSettings
    timing: TimingSettings
    mode: str = "pocket"
    gestures: GestureSettings = GestureSettings()
    session: SessionSettings = SessionSettings()
    reminder_interval: int = 60  # minutes, desk mode; 0 for none
    outbox_max_events: int = 1000
    modem_port: str | None = None
    gnss_max_age: float = 300.0
    battery_board: str = "none"
    battery_i2c_bus: int = 1
    sms: SmsSettings = SmsSettings()

    @property
    def desk(self) -> bool:
        return self.mode == "desk"


def config_path_from(env: Mapping[str, str], explicit: str | Path | None = None) -> Path | None:
    """The file to read: the explicit path, else ``LONEGUARD_CONFIG``, else the system file."""
    if explicit is not None:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None


def load_config(
    path: str | Path | None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read ``path`` (None: no file) and apply environment and ``overrides`` ("mqtt.url": ...).

    An override of None is no override, so command-line flags can be passed as they are.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML ({exc})") from None
    return parse_config(data, env=env, overrides=overrides)


def parse_config(
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    env = os.environ if env is None else env
    values, labels = _merge(data, env, overrides or {})
    return _build(values, labels)


def _merge(
    data: Mapping[str, Any],
    env: Mapping[str, str],
    overrides: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each setting's value, and the label its errors use (naming where the value came from)."""
    for section, table in data.items():
        if section not in SECTIONS:
            raise ConfigError(section, f"unknown section (known: {', '.join(SECTIONS)})")
        if not isinstance(table, dict):
            raise ConfigError(section, "must be a table ([section])")
        for key in table:
            if f"{section}.{key}" not in _BY_NAME:
                known = ", ".join(s.key for s in SETTINGS if s.section == section)
                raise ConfigError(f"{section}.{key}", f"unknown setting (known: {known})")
    for name in overrides:
        if name not in _BY_NAME:
            raise ConfigError(name, "unknown setting")

    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for s in SETTINGS:
        label = s.name
        if s.name in overrides and overrides[s.name] is not None:
            raw = overrides[s.name]
            label = f"{s.name} (from the command line)"
        elif s.env and env.get(s.env):
            raw = env[s.env]
            label = f"{s.name} (from {s.env})"
        elif s.key in data.get(s.section, {}):
            raw = data[s.section][s.key]
        elif s.required:
            raise ConfigError(s.name, "is required")
        else:
            raw = s.default
        values[s.name] = _check(s, raw, label)
        labels[s.name] = label
    return values, labels


def _check(s: Setting, raw: Any, label: str) -> Any:
    if s.type is float:
        ok = isinstance(raw, int | float) and not isinstance(raw, bool)
    elif s.type is int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
    else:
        ok = isinstance(raw, s.type)
    if not ok:
        raise ConfigError(label, f"must be {_TYPE_NAMES[s.type]}, got {_toml_kind(raw)}")
    value = s.type(raw)
    if s.minimum is not None and s.maximum is not None and not s.minimum <= value <= s.maximum:
        raise ConfigError(label, f"must be between {s.minimum:g} and {s.maximum:g}, got {value!r}")
    return value


def _toml_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _build(v: dict[str, Any], labels: dict[str, str]) -> Config:
    try:
        device_id = check_device_id(v["device.id"], "device.id")
    except ProtocolError as exc:
        raise ConfigError(labels["device.id"], exc.problem) from None
    if not v["device.data_dir"]:
        raise ConfigError(labels["device.data_dir"], "must not be empty")
    return Config(
        device_id=device_id,
        data_dir=Path(v["device.data_dir"]),
        mqtt=_mqtt(v, labels),
        pins=_pins(v),
        timing=TimingSettings(
            hold_time=v["timing.hold_time"],
            heartbeat_interval=v["timing.heartbeat_interval"],
            bounce_time=v["timing.bounce_time"] or None,
        ),
        mode=_mode(v, labels),
        gestures=GestureSettings(
            duress_window=v["timing.duress_window"],
            long_hold=v["timing.long_hold"],
            step_window=v["timing.step_window"],
        ),
        session=SessionSettings(
            preset_minutes=v["session.preset_minutes"], step_minutes=v["session.step_minutes"]
        ),
        reminder_interval=v["desk.reminder_interval"],
        outbox_max_events=v["outbox.max_events"],
        modem_port=v["modem.port"] or None,
        gnss_max_age=v["modem.gnss_max_age"],
        battery_board=_choice(v, labels, "battery.board", BATTERY_BOARDS),
        battery_i2c_bus=v["battery.i2c_bus"],
        sms=_sms(v, labels),
    )


MODES = ("pocket", "desk")
BATTERY_BOARDS = ("none", "pisugar3")
_PHONE_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def _mode(v: dict[str, Any], labels: dict[str, str]) -> str:
    return _choice(v, labels, "device.mode", MODES)


def _choice(v: dict[str, Any], labels: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value: str = v[name]
    if value not in choices:
        raise ConfigError(labels[name], f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _sms(v: dict[str, Any], labels: dict[str, str]) -> SmsSettings:
    number: str = v["sms.hub_number"]
    if number and not _PHONE_NUMBER.fullmatch(number):
        raise ConfigError(labels["sms.hub_number"], "must be 3-20 digits with an optional +")
    if number and not v["sms.secret"]:
        raise ConfigError(labels["sms.secret"], "is required when sms.hub_number is set")
    return SmsSettings(
        hub_number=number or None,
        secret=v["sms.secret"] or None,
        ack_timeout=v["sms.ack_timeout"],
    )


def _mqtt(v: dict[str, Any], labels: dict[str, str]) -> MqttSettings:
    url: str = v["mqtt.url"]
    url_label = labels["mqtt.url"]
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not url.startswith(f"{parts.scheme}://"):
        raise ConfigError(url_label, "must start with mqtt:// or mqtts://")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(url_label, "has a bad port") from None
    if not parts.hostname:
        raise ConfigError(url_label, "has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(url_label, "must be mqtt[s]://host[:port] with no path or query")
    tls = parts.scheme == "mqtts"
    # Credentials in the URL are accepted; the explicit settings win over them.
    username = v["mqtt.username"] or (unquote(parts.username) if parts.username else None)
    password = v["mqtt.password"] or (unquote(parts.password) if parts.password else None)
    if v["mqtt.ca_file"] and not tls:
        raise ConfigError("mqtt.ca_file", "needs an mqtts:// mqtt.url")
    if v["mqtt.reconnect_min_delay"] > v["mqtt.reconnect_max_delay"]:
        raise ConfigError(
            "mqtt.reconnect_min_delay", "must not be more than mqtt.reconnect_max_delay"
        )
    return MqttSettings(
        url=url,
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=username or None,
        password=password or None,
        ca_file=Path(v["mqtt.ca_file"]) if v["mqtt.ca_file"] else None,
        keepalive=v["mqtt.keepalive"],
        reconnect_min_delay=v["mqtt.reconnect_min_delay"],
        reconnect_max_delay=v["mqtt.reconnect_max_delay"],
    )


def _pins(v: dict[str, Any]) -> PinSettings:
    if 0 < v["pins.buzzer"] < MIN_GPIO:
        raise ConfigError("pins.buzzer", f"must be 0 (none) or between {MIN_GPIO} and {MAX_GPIO}")
    used: dict[int, str] = {}
    wired = v["modem.pwrkey"]
    for key in ("checkin", "panic", "led", "buzzer", "modem_pwrkey"):
        pin = v[f"pins.{key}"]
        if (key == "buzzer" and pin == 0) or (key == "modem_pwrkey" and not wired):
            continue
        if pin in used:
            raise ConfigError(f"pins.{key}", f"GPIO {pin} is already used by {used[pin]}")
        used[pin] = f"pins.{key}"
    return PinSettings(
        checkin=v["pins.checkin"],
        panic=v["pins.panic"],
        led=v["pins.led"],
        buzzer=v["pins.buzzer"] or None,
        modem_pwrkey=v["pins.modem_pwrkey"] if wired else None,
    )


def example_toml() -> str:
    """A commented TOML file listing every setting with its default, bounds and help."""
    lines = ["# loneguard device configuration (loneguard-device --config FILE)"]
    section = ""
    # Grouped by section: a section's later settings may sit further down the table.
    for s in sorted(SETTINGS, key=lambda s: SECTIONS.index(s.section)):
        if s.section != section:
            section = s.section
            lines += ["", f"[{section}]"]
        notes = [s.help]
        if s.minimum is not None:
            notes.append(f"{s.minimum:g}..{s.maximum:g}")
        if s.env:
            notes.append(f"env {s.env} overrides")
        lines.append(f"# {'; '.join(notes)}")
        if s.required:
            lines.append(f'{s.key} = "unit-01"  # required')
        else:
            lines.append(f"# {s.key} = {_toml_value(s.default)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


if __name__ == "__main__":
    print(example_toml(), end="")
