"""GNSS positions as the modem reports them (``+CGNSSINFO``, ``+CGPSINFO``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from loneguard.gsm.at import parse_fields


@dataclass(frozen=True)
class GnssFix:
    latitude: float
    longitude: float
    altitude_m: float | None
    utc: datetime | None


def parse_gnss(info: str, *, decimal_degrees: bool = False) -> GnssFix | None:
    """Parse the fields of a ``+CGNSSINFO:``/``+CGPSINFO:`` line; None when there is no fix.

    SIM7600 firmware reports degrees and minutes (``ddmm.mmmm``); the A76xx reports decimal
    degrees (``decimal_degrees``). Firmware versions differ in how many satellite counts come
    first, so the position is found by its hemisphere letters rather than by a fixed field number.
    """
    f = parse_fields(info)
    for i in range(len(f) - 3):
        if f[i + 1] in ("N", "S") and f[i + 3] in ("E", "W") and f[i] and f[i + 2]:
            try:
                lat = _degrees(f[i], f[i + 1] == "S", decimal_degrees)
                lon = _degrees(f[i + 2], f[i + 3] == "W", decimal_degrees)
            except ValueError:
                return None
            alt = _float_or_none(f[i + 6]) if len(f) > i + 6 else None
            utc = _gnss_time(f[i + 4], f[i + 5]) if len(f) > i + 5 else None
            return GnssFix(lat, lon, alt, utc)
    return None


def _degrees(text: str, negative: bool, decimal_degrees: bool) -> float:
    value = float(text)
    if decimal_degrees:
        decimal = value
    else:
        degrees = int(value // 100)
        decimal = degrees + (value - degrees * 100) / 60
    return -decimal if negative else decimal


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _gnss_time(date: str, clock: str) -> datetime | None:
    try:
        return datetime.strptime(f"{date} {clock.split('.')[0]}", "%d%m%y %H%M%S").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None
