"""The bounded types of every id, time and duration the hub takes in, declared once.

Every entry point uses these: the JSON API's bodies, paths and queries, the console's routes and
forms, and (through the protocol's own checks, which these reuse) MQTT and SMS. A value out of
bounds is refused where it enters, naming the field, so nothing out of range reaches the store,
a timer or a page.

- Times are wall-clock milliseconds from 0 to the end of the year 9999 (``MAX_TS_MS``): every
  page can show them as a date.
- Row ids are 1 to 2^63 - 1: both databases keep 64-bit integers.
- Device ids are what a broker topic and a client id can carry (``DEVICE_ID_PATTERN``).
- A visit falls due within ``MAX_AHEAD_MS`` of its start: no visit that never falls due.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from loneguard.protocol.fields import MAX_TS_MS
from loneguard.protocol.topics import DEVICE_ID_PATTERN
from loneguard.server.sessions.rules import MAX_AHEAD_MS

MAX_ROW_ID = 2**63 - 1
ID_LENGTH = 64
WORKER_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
WallMs = Annotated[int, Field(ge=0, le=MAX_TS_MS)]
DeviceId = Annotated[str, Field(pattern=f"^{DEVICE_ID_PATTERN.pattern}$", max_length=ID_LENGTH)]
WorkerId = Annotated[str, Field(pattern=WORKER_ID_PATTERN, max_length=ID_LENGTH)]


def in_time_range(ms: int) -> bool:
    return 0 <= ms <= MAX_TS_MS


__all__ = [
    "ID_LENGTH",
    "MAX_AHEAD_MS",
    "MAX_ROW_ID",
    "MAX_TS_MS",
    "DeviceId",
    "RowId",
    "WallMs",
    "WorkerId",
    "in_time_range",
]
