"""Escalation policies as data: named ladders of steps, read from the hub's TOML config.

A policy says who is told, how, and when, counted from the moment an alarm starts::

    [policies.overdue]
    [[policies.overdue.steps]]
    after = "0s"
    notify = ["worker"]
    channels = ["console", "call", "sms"]
    message = "Visit overdue: ring the worker's mobile."

Durations are strings ("30s", "5m", "1h30m"), never bare numbers, so nobody has to guess whether
``5`` meant seconds or minutes, and tests and demos can use seconds. Every error names the exact
key (``policies.overdue.steps[2].after``; step indices count from 0, as in the ladder's keys).

Nothing here reads a clock or does I/O after import (the shipped defaults are read once, from
``shipped_policies.toml``): ``ladder`` turns a policy into actions.

Roles (``notify``):
  ``worker``, ``visit_contact`` (the contact on the visit form), ``worker_home`` (the worker's
  home phone), ``line_manager``, ``admins``, ``on_call``, or a named person as ``person:<name>``.
  A role that resolves to nobody for an alarm (a shift has no visit contact) is the notifier's
  to skip and record; the ladder's timing does not change.
Messages:
  ``message`` says what the people told should do now. The hub frames it with the alarm's facts
  (who, where, since when, how to take charge: ``notify.messages``), and it may name those facts
  itself as placeholders: ``{worker}``, ``{worker_mobile}``, ``{worker_home}``, ``{address}``,
  ``{location}``,
  ``{contact}``, ``{contact_phone}``, ``{since}``, ``{alarm}`` and ``{ack}`` (``PLACEHOLDERS``);
  ``{{`` and ``}}`` are literal braces. Any other placeholder is an error when the policy loads.
  Messages to the worker are the hub's own ("You are overdue from ..."), and so are those to the
  visit contact and the worker's home (a short request for news): the step's message is for the
  responders.
Channels:
  ``console`` (a task on the admin console; needs nobody in ``notify``), ``sms`` (GSM modem),
  ``call`` (a phone call: the hub's modem rings, speaks the alarm and takes "press 1" as taking
  charge; without a modem that can ring, a task on the alarm's console page for a person),
  ``apprise`` (the configured apprise URLs of the people notified), ``arc`` (the Alarm
  Receiving Centre over SIA DC-09: ONE message per alarm, however often its step repeats and
  whoever it notifies, so one step of a policy names it, and a repeating one with another
  channel; needs nobody in ``notify``). Without an ARC configured (``arc.primary``), ``arc`` in
  the shipped policies is skipped without a word; in a policy from the hub's config it is a
  channel not configured, like ``sms`` without a modem (``uses_arc_explicitly``).
"""

from __future__ import annotations

import re
import string
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

ROLES: Final = ("worker", "visit_contact", "worker_home", "line_manager", "admins", "on_call")
PERSON_PREFIX: Final = "person:"
CHANNELS: Final = ("console", "sms", "call", "apprise", "arc")
# Channels that tell nobody in person, so a step with only these needs nobody in ``notify``.
UNADDRESSED_CHANNELS: Final = frozenset({"console", "arc"})
# What the device is told once the hub has stored the alarm's event (wire contract, `ack`).
DEVICE_ACKS: Final = ("received", "help_coming")

MAX_DURATION: Final = 24 * 3600.0  # a rung a day away protects nobody; it is surely a typo
MAX_MESSAGE: Final = 1000
MAX_PERSON: Final = 80
# The alarm's facts a step's message may name (``notify.messages`` fills them in).
PLACEHOLDERS: Final = (
    "worker",
    "worker_mobile",
    "worker_home",
    "address",
    "location",
    "contact",
    "contact_phone",
    "since",
    "alarm",
    "ack",
)

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_POLICY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

_POLICY_KEYS: Final = ("steps", "covert", "device_ack")
_STEP_KEYS: Final = ("after", "notify", "channels", "message", "repeat_every")


