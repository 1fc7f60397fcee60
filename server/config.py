"""The hub's settings as data: one table of name, default, help and bounds.

Settings are read from a TOML file (``LONEGUARD_CONFIG`` or ``--config``) and then overridden
by the environment (``LONEGUARD_MQTT_URL``, ``LONEGUARD_DB_URL``, ``LONEGUARD_HTTP``). Every
error names the section and key it is about; keys nobody declared are errors, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from loneguard.server.escalation.policy import (
    Policy,
    PolicyError,
    parse_duration,
    parse_policies,
    with_defaults,
)

CONFIG_ENV = "LONEGUARD_CONFIG"

# Sections other modules parse themselves ([policies] is server.policy's); the loader only checks
# that they are tables and hands them over untouched.
OPAQUE_SECTIONS = ("policies",)


class ConfigError(ValueError):
    """A setting that cannot be used; the message starts with ``section.key``."""


@dataclass(frozen=True)
class Setting:
    name: str  # "section.key"
    default: Any
    help: str
    type: type
    env: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "mqtt.url",
        "mqtt://127.0.0.1:1883",
        "Broker URL: `mqtt://[user:password@]host:port`, or `mqtts://` for TLS.",
        str,
        env="LONEGUARD_MQTT_URL",
    ),
    Setting(
        "mqtt.client_id",
        "loneguard-hub",
        "MQTT client id. Fixed, so the broker keeps the hub's session while it restarts. With "
        "several hubs each needs its own; it also names the hub in the leases it holds.",
        str,
        env="LONEGUARD_MQTT_CLIENT_ID",
    ),
    Setting(
        "mqtt.shared_group",
        "",
        "Receive device messages through the MQTT shared subscription `$share/GROUP/...`, so the "
        "hubs of one group split them: set the same group (e.g. `loneguard-hub`) on every hub "
        "sharing a PostgreSQL database. Empty: a plain subscription (one hub).",
        str,
    ),
    Setting("mqtt.keepalive", 30, "MQTT keepalive in seconds.", int, minimum=5, maximum=3600),
    Setting(
        "mqtt.reconnect_min",
        0.5,
        "Seconds to wait before the first reconnection attempt.",
        float,
        minimum=0.05,
        maximum=60,
    ),
    Setting(
        "mqtt.reconnect_max",
        30.0,
        "Longest wait in seconds between reconnection attempts (the backoff doubles up to it).",
        float,
        minimum=0.1,
        maximum=600,
    ),
    Setting(
        "db.url",
        "sqlite:///loneguard.db",
        "Database URL: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (one hub), "
        "or `postgresql://user:password@host:5432/dbname` (one hub or several sharing it).",
        str,
        env="LONEGUARD_DB_URL",
    ),
    Setting(
        "http.listen",
        "127.0.0.1:8080",
        "Address of the API and console: `host:port` (port 0 picks a free port).",
        str,
        env="LONEGUARD_HTTP",
    ),
    Setting(
        "ingest.max_in_flight",
        10_000,
        "Messages being stored at once before the hub stops reading from the broker.",
        int,
        minimum=1,
        maximum=1_000_000,
    ),
    Setting(
        "sessions.grace",
        "5m",
        "How long after a session falls due (a visit's expected end, a shift's check-in) the "
        "worker has before the alarm opens: a duration such as `90s`, `5m`, `1h`.",
        str,
    ),
    Setting(
        "sessions.prealert",
        "5m",
        "How long before a session falls due the device is warned (buzz and blink) so the "
        "worker can check in or extend; `0s` sends no warning.",
        str,
    ),
    Setting(
        "sessions.offline_after",
        "90s",
        "A device in a session that sends no heartbeat for this long (3 heartbeats) opens a "
        "`device_offline` alarm, as does its last will.",
        str,
    ),
    Setting(
        "escalation.admins",
        [],
        'The office team for the `admins` role: a list of `"Name: +447700900123"` entries, '
        'or `"worker:<id>"` for a worker\'s own record (their mobile and apprise URLs).',
        list,
    ),
    Setting(
        "escalation.on_call",
        [],
        "Who is on call for the `on_call` role; entries as for `escalation.admins`.",
        list,
    ),
    Setting(
        "devices.require_provisioned",
        False,
        "Refuse messages from a device that `loneguard-hub devices provision` never made "
        "(dead-lettered as `device not provisioned`). Revoked devices are always refused.",
        bool,
    ),
    Setting(
        "modem.port",
        "",
        "Serial port of the hub's GSM modem (e.g. `/dev/ttyUSB2`) for alarm SMS, `ACK <id>` "
        "replies and the devices' SMS fallback; empty: no modem.",
        str,
    ),
    Setting(
        "console.session_hours",
        12.0,
        "How long a console login lasts, in hours.",
        float,
        minimum=0.1,
        maximum=24 * 30,
    ),
    Setting(
        "console.cookie_secure",
        False,
        "Mark the console's login cookie Secure (sent over HTTPS only): set it when the hub is "
        "served behind HTTPS.",
        bool,
    ),
    Setting(
        "console.visit_retention_days",
        0,
        "Days after a visit ends before its address, contact and visit record are purged; "
        "`0` keeps them.",
        int,
        minimum=0,
        maximum=36500,
    ),
    Setting(
        "console.max_login_failures",
        5,
        "Failed console logins allowed per user name and per address in 15 minutes; further "
        "tries are refused until the oldest failure is 15 minutes old.",
        int,
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "cluster.lease",
        30.0,
        "PostgreSQL only: seconds a hub's claim on a due session deadline or an open alarm's "
        "ladder lasts unless renewed (every third of it). A hub that dies loses its claims after "
        "this long and another hub carries on with the work.",
        float,
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "cluster.poll",
        2.0,
        "PostgreSQL only: seconds between each hub's sweeps for due deadlines and open alarms "
        "that no live hub holds (how a dead hub's work is found). Shorter than `cluster.lease`.",
        float,
        minimum=0.1,
        maximum=600,
    ),
    Setting(
        "log.level",
        "info",
        "Log level.",
        str,
        choices=("debug", "info", "warning", "error"),
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:  # never shows the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


@dataclass(frozen=True)
class DbUrl:
    scheme: str  # "sqlite" or "postgresql"
    path: str  # the file for sqlite, the full URL for postgresql

    def __str__(self) -> str:
        return f"sqlite:///{self.path}" if self.scheme == "sqlite" else "postgresql://…"


@dataclass(frozen=True)
class HttpListen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_mqtt_url(text: str, name: str = "mqtt.url") -> MqttUrl:
    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"{name}: must start with mqtt:// or mqtts://")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{name}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ConfigError(f"{name}: has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{name}: must be scheme://[user:password@]host:port and nothing more")
    tls = parts.scheme == "mqtts"
    return MqttUrl(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def parse_db_url(text: str, name: str = "db.url") -> DbUrl:
    if text.startswith("sqlite:///"):
        path = text[len("sqlite:///") :]
        if not path:
            raise ConfigError(f"{name}: sqlite:/// needs a file path")
        return DbUrl("sqlite", path)
    if text.startswith(("postgresql://", "postgres://")):
        return DbUrl("postgresql", text)
    raise ConfigError(f"{name}: must be sqlite:///path or postgresql://...")


def parse_listen(text: str, name: str = "http.listen") -> HttpListen:
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise ConfigError(f"{name}: must be host:port, got {text[:60]!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{name}: the port must be a number from 0 to 65535")
    return HttpListen(host, int(port_text))


def parse_seconds(text: str, name: str) -> float:
    try:
        return parse_duration(text, name)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None


_GROUP = re.compile(r"[A-Za-z0-9_-]{0,64}")


def parse_shared_group(text: str, name: str = "mqtt.shared_group") -> str:
    if not _GROUP.fullmatch(text):
        raise ConfigError(f"{name}: must be letters, digits, - and _ only (at most 64), or empty")
    return text


@dataclass(frozen=True)
class Person:
    """Someone a ladder role names: a configured number, or a reference to a worker's record."""

    name: str
    phone: str | None = field(default=None, repr=False)
    worker_id: str | None = None


