"""Typed, bounded reads of a decoded JSON object, with errors that name the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal, overload

from loneguard.protocol.errors import ProtocolError

MAX_PAYLOAD_BYTES = 4096
# The last millisecond of the year 9999: the largest time every part can show as a date (Python's
# ``datetime`` stops there), well inside what JSON numbers carry exactly (2^53 - 1).
MAX_TS_MS = 253_402_300_799_999

# A lowercase UUID or an uppercase ULID: made by the device at the press, deduped on by the hub.
EVENT_ID_PATTERN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9A-HJKMNP-TV-Z]{26}"
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_object(payload: bytes | bytearray, message: str) -> dict[str, Any]:
    """Decode a UTF-8 JSON object no larger than ``MAX_PAYLOAD_BYTES``."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(
            f"{message}.payload", f"{len(payload)} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{message}.payload", f"not UTF-8 ({exc.reason})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"{message}.payload", f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{message}.payload", f"must be a JSON object, got {_kind(value)}")
    return value


def dump_object(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Reader:
    """Reads the fields of one message; ``finish`` rejects any field nobody asked for."""

    def __init__(self, obj: dict[str, Any], message: str) -> None:
        self._obj = obj
        self._message = message
        self._seen: set[str] = set()

    def error(self, name: str, problem: str) -> ProtocolError:
        return ProtocolError(f"{self._message}.{name}", problem)

    def _take(self, name: str, required: bool) -> Any:
        self._seen.add(name)
        if name not in self._obj:
            if required:
                raise self.error(name, "is required")
            return None
        return self._obj[name]

    @overload
    def integer(
        self, name: str, *, minimum: int, maximum: int, required: Literal[True] = ...
    ) -> int: ...
    @overload
    def integer(self, name: str, *, minimum: int, maximum: int, required: bool) -> int | None: ...
    def integer(
        self, name: str, *, minimum: int, maximum: int, required: bool = True
    ) -> int | None:
        value = self._take(name, required)
        if value is None:
            if required and name in self._obj:
                raise self.error(name, "must be an integer, got null")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be an integer, got {_kind(value)}")
        if not minimum <= value <= maximum:
            raise self.error(name, f"must be between {minimum} and {maximum}, got {value}")
        return value

    @overload
    def number(
        self, name: str, *, minimum: float, maximum: float, required: Literal[True] = ...
    ) -> float: ...
    @overload
    def number(
        self, name: str, *, minimum: float, maximum: float, required: bool
    ) -> float | None: ...
    def number(
        self, name: str, *, minimum: float, maximum: float, required: bool = True
    ) -> float | None:
        value = self._take(name, required)
        if value is None:
            if required and name in self._obj:
                raise self.error(name, "must be a number, got null")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"must be a number, got {_kind(value)}")
        if not minimum <= value <= maximum:
            raise self.error(name, f"must be between {minimum} and {maximum}, got {value}")
        return float(value)

    @overload
    def text(
        self,
        name: str,
        *,
        max_length: int,
        required: Literal[True] = ...,
        pattern: re.Pattern[str] | None = None,
    ) -> str: ...
    @overload
    def text(
        self,
        name: str,
        *,
        max_length: int,
        required: bool,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None: ...
    def text(
        self,
        name: str,
        *,
        max_length: int,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        value = self._take(name, required)
        if value is None:
            if required and name in self._obj:
                raise self.error(name, "must be a string, got null")
            return None
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, got {_kind(value)}")
        if not 0 < len(value) <= max_length:
            raise self.error(name, f"must be 1 to {max_length} characters long, got {len(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.error(name, "has the wrong format")
        return value

    @overload
    def choice(
        self, name: str, choices: Iterable[str], *, required: Literal[True] = ...
    ) -> str: ...
    @overload
    def choice(self, name: str, choices: Iterable[str], *, required: bool) -> str | None: ...
    def choice(self, name: str, choices: Iterable[str], *, required: bool = True) -> str | None:
        options = tuple(choices)
        value = self._take(name, required)
        if value is None:
            if required and name in self._obj:
                raise self.error(name, f"must be one of {', '.join(options)}, got null")
            return None
        if not isinstance(value, str) or value not in options:
            shown = repr(value)[:40] if isinstance(value, str) else _kind(value)
            raise self.error(name, f"must be one of {', '.join(options)}, got {shown}")
        return value

    def flag(self, name: str, *, required: bool = True) -> bool | None:
        value = self._take(name, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, got {_kind(value)}")
        return value

    def mapping(self, name: str, *, required: bool = True) -> dict[str, Any] | None:
        value = self._take(name, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(name, f"must be an object, got {_kind(value)}")
        return value

    def version(self) -> None:
        value = self._take("v", True)
        if value != 1 or isinstance(value, bool):
            raise self.error("v", f"unsupported version {value!r:.20}; this build speaks v1")

    def finish(self) -> None:
        unknown = sorted(set(self._obj) - self._seen)
        if unknown:
            raise self.error(str(unknown[0])[:40], "is not a known field")
