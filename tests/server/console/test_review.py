"""The review's periods and what counts in one."""

from __future__ import annotations

import pytest

from loneguard.server.console.review import PeriodRefused, previous, quarter, quarter_of, review
from loneguard.server.store.safety_records import IncidentAction

Q1 = quarter("2026-Q1")


def test_quarters_are_calendar_quarters_in_utc() -> None:
    assert (Q1.start_ms, Q1.end_ms) == (1_767_225_600_000, 1_775_001_600_000)
    q4 = quarter("2025-Q4")
    assert q4.end_ms == Q1.start_ms and previous(Q1) == q4
    assert quarter_of(Q1.end_ms - 1) == Q1 and quarter_of(Q1.end_ms).name == "2026-Q2"
    for bad in ("2026-Q0", "2026Q1", "1999-Q1", ""):
        with pytest.raises(PeriodRefused):
            quarter(bad)


def test_an_action_is_overdue_when_past_due_and_not_done_by_the_periods_end() -> None:
    due = Q1.start_ms + 1000
    actions = [
        IncidentAction(1, 1, "done in time", "a", due, done_ms=due - 1),
        IncidentAction(2, 1, "done late, after the quarter", "a", due, done_ms=Q1.end_ms + 5),
        IncidentAction(3, 1, "never done", "a", due),
        IncidentAction(4, 1, "due after the quarter", "a", Q1.end_ms + 1),
        IncidentAction(5, 1, "not due yet, now", "a", Q1.start_ms + 10_000),
    ]
    now = Q1.start_ms + 5000  # a review of the quarter under way counts up to now
    found = review(Q1, now, [], [], actions, [])
    assert [a.id for a in found.overdue_actions] == [2, 3]
    later = review(Q1, Q1.end_ms + 10**9, [], [], actions, [])
    assert [a.id for a in later.overdue_actions] == [2, 3, 5]
