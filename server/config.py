"""The hub's settings, each declared once: a pydantic model per TOML section.

Settings are read from a TOML file (``LONEGUARD_CONFIG`` or ``--config``) and then overridden
by the environment (``LONEGUARD_MQTT_URL``, ``LONEGUARD_DB_URL``, ``LONEGUARD_HTTP``, ...). Every
error names the section and key it is about; keys nobody declared are errors, so a typo never
silently falls back to a default. ``SETTINGS`` lists the declarations for the docs and tests.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import PrivateAttr, ValidationError, ValidationInfo, model_validator
from pydantic_core import ErrorDetails

from loneguard.server.arc.arc_settings import ArcSettings
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.escalation.policy import (
    Policy,
    PolicyError,
    parse_duration,
    parse_policies,
    with_defaults,
)
from loneguard.server.http_guard import DEFAULT_MAX_BODY_BYTES, Network, parse_networks
from loneguard.server.outreach.outreach_settings import (
    CalendarSettings,
    DeliveryManagerSettings,
    SignalSettings,
)
from loneguard.server.phone import PhoneNumber, PhoneNumberError, is_region
from loneguard.server.sessions.shift_types import (
    ShiftType,
    ShiftTypeError,
    parse_shift_types,
)
from loneguard.server.sessions.shift_types import with_defaults as with_default_shift_types
from loneguard.server.settings_schema import (
    Parsed,
    Setting,
    SettingsModel,
    ValueProblem,
    kind_of,
    setting,
    settings_of,
)

CONFIG_ENV = "LONEGUARD_CONFIG"


class ConfigError(ValueError):
    """A setting that cannot be used; the message starts with ``section.key``."""


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


@dataclass(frozen=True)
class Person:
    """Someone a ladder role names: a configured number, or a reference to a worker's record."""

    name: str
    phone: str | None = field(default=None, repr=False)
    worker_id: str | None = None