_PHONE = re.compile(r"\+?[0-9][0-9 ]{5,19}")


def parse_people(value: list[Any], name: str) -> tuple[Person, ...]:
    people = []
    for i, item in enumerate(value):
        key = f"{name}[{i}]"
        if not isinstance(item, str):
            raise ConfigError(f'{key}: must be a string like "Name: +447700900123"')
        if item.startswith("worker:"):
            worker_id = item[len("worker:") :].strip()
            if not worker_id:
                raise ConfigError(f"{key}: worker: needs a worker id")
            people.append(Person(worker_id, None, worker_id))
            continue
        person, sep, phone = item.rpartition(":")
        phone = phone.strip()
        if not sep or not person.strip() or not _PHONE.fullmatch(phone):
            raise ConfigError(f'{key}: must be "Name: +447700900123" or "worker:<id>"')
        people.append(Person(person.strip(), phone.replace(" ", "")))
    return tuple(people)


# Settings whose text has a structure of its own, checked as soon as they are read.
_PARSERS: dict[str, Callable[[Any, str], object]] = {
    "mqtt.url": parse_mqtt_url,
    "db.url": parse_db_url,
    "http.listen": parse_listen,
    "sessions.grace": parse_seconds,
    "sessions.prealert": parse_seconds,
    "sessions.offline_after": parse_seconds,
    "mqtt.shared_group": parse_shared_group,
    "escalation.admins": parse_people,
    "escalation.on_call": parse_people,
}