class PolicyError(ValueError):
    """A policy that cannot be used. ``key`` is the full dotted key, ``problem`` says how."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# ---------------------------------------------------------------------------------------------
# Durations


def parse_duration(text: object, key: str = "duration") -> float:
    """Seconds in ``"1h30m"``, ``"5m"``, ``"30s"`` or ``"0s"``; ``key`` names it in errors."""
    if not isinstance(text, str):
        raise PolicyError(
            key, f'must be a duration string like "30s", "5m" or "1h", got {_kind(text)}'
        )
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise PolicyError(key, f"{text[:40]!r} is not a duration like 30s, 5m or 1h")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = float(hours * 3600 + minutes * 60 + seconds)
    if total > MAX_DURATION:
        raise PolicyError(key, f"{text!r} is longer than {format_duration(MAX_DURATION)}")
    return total


def format_duration(seconds: float) -> str:
    """The inverse of ``parse_duration`` for whole seconds: 5400 -> ``"1h30m"``, 0 -> ``"0s"``."""
    if seconds < 0 or seconds != int(seconds):
        raise ValueError(f"only whole, non-negative seconds have a duration string: {seconds}")
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


# ---------------------------------------------------------------------------------------------
# The data


@dataclass(frozen=True)
class Step:
    """One rung: ``after`` seconds from the alarm's start, tell ``notify`` over ``channels``.

    With ``repeat_every`` the rung comes round again every so many seconds until someone
    acknowledges the alarm.
    """

    after: float
    notify: tuple[str, ...]
    channels: tuple[str, ...]
    message: str
    repeat_every: float | None = None

    def __post_init__(self) -> None:
        _check_step(self.after, self.notify, self.channels, self.message, self.repeat_every, "step")
        # Whole numbers written in Python compare and print as the parser's floats do.
        object.__setattr__(self, "after", float(self.after))
        if self.repeat_every is not None:
            object.__setattr__(self, "repeat_every", float(self.repeat_every))


@dataclass(frozen=True)
class Policy:
    """A named ladder. ``covert`` policies (duress) never contact the worker and must look like
    a check-in on the device; ``device_ack`` is the status the device is acked with."""

    name: str
    steps: tuple[Step, ...]
    covert: bool = False
    device_ack: str = "received"

    def __post_init__(self) -> None:
        _check_policy(self.name, self.steps, self.covert, self.device_ack, str(self.name))


# The checks take plain values, so the TOML parser can run them with the full key before it
# builds anything, and the dataclasses run them again for policies written in Python.


def _check_step(
    after: float,
    notify: tuple[str, ...],
    channels: tuple[str, ...],
    message: str,
    repeat_every: float | None,
    key: str,
) -> None:
    _check_seconds(after, f"{key}.after", allow_zero=True)
    if repeat_every is not None:
        _check_seconds(repeat_every, f"{key}.repeat_every", allow_zero=False)
    _check_unique(notify, f"{key}.notify")
    for i, who in enumerate(notify):
        _check_role(who, f"{key}.notify[{i}]")
    _check_unique(channels, f"{key}.channels")
    if not channels:
        raise PolicyError(f"{key}.channels", "needs at least one channel")
    for i, channel in enumerate(channels):
        if channel not in CHANNELS:
            raise PolicyError(
                f"{key}.channels[{i}]",
                f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}",
            )
    if repeat_every is not None and channels == ("arc",):
        raise PolicyError(
            f"{key}.channels",
            "a repeating step needs a channel besides arc: the ARC is told of an alarm once,"
            " so its repeats would tell nobody",
        )
    if not notify and not set(channels) <= UNADDRESSED_CHANNELS:
        raise PolicyError(
            f"{key}.notify", "is empty, so only the console and arc channels can be used"
        )
    if not isinstance(message, str) or not message.strip():
        raise PolicyError(f"{key}.message", "must say what to do")
    if len(message) > MAX_MESSAGE:
        raise PolicyError(f"{key}.message", f"is longer than {MAX_MESSAGE} characters")
    _check_placeholders(message, f"{key}.message")


def message_pieces(message: str) -> list[tuple[str, str | None]]:
    """``message`` as (literal text, placeholder or None) pieces; ValueError when it is not a
    message ``_check_placeholders`` accepts."""
    pieces = []
    for literal, name, spec, conversion in string.Formatter().parse(message):
        if spec or conversion:
            raise ValueError(f"{{{name}}} takes no format or conversion")
        pieces.append((literal, name))
    return pieces


def _check_placeholders(message: str, key: str) -> None:
    try:
        pieces = message_pieces(message)
    except ValueError:
        raise PolicyError(
            key, "has an unmatched { or } (write {{ or }} for a brace) or a formatted placeholder"
        ) from None
    for name in (name for _, name in pieces if name is not None):
        if name not in PLACEHOLDERS:
            shown = "{" + name[:40] + "}"
            raise PolicyError(
                key,
                f"unknown placeholder {shown}; use "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
            )


def _check_policy(
    name: str, steps: tuple[Step, ...], covert: bool, device_ack: str, key: str
) -> None:
    if not isinstance(name, str) or not _POLICY_NAME.fullmatch(name):
        raise PolicyError(key, "a policy name is 1 to 64 letters, digits, _ or -")
    if not isinstance(steps, tuple) or not steps:
        raise PolicyError(f"{key}.steps", "needs at least one step")
    if device_ack not in DEVICE_ACKS:
        raise PolicyError(
            f"{key}.device_ack", f"must be one of {', '.join(DEVICE_ACKS)}, got {device_ack!r}"
        )
    if covert and device_ack != "received":
        # Duress must look exactly like a check-in to anyone watching the device.
        raise PolicyError(f"{key}.device_ack", "a covert policy must ack with 'received'")
    for i, step in enumerate(steps):
        if i and step.after < steps[i - 1].after:
            raise PolicyError(
                f"{key}.steps[{i}].after",
                f"{_show(step.after)} is earlier than the step before "
                f"({_show(steps[i - 1].after)}); steps must be in order",
            )
        if (
            "arc" in step.channels
            and (first := next(j for j, s in enumerate(steps) if "arc" in s.channels)) != i
        ):
            raise PolicyError(
                f"{key}.steps[{i}].channels[{step.channels.index('arc')}]",
                f"arc is already in steps[{first}]: the ARC is told of an alarm once,"
                " so name it in one step",
            )
        if covert and "worker" in step.notify:
            raise PolicyError(
                f"{key}.steps[{i}].notify",
                "a covert policy must never contact the worker openly",
            )


def _check_seconds(value: object, key: str, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(key, f"must be a number of seconds, got {_kind(value)}")
    if not 0 <= value <= MAX_DURATION or (value == 0 and not allow_zero):
        limit = "at least 0s" if allow_zero else "longer than 0s"
        raise PolicyError(key, f"must be {limit} and at most {format_duration(MAX_DURATION)}")


def _check_role(who: object, key: str) -> None:
    if not isinstance(who, str):
        raise PolicyError(key, f"must be a role name, got {_kind(who)}")
    if who in ROLES:
        return
    if who.startswith(PERSON_PREFIX):
        name = who[len(PERSON_PREFIX) :]
        if (
            name
            and name == name.strip()
            and len(name) <= MAX_PERSON
            and not any(unicodedata.category(c) == "Cc" for c in name)
        ):
            return
        raise PolicyError(key, f'{who[:100]!r}: a person is named as "person:<name>"')
    raise PolicyError(
        key, f'unknown role {who[:40]!r}; use one of {", ".join(ROLES)} or "person:<name>"'
    )


def _check_unique(values: object, key: str) -> None:
    if not isinstance(values, tuple):
        raise PolicyError(key, f"must be a tuple, got {_kind(values)}")
    for i, value in enumerate(values):
        if value in values[:i]:
            raise PolicyError(f"{key}[{i}]", f"{value!r} is listed twice")


def _show(seconds: float) -> str:
    try:
        return format_duration(seconds)
    except ValueError:
        return f"{seconds}s"


def _kind(value: object) -> str:
    return "a boolean" if isinstance(value, bool) else type(value).__name__


# ---------------------------------------------------------------------------------------------
# TOML


def parse_policies(table: Mapping[str, Any], section: str = "policies") -> dict[str, Policy]:
    """Policies from the contents of the config's ``[policies]`` table, by name.

    ``table`` is what ``tomllib`` gives for that section (``doc["policies"]``); ``section`` is
    only used to name keys in errors. Policies left out are not filled in from the defaults:
    see ``with_defaults``.
    """
    if not isinstance(table, Mapping):
        raise PolicyError(section, f"must be a table, like [{section}.overdue]")
    return {name: _parse_policy(value, name, f"{section}.{name}") for name, value in table.items()}


def loads_policies(text: str) -> dict[str, Policy]:
    """Policies from TOML text holding only ``[policies.<name>]`` tables, by name."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError("policies", f"not valid TOML: {exc}") from None
    for key in doc:
        if key != "policies":
            raise PolicyError(key, "unknown section; only [policies.<name>] tables belong here")
    return parse_policies(doc.get("policies", {}))


