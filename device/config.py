"""The device's TOML configuration: each setting declared once, checked with errors naming the key.

A section of the file is a frozen dataclass whose fields are its settings (``setting`` gives each
its TOML type, default, bounds, environment variable and help); ``Config`` holds one per section,
read as ``config.section.key``. ``SETTINGS`` lists the same declarations as rows for the loader,
``example_toml`` and the docs, so none of them can drift from the others. Standard library only:
the firmware runs on a Pi Zero 2 W.

Precedence, highest first: command-line overrides, environment variables, the TOML file, then
the defaults.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.topics import check_device_id

log = logging.getLogger(__name__)

CONFIG_ENV = "LONEGUARD_CONFIG"

# Settings a file may still carry from an older release: ignored with a warning, so a unit
# upgraded in the field still starts (a refused file would leave it with no panic button).
RETIRED = {
    "timing.duress_window": "a double press of check-in is no longer a duress (a check-in "
    "each); the duress gesture is timing.duress_gesture",
}
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


class Invalid(ValueError):
    """What is wrong with a value, said without its key: the loader knows which key it was."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Setting:
    """One setting, as the loader, the example file and the docs see it."""

    section: str
    key: str
    type: type  # what the TOML file must give
    default: Any  # as written in TOML
    help: str
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    env: str | None = None
    secret: bool = False
    # Turns the checked TOML value into what the firmware uses; raises Invalid.
    read: Callable[[Any], Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


def setting(
    kind: type,
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    required: bool = False,
    env: str | None = None,
    secret: bool = False,
    read: Callable[[Any], Any] | None = None,
) -> Any:
    """A field of a section below that is a setting: the one place the setting is declared.

    The field holds what ``read`` makes of the TOML value (the value itself without ``read``).
    """
    row = {
        "type": kind,
        "default": default,
        "help": help,
        "minimum": minimum,
        "maximum": maximum,
        "required": required,
        "env": env,
        "secret": secret,
        "read": read,
    }
    return field(repr=not secret, metadata={"setting": row})


MODES = ("pocket", "desk")
DURESS_GESTURES = ("chord", "off")
GPIO_FACTORIES = ("lgpio", "rpigpio", "native", "mock")
BATTERY_BOARDS = ("none", "pisugar3")
_PHONE_NUMBER = re.compile(r"\+?[0-9]{3,20}")
# An APN is labels of letters, digits and hyphens joined by dots, at most 100 octets
# (3GPP TS 23.003, section 9.1).
_APN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def _device_id(text: str) -> str:
    try:
        return check_device_id(text, "device.id")
    except ProtocolError as exc:
        raise Invalid(exc.problem) from None


def _folder(text: str) -> Path:
    if not text:
        raise Invalid("must not be empty")
    return Path(text)


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def read(value: str) -> str:
        if value not in choices:
            raise Invalid(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return read


def _mqtt_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not url.startswith(f"{parts.scheme}://"):
        raise Invalid("must start with mqtt:// or mqtts://")
    try:
        parts.port  # noqa: B018 - raises for a port that is no number from 0 to 65535
    except ValueError:
        raise Invalid("has a bad port") from None
    if not parts.hostname:
        raise Invalid("has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise Invalid("must be mqtt[s]://host[:port] with no path or query")
    return url


def _none_if_empty(text: str) -> str | None:
    return text or None


def _path_or_none(text: str) -> Path | None:
    return Path(text) if text else None


def _buzzer(pin: int) -> int | None:
    if 0 < pin < MIN_GPIO:
        raise Invalid(f"must be 0 (none) or between {MIN_GPIO} and {MAX_GPIO}")
    return pin or None


def _none_if_zero(value: float) -> float | None:
    return value or None


def _apn(text: str) -> str | None:
    if text and (len(text) > 100 or not _APN.fullmatch(text)):
        raise Invalid("must be an APN: letters, digits and hyphens joined by dots, at most 100")
    return text or None


def _phone_number(number: str) -> str | None:
    if number and not _PHONE_NUMBER.fullmatch(number):
        raise Invalid("must be 3-20 digits with an optional +")
    return number or None


@dataclass(frozen=True)
class DeviceSettings:
    id: str = setting(
        str,
        None,
        "This device's id: the {id} in loneguard/v1/dev/{id}/...",
        required=True,
        read=_device_id,
    )
    data_dir: Path = setting(  # noqa: RUF009 - a field specifier, as dataclasses.field is
        str,
        "/var/lib/loneguard-device",
        "Folder for the outbox database (events not yet acknowledged, boot counter)",
        read=_folder,
    )
    mode: str = setting(
        str,
        "pocket",
        "pocket (a worn unit: hold check-in to start a session) or desk (hold to sign in/out)",
        read=_one_of(MODES),
    )

    @property
    def desk(self) -> bool:
        return self.mode == "desk"


@dataclass(frozen=True)
class MqttSettings:
    url: str = setting(
        str,
        "mqtt://127.0.0.1:1883",
        "Broker URL; mqtts:// uses TLS (default port 8883)",
        env="LONEGUARD_MQTT_URL",
        read=_mqtt_url,
    )
    # After loading, the user name and password in the URL when these are empty.
    username: str | None = setting(str, "", "Broker user name; empty for none")
    password: str | None = setting(
        str,
        "",
        "Broker password; better given in the environment",
        env="LONEGUARD_MQTT_PASSWORD",
        secret=True,
    )
    ca_file: Path | None = setting(  # noqa: RUF009 - a field specifier
        str,
        "",
        "CA certificate file for mqtts://; empty uses the system's trust store",
        read=_path_or_none,
    )
    keepalive: int = setting(
        int,
        30,
        "Seconds between MQTT pings; the broker sends the last will after 1.5 x this. Well "
        "under the idle timeouts of cellular carriers' NATs (minutes), so the connection over "
        "the modem is never dropped silently; a dead path is noticed within 2 x this",
        minimum=5,
        maximum=240,
    )
    reconnect_min_delay: int = setting(
        int, 1, "First wait (s) before reconnecting", minimum=1, maximum=60
    )
    reconnect_max_delay: int = setting(
        int,
        60,
        "Longest wait (s) between reconnect attempts (the wait doubles up to this)",
        minimum=1,
        maximum=3600,
    )

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts://")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


@dataclass(frozen=True)
class PinSettings:
    checkin: int = setting(
        int,
        _PIN_DEFAULTS["pins.checkin"],
        "BCM GPIO of the check-in button (to ground)",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    )
    panic: int = setting(
        int,
        _PIN_DEFAULTS["pins.panic"],
        "BCM GPIO of the panic button (to ground)",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    )
    led: int = setting(
        int,
        _PIN_DEFAULTS["pins.led"],
        "BCM GPIO of the status LED (active high)",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    )
    buzzer: int | None = setting(
        int,
        _PIN_DEFAULTS["pins.buzzer"],
        "BCM GPIO of the buzzer (active high); 0 for none",
        minimum=0,
        maximum=MAX_GPIO,
        read=_buzzer,
    )
    # After loading, None unless modem.pwrkey says it is wired.
    modem_pwrkey: int | None = setting(
        int,
        _PIN_DEFAULTS["pins.modem_pwrkey"],
        "BCM GPIO driving the modem's PWRKEY (through an NPN); used when modem.pwrkey is true",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    )
    # After loading, None unless modem.flight_pin says it is wired.
    modem_flight: int | None = setting(
        int,
        _PIN_DEFAULTS["pins.modem_flight"],
        "BCM GPIO of the modem board's flight-mode input (Waveshare SIM7600X HAT: GPIO4, high = "
        "flight mode), held low so the radio is on; used when modem.flight_pin is true",
        minimum=MIN_GPIO,
        maximum=MAX_GPIO,
    )


@dataclass(frozen=True)
class GpioSettings:
    factory: str = setting(
        str,
        "lgpio",
        "GPIO back-end (gpiozero pin factory): lgpio (the kernel's GPIO device; Raspberry Pi OS "
        "bookworm), rpigpio (RPi.GPIO or its rpi-lgpio shim), native (pure Python on "
        "/dev/gpiomem), or mock (no hardware: a unit on a desk with nothing wired)",
        read=_one_of(GPIO_FACTORIES),
    )


@dataclass(frozen=True)
class TimingSettings:
    hold_time: float = setting(
        float,
        3.0,
        "Seconds panic must be held to raise an alarm",
        minimum=0.5,
        maximum=10,
    )
    heartbeat_interval: float = setting(
        float, 30.0, "Seconds between heartbeats", minimum=5, maximum=3600
    )
    bounce_time: float | None = setting(
        float,
        0.02,
        "Seconds of contact bounce the GPIO driver ignores; 0 for none",
        minimum=0,
        maximum=0.5,
        read=_none_if_zero,
    )
    duress_gesture: str = setting(
        str,
        "chord",
        "The covert duress gesture: chord (hold panic, then press and release check-in before "
        "the panic hold completes) or off (no duress gesture on the unit)",
        read=_one_of(DURESS_GESTURES),
    )
    duress_lead: float = setting(
        float,
        0.25,
        "Seconds panic must already be held when check-in goes down for the chord to be a "
        "duress (a squeeze of both buttons at once is not)",
        minimum=0.05,
        maximum=1.5,
    )
    long_hold: float = setting(
        float,
        2.0,
        "Seconds check-in is held to start a session (pocket) or sign in/out (desk)",
        minimum=0.5,
        maximum=10,
    )
    step_window: float = setting(
        float,
        3.0,
        "After a session-start hold, each press within this many seconds adds a step",
        minimum=1,
        maximum=10,
    )


@dataclass(frozen=True)
class SessionSettings:
    preset_minutes: int = setting(
        int, 60, "Length of a session started from the device", minimum=1, maximum=1440
    )
    step_minutes: int = setting(
        int,
        30,
        "Minutes each further press adds to a session started from the device",
        minimum=1,
        maximum=480,
    )


@dataclass(frozen=True)
class DeskSettings:
    reminder_interval: int = setting(
        int,
        60,
        "Desk mode: minutes between check-in reminders while signed in; 0 for none",
        minimum=0,
        maximum=1440,
    )


@dataclass(frozen=True)
class OutboxSettings:
    max_events: int = setting(
        int,
        1000,
        "Most events kept unacknowledged; beyond it the oldest non-alarm events are dropped "
        "(panic and duress never are)",
        minimum=10,
        maximum=100000,
    )


@dataclass(frozen=True)
class ModemSettings:
    port: str | None = setting(
        str, "", "Serial port of the GSM modem; empty for none", read=_none_if_empty
    )
    pwrkey: bool = setting(
        bool,
        False,
        "Whether pins.modem_pwrkey is wired to the modem's PWRKEY, so recovering a hung modem "
        "can end with a power cycle; false when the modem board has its own power key",
    )
    flight_pin: bool = setting(
        bool,
        False,
        "Whether pins.modem_flight is wired to the modem board's flight-mode input (the "
        "Waveshare SIM7600X HAT's GPIO4), which the firmware then holds low",
    )
    gnss_max_age: float = setting(
        float,
        300.0,
        "Seconds a GNSS fix stays fresh enough to attach to a panic or duress (modems with "
        "GNSS: SIM7600, A7670); no location goes with any other event",
        minimum=10,
        maximum=86400,
    )


@dataclass(frozen=True)
class BatterySettings:
    board: str = setting(
        str,
        "none",
        "Battery board whose charge the heartbeat reports: none, or pisugar3 (PiSugar 3 on I2C)",
        read=_one_of(BATTERY_BOARDS),
    )
    i2c_bus: int = setting(
        int,
        1,
        "I2C bus of the battery board (/dev/i2c-N; GPIO2/3 are bus 1)",
        minimum=0,
        maximum=20,
    )


@dataclass(frozen=True)
class SmsSettings:
    hub_number: str | None = setting(
        str,
        "",
        "Phone number of the hub's modem for the SMS fallback of panic and duress; empty for none",
        read=_phone_number,
    )
    secret: str | None = setting(
        str,
        "",
        "Shared secret that signs the fallback SMS line; better given in the environment",
        env="LONEGUARD_SMS_SECRET",
        secret=True,
        read=_none_if_empty,
    )
    ack_timeout: float = setting(
        float,
        20.0,
        "Seconds without the hub's ack before a panic or duress also goes by SMS",
        minimum=1,
        maximum=600,
    )


@dataclass(frozen=True)
class CellularSettings:
    apn: str | None = setting(
        str,
        "",
        "Access point name of the data SIM; install/device.sh makes a NetworkManager gsm "
        "connection with it (Wi-Fi stays preferred); empty for no mobile data",
        read=_apn,
    )


@dataclass(frozen=True)
class Config:
    """The whole file: one field per TOML section, read as ``config.section.key``."""

    device: DeviceSettings
    mqtt: MqttSettings
    pins: PinSettings
    gpio: GpioSettings
    timing: TimingSettings
    session: SessionSettings
    desk: DeskSettings
    outbox: OutboxSettings
    modem: ModemSettings
    battery: BatterySettings
    sms: SmsSettings
    cellular: CellularSettings


_SECTION_TYPES: dict[str, type] = typing.get_type_hints(Config)
SECTIONS: tuple[str, ...] = tuple(f.name for f in fields(Config))
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(section, f.name, **f.metadata["setting"])
    for section in SECTIONS
    for f in fields(_SECTION_TYPES[section])
)
_BY_NAME = {s.name: s for s in SETTINGS}
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


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
            if f"{section}.{key}" in RETIRED:
                log.warning(
                    "%s.%s is no longer used: %s", section, key, RETIRED[f"{section}.{key}"]
                )
                continue
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
    if s.read is None:
        return value
    try:
        return s.read(value)
    except Invalid as exc:
        raise ConfigError(label, exc.problem) from None


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
    sections = {
        section: _SECTION_TYPES[section](
            **{s.key: v[s.name] for s in SETTINGS if s.section == section}
        )
        for section in SECTIONS
    }
    config = Config(**sections)
    return _check_together(config, labels)


def _check_together(config: Config, labels: dict[str, str]) -> Config:
    """The checks that involve more than one setting, and what one setting makes of another."""
    mqtt, pins = config.mqtt, config.pins
    if mqtt.ca_file and not mqtt.tls:
        raise ConfigError("mqtt.ca_file", "needs an mqtts:// mqtt.url")
    if mqtt.reconnect_min_delay > mqtt.reconnect_max_delay:
        raise ConfigError(
            "mqtt.reconnect_min_delay", "must not be more than mqtt.reconnect_max_delay"
        )
    if config.timing.duress_lead >= config.timing.hold_time:
        raise ConfigError(labels["timing.duress_lead"], "must be shorter than timing.hold_time")
    if config.sms.hub_number and not config.sms.secret:
        raise ConfigError(labels["sms.secret"], "is required when sms.hub_number is set")
    wired = {"modem_pwrkey": config.modem.pwrkey, "modem_flight": config.modem.flight_pin}
    used: dict[int, str] = {}
    for key in ("checkin", "panic", "led", "buzzer", "modem_pwrkey", "modem_flight"):
        pin = getattr(pins, key)
        if pin is None or not wired.get(key, True):
            continue
        if pin in used:
            raise ConfigError(f"pins.{key}", f"GPIO {pin} is already used by {used[pin]}")
        used[pin] = f"pins.{key}"
    # Credentials in the URL are accepted; the explicit settings win over them.
    parts = urlsplit(mqtt.url)
    username = mqtt.username or (unquote(parts.username) if parts.username else None)
    password = mqtt.password or (unquote(parts.password) if parts.password else None)
    return replace(
        config,
        mqtt=replace(mqtt, username=username or None, password=password or None),
        pins=replace(
            pins,
            modem_pwrkey=pins.modem_pwrkey if wired["modem_pwrkey"] else None,
            modem_flight=pins.modem_flight if wired["modem_flight"] else None,
        ),
    )


def example_toml() -> str:
    """A commented TOML file listing every setting with its default, bounds and help."""
    lines = ["# loneguard device configuration (loneguard-device --config FILE)"]
    section = ""
    for s in SETTINGS:
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
