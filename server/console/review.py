"""The policy review (school §5: "monitoring incidents ... and that the effectiveness of this
policy is regularly reviewed"; CIC 13): one period's numbers for the directors, pure.

A period is a calendar quarter in UTC ("2026-Q1": 1 January to 1 April). Everything counted
happened in it: alarms opened, incidents that occurred, assessments made. Actions are overdue
when, at the period's end (or now, if sooner), they are past their due date and not done.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from loneguard.server.console.reports import LATE_KINDS, percentile
from loneguard.server.store import Alarm, AlarmKind
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentSeverity,
    IncidentStatus,
    RiskAssessment,
    RiskRating,
)

_QUARTER = re.compile(r"(\d{4})-Q([1-4])")


class PeriodRefused(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    name: str  # "2026-Q1"
    start_ms: int
    end_ms: int  # exclusive

    def holds(self, ms: int | None) -> bool:
        return ms is not None and self.start_ms <= ms < self.end_ms


def _ms(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def quarter(name: str) -> Period:
    match = _QUARTER.fullmatch(name.strip())
    if match is None:
        raise PeriodRefused("period: a quarter like 2026-Q1")
    year, q = int(match.group(1)), int(match.group(2))
    if not 2000 <= year <= 2999:
        raise PeriodRefused("period: a year between 2000 and 2999")
    start = _ms(year, 3 * q - 2)
    end = _ms(year + 1, 1) if q == 4 else _ms(year, 3 * q + 1)
    return Period(f"{year}-Q{q}", start, end)


def quarter_of(ms: int) -> Period:
    day = datetime.fromtimestamp(ms / 1000, UTC)
    return quarter(f"{day.year}-Q{(day.month - 1) // 3 + 1}")


def previous(period: Period) -> Period:
    return quarter_of(period.start_ms - 1)


@dataclass(frozen=True)
class SignalSpot:
    """A place with poor or no signal (built by the black-spot aggregation)."""

    place: str
    reports: int


@dataclass(frozen=True)
class Review:
    period: Period
    alarms_by_kind: dict[str, int]
    alarms_total: int
    acknowledged: int
    ack_p50_s: float | None
    ack_p95_s: float | None
    unacknowledged: int
    late_sessions: int  # sessions with an overdue or missed check-in alarm in the period
    incidents_by_severity: dict[str, int]
    incidents_by_status: dict[str, int]
    incidents: tuple[Incident, ...]
    overdue_actions: tuple[IncidentAction, ...]
    high_assessments: tuple[RiskAssessment, ...]
    signal_spots: tuple[SignalSpot, ...] | None  # the black spots seen in the period


def review(
    period: Period,
    now_ms: int,
    alarms: Sequence[Alarm],
    incidents: Sequence[Incident],
    actions: Sequence[IncidentAction],
    assessments: Sequence[RiskAssessment],
    spots: Sequence[SignalSpot] | None = None,
) -> Review:
    opened = [a for a in alarms if period.holds(a.opened_ms)]
    by_kind = Counter(str(a.kind) for a in opened)
    waits = [
        max(0, a.acknowledged_ms - a.opened_ms) / 1000
        for a in opened
        if a.acknowledged_ms is not None
    ]
    late = {a.session_id for a in opened if a.kind in LATE_KINDS and a.session_id is not None}
    happened = [i for i in incidents if period.holds(i.occurred_ms)]
    cutoff = min(now_ms, period.end_ms)
    overdue = [
        a for a in actions if a.due_ms < cutoff and (a.done_ms is None or a.done_ms > cutoff)
    ]
    high = [r for r in assessments if r.rating == RiskRating.HIGH and period.holds(r.assessed_ms)]
    return Review(
        period=period,
        alarms_by_kind={str(k): by_kind.get(str(k), 0) for k in AlarmKind},
        alarms_total=len(opened),
        acknowledged=len(waits),
        ack_p50_s=percentile(waits, 50),
        ack_p95_s=percentile(waits, 95),
        unacknowledged=len(opened) - len(waits),
        late_sessions=len(late),
        incidents_by_severity=_counts(list(IncidentSeverity), (i.severity for i in happened)),
        incidents_by_status=_counts(list(IncidentStatus), (i.status for i in happened)),
        incidents=tuple(happened),
        overdue_actions=tuple(sorted(overdue, key=lambda a: (a.due_ms, a.id))),
        high_assessments=tuple(high),
        signal_spots=tuple(spots) if spots is not None else None,
    )


def _counts(kinds: Iterable[StrEnum], values: Iterable[StrEnum]) -> dict[str, int]:
    found = Counter(str(v) for v in values)
    return {str(k): found.get(str(k), 0) for k in kinds}