def _mqtt_url(text: str) -> MqttUrl:
    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueProblem("must start with mqtt:// or mqtts://")
    try:
        port = parts.port
    except ValueError:
        raise ValueProblem("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueProblem("has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueProblem("must be scheme://[user:password@]host:port and nothing more")
    tls = parts.scheme == "mqtts"
    return MqttUrl(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def parse_mqtt_url(text: str, name: str = "mqtt.url") -> MqttUrl:
    """``_mqtt_url`` for a URL given elsewhere than the config (``name`` says where)."""
    try:
        return _mqtt_url(text)
    except ValueProblem as problem:
        raise ConfigError(f"{name}: {problem.problem}") from None


def _db_url(text: str) -> DbUrl:
    if text.startswith("sqlite:///"):
        path = text[len("sqlite:///") :]
        if not path:
            raise ValueProblem("sqlite:/// needs a file path")
        return DbUrl("sqlite", path)
    if text.startswith(("postgresql://", "postgres://")):
        return DbUrl("postgresql", text)
    raise ValueProblem("must be sqlite:///path or postgresql://...")


def _http_listen(text: str) -> HttpListen:
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise ValueProblem(f"must be host:port, got {text[:60]!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueProblem("the port must be a number from 0 to 65535")
    return HttpListen(host, int(port_text))


def _networks(entries: list[Any]) -> tuple[Network, ...]:
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise ValueProblem(f"must be a string, got {kind_of(entry)}", f"[{i}]")
        try:
            parse_networks([entry])
        except ValueError:
            raise ValueProblem(f"{entry[:60]!r} is not an address or network", f"[{i}]") from None
    return parse_networks(entries)


def _seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except PolicyError as exc:
        raise ValueProblem(exc.problem) from None


def _whole_seconds(text: str) -> int:
    return int(_seconds(text))


_GROUP = re.compile(r"[A-Za-z0-9_-]{0,64}")


def _shared_group(text: str) -> str:
    if not _GROUP.fullmatch(text):
        raise ValueProblem("must be letters, digits, - and _ only (at most 64), or empty")
    return text


def _people(entries: list[Any]) -> tuple[Person, ...]:
    """Names and numbers as written; ``HubConfig`` reads the numbers in its default region."""
    found = []
    for i, item in enumerate(entries):
        if not isinstance(item, str):
            raise ValueProblem('must be a string like "Name: +447700900123"', at=f"[{i}]")
        if item.startswith("worker:"):
            worker_id = item[len("worker:") :].strip()
            if not worker_id:
                raise ValueProblem("worker: needs a worker id", at=f"[{i}]")
            found.append(Person(worker_id, None, worker_id))
            continue
        person, sep, phone = item.rpartition(":")
        if not sep or not person.strip() or not phone.strip():
            raise ValueProblem('must be "Name: +447700900123" or "worker:<id>"', at=f"[{i}]")
        found.append(Person(person.strip(), phone.strip()))
    return tuple(found)


def _shift_types(table: dict[str, Any]) -> dict[str, ShiftType]:
    try:
        return with_default_shift_types(parse_shift_types(table))
    except ShiftTypeError as exc:
        raise ConfigError(str(exc)) from None


def _region(text: str) -> str:
    if not is_region(text):
        raise ValueProblem(f"{text[:8]!r} is not a region code like GB, IE or DE")
    return text


def _console_url(text: str) -> str:
    parts = urlsplit(text)
    if text and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueProblem("must be an http:// or https:// URL, or empty")
    return text.rstrip("/")


def _timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueProblem(f"{text[:40]!r} is not a time zone like Europe/London") from None
    return text


def _policies(table: dict[str, Any]) -> dict[str, Policy]:
    # A PolicyError already names its full key (policies.NAME....): it is reported as it is.
    return with_defaults(parse_policies(table))


class MqttSettings(SettingsModel):
    url: Annotated[MqttUrl, Parsed(str, _mqtt_url)] = setting(
        "mqtt://127.0.0.1:1883",
        "Broker URL: `mqtt://[user:password@]host:port`, or `mqtts://` for TLS.",
        env="LONEGUARD_MQTT_URL",
    )
    client_id: str = setting(
        "loneguard-hub",
        "MQTT client id. Fixed, so the broker keeps the hub's session while it restarts. With "
        "several hubs each needs its own; it also names the hub in the leases it holds.",
        env="LONEGUARD_MQTT_CLIENT_ID",
    )
    shared_group: Annotated[str, Parsed(str, _shared_group)] = setting(
        "",
        "Receive device messages through the MQTT shared subscription `$share/GROUP/...`, so the "
        "hubs of one group split them: set the same group (e.g. `loneguard-hub`) on every hub "
        "sharing a PostgreSQL database. Empty: a plain subscription (one hub).",
    )
    keepalive: int = setting(30, "MQTT keepalive in seconds.", ge=5, le=3600)
    demo: bool = setting(
        False,
        "This hub is a demo (or a test): start even on a broker that lets clients connect "
        "without a login. Without it the hub checks at start, with an anonymous connection, "
        "and refuses to run on such a broker, where anyone could send messages as any device.",
        env="LONEGUARD_MQTT_DEMO",
    )
    reconnect_min: float = setting(
        0.5, "Seconds to wait before the first reconnection attempt.", ge=0.05, le=60
    )
    reconnect_max: float = setting(
        30.0,
        "Longest wait in seconds between reconnection attempts (the backoff doubles up to it).",
        ge=0.1,
        le=600,
    )

    @model_validator(mode="after")
    def _backoff_grows(self) -> MqttSettings:
        if self.reconnect_max < self.reconnect_min:
            raise ValueProblem("must not be less than mqtt.reconnect_min", at=".reconnect_max")
        return self


class DbSettings(SettingsModel):
    url: Annotated[DbUrl, Parsed(str, _db_url)] = setting(
        "sqlite:///loneguard.db",
        "Database URL: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (one hub), "
        "or `postgresql://user:password@host:5432/dbname` (one hub or several sharing it).",
        env="LONEGUARD_DB_URL",
    )


class HttpSettings(SettingsModel):
    listen: Annotated[HttpListen, Parsed(str, _http_listen)] = setting(
        "127.0.0.1:8080",
        "Address of the API and console: `host:port` (port 0 picks a free port).",
        env="LONEGUARD_HTTP",
    )
    trusted_proxies: Annotated[tuple[Network, ...], Parsed(list, _networks)] = setting(
        [],
        'Reverse proxies in front of the hub, as addresses or networks (`["127.0.0.1"]`). '
        "Only from these is `X-Forwarded-For` (the client's address, for login limits and the "
        "audit log) and `X-Forwarded-Proto` (HTTPS, for the Secure cookie) believed; from "
        "anyone else they are ignored.",
    )
    max_body_bytes: int = setting(
        DEFAULT_MAX_BODY_BYTES,
        "Largest request body the hub reads, in bytes; a larger one is refused (413) before it "
        "is parsed.",
        ge=1024,
        le=64 * 1024 * 1024,
    )


class IngestSettings(SettingsModel):
    max_in_flight: int = setting(
        10_000,
        "Messages being stored at once; more wait in the hub's memory, in the order they came."
        " A panic or duress never waits for this: it is stored and acked ahead of the rest.",
        ge=1,
        le=1_000_000,
    )
    heartbeat_flush: Annotated[float, Parsed(str, _seconds)] = setting(
        "2s",
        "How often the devices' heartbeats (last seen, signal, battery) held in memory are "
        "written, all devices heard since the last time in one batch: the devices pages are at "
        "most this old, and after a crash a `device_offline` alarm may open this much late. "
        "Keep it well below `sessions.offline_after`.",
    )


class SessionSettings(SettingsModel):
    """Durations, in seconds once loaded."""

    grace: Annotated[int, Parsed(str, _whole_seconds)] = setting(
        "5m",
        "How long after a session falls due (a visit's expected end, a shift's check-in) the "
        "worker has before the alarm opens: a duration such as `90s`, `5m`, `1h`.",
    )
    prealert: Annotated[int, Parsed(str, _whole_seconds)] = setting(
        "5m",
        "How long before a session falls due the device is warned (buzz and blink) so the "
        "worker can check in or extend; `0s` sends no warning.",
    )
    offline_after: Annotated[float, Parsed(str, _seconds)] = setting(
        "90s",
        "A device in a session that sends no heartbeat for this long (3 heartbeats) opens a "
        "`device_offline` alarm, as does its last will.",
    )


class EscalationSettings(SettingsModel):
    admins: Annotated[tuple[Person, ...], Parsed(list, _people)] = setting(
        [],
        'The office team for the `admins` role: a list of `"Name: +447700900123"` entries, '
        'or `"worker:<id>"` for a worker\'s own record (their mobile and apprise URLs).',
    )
    on_call: Annotated[tuple[Person, ...], Parsed(list, _people)] = setting(
        [],
        "Who is on call for the `on_call` role; entries as for `escalation.admins`.",
    )
    send_slots: int = setting(
        16,
        "Notifications each channel (apprise, SMS, ...) sends at once; more wait, a panic or "
        "duress alarm's ahead of the others.",
        env="LONEGUARD_ESCALATION_SEND_SLOTS",
        ge=1,
        le=256,
    )


class PhonesSettings(SettingsModel):
    default_region: Annotated[str, Parsed(str, _region)] = setting(
        "GB",
        "Where a phone number written nationally (`07700 900123`) is read: a region code such as "
        "`GB`, `IE` or `DE`. Every number (API, console, config) is kept in E.164 form "
        "(`+447700900123`).",
    )


class MessagesSettings(SettingsModel):
    console_url: Annotated[str, Parsed(str, _console_url)] = setting(
        "",
        "The console's address as responders reach it (e.g. `https://hub.example.org`): alarm "
        "messages link to `<console_url>/console/alarms/<id>`. Empty: messages carry no link.",
    )
    timezone: Annotated[str, Parsed(str, _timezone)] = setting(
        "Europe/London",
        "The time zone of the times in alarm messages (`overdue since 14:05`).",
    )
    sms_max_parts: int = setting(
        3,
        "The most SMS parts one alarm message may take (each part holds 153 GSM characters, or "
        "67 when a name needs UCS-2); a longer message is shortened, its guidance first.",
        ge=1,
        le=10,
    )


class DevicesSettings(SettingsModel):
    require_provisioned: bool = setting(
        True,
        "Refuse messages from a device that `loneguard-hub devices provision` never made "
        "(dead-lettered as `device not provisioned`). Revoked devices are always refused. Set "
        "it false only for a demo or tests with simulated devices.",
        env="LONEGUARD_REQUIRE_PROVISIONED",
    )


class ModemSettings(SettingsModel):
    port: str = setting(
        "",
        "Serial port of the hub's GSM modem (e.g. `/dev/ttyUSB2`) for alarm SMS, `ACK <id>` "
        "replies and the devices' SMS fallback; empty: no modem.",
    )
    calls: bool = setting(
        True,
        "Whether the hub's modem rings the people of a `call` step (SIM7600 or A7670 with a "
        "voice SIM); false, or no modem: each `call` step becomes a task on the alarm's console "
        "page for a person to ring and record.",
    )
    ring_time: float = setting(
        45.0,
        "Seconds a `call` rings before the hub hangs up and records no answer. One call at a "
        "time uses the modem, so this bounds how long the next call waits.",
        ge=10,
        le=120,
    )
    listen_time: float = setting(
        30.0,
        "Seconds after the alarm is spoken that the hub listens for the person to press 1 "
        "(take charge) before it hangs up.",
        ge=5,
        le=120,
    )


class ClusterSettings(SettingsModel):
    lease: float = setting(
        30.0,
        "PostgreSQL only: seconds a hub's claim on a due session deadline or an open alarm's "
        "ladder lasts unless renewed (every third of it). A hub that dies loses its claims after "
        "this long and another hub carries on with the work.",
        ge=1,
        le=3600,
    )
    poll: float = setting(
        2.0,
        "PostgreSQL only: seconds between each hub's sweeps for due deadlines and open alarms "
        "that no live hub holds (how a dead hub's work is found). Shorter than `cluster.lease`.",
        ge=0.1,
        le=600,
    )

    @model_validator(mode="after")
    def _poll_within_lease(self) -> ClusterSettings:
        if self.poll >= self.lease:
            raise ValueProblem("must be shorter than cluster.lease", at=".poll")
        return self


class LogSettings(SettingsModel):
    level: Literal["debug", "info", "warning", "error"] = setting("info", "Log level.")


class HubConfig(SettingsModel):
    """The whole TOML file: one field per section, read as ``config.section.key``."""

    mqtt: MqttSettings = MqttSettings()
    db: DbSettings = DbSettings()
    http: HttpSettings = HttpSettings()
    ingest: IngestSettings = IngestSettings()
    sessions: SessionSettings = SessionSettings()
    escalation: EscalationSettings = EscalationSettings()
    phones: PhonesSettings = PhonesSettings()
    messages: MessagesSettings = MessagesSettings()
    devices: DevicesSettings = DevicesSettings()
    modem: ModemSettings = ModemSettings()
    console: ConsoleSettings = ConsoleSettings()
    cluster: ClusterSettings = ClusterSettings()
    delivery_manager: DeliveryManagerSettings = DeliveryManagerSettings()
    calendar: CalendarSettings = CalendarSettings()
    signal: SignalSettings = SignalSettings()
    arc: ArcSettings = ArcSettings()
    log: LogSettings = LogSettings()
    # Parsed by server.escalation.policy, not declared here: the shipped defaults plus the file's.
    policies: Annotated[dict[str, Policy], Parsed(dict, _policies)] = {}
    # Parsed by server.sessions.shift_types: the shipped types plus the file's.
    shift_types: Annotated[dict[str, ShiftType], Parsed(dict, _shift_types)] = {}
    # The file and environment as read, so with_values can change some settings and check again.
    _document: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _shift_policies_exist(self) -> HubConfig:
        for shift in self.shift_types.values():
            if shift.policy not in self.policies:
                raise ConfigError(
                    f"shift_types.{shift.name}.policy: no escalation policy {shift.policy!r}"
                )
        return self

    @model_validator(mode="after")
    def _keep_document(self, info: ValidationInfo) -> HubConfig:
        self._document = (info.context or {}).get("document", {})
        return self

    @model_validator(mode="after")
    def _numbers_in_region(self) -> HubConfig:
        """The configured people's numbers in E.164, read in ``phones.default_region``."""
        region = self.phones.default_region
        for group in ("admins", "on_call"):
            people = getattr(self.escalation, group)
            read = []
            for i, person in enumerate(people):
                if person.phone is not None:
                    try:
                        number = PhoneNumber.parse(person.phone, region, field="phone")
                    except PhoneNumberError as exc:
                        raise ValueProblem(exc.problem, at=f"escalation.{group}[{i}]") from None
                    person = Person(person.name, number, person.worker_id)
                read.append(person)
            object.__setattr__(self.escalation, group, tuple(read))
        return self

    @property
    def values(self) -> dict[str, Any]:
        """Every setting by "section.key", as written in TOML, after the environment."""
        return {s.name: self._document.get(s.section, {}).get(s.key, s.default) for s in SETTINGS}

    def with_values(self, overrides: Mapping[str, Any]) -> HubConfig:
        """A copy with some settings changed, by "section.key" name (for tests and tools)."""
        document = {section: dict(table) for section, table in self._document.items()}
        for name, value in overrides.items():
            if name not in SETTINGS_BY_NAME:
                raise ConfigError(f"{name}: unknown key")
            section, key = name.split(".", 1)
            document.setdefault(section, {})[key] = value
        return _validate(document, {})


SECTIONS: dict[str, type[SettingsModel]] = {
    name: info.annotation
    for name, info in HubConfig.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, SettingsModel)
}
SETTINGS: tuple[Setting, ...] = tuple(
    row for section, model in SECTIONS.items() for row in settings_of(section, model)
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
# Sections other modules parse themselves: the loader only hands them over.
OPAQUE_SECTIONS: tuple[str, ...] = tuple(n for n in HubConfig.model_fields if n not in SECTIONS)


def _validate(document: dict[str, Any], origins: Mapping[str, str]) -> HubConfig:
    """``document`` checked as a HubConfig; ``origins`` names the variable a setting came from."""
    try:
        return HubConfig.model_validate(document, context={"document": document})
    except ValidationError as exc:
        raise _config_error(exc.errors()[0], origins) from None


def _config_error(error: ErrorDetails, origins: Mapping[str, str]) -> ConfigError:
    name = ".".join(str(part) for part in error["loc"])
    kind, value, ctx = error["type"], error["input"], error.get("ctx", {})
    if kind == "extra_forbidden":
        return ConfigError(f"{name}: unknown {'key' if '.' in name else 'section'}")
    if kind == "model_type":
        return ConfigError(f"{name}: must be a table, like [{name}]")
    declared = SETTINGS_BY_NAME.get(name)
    if kind == "value_error":
        cause = ctx["error"]
        if not isinstance(cause, ValueProblem):
            return ConfigError(str(cause))
        name, problem = name + cause.at, cause.problem
    elif kind == "greater_than_equal":
        problem = f"must be at least {ctx['ge']}, got {value}"
    elif kind == "less_than_equal":
        problem = f"must be at most {ctx['le']}, got {value}"
    elif kind == "literal_error" and declared and declared.choices:
        problem = f"must be one of {', '.join(declared.choices)}, got {value!r}"
    elif declared:
        problem = f"must be {declared.type.__name__}, got {kind_of(value)}"
    else:
        problem = error["msg"]
    where = f" (from {origins[name]})" if name in origins else ""
    return ConfigError(f"{name}{where}: {problem}")


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _from_text(setting: Setting, text: str) -> Any:
    if setting.type is str:
        return text
    if setting.type is bool:  # bool("false") is True: read the word instead
        if text.strip().lower() not in _BOOLEANS:
            raise ConfigError(f"{setting.name} (from {setting.env}): must be true or false")
        return _BOOLEANS[text.strip().lower()]
    try:
        return setting.type(text)
    except ValueError:
        raise ConfigError(
            f"{setting.name} (from {setting.env}): must be {setting.type.__name__}"
        ) from None


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> HubConfig:
    """Defaults, then the TOML file (``path``, else ``$LONEGUARD_CONFIG``), then the environment."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get(CONFIG_ENV) or None
    document: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                document = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    origins: dict[str, str] = {}
    for s in SETTINGS:
        if s.env and env.get(s.env):
            table = document.setdefault(s.section, {})
            if isinstance(table, dict):  # else validation says the section must be a table
                table[s.key] = _from_text(s, env[s.env])
                origins[s.name] = s.env
    return _validate(document, origins)


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
