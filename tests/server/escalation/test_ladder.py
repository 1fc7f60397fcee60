"""The escalation ladder: who is told what and when, exactly once, and nothing after an ack."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loneguard.server.escalation.ladder import Action, AlarmState, Plan, action_key, next_actions
from loneguard.server.escalation.policy import DEFAULT_POLICIES, Policy, Step
from tests.server.escalation.test_policy import policies

START = 1_000_000.0
OVERDUE = DEFAULT_POLICIES["overdue"]


class Caller:
    """Drives the ladder the way the hub does: sends what comes out and records the keys."""

    def __init__(self, policy: Policy, alarm: AlarmState | None = None) -> None:
        self.policy = policy
        self.alarm = alarm or AlarmState("A1", START)
        self.log: list[tuple[float, Action]] = []

    def at(self, now: float) -> Plan:
        plan = next_actions(self.alarm, self.policy, now)
        self.log.extend((now, action) for action in plan.actions)
        sent = self.alarm.sent | {a.key for a in plan.actions}
        self.alarm = replace(self.alarm, sent=frozenset(sent))
        return plan

    def acknowledge(self) -> None:
        self.alarm = replace(self.alarm, acknowledged=True)

    def keys(self) -> list[str]:
        return [a.key for _, a in self.log]


def _summary(plan: Plan) -> list[tuple[int, int, tuple[str, ...], tuple[str, ...], float]]:
    return [(a.step_index, a.repeat_index, a.notify, a.channels, a.due_at) for a in plan.actions]


def test_walk_the_cic_ladder() -> None:
    caller = Caller(OVERDUE)
    call = ("console", "call", "sms")

    plan = caller.at(START)  # the alarm starts at due + grace: ring the worker's mobile (3.12)
    # ... and tell the Alarm Receiving Centre, where one is configured.
    assert _summary(plan) == [(0, 0, ("worker",), (*call, "arc"), START)]
    assert plan.next_deadline == START + 300

    assert caller.at(START + 299).actions == ()  # nothing early, nothing twice
    plan = caller.at(START + 300)  # 3.14: try again after 5 minutes
    assert _summary(plan) == [(1, 0, ("worker",), call, START + 300)]
    assert plan.next_deadline == START + 600

    plan = caller.at(START + 600)  # 3.15: the contact on the visit form
    assert _summary(plan) == [(2, 0, ("visit_contact",), ("console", "call"), START + 600)]
    assert "has {worker} left, and when?" in plan.actions[0].message.lower()
    assert plan.next_deadline == START + 900

    plan = caller.at(START + 900)  # 3.16: the worker's home
    assert _summary(plan) == [(3, 0, ("worker_home",), ("console", "call"), START + 900)]
    assert plan.next_deadline == START + 1200

    plan = caller.at(START + 1200)  # 3.16: the line manager, again every 5 minutes
    assert _summary(plan) == [(4, 0, ("line_manager",), call, START + 1200)]
    assert plan.next_deadline == START + 1500
    for repeat in range(1, 5):
        plan = caller.at(START + 1200 + 300 * repeat)
        assert _summary(plan) == [(4, repeat, ("line_manager",), call, START + 1200 + 300 * repeat)]
        assert plan.actions[0].key == f"A1:4:{repeat}"
        assert plan.next_deadline == START + 1200 + 300 * (repeat + 1)

    caller.acknowledge()  # someone takes charge: the ladder stops at once
    assert caller.at(START + 2400) == Plan((), None)
    assert caller.at(START + 100_000) == Plan((), None)
    assert len(set(caller.keys())) == len(caller.keys()) == 9


def test_keys_are_stable_idempotency_keys() -> None:
    plan = next_actions(AlarmState("alarm-7", START), OVERDUE, START)
    assert plan.actions[0].key == action_key("alarm-7", 0, 0) == "alarm-7:0:0"
    # The same question asked twice gets the same answer.
    assert next_actions(AlarmState("alarm-7", START), OVERDUE, START) == plan


def test_panic_repeats_until_acknowledged() -> None:
    caller = Caller(DEFAULT_POLICIES["panic"])
    times = [START + 120 * k for k in range(6)]
    for k, now in enumerate(times):
        plan = caller.at(now)
        assert [a.key for a in plan.actions] == [f"A1:0:{k}"]
        assert plan.next_deadline == now + 120
    caller.acknowledge()
    assert caller.at(times[-1] + 120) == Plan((), None)


def test_resolved_alarm_gets_nothing() -> None:
    alarm = AlarmState("A1", START, resolved=True)
    assert next_actions(alarm, OVERDUE, START + 5000) == Plan((), None)


def test_a_checkin_stops_the_ladder_with_steps_still_to_come() -> None:
    caller = Caller(OVERDUE)
    first = caller.at(START)
    assert first.actions and first.next_deadline is not None  # more steps are to come
    caller.alarm = replace(caller.alarm, checked_in=True)
    assert caller.at(START + 3600) == Plan((), None)
    assert len(caller.log) == len(first.actions)


def test_downtime_catch_up_sends_every_missed_step_in_order_and_folds_repeats() -> None:
    # The hub was down from just after the first call until an hour into the alarm.
    caller = Caller(OVERDUE)
    caller.at(START)
    plan = caller.at(START + 3600)
    assert [(a.step_index, a.repeat_index, a.due_at) for a in plan.actions] == [
        (1, 0, START + 300),
        (2, 0, START + 600),
        (3, 0, START + 900),
        (4, 8, START + 1200 + 8 * 300),  # the line manager once, not nine times
    ]
    assert plan.actions[-1].missed_repeats == 8
    assert plan.next_deadline == START + 1200 + 9 * 300
    # The rhythm carries on from the folded repeat.
    assert [a.key for a in caller.at(START + 3900).actions] == ["A1:4:9"]


def test_catch_up_after_a_very_long_outage_is_still_one_action_per_step() -> None:
    plan = next_actions(AlarmState("A1", START), DEFAULT_POLICIES["panic"], START + 10**9)
    assert len(plan.actions) == 1
    assert plan.actions[0].repeat_index == 10**9 // 120
    assert plan.next_deadline is not None
    assert plan.actions[0].due_at <= START + 10**9 < plan.next_deadline


def test_resume_mid_ladder_from_the_recorded_keys() -> None:
    # Steps 0 and 1 went out before a restart; step 2 was due while the hub was down.
    sent = frozenset({"A1:0:0", "A1:1:0"})
    plan = next_actions(AlarmState("A1", START, sent=sent), OVERDUE, START + 700)
    assert [a.key for a in plan.actions] == ["A1:2:0"]
    assert plan.next_deadline == START + 900


def test_other_alarms_keys_do_not_count() -> None:
    sent = frozenset({"A:0:0", "A1:1:0:0", "B1:0:0", "A1:x:0", "junk"})
    plan = next_actions(AlarmState("A1", START, sent=sent), OVERDUE, START)
    assert [a.key for a in plan.actions] == ["A1:0:0"]
    # An alarm id with colons in it owns its own keys and only those.
    plan = next_actions(AlarmState("A1:1", START, sent=sent), OVERDUE, START + 300)
    assert [a.key for a in plan.actions] == ["A1:1:1:0"]


def test_a_clock_going_back_never_resends_an_older_repeat() -> None:
    caller = Caller(DEFAULT_POLICIES["panic"])
    caller.at(START + 600)  # repeat 5
    plan = caller.at(START + 250)  # wall clock stepped back: repeats 2 is older than 5
    assert plan.actions == ()
    assert plan.next_deadline == START + 720  # repeat 6
    assert caller.keys() == ["A1:0:5"]


def test_before_the_alarm_starts_nothing_is_due() -> None:
    plan = next_actions(AlarmState("A1", START), OVERDUE, START - 10)
    assert plan == Plan((), START)


def test_several_steps_due_at_once_come_out_in_step_order() -> None:
    policy = Policy(
        "p",
        (
            Step(0, (), ("console",), "first"),
            Step(0, ("admins",), ("sms",), "second"),
            Step(60, ("on_call",), ("sms",), "third"),
        ),
    )
    plan = next_actions(AlarmState("A1", START), policy, START + 60)
    assert [a.message for a in plan.actions] == ["first", "second", "third"]


def test_bad_times_are_rejected() -> None:
    with pytest.raises(ValueError):
        AlarmState("A1", float("nan"))
    with pytest.raises(ValueError):
        AlarmState("", START)
    with pytest.raises(ValueError):
        next_actions(AlarmState("A1", START), OVERDUE, float("inf"))


# ---------------------------------------------------------------------------------------------
# Properties over random policies and random calls

_offsets = st.lists(st.floats(0, 20_000, allow_nan=False), min_size=1, max_size=30)


def _due_times(policy: Policy, until: float) -> dict[int, list[float]]:
    """Every time each step falls due, up to ``until`` (for checking, by brute force)."""
    out: dict[int, list[float]] = {}
    for i, step in enumerate(policy.steps):
        first = START + step.after
        if step.repeat_every is None:
            out[i] = [first] if first <= until else []
        else:
            out[i] = []
            while first + len(out[i]) * step.repeat_every <= until:
                out[i].append(first + len(out[i]) * step.repeat_every)
    return out


@given(policies(), _offsets)
def test_no_key_is_ever_returned_twice_and_nothing_is_skipped(
    policy: Policy, offsets: list[float]
) -> None:
    caller = Caller(policy)
    times = [START + t for t in sorted(offsets)]
    for now in times:
        plan = caller.at(now)
        assert len(plan.actions) <= len(policy.steps)
        for action in plan.actions:
            assert action.due_at <= now
        if plan.next_deadline is not None:
            assert plan.next_deadline > now
    keys = caller.keys()
    assert len(keys) == len(set(keys))
    # Every one-off step due by the last call went out; every repeating step's latest did.
    due = _due_times(policy, times[-1])
    for i, step in enumerate(policy.steps):
        if not due[i]:
            continue
        latest = len(due[i]) - 1
        assert action_key("A1", i, latest) in caller.alarm.sent
        if step.repeat_every is None:
            assert latest == 0


@given(policies(), st.lists(st.floats(-1000, 20_000, allow_nan=False), min_size=1, max_size=30))
def test_no_key_twice_even_when_time_jumps_about(policy: Policy, offsets: list[float]) -> None:
    caller = Caller(policy)
    for offset in offsets:
        caller.at(START + offset)
    assert len(caller.keys()) == len(set(caller.keys()))


@given(policies(), st.floats(0, 20_000, allow_nan=False), st.floats(0, 1))
def test_nothing_falls_due_before_the_deadline_and_something_does_at_it(
    policy: Policy, offset: float, fraction: float
) -> None:
    caller = Caller(policy)
    plan = caller.at(START + offset)
    if plan.next_deadline is None:
        assert all(s.repeat_every is None for s in policy.steps)
        assert caller.at(START + 10**7).actions == ()
        return
    now = START + offset
    between = now + (plan.next_deadline - now) * fraction
    if between < plan.next_deadline:
        assert caller.at(between).actions == ()
    assert caller.at(plan.next_deadline).actions != ()


@given(policies(), st.floats(0, 20_000, allow_nan=False), _offsets)
def test_acknowledgement_stops_every_later_step(
    policy: Policy, ack_offset: float, offsets: list[float]
) -> None:
    caller = Caller(policy)
    ack_at = START + ack_offset
    for now in sorted(START + t for t in offsets):
        if now >= ack_at:
            break
        caller.at(now)
    before = list(caller.keys())
    caller.acknowledge()
    for now in sorted(START + t for t in offsets):
        assert caller.at(max(now, ack_at)) == Plan((), None)
    assert caller.keys() == before


@given(policies(), _offsets, st.integers(0, 29))
def test_resuming_from_recorded_keys_matches_running_straight_through(
    policy: Policy, offsets: list[float], restart_index: int
) -> None:
    times = [START + t for t in sorted(offsets)]
    straight = Caller(policy)
    for now in times:
        straight.at(now)
    # The same calls, but the hub restarts before one of them and forgets everything except
    # the keys it recorded (the caller rebuilds AlarmState from the store).
    cut = min(restart_index, len(times) - 1)
    first = Caller(policy)
    for now in times[:cut]:
        first.at(now)
    resumed = Caller(policy, AlarmState("A1", START, sent=first.alarm.sent))
    for now in times[cut:]:
        resumed.at(now)
    assert first.keys() + resumed.keys() == straight.keys()