@dataclass(frozen=True)
class HubConfig:
    mqtt: MqttUrl
    mqtt_client_id: str
    mqtt_keepalive: int
    reconnect_min: float
    reconnect_max: float
    db: DbUrl
    http: HttpListen
    max_in_flight: int
    log_level: str
    values: Mapping[str, Any]  # every setting by "section.key", after overrides
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # OPAQUE_SECTIONS
    policies: Mapping[str, Policy] = field(default_factory=dict)  # defaults + [policies]
    grace_s: int = 300
    prealert_s: int = 300
    offline_after_s: float = 90.0
    admins: tuple[Person, ...] = ()
    on_call: tuple[Person, ...] = ()
    modem_port: str | None = None
    require_provisioned: bool = False
    shared_group: str = ""
    lease_s: float = 30.0
    poll_s: float = 2.0

    def with_values(self, overrides: Mapping[str, Any]) -> HubConfig:
        """A copy with some settings changed, by "section.key" name (for tests and tools)."""
        for name, value in overrides.items():
            if name not in SETTINGS_BY_NAME:
                raise ConfigError(f"{name}: unknown key")
            _check(SETTINGS_BY_NAME[name], value, "")
        return _build({**self.values, **overrides}, self.sections)


def _check(setting: Setting, raw: object, where: str) -> Any:
    name = f"{setting.name}{where}"
    value: Any = raw
    if setting.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and setting.type is not bool:
        raise ConfigError(f"{name}: must be {setting.type.__name__}, got a boolean")
    if not isinstance(raw, setting.type) and not isinstance(value, setting.type):
        raise ConfigError(f"{name}: must be {setting.type.__name__}, got {type(value).__name__}")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"{name}: must be at least {setting.minimum}, got {value}")
    if setting.maximum is not None and value > setting.maximum:
        raise ConfigError(f"{name}: must be at most {setting.maximum}, got {value}")
    if setting.choices is not None and value not in setting.choices:
        raise ConfigError(f"{name}: must be one of {', '.join(setting.choices)}, got {value!r}")
    parser = _PARSERS.get(setting.name)
    if parser is not None:
        parser(value, name)
    return value


def _from_text(setting: Setting, text: str) -> Any:
    if setting.type is str:
        return text
    try:
        return setting.type(text)
    except ValueError:
        raise ConfigError(
            f"{setting.name} (from {setting.env}): must be {setting.type.__name__}"
        ) from None


