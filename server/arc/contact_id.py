"""Contact ID (ADM-CID) events as an Alarm Receiving Centre reads them: pure, no I/O.

An ADM-CID event is ``Q EEE GG CCC``: the qualifier (1 a new event, 3 a restoral), the
three-digit event code, the group (partition) and the zone or user number. DC-09 carries it in
the data field as ``#<account>|QEEE GG CCC]`` (docs/arc.md cites the standards).

What each loneguard alarm means to an ARC operator:

- ``panic`` → 120 Panic: the worker held the panic button.
- ``duress`` → 121 Duress: the worker made the covert gesture; someone may be watching them.
- ``overdue`` and ``missed_checkin`` → 102 Fail to report in: the worker did not check in.
- ``device_offline`` → 381 Loss of supervision: the unit went silent during a visit or shift.

602 is the periodic test report the hub sends to prove the link is up (supervision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NEW_EVENT: Final = 1
RESTORE: Final = 3

PANIC: Final = 120
DURESS: Final = 121
FAIL_TO_REPORT_IN: Final = 102
LOSS_OF_SUPERVISION: Final = 381
LOW_BATTERY: Final = 384
PERIODIC_TEST: Final = 602

# Alarm kinds (``store.records.AlarmKind`` values) → event code.
ALARM_CODES: Final = {
    "panic": PANIC,
    "duress": DURESS,
    "overdue": FAIL_TO_REPORT_IN,
    "missed_checkin": FAIL_TO_REPORT_IN,
    "device_offline": LOSS_OF_SUPERVISION,
}


@dataclass(frozen=True)
class ContactIdEvent:
    """One Contact ID event. ``zone`` is the zone or user number (0-999), ``group`` the
    partition (0-99)."""

    qualifier: int
    code: int
    group: int
    zone: int

    def __post_init__(self) -> None:
        if self.qualifier not in (NEW_EVENT, RESTORE, 6):
            raise ValueError(f"qualifier must be 1, 3 or 6, got {self.qualifier}")
        if not 0 <= self.code <= 999:
            raise ValueError(f"event code must be 0-999, got {self.code}")
        if not 0 <= self.group <= 99:
            raise ValueError(f"group (partition) must be 0-99, got {self.group}")
        if not 0 <= self.zone <= 999:
            raise ValueError(f"zone or user must be 0-999, got {self.zone}")

    def text(self) -> str:
        """The event as DC-09 carries it: ``1120 01 015``."""
        return f"{self.qualifier}{self.code:03d} {self.group:02d} {self.zone:03d}"


def code_for_alarm(kind: str) -> int:
    """The Contact ID event code for an alarm kind; KeyError names an unknown kind."""
    try:
        return ALARM_CODES[kind]
    except KeyError:
        raise KeyError(f"no Contact ID code for alarm kind {kind!r}") from None


def for_alarm(kind: str, *, zone: int, group: int, restore: bool = False) -> ContactIdEvent:
    """The event an alarm of ``kind`` (or, with ``restore``, its end) sends to the ARC."""
    return ContactIdEvent(RESTORE if restore else NEW_EVENT, code_for_alarm(kind), group, zone)


def periodic_test(*, group: int) -> ContactIdEvent:
    """The 602 supervision message (zone 0: it concerns the link, not a worker)."""
    return ContactIdEvent(NEW_EVENT, PERIODIC_TEST, group, 0)


__all__ = [
    "ALARM_CODES",
    "ContactIdEvent",
    "code_for_alarm",
    "for_alarm",
    "periodic_test",
]
