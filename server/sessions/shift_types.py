"""Shift types as data: what kind of lone working a shift is, its regular check-in interval and
the escalation policy of a missed check-in. The shipped types (``shift_types.toml``) are
``building`` and ``home_working`` (CIC 10.2, school §8: regular contact with the line manager);
the hub's ``[shift_types.NAME]`` tables replace them by name or add more.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from loneguard.server.escalation.policy import PolicyError, parse_duration

MIN_INTERVAL_S: Final = 60
MAX_INTERVAL_S: Final = 24 * 3600
_KEYS: Final = ("label", "checkin_interval", "policy")


class ShiftTypeError(ValueError):
    """A shift type that cannot be used; the message names its full key."""


@dataclass(frozen=True)
class ShiftType:
    name: str
    label: str
    checkin_interval_s: int
    policy: str  # the escalation policy of a missed check-in


def parse_shift_types(
    table: Mapping[str, Any], section: str = "shift_types"
) -> dict[str, ShiftType]:
    found = {}
    for name, value in table.items():
        key = f"{section}.{name}"
        if not isinstance(value, Mapping):
            raise ShiftTypeError(f"{key}: must be a table, like [{key}]")
        unknown = sorted(set(value) - set(_KEYS))
        if unknown:
            raise ShiftTypeError(f"{key}.{unknown[0]}: unknown key")
        for field in _KEYS:
            if not isinstance(value.get(field), str) or not value[field].strip():
                raise ShiftTypeError(f"{key}.{field}: must be a non-empty string")
        try:
            interval = parse_duration(value["checkin_interval"], f"{key}.checkin_interval")
        except PolicyError as exc:
            raise ShiftTypeError(str(exc)) from None
        if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
            raise ShiftTypeError(f"{key}.checkin_interval: must be from 1m to 24h")
        found[name] = ShiftType(name, value["label"], int(interval), value["policy"])
    return found


SHIPPED_SHIFT_TYPES_TOML: Final = (
    resources.files(__package__).joinpath("shift_types.toml").read_text(encoding="utf-8")
)
DEFAULT_SHIFT_TYPES: Final[Mapping[str, ShiftType]] = MappingProxyType(
    parse_shift_types(tomllib.loads(SHIPPED_SHIFT_TYPES_TOML)["shift_types"])
)


def with_defaults(types: Mapping[str, ShiftType]) -> dict[str, ShiftType]:
    return {**DEFAULT_SHIFT_TYPES, **types}