def with_defaults(policies: Mapping[str, Policy]) -> dict[str, Policy]:
    """The shipped defaults, with the configured policies replacing them by name."""
    return {**DEFAULT_POLICIES, **policies}


def is_shipped(policy: Policy) -> bool:
    """The policy is one of the shipped defaults, unchanged (configured or not)."""
    return DEFAULT_POLICIES.get(policy.name) == policy


def uses_arc_explicitly(policy: Policy) -> bool:
    """A step of this policy names the ``arc`` channel and the operator wrote it: the shipped
    policies name ``arc`` for hubs that have an ARC, and are quiet about it on hubs without."""
    return not is_shipped(policy) and any("arc" in step.channels for step in policy.steps)


def _parse_policy(value: object, name: str, key: str) -> Policy:
    if not isinstance(value, Mapping):
        raise PolicyError(key, f"must be a table, like [{key}]")
    if not _POLICY_NAME.fullmatch(name):
        raise PolicyError(key, "a policy name is 1 to 64 letters, digits, _ or -")
    _reject_unknown(value, _POLICY_KEYS, key)
    covert = value.get("covert", False)
    if not isinstance(covert, bool):
        raise PolicyError(f"{key}.covert", f"must be true or false, got {_kind(covert)}")
    device_ack = value.get("device_ack", "received")
    if not isinstance(device_ack, str):
        raise PolicyError(f"{key}.device_ack", f"must be a string, got {_kind(device_ack)}")
    raw_steps = value.get("steps")
    if raw_steps is None:
        raise PolicyError(f"{key}.steps", f"is missing; add [[{key}.steps]] tables")
    if not _is_list(raw_steps):
        raise PolicyError(f"{key}.steps", f"must be an array of tables, like [[{key}.steps]]")
    steps = tuple(_parse_step(raw, f"{key}.steps[{i}]") for i, raw in enumerate(raw_steps))
    _check_policy(name, steps, covert, device_ack, key)
    return Policy(name, steps, covert=covert, device_ack=device_ack)


