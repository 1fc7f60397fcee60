"""Rows of the ARC link: the messages the hub sends the Alarm Receiving Centre, every attempt
at each, and the zone number each worker has on the ARC's account sheet."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PERIODIC_TEST_CODE = 602  # Contact ID: a supervision test, never an alarm


class ArcMessageState(StrEnum):
    PENDING = "pending"  # stored, not yet acked: the link keeps trying
    ACKED = "acked"  # a receiver acknowledged it
    FAILED = "failed"  # a supervision test no receiver took: the next test replaces it


@dataclass(frozen=True)
class NewArcMessage:
    """What the link stores before it sends. ``key`` makes it idempotent (``alarm:<id>:open``,
    ``test:<due ms>``); ``worker_id`` gets the worker's zone, allocated once, else ``zone``."""

    key: str
    alarm_id: int | None
    qualifier: int
    code: int
    partition: int
    account: str
    occurred_ms: int
    worker_id: str | None = None
    zone: int = 0
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class ArcMessage:
    id: int
    key: str
    alarm_id: int | None
    qualifier: int
    code: int
    partition: int
    zone: int
    account: str
    sequence: int  # 1..9999, fixed when stored: every resend carries it
    state: ArcMessageState
    attempts: int
    last_result: str | None
    receiver: str | None  # the receiver that acked it
    occurred_ms: int
    created_ms: int
    acked_ms: int | None
    next_attempt_ms: int
    latitude: float | None = None
    longitude: float | None = None

    @property
    def is_test(self) -> bool:
        return self.code == PERIODIC_TEST_CODE


@dataclass(frozen=True)
class ArcAttemptRecord:
    """One try at one receiver; ``detail`` is safe to show (no key, no message content)."""

    receiver: str
    outcome: str  # "ack" | "nak" | "duh" | "timeout" | "refused" | "error"
    detail: str
    started_ms: int
    finished_ms: int


@dataclass(frozen=True)
class ArcAttemptRow:
    id: int
    message_id: int
    receiver: str
    outcome: str
    detail: str
    started_ms: int
    finished_ms: int


@dataclass(frozen=True)
class ArcZone:
    """A worker's zone (Contact ID ``CCC``) on the ARC's account sheet: stable, never reused."""

    worker_id: str
    zone: int
    created_ms: int


class ArcZonesFull(RuntimeError):
    """Every zone number 1..999 is taken: a worker cannot get one."""


MAX_SEQUENCE = 9999
MAX_ZONE = 999
