"""The escalation ladder, pure: an alarm's state, its policy and the time in, actions out.

``next_actions`` is called whenever something may have changed (the alarm started, a timer
fired, the hub restarted, someone acknowledged). It returns every action due and not yet done,
and the next time it should be called. It reads no clock and keeps no state: the caller records
each action's ``key`` durably once it has been sent and hands the keys back in ``AlarmState.sent``,
so a rung is never sent twice, even across restarts.

Times are plain float seconds on one timeline the caller chooses (it must outlive restarts,
so not a process-local monotonic clock). An alarm keeps the policy it started with: step indices
in keys refer to that policy's steps.

Catch-up after downtime: every one-off step that fell due while the hub was down comes out at
once, in order, none skipped. A repeating step is different: its missed repeats are collapsed
into the latest one due (``missed_repeats`` says how many were folded in), because forty copies
of the same reminder sent at once help nobody and a call must never return an unbounded list.
The latest repeat's index keeps the later repeats on their usual rhythm. For the same reason a
repeat older than one already sent is never sent, even if ``now`` goes backwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loneguard.server.escalation.policy import Policy, Step


@dataclass(frozen=True)
class AlarmState:
    """What the ladder needs to know about one alarm."""

    alarm_id: str
    started_at: float
    acknowledged: bool = False
    resolved: bool = False
    checked_in: bool = False  # the worker checked in while it was open: nobody more is told
    sent: frozenset[str] = frozenset()  # keys of actions already sent

    def __post_init__(self) -> None:
        if not self.alarm_id:
            raise ValueError("alarm_id must not be empty")
        if not math.isfinite(self.started_at):
            raise ValueError(f"started_at must be a finite time, got {self.started_at}")


@dataclass(frozen=True)
class Action:
    """Tell ``notify`` over ``channels``; record ``key`` once it is sent."""

    key: str
    step_index: int
    repeat_index: int
    due_at: float
    notify: tuple[str, ...]
    channels: tuple[str, ...]
    message: str
    missed_repeats: int = 0  # earlier repeats of this step collapsed into this one


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]  # due now, in the order to send them
    next_deadline: float | None  # call again at this time; None: the ladder has ended


def action_key(alarm_id: str, step_index: int, repeat_index: int) -> str:
    """The idempotency key of one send of one step of one alarm."""
    return f"{alarm_id}:{step_index}:{repeat_index}"


def next_actions(alarm: AlarmState, policy: Policy, now: float) -> Plan:
    """Actions due at ``now`` and not in ``alarm.sent``, and when to call again.

    An acknowledged or resolved alarm gets nothing, at once: a person has taken charge. Nor
    does one the worker answered by checking in (it waits for a person to resolve it).
    At most one action per step is returned.
    """
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite time, got {now}")
    if alarm.acknowledged or alarm.resolved or alarm.checked_in:
        return Plan((), None)
    last_sent = _last_sent_repeats(alarm)
    actions: list[Action] = []
    deadline: float | None = None
    for index, step in enumerate(policy.steps):
        action, upcoming = _step_plan(alarm, index, step, now, last_sent.get(index, -1))
        if action is not None:
            actions.append(action)
        if upcoming is not None and (deadline is None or upcoming < deadline):
            deadline = upcoming
    actions.sort(key=lambda a: (a.due_at, a.step_index))
    return Plan(tuple(actions), deadline)


def _step_plan(
    alarm: AlarmState, index: int, step: Step, now: float, last_sent: int
) -> tuple[Action | None, float | None]:
    """This step's action due now (if any) and its next due time after now (if any)."""
    first = alarm.started_at + step.after
    if step.repeat_every is None:
        if last_sent >= 0:
            return None, None
        if first > now:
            return None, first
        return _action(alarm, index, step, 0, first, 0), None
    due_now = _latest_repeat_due(first, step.repeat_every, now)  # -1: not due yet
    upcoming = max(due_now, last_sent) + 1
    next_due = first + upcoming * step.repeat_every
    if due_now <= last_sent:
        return None, next_due
    due_at = first + due_now * step.repeat_every
    return _action(alarm, index, step, due_now, due_at, due_now - last_sent - 1), next_due


def _latest_repeat_due(first: float, every: float, now: float) -> int:
    """The largest k with ``first + k * every <= now``, or -1.

    Found by division, then nudged so it agrees exactly with the due times the ladder reports:
    a caller that comes back at ``next_deadline`` must find that repeat due.
    """
    if first > now:
        return -1
    k = math.floor((now - first) / every)
    while first + (k + 1) * every <= now:
        k += 1
    while k >= 0 and first + k * every > now:
        k -= 1
    return k


def _last_sent_repeats(alarm: AlarmState) -> dict[int, int]:
    """The highest repeat index sent so far, by step index, from this alarm's keys."""
    last: dict[int, int] = {}
    for key in alarm.sent:
        owner, _, rest = key.rpartition(":")
        owner, _, step_text = owner.rpartition(":")
        if owner != alarm.alarm_id or not _is_index(step_text) or not _is_index(rest):
            continue  # another alarm's key, or not one of ours
        step, repeat = int(step_text), int(rest)
        if repeat > last.get(step, -1):
            last[step] = repeat
    return last


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _action(
    alarm: AlarmState, index: int, step: Step, repeat: int, due_at: float, missed: int
) -> Action:
    return Action(
        key=action_key(alarm.alarm_id, index, repeat),
        step_index=index,
        repeat_index=repeat,
        due_at=due_at,
        notify=step.notify,
        channels=step.channels,
        message=step.message,
        missed_repeats=missed,
    )