def _parse_step(value: object, key: str) -> Step:
    if not isinstance(value, Mapping):
        raise PolicyError(key, f"must be a table, like [[{key.rsplit('[', 1)[0]}]]")
    _reject_unknown(value, _STEP_KEYS, key)
    for required in ("after", "channels", "message"):
        if required not in value:
            raise PolicyError(f"{key}.{required}", "is missing")
    after = parse_duration(value["after"], f"{key}.after")
    raw_repeat = value.get("repeat_every")
    repeat = None if raw_repeat is None else parse_duration(raw_repeat, f"{key}.repeat_every")
    notify = _string_list(value.get("notify", []), f"{key}.notify")
    channels = _string_list(value["channels"], f"{key}.channels")
    message = value["message"]
    if not isinstance(message, str):
        raise PolicyError(f"{key}.message", f"must be a string, got {_kind(message)}")
    _check_step(after, notify, channels, message, repeat, key)
    return Step(after, notify, channels, message, repeat)


def _string_list(value: object, key: str) -> tuple[str, ...]:
    if not _is_list(value):
        raise PolicyError(key, f"must be a list of strings, got {_kind(value)}")
    assert isinstance(value, Sequence)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise PolicyError(f"{key}[{i}]", f"must be a string, got {_kind(item)}")
    return tuple(value)


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _reject_unknown(table: Mapping[str, Any], known: tuple[str, ...], key: str) -> None:
    for name in table:
        if name not in known:
            raise PolicyError(f"{key}.{name}", f"unknown key; use {', '.join(known)}")


def policies_to_toml(policies: Mapping[str, Policy], section: str = "policies") -> str:
    """TOML text that ``loads_policies`` reads back to equal policies (whole seconds only)."""
    out: list[str] = []
    for name, policy in policies.items():
        out.append(f"[{section}.{name}]")
        if policy.covert:
            out.append("covert = true")
        if policy.device_ack != "received":
            out.append(f"device_ack = {_toml_str(policy.device_ack)}")
        for step in policy.steps:
            out.append("")
            out.append(f"[[{section}.{name}.steps]]")
            out.append(f'after = "{format_duration(step.after)}"')
            if step.repeat_every is not None:
                out.append(f'repeat_every = "{format_duration(step.repeat_every)}"')
            out.append(f"notify = [{', '.join(_toml_str(w) for w in step.notify)}]")
            out.append(f"channels = [{', '.join(_toml_str(c) for c in step.channels)}]")
            out.append(f"message = {_toml_str(step.message)}")
        out.append("")
    return "\n".join(out)


def _toml_str(text: str) -> str:
    escaped = []
    for c in text:
        if c in '"\\':
            escaped.append("\\" + c)
        elif unicodedata.category(c) == "Cc" and c != "\t":
            escaped.append(f"\\u{ord(c):04x}")
        else:
            escaped.append(c)
    return '"' + "".join(escaped) + '"'


# ---------------------------------------------------------------------------------------------
# Shipped defaults: one file, shipped_policies.toml beside this module (the docs quote it whole).

DEFAULT_POLICIES_TOML: Final = (
    resources.files(__package__).joinpath("shipped_policies.toml").read_text(encoding="utf-8")
)
DEFAULT_POLICIES: Final[Mapping[str, Policy]] = MappingProxyType(
    loads_policies(DEFAULT_POLICIES_TOML)
)
