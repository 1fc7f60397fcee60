"""What the alarm page leads with, pure: what to do now, whom to ring, when the next step comes,
where the worker is, and the ladder in words ("after 5 min: the visit contact, Mrs Patel").

Nothing here reads a clock or the store: the page hands in the alarm, its policy, the people each
role means (``resolve``), the visit and the alarm's event body, and the time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loneguard.server.escalation.notify.notification import Recipient
from loneguard.server.escalation.policy import PERSON_PREFIX, Policy, Step
from loneguard.server.store.records import Alarm, AlarmState, Session

ROLE_WORDS = {
    "worker": "the worker's mobile",
    "worker_home": "the worker at home",
    "visit_contact": "the visit contact",
    "line_manager": "the line manager",
    "admins": "the office",
    "on_call": "the person on call",
    "console": "the console",
    "arc": "the Alarm Receiving Centre",
}
CHANNEL_WORDS = {
    "call": "a phone call",
    "sms": "SMS",
    "console": "the console",
    "apprise": "a message (apprise)",
    "arc": "the Alarm Receiving Centre (SIA DC-09), once",
}

Resolve = Callable[[str], Sequence[Recipient]]


def role_words(role: str) -> str:
    if role.startswith(PERSON_PREFIX):
        return role[len(PERSON_PREFIX) :]
    return ROLE_WORDS.get(role, role.replace("_", " "))


def duration_words(seconds: float) -> str:
    """5 min, 1 h 30 min, 45 s: the way a person says it."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or not (hours or minutes) else "")
    return " ".join(p for p in parts if p)


def after_words(seconds: float) -> str:
    return "at once" if seconds <= 0 else f"after {duration_words(seconds)}"


@dataclass(frozen=True)
class Callee:
    """A person to ring for the current step; ``phone`` None: no number on file."""

    role: str  # in words
    name: str
    phone: str | None


@dataclass(frozen=True)
class Rung:
    index: int
    when: str  # "at once", "after 5 min"
    who: str  # the roles in words
    people: tuple[str, ...]  # the names those roles mean for this alarm
    how: str  # the channels in words
    repeat: str | None  # "then every 5 min until someone takes charge"
    message: str
    status: str  # "done", "now", "next", "later", "not needed"


@dataclass(frozen=True)
class Place:
    address: str | None
    map_url: str | None  # the last GNSS fix, as a map link
    fix: str | None  # "GNSS fix at 13:20 UTC, ±15 m"


@dataclass(frozen=True)
class AlarmNow:
    headline: str  # what to do now, in words
    step: int | None  # the current step's index, None before the first or after the ladder
    callees: tuple[Callee, ...]
    unfilled: tuple[str, ...]  # the current step's roles nobody fills, in words
    next_step_ms: int | None
    next_words: str | None  # "after 10 min: the visit contact"
    rungs: tuple[Rung, ...]
    place: Place


def alarm_now(
    alarm: Alarm,
    policy: Policy | None,
    resolve: Resolve,
    session: Session | None,
    event_body: Mapping[str, Any] | None,
    now_ms: int,
    fill: Callable[[str], str] = str,
    unused_channels: frozenset[str] = frozenset(),
) -> AlarmNow:
    """What the alarm page leads with. ``fill`` puts the alarm's facts into a step's guidance
    (``notify.messages.fill``: "Ring {worker} on {worker_mobile}" → "Ring Ana Lopez on …").
    ``unused_channels`` are left out of the ladder's words (``arc`` of a shipped policy on a
    hub with no ARC: the runtime skips it too)."""
    steps = policy.steps if policy is not None else ()
    started = alarm.started_ms if alarm.started_ms is not None else alarm.opened_ms
    current = _current_step(steps, started, _ladder_stopped_ms(alarm) or now_ms)
    ladder_runs = alarm.state == AlarmState.OPEN and alarm.checked_in_ms is None
    rungs = tuple(
        _rung(i, s, resolve, current, ladder_runs, fill, unused_channels)
        for i, s in enumerate(steps)
    )
    callees: tuple[Callee, ...] = ()
    unfilled: tuple[str, ...] = ()
    if alarm.checked_in_ms is not None and alarm.state != AlarmState.RESOLVED:
        callees = tuple(Callee(role_words("worker"), r.name, r.phone) for r in resolve("worker"))
    elif current is not None and alarm.state != AlarmState.RESOLVED:
        callees = _callees(steps[current], resolve)
        unfilled = tuple(role_words(r) for r in steps[current].notify if not resolve(r))
    upcoming = next((r for r in rungs if r.status == "next"), None)
    next_words = f"{upcoming.when}: {upcoming.who}" if upcoming is not None else None
    repeat_every = steps[current].repeat_every if current is not None else None
    if next_words is None and current is not None and repeat_every is not None:
        every = duration_words(repeat_every)
        next_words = f"{rungs[current].who} again (every {every})"
    return AlarmNow(
        headline=_headline(alarm, steps, current, fill),
        step=current,
        callees=callees,
        unfilled=unfilled,
        next_step_ms=alarm.next_step_ms if ladder_runs else None,
        next_words=next_words if ladder_runs else None,
        rungs=rungs,
        place=_place(session, event_body),
    )