def _flatten(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Mapping[str, Any]]]:
    known_sections = {s.section for s in SETTINGS}
    values: dict[str, Any] = {}
    opaque: dict[str, Mapping[str, Any]] = {}
    for section, table in data.items():
        if section in OPAQUE_SECTIONS:
            if not isinstance(table, dict):
                raise ConfigError(f"{section}: must be a table")
            opaque[section] = table
            continue
        if section not in known_sections:
            raise ConfigError(f"{section}: unknown section")
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: must be a table, like [{section}]")
        for key, value in table.items():
            name = f"{section}.{key}"
            if name not in SETTINGS_BY_NAME:
                raise ConfigError(f"{name}: unknown key")
            values[name] = _check(SETTINGS_BY_NAME[name], value, "")
    return values, opaque


def _build(values: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]]) -> HubConfig:
    full = {s.name: values.get(s.name, s.default) for s in SETTINGS}
    for s in SETTINGS:
        _check(s, full[s.name], "")
    if full["mqtt.reconnect_max"] < full["mqtt.reconnect_min"]:
        raise ConfigError("mqtt.reconnect_max: must not be less than mqtt.reconnect_min")
    lease_s, poll_s = full["cluster.lease"], full["cluster.poll"]
    if poll_s >= lease_s:
        raise ConfigError("cluster.poll: must be shorter than cluster.lease")
    try:
        policies = with_defaults(parse_policies(sections.get("policies", {})))
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    return HubConfig(
        mqtt=parse_mqtt_url(full["mqtt.url"]),
        mqtt_client_id=full["mqtt.client_id"],
        mqtt_keepalive=full["mqtt.keepalive"],
        reconnect_min=full["mqtt.reconnect_min"],
        reconnect_max=full["mqtt.reconnect_max"],
        db=parse_db_url(full["db.url"]),
        http=parse_listen(full["http.listen"]),
        max_in_flight=full["ingest.max_in_flight"],
        log_level=full["log.level"],
        values=full,
        sections=dict(sections),
        policies=policies,
        grace_s=int(parse_seconds(full["sessions.grace"], "sessions.grace")),
        prealert_s=int(parse_seconds(full["sessions.prealert"], "sessions.prealert")),
        offline_after_s=parse_seconds(full["sessions.offline_after"], "sessions.offline_after"),
        admins=parse_people(full["escalation.admins"], "escalation.admins"),
        on_call=parse_people(full["escalation.on_call"], "escalation.on_call"),
        modem_port=full["modem.port"] or None,
        require_provisioned=full["devices.require_provisioned"],
        shared_group=full["mqtt.shared_group"],
        lease_s=lease_s,
        poll_s=poll_s,
    )


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> HubConfig:
    """Defaults, then the TOML file (``path``, else ``$LONEGUARD_CONFIG``), then the environment."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get(CONFIG_ENV) or None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    values, sections = _flatten(data)
    for setting in SETTINGS:
        if setting.env and env.get(setting.env):
            value = _from_text(setting, env[setting.env])
            values[setting.name] = _check(setting, value, f" (from {setting.env})")
    return _build(values, sections)


def settings_markdown() -> str:
    """The settings table as Markdown, for docs/configuration.md (a test keeps them equal)."""
    lines = [
        "| setting | default | environment | description |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = f'`"{s.default}"`' if isinstance(s.default, str) else f"`{s.default}`"
        if isinstance(s.default, bool):
            default = f"`{str(s.default).lower()}`"  # as written in TOML
        bounds = []
        if s.minimum is not None:
            bounds.append(f"at least {s.minimum}")
        if s.maximum is not None:
            bounds.append(f"at most {s.maximum}")
        if s.choices:
            bounds.append("one of " + ", ".join(f"`{c}`" for c in s.choices))
        text = s.help + (f" ({'; '.join(bounds)})" if bounds else "")
        env = f"`{s.env}`" if s.env else ""
        lines.append(f"| `{s.name}` | {default} | {env} | {text} |")
    return "\n".join(lines) + "\n"