def _ladder_stopped_ms(alarm: Alarm) -> int | None:
    """When the ladder stopped: the check-in, or a person taking charge; None: it runs."""
    if alarm.checked_in_ms is not None:
        return alarm.checked_in_ms
    if alarm.state != AlarmState.OPEN:
        return alarm.acknowledged_ms or alarm.resolved_ms
    return None


def _current_step(steps: Sequence[Step], started_ms: int, now_ms: int) -> int | None:
    reached = [i for i, s in enumerate(steps) if started_ms + s.after * 1000 <= now_ms]
    return reached[-1] if reached else None


def _headline(
    alarm: Alarm, steps: Sequence[Step], current: int | None, fill: Callable[[str], str]
) -> str:
    if alarm.state == AlarmState.RESOLVED:
        return f"Resolved by {alarm.resolved_by}: {alarm.outcome}."
    if alarm.checked_in_ms is not None:
        return (
            f"The worker checked in from {alarm.checked_in_device}: the escalation stopped. "
            "Ring them to make sure they are safe, then resolve the alarm."
        )
    if alarm.state == AlarmState.ACKNOWLEDGED:
        return f"{alarm.acknowledged_by} has taken charge. Resolve the alarm when it is over."
    if current is None:
        return "The escalation has not started yet."
    return fill(steps[current].message)


def _rung(
    index: int,
    step: Step,
    resolve: Resolve,
    current: int | None,
    runs: bool,
    fill: Callable[[str], str],
    unused_channels: frozenset[str],
) -> Rung:
    people = tuple(dict.fromkeys(r.name for role in step.notify for r in resolve(role)))
    if current is not None and index < current:
        status = "done"
    elif current == index:
        status = "now"
    elif not runs:
        status = "not needed"  # a person took charge, or the worker checked in, before it
    elif index == (0 if current is None else current + 1):
        status = "next"
    else:
        status = "later"
    repeat = None
    if step.repeat_every is not None:
        repeat = f"then every {duration_words(step.repeat_every)} until someone takes charge"
    return Rung(
        index=index,
        when=after_words(step.after),
        who=", ".join(role_words(r) for r in step.notify) or "the console",
        people=people,
        how=", ".join(CHANNEL_WORDS.get(c, c) for c in step.channels if c not in unused_channels),
        repeat=repeat,
        message=fill(step.message),
        status=status,
    )


def _callees(step: Step, resolve: Resolve) -> tuple[Callee, ...]:
    found = []
    for role in step.notify:
        for r in resolve(role):
            found.append(Callee(role_words(role), r.name, r.phone))
    return tuple(found)


def _place(session: Session | None, body: Mapping[str, Any] | None) -> Place:
    address = session.address if session is not None else None
    location = body.get("location") if body else None
    if not isinstance(location, Mapping) or body is None:
        return Place(address, None, None)
    lat, lon = location.get("lat"), location.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return Place(address, None, None)
    url = f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=18/{lat:.6f}/{lon:.6f}"
    fix = "GNSS fix when the button was pressed"
    ts = body.get("ts")
    if isinstance(ts, int):
        fix += f", {_clock(ts)}"
    acc = location.get("acc")
    if isinstance(acc, int | float):
        fix += f", ±{acc:.0f} m"
    return Place(address, url, fix)


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M UTC")
